"""Import battery of issue 22: prints ONE JSON object with the counts.

    .venv/bin/python bench/import_battery.py            # ~1 minute on a loaded 2-core machine (19 cases)

Reruns, each in a fresh project, the cases where imports silently lost, changed or doubled
records (the issue's Why), plus the fault cases around them: one bad file among good ones,
a database cut short, an ingest killed with SIGKILL and run again, and a full disk (a 3 MiB
tmpfs, when this process may mount one; otherwise the case is reported as skipped). Every case states its own oracle, computed by
hand from the file it writes. A case fails as one of:

- ``silent_loss``: a valid record is missing and nothing says so;
- ``silent_change``: a stored value differs from the file's (revenue, time, price, flag);
- ``silent_duplication``: one record stored twice;
- ``traceback``: a Python traceback reached the user (CLI) or an unexpected exception (API);
- ``other``: a wrong but loud outcome (e.g. a good file refused with a message).

Output keys: ``cases``, ``passed``, ``skipped``, ``silent_loss``, ``silent_change``,
``silent_duplication``, ``traceback``, ``other``, ``failures`` (case → what was seen).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CASES: list[tuple[str, Callable[[Path], tuple[str, str]]]] = []
"""(name, case): a case returns (outcome, what was seen); outcome ``pass`` or a failure kind."""


def case(fn: Callable[[Path], tuple[str, str]]) -> Callable[[Path], tuple[str, str]]:
    CASES.append((fn.__name__, fn))
    return fn


def _project(root: Path, toml: str = "") -> object:
    init_project(root / "p")
    if toml:
        cfg = root / "p" / "percorso.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + toml, encoding="utf-8")
    return open_project(root / "p")


def _rows(p: object, sql: str) -> list[tuple]:
    return p.engine.con.execute(sql).fetchall()  # type: ignore[attr-defined]


def _count(got: int, want: int, what: str) -> tuple[str, str]:
    if got == want:
        return "pass", f"{what}: {got}"
    return ("silent_duplication" if got > want else "silent_loss"), f"{what}: {got}, expected {want}"


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "percorso", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@case
def receipt_in_two_date_layouts(d: Path) -> tuple[str, str]:
    a, b = d / "a.csv", d / "b.csv"
    a.write_text("store_id;receipt_number;timestamp;sku;quantity;unit_price\nMI01;12;2024-01-28 06:43;S1;1;45,00\n")
    b.write_text("negozio;numero_scontrino;data;ora;articolo;qta;prezzo\nMI01;12;28/01/2024;06:43;S1;1;45,00\n")
    with _project(d) as p:
        ingest_files(p, "pos", [a])
        ingest_files(p, "pos", [b])
        return _count(p.engine.count("events"), 1, "receipts")


@case
def crm_reexported_with_italian_dates(d: Path) -> tuple[str, str]:
    a, b = d / "a.csv", d / "b.csv"
    a.write_text("crm_id,updated_at,email\nK1,2025-01-02 09:30:00,a@x.it\nK2,2025-01-03 10:00:00,b@x.it\n")
    b.write_text("id_crm;data_aggiornamento;email\nK1;02/01/2025 09:30;a@x.it\nK2;03/01/2025 10:00;b@x.it\n")
    with _project(d) as p:
        ingest_files(p, "crm", [a, b])
        return _count(p.engine.count("contact_profiles"), 2, "contact profiles")


@case
def email_events_without_id_monthly_overlap(d: Path) -> tuple[str, str]:
    rows = [f"p{i}@x.it,open,2025-{1 + i // 3:02d}-{1 + i % 3:02d} 10:00\n" for i in range(10)]
    with _project(d) as p:
        for k, part in enumerate((rows[:6], rows[2:8], rows[4:])):
            f = d / f"m{k}.csv"
            f.write_text("email,event,timestamp\n" + "".join(part))
            ingest_files(p, "esp", [f])
        return _count(p.engine.count("events"), 10, "e-mail events")


@case
def clickstream_empty_event_ids(d: Path) -> tuple[str, str]:
    f = d / "c.csv"
    f.write_text("event_id,timestamp,user_id,event\n,2025-01-01 10:00,u1,page_view\n,2025-01-01 10:05,u1,page_view\n"
                 ",2025-01-01 10:09,u2,add_to_cart\n")
    with _project(d) as p:
        ingest_files(p, "clickstream", [f])
        return _count(p.engine.count("events"), 3, "events")


def _order_case(d: Path, kind: str, bad: str, good: str, want: float) -> tuple[str, str]:
    fb, fg = d / "bad.csv", d / "good.csv"
    fb.write_text(bad)
    fg.write_text(good)
    with _project(d) as p:
        (r,) = ingest_files(p, kind, [fb])
        partial = _rows(p, "SELECT revenue FROM events")
        if partial:
            return "silent_change", f"an order with a bad line was stored in part: revenue {partial}"
        lines = bad.count("\n") - 1
        if r.quarantined != lines:  # every line of the order waits (the bad one, the others as incomplete_order)
            return "other", f"{r.quarantined} of the order's {lines} lines quarantined"
        ingest_files(p, kind, [fg])
        got = _rows(p, "SELECT revenue FROM events")
        if not got:
            return "silent_loss", "the corrected export was not imported"
        return ("pass" if got == [(want,)] else "silent_change"), f"revenue {got}, expected {want}"


@case
def order_with_one_bad_line(d: Path) -> tuple[str, str]:
    head = "order_id;line_no;order_date;sku;quantity;unit_price\n"
    lines = "A1;1;05/03/2025 10:00;S1;1;98,00\nA1;2;05/03/2025 10:00;S2;1;{}\n"
    return _order_case(d, "ecommerce", head + lines.format('"1,299.00"'), head + lines.format("1.170,00"), 1268.0)


@case
def receipt_with_one_bad_line(d: Path) -> tuple[str, str]:
    head = "negozio;numero_scontrino;data;ora;articolo;qta;prezzo\n"
    lines = "MI01;3;28/01/2024;06:43;S1;1;98,00\nMI01;3;28/01/2024;06:43;S2;{};1.170,00\n"
    return _order_case(d, "pos", head + lines.format("uno"), head + lines.format("1"), 1268.0)


@case
def till_prices_with_thousands_dot(d: Path) -> tuple[str, str]:
    f = d / "r.csv"
    f.write_text("negozio;numero_scontrino;data;ora;articolo;qta;prezzo;sconto\n"
                 "MI01;1;28/01/2024;10:00;MAT;1;1.299;300,00\nMI01;1;28/01/2024;10:00;CUS;1;12;0,00\n")
    with _project(d) as p:
        ingest_files(p, "pos", [f])
        got = _rows(p, "SELECT event_type, revenue FROM events")
        return ("pass" if got == [("receipt", 1011.0)] else "silent_change"), f"{got}, expected receipt 1011.0"


@case
def pos_json_lines_time_of_day(d: Path) -> tuple[str, str]:
    f = d / "pos.jsonl"
    f.write_text('{"negozio": "MI01", "scontrino": "1", "data": "28/01/2024", "ora": "06:43", "prezzo": 10}\n')
    with _project(d) as p:
        ingest_files(p, "pos", [f])
        got = _rows(p, "SELECT strftime(occurred_at, '%Y-%m-%d %H:%M') FROM events")
        want = [("2024-01-28 05:43",)]  # 06:43 in Rome is 05:43 UTC in January
        return ("pass" if got == want else "silent_change" if got else "silent_loss"), f"{got}, expected {want}"


@case
def consent_forse_and_x(d: Path) -> tuple[str, str]:
    f = d / "crm.csv"
    f.write_text("crm_id;updated_at;consenso_marketing\nK1;2025-01-02 09:00;forse\nK2;2025-01-02 09:00;x\n"
                 "K3;2025-01-02 09:00;sì\n")
    with _project(d) as p:
        ingest_files(p, "crm", [f])
        stored = dict(_rows(p, "SELECT crm_id, consent_marketing FROM contact_profiles"))
        quarantined = {c for (c,) in _rows(p, "SELECT reason_code FROM quarantine")}
        if stored.get("K1") is not None or stored.get("K2") is not None:
            return "silent_change", f"forse/x stored as {stored.get('K1')}/{stored.get('K2')}"
        if stored.get("K3") is not True or quarantined != {"bad_boolean"}:
            return "other", f"stored {stored}, quarantine {quarantined}"
        return "pass", "forse and x quarantined (bad_boolean), sì = true"


@case
def parquet_fractional_clicks(d: Path) -> tuple[str, str]:
    f = d / "c.parquet"
    pq.write_table(pa.table({"date": ["2025-03-01"], "cost": [10.0], "clicks": [1.7]}), f)
    with _project(d) as p:
        ingest_files(p, "campaign_costs", [f])
        got = _rows(p, "SELECT clicks FROM campaign_costs")
        return ("pass" if not got and p.engine.count("quarantine") == 1 else "silent_change"), f"stored {got}"


@case
def parquet_boolean_cost(d: Path) -> tuple[str, str]:
    f = d / "c.parquet"
    pq.write_table(pa.table({"date": ["2025-03-01"], "cost": [True]}), f)
    with _project(d) as p:
        ingest_files(p, "campaign_costs", [f])
        got = _rows(p, "SELECT cost FROM campaign_costs")
        return ("pass" if not got and p.engine.count("quarantine") == 1 else "silent_change"), f"stored {got}"


@case
def restated_daily_cost(d: Path) -> tuple[str, str]:
    a, b = d / "a.csv", d / "b.csv"
    a.write_text("date,channel,campaign,cost\n2025-03-02,Paid Search,spring,50.00\n")
    b.write_text("date,channel,campaign,cost\n2025-03-02,Paid Search,spring,61.50\n")
    with _project(d) as p:
        ingest_files(p, "campaign_costs", [a])
        ingest_files(p, "campaign_costs", [b])
        got = _rows(p, "SELECT cost FROM campaign_costs")
        hist = _rows(p, "SELECT cost FROM campaign_costs_history")
        return ("pass" if got == [(61.5,)] and hist == [(50.0,)] else "silent_change"), f"cost {got}, history {hist}"


@case
def latin1_rows_after_64_kib(d: Path) -> tuple[str, str]:
    f = d / "crm.csv"
    body = "".join(f"K{i};2025-01-02 09:00;Zoë{i}\n" for i in range(4000)).encode("utf-8")
    f.write_bytes(b"crm_id;updated_at;first_name\n" + body + "K99999;2025-01-02 09:00;Niccolò\n".encode("latin-1"))
    with _project(d) as p:
        ingest_files(p, "crm", [f])
        got = _rows(p, "SELECT first_name FROM contact_profiles WHERE crm_id = 'K99999'")
        if got and got != [("Niccolò",)]:
            return "silent_change", f"{got}"
        return _count(p.engine.count("contact_profiles"), 4001, "contacts")


@case
def implausible_years(d: Path) -> tuple[str, str]:
    f = d / "c.csv"
    f.write_text("event_id,timestamp,user_id,event\n1,0001-01-01 10:00,u,page_view\n2,9999-12-31 10:00,u,page_view\n"
                 "3,2025-01-01 10:00,u,page_view\n")
    with _project(d) as p:
        ingest_files(p, "clickstream", [f])
        codes = [c for (c,) in _rows(p, "SELECT reason_code FROM quarantine")]
        ok = p.engine.count("events") == 1 and codes == ["implausible_time"] * 2
        return ("pass" if ok else "silent_change"), f"events {p.engine.count('events')}, quarantine {codes}"


@case
def same_records_another_layout(d: Path) -> tuple[str, str]:
    a, b = d / "a.csv", d / "b.csv"
    a.write_text("date,channel,campaign,cost,impressions,clicks\n2025-03-01,Paid Search,spring,1299.00,12345,3\n")
    b.write_bytes("clic;costo;giorno;canale;campagna;impressioni\r\n3;1.299,00;01/03/2025;Paid Search;spring;12.345\r\n"
                  .encode("latin-1"))
    with _project(d) as p:
        ingest_files(p, "campaign_costs", [a, b])
        return _count(p.engine.count("campaign_costs"), 1, "cost rows")


@case
def one_bad_file_among_good_ones(d: Path) -> tuple[str, str]:
    init_project(d / "p")
    good1, bad, good2 = d / "a.csv", d / "b.parquet", d / "c.csv"
    good1.write_text("event_id,timestamp,user_id,event\n1,2025-01-01 10:00,u,page_view\n")
    bad.write_bytes(b"PAR1 cut short")
    good2.write_text("event_id,timestamp,user_id,event\n2,2025-01-01 10:00,u,page_view\n")
    r = _cli("ingest", "clickstream", str(good1), str(bad), str(good2), "--project", str(d / "p"))
    if "Traceback" in r.stderr + r.stdout:
        return "traceback", r.stderr[-300:]
    with open_project(d / "p", read_only=True) as p:
        n = p.engine.count("events")
    if n != 2:
        return "silent_loss", f"{n} events of the two good files (exit {r.returncode})"
    return ("pass" if r.returncode != 0 and "b.parquet" in r.stderr else "other"), f"exit {r.returncode}"


@case
def ingest_into_a_database_cut_short(d: Path) -> tuple[str, str]:
    init_project(d / "p")
    f = d / "a.csv"
    f.write_text("event_id,timestamp,user_id,event\n" + "".join(
        f"{i},2025-01-01 10:00,u{i},page_view\n" for i in range(20000)))
    _cli("ingest", "clickstream", str(f), "--project", str(d / "p"))
    db = d / "p" / "percorso.duckdb"
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size - 20000)
    g = d / "b.csv"
    g.write_text("event_id,timestamp,user_id,event\nx,2025-01-02 10:00,u,page_view\n")
    r = _cli("ingest", "clickstream", str(g), "--project", str(d / "p"))
    c = _cli("check", "--project", str(d / "p"))
    if "Traceback" in r.stderr + c.stderr + c.stdout:
        return "traceback", (r.stderr + c.stderr)[-300:]
    if r.returncode == 0:
        return "silent_loss", "the ingest reported success into a damaged database"
    ok = "database_damaged" in r.stderr and c.returncode != 0
    return ("pass" if ok else "other"), f"ingest exit {r.returncode}, check exit {c.returncode}"


@case
def full_disk(d: Path) -> tuple[str, str]:
    mnt = d / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return "skipped", "cannot mount a small tmpfs here (not root?)"
    try:
        init_project(d / "p")
        cfg = d / "p" / "percorso.toml"
        text = cfg.read_text(encoding="utf-8")
        cfg.write_text(text.replace('database = "percorso.duckdb"', f'database = "{mnt / "percorso.duckdb"}"'),
                       encoding="utf-8")
        small = d / "s.csv"
        small.write_text("event_id,timestamp,user_id,event\n1,2025-01-01 10:00,u,page_view\n")
        _cli("ingest", "clickstream", str(small), "--project", str(d / "p"))
        big = d / "big.csv"
        with open(big, "w") as fh:
            fh.write("event_id,timestamp,user_id,event,page_url\n")
            for i in range(200_000):
                fh.write(f"e{i},2025-01-01 10:{i % 60:02d},user{i},page_view,https://x.it/p/{i}?utm_source=s{i}\n")
        r = _cli("ingest", "clickstream", str(big), "--project", str(d / "p"))
        out = r.stderr + r.stdout
        if "Traceback" in out:
            return "traceback", out[-300:]
        if r.returncode == 0:
            return "silent_loss", "the ingest reported success on a full disk"
        worded = any(w in out.lower() for w in ("disk full", "disco pieno", "no space", "spazio"))
        usable = _cli("check", "--project", str(d / "p"))
        seen = f"exit {r.returncode}: {out.strip().splitlines()[-1][:200] if out.strip() else ''}; check exit {usable.returncode}"
        return ("pass" if worded and "out of memory" not in out.lower() else "other"), seen
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


@case
def killed_ingest_reruns_clean(d: Path) -> tuple[str, str]:
    import signal
    import time

    init_project(d / "p")
    f = d / "big.csv"
    n = 300_000
    with open(f, "w") as fh:
        fh.write("event_id,timestamp,user_id,event\n")
        fh.writelines(f"e{i},2025-01-01 10:{i % 60:02d},u{i % 5000},page_view\n" for i in range(n))
    proc = subprocess.Popen([sys.executable, "-m", "percorso", "ingest", "clickstream", str(f), "--project", str(d / "p")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    r = _cli("ingest", "clickstream", str(f), "--project", str(d / "p"))
    if "Traceback" in r.stderr + r.stdout:
        return "traceback", r.stderr[-300:]
    with open_project(d / "p", read_only=True) as p:
        got = p.engine.count("events")
        ids = _rows(p, "SELECT count(DISTINCT event_id) FROM events")[0][0]
    outcome, what = _count(got, n, "events after the rerun")
    if outcome == "pass" and ids != got:
        outcome, what = "silent_duplication", f"{got} events, {ids} distinct ids"
    return outcome, what + ("" if killed else " (the first run ended before the kill)")


def main() -> None:
    counts = {k: 0 for k in ("passed", "skipped", "silent_loss", "silent_change", "silent_duplication",
                             "traceback", "other")}
    failures: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, fn in CASES:
        d = Path(tempfile.mkdtemp(prefix=f"battery-{name}-"))
        try:
            outcome, what = fn(d)
        except Exception:  # noqa: BLE001 - an unexpected exception is a finding, counted
            outcome, what = "traceback", traceback.format_exc(limit=3)[-400:]
        finally:
            shutil.rmtree(d, ignore_errors=True)
        counts["passed" if outcome == "pass" else outcome] += 1
        seen[name] = what
        if outcome not in ("pass", "skipped"):
            failures[name] = f"{outcome}: {what}"
    print(json.dumps({"cases": len(CASES), **counts, "failures": failures, "seen": seen}, ensure_ascii=False))


if __name__ == "__main__":
    main()

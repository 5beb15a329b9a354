"""Every built-in kind imports its minimal column set and any subset of its optional columns.

Generated from the kinds table (:data:`percorso.ingest.kinds.KINDS`, and the Segment paths for
``web``/``app``): for each kind, a file with the required columns only, one with every
column, and a pairwise covering sample of the optional columns (every two optional columns
are seen present together, absent together and one without the other); the slow-marked test
adds each optional column alone. Each file's rows are hand-made so the counts are known:
three rows, of which the first two are lines of one order for the order kinds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import random
from pathlib import Path

import pytest

from percorso.ingest import ingest_files
from percorso.ingest.kinds import KINDS, Kind
from percorso.ingest.plan import SEGMENT
from percorso.project import init_project, open_project

T0 = dt.datetime(2025, 1, 6, 9, 0)
EVENT_NAMES = {"esp": "open", "ads": "click", "events": "fair_visit", "clickstream": "page_view",
               "generic": "page_view"}
STR_VALUES = {
    "email": "p{v}_{i}@example.it", "phone": "+39 333 12{v:03d}{i:02d}", "tax_code": "RSSMRA85T10A562S",
    "ip": "192.0.2.{i}", "page_url": "https://shop.example.it/p/{v}/{i}?utm_source=google&utm_medium=cpc",
    "referrer": "https://www.google.com/", "user_agent": "Mozilla/5.0 (Windows NT 10.0)", "currency": "EUR",
    "click_id_type": "gclid", "gender": "F", "province": "MI", "city": "Milano", "status": "completed",
    "payment": "carta", "platform": "google", "channel": "Paid Search", "utm_source": "google", "utm_medium": "cpc",
}


def minimal(kind: Kind) -> list[str]:
    """The kind's minimal column set: its required fields (``key`` is never required)."""
    return [f for f in kind.required if f != "key"]


def optional(kind: Kind) -> list[str]:
    fields = list(SEGMENT) if kind.shape == "segment" else list(kind.fields)
    need = ["key", "seg_type", "seg_event", "ts_timestamp"] if kind.shape == "segment" else minimal(kind)
    return [f for f in fields if f not in need]


def pairwise(names: list[str], seed: int = 7) -> list[set[str]]:
    """A small set of subsets covering every (present/absent × present/absent) pair of ``names``.

    Greedy: among random candidates, keep the one covering the most uncovered pairs, until
    none is left (about 10 subsets for 25 columns instead of 2^25).
    """
    rng = random.Random(seed)
    todo = {(a, x, b, y) for a, b in itertools.combinations(names, 2) for x in (0, 1) for y in (0, 1)}
    out: list[set[str]] = []
    while todo:
        best, gain = None, -1
        for _ in range(60):
            cand = {n for n in names if rng.random() < 0.5}
            g = sum(((a in cand) == x) and ((b in cand) == y) for a, x, b, y in todo)
            if g > gain:
                best, gain = cand, g
        out.append(best)
        todo = {(a, x, b, y) for a, x, b, y in todo if not (((a in best) == x) and ((b in best) == y))}
    return out


def _value(kind: Kind, fld: str, ftype: str, v: int, i: int) -> object:
    """Row ``i`` of file ``v``: values unique per row and file, except what makes rows 0-1 one order."""
    order = kind.shape == "orders"
    r = 0 if order and i < 2 else i  # the record the row belongs to
    when = T0 + dt.timedelta(days=3 * v + r, minutes=7 * r)
    if kind.name == "pos" and fld == "occurred_at":  # a till's date column; the time of day is its own column
        return when.strftime("%d/%m/%Y")
    if ftype == "ts":
        return when.strftime("%Y-%m-%d %H:%M")
    if ftype == "time":
        return when.strftime("%H:%M")
    if ftype == "date":
        return (dt.date(1985, 12, 10) if fld == "birth_date" else when.date()).isoformat()
    if ftype == "bool":
        return "true" if i % 2 else "false"
    if ftype == "json":
        return json.dumps({"note": f"n{v}-{i}"})
    if fld == "line_no":
        return str(i + 1 if i < 2 else 1) if order else str(i + 1)
    if ftype == "int":
        return str(10 + i)
    if ftype == "num":
        return f"{12 + i}.5"
    if fld == "event_name":
        return EVENT_NAMES[kind.name]
    if fld == "seg_name":
        return "Product Viewed"
    if fld in ("order_id", "receipt"):
        return f"{'O' if fld == 'order_id' else ''}{100 * v + r}"
    if fld == "store_id":
        return "MI01"
    if fld == "loyalty_card":
        return f"L{v:03d}{r:02d}"
    if fld in STR_VALUES:
        return STR_VALUES[fld].format(v=v, i=i + 1)
    return f"{fld}-{v}-{r}"


def _csv(kind: Kind, cols: list[str], v: int) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([kind.fields[c][1][0] for c in cols])  # each field's first recognised name
    for i in range(3):
        w.writerow([_value(kind, c, kind.fields[c][0], v, i) for c in cols])
    return buf.getvalue()


def _set(obj: dict, path: str, value: object) -> None:
    keys = path[2:].split(".")
    for k in keys[:-1]:
        obj = obj.setdefault(k, {})
    obj[keys[-1]] = value


def _jsonl(kind: Kind, cols: list[str], v: int) -> str:
    lines = []
    for i in range(3):
        when = T0 + dt.timedelta(days=3 * v + i, minutes=7 * i)
        row: dict = {}
        for c in sorted(cols, key=lambda c: c != "properties"):  # the whole object first, its members after
            ftype, (_how, paths) = SEGMENT[c]
            paths = paths if isinstance(paths, list) else [paths]
            value = ({"properties": {"note": f"n{v}-{i}"}, "items": [{"sku": f"S{i}", "quantity": 1}]}.get(c)
                     or (when.strftime("%Y-%m-%dT%H:%M:%SZ") if ftype == "ts" else None)
                     or (12.5 + i if ftype == "num" else None)
                     or _value(kind, c, "str", v, i))
            _set(row, paths[0], value)
        row.update({"type": "track", "event": "Product Viewed", "messageId": f"m{v}-{i}",
                    "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"


def _variants(kind: Kind, slow: bool) -> list[list[str]]:
    req, opt = minimal(kind), optional(kind)
    if slow:
        return [[*req, o] for o in opt]
    subsets = [set(), set(opt), *pairwise(opt)]
    return [[*req, *(o for o in opt if o in s)] for s in subsets]


def _expected(kind: Kind) -> dict[str, int]:
    if kind.shape == "orders":
        return {"rows_read": 3, "accepted": 3, "quarantined": 0, "duplicates": 0, "events_written": 2}
    return {"rows_read": 3, "accepted": 3, "quarantined": 0, "duplicates": 0, "events_written": 3}  # costs: rows


def _import_all(tmp_path: Path, name: str, slow: bool) -> None:
    kind = KINDS[name]
    root = tmp_path / "p"
    init_project(root, name="t")
    files = []
    for v, cols in enumerate(_variants(kind, slow)):
        if kind.shape == "segment":
            f = tmp_path / f"{name}_{v}.jsonl"
            f.write_text(_jsonl(kind, [c for c in cols if c != "occurred_at"], v), encoding="utf-8")
        else:
            f = tmp_path / f"{name}_{v}.csv"
            f.write_text(_csv(kind, cols, v), encoding="utf-8")
        files.append((f, cols))
    with open_project(root) as p:
        reports = ingest_files(p, name, [f for f, _ in files])
        for (f, cols), rep in zip(files, reports):
            got = {k: getattr(rep, k) for k in _expected(kind)}
            assert rep.error is None and got == _expected(kind), (f.name, cols, rep.error, got)
        n = len(files)
        if kind.shape == "costs":
            assert p.engine.count("campaign_costs") == 3 * n
        else:
            assert p.engine.count("events") == n * _expected(kind)["events_written"]
        if kind.shape == "profiles":
            assert p.engine.count("contact_profiles") == 3 * n
        assert p.engine.count("quarantine") == 0


def test_minimal_column_sets_are_the_documented_ones():
    """The minimal sets this test imports are the ones docs/sources.md states."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    for name, kind in KINDS.items():
        if kind.shape != "segment":
            assert f"- minimal columns: {', '.join(f'`{kind.fields[f][1][0]}`' for f in minimal(kind))}" in doc, name


@pytest.mark.parametrize("name", sorted(KINDS))
def test_required_only_all_and_pairwise_optional_columns_import(tmp_path, name):
    _import_all(tmp_path, name, slow=False)


@pytest.mark.slow  # about one file per optional column: ~200 small imports
@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_optional_column_alone_imports(tmp_path, name):
    _import_all(tmp_path, name, slow=True)


def test_pairwise_sample_covers_every_pair():
    names = [f"c{i}" for i in range(12)]
    subsets = pairwise(names)
    for a, b in itertools.combinations(names, 2):
        seen = {((a in s), (b in s)) for s in subsets}
        assert seen == {(True, True), (True, False), (False, True), (False, False)}, (a, b)
    assert len(subsets) < 20

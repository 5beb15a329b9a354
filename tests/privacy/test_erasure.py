"""Erasure to the byte: 100 people erased from a demo project, then a byte scan of every file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.errors import NotFound
from percorso.ingest import ingest_files
from percorso.project import open_project

#: the demo's source files and the source name each is imported as (docs/architecture.md)
SOURCES = {"web_events.jsonl": "web", "app_events.jsonl": "app", "ecommerce_orders.csv": "ecommerce",
           "pos_receipts.csv": "pos", "loyalty_cards.xlsx": "loyalty", "crm_contacts.csv": "crm",
           "email_events.csv": "email", "ad_clicks.parquet": "ads", "call_center.csv": "call_center",
           "offline_touchpoints.csv": "events"}


def byte_scan(root: Path, needles: set[str]) -> dict[str, list[str]]:
    """needle → files under ``root`` whose bytes contain it (UTF-8, and lower case for e-mails)."""
    found: dict[str, list[str]] = {}
    blobs = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    for n in needles:
        b = n.encode("utf-8")
        hits = [str(p.relative_to(root)) for p, data in blobs.items() if b in data]
        if hits:
            found[n] = hits
    return found


def _people(p, n: int) -> tuple[list[str], dict[str, set[str]]]:
    """``n`` customers with an e-mail, and their raw e-mails, phones, tax codes (opened from the
    sealed vault) and keyed hashes."""
    from percorso.privacy.vault import open_values

    e = p.engine
    chosen = e.query("""SELECT customer_id FROM customers WHERE email_key IS NOT NULL AND phone_key IS NOT NULL
                        ORDER BY hash(customer_id) LIMIT ?""", [n]).column(0).to_pylist()
    ids = e.query("""SELECT id_type, id_value FROM identity_map WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))
                     AND id_type IN ('email_key', 'phone_key', 'tax_code_key')""", [chosen]).to_pylist()
    keys = {r["id_value"] for r in ids}
    raw = open_values(p, e.query("SELECT key, kind, value FROM pii_vault WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                                 [sorted(keys)])).to_pylist()
    out = {"email": {r["value"] for r in raw if r["kind"] == "email"},
           "phone": {r["value"] for r in raw if r["kind"] == "phone"},
           "tax_code": {r["value"] for r in raw if r["kind"] == "tax_code"}, "keys": keys}
    return chosen, out


def _others(e, erased: list[str]) -> dict[str, list]:
    """Other people's rows in the build tables (value artefacts: their CLV and personas rows)."""
    out = {}
    for table, order in (("customers", "customer_id"), ("touchpoints", "customer_id, occurred_at, event_id"),
                         ("orders", "customer_id, order_id"), ("customer_value", "customer_id")):
        out[table] = e.query(f"SELECT * FROM {table} WHERE customer_id NOT IN (SELECT unnest(?::VARCHAR[])) "
                             f"ORDER BY {order}", [erased]).to_pylist()
    return out


def test_erase_100_people_to_the_byte_and_reimport(demo: Path, tmp_path: Path) -> None:
    # the retailer's own files live outside the project folder (percorso does not delete them)
    sources = tmp_path / "retailer_files"
    shutil.move(str(demo / "sources"), sources)
    shutil.move(str(demo / "ground_truth"), tmp_path / "ground_truth")
    with open_project(demo) as p:
        e = p.engine
        from percorso.analysis import run
        from percorso.value.clv.analysis import CLVQuery

        run(e, CLVQuery(), p.settings)
        erased, pii = _people(p, 100)
        assert len(erased) == 100 and len(pii["email"]) >= 100 and pii["tax_code"]
        before = _others(e, erased)
        n_before = e.count("customers")
    needles = pii["email"] | pii["phone"] | pii["tax_code"] | pii["keys"]
    # the scan sees them before (so that "none after" means something)
    seen = byte_scan(demo, needles)
    assert any(k in seen for k in pii["keys"])
    # their raw contacts are only sealed in the vault; the scan finds them where they are raw
    assert not any(m in seen for m in pii["email"]) and any(m in byte_scan(sources, pii["email"]) for m in pii["email"])
    listing = tmp_path / "erase.txt"
    with open_project(demo) as p:   # identifiers as people give them: an e-mail, the customer id
        from percorso.privacy.contacts import open_contacts

        lookup = {r["customer_id"]: r["email"] for r in open_contacts(p.engine, p, p.engine.query(
            "SELECT customer_id, email_key FROM customers WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [erased])).to_pylist()}
    listing.write_text("\n".join(lookup[c].upper() if i % 2 else c for i, c in enumerate(erased)), encoding="utf-8")
    res = CliRunner().invoke(app, ["erase", "--file", str(listing), "--project", str(demo), "--yes", "--format", "json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["customers"] >= 100 and report["events_deleted"] > 0 and report["events_detached"] > 0
    # every file of the project folder: database (rewritten), WAL, logs, temporary files
    assert byte_scan(demo, needles) == {}
    with open_project(demo) as p:
        e = p.engine
        assert e.count("customers") < n_before
        after = _others(e, erased)
        # an order kept for tax is no one's, like a receipt without a card: its order id is all it
        # has (a person of one order, never identified); everyone else is exactly as before
        known = {r["customer_id"] for r in before["customers"]}
        new = [r for r in after["customers"] if r["customer_id"] not in known]
        assert new and all(not r["is_identified"] and r["n_identifiers"] == 1 and r["email_key"] is None for r in new)
        # every other person is exactly as before: their customer row (ids, counts, revenue,
        # identifiers), every touchpoint, order and CLV row. An identifier they shared with an
        # erased person (a family browser's cookie) stays flagged as shared, so they are not
        # joined through it now that the erased person's evidence is gone (ADR 0028)
        for table in before:
            got = [r for r in after[table] if r["customer_id"] in known]
            assert got == before[table], (table, len(got), len(before[table]), _diff(got, before[table]))
        assert report["identifiers_kept_flagged"] > 0   # the case arises here: shared cookies, kept flagged
        # orders kept for tax: the receipts are there, with nobody on them
        assert e.query("SELECT count(*) FROM events WHERE event_type IN ('receipt', 'purchase') AND order_id IS NOT NULL "
                       "AND coalesce(loyalty_card, email_key, user_id, crm_id) IS NULL").column(0)[0].as_py() > 0
        log = e.query("SELECT * FROM privacy_log WHERE action = 'erase'").to_pylist()
        assert len(log) == 1 and log[0]["customers"] == report["customers"]
        # re-importing every original file (forced) brings nobody back
        for name, source in SOURCES.items():
            ingest_files(p, source, [sources / name], force=True)
        from percorso.build import run_build

        run_build(p)
        for email in sorted(pii["email"])[:20]:
            with pytest.raises(NotFound):
                from percorso.profile import find_customer

                find_customer(e, p.settings, email)
        keys = sorted(pii["keys"])
        for table, cols in (("events", ("email_key", "phone_key", "tax_code_key")),
                            ("identity_map", ("id_value",)), ("contact_profiles", ("email_key", "phone_key")),
                            ("pii_vault", ("key",)), ("customers", ("email_key",))):
            for col in cols:
                if col in e.columns(table):
                    n = e.query(f"SELECT count(*) FROM {table} WHERE {col} IN (SELECT unnest(?::VARCHAR[]))",
                                [keys]).column(0)[0].as_py()
                    assert n == 0, (table, col)
        from percorso.privacy.vault import plain_vault

        assert not set(plain_vault(p)["value"].to_pylist()) & pii["email"]
        again = _others(e, erased)   # the build's tables (that build refits CLV as any build does)
        for table in ("customers", "touchpoints", "orders"):
            assert [r for r in again[table] if r["customer_id"] in known] == before[table], table


def _diff(a, b):
    for x, y in zip(a, b):
        if x != y:
            return {k: (x[k], y.get(k)) for k in x if x[k] != y.get(k)}, x["customer_id"], y["customer_id"]
    return None


def test_a_pin_goes_with_its_identifier(tmp_path: Path) -> None:
    """A pin stays while an event carries its identifier, and goes when none does (retention,
    a later erasure) or when the identifier's owner is erased (in ``_er_ids``)."""
    import datetime as dt

    import pyarrow as pa

    from percorso.engine import Engine
    from percorso.engine import privacy_sql as S

    e = Engine(tmp_path / "pins.duckdb")
    e.create_table("identity_identifiers", pa.table({"id_hash": pa.array([1, 2, 3], pa.uint64()),
                                                     "id_type": ["anonymous_id"] * 3, "id_value": ["a", "b", "c"]}))
    e.create_table("identity_pins", pa.table({"id_hash": pa.array([1, 2, 3, 4], pa.uint64()),
                                              "reason": ["kept_flagged"] * 4, "pinned_at": [dt.datetime(2025, 1, 1)] * 4}))
    assert S.unpin_gone(e) == 1   # 4: no event carries it any more
    e.run("CREATE TEMP TABLE _er_ids AS SELECT 'anonymous_id' AS id_type, 'b' AS id_value")
    assert S.unpin_gone(e) == 1   # 2: its owner is being erased
    assert sorted(e.query("SELECT id_hash FROM identity_pins").column(0).to_pylist()) == [1, 3]
    e.close()

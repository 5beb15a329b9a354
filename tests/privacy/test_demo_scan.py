"""After the demo: raw contact data is sealed in the vault, and outside it only where docs/privacy.md says."""

from __future__ import annotations

from pathlib import Path

from percorso.engine import privacy_sql as S
from percorso.privacy.vault import PREFIX, plain_vault
from percorso.project import open_project

#: where raw contact data still lives outside the vault (docs/privacy.md, "Not yet")
KNOWN = {"customers.email", "customers.phone"}


def test_raw_contact_data_after_the_demo(demo: Path) -> None:
    with open_project(demo) as p:
        e = p.engine
        assert all(v.startswith(PREFIX + ":") for v in e.query("SELECT value FROM pii_vault").column(0).to_pylist())
        raw = plain_vault(p)
        e.register_arrow("_raw_pii", raw.select(["value"]))
        where = S.tables_holding(e, "_raw_pii")
        e.unregister("_raw_pii")
        values = [v for v in raw["value"].to_pylist() if v]
    # no event, identity, consent, profile, value or log table holds an e-mail, phone or tax code
    assert set(where) <= KNOWN, where
    assert where.get("customers.email", 0) > 0   # the scan finds what is there
    # nor does any other file percorso wrote (the retailer's own files in sources/ aside)
    others = [f for f in demo.rglob("*") if f.is_file() and f.suffix != ".duckdb"
              and not {"sources", "ground_truth"} & set(f.relative_to(demo).parts)]
    blob = b"".join(f.read_bytes() for f in others).lower()
    assert not [v for v in values if v.lower().encode() in blob]

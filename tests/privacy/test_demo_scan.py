"""Must show (issue 19): after the demo, a byte scan of the logs and of every file in the project
folder finds no raw e-mail, phone or tax code of the demo's source data outside the sealed vault.

The values looked for are read straight from the demo's source files (not through percorso),
as written there and as percorso normalises them. ``sources/`` itself is not scanned: it holds
the retailer's own input files, which percorso reads and never writes (the demo generates them
in the project folder only for convenience; docs/privacy.md). Everything else is: the database
after a checkpoint, its WAL, the simulator's ground truth, the rules, table exports written into
the folder, and the demo's output and log records.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from percorso.cli import app
from percorso.engine import privacy_sql as S
from percorso.privacy.vault import PREFIX, plain_vault
from percorso.project import open_project
from tests.privacy.helpers import found_in, needles, source_contacts


def test_no_raw_contact_data_outside_the_vault_after_the_demo(demo: Path, demo_template: Path) -> None:
    wanted = needles(source_contacts(demo / "sources"))
    sources = [f for f in (demo / "sources").iterdir() if f.is_file()]
    # the scan finds what is there: every value of the text sources is found in their bytes
    text = needles(source_contacts(demo / "sources", xlsx=False))
    in_sources = {v for vs in found_in(sources, text).values() for v in vs}
    assert len(set(text.values())) > 500 and in_sources == set(text.values())
    # exports a user writes into the project folder carry keyed hashes, never contacts
    for table in ("customers", "touchpoints", "identity_map", "quarantine"):
        res = CliRunner().invoke(app, ["export", table, "--out", str(demo / "exports" / f"{table}.csv"),
                                       "--project", str(demo)])
        assert res.exit_code == 0, res.output
    with open_project(demo) as p:
        e = p.engine
        e.run("CHECKPOINT")
        # the vault holds every value sealed; opened, it holds them
        sealed = e.query("SELECT value FROM pii_vault").column(0).to_pylist()
        assert sealed and all(v.startswith(PREFIX + ":") for v in sealed)
        raw = plain_vault(p)
        assert {"email", "phone", "tax_code"} <= set(raw["kind"].to_pylist())
        # no column of any table holds one (this also sees through the file's compression)
        e.register_arrow("_raw_pii", raw.select(["value"]))
        where = S.tables_holding(e, "_raw_pii")
        e.unregister("_raw_pii")
    assert where == {}, where
    files = [f for f in demo.rglob("*") if f.is_file() and "sources" not in f.relative_to(demo).parts]
    assert any(f.suffix == ".duckdb" for f in files) and any(f.parent.name == "exports" for f in files)
    log = demo_template.parent / "demo-output.log"
    assert log.stat().st_size > 0
    leaks = found_in([*files, log], wanted)
    assert leaks == {}, {k: v[:3] for k, v in leaks.items()}

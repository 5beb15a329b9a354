"""The ingest table and its reconciliation line give counts in the project's locale."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project


def _file(tmp_path, rows: int):
    f = tmp_path / "clicks.csv"
    # ``rows`` rows, the last one with no time (quarantined)
    lines = ["user_id,event,ts"] + [f"u{i % 50},page_view,2025-03-05 10:{i // 60 % 60:02d}:{i % 60:02d}"
                                     for i in range(rows - 1)]
    lines += ["u1,page_view,"]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def test_counts_read_as_italian_numbers(tmp_path):
    init_project(tmp_path / "p")
    f = _file(tmp_path, 1234)
    args = ["ingest", "clickstream", str(f), "--project", str(tmp_path / "p")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    # by hand: 1,234 read = 1,233 accepted + 1 quarantined; read again, the 1,233 are duplicates
    assert "rows read 1.234 = accettate / accepted 1.233 + quarantena / quarantined 1 + duplicati / duplicates 0" \
        in " ".join(res.output.split())
    again = CliRunner().invoke(app, [*args, "--force"])
    assert "accettate / accepted 0 + quarantena / quarantined 1 + duplicati / duplicates 1.233" \
        in " ".join(again.output.split())
    assert re.search(r"│\s*1\.233\s*│", again.output)   # the table's duplicates cell


def test_counts_read_as_english_numbers(tmp_path):
    init_project(tmp_path / "p")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('locale = "it"', 'locale = "en"'), encoding="utf-8")
    res = CliRunner().invoke(app, ["ingest", "clickstream", str(_file(tmp_path, 1234)), "--project",
                                   str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert "rows read 1,234 = accettate / accepted 1,233" in " ".join(res.output.split())

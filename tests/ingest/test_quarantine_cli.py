"""`percorso quarantine` on a real project: filters list the right rows; a misspelt filter is an error.

Without the check a typo (`--source po`, `--reason bad_timestmp`) printed an empty table, which
reads as "no bad rows" — the opposite of the truth.
"""

from pathlib import Path

from typer.testing import CliRunner

from percorso.cli import app
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project
from percorso.testing import cli_error

POS = ("\ufeffNegozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Descrizione;Categoria;Quantità;"
       "Prezzo unitario;Sconto;Pagamento;Codice coupon;Riga\n"
       "S1;10;05/03/2025;10:30;;A1;Pane;Food;2;1,50;0;card;;1\n"
       "S1;11;05/03/2025;xx;;A2;Latte;Food;1;3,5;0;card;;1\n")


def _root(tmp_path: Path) -> Path:
    init_project(tmp_path / "p")
    f = tmp_path / "pos.csv"
    f.write_bytes(POS.encode())
    with open_project(tmp_path / "p") as p:
        (r,) = ingest_files(p, "pos", [f])
    assert r.quarantined == 1
    return tmp_path / "p"


def test_filters_and_misspelt_filters(tmp_path):
    root = str(_root(tmp_path))
    run = CliRunner()
    ok = run.invoke(app, ["quarantine", "--source", "pos", "--reason", "bad_timestamp", "-p", root, "-f", "csv"])
    assert ok.exit_code == 0, ok.output
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("pos,pos.csv,2,bad_timestamp,")

    bad_source = run.invoke(app, ["quarantine", "--source", "po", "-p", root])
    code, message, exit_code = cli_error(bad_source)
    assert (code, exit_code) == ("source_unknown", 2) and "did you mean 'pos'" in message

    bad_reason = run.invoke(app, ["quarantine", "--counts", "--reason", "bad_timestmp", "-p", root])
    code, message, exit_code = cli_error(bad_reason)
    assert (code, exit_code) == ("input_invalid", 2) and "did you mean 'bad_timestamp'" in message


def test_read_commands_on_a_new_project_say_to_ingest_first(tmp_path):
    """Right after `percorso init` there is no database file: a read-only open names the next step."""
    from percorso.errors import NotFound

    init_project(tmp_path / "p")
    for args in (["quarantine"], ["customer", "show", "x"], ["export", "orders", "--out", str(tmp_path / "o.csv")]):
        res = CliRunner().invoke(app, [*args, "-p", str(tmp_path / "p")])
        code, message, exit_code = cli_error(res)
        assert (code, exit_code) == ("not_found", 3), (args, res.output)
        assert "percorso ingest" in message
    assert not (tmp_path / "p" / "percorso.duckdb").exists()  # reading created nothing


def test_written_file_is_named_as_typed(tmp_path):
    """The messages replaced every ',' with '.' (for the row count) and read [..] as markup, path included."""
    root = _root(tmp_path)
    export, counts = tmp_path / "scarti, [marzo].csv", tmp_path / "scarti [pos].csv"
    for out, args in ((export, ["export", "quarantine"]), (counts, ["quarantine", "--counts"])):
        res = CliRunner().invoke(app, [*args, "--out", str(out), "-p", str(root)], env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        assert f"{out} (1 righe / rows)" in res.stderr.replace("\n", "") and out.exists()
    text = export.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and b";bad_timestamp;" in text  # Italian Excel CSV: BOM and ';'

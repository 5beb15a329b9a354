"""Help text is Rich markup: a config section written as ``[section]`` must still be printed."""

from typer.testing import CliRunner

from percorso.cli import app


def test_direct_option_names_its_setting():
    for command in ("attribution", "roi"):
        res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
        assert res.exit_code == 0, res.output
        assert "Default: [attribution] direct in percorso.toml." in res.stdout  # was "Default: direct."


def test_bracketed_names_survive_in_help():
    """`percorso[bayes]` printed as `percorso` (a wrong install command) and `[sources.NAME]` vanished."""
    run = CliRunner()
    bayes = run.invoke(app, ["clv", "bayes", "--help"], env={"COLUMNS": "400"})
    ingest = run.invoke(app, ["ingest", "--help"], env={"COLUMNS": "400"})
    assert "pip install 'percorso[bayes]'" in bayes.stdout
    assert "percorso.toml [sources.NAME]" in ingest.stdout


def test_version_prints_the_package_version():
    """`percorso --version` said "Missing command.": the group asked for a command before the option ran."""
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == f"percorso {declared}"
    proc = subprocess.run([sys.executable, "-m", "percorso", "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"percorso {declared}")


def test_no_help_text_loses_a_bracketed_name():
    """Every command's and option's help, as Rich prints it: a `[section]` not escaped as `\\[` vanished
    (`--engine` read "instead of  kind", `retention` "rules ([])", `vault rotate` "under  vault_key")."""
    import typer
    from rich.text import Text

    def helps(cmd, path):
        for text in (cmd.help, getattr(cmd, "short_help", None), *(getattr(p, "help", None) for p in cmd.params)):
            if text:
                yield path, text
        for name, sub in (getattr(cmd, "commands", None) or {}).items():  # Typer's own Click: not click.Group
            yield from helps(sub, f"{path} {name}")

    lost = [(path, text[:120]) for path, text in helps(typer.main.get_command(app), "percorso")
            if Text.from_markup(text).plain != text.replace("\\[", "[")]
    assert lost == []

"""``percorso.cli.common.print_note``: a note under a result is printed as written, one line."""

from __future__ import annotations

import io

from rich.console import Console

from percorso.cli.common import print_note


def test_a_note_is_plain_text_on_one_line():
    # brackets from the data are not markup, numbers are not coloured, a long note is not cut
    note = "[sources.web] mapping = { \"event.cart\" = \"add_to_cart\" } " + "parola / word " * 20
    buf = io.StringIO()
    print_note(note, Console(file=buf, width=40, force_terminal=True, color_system="truecolor"))
    assert buf.getvalue() == note + "\n"


def test_by_default_on_stderr(capsys):
    print_note("nota / note 1.234 [b]x[/b]")
    out, err = capsys.readouterr()
    assert out == "" and err == "nota / note 1.234 [b]x[/b]\n"

"""Keep the Italian catalog in step with the code: ``python -m percorso.web.catalog``.

Extracts every message of the templates (``{{ _("…") }}``, ``{% trans %}``) and of this
package's Python (``_("…")``, ``N_("…")``) with Babel, adds the new ones to
``locales/it/LC_MESSAGES/messages.po`` (translations already there are kept), marks the ones no
longer used as obsolete, and prints those still without Italian. The test
``tests/web/test_i18n.py`` fails while any message has no translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
PO = HERE / "locales" / "it" / "LC_MESSAGES" / "messages.po"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None}


def extracted() -> Catalog:
    """Every message id the dashboard uses, with where it is used."""
    catalog = Catalog(locale="it", project="percorso")
    for filename, lineno, message, _comments, _context in extract_from_dir(HERE, METHODS, keywords=KEYWORDS,
                                                                          options_map=OPTIONS):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            catalog.add(message, locations=[(filename, lineno)])
    return catalog


def untranslated(po: Path = PO) -> list[str]:
    """Messages used by the code with no Italian in the catalog."""
    with po.open("rb") as f:
        have = {m.id: m.string for m in read_po(f) if m.id}
    return [m.id for m in extracted() if m.id and not have.get(m.id)]


def update(po: Path = PO) -> list[str]:
    """Merge the extracted messages into ``po``; returns the untranslated ones."""
    with po.open("rb") as f:
        current = read_po(f, locale="it")
    current.update(extracted(), no_fuzzy_matching=True)
    with po.open("wb") as f:
        write_po(f, current, width=100, omit_header=False, ignore_obsolete=True, sort_output=False)
    return untranslated(po)


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    missing = update()
    for m in missing:
        print(f"untranslated: {m!r}")
    sys.exit(1 if missing else 0)

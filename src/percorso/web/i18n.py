"""Italian first, English too: the dashboard's words from Babel catalogs, numbers and dates by locale.

Why catalogs and not ``if locale == "it"`` strings: every label, axis title, legend and empty
state goes through one ``gettext`` call with the English text as the message id, and
``locales/it/LC_MESSAGES/messages.po`` holds its Italian; a test extracts every message of the
templates and of this package with Babel and fails on one without an Italian translation. The
``.po`` file is read and compiled in memory when the server starts (no build step, no ``.mo``
file to forget). Numbers and durations use :mod:`percorso.export.columns` (the CLI's own
formats, so the page and the table print the same text); dates use Babel's CLDR formats.
"""

from __future__ import annotations

import gettext
import re
from datetime import date, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

LOCALES = ("it", "en")
DEFAULT_LOCALE = "it"
LOCALE_DIR = Path(__file__).parent / "locales"
_BABEL = {"it": "it_IT", "en": "en_GB"}


def parse_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """``it`` or ``en`` (anything else: the default)."""
    value = (value or "").strip().lower()[:2]
    return value if value in LOCALES else default


@lru_cache(maxsize=None)
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of ``locale`` (English is the message ids themselves)."""
    if locale == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=_BABEL[locale])
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def gettext_for(locale: str) -> Any:
    """``_`` for Python code: ``_ = gettext_for("it"); _("Customers")`` → ``Clienti``."""
    return translations(locale).gettext


def format_date(value: date | datetime | str | None, locale: str, *, with_time: bool = False) -> str:
    """A date (or a date and time) in the locale's medium format: ``4 dic 2026`` / ``4 Dec 2026``."""
    from babel.dates import format_date as bd, format_datetime as bdt

    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if with_time and isinstance(value, datetime):
        return bdt(value, format="medium", locale=_BABEL[locale])
    return bd(value if not isinstance(value, datetime) else value.date(), format="medium", locale=_BABEL[locale])


#: How a date control shows a day and what it tells the reader to type: Italian ``dd/mm/yyyy``,
#: English ISO (as the CLI's English tables). Why not ``<input type="date">``: Chromium draws it
#: in the browser's interface language (``mm/dd/yyyy`` on an English browser reading an Italian
#: page), whatever the page's ``lang``. The address always holds ISO days (``static/app.js``
#: turns a typed day into ISO before a form leaves; :func:`read_date` reads both).
DATE_INPUT = {"it": ("%d/%m/%Y", "gg/mm/aaaa"), "en": ("%Y-%m-%d", "yyyy-mm-dd")}
_DAY_MONTH_YEAR = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def read_date(text: str) -> date:
    """A day typed in a control or found in an address: ISO ``2026-12-04``, or day first as Italians
    write it (``04/12/2026``, ``4.12.2026``, ``4-12-2026``). ``ValueError`` when it is neither."""
    m = _DAY_MONTH_YEAR.match(text)
    if m:
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    return date.fromisoformat(text.strip())


def input_date(value: str | None, locale: str) -> str:
    """The text a date control shows for the address's ``value`` (a value that is not a day is
    shown as it was typed, next to the message that names it)."""
    if not value:
        return ""
    try:
        return read_date(value).strftime(DATE_INPUT[locale][0])
    except ValueError:
        return value


def format_number(value: Any, kind: str, locale: str, *, unit: str | None = None) -> str:
    """One number as the CLI prints it (``kind``: money, share, count, number, duration).

    A duration is given in ``unit`` (``hours``/``days``…) and shown in hours or days, whichever
    fits, with the unit after it (``3,5 giorni``).
    """
    from percorso.export.columns import UNIT_SECONDS, DurationScale, format_value, unit_label

    if kind == "duration":
        if value is None or value != value:
            return "—"
        seconds = float(value) * UNIT_SECONDS[unit or "seconds"]
        shown = "minutes" if seconds < 3 * 3600 else "hours" if seconds < 3 * 86400 else "days"
        scale = DurationScale(shown, UNIT_SECONDS[shown] / UNIT_SECONDS[unit or "seconds"])
        return f"{format_value(value, 'duration', locale, scale=scale)} {unit_label(shown, locale)}"
    return format_value(value, kind, locale)  # type: ignore[arg-type]


def plotly_separators(locale: str) -> str:
    """Plotly's ``layout.separators`` (decimal, then thousands): ``,.`` in Italian."""
    return ",." if locale == "it" else ".,"


def format_month(value: date | datetime | str | None, locale: str) -> str:
    """A month as ``dic 2026`` / ``Dec 2026`` (chart axes and tables of monthly figures)."""
    from babel.dates import format_date as bd

    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return bd(value, format="LLL yyyy", locale=_BABEL[locale])

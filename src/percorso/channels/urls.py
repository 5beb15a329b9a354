"""UTM parameters and click ids from a landing-page URL, as Ibis expressions.

Why in the database: landing URLs come with every page view (millions of rows), so the
query string is taken apart with regular expressions inside the engine. A pure-Python twin
(:func:`parse_url_values`) serves tests and ``channels check``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

import ibis

from percorso.channels.names import CLICK_ID_PARAMS

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
#: UTM fields stored lower-cased (``events`` contract); term and content keep their case.
LOWERED = ("utm_source", "utm_medium", "utm_campaign")


@ibis.udf.scalar.builtin(name="url_decode")
def _url_decode(value: str) -> str:  # DuckDB built-in; percent-decoding of a query value
    ...


def _param_pattern(name: str) -> str:
    return rf"(?i)[?&]{re.escape(name)}=([^&#]*)"


def _raw_param(url: Any, name: str) -> Any:
    return url.re_extract(_param_pattern(name), 1).nullif("")


def _decoded(url: Any, name: str) -> Any:
    return _url_decode(_raw_param(url, name).replace("+", " ")).strip().nullif("")


def parse_url_campaign(page_url: Any) -> dict[str, Any]:
    """Ibis expressions for ``utm_source/medium/campaign/term/content``, ``click_id_type``, ``click_id``.

    Parameter names are case-insensitive; values are percent-decoded (``+`` = space);
    source, medium and campaign are lower-cased. The click id is the first of
    :data:`~percorso.channels.names.CLICK_ID_PARAMS` present with a value.

    Examples
    --------
    >>> t = t.mutate(**parse_url_campaign(t.page_url))   # doctest: +SKIP
    """
    url = page_url.cast("string")
    out: dict[str, Any] = {}
    for f in UTM_FIELDS:
        v = _decoded(url, f)
        out[f] = v.lower() if f in LOWERED else v
    ids = [(name, _decoded(url, name)) for name in CLICK_ID_PARAMS]
    out["click_id_type"] = ibis.cases(*[(v.notnull(), ibis.literal(n)) for n, v in ids], else_=ibis.null("string"))
    out["click_id"] = ibis.cases(*[(v.notnull(), v) for _, v in ids], else_=ibis.null("string"))
    return out


def parse_url_values(url: str | None) -> dict[str, str | None]:
    """Pure-Python twin of :func:`parse_url_campaign` for one URL."""
    out: dict[str, str | None] = dict.fromkeys((*UTM_FIELDS, "click_id_type", "click_id"))
    if not url:
        return out

    def get(name: str) -> str | None:
        m = re.search(_param_pattern(name), url)
        if not m or not m.group(1):
            return None
        v = unquote_plus(m.group(1)).strip(" \t\n\r\x0b\x0c")
        return v or None

    for f in UTM_FIELDS:
        v = get(f)
        out[f] = v.lower() if (v is not None and f in LOWERED) else v
    for name in CLICK_ID_PARAMS:
        v = get(name)
        if v is not None:
            out["click_id_type"], out["click_id"] = name, v
            break
    return out

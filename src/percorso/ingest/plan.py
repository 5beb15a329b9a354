"""From a source kind + the file's columns to the typed SELECT and the event columns.

The plan is data (field → source, type) turned into SQL fragments by
:mod:`percorso.engine.ingest_sql`; only literal constants are quoted here.
"""

from __future__ import annotations

from typing import Any

from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import quote_literal as ql
from percorso.engine.ingest_sql import click_id_exprs, src_expr, typed_expr, url_param_expr
from percorso.ingest import reasons as R
from percorso.ingest.kinds import Kind

__all__ = ["src_expr", "typed_plan", "segment_time_expr", "url_exprs", "properties_expr", "norm_event"]


def norm_event(name: str) -> str:
    """Event-name lookup key, as :func:`percorso.events.canonical_event_type` builds it."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")

TS_HELP = "valid: ISO 8601 (2025-03-05T10:30:00+01:00 or 2025-03-05 10:30), dd/mm/yyyy HH:MM"

SEGMENT: dict[str, tuple[str, tuple[str, Any]]] = {
    "key": ("str", ("json", ["$.messageId"])),
    "seg_type": ("str", ("json", ["$.type"])),
    "seg_event": ("str", ("json", ["$.event"])),
    "seg_name": ("str", ("json", ["$.name"])),
    "anonymous_id": ("str", ("json", ["$.anonymousId", "$.previousId"])),
    "user_id": ("str", ("json", ["$.userId"])),
    "device_id": ("str", ("json", ["$.context.device.id"])),
    "email": ("str", ("json", ["$.context.traits.email", "$.traits.email", "$.properties.email"])),
    "phone": ("str", ("json", ["$.context.traits.phone", "$.traits.phone"])),
    "ip": ("str", ("json", ["$.context.ip"])),
    "page_url": ("str", ("json", ["$.context.page.url", "$.properties.url"])),
    "referrer": ("str", ("json", ["$.context.page.referrer", "$.properties.referrer"])),
    "user_agent": ("str", ("json", ["$.context.userAgent"])),
    "utm_source": ("str", ("json", ["$.context.campaign.source"])),
    "utm_medium": ("str", ("json", ["$.context.campaign.medium"])),
    "utm_campaign": ("str", ("json", ["$.context.campaign.name"])),
    "utm_term": ("str", ("json", ["$.context.campaign.term"])),
    "utm_content": ("str", ("json", ["$.context.campaign.content"])),
    "revenue": ("num", ("json", ["$.properties.revenue", "$.properties.total", "$.properties.value"])),
    "currency": ("str", ("json", ["$.properties.currency"])),
    "order_id": ("str", ("json", ["$.properties.order_id", "$.properties.orderId"])),
    "coupon_code": ("str", ("json", ["$.properties.coupon"])),
    "items": ("json", ("jsonraw", "$.properties.products")),
    "properties": ("json", ("jsonraw", "$.properties")),
    "ts_timestamp": ("ts", ("json", ["$.timestamp"])),
    "ts_original": ("ts", ("json", ["$.originalTimestamp"])),
    "ts_sent": ("ts", ("json", ["$.sentAt"])),
    "received_at": ("ts", ("json", ["$.receivedAt"])),
}


def _msg(field: str, where: str, raw: str, why: str) -> str:
    return f"{ql(f'{field} ({where}): ')} || coalesce({raw}, '') || {ql(' ' + why)}"


class DateKey(str):
    """A key part that is a date: written as ISO ``YYYY-MM-DD`` whatever the file's format."""


def typed_plan(kind: Kind, sources: dict[str, tuple[str, tuple[str, Any]]], col_types: dict[str, str], *,
               tz: str, decimal_comma: bool, date_format: str | None, key_parts: list[str] | None,
               fallback_key: str, source_name: str, json_lines: bool) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(select list, checks) of the typed stage: field values, raw texts, key, event id, reason checks.

    ``fallback_key`` is the SQL of the row's file name, for kinds whose rows have no natural key.
    """
    select: list[tuple[str, str]] = []
    checks: list[tuple[str, str, str]] = []
    if json_lines:
        checks.append((R.BAD_JSON, "NOT _json_ok",
                       f"'line is not a valid JSON object; each line must be one JSON object such as "
                       f"{{\"type\": \"page\", ...}}: ' || left(coalesce(_rawline, ''), 200)"))
        select.append(("_json_ok", "coalesce(json_valid(line) AND left(trim(line), 1) = '{', false)"))
        select.append(("_rawline", "line"))
    for fld, (ftype, source) in sources.items():
        raw = src_expr(source)
        sql_type = col_types.get(source[1], "VARCHAR") if source[0] == "col" else "VARCHAR"
        select.append((fld, typed_expr(raw, ftype, sql_type=sql_type, tz=tz, decimal_comma=decimal_comma,
                                        date_format=date_format)))
        where = f'colonna "{source[1]}"' if source[0] == "col" else f"{source[1]}"
        if ftype in ("ts", "date", "num", "int") and sql_type == "VARCHAR":
            select.append((f"_r_{fld}", raw))
            code = R.BAD_TIMESTAMP if ftype in ("ts", "date") else R.BAD_NUMBER
            why = ("is not a valid date/time; " + TS_HELP + (f" or {date_format}" if date_format else "")
                   if code == R.BAD_TIMESTAMP else
                   "is not a number; valid: 12.50" + (" or 1.234,50 (decimal comma)" if decimal_comma else ""))
            checks.append((code, f"{qi('_r_' + fld)} IS NOT NULL AND trim({qi('_r_' + fld)}) <> '' AND {qi(fld)} IS NULL",
                           _msg(fld, where, qi("_r_" + fld), why)))
    for fld in kind.non_negative:
        if fld in sources:
            where = f'colonna "{sources[fld][1][1]}"' if sources[fld][1][0] == "col" else fld
            checks.append((R.NEGATIVE_VALUE, f"{qi(fld)} < 0", _msg(fld, where, f"CAST({qi(fld)} AS VARCHAR)",
                                                                   "is negative; valid: 0 or more")))
    for fld in kind.required:
        if fld in sources:
            checks.insert(1 if json_lines else 0, (
                R.MISSING_REQUIRED, (f"coalesce(trim({qi('_r_' + fld)}), '') = ''" if ("_r_" + fld) in dict(select)
                                     else f"{qi(fld)} IS NULL"),
                ql(f"required field '{fld}' is empty; every row needs a value for it")))
    if key_parts:
        texts = []
        for part in key_parts:
            if isinstance(part, DateKey):
                iso = typed_expr(f"CAST({part} AS VARCHAR)", "date", sql_type="VARCHAR", tz=tz, decimal_comma=decimal_comma,
                                 date_format=date_format)
                texts.append(f"coalesce(strftime(CAST({iso} AS DATE), '%Y-%m-%d'), trim(CAST({part} AS VARCHAR)))")
            else:
                texts.append(f"trim(CAST({part} AS VARCHAR))")
        key = "concat_ws(':', " + ", ".join(texts) + ")"
    else:
        key = f"{fallback_key} || ':' || _line"  # file name (SQL, per row's file) : line
    select.append(("_key", key))
    return select, checks


def segment_time_expr() -> str:
    """Segment clock-skew correction: receivedAt − (sentAt − originalTimestamp) when all are known."""
    return ("CASE WHEN received_at IS NOT NULL AND ts_sent IS NOT NULL AND ts_original IS NOT NULL "
            "THEN received_at - (ts_sent - ts_original) ELSE coalesce(ts_timestamp, ts_original, received_at) END")


URL_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type", "click_id")


def url_map_sql(typed: str) -> str:
    """The UTM and click-id values of each *distinct* page URL with a query string.

    Why a map: parsing takes seven regular expressions per URL, and a file repeats the same
    landing URLs many times; parsing the distinct ones and joining them back by value costs a
    fraction of parsing every row (URLs without ``=`` have nothing to parse and are skipped).
    """
    url = "raw"
    cols = []
    for p in URL_FIELDS[:5]:
        parsed = url_param_expr(url, p)
        cols.append(f"{'lower(' + parsed + ')' if p in ('utm_source', 'utm_medium', 'utm_campaign') else parsed} AS {p}")
    ctype, cval = click_id_exprs(url)
    cols += [f"{ctype} AS click_id_type", f"{cval} AS click_id"]
    return (f"SELECT raw, {', '.join(cols)} FROM (SELECT DISTINCT page_url AS raw FROM {qi(typed)} "
            f"WHERE _reason IS NULL AND contains(page_url, '=')) d")


def url_exprs(present: set[str], parsed: str | None) -> dict[str, str]:
    """UTM and click-id columns: given columns first, else the values parsed from the page URL.

    ``parsed`` is the alias of the joined :func:`url_map_sql` table (None: no page URL).
    """
    out = {}
    for p in URL_FIELDS[:5]:
        if p in present:
            given = f"lower(t.{p})" if p in ("utm_source", "utm_medium", "utm_campaign") else f"t.{p}"
        else:
            given = "NULL"
        out[p] = f"coalesce({given}, {parsed}.{p})" if parsed else given
    ctype = f"{parsed}.click_id_type" if parsed else "NULL"
    cval = f"{parsed}.click_id" if parsed else "NULL"
    out["click_id_type"] = f"coalesce({'t.click_id_type' if 'click_id_type' in present else 'NULL'}, {ctype}" + (
        ", CASE WHEN t.click_id IS NOT NULL THEN 'click_id' END)" if "click_id" in present else ")")
    out["click_id"] = f"coalesce({'t.click_id' if 'click_id' in present else 'NULL'}, {cval})"
    return out


def properties_expr(extras: list[str], bases: list[str]) -> str:
    """``properties`` JSON: the given JSON columns merged, then the kind's extra fields on top."""
    parts = [f"coalesce(t.{qi(b)}, '{{}}')" for b in bases]
    if extras:
        parts.append("json_object(" + ", ".join(f"{ql(e)}, t.{qi(e)}" for e in extras) + ")")
    if not parts:
        return "NULL"
    if len(parts) == 1 and not extras:
        return f"t.{qi(bases[0])}"
    merged = parts[0]
    for part in parts[1:]:
        merged = f"json_merge_patch({merged}, {part})"
    return f"CAST({merged} AS VARCHAR)"

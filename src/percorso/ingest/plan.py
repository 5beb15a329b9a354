"""From a source kind + the file's columns to the typed SELECT and the event columns.

The plan is data (field → source, type) turned into SQL fragments by
:mod:`percorso.engine.ingest_sql`; only literal constants are quoted here.
"""

from __future__ import annotations

from typing import Any

from percorso.engine import ingest_sql as S
from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import quote_literal as ql
from percorso.engine.ingest_sql import click_id_exprs, src_expr, typed_expr, url_param_expr
from percorso.ingest import reasons as R
from percorso.ingest.kinds import Kind

__all__ = ["src_expr", "typed_plan", "wall_time_zones", "key_plan", "record_key", "stored_key", "ID_SCHEMES",
           "content_key_sql", "copy_id_sql", "event_id", "window_checks", "segment_time_expr", "url_exprs",
           "properties_expr", "norm_event"]


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
    # Segment's consent object (context.consent) travels in properties.consent: the consent
    # history (percorso.privacy) reads it from there; a payload without one is unchanged
    "properties": ("json", ("props_consent", ["$.properties", "$.context.consent"])),
    "ts_timestamp": ("ts", ("json", ["$.timestamp"])),
    "ts_original": ("ts", ("json", ["$.originalTimestamp"])),
    "ts_sent": ("ts", ("json", ["$.sentAt"])),
    "received_at": ("ts", ("json", ["$.receivedAt"])),
}


def _msg(field: str, where: str, raw: str, why: str) -> str:
    return f"{ql(f'{field} ({where}): ')} || coalesce({raw}, '') || {ql(' ' + why)}"


def _can_fail(ftype: str, sql_type: str) -> bool:
    """Can reading a staged column of ``sql_type`` as ``ftype`` fail (so its raw text is kept for the check)?"""
    if sql_type == "VARCHAR":
        return ftype in ("ts", "date", "num", "int", "bool")
    if ftype in ("num", "int"):
        return not S.is_numeric_type(sql_type) or (ftype == "int" and sql_type.upper().startswith(
            ("FLOAT", "DOUBLE", "REAL", "DECIMAL")))
    if ftype in ("ts", "date"):
        return not (sql_type.startswith("TIMESTAMP") or sql_type == "DATE")
    return ftype == "bool" and sql_type != "BOOLEAN"


def _number_why(fld: str, ftype: str, sql_type: str, decimal: str | None, raw: str) -> str:
    """SQL of the message tail of a number that could not be read: wrong type, fraction, ambiguity."""
    if sql_type != "VARCHAR":
        if not S.is_numeric_type(sql_type):
            return ql(f"has type {sql_type} in the file; valid: a numeric column")
        return ql("is not a whole number; valid: 0, 1, 2, ... (fractions are not rounded)")
    t = S.number_text(raw)
    conv = {"comma": "decimal comma (1.234,50)", "dot": "decimal point (1,234.50)"}
    amb = (f"WHEN regexp_full_match({t}, {ql(S.NUMBER_PATTERNS['ambiguous'])}) THEN "
           + ql("is ambiguous (thousands separator or decimals?) and no value in the file decides; "
                "set [sources.NAME] decimal = \",\" or \".\" in percorso.toml") + " ") if decimal is None else ""
    frac = (f"WHEN {S.typed_expr(raw, 'num', sql_type='VARCHAR', tz='UTC', decimal=decimal)} IS NOT NULL THEN "
            + ql("is not a whole number; valid: 0, 1, 2, ... (fractions are not rounded)") + " ") if ftype == "int" else ""
    other = ("is not a number; valid: " + (conv[decimal] + ", as the other values of this column"
                                           if decimal else "a whole number, or set [sources.NAME] decimal"))
    return f"CASE {amb}{frac}ELSE {ql(other)} END" if amb or frac else ql(other)


def _json_is_number(paths: list[str], jp: S.JsonPaths | None = None) -> str:
    """SQL: the value a JSON source reads (its first path with a value) is a JSON number."""
    whens = " ".join(f"WHEN {src_expr(('json', [p]), jp)} IS NOT NULL THEN {S.json_type_at(p, jp)}" for p in paths)
    return f"coalesce((CASE {whens} END) IN ('DOUBLE', 'BIGINT', 'UBIGINT'), false)"


def typed_plan(kind: Kind, sources: dict[str, tuple[str, tuple[str, Any]]], col_types: dict[str, str], *,
               tz: str, decimals: dict[str, str | None], date_format: str | None,
               true_values: tuple[str, ...] = S.DEFAULT_TRUE, false_values: tuple[str, ...] = S.DEFAULT_FALSE,
               json_lines: bool, paths: S.JsonPaths | None = None,
               zones: dict[str, S.ZonePieces | None] | None = None,
               ) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(select list, checks) of the typed stage: field values, their raw texts, reason checks.

    ``paths`` (JSON Lines): collects the JSON paths the select list reads, so that
    :func:`percorso.engine.ingest_sql.build_typed` parses each line once for all of them.

    ``decimals`` holds the number convention decided for each numeric field from all of its
    values (:func:`decide_decimals`). The record key is built over the typed values by
    :func:`key_plan`, never over the raw text. ``zones``: field → the pieces of ``tz`` over
    its column's wall times (:func:`wall_time_zones`).
    """
    select: list[tuple[str, str]] = []
    checks: list[tuple[str, str, str]] = []
    if json_lines:
        checks.append((R.BAD_JSON, "NOT _json_ok",
                       f"'line is not a valid JSON object; each line must be one JSON object such as "
                       f"{{\"type\": \"page\", ...}}: ' || left(coalesce(_rawline, ''), 200)"))
        # the stage kept the line as j only when it is a JSON object (one parse, not two)
        select.append(("_json_ok", "j IS NOT NULL"))
        select.append(("_rawline", "line"))  # the stage keeps it for the lines that are not JSON objects only
    for fld, (ftype, source) in sources.items():
        raw = src_expr(source, paths)
        sql_type = col_types.get(source[1], "VARCHAR") if source[0] == "col" else "VARCHAR"
        decimal = decimals.get(fld)
        typed = typed_expr(raw, ftype, sql_type=sql_type, tz=tz, decimal=decimal, date_format=date_format,
                           true_values=true_values, false_values=false_values, zone=(zones or {}).get(fld))
        if fld == "_rest":
            # the other columns as one JSON object, written by the engine: never blank, never
            # padded, so it is kept as it is (trimming it cost 1.4 CPU s at 10M rows, ADR 0035)
            typed = raw
        if ftype in ("num", "int") and source[0] == "json":  # a JSON number is a number, not text to interpret
            typed = f"CASE WHEN {_json_is_number(source[1], paths)} THEN {typed_expr(raw, ftype, sql_type='DOUBLE', tz=tz)} ELSE {typed} END"
        select.append((fld, typed))
        where = f'colonna "{source[1]}"' if source[0] == "col" else f"{source[1]}"
        if not _can_fail(ftype, sql_type):
            continue
        rname = "_r_" + fld
        select.append((rname, raw if sql_type == "VARCHAR" else f"CAST({raw} AS VARCHAR)"))
        if ftype in ("ts", "date"):
            code, why = R.BAD_TIMESTAMP, ql("is not a valid date/time; " + TS_HELP + (
                f" or {date_format}" if date_format else "") + ("" if sql_type == "VARCHAR" else
                                                                f" (the column has type {sql_type})"))
        elif ftype == "bool":
            code, why = R.BAD_BOOLEAN, ql("is not a yes/no value; valid: " + ", ".join(
                v if v else "(empty)" for v in (*true_values, *false_values))
                + " (set [sources.NAME] true_values / false_values)")
        else:
            code, why = R.BAD_NUMBER, _number_why(fld, ftype, sql_type, decimal, qi(rname))
        blank = "" in false_values and ftype == "bool"
        checks.append((code, (f"{qi(rname)} IS NOT NULL AND " + ("" if blank else f"trim({qi(rname)}) <> '' AND ")
                              + f"{qi(fld)} IS NULL"),
                       f"{ql(f'{fld} ({where}): ')} || coalesce({qi(rname)}, '') || ' ' || {why}"))
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
    return select, checks


def wall_time_zones(engine: Any, stage: str, sources: dict[str, tuple[str, tuple[str, Any]]],
                    col_types: dict[str, str], tz: str) -> dict[str, S.ZonePieces | None]:
    """Field → the pieces of zone ``tz`` over the times of its column, for each time field read
    from a column of wall times (``TIMESTAMP``, ``DATE``: Parquet, Excel) that
    :func:`typed_plan` converts to UTC (:func:`percorso.engine.ingest_sql.zone_pieces`)."""
    out: dict[str, S.ZonePieces | None] = {}
    for fld, (ftype, (how, what)) in sources.items():
        sql_type = col_types.get(what, "VARCHAR") if how == "col" else "VARCHAR"
        if ftype == "ts" and (sql_type == "DATE" or (sql_type.startswith("TIMESTAMP")
                                                     and not sql_type.startswith("TIMESTAMP WITH TIME ZONE"))):
            out[fld] = S.zone_pieces(engine, stage, what, tz)
    return out


def window_checks(sources: dict, earliest: str, latest: str) -> list[tuple[str, str, str]]:
    """Times outside the plausible window (``[ingest] earliest`` .. now + ``latest_days_ahead``).

    Why: a year 1 or 9999 reads as a valid date, and later crashes the commands that cut
    time into periods; it is a typing slip or a placeholder, never a real event.
    """
    out = []
    for fld, lo in (("occurred_at", earliest), ("date", earliest), ("birth_date", "1900-01-01")):
        if fld not in sources and not (fld == "occurred_at" and "ts_timestamp" in sources):
            continue
        hi = latest if fld != "birth_date" else "now()"
        cond = f"({qi(fld)} < TIMESTAMP {ql(lo)} OR {qi(fld)} > {hi})"
        out.append((R.IMPLAUSIBLE_TIME, cond,
                    f"{ql(fld + ': ')} || CAST({qi(fld)} AS VARCHAR) || "
                    + ql(f" is outside the plausible window {lo} .. " + ("today" if fld == "birth_date" else "now + "
                         "[ingest] latest_days_ahead") + "; fix the date, or widen [ingest] earliest")))
    return out


def _key_text(fld: str, ftype: str, tz: str, local_date: bool, value: str | None = None) -> str:
    """Normalised text of one typed field for a key: instants in UTC, dates ISO, numbers as numbers
    (``value``: the SQL of the field's value when it is not the typed column itself)."""
    c = value or qi(fld)
    if ftype == "ts":
        if local_date:  # the local calendar day of the instant (a receipt is numbered per store and day)
            return f"CAST(CAST(timezone({ql(tz)}, {c} AT TIME ZONE 'UTC') AS DATE) AS VARCHAR)"
        return f"strftime({c}, {ql(KEY_TIME_FORMAT)})"
    if ftype in ("date", "num", "int", "bool"):
        return f"CAST({c} AS VARCHAR)"
    if fld == "loyalty_card":
        return f"upper(regexp_replace({c}, '\\s+', '', 'g'))"
    if fld == "email":
        return f"lower({c})"
    if fld == "phone":
        return f"regexp_replace({c}, '[^0-9+]', '', 'g')"
    if ftype == "json":
        return f"coalesce(CAST(TRY_CAST({c} AS JSON) AS VARCHAR), {c})"
    if fld == "event_name":
        return f"lower({c})"
    return S.id_part_sql(c)


KEY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
"""How a key writes an instant (UTC, to the microsecond)."""


def _time_json(c: str) -> str:
    """SQL of the JSON text of a time's key text (:func:`_key_text`: quoted; NULL stays NULL), the
    quotes written by ``strftime`` itself: one string a row instead of three (~0.3 CPU s of 10M
    keys, ADR 0078). An infinite time, written ``infinity`` whatever the format, is quoted after."""
    return (f"CASE WHEN isfinite({c}) THEN strftime({c}, {ql(chr(34) + KEY_TIME_FORMAT + chr(34))}) "
            f"ELSE '\"' || strftime({c}, {ql(KEY_TIME_FORMAT)}) || '\"' END")


#: Fields left out of a content key. ``channel``: a clickstream's channel column was kept only in
#: ``properties`` (``_rest``) before it was read as the channel (ADR 0055), so a file imported
#: then is recognised again when imported now.
CONTENT_SKIP = ("key", "_rest", "received_at", "channel")
"""Fields left out of a content key: the (missing) id itself, columns no field claims (their
number and date formats are unknown, so a re-export would look new) and the arrival time."""


ID_SCHEMES = {
    1: "content key substr(sha256(to_json([name, value, ...])), 1, 32); event id "
       "substr(sha256(source || '|' || record key), 1, 32) (ADR 0013, 0061)",
    2: "content key md5(md5(to_json([source, name, ...])) || to_json([value, ...])), the event id of a "
       "content's first copy; a later copy md5(content key || ':' || n); a natural key "
       "md5(source || '|' || key) (ADR 0063)",
}
"""Event id schemes: a project keeps the one it started with (``ingest_sql.id_scheme``), since a
re-imported row is found by recomputing its id. The record key (:func:`record_key`) is the same
text under both: the natural key, or ``c:<content key>:<n>``; ``events.source_key`` stores only a
natural key (:func:`stored_key`, ADR 0074)."""


def key_plan(kind: Kind, sources: dict[str, tuple[str, tuple[str, Any]]], tz: str, source_name: str,
             raw_fields: set[str], values: dict[str, str] | None = None, *, scheme: int,
             texts: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(derived, post) columns of the record key, over the typed values.

    ``_key`` is the natural key (the kind's key fields, normalised) or, when the row has none
    (no id column, or an empty id) and the kind keys rows by content, NULL and the record key is
    ``c:<_ckey>:1`` (:func:`record_key`, not stored: :func:`stored_key`):
    ``_ckey`` is a hash of the row's normalised content, and the second and later copies of a
    content in a file are renumbered (:func:`percorso.engine.ingest_sql.number_content_keys`);
    ``_okey`` groups the lines of one order or receipt (without its time, which a bad line may
    lack, so its day as written: ``raw_fields`` are the fields whose raw text the typed stage
    keeps); ``_event_id`` derives from ``_key`` (post level). ``values``: the SQL of a key
    field's value where it is not the typed column (a cost row's channel: the name its label
    gives, ADR 0056). ``scheme``: the project's id scheme (:data:`ID_SCHEMES`). ``texts``: the SQL
    of a field's JSON text in a content key where a lookup gives it, the same text (an event name's,
    ``ingest_sql.event_name_map``, ADR 0078); a time's is written by :func:`_time_json`.
    """
    derived: list[tuple[str, str]] = []
    pos = kind.name == "pos"
    if natural_key_given(kind, sources):  # an optional part the file does not have (a cost row without campaign): ''
        parts = [_key_text(f, sources[f][0], tz, local_date=pos and f == "occurred_at", value=(values or {}).get(f))
                 if f in sources else "''" for f in kind.key]
        nat = "concat_ws(':', " + ", ".join(f"coalesce({p}, '')" for p in parts) + ")"
        must = [qi(f) for f in kind.key if f in kind.required or f == "key" or kind.shape == "segment"]
        nat = f"CASE WHEN {' AND '.join(m + ' IS NOT NULL' for m in must)} THEN {nat} END" if must else nat
    else:  # no id column: the content key
        nat = "NULL::VARCHAR"
    if kind.key_from_content:
        fields = _content_fields(sources)
        # the key of the project's id scheme over the values as keys write them (content_key_sql)
        texts = {**{f: _time_json(qi(f)) for f in fields if sources[f][0] == "ts"}, **(texts or {})}
        pairs = [(f, texts.get(f) or _key_text(f, sources[f][0], tz, False)) for f in fields]
        plain = frozenset(f for f in fields if sources[f][0] in PLAIN_KEY_TYPES)
        ckey = (f"CASE WHEN ({nat}) IS NULL THEN "
                f"{content_key_sql(scheme, source_name, pairs, plain, frozenset(texts) & set(fields))} END")
        # every content row starts as the first copy (its key text is not stored: record_key);
        # the few repeated ones are renumbered later
        derived.append(("_key", nat))
        derived.append(("_ckey", ckey))
    else:
        derived.append(("_key", nat))
    if kind.shape == "orders":
        okey = [f"coalesce({_key_text(f, 'str', tz, False)}, '')" for f in kind.key if f in sources
                and sources[f][0] == "str"]
        if "occurred_at" in kind.key:  # a receipt number repeats every day: its day as written in this file
            day = (f"coalesce({qi('_r_occurred_at')}, CAST(occurred_at AS VARCHAR))" if "occurred_at" in raw_fields
                   else "CAST(occurred_at AS VARCHAR)")
            okey.append(f"split_part(replace(trim({day}), 'T', ' '), ' ', 1)")
        derived.append(("_okey", "concat_ws(':', " + ", ".join(okey) + ")"))
    if scheme == 1:
        eid = event_id_expr(source_name, record_key(kind))
    else:  # a first copy's id is its content key itself (event_id): NULL here, not a second copy of the key
        eid = f"md5({ql(source_name + '|')} || _key)"
    post = [("_event_id", eid)]
    return derived, post


def natural_key_given(kind: Kind, sources: dict[str, tuple[str, tuple[str, Any]]]) -> bool:
    """Whether the file has the columns of the kind's natural key a row needs: false for a kind
    keyed by content without an id column, whose every row is then keyed by its content."""
    return all(f in sources or not (f == "key" or f in kind.required) for f in kind.key)


def _content_fields(sources: dict[str, tuple[str, tuple[str, Any]]]) -> list[str]:
    """The fields a content key is made of, sorted (:data:`CONTENT_SKIP` left out)."""
    return sorted(f for f in sources if f not in CONTENT_SKIP and not f.startswith("_"))


def content_hash(sources: dict[str, tuple[str, tuple[str, Any]]], tz: str, values: dict[str, str] | None = None) -> str:
    """SQL of a 64-bit hash that every row with the same content key (:func:`key_plan`) has: the
    hash of the key's texts, or of the typed value itself where its text is one to one with it.

    Why: a first import finds the rows that may be copies (``ingest_sql.checked_pass``) without
    the content key, whose md5 and JSON text are most of the typing's cost (ADR 0072), and it
    computes this hash of every row three times. Equal keys mean equal texts, hence equal hashes
    (a superset: a hash shared by different contents only adds candidates). A time's text
    (``strftime`` to the microsecond), a whole number's, a date's and a boolean's are one to one
    with their values, so the value is hashed (the text of 10M times ~0.5 s); a number's too, but
    for NaN, whose bit patterns write ``nan`` or ``-nan``: hashed as NULL. ``values``: the SQL of each
    field's typed value where it is not the typed column (its expression over the stage).
    """
    values = values or {}
    texts = []
    for f in _content_fields(sources):
        ftype, v = sources[f][0], values.get(f, qi(f))
        if ftype in ("ts", "int", "date", "bool"):
            texts.append(v)
        elif ftype == "num":
            texts.append(f"CASE WHEN NOT isnan({v}) THEN {v} END")
        else:
            texts.append(_key_text(f, ftype, tz, False, values.get(f)))
    return f"hash({', '.join(texts)})" if texts else "hash(NULL)"


def event_id(kind: Kind, alias: str = "") -> str:
    """SQL of a typed row's event id: ``_event_id``, or for a kind keyed by content where that is
    NULL (a content's first copy under id scheme 2, whose id is its content key), ``_ckey``.

    Why not stored: the typed stage wrote the same 32 characters twice for every row of a file
    without ids (``_ckey`` and ``_event_id``), ~0.5 s of a 10M-row import (ADR 0067). Under scheme
    1 ``_event_id`` is never NULL (it hashes the record key), so the same expression serves both.
    """
    p = f"{alias}." if alias else ""
    return f"coalesce({p}_event_id, {p}_ckey)" if kind.key_from_content else f"{p}_event_id"


PLAIN_KEY_TYPES = ("ts", "date", "num", "int", "bool")
"""Field types whose key text (:func:`_key_text`: a time's ``strftime``, a ``CAST`` to text) never
holds a character JSON escapes: digits, ``-:.T+``, ``e``, ``inf``, ``nan``, ``infinity``, ``true``,
a date's `` (BC)``."""


def content_key_sql(scheme: int, source_name: str, pairs: list[tuple[str, str]],
                    plain: frozenset[str] = frozenset(), written: frozenset[str] = frozenset()) -> str:
    """SQL of the content key of a row from its (field, key text) pairs, fields sorted (:data:`ID_SCHEMES`).

    Scheme 2: ``md5(shape || to_json([value, ...]))``, where ``shape`` is
    ``md5(to_json([source, name, ...]))``, one constant per file (the engine folds it). md5 costs
    about half of sha256 here (ADR 0063); naming the source makes the key the event id of the
    content's first copy (no second hash); the names hashed once per file rather than in every
    row's text keep a wide row's text, hashed in 64-byte blocks, shorter. The text is 32 hex
    digits then ``[``: a copy's text has ``:`` there, a natural key's has its source name and ``|``.
    ``plain``: the fields whose text is only quoted (:data:`PLAIN_KEY_TYPES`), the same text;
    ``written``: those whose SQL is their JSON text already (``key_plan``'s ``texts``).
    """
    if scheme == 1:  # the text of ADR 0061, written value by value (ADR 0053)
        return f"substr(sha256({S.json_pairs_text(pairs, plain, written)}), 1, 32)"
    names = ", ".join(ql(n) for n, _ in pairs)
    shape = f"md5(CAST(to_json([{ql(source_name)}{', ' + names if names else ''}]) AS VARCHAR))"
    return "md5(" + S.json_values_text([v for _, v in pairs], tuple(n in plain for n, _ in pairs),
                                       tuple(n in written for n, _ in pairs), head=shape) + ")"


def copy_id_sql(scheme: int, source_name: str, ckey: str, n: str) -> str:
    """SQL of the event id of the ``n``-th copy (``n`` > 1) of content key ``ckey`` in a file
    (``ingest_sql.number_content_keys``): under scheme 2 a hash of the key and the number (the
    key already names the source), computed only for the few renumbered rows."""
    if scheme == 1:
        return event_id_expr(source_name, f"'c:' || {ckey} || ':' || {n}")
    return f"md5({ckey} || ':' || {n})"


def record_key(kind: Kind, alias: str = "") -> str:
    """SQL of a typed row's record key: ``_key``, or for a kind keyed by content where that is
    NULL, the first copy's ``c:<_ckey>:1`` (a renumbered copy's key is in ``_key``).

    What reads it: the event id under scheme 1 (its hash) and the count of a batch's repeated
    keys (``ingest_sql.insert_dedup``); ``events.source_key`` stores only a natural key
    (:func:`stored_key`). Why not in the typed table: the typed stage wrote that text for every
    row of a file without ids and the insert read it back (~0.4 s of a 10M-row import, ADR 0053);
    it is a concatenation away.
    """
    p = f"{alias}." if alias else ""
    return f"coalesce({p}_key, 'c:' || {p}_ckey || ':1')" if kind.key_from_content else f"{p}_key"


def stored_key(kind: Kind, sources: dict[str, tuple[str, tuple[str, Any]]], alias: str = "") -> str:
    """SQL of a typed row's ``events.source_key``: its natural key (``_key``: an id column, an
    order's or receipt's key, a Segment ``messageId``), NULL for a row keyed by its content.

    Why not a content row's ``c:<content key>:<n>`` (ADR 0074): nothing reads it (a re-import
    finds its rows by recomputing their event ids, identity's ground truth names rows by natural
    keys), and it was ~36 bytes of nearly distinct text a row to write (~1.4-3 s of a 10M-row
    import); the row's origin stays in ``source_file``, ``source_line`` and ``event_id``. A file
    without an id column has no natural key at all: ``"NULL"``, and the insert leaves the column
    out. In a file with one, a row with an empty id is keyed by content (``_ckey`` not NULL), and
    its ``_key`` holds a renumbered copy's ``c:<content key>:<n>`` (``number_content_keys``).
    """
    p = f"{alias}." if alias else ""
    if not kind.key_from_content:
        return f"{p}_key"
    return f"CASE WHEN {p}_ckey IS NULL THEN {p}_key END" if natural_key_given(kind, sources) else "NULL"


def event_id_expr(source_name: str, key: str) -> str:
    """The event id under scheme 1: a hash of the source name and the record key (ADR 0013)."""
    return f"substr(sha256({ql(source_name + '|')} || {key}), 1, 32)"


def segment_time_expr() -> str:
    """Segment clock-skew correction: receivedAt − (sentAt − originalTimestamp) when all are known."""
    return ("CASE WHEN received_at IS NOT NULL AND ts_sent IS NOT NULL AND ts_original IS NOT NULL "
            "THEN received_at - (ts_sent - ts_original) ELSE coalesce(ts_timestamp, ts_original, received_at) END")


URL_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "click_id_type", "click_id")


def url_map_sql(typed: str, values: str | None = None) -> str:
    """The UTM and click-id values of each *distinct* page URL with a query string.

    Why a map: parsing takes seven regular expressions per URL, and a file repeats the same
    landing URLs many times; parsing the distinct ones and joining them back by value costs a
    fraction of parsing every row (URLs without ``=`` have nothing to parse and are skipped).
    ``values``: SQL of those URLs (``page_url``) when they are not read from the typed table (a
    first import's ``ingest_sql.CHECKED``).
    """
    url = "raw"
    cols = []
    for p in URL_FIELDS[:5]:
        parsed = url_param_expr(url, p)
        cols.append(f"{'lower(' + parsed + ')' if p in ('utm_source', 'utm_medium', 'utm_campaign') else parsed} AS {p}")
    ctype, cval = click_id_exprs(url)
    cols += [f"{ctype} AS click_id_type", f"{cval} AS click_id"]
    values = values or f"SELECT page_url FROM {qi(typed)} WHERE _reason IS NULL AND contains(page_url, '=')"
    return f"SELECT raw, {', '.join(cols)} FROM (SELECT DISTINCT page_url AS raw FROM ({values}) v) d"


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
    # the first value given; NULL itself when nothing gives one (the insert leaves such a column out)
    typed_id = "CASE WHEN t.click_id IS NOT NULL THEN 'click_id' END"
    ctype = [x for x, there in (("t.click_id_type", "click_id_type" in present),
                                (f"{parsed}.click_id_type", bool(parsed)), (typed_id, "click_id" in present)) if there]
    cval = [x for x, there in (("t.click_id", "click_id" in present), (f"{parsed}.click_id", bool(parsed))) if there]
    out["click_id_type"] = f"coalesce({', '.join(ctype)})" if ctype else "NULL"
    out["click_id"] = f"coalesce({', '.join(cval)})" if cval else "NULL"
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

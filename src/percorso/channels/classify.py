"""The Ibis channel classifier: one CASE chain over a whole table, run in the database.

Why one expression: touchpoint tables have millions of rows, so the rules are compiled
into a single ``CASE WHEN`` chain (source categories as ``IN`` lists) that the engine
evaluates in parallel; no row ever comes to Python. The semantics are exactly those of
:func:`percorso.channels.classify_py.classify_values`, which the tests use as the oracle.
"""

from __future__ import annotations

from typing import Any

import ibis

from percorso.channels.classify_py import DIRECT_SOURCE, HOST_PATTERN, NONE_MEDIUM, NOT_SET, TRIM_CHARS
from percorso.channels.rules import ChannelRules, Rule

INPUT_COLUMNS = (
    "utm_source", "utm_medium", "utm_campaign", "referrer", "page_url", "click_id_type",
    "source_system", "event_type", "channel",
)
_TMP = "_pc_"


def _col(table: Any, name: str) -> Any:
    if name in table.columns:
        return table[name].cast("string")
    return ibis.null("string")


def _clean(expr: Any) -> Any:
    return expr.strip().lower().nullif("")


def url_host(expr: Any) -> Any:
    """The host of a URL (lower case, without ``www.``; NULL without one): all the rules read of
    a ``referrer`` or a ``page_url``, so two URLs of one host classify alike."""
    return expr.re_extract(HOST_PATTERN, 1).lower().re_replace(r"^www\.", "").nullif("")


def _category(key: Any, categories: dict[str, str]) -> Any:
    by_cat: dict[str, list[str]] = {}
    for src, cat in categories.items():
        by_cat.setdefault(cat, []).append(src)
    branches = [(key.isin(sorted(srcs)), cat) for cat, srcs in sorted(by_cat.items())]
    if not branches:
        return ibis.null("string")
    return ibis.cases(*branches, else_=ibis.null("string"))


def _condition(rule: Rule, t: Any) -> Any:
    conds = []
    src, med, camp = t[_TMP + "src"], t[_TMP + "med"], t[_TMP + "camp"]
    if rule.source_category:
        conds.append(t[_TMP + "cat"].isin(list(rule.source_category)))
    if rule.source_in:
        conds.append(src.isin(list(rule.source_in)))
    if rule.source_regex:
        conds.append(src.re_search(rule.source_regex))
    if rule.medium_in:
        conds.append(med.isin(list(rule.medium_in)))
    if rule.medium_regex:
        conds.append(med.re_search(rule.medium_regex))
    if rule.campaign_regex:
        conds.append(camp.re_search(rule.campaign_regex))
    if rule.click_id_types:
        conds.append(t[_TMP + "click"].isin(list(rule.click_id_types)))
    if rule.utm_present is not None:
        conds.append(t[_TMP + "utm"] if rule.utm_present else ~t[_TMP + "utm"])
    out = conds[0]
    for c in conds[1:]:
        out = out & c
    return out


def classify(table: Any, rules: ChannelRules) -> Any:
    """Add ``channel`` and ``channel_rule`` to ``table`` (an Ibis table expression).

    Reads ``utm_source``, ``utm_medium``, ``utm_campaign``, ``referrer``, ``page_url``
    (to tell internal referrers), ``click_id_type``, ``source_system``, ``event_type`` and a
    given ``channel``; missing columns count as null. A non-empty given channel wins
    (``channel_rule = "source"``), then the offline mapping (``offline:<id>``), then the
    rules (``<version>:<rule_id>``), else ``Unassigned``. Other columns pass through.
    """
    original = list(table.columns)
    t = table.mutate(**{
        _TMP + "s": _clean(_col(table, "utm_source")),
        _TMP + "m": _clean(_col(table, "utm_medium")),
        _TMP + "c": _clean(_col(table, "utm_campaign")),
        _TMP + "click": _clean(_col(table, "click_id_type")),
        _TMP + "rh": url_host(_col(table, "referrer")),
        _TMP + "ph": url_host(_col(table, "page_url")),
        _TMP + "sys": _clean(_col(table, "source_system")),
        _TMP + "et": _clean(_col(table, "event_type")),
        _TMP + "given": _col(table, "channel").strip().nullif(""),
    })
    utm = t[_TMP + "s"].notnull() | t[_TMP + "m"].notnull()
    rh, ph = t[_TMP + "rh"], t[_TMP + "ph"]
    ext = rh.notnull() & (ph.isnull() | (rh != ph))
    src = ibis.cases((utm, t[_TMP + "s"].fill_null(NOT_SET)), (ext, rh), else_=ibis.literal(DIRECT_SOURCE))
    t = t.mutate(**{_TMP + "utm": utm, _TMP + "ext": ext, _TMP + "src": src})
    # one category lookup serves both the referrer medium and the rules (src = host there); its
    # key is a column of its own: written into each category's branch, the engine ran the
    # regular expression once per branch (five per row; that CASE over 10M rows: 2.19 -> 1.80 s)
    t = t.mutate(**{_TMP + "key": t[_TMP + "src"].re_replace(r"^www\.", "")})
    t = t.mutate(**{_TMP + "cat": _category(t[_TMP + "key"], rules.categories)})
    ext, cat = t[_TMP + "ext"], t[_TMP + "cat"]
    t = t.mutate(**{
        _TMP + "med": ibis.cases(
            (t[_TMP + "utm"], t[_TMP + "m"].fill_null(NOT_SET)),
            (ext & (cat == "search"), ibis.literal("organic")),
            (ext, ibis.literal("referral")),
            else_=ibis.literal(NONE_MEDIUM),
        ),
        _TMP + "camp": t[_TMP + "c"].fill_null(NOT_SET),
    })

    branches: list[tuple[Any, Any]] = [(t[_TMP + "given"].notnull(), ibis.literal("source"))]
    sys_, et = t[_TMP + "sys"], t[_TMP + "et"]
    for off in rules.offline:
        conds = []
        if off.source_system is not None:
            conds.append(sys_ == off.source_system)
        if off.event_type is not None:
            conds.append(et == off.event_type)
        cond = conds[0] if len(conds) == 1 else conds[0] & conds[1]
        branches.append((cond, ibis.literal(f"offline:{off.rule_id}")))
    for rule in rules.rules:
        branches.append((_condition(rule, t), ibis.literal(rules.label(rule.rule_id))))
    channel_rule = ibis.cases(*branches, else_=ibis.literal(rules.unassigned_label))

    mapping = {rules.label(r.rule_id): r.channel for r in rules.rules}
    mapping.update({f"offline:{o.rule_id}": o.channel for o in rules.offline})
    mapping[rules.unassigned_label] = "Unassigned"
    t = t.mutate(channel_rule=channel_rule)
    # a given channel is taken before the rule's name is looked up: the lookup compares the rule
    # with every rule's label in turn, and a given channel's rule ("source") is none of them
    # (~50 comparisons per event: 3.5 CPU s of a 10M-event clickstream with its own channels)
    given = t[_TMP + "given"]
    channel = given.notnull().ifelse(given, t["channel_rule"].substitute(mapping, else_=given))
    t = t.mutate(channel=channel)
    keep = [c for c in original if c not in ("channel", "channel_rule")]
    return t.select(*keep, "channel", "channel_rule")

"""Pure-Python channel classifier: one visit at a time.

Why it exists next to the Ibis classifier: it is the readable statement of the rules, the
test oracle for :func:`percorso.channels.classify`, and what ``percorso channels check``
uses to explain a campaign tagging plan. It never runs over event tables.
"""

from __future__ import annotations

import re
from typing import Any

from percorso.channels.names import UNASSIGNED
from percorso.channels.rules import ChannelRules, OfflineRule

#: Characters stripped from values; the same set Ibis' ``strip()`` trims in the database.
TRIM_CHARS = " \t\n\r\x0b\x0c"
#: Host of an absolute URL (scheme://[user@]host[:port]/...).
HOST_PATTERN = r"(?i)^[a-z][a-z0-9+.\-]*://(?:[^@/?#]*@)?([^:/?#]*)"
_HOST_RE = re.compile(HOST_PATTERN)

NOT_SET = "(not set)"
DIRECT_SOURCE = "(direct)"
NONE_MEDIUM = "(none)"


def clean(value: Any) -> str | None:
    """Trim and lower-case a value; empty → ``None`` (the rules are case-insensitive)."""
    if value is None:
        return None
    v = str(value).strip(TRIM_CHARS).lower()
    return v or None


def host_of(url: Any) -> str | None:
    """Lower-case host of a URL without a leading ``www.``; ``None`` if it has none."""
    if url is None:
        return None
    m = _HOST_RE.search(str(url))
    host = m.group(1).lower() if m else ""
    host = host.removeprefix("www.")
    return host or None


def normalize(
    source: Any, medium: Any, campaign: Any, click_id_type: Any = None, referrer: Any = None,
    page_url: Any = None, *, categories: dict[str, str],
) -> dict[str, Any]:
    """The session's effective source / medium / campaign, GA style.

    UTMs win (a missing half becomes ``(not set)``). Without UTMs an external referrer
    gives ``source = host`` and ``medium = organic`` for search hosts, ``referral``
    otherwise; a referrer on the same host as the page is internal and ignored. Nothing at
    all → ``(direct) / (none)``.
    """
    s, m, c = clean(source), clean(medium), clean(campaign)
    utm = s is not None or m is not None
    if utm:
        src, med = s or NOT_SET, m or NOT_SET
    else:
        ref = host_of(referrer)
        if ref is not None and ref != host_of(page_url):
            src = ref
            med = "organic" if categories.get(ref) == "search" else "referral"
        else:
            src, med = DIRECT_SOURCE, NONE_MEDIUM
    return {
        "source": src,
        "medium": med,
        "campaign": c or NOT_SET,
        "click_id_type": clean(click_id_type),
        "utm_present": utm,
        "category": categories.get(src.removeprefix("www.")),
    }


def offline_rule_for(source_system: Any, event_type: Any, rules: ChannelRules) -> OfflineRule | None:
    """First offline mapping row whose filled fields equal the event's (case-insensitive)."""
    system, etype = clean(source_system), clean(event_type)
    for r in rules.offline:
        if (r.source_system is None or r.source_system == system) and (
            r.event_type is None or r.event_type == etype
        ):
            return r
    return None


def classify_values(
    source: Any = None, medium: Any = None, campaign: Any = None, click_id_type: Any = None,
    referrer: Any = None, rules: ChannelRules | None = None, *, page_url: Any = None,
    source_system: Any = None, event_type: Any = None, channel: Any = None,
) -> tuple[str, str]:
    """Channel and rule label of one visit.

    Precedence: a channel given by the source (``channel_rule = "source"``), then the
    offline mapping (``offline:<id>``), then the channel rules in order
    (``<version>:<rule_id>``), else ``Unassigned`` (``<version>:unassigned``).

    Examples
    --------
    >>> from percorso.channels import load_rules
    >>> classify_values("google", "cpc", "brand", rules=load_rules())
    ('Paid Search', 'ga4-2026:6')
    """
    if rules is None:
        from percorso.channels.rules import load_rules

        rules = load_rules()
    given = None if channel is None else str(channel).strip(TRIM_CHARS) or None
    if given is not None:
        return given, "source"
    off = offline_rule_for(source_system, event_type, rules)
    if off is not None:
        return off.channel, f"offline:{off.rule_id}"
    values = normalize(source, medium, campaign, click_id_type, referrer, page_url, categories=rules.categories)
    for rule in rules.rules:
        if rule.matches(values):
            return rule.channel, rules.label(rule.rule_id)
    return UNASSIGNED, rules.unassigned_label

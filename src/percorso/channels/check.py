"""``percorso channels check``: classify a campaign tagging plan and point out hygiene problems.

Why: a wrong ``utm_medium`` sends a whole campaign to *Unassigned* and it is noticed only
weeks later in a report. Marketers can run their tagging plan (a small CSV of
``source, medium, campaign``) through the same rules before launch; each row gets its
channel, the rule that matched, an Italian explanation and warnings.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.channels.classify_py import TRIM_CHARS, classify_values, normalize
from percorso.channels.rules import ChannelRules, Rule
from percorso.channels.tables import read_text, sniff_delimiter
from percorso.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Accepted header names (lower-case) for each plan column.
PLAN_HEADERS = {
    "source": ("source", "utm_source", "sorgente", "fonte"),
    "medium": ("medium", "utm_medium", "mezzo"),
    "campaign": ("campaign", "utm_campaign", "campagna", "campaign_name"),
}
CATEGORY_IT = {
    "search": "motori di ricerca", "social": "social network", "shopping": "siti di shopping",
    "video": "siti video", "ai": "assistenti AI",
}
#: Mediums people use that GA4 does not know, and what to write instead.
MEDIUM_ADVICE = {
    "newsletter": "email", "mail": "email", "dem": "email", "mailing": "email", "emailing": "email",
    "e-mailing": "email", "adv": "cpc", "ads": "cpc", "sem": "cpc", "sponsored": "cpc",
    "sponsorizzata": "cpc", "sponsorizzato": "cpc", "post": "social", "organic_social": "social",
    "organic-social": "social", "socialmedia": "social", "influencer": "affiliate", "affiliates": "affiliate",
    "affiliazione": "affiliate", "referal": "referral", "refferal": "referral", "link_esterno": "referral",
    "podcast": "audio", "radio": "audio", "notifica": "push", "whatsapp": "social",
}
KNOWN_MEDIUMS = ("cpc", "ppc", "paid", "retargeting", "display", "banner", "cpm", "social", "organic",
                 "referral", "email", "affiliate", "audio", "sms", "push", "video")


def read_plan(path: Path) -> list[dict[str, Any]]:
    """Rows of a tagging plan CSV (``;`` or ``,``, BOM ok); header names are flexible."""
    import csv
    import io

    path = Path(path)
    if not path.exists():
        raise InputError(f"file {path} not found")
    text = read_text(path)
    lines = text.splitlines()
    if not lines:
        raise InputError(f"{path}: empty file; expected a header with source, medium, campaign")
    reader = csv.reader(io.StringIO(text), delimiter=sniff_delimiter(lines[0]))
    header = [h.strip().lower() for h in next(reader)]
    index: dict[str, int] = {}
    for key, names in PLAN_HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                index[key] = i
                break
    if "source" not in index and "medium" not in index:
        raise InputError(
            f"{path}: line 1: no 'source' or 'medium' column (found: {', '.join(header)}); "
            "valid headers: source/utm_source/sorgente, medium/utm_medium/mezzo, campaign/utm_campaign/campagna"
        )
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        get = lambda k: (cells[index[k]] if k in index and index[k] < len(cells) else "")  # noqa: E731
        rows.append({"line": reader.line_num, "source": get("source"), "medium": get("medium"),
                     "campaign": get("campaign")})
    return rows


def explain(rule: Rule | None, values: dict[str, Any], rules: ChannelRules) -> str:
    """An Italian sentence saying why a visit got its channel."""
    if rule is None:
        return (f"Nessuna regola corrisponde (sorgente '{values['source']}', mezzo '{values['medium']}'): "
                "canale Unassigned.")
    parts = []
    if rule.source_category:
        cats = " o ".join(CATEGORY_IT.get(c, c) for c in rule.source_category)
        parts.append(f"la sorgente '{values['source']}' è nell'elenco dei {cats}")
    if rule.source_in:
        parts.append(f"la sorgente '{values['source']}' è una di: {', '.join(rule.source_in)}")
    if rule.source_regex:
        parts.append(f"la sorgente '{values['source']}' corrisponde a {rule.source_regex.removeprefix('(?i)')}")
    if rule.medium_in:
        parts.append(f"il mezzo '{values['medium']}' è uno di: {', '.join(rule.medium_in)}")
    if rule.medium_regex:
        parts.append(f"il mezzo '{values['medium']}' corrisponde a {rule.medium_regex.removeprefix('(?i)')}")
    if rule.campaign_regex:
        parts.append(f"la campagna '{values['campaign']}' corrisponde a {rule.campaign_regex.removeprefix('(?i)')}")
    if rule.click_id_types:
        parts.append(f"c'è un click id {values['click_id_type']}")
    if rule.utm_present is not None:
        parts.append("non ci sono parametri UTM" if not rule.utm_present else "ci sono parametri UTM")
    return f"Regola {rules.label(rule.rule_id)} ({rule.channel}): " + " e ".join(parts) + "."


def hygiene(row: dict[str, Any], channel: str, rules: ChannelRules) -> list[str]:
    """Warnings (Italian) about one plan row: case, spaces, missing parts, unknown mediums."""
    warn: list[str] = []
    for field in ("source", "medium", "campaign"):
        raw = row[field] or ""
        if raw != raw.lower():
            warn.append(f"{field} '{raw}' ha maiuscole: i report separano '{raw}' da '{raw.lower()}'; usa '{raw.lower()}'")
        if raw != raw.strip(TRIM_CHARS):
            warn.append(f"{field} '{raw}' ha spazi all'inizio o alla fine")
        elif " " in raw:
            warn.append(f"{field} '{raw}' contiene spazi (negli URL diventano %20 o +): meglio '{raw.strip().replace(' ', '_')}'")
    src, med = (row["source"] or "").strip().lower(), (row["medium"] or "").strip().lower()
    if not src and med:
        warn.append("source mancante: la sorgente sarà '(not set)'")
    if src and not med:
        warn.append("medium mancante: il mezzo sarà '(not set)' e il canale dipende solo dalla sorgente")
    if channel == "Unassigned":
        advice = MEDIUM_ADVICE.get(med) or next(iter(difflib.get_close_matches(med, KNOWN_MEDIUMS, n=1, cutoff=0.6)), None)
        hint = f"; forse medium '{advice}'?" if advice else f"; mediums riconosciuti: {', '.join(KNOWN_MEDIUMS)}"
        warn.append(f"il medium '{med}' non corrisponde a nessuna regola GA4: il traffico finirà in Unassigned{hint}")
    if channel == "Paid Other" and src:
        close = difflib.get_close_matches(src, list(rules.categories), n=1, cutoff=0.75)
        tip = f" (intendevi '{close[0]}'?)" if close else ""
        warn.append(f"la sorgente '{src}' non è un motore di ricerca, social, video o shopping noto: "
                    f"il traffico a pagamento va in Paid Other{tip}")
    return warn


def check_plan(path: Path, rules: ChannelRules) -> pd.DataFrame:
    """Classify every row of a tagging plan, one row per plan row.

    Columns are English keys (line, source, medium, campaign, channel, rule, explanation,
    warnings), the same in every locale; a printed table shows them in the project's language.
    The explanation and warnings are Italian sentences.
    """
    import pandas as pd

    plan = read_plan(path)
    variants: dict[tuple[str, str], set[str]] = {}
    for row in plan:
        for field in ("source", "medium"):
            raw = (row[field] or "").strip()
            variants.setdefault((field, raw.lower()), set()).add(raw)
    out = []
    for row in plan:
        channel, label = classify_values(row["source"], row["medium"], row["campaign"], rules=rules)
        values = normalize(row["source"], row["medium"], row["campaign"], categories=rules.categories)
        rule = rules.rule(label.split(":", 1)[1]) if label != rules.unassigned_label else None
        warnings = hygiene(row, channel, rules)
        for field in ("source", "medium"):
            seen = variants[(field, (row[field] or "").strip().lower())]
            if len(seen) > 1:
                warnings.append(f"{field} scritto in modi diversi nel piano: {', '.join(sorted(seen))}")
        out.append({
            "line": row["line"], "source": row["source"], "medium": row["medium"], "campaign": row["campaign"],
            "channel": channel, "rule": label, "explanation": explain(rule, values, rules),
            "warnings": " | ".join(warnings),
        })
    return pd.DataFrame(out, columns=["line", "source", "medium", "campaign", "channel", "rule", "explanation", "warnings"])


def rules_frame(rules: ChannelRules) -> pd.DataFrame:
    """The rules in force (enabled and disabled), in evaluation order, for ``channels rules``."""
    import pandas as pd

    rows = []
    for r in sorted(rules.all_rules, key=lambda r: r.order):
        rows.append({
            "rule": rules.label(r.rule_id), "order": r.order, "channel": r.channel,
            "enabled": bool(r.enabled),
            "source_category": "|".join(r.source_category), "source_in": "|".join(r.source_in),
            "source_regex": (r.source_regex or "").removeprefix("(?i)"), "medium_in": "|".join(r.medium_in),
            "medium_regex": (r.medium_regex or "").removeprefix("(?i)"),
            "campaign_regex": (r.campaign_regex or "").removeprefix("(?i)"),
            "click_id_types": "|".join(r.click_id_types),
            "utm_present": r.utm_present,
            "origin": r.origin,
        })
    return pd.DataFrame(rows)

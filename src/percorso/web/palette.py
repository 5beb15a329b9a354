"""One colour per channel, on every chart and every page.

Why one module: a channel that is blue in the Sankey and orange in the attribution bars makes
a reader compare the wrong bars. Every chart asks :func:`channel_colour`; a channel not in the
table (a custom rule's name) gets a colour from its name, the same on every page and every run.
Colours are from the Tableau 20 and Okabe–Ito sets (distinguishable for most colour-vision
deficiencies when paired with labels, which every chart also shows).
"""

from __future__ import annotations

import hashlib

#: GA4 default channel group and the offline channels (docs/architecture.md, "Channels").
CHANNEL_COLOURS: dict[str, str] = {
    "Direct": "#4E79A7",
    "Cross-network": "#A0CBE8",
    "Paid Shopping": "#F28E2B",
    "Paid Search": "#E15759",
    "Paid Social": "#B07AA1",
    "Paid Video": "#FF9D9A",
    "Display": "#D37295",
    "Paid Other": "#FABFD2",
    "Organic Shopping": "#FFBE7D",
    "Organic Social": "#D4A6C8",
    "Organic Video": "#9D7660",
    "Organic Search": "#59A14F",
    "Referral": "#8CD17D",
    "Email": "#76B7B2",
    "Affiliates": "#B6992D",
    "Audio": "#86BCB6",
    "SMS": "#499894",
    "Mobile Push Notifications": "#F1CE63",
    "Unassigned": "#BAB0AC",
    "Store / POS": "#1F3A5F",
    "Call center": "#7F3C8D",
    "Loyalty": "#117733",
    "Events & fairs": "#CC6677",
    "Sales rep": "#882255",
    "Direct mail / flyer": "#999933",
}

#: Anchors and leftovers drawn in neutral tones (not a channel).
NEUTRAL = {"(start)": "#6B7280", "(end)": "#374151", "(other)": "#D1D5DB", "(altro / other)": "#D1D5DB"}

_SPARE = ("#332288", "#44AA99", "#DDCC77", "#AA4499", "#88CCEE", "#661100", "#6699CC", "#888888",
          "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00")

#: Purchase place (online / in store / both) on every chart that splits buyers by it.
PLACE_COLOURS = {"online": "#4E79A7", "store": "#1F3A5F", "both": "#59A14F"}


def channel_colour(name: str | None) -> str:
    """The colour of a channel (or of a start / end / other node); stable for unknown names."""
    key = str(name)
    if key in CHANNEL_COLOURS:
        return CHANNEL_COLOURS[key]
    if key in NEUTRAL:
        return NEUTRAL[key]
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return _SPARE[digest[0] % len(_SPARE)]


def colours_for(names: list[str]) -> list[str]:
    """:func:`channel_colour` of each name, in order (a Plotly ``marker.color`` list)."""
    return [channel_colour(n) for n in names]


def with_alpha(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` as ``rgba(r,g,b,alpha)`` (Sankey links take the colour of their source, lighter)."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"

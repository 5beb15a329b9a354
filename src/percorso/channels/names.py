"""Channel names: the fixed vocabulary every report and every other package agrees on.

Why a module of constants: attribution, journeys and the UI group by these strings, so a
typo in a rule file must be caught when the file is loaded, not when a chart is empty.
The names are those of ``docs/architecture.md``.
"""

from __future__ import annotations

#: GA4 default channel group, in Google's evaluation order (Unassigned = nothing matched).
GA4_CHANNELS: tuple[str, ...] = (
    "Direct",
    "Cross-network",
    "Paid Shopping",
    "Paid Search",
    "Paid Social",
    "Paid Video",
    "Display",
    "Paid Other",
    "Organic Shopping",
    "Organic Social",
    "Organic Video",
    "Organic Search",
    "Referral",
    "Email",
    "Affiliates",
    "Audio",
    "SMS",
    "Mobile Push Notifications",
    "Unassigned",
)

#: Channels of physical / offline touchpoints, keyed by source system (no GA4 equivalent).
OFFLINE_CHANNELS: tuple[str, ...] = (
    "Store / POS",
    "Call center",
    "Loyalty",
    "Events & fairs",
    "Sales rep",
    "Direct mail / flyer",
)

#: Channels that a rule file may use but the shipped rules leave switched off (GA4 2026).
OPTIONAL_CHANNELS: tuple[str, ...] = ("AI Assistant",)

UNASSIGNED = "Unassigned"
DIRECT = "Direct"

#: Every name a rule file may assign.
KNOWN_CHANNELS: tuple[str, ...] = GA4_CHANNELS + OFFLINE_CHANNELS + OPTIONAL_CHANNELS

#: Source categories of the source-category list (Google's SOURCE_CATEGORY_* plus ``ai``).
SOURCE_CATEGORIES: tuple[str, ...] = ("search", "social", "shopping", "video", "ai")

#: Click-id URL parameters we recognise, in the order they are looked for on a landing URL.
CLICK_ID_PARAMS: tuple[str, ...] = (
    "gclid", "gbraid", "wbraid", "dclid", "msclkid", "fbclid", "ttclid", "li_fat_id",
    "twclid", "epik", "yclid", "igshid", "srsltid",
)

#: Default rule version when neither the caller nor ``percorso.toml`` names one.
DEFAULT_VERSION = "ga4-2026"

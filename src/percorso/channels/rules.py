"""Channel rules as versioned data: the loaded, validated form of the rule tables.

Why data and not code: Google changes the default channel group (``retargeting`` and the
``app``/``link`` referral mediums were added, an AI Assistant channel arrived in 2026), and
every marketing team has its own tagging quirks. The rules therefore live in
``rules/channel_rules_<version>.csv`` (one row per rule, AND inside a row, several rows per
channel for OR), ``rules/source_categories_<version>.csv`` and ``rules/offline_channels.csv``;
a project copy wins over the packaged default, and every classified row records
``<version>:<rule_id>`` so reports can say which rules they used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from percorso.channels.names import DEFAULT_VERSION, KNOWN_CHANNELS, SOURCE_CATEGORIES
from percorso.channels.tables import check_regex, parse_bool, read_table, split_list
from percorso.errors import ConfigError, suggest

RULE_COLUMNS = (
    "rule_id", "order", "channel", "source_category", "source_in", "source_regex", "medium_in",
    "medium_regex", "campaign_regex", "click_id_types", "utm_present", "enabled", "origin", "note",
)
#: The columns that are conditions (AND-ed when several are filled in one row).
CONDITION_COLUMNS = RULE_COLUMNS[3:11]
CATEGORY_COLUMNS = ("source", "category", "origin")
OFFLINE_COLUMNS = ("rule_id", "source_system", "event_type", "channel", "note")


@dataclass(frozen=True)
class Rule:
    """One row of the rule table. Empty conditions are ignored; filled ones must all hold."""

    rule_id: str
    order: float
    channel: str
    line: int
    source_category: tuple[str, ...] = ()
    source_in: tuple[str, ...] = ()
    source_regex: str | None = None      # stored with a leading (?i)
    medium_in: tuple[str, ...] = ()
    medium_regex: str | None = None
    campaign_regex: str | None = None
    click_id_types: tuple[str, ...] = ()
    utm_present: bool | None = None
    enabled: bool = True
    origin: str = ""
    note: str = ""

    def matches(self, v: dict[str, Any]) -> bool:
        """Pure-Python test of this row against normalised values (see :mod:`.classify_py`)."""
        if self.source_category and v["category"] not in self.source_category:
            return False
        if self.source_in and v["source"] not in self.source_in:
            return False
        if self.source_regex and not re.search(self.source_regex, v["source"]):
            return False
        if self.medium_in and v["medium"] not in self.medium_in:
            return False
        if self.medium_regex and not re.search(self.medium_regex, v["medium"]):
            return False
        if self.campaign_regex and not re.search(self.campaign_regex, v["campaign"]):
            return False
        if self.click_id_types and v["click_id_type"] not in self.click_id_types:
            return False
        if self.utm_present is not None and v["utm_present"] != self.utm_present:
            return False
        return True


@dataclass(frozen=True)
class OfflineRule:
    """Source system and/or event type → offline channel (blank = any)."""

    rule_id: str
    source_system: str | None
    event_type: str | None
    channel: str
    line: int
    note: str = ""


@dataclass
class ChannelRules:
    """Everything the classifiers need: ordered rules, source categories, offline mapping."""

    version: str
    rules: tuple[Rule, ...]                      # enabled rules, in evaluation order
    categories: dict[str, str]                   # lower-case source → category
    offline: tuple[OfflineRule, ...] = ()
    all_rules: tuple[Rule, ...] = ()             # including disabled rows, file order
    category_origin: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def label(self, rule_id: str) -> str:
        """``<version>:<rule_id>``, the value written to ``channel_rule``."""
        return f"{self.version}:{rule_id}"

    @property
    def unassigned_label(self) -> str:
        return f"{self.version}:unassigned"

    def rule(self, rule_id: str) -> Rule:
        for r in self.all_rules:
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)

    def sources_of(self, category: str) -> list[str]:
        return sorted(s for s, c in self.categories.items() if c == category)


Resolver = Callable[[str], Path]


def _resolver(obj: Any) -> tuple[Resolver, str | None]:
    """Turn a Project, a callable, a folder or ``None`` into (name → path, default version)."""
    from percorso.project import packaged_rule_file

    if obj is None:
        return packaged_rule_file, None
    if hasattr(obj, "rule_file"):
        version = getattr(getattr(getattr(obj, "settings", None), "channels", None), "rules_version", None)
        return obj.rule_file, version
    if callable(obj):
        return obj, None
    folder = Path(obj)

    def in_folder(name: str) -> Path:
        local = folder / name
        return local if local.exists() else packaged_rule_file(name)

    return in_folder, None


def available_versions(resolve: Resolver) -> list[str]:
    """Rule versions found next to the resolved default file and in the package."""
    from percorso.project import packaged_rule_file

    found: set[str] = set()
    for base in {packaged_rule_file(f"channel_rules_{DEFAULT_VERSION}.csv").parent,
                 _safe_parent(resolve, f"channel_rules_{DEFAULT_VERSION}.csv")}:
        if base is not None and base.exists():
            found.update(p.name[len("channel_rules_"):-4] for p in base.glob("channel_rules_*.csv"))
    return sorted(found)


def _safe_parent(resolve: Resolver, name: str) -> Path | None:
    try:
        return resolve(name).parent
    except Exception:
        return None


def load_rules(project_or_path_resolver: Any = None, version: str | None = None) -> ChannelRules:
    """Load and validate the channel rules of ``version`` (default: the project's setting).

    Parameters
    ----------
    project_or_path_resolver
        A :class:`~percorso.project.Project` (its ``rules/`` copy wins over the packaged
        default), a callable ``name -> Path``, a folder, or ``None`` for the packaged rules.
    version
        Rule version, e.g. ``"ga4-2026"``; files ``channel_rules_<version>.csv`` and
        ``source_categories_<version>.csv``.

    Raises
    ------
    ConfigError
        With file, line and column, for unknown channels, bad regexes, unknown columns or
        a version that does not exist.
    """
    resolve, project_version = _resolver(project_or_path_resolver)
    version = version or project_version or DEFAULT_VERSION
    files: dict[str, Path] = {}
    for kind in ("channel_rules", "source_categories"):
        name = f"{kind}_{version}.csv"
        try:
            path = resolve(name)
        except Exception as exc:
            path = None
            cause: Exception | None = exc
        else:
            cause = None
        if path is None or not Path(path).exists():
            raise ConfigError(
                f"no channel rule version '{version}' (file {name} not found); "
                f"{suggest(version, available_versions(resolve))}"
            ) from cause
        files[kind] = Path(path)
    try:
        files["offline_channels"] = Path(resolve("offline_channels.csv"))
    except Exception as exc:
        raise ConfigError("rule table offline_channels.csv not found in the project or the package") from exc

    categories, origins = _load_categories(files["source_categories"])
    all_rules = _load_rule_rows(files["channel_rules"])
    offline = _load_offline(files["offline_channels"])
    enabled = tuple(sorted((r for r in all_rules if r.enabled), key=lambda r: r.order))
    return ChannelRules(version, enabled, categories, offline, all_rules, origins, files)


def _load_rule_rows(path: Path) -> tuple[Rule, ...]:
    rows = read_table(path, allowed=RULE_COLUMNS, required=("channel",))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        c = row.cells
        where = f"{path}: line {row.line}"
        rule_id = c.get("rule_id") or str(n)
        if rule_id in seen:
            raise ConfigError(f"{where}, column 'rule_id': id '{rule_id}' already used on line {seen[rule_id]}")
        seen[rule_id] = row.line
        channel = c.get("channel", "")
        if channel not in KNOWN_CHANNELS:
            fixed = {k.lower(): k for k in KNOWN_CHANNELS}.get(channel.lower())
            hint = f"did you mean '{fixed}'? (names are exact)" if fixed else suggest(channel, KNOWN_CHANNELS)
            raise ConfigError(f"{where}, column 'channel': unknown channel '{channel}'; {hint}")
        try:
            order = float(c.get("order") or n)
        except ValueError:
            raise ConfigError(f"{where}, column 'order': '{c['order']}' is not a number") from None
        cats = split_list(c.get("source_category", ""))
        cats = tuple(x.removeprefix("source_category_") for x in cats)
        for cat in cats:
            if cat not in SOURCE_CATEGORIES:
                raise ConfigError(
                    f"{where}, column 'source_category': unknown category '{cat}'; {suggest(cat, SOURCE_CATEGORIES)}"
                )

        def rx(col: str) -> str | None:
            val = c.get(col, "")
            return check_regex(val, f"{where}, column '{col}'") if val else None

        rule = Rule(
            rule_id=rule_id, order=order, channel=channel, line=row.line,
            source_category=cats,
            source_in=split_list(c.get("source_in", "")),
            source_regex=rx("source_regex"),
            medium_in=split_list(c.get("medium_in", "")),
            medium_regex=rx("medium_regex"),
            campaign_regex=rx("campaign_regex"),
            click_id_types=split_list(c.get("click_id_types", "")),
            utm_present=parse_bool(c.get("utm_present", ""), f"{where}, column 'utm_present'", default=None),
            enabled=bool(parse_bool(c.get("enabled", ""), f"{where}, column 'enabled'", default=True)),
            origin=c.get("origin", ""),
            note=c.get("note", ""),
        )
        if not any(c.get(col) for col in CONDITION_COLUMNS):
            raise ConfigError(
                f"{where}: rule '{rule_id}' ({channel}) has no condition and would match every visit; "
                f"fill at least one of {', '.join(CONDITION_COLUMNS)}"
            )
        rules.append(rule)
    if not rules:
        raise ConfigError(f"{path}: no rules (the table has only a header)")
    return tuple(rules)


def _load_categories(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    rows = read_table(path, allowed=CATEGORY_COLUMNS, required=("source", "category"))
    cats: dict[str, str] = {}
    origins: dict[str, str] = {}
    lines: dict[str, int] = {}
    for row in rows:
        src = row.cells["source"].strip().lower()
        cat = row.cells["category"].strip().lower().removeprefix("source_category_")
        where = f"{path}: line {row.line}"
        if not src:
            raise ConfigError(f"{where}, column 'source': empty source")
        if cat not in SOURCE_CATEGORIES:
            raise ConfigError(f"{where}, column 'category': unknown category '{cat}'; {suggest(cat, SOURCE_CATEGORIES)}")
        if src in cats and cats[src] != cat:
            raise ConfigError(
                f"{where}: source '{src}' is '{cat}' here but '{cats[src]}' on line {lines[src]}; "
                "a source belongs to one category"
            )
        cats[src] = cat
        lines[src] = row.line
        origins[src] = row.cells.get("origin", "")
    return cats, origins


def _load_offline(path: Path) -> tuple[OfflineRule, ...]:
    rows = read_table(path, allowed=OFFLINE_COLUMNS, required=("channel",))
    out: list[OfflineRule] = []
    for n, row in enumerate(rows, 1):
        c = row.cells
        where = f"{path}: line {row.line}"
        if c["channel"] not in KNOWN_CHANNELS:
            raise ConfigError(f"{where}, column 'channel': unknown channel '{c['channel']}'; {suggest(c['channel'], KNOWN_CHANNELS)}")
        system = (c.get("source_system") or "").lower() or None
        etype = (c.get("event_type") or "").lower() or None
        if system is None and etype is None:
            raise ConfigError(f"{where}: fill source_system, event_type or both (a blank row would match every event)")
        out.append(OfflineRule(c.get("rule_id") or str(n), system, etype, c["channel"], row.line, c.get("note", "")))
    return tuple(out)

"""Typed project configuration read from ``percorso.toml``.

Each stage owns one section; :class:`Settings` composes them. Errors name the file, the
key, the bad value and what would be valid, so a marketer editing the TOML by hand can fix
it without reading code. The sections are dataclasses checked by :mod:`percorso.sections`,
not pydantic models: every command reads this file, and importing pydantic and building the
models cost ~0.1 s of each process that opens a project (ADR 0065).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from percorso.errors import ConfigError, ProjectNotFound, suggest
from percorso.sections import Section, SectionError, from_dict, setting

CONFIG_FILE = "percorso.toml"

#: Built-in source kinds (see ``percorso.ingest.kinds``).
SOURCE_KINDS = (
    "web", "app", "ecommerce", "pos", "loyalty", "crm", "esp", "ads",
    "call_center", "events", "campaign_costs", "clickstream", "generic",
)


def _time_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{v}'; {suggest(v, sorted(available_timezones()))[:200]}") from None
    return v


def _currency(v: str) -> str:
    if len(v) != 3 or not v.isalpha():
        raise ValueError(f"'{v}' is not an ISO 4217 code such as EUR")
    return v.upper()


@dataclass(slots=True, kw_only=True)
class ProjectSection(Section):
    name: str = "percorso"
    """Display name of the project."""
    time_zone: str = setting("Europe/Rome", check=_time_zone)
    """Zone naive source times are read in."""
    currency: str = setting("EUR", check=_currency)
    """Default ISO 4217 currency of amounts that carry none."""
    database: str = "percorso.duckdb"
    """DuckDB file, relative to the project folder."""
    locale: Literal["it", "en"] = "it"
    """Language of reports and CSV profile defaults."""


@dataclass(slots=True, kw_only=True)
class IdentitySection(Section):
    secret: str = ""
    """Project secret for HMAC keys of PII; overridden by env PERCORSO_SECRET."""
    max_customers_per_identifier: int = setting(5, ge=1)
    """An identifier seen with more customers than this is flagged as a hub and not used to link."""
    blocklist_file: str = "rules/identity_blocklist.csv"
    """Generic values never used to link (CSV: id_type, pattern)."""
    trusted_sources: list[str] = setting(factory=list)
    """Sources allowed to merge two already-known customers; empty = every file source except web/app."""
    default_phone_region: str = "IT"
    device_link: bool = True
    """Attach anonymous-only cookies/devices to the one known customer seen with the same IP and
    user agent (ADR 0009); never merges two known customers."""
    device_link_window_days: int = setting(7, ge=0)
    """The anonymous and the known events must share (IP, user agent) within this many days."""
    device_link_max_known: int = setting(1, ge=1)
    """An (IP, user agent) pair seen with more known customers than this is a hub (CGNAT, office)."""
    device_link_max_known_per_ip: int = setting(4, ge=1)
    """An IP seen with more known customers than this (any user agent) is a hub: a carrier's
    CGNAT address, an office or public Wi-Fi, not one household."""
    device_link_succession: bool = True
    """Refuse the link when a known customer used the same (IP, user agent) while the anonymous
    cookie was active (another browser, not the device's earlier cookie)."""


@dataclass(slots=True, kw_only=True)
class ChannelsSection(Section):
    rules_version: str = "ga4-2026"
    """Version of the channel rules (folder rules/channels/<version>/)."""


@dataclass(slots=True, kw_only=True)
class BuildSection(Section):
    session_gap_minutes: int = setting(30, ge=1)
    """Inactivity gap that starts a new session."""


_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def _size(v: str) -> str:
    if not _SIZE.match(v):
        raise ValueError(f"'{v}' is not a size such as 8GB or 512MB")
    return v.strip()


@dataclass(slots=True, kw_only=True)
class EngineSection(Section):
    """Which engine analyses run on, and how much of the machine it may take (issues 15, 21)."""

    kind: Literal["duckdb", "spark"] = "duckdb"
    """``duckdb`` (embedded, the default) or ``spark``: analyses read the Parquet lake
    (``percorso lake export``) through Spark; ingest, build and the export stay on DuckDB."""
    master: str = "local[2]"
    """Spark master: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://…`` or a Spark
    Connect ``sc://host:15002`` (docs/scale.md)."""
    lake: str = "lake"
    """Folder of the Parquet lake, relative to the project folder (or a path/URI Spark reads)."""
    spark: dict[str, str] = setting(factory=dict)
    """Extra Spark settings (``[engine.spark]``), e.g. ``"spark.driver.memory" = "4g"``."""

    memory_limit: str | None = setting(None, check=_size)
    """DuckDB memory limit such as ``"8GB"``; work that needs more spills to ``temp_directory``
    (default: 60 % of the machine's physical memory, see ``engine.backend.default_memory_limit``)."""
    temp_directory: str | None = None
    """Where DuckDB spills, relative to the project folder (default: ``<database>.tmp`` next to it)."""
    max_temp_size: str | None = setting(None, check=_size)
    """Cap of the spilled files, such as ``"40GB"``: past it the command stops with ``disk_full``
    before the disk fills (default: half the free space of their disk when the project opens,
    see ``engine.backend.default_temp_cap``)."""


@dataclass(slots=True, kw_only=True)
class IngestSection(Section):
    earliest: dt.date = dt.date(1990, 1, 1)
    """Event times and cost dates before this day are quarantined (``implausible_time``)."""
    latest_days_ahead: int = setting(1, ge=0)
    """... and so are those more than this many days after the import."""


_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-16": "utf-16", "utf16": "utf-16",
              "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
              "cp1252": "cp1252", "windows-1252": "cp1252"}


@dataclass(slots=True, kw_only=True)
class CollectorSection(Section):
    """The Segment-compatible HTTP intake (``percorso serve``; docs/collector.md, ADR 0023)."""

    allowed_origins: list[str] = setting(factory=list)
    """Site origins whose browsers may post events (CORS), e.g. ``["https://www.shop.it"]``;
    ``["*"]`` allows any. Servers and apps need none."""
    spool_max_mb: float = setting(512, gt=0)
    """Past this many MB waiting in the spool, new events get 503 with Retry-After (never a full disk)."""
    batch_seconds: float = setting(0.25, gt=0)
    """Each spool writer seals its file for the consumer at least this often ... (an event waits
    up to this long before a micro-batch may take it: 1 s was a fifth of the freshness target; ADR 0037)"""
    batch_events: int = setting(20000, ge=1)
    """... or as soon as it holds this many events, whichever comes first (the consumer takes
    whatever is sealed, so under load each micro-batch holds what arrived during the last)."""
    workers: int = setting(2, ge=0, le=32)
    """Intake worker processes serving the tracking API on the collector's port (``percorso
    serve`` starts and stops them); 0: the API only on the server's own port."""
    port: int | None = setting(None, ge=0, le=65535)
    """The collector's port; default the server's port + 1 (a free one with ``--port 0``)."""
    build: bool = True
    """After each micro-batch run the incremental build (profiles, identity, segments live)."""
    micro_batch_threads: int = setting(1, ge=0, le=256)
    """Engine threads while a micro-batch ingests and builds (0: the engine's own setting). One:
    its statements are small, and the machine's cores also serve the doors and the API (ADR 0040)."""
    trusted_proxies: list[str] = setting(factory=list)
    """Addresses of your own reverse proxies: behind one, ``context.ip`` is read from
    ``X-Forwarded-For`` (the last address that is not one of these), never from a client's say."""


def _source_kind(v: str) -> str:
    if v not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind '{v}'; {suggest(v, SOURCE_KINDS)}")
    return v


def _encoding(v: str) -> str:
    name = _ENCODINGS.get(v.strip().lower().replace("_", "-"))
    if name is None:
        raise ValueError(f"unknown encoding '{v}'; valid: utf-8, utf-16, latin-1 (iso-8859-1), cp1252 (windows-1252)")
    return name


@dataclass(slots=True, kw_only=True)
class SourceSection(Section):
    kind: str = setting(check=_source_kind)
    """Built-in source kind (web, app, ecommerce, pos, ...)."""
    mapping: dict[str, str] = setting(factory=dict)
    """Contract field → column name in the file, overriding the kind's default mapping."""
    trusted: bool | None = None
    """May this source merge already-known customers? Default: per kind."""
    delimiter: str | None = None
    decimal: str | None = None
    encoding: str | None = setting(None, check=_encoding)
    """Text encoding when the sniffed one is wrong: utf-8, utf-16, latin-1 or cp1252 (Windows)."""
    date_format: str | None = None
    """strptime format for date columns when they are not ISO (e.g. %d/%m/%Y %H:%M)."""
    true_values: list[str] | None = None
    """Texts read as yes in boolean columns (default: true, 1, yes, y, si, sì, s, vero, t)."""
    false_values: list[str] | None = None
    """Texts read as no (default: false, 0, no, n, falso, f); ``""`` reads a blank cell as no
    (the ``x``/blank style: ``true_values = ["x"]``, ``false_values = [""]``). Anything else is
    quarantined (``bad_boolean``), never guessed."""


@dataclass(slots=True, kw_only=True)
class Settings(Section):
    project: ProjectSection = setting(factory=ProjectSection)
    identity: IdentitySection = setting(factory=IdentitySection)
    channels: ChannelsSection = setting(factory=ChannelsSection)
    build: BuildSection = setting(factory=BuildSection)
    engine: EngineSection = setting(factory=EngineSection)
    ingest: IngestSection = setting(factory=IngestSection)
    collector: CollectorSection = setting(factory=CollectorSection)
    sources: dict[str, SourceSection] = setting(factory=dict)
    stages: dict[str, Any] = setting(factory=dict)
    """Stage rules (journeys issue)."""
    attribution: dict[str, Any] = setting(factory=dict)
    """Attribution settings (attribution issue)."""
    value: dict[str, Any] = setting(factory=dict)
    """Customer value settings (value issue)."""
    activation: dict[str, Any] = setting(factory=dict)
    """Activation settings: caps, quiet hours, SMTP, webhooks (percorso.activation.settings)."""
    privacy: dict[str, Any] = setting(factory=dict)
    """Consent, legal basis, retention and the PII vault key (``percorso.privacy.settings``)."""

    def source(self, name: str) -> SourceSection:
        if name in self.sources:
            return self.sources[name]
        if name in SOURCE_KINDS:  # a kind may be used directly with its default mapping
            return SourceSection(kind=name)
        raise ConfigError(
            f"{CONFIG_FILE}: no source named '{name}' in [sources]; "
            f"{suggest(name, list(self.sources) + list(SOURCE_KINDS))}",
            code="source_unknown",
        )


def load_settings(path: Path) -> Settings:
    """Read and validate ``percorso.toml``; raise :class:`ConfigError` naming the key."""
    if not path.exists():
        raise ProjectNotFound(
            f"no {CONFIG_FILE} in {path.parent}; create a project with `percorso init {path.parent}` "
            "or pass --project DIR"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return settings_from_dict(raw, origin=str(path))


def settings_from_dict(raw: dict[str, Any], origin: str = CONFIG_FILE) -> Settings:
    try:
        settings = from_dict(Settings, raw)
    except SectionError as exc:
        raise ConfigError(_explain(exc, origin)) from None
    env_secret = os.environ.get("PERCORSO_SECRET")
    if env_secret:
        settings.identity.secret = env_secret
    return settings


def _explain(exc: SectionError, origin: str) -> str:
    lines = []
    for p in exc.problems:
        loc = ".".join(str(x) for x in p.loc)
        if p.kind == "extra":
            lines.append(f"{origin}: unknown key '{loc}'; {suggest(str(p.loc[-1]), list(p.allowed))}")
        else:
            lines.append(f"{origin}: key '{loc}' has bad value {p.input!r}: {p.msg}")
    return "\n".join(lines)

"""The common controls of journey analyses as CLI options (one definition for every command).

Every journey command (``paths``, ``funnel``, ``friction``, ``journey-map``, ``omnichannel``)
takes the same options with the same names, and turns them into the fields of
:class:`percorso.journeys.controls.JourneyQuery` with :func:`journey_controls`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

FromOpt = Annotated[
    datetime | None, typer.Option("--from", help="Dal giorno / from date (inclusive, YYYY-MM-DD).", formats=["%Y-%m-%d"])
]
ToOpt = Annotated[
    datetime | None, typer.Option("--to", help="Al giorno / to date (inclusive, YYYY-MM-DD).", formats=["%Y-%m-%d"])
]
NodeOpt = Annotated[
    str,
    typer.Option(
        "--node",
        help="Cosa è un passo / what a step is: event (default: the event type, a generic clickstream event's "
        "own name), event_type, event_name, channel, campaign, page, store, stage, source, device, property:KEY, "
        "or two joined by + (channel+event_type).",
    ),
]
ScopeOpt = Annotated[str, typer.Option("--scope", help="customer (whole history) or session.")]
CleanOpt = Annotated[
    list[str] | None,
    typer.Option("--clean", help="Pulizia percorsi / path cleaning REGEX=ALIAS (repeatable)."),
]
CollapseOpt = Annotated[bool, typer.Option("--collapse/--no-collapse", help="Unisci ripetizioni / collapse A A → A.")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="Nodo da escludere / node to leave out.")]
SegmentOpt = Annotated[str | None, typer.Option("--segment", help="Solo i clienti del segmento / saved segment.")]
OnlineOpt = Annotated[
    str | None, typer.Option("--online", help="online | offline: only those touchpoints (default both).")
]
BreakdownOpt = Annotated[
    str | None, typer.Option("--breakdown", help="Suddividi per / break down by: channel, campaign, store, property:KEY…")
]
ChartOpt = Annotated[
    Path | None, typer.Option("--chart", help="Scrivi il grafico / write the chart to FILE.html or FILE.png.")
]
LimitOpt = Annotated[
    int, typer.Option("--limit", min=1, help="Clienti per pagina con --customers / customers per page (drill-down).")
]
OffsetOpt = Annotated[int, typer.Option("--offset", min=0, help="Salta i primi N clienti / skip the first N (drill-down).")]


def journey_controls(
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    node: str = "event",
    scope: str = "customer",
    clean: list[str] | None = None,
    collapse: bool = False,
    exclude: list[str] | None = None,
    segment: str | None = None,
    online: str | None = None,
    breakdown: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a :class:`JourneyQuery` subclass from the CLI option values."""
    rules: list[tuple[str, str]] = []
    for item in clean or []:
        pattern, sep, alias = item.rpartition("=")
        if not sep or not pattern:
            raise typer.BadParameter(f"--clean {item!r}: expected REGEX=ALIAS, e.g. '^/prodotti/=product page'")
        rules.append((pattern, alias))
    if online not in (None, "online", "offline"):
        raise typer.BadParameter(f"--online {online!r}: use online or offline")
    if scope not in ("customer", "session"):
        raise typer.BadParameter(f"--scope {scope!r}: use customer or session")
    extra = {"breakdown": breakdown} if breakdown else {}
    return extra | {
        "date_from": date_from.date() if date_from else None,
        "date_to": date_to.date() if date_to else None,
        "node": node,
        "scope": scope,
        "clean": tuple(rules),
        "collapse_repeats": collapse,
        "exclude": tuple(exclude or ()),
        "segment": segment,
        "online": None if online is None else online == "online",
    }

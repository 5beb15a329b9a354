"""CLI commands: customer show (the 360° timeline) and customer search."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from percorso.cli.common import FormatOpt, OutOpt, OutputFormat, ProjectOpt, console, emit_frame, open_cli_project
from percorso.cli.common import local_time as _local

if TYPE_CHECKING:
    from percorso.profile import CustomerProfile

customer_app = typer.Typer(help="Clienti: scheda 360° e ricerca / customer 360° view and search.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app."""
    app.add_typer(customer_app, name="customer")


@customer_app.command("show")
def show_cmd(
    identifier: Annotated[str, typer.Argument(help="Id cliente, e-mail, telefono, carta fedeltà o altro identificativo.")],
    project: ProjectOpt = Path("."),
    limit: Annotated[int, typer.Option("--limit", help="Punti di contatto per pagina / touchpoints per page.")] = 500,
    offset: Annotated[int, typer.Option("--offset", help="Salta i primi N / skip the first N touchpoints.")] = 0,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Scheda 360° del cliente: the person's timeline across every channel (`--format json` too)."""
    from percorso.profile import customer_profile, find_customer

    if limit < 1 or offset < 0:
        raise typer.BadParameter("--limit must be ≥ 1 and --offset ≥ 0")
    with open_cli_project(project, read_only=True) as p:
        cid = find_customer(p.engine, p.settings, identifier)
        profile = customer_profile(p.engine, cid, limit=limit, offset=offset, settings=p.settings)
        tz = p.settings.project.time_zone
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(profile.to_dict(), ensure_ascii=False, default=str) + "\n")
        return
    if fmt is not OutputFormat.table:
        emit_frame(profile.timeline, fmt)
        return
    print_profile(profile, tz=tz)


@customer_app.command("search")
def search_cmd(
    text: Annotated[str, typer.Argument(help="Parte di nome, città o carta, o e-mail / telefono interi / part of a name, city or card, "
                                                  "or a whole e-mail / phone.")],
    project: ProjectOpt = Path("."),
    limit: Annotated[int, typer.Option("--limit", help="Massimo risultati / at most N customers.")] = 50,
    fmt: FormatOpt = OutputFormat.table,
    out: OutOpt = None,
) -> None:
    """Cerca clienti / find customers whose name, city or card contains TEXT, or whose e-mail or phone is TEXT."""
    from percorso.profile.search import search_customers

    with open_cli_project(project, read_only=True) as p:
        frame = search_customers(p.engine, text, limit=limit, settings=p.settings)
        tz = p.settings.project.time_zone
    if fmt is OutputFormat.table and out is None:  # people read tables in local time; files stay UTC
        frame["last_seen_at"] = frame["last_seen_at"].map(lambda v: _local(v, tz))
    emit_frame(frame, fmt, out, title=f"clienti che contengono '{text}'")


def _fmt(value: Any) -> str:
    from rich.markup import escape

    from percorso.cli.common import cell

    return escape(cell(value))


def print_profile(profile: CustomerProfile, *, tz: str = "UTC") -> None:
    """Header, channel mix, orders and the timeline grouped by day; all tracking data escaped.

    Times are stored in UTC; they are shown in the project time zone ``tz`` so that a
    store visit falls on the day the customer lived it.
    """
    from rich.panel import Panel
    from rich.table import Table

    from percorso.events import event_label

    out = console(stderr=False)
    s = {k: _local(v, tz) for k, v in profile.summary.items()}
    name = " ".join(x for x in (s.get("first_name"), s.get("last_name")) if x) or "(senza nome / no name)"
    lines = [
        f"[bold]{_fmt(name)}[/bold]  {_fmt(profile.customer_id)}",
        f"e-mail {_fmt(s.get('email'))}  telefono {_fmt(s.get('phone'))}  carta {_fmt(s.get('loyalty_card'))}  "
        f"città {_fmt(s.get('city'))}",
        f"primo contatto / first seen {_fmt(s.get('first_seen_at'))}  ultimo / last {_fmt(s.get('last_seen_at'))}",
        f"ordini / orders {_fmt(s.get('n_orders'))}  ricavi netti dei resi / net revenue {_fmt(s.get('revenue'))} EUR  "
        f"punti di contatto {_fmt(s.get('n_touchpoints'))}",
        f"consenso marketing {_fmt(s.get('consent_marketing'))}  profilazione {_fmt(s.get('consent_profiling'))}  "
        f"identificativi {_fmt(s.get('n_identifiers'))} (dispositivi {_fmt(s.get('n_devices'))}, "
        f"e-mail {_fmt(s.get('n_emails'))}, telefoni {_fmt(s.get('n_phones'))}, carte {_fmt(s.get('n_cards'))})",
    ]
    if s.get("home_store"):
        lines.append(f"negozio abituale / home store {_fmt(s.get('home_store'))}")
    if profile.also_matches:
        lines.append(f"[yellow]anche / also matches: {_fmt(', '.join(profile.also_matches))}[/yellow]")
    out.print(Panel("\n".join(lines), title="cliente / customer", expand=False))

    ch = Table(title="canali / channels", title_justify="left")
    for col in ("canale / channel", "online", "contatti / touchpoints", "primo / first", "ultimo / last",
                "ordini / orders", "ricavi / revenue"):
        ch.add_column(col)
    for r in profile.channels.itertuples(index=False):
        ch.add_row(_fmt(r.channel), _fmt(r.online), _fmt(r.touchpoints), _fmt(_local(r.first_at, tz)),
                   _fmt(_local(r.last_at, tz)), _fmt(r.orders), _fmt(r.revenue))
    out.print(ch)

    if not profile.orders.empty:
        ot = Table(title="ordini / orders", title_justify="left")
        for col in ("quando / when", "ordine / order", "dove / where", "canale / channel", "negozio / store",
                    "importo / amount", "pezzi / items", "coupon", "reso / return"):
            ot.add_column(col)
        for r in profile.orders.itertuples(index=False):
            ot.add_row(_fmt(_local(r.occurred_at, tz)), _fmt(r.order_id), "online" if r.online else "negozio",
                       _fmt(r.channel), _fmt(r.store_id), _fmt(r.revenue), _fmt(r.n_items), _fmt(r.coupon_code), _fmt(r.is_return))
        out.print(ot)

    first, last = profile.offset + 1, profile.offset + len(profile.timeline)
    tl = Table(title=f"percorso / timeline ({first}–{last} di {profile.total_touchpoints}, ora {_fmt(tz)})",
               title_justify="left")
    for col in ("giorno / day", "ora / time", "canale / channel", "evento / event", "fase / stage",
                "dettaglio / detail"):
        tl.add_column(col, overflow="fold")
    day = None
    for r in profile.timeline.itertuples(index=False):
        when = _local(r.occurred_at, tz)
        this_day = _fmt(when.date())  # the project locale: 01/02/2025 (it), 2025-02-01 (en)
        detail = " ".join(x for x in (
            _fmt(r.campaign) and f"campagna {_fmt(r.campaign)}", _fmt(r.store_id) and f"negozio {_fmt(r.store_id)}",
            _fmt(r.order_id) and f"ordine {_fmt(r.order_id)}", _fmt(r.revenue) and f"€ {_fmt(r.revenue)}",
            _fmt(r.page_url)) if x)
        tl.add_row(this_day if this_day != day else "", when.strftime("%H:%M"), _fmt(r.channel),
                   _fmt(event_label(r.event_type, r.event_name)), _fmt(r.stage), detail)
        day = this_day
    out.print(tl)
    if last < profile.total_touchpoints:
        console().print(f"… altri {profile.total_touchpoints - last}: --offset {last}")
    _print_records(profile, tz)


def _print_records(profile: CustomerProfile, tz: str) -> None:
    """Record updates (CRM rows, identify calls) apart: they are not touchpoints of the journey."""
    from rich.table import Table

    if profile.record_updates is None or profile.record_updates.empty:
        return
    shown = len(profile.record_updates)
    rt = Table(title=f"aggiornamenti anagrafici, non contatti / record updates, not touchpoints "
                     f"(ultimi {shown} di {profile.total_record_updates})", title_justify="left")
    for col in ("quando / when", "evento / event", "sistema / system"):
        rt.add_column(col)
    for r in profile.record_updates.itertuples(index=False):
        rt.add_row(_fmt(_local(r.occurred_at, tz)), _fmt(r.event_type), _fmt(r.source_system))
    console(stderr=False).print(rt)

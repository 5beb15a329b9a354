"""Charts a marketer reads: Plotly figures with titles in the reader's language, values on the
bars, percentages as percentages, the channel palette, and the page's download buttons.

Why the figure travels as JSON in a ``data-figure`` attribute (drawn by ``static/app.js``):
the page has no inline script (the Content Security Policy forbids it), a chart swapped in by
HTMX is drawn like one loaded with the page, and the attribute is escaped like any other text.
PNG download is Plotly's own camera button (``toImageButtonOptions`` names the file); the data
behind each chart is one link away as CSV (the same table, :func:`PageContext.export_url`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from percorso.web.i18n import plotly_separators

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from percorso.web.context import PageContext

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"


@dataclass
class Chart:
    """What the ``chart`` macro draws: the figure, a title, the PNG file name, the data links."""

    title: str
    figure_json: str
    filename: str
    csv_url: str | None = None
    xlsx_url: str | None = None
    description: str = ""


def styled(fig: go.Figure, locale: str, *, x_title: str | None = None, y_title: str | None = None,
           percent: str | None = None, height: int = 420, legend: bool = True) -> go.Figure:
    """The house style: locale separators, axis titles, ``percent`` = ``"x"``/``"y"`` axis as %."""
    # no Plotly template: "plotly_white" cost ~40 ms of deep copies per chart and 7 KB of JSON; the
    # few settings it gave are set here (plotly.js's own defaults do the rest). Not update_layout:
    # its relayout deep-copies and re-validates the whole layout, 30-50 ms a chart on the loaded
    # box (most of a cold Valore page's own time at 10M, ADR 0038); the house settings are
    # merged into the figure's layout as plain values, the way update_layout merges them
    import plotly.graph_objects as go

    xaxis: dict = {"gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "automargin": True}
    yaxis: dict = {"gridcolor": "#e5e7eb", "zerolinecolor": "#d1d5db", "automargin": True}
    if x_title is not None:
        xaxis["title"] = {"text": x_title}
    if y_title is not None:
        yaxis["title"] = {"text": y_title}
    if percent == "x":
        xaxis["tickformat"] = ".0%"
    elif percent == "y":
        yaxis["tickformat"] = ".0%"
    house = dict(separators=plotly_separators(locale), font=dict(family=FONT, size=13, color="#1f2937"),
                 paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
                 height=height, margin=dict(l=10, r=10, t=30, b=10),
                 showlegend=legend, legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
                 hoverlabel=dict(font=dict(family=FONT)), xaxis=xaxis, yaxis=yaxis)
    # the default template Plotly copied into the new figure is dropped before the layout is
    # copied, and the new layout names an empty one so that setting it does not copy the
    # default in again (each copy was ~4,500 deep-copied objects, 2-3 ms a chart: ADR 0043)
    fig.layout.template = None
    layout = fig.layout.to_plotly_json()
    # constants of this function on a layout Plotly already validated; plotly.js checks them when drawing
    fig.layout = go.Layout({**_merged(layout, house), "template": {}}, _validate=False)
    fig.layout.template = None  # no template at all (not Plotly's default one)
    return fig


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, nested dictionaries key by key (as ``update_layout``)."""
    out = dict(base)
    for k, v in changes.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def chart(fig: go.Figure, ctx: PageContext, *, title: str, name: str, query: Any = None, table: str = "frame",
          description: str = "", traces: list[dict[str, Any]] | None = None) -> Chart:
    """A styled figure ready for the page, with its data as CSV/XLSX when ``query`` is given.

    ``traces``: the figure's data as plain Plotly JSON dictionaries, used as they are (the
    figure gives the layout). For a trace with hundreds of points of text, colours and links
    (a Sankey), Plotly's Python validation of every element cost ~0.15 s a chart; plotly.js
    checks the same attributes when it draws.
    """
    csv = xlsx = None
    if query is not None:
        csv, xlsx = ctx.export_url(query, table, "csv"), ctx.export_url(query, table, "xlsx")
    if traces is None:
        figure_json = fig.to_json()
    else:
        import plotly.io as pio

        figure_json = pio.to_json({"data": traces, "layout": fig.to_plotly_json()["layout"]}, validate=False)
    return Chart(title=title, figure_json=figure_json, filename=f"percorso-{name}", csv_url=csv,
                 xlsx_url=xlsx, description=description)


def share_text(values: Any, locale: str) -> list[str]:
    """Fractions as ``42,0 %`` labels (the value printed on a bar)."""
    from percorso.export.columns import format_value

    return [format_value(v, "share", locale) for v in values]


def count_text(values: Any, locale: str) -> list[str]:
    from percorso.export.columns import format_value

    return [format_value(v, "count", locale) for v in values]


def money_text(values: Any, locale: str) -> list[str]:
    from percorso.export.columns import format_value

    return [format_value(v, "money", locale) for v in values]

"""What the first opening of any page would pay once per process, paid when the server starts.

Why: the first request to a page in a fresh process compiled its Jinja templates (10-20 ms
each, in two languages), imported its view module and the analyses behind it, and made
Plotly build the validators of each trace type on first use (tens of ms a type). None of it
is the page's data work, yet it landed on whoever opened the page first after a restart:
on the 10M-event project Qualità dei dati's first opening took 185 ms against 67 ms of reads
(ADR 0038). Paid here, at start-up (about a second), every opening pays its own work only.
Nothing here touches the database: the data a page reads is its own cost.
"""

from __future__ import annotations

import gc
import importlib
import time

from percorso.web.pages import PAGES
from percorso.web.render import TEMPLATES, environment

#: Plotly trace types the pages draw (their validators are built on first use).
TRACES = ("Bar", "Heatmap", "Scatter")


def warm_up() -> float:
    """Compile every template in every language, import every view, build each trace type's
    validators once; returns the seconds it took."""
    t0 = time.perf_counter()
    for locale in ("it", "en"):
        env = environment(locale)
        for path in sorted(TEMPLATES.glob("*.html")):
            env.get_template(path.name)
    for page in PAGES:
        page.view()  # imports percorso.web.views.<page> and what it imports
    import plotly.graph_objects as go

    from percorso.web.charts import styled

    for name in TRACES:
        styled(go.Figure(getattr(go, name)()), "it", x_title="x", y_title="y").to_json()
    import pandas as pd

    go.Bar(x=pd.Series(["a"]), y=pd.Series([1.0]))  # Plotly reads pandas data through narwhals (its modules)
    _compile_one_query()
    importlib.import_module("percorso.web.tables")
    return time.perf_counter() - t0


def _compile_one_query() -> None:
    """Compile an Ibis expression on no table to DuckDB's SQL: the first query of a process
    imports Ibis's compiler and sqlglot's dialect and optimizer (~100 modules), which would
    otherwise arrive with the first page opened, after the start-up heap is frozen."""
    import ibis

    t = ibis.table({"customer_id": "string", "n": "int64", "at": "timestamp", "x": "float64"}, name="t")
    expr = (t.filter((t.n > 0) & t.customer_id.notnull()).mutate(day=t.at.date(), share=t.x / t.x.sum())
            .group_by(["customer_id", "day"]).aggregate(n=t.n.sum(), last=t.at.max(), share=t.x.mean())
            .order_by(ibis.desc("n")).limit(5))
    ibis.to_sql(expr.left_join(t, "customer_id").select("customer_id", "n"), dialect="duckdb")


def freeze_heap() -> int:
    """Keep what start-up built out of every later full garbage collection (``gc.freeze``);
    returns the objects frozen.

    Why: a server's heap is mostly what its imports, the warm-up and the opened project built
    (pandas, Ibis, Plotly's validators, the templates: ~260k tracked objects), alive for the
    whole process. Python's full collection walks every tracked object each time it runs,
    which it does whenever enough new objects have survived; on the 10M-event project one
    such pass took 126 ms on a quiet box, inside whichever request allocated at that moment
    (the one slow /valore opening of ten, ADR 0043). Frozen, a full pass walks only what was
    made after start-up (~22 ms there). Collected first, so no garbage is frozen.

    Called by ``percorso serve`` once the app has started (``app.state.freeze_heap``), a
    process that serves until it stops; not by every app a test makes, whose process goes on
    to make and drop others.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

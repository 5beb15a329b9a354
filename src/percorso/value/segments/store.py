"""Segments stored in the project database, with membership and size over time.

Tables (created on first use):

* ``segments``: name, definition (the rule as JSON), description, updated_at;
* ``segment_sizes``: name, computed_at, size: one row per refresh, so size over time is a query;
* ``segment_membership``: name, customer_id, entered_at, left_at (NULL while a member): who was
  in the segment when. A refresh closes the intervals of those who left and opens one for
  each newcomer, so the table grows with changes, not with refreshes.

A segment is refreshed when it is created, shown, or by ``percorso segment refresh``; the
history has one point per refresh.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from percorso.errors import InputError, NotFound, suggest
from percorso.value.artefacts import clear_stale, stale
from percorso.value.segments.compile import members_expr
from percorso.value.segments.definition import fields_used, parse_rule

if TYPE_CHECKING:
    import pandas as pd
    from ibis.expr.types import Table

    from percorso.engine import Engine

_SEG = (("name", "VARCHAR"), ("definition", "VARCHAR"), ("description", "VARCHAR"), ("updated_at", "TIMESTAMP"))
_SIZES = (("name", "VARCHAR"), ("computed_at", "TIMESTAMP"), ("size", "BIGINT"))
_MEMBERS = (("name", "VARCHAR"), ("customer_id", "VARCHAR"), ("entered_at", "TIMESTAMP"), ("left_at", "TIMESTAMP"))


def _ensure(engine: Engine) -> None:
    engine.create_empty_table("segments", _SEG, replace=False)
    engine.create_empty_table("segment_sizes", _SIZES, replace=False)
    engine.create_empty_table("segment_membership", _MEMBERS, replace=False)
    if "description" not in engine.columns("segments"):  # stored before descriptions existed
        seg = engine.table("segments")
        engine.create_table("segments", seg.select("name", "definition", description=ibis.literal(""),
                                                   updated_at=seg.updated_at))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def segment_names(engine: Engine) -> list[str]:
    if not engine.has_table("segments"):   # none saved yet (a read-only analysis must not create the table)
        return []
    _ensure(engine)
    return list(engine.execute(engine.table("segments").select("name").order_by("name"))["name"])


def save_segment(engine: Engine, name: str, rule_json: str | dict, settings: Any = None, *,
                 description: str = "") -> int:
    """Validate, store (replacing a same-named segment), refresh; return the current size."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"bad segment name '{name}'; use letters, digits, '-' and '_'")
    rule = parse_rule(rule_json)
    engine.compile(members_expr(engine, rule, settings))  # fail on a missing table before storing
    _ensure(engine)
    seg = engine.table("segments")
    keep = engine.to_arrow(seg.filter(seg.name != name))
    row = pa.table({"name": [name], "definition": [rule.model_dump_json()], "description": [description],
                    "updated_at": pa.array([_now()], pa.timestamp("us"))})
    engine.create_table("segments", pa.concat_tables([keep.cast(row.schema), row]))
    return refresh_segment(engine, name, settings)["size"]


def delete_segment(engine: Engine, name: str) -> None:
    """Remove a segment with its history."""
    load_rule(engine, name)
    for table in ("segments", "segment_sizes", "segment_membership"):
        t = engine.table(table)
        engine.create_table(table, engine.to_arrow(t.filter(t.name != name)))
    clear_stale(engine, f"segment:{name}")


def load_rule(engine: Engine, name: str) -> Any:
    """The stored rule of a segment (NotFound, with the close names, when there is none)."""
    if not engine.has_table("segments"):   # a read-only analysis (`funnel --segment`) must not create it
        raise NotFound(f"no segment named '{name}'; no segment is saved yet: create one with `percorso segment create`")
    _ensure(engine)
    seg = engine.table("segments")
    df = engine.execute(seg.filter(seg.name == name).select("definition"))
    if df.empty:
        raise NotFound(f"no segment named '{name}'; {suggest(name, segment_names(engine))}")
    return parse_rule(df.iloc[0]["definition"])


def members(engine: Engine, name: str, settings: Any = None, *, columns: list[str] | None = None) -> Any:
    """The current members of a stored segment: ``customer_id`` plus ``columns`` (profile fields).

    ``settings`` (the project's) only matter for ``health_*`` fields (their weights); without
    them the default weights apply.
    """
    rule = load_rule(engine, name)
    cols = export_columns(rule, columns) if columns is not None else ["customer_id"]
    return members_expr(engine, rule, settings, fields=cols[1:]).select(*cols)


def in_segment(engine: Engine, t: Table, name: str | None, settings: Any = None) -> Table:
    """``t`` (with ``customer_id``) restricted to a segment's members; ``t`` itself without one."""
    return t if name is None else t.semi_join(members(engine, name, settings), "customer_id")


def members_at(engine: Engine, name: str, at: datetime) -> Table:
    """Who was in the segment at ``at``, as recorded by the refreshes (``segment_membership``)."""
    load_rule(engine, name)
    m = engine.table("segment_membership")
    return m.filter(m.name == name, m.entered_at <= at, m.left_at.isnull() | (m.left_at > at)).select("customer_id")


def refresh_segment(engine: Engine, name: str, settings: Any = None) -> dict[str, Any]:
    """Recompute the members; record the size and who entered or left since the last refresh."""
    rule = load_rule(engine, name)
    stamp = _now()
    now = ibis.literal(stamp, type="timestamp")
    cur = engine.temp_table(members_expr(engine, rule, settings).select("customer_id").distinct())
    try:
        m = engine.table("segment_membership")
        mine = m.filter(m.name == name)
        open_ = mine.filter(mine.left_at.isnull())
        left = open_.anti_join(cur, "customer_id").mutate(left_at=now)
        new = cur.select(name=ibis.literal(name), customer_id=cur.customer_id, entered_at=now,
                         left_at=ibis.null("timestamp")).anti_join(open_, "customer_id")
        kept = m.filter((m.name != name) | m.left_at.notnull() | m.customer_id.isin(cur.customer_id))
        parts = [p.select(**{c: p[c].cast(m[c].type()) for c, _ in _MEMBERS}) for p in (kept, left, new)]
        updated = engine.temp_table(parts[0].union(parts[1]).union(parts[2]))
        n_left, n_new = int(engine.execute(left.count())), int(engine.execute(new.count()))
        engine.create_table("segment_membership", updated)
        engine.drop_temp(updated)
        size = int(engine.execute(cur.count()))
    finally:
        engine.drop_temp(cur)
    engine.append_arrow("segment_sizes", pa.table({"name": [name], "computed_at": pa.array([stamp], pa.timestamp("us")),
                                                   "size": pa.array([size], pa.int64())}))
    clear_stale(engine, f"segment:{name}")
    return {"name": name, "size": size, "entered": n_new, "left": n_left}


def segment_changes(engine: Engine, name: str, since: datetime | None = None) -> Table:
    """Who entered and who left ``name``, as events: customer_id, change (``entered``/``left``), occurred_at.

    Why a view of ``segment_membership``: each refresh (a build, a collector micro-batch every
    few seconds) closes and opens membership intervals at its time; read as events they are
    what automation acts on ("entered the segment at 10:02:07"). ``since`` keeps the changes
    at or after a time (UTC), for a consumer that polls.
    """
    if name not in segment_names(engine):
        raise NotFound(f"no segment named '{name}'; {suggest(name, segment_names(engine))}")
    m = engine.table("segment_membership")
    m = m.filter(m.name == name)
    entered = m.select("customer_id", change=ibis.literal("entered"), occurred_at=m.entered_at)
    left = m.filter(m.left_at.notnull())
    left = left.select("customer_id", change=ibis.literal("left"), occurred_at=left.left_at)
    out = entered.union(left)
    if since is not None:
        out = out.filter(out.occurred_at >= ibis.literal(since, type="timestamp"))
    return out.order_by(["occurred_at", "change", "customer_id"])


def refresh_all(engine: Engine, settings: Any = None) -> pd.DataFrame:
    """Refresh every stored segment (e.g. after ``percorso build``)."""
    import pandas as pd

    df = pd.DataFrame([refresh_segment(engine, n, settings) for n in segment_names(engine)],
                      columns=["name", "size", "entered", "left"])
    clear_stale(engine, "segments")
    return df


def list_segments(engine: Engine) -> pd.DataFrame:
    """Every segment with its last recorded size."""
    _ensure(engine)
    seg, sz = engine.table("segments"), engine.table("segment_sizes")
    last = sz.group_by("name").aggregate(computed_at=sz.computed_at.max())
    last = last.join(sz, ["name", "computed_at"]).select("name", "size", "computed_at")
    df = engine.execute(seg.left_join(last, "name").select(
        seg.name, seg.description, last.size, last.computed_at, seg.updated_at).order_by("name"))
    # a build that could not refresh a segment leaves its last size in place: say so per row
    marks = stale(engine)
    df["stale"] = [marks.get(f"segment:{n}") or marks.get("segments") or "" for n in df["name"]]
    return df


def segment_history(engine: Engine, name: str) -> Table:
    """Size over time: one row per refresh with the size and how many entered and left."""
    load_rule(engine, name)
    sz, m = engine.table("segment_sizes"), engine.table("segment_membership")
    mine = m.filter(m.name == name)
    ent = mine.group_by(computed_at=mine.entered_at).aggregate(entered=mine.count())
    lft = mine.filter(mine.left_at.notnull())
    lft = lft.group_by(computed_at=lft.left_at).aggregate(left=lft.count())
    h = sz.filter(sz.name == name).select("computed_at", "size")
    h = h.left_join(ent, "computed_at").select(h, entered=ent.entered.fill_null(0))
    h = h.left_join(lft, "computed_at").select(h, left=lft.left.fill_null(0))
    return h.order_by("computed_at")


def show_segment(engine: Engine, name: str, settings: Any = None) -> pd.DataFrame:
    """Refresh the segment and return its history; ``.attrs['definition']`` holds the rule."""
    rule = load_rule(engine, name)
    refresh_segment(engine, name, settings)
    df = engine.execute(segment_history(engine, name))
    df.attrs["definition"] = rule.model_dump_json()
    return df


def size_figure(history: pd.DataFrame, name: str) -> Any:
    """Size over time (line) with who entered and left at each refresh (bars)."""
    import plotly.graph_objects as go

    f = go.Figure()
    f.add_scatter(x=history["computed_at"], y=history["size"], name="size / dimensione", mode="lines+markers")
    f.add_bar(x=history["computed_at"], y=history["entered"], name="entered / entrati")
    f.add_bar(x=history["computed_at"], y=-history["left"], name="left / usciti")
    f.update_layout(title=f"Segment {name}: size over time / dimensione nel tempo", barmode="relative")
    return f


def export_columns(rule: Any, columns: list[str] | None) -> list[str]:
    """Columns of an export: ``customer_id`` plus the asked fields, default the rule's own."""
    from percorso.value.segments.definition import FIELDS

    cols = sorted(fields_used(rule)) if columns is None else columns
    bad = [c for c in cols if c not in FIELDS]
    if bad:
        raise InputError(f"cannot export {bad}; {suggest(bad[0], FIELDS)}")
    return ["customer_id", *[c for c in cols if c != "customer_id"]]

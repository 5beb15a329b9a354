"""Running journeys: enrol trigger occurrences, move enrolments through their steps, queue actions.

Why this shape: every enrolment is a row (``activation_enrolments``) holding the node it is
at and when it is due, so the schedule *is* the database: a restart, a crash or a new
server process picks up exactly where the last one stopped (the persistent scheduler the
issue asks for, with no separate job store to keep in step). Each pass moves all due
enrolments of one node together:

- ``wait``: on to the next node, due after the duration;
- ``wait_until`` a time window: on to the next node, due when the window (local time) opens;
- ``wait_until`` an event: parked at ``<node>#wait`` until the event (then on) or the timeout
  (then the enrolment ends as ``timeout``);
- ``branch``: the condition (profile, events, segment) picks the arm;
- ``act``: a row in the outbox, ``pending`` for the treated, ``held_out`` for the control
  group (tracked the same way, never sent).

Exit conditions are checked first at each node: an exit event between the trigger and the
node's due time ends the enrolment as ``exited``. Timing uses each enrolment's own due time,
not the clock, so a run that catches up on a day of backlog acts as if it had run on time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from percorso.activation import holdout
from percorso.activation.model import Journey, Node, action_channel, flatten
from percorso.activation.triggers import event_types, occurrences
from percorso.engine import activation_sql as S
from percorso.engine.localtime import local_value, utc_value

WAITING = "#wait"
MAX_PASSES = 200


@dataclass
class RunReport:
    """What one run did, per journey: ``entered``, ``control``, ``queued``, ``held_out``, ``exited``…"""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, journey: str, key: str, n: int) -> None:
        if n:
            j = self.counts.setdefault(journey, {})
            j[key] = j.get(key, 0) + int(n)


def _arrow(frame: pd.DataFrame, cols: tuple[tuple[str, str], ...]) -> pa.Table:
    types = {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us"), "INTEGER": pa.int32()}
    arrays = {}
    for name, sql in cols:
        typ = types[sql.split()[0]]
        values = frame[name] if name in frame else pd.Series([None] * len(frame))
        if typ == pa.timestamp("us"):
            values = pd.to_datetime(values).astype("datetime64[us]")
        arrays[name] = pa.array(values.tolist() if typ != pa.timestamp("us") else values, type=typ, from_pandas=True)
    return pa.table(arrays)


def enrol(engine: Any, secret: bytes, journey: Journey, now: datetime, zone: str, report: RunReport,
          since: datetime | None = None) -> int:
    """Enrol the new occurrences of the journey's trigger; returns how many enrolled."""
    occ = engine.execute(occurrences(engine, journey.trigger, now, zone, since))
    if occ.empty:
        return 0
    occ = occ.sort_values(["customer_id", "triggered_at", "occurrence"], kind="stable")
    e = engine.table("activation_enrolments")
    last = engine.execute(e.filter(e.journey == journey.name).group_by("customer_id")
                          .aggregate(last=e.triggered_at.max()))
    occ = occ.merge(last, on="customer_id", how="left")
    if journey.reentry is None:
        occ = occ[occ["last"].isna()]
    else:
        occ = occ[occ["last"].isna() | (occ["triggered_at"] >= occ["last"] + timedelta(seconds=journey.reentry))]
    occ = occ.drop_duplicates("customer_id")  # one entry per customer and run; later ones on a later run
    if occ.empty:
        return 0
    first = flatten(journey.steps)[0].id
    rows = pd.DataFrame({
        "enrolment_id": journey.name + "|" + occ["customer_id"] + "|" + occ["occurrence"].astype(str),
        "journey": journey.name, "customer_id": occ["customer_id"], "occurrence": occ["occurrence"].astype(str),
        "triggered_at": occ["triggered_at"], "entered_at": occ["ready_at"],
        "variant": holdout.variants(secret, journey.name, occ["customer_id"], journey.holdout),
        "node": first, "due_at": occ["ready_at"], "status": "active", "updated_at": occ["ready_at"],
    })
    n = S.insert_new(engine, "activation_enrolments", _arrow(rows, S.ENROLMENT_COLUMNS))
    report.add(journey.name, "entered", n)
    return n


def _condition_members(engine: Any, cond: Any, group: pd.DataFrame) -> set[str]:
    """Enrolment ids of ``group`` whose customer meets ``cond`` at the enrolment's due time."""
    ids = sorted(set(group["customer_id"]))
    if cond.kind == "profile":
        c = engine.table("customers")
        col = c[cond.field]
        if cond.op in ("is_null", "not_null"):
            pred = col.isnull() if cond.op == "is_null" else col.notnull()
        else:
            v = ibis.literal(cond.value)
            pred = {"=": col == v, "!=": col != v, ">": col > v, ">=": col >= v, "<": col < v, "<=": col <= v}[cond.op]
        ok = set(engine.to_arrow(c.filter(c.customer_id.isin(ids) & pred.fill_null(False)).select("customer_id"))
                 .column("customer_id").to_pylist())
        return set(group.loc[group["customer_id"].isin(ok), "enrolment_id"])
    if cond.kind == "segment":
        from percorso.value.segments.store import members

        ok = set(engine.to_arrow(members(engine, cond.segment).select("customer_id")).column("customer_id").to_pylist())
        hit = group["customer_id"].isin(ok)
        return set(group.loc[hit if cond.member else ~hit, "enrolment_id"])
    g = engine.register_arrow("_activation_group", pa.Table.from_pandas(
        group[["enrolment_id", "customer_id", "due_at"]].astype({"due_at": "datetime64[us]"}), preserve_index=False))
    try:
        t = engine.table("touchpoints")
        t = t.filter(t.event_type.isin(event_types(cond.event_type)) & t.customer_id.isin(ids))
        j = g.join(t, (g.customer_id == t.customer_id) & (t.occurred_at <= g.due_at)
                   & (t.occurred_at > g.due_at - ibis.interval(seconds=cond.within)))
        had = set(engine.to_arrow(j.select(g.enrolment_id).distinct()).column("enrolment_id").to_pylist())
    finally:
        engine.unregister("_activation_group")
    return had if cond.present else set(group["enrolment_id"]) - had


def _next_open(at: datetime, window: Any, zone: str) -> datetime:
    """The first moment at or after ``at`` (UTC) inside the local window."""
    local = local_value(at, zone)
    for day in range(8):
        d = (local + timedelta(days=day)).replace(minute=0, second=0, microsecond=0)
        if d.weekday() not in window.days:
            continue
        start = d.replace(hour=window.start_hour)
        end = d.replace(hour=window.end_hour - 1, minute=59, second=59)
        if day == 0 and start <= local <= end:
            return at
        if local <= start:
            return utc_value(start, zone)
    return at


def _exits(engine: Any, journey: Journey, due: pd.DataFrame) -> set[str]:
    if not journey.exit or due.empty:
        return set()
    types = [x for name in journey.exit for x in event_types(name)]
    g = engine.register_arrow("_activation_due", pa.Table.from_pandas(
        due[["enrolment_id", "customer_id", "triggered_at", "due_at"]].astype(
            {"triggered_at": "datetime64[us]", "due_at": "datetime64[us]"}), preserve_index=False))
    try:
        t = engine.table("touchpoints")
        t = t.filter(t.event_type.isin(types))
        j = g.join(t, (g.customer_id == t.customer_id) & (t.occurred_at > g.triggered_at) & (t.occurred_at <= g.due_at))
        return set(engine.to_arrow(j.select(g.enrolment_id).distinct()).column("enrolment_id").to_pylist())
    finally:
        engine.unregister("_activation_due")


def _step(engine: Any, journey: Journey, node: Node, group: pd.DataFrame, now: datetime, zone: str,
          moves: list[dict[str, Any]], messages: list[dict[str, Any]], report: RunReport) -> None:
    """Move every enrolment of ``group`` (all at ``node``, all due) one step."""
    step = node.step

    def move(rows: pd.DataFrame, nxt: str | None, due: Any, status: str = "active", parked: bool = False) -> None:
        """Record the move; ``updated_at`` is when the enrolment reached its new node (the old due
        time when it is parked waiting for an event, the new due time otherwise)."""
        for r, d in zip(rows.itertuples(index=False), due if isinstance(due, list) else [due] * len(rows)):
            d = r.due_at if d is None else d
            moves.append({"enrolment_id": r.enrolment_id, "node": nxt if status == "active" else None, "due_at": d,
                          "status": "done" if status == "active" and nxt is None else status,
                          "updated_at": r.due_at if parked else d})

    if step.kind == "wait":
        move(group, node.next, list(group["due_at"] + timedelta(seconds=step.duration)))
    elif step.kind == "wait_until" and step.event is None:
        opens = [_next_open(d.to_pydatetime(), step.window, zone) for d in group["due_at"]]
        move(group, node.next, opens)
    elif step.kind == "wait_until":
        waiting = group[group["node"].str.endswith(WAITING)]
        arriving = group[~group["node"].str.endswith(WAITING)]
        move(arriving, node.id + WAITING, list(arriving["due_at"] + timedelta(seconds=step.timeout)), parked=True)
        move(waiting, None, None, status="timeout")
        report.add(journey.name, "timeout", len(waiting))
    elif step.kind == "branch":
        yes = _condition_members(engine, step.condition, group)
        hit = group["enrolment_id"].isin(yes)
        move(group[hit], node.then, None)
        move(group[~hit], node.otherwise, None)
    else:
        action = step.action
        for r in group.itertuples(index=False):
            messages.append({
                "message_key": f"{r.enrolment_id}|{node.id}", "enrolment_id": r.enrolment_id,
                "journey": journey.name, "step": step.name or node.id, "customer_id": r.customer_id,
                "variant": r.variant, "channel": action_channel(action), "purpose": action.purpose,
                "action": json.dumps(action.model_dump(mode="json"), sort_keys=True),
                "status": "pending" if r.variant == "treated" else "held_out", "reason": None, "attempts": 0,
                "created_at": now, "due_at": r.due_at, "sent_at": None, "error": None})
        move(group, node.next, None)


def _event_arrivals(engine: Any, journey: Journey, nodes: dict[str, Node], now: datetime,
                    moves: list[dict[str, Any]]) -> None:
    """Enrolments parked at a ``wait_until`` event that has happened move on at the event's time."""
    e = engine.table("activation_enrolments")
    for node in nodes.values():
        if node.step.kind != "wait_until" or node.step.event is None:
            continue
        parked = e.filter((e.journey == journey.name) & (e.status == "active") & (e.node == node.id + WAITING))
        t = engine.table("touchpoints")
        t = t.filter(t.event_type.isin(event_types(node.step.event)) & (t.occurred_at <= now))
        j = parked.join(t, (parked.customer_id == t.customer_id) & (t.occurred_at > parked.updated_at)
                        & (t.occurred_at <= parked.due_at))
        hits = engine.execute(j.group_by(parked.enrolment_id).aggregate(at=t.occurred_at.min()))
        for r in hits.itertuples(index=False):
            moves.append({"enrolment_id": r.enrolment_id, "node": node.next, "due_at": r.at,
                          "status": "active" if node.next else "done", "updated_at": r.at})


def advance(engine: Any, journeys: list[Journey], now: datetime, zone: str, report: RunReport) -> None:
    """Move every due enrolment of ``journeys`` until each waits for a later time or is done."""
    by_name = {j.name: (j, {n.id: n for n in flatten(j.steps)}) for j in journeys}
    e = engine.table("activation_enrolments")
    for _ in range(MAX_PASSES):
        moves: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for j, nodes in by_name.values():
            _event_arrivals(engine, j, nodes, now, moves)
        due = engine.execute(e.filter(e.journey.isin(list(by_name)) & (e.status == "active") & (e.due_at <= now)))
        done = {m["enrolment_id"] for m in moves}
        due = due[~due["enrolment_id"].isin(done)]
        if due.empty and not moves:
            return
        for name, group in due.groupby("journey"):
            journey, nodes = by_name[str(name)]
            out = _exits(engine, journey, group)
            gone = group[group["enrolment_id"].isin(out)]
            for r in gone.itertuples(index=False):
                moves.append({"enrolment_id": r.enrolment_id, "node": None, "due_at": r.due_at, "status": "exited",
                              "updated_at": r.due_at})
            report.add(journey.name, "exited", len(gone))
            group = group[~group["enrolment_id"].isin(out)]
            for node_id, at_node in group.groupby(group["node"].str.replace(WAITING, "", regex=False)):
                _step(engine, journey, nodes[str(node_id)], at_node, now, zone, moves, messages, report)
        with engine.transaction():
            if messages:
                frame = pd.DataFrame(messages)
                n = S.insert_new(engine, "activation_outbox", _arrow(frame, S.OUTBOX_COLUMNS))
                for name, part in frame.groupby("journey"):
                    report.add(str(name), "queued", int((part["status"] == "pending").sum()))
                    report.add(str(name), "held_out", int((part["status"] == "held_out").sum()))
                del n
            if moves:
                S.update_enrolments(engine, _arrow(pd.DataFrame(moves).drop_duplicates("enrolment_id", keep="last"),
                                                   (("enrolment_id", "VARCHAR"), ("node", "VARCHAR"),
                                                    ("due_at", "TIMESTAMP"), ("status", "VARCHAR"),
                                                    ("updated_at", "TIMESTAMP"))))


def run_journeys(engine: Any, secret: bytes, journeys: list[Journey], *, now: datetime, zone: str,
                 since: datetime | None = None) -> RunReport:
    """Enrol the new trigger occurrences of the enabled ``journeys`` and move every due enrolment."""
    S.ensure_activation_tables(engine)
    report = RunReport()
    live = [j for j in journeys if j.enabled]
    if not live or not engine.has_table("touchpoints"):
        return report
    for j in live:
        enrol(engine, secret, j, now, zone, report, since)
    advance(engine, live, now, zone, report)
    return report


__all__ = ["RunReport", "advance", "enrol", "run_journeys"]

"""The demo reacts: simulated customers respond to percorso's e-mails with known true effects.

Why: the holdout results claim to measure what a journey adds. The only way to check that
claim is a world where the truth is known. After the demo is built, :func:`simulate` runs the
two shipped e-mail journeys over the simulated period (enrolment, waits and exits at their
own times; the scheduler beats at 10:00 local time every third day when something is due), then
lets each person who *received* an e-mail respond: with probability ``effect[journey][persona]``
a person who would not have bought within the goal window anyway places an online order
within it. Those orders are written as the web shop's export (``sources/activation_reactions.csv``)
and go through ingest and build like any other order. ``browse_abandonment`` is inert (effect
0 for everybody): its measured uplift must come out not significant.

The personas of the demo's effects are read from the profile: ``loyal`` (has a loyalty
card), ``buyer`` (bought before), ``new`` (the rest). The truth written to
``ground_truth/activation_effects.json`` is the expected uplift in conversion points over the
treated enrolments (each treated enrolment's response probability, zero where the customer
would have converted anyway or the e-mail was not delivered within the window), which is what
the treated-minus-control difference estimates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from percorso.activation.model import journey_from_dict
from percorso.activation.outbox import dispatch
from percorso.activation.results import journey_results, per_enrolment
from percorso.activation.runner import run_journeys
from percorso.activation.store import EXAMPLES, save_journey
from percorso.engine import activation_sql as S
from percorso.engine.localtime import local_value, utc_value

#: True effect of receiving each journey's e-mail on purchasing within the goal window.
EFFECTS: dict[str, dict[str, float]] = {
    "cart_abandonment": {"loyal": 0.15, "buyer": 0.10, "new": 0.06},
    "browse_abandonment": {"loyal": 0.0, "buyer": 0.0, "new": 0.0},
}
REACTIONS_FILE = "activation_reactions.csv"


def _uniform(seed: int, key: str, salt: str) -> float:
    h = hashlib.sha256(f"{seed}|{salt}|{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def _record_sender(msg: dict[str, Any], person: dict[str, Any]) -> tuple[str, str | None]:
    return ("sent", None) if person.get("email") else ("failed", "no_contact: no e-mail address")


def run_period(project: Any, journeys: list[str], *, hour: int = 10, every_days: int = 1) -> dict[str, int]:
    """Enrol and step every journey over the whole period, then beat the dispatcher at ``hour``
    local time every ``every_days`` days (only when something is due). Returns counts of messages
    by status. A beat costs about a second on a loaded 2-core box, so the demo beats every third
    day: an e-mail leaves at most three days after it was due, inside the 7-day goal window (the
    truth counts only e-mails sent within the window)."""
    engine = project.engine
    zone = project.settings.project.time_zone
    t = engine.table("touchpoints")
    end = engine.execute(t.aggregate(end=t.occurred_at.max()))["end"].iloc[0].to_pydatetime()
    objs = []
    for name in journeys:
        j = journey_from_dict({**EXAMPLES[name], "enabled": True})
        save_journey(project.root, j, replace=True)
        objs.append(j)
    run_journeys(engine, project.secret, objs, now=end, zone=zone)

    def clock() -> datetime:
        """The next daily beat at or after the earliest pending message (the end when none is due)."""
        due = S.next_due(engine)
        if due is None or due > end:
            return end
        local = local_value(due, zone)
        beat = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        if beat < local:
            beat += timedelta(days=1)
        beat += timedelta(days=-beat.toordinal() % every_days)  # the next day on the beat grid
        return min(utc_value(beat, zone), end)

    dispatch(engine, project.settings, {"email": _record_sender}, now=clock)
    o = engine.table("activation_outbox")
    counts = engine.execute(o.group_by("status").aggregate(n=o.count()))
    return dict(zip(counts["status"], counts["n"].astype(int)))


def reactions(project: Any, journey: str, seed: int) -> tuple[pd.DataFrame, float, dict[str, int]]:
    """The reaction orders of one journey, its true expected uplift (conversion points) and the
    conversions per arm before any reaction (``baseline``: what the check after the rebuild
    compares with: treated after = treated before + reactions, control after = control before)."""
    engine = project.engine
    j = journey_from_dict(EXAMPLES[journey])
    rows = engine.execute(per_enrolment(engine, j))
    e = engine.table("activation_enrolments")
    o = engine.table("activation_outbox")
    c = engine.table("customers")
    info = engine.execute(
        e.filter(e.journey == journey).select("enrolment_id", "customer_id", "variant", "triggered_at")
        .left_join(o.filter((o.journey == journey) & (o.status == "sent")).select("enrolment_id", "sent_at"),
                   "enrolment_id")
        .left_join(c.select("customer_id", "email_key", "loyalty_card", "n_orders"), "customer_id"))
    from percorso.privacy.contacts import open_contacts

    info = open_contacts(engine, project.settings, info)   # the shop's order file names the buyer's e-mail
    info = info.merge(rows[["enrolment_id", "converted"]], on="enrolment_id", how="left")
    arms = rows.groupby("variant")["converted"].agg(["count", "sum"])
    baseline = {f"{k}_{v}": int(arms.at[v, c]) if v in arms.index else 0
                for v in ("treated", "control") for k, c in (("n", "count"), ("conversions", "sum"))}
    info["persona"] = np.where(info["loyalty_card"].notna(), "loyal", np.where(info["n_orders"] > 0, "buyer", "new"))
    window = timedelta(seconds=j.goal.window)
    treated = info[info["variant"] == "treated"].copy()
    end = treated["triggered_at"] + window
    reachable = treated["sent_at"].notna() & (treated["sent_at"] < end) & (treated["converted"] == 0)
    treated["p"] = np.where(reachable, treated["persona"].map(EFFECTS[journey]).astype(float), 0.0)
    truth = float(treated["p"].mean()) if len(treated) else float("nan")
    u = np.array([_uniform(seed, k, journey) for k in treated["enrolment_id"]])
    hit = treated[u < treated["p"].to_numpy()].copy()
    baseline["reactions"] = len(hit)
    if hit.empty:
        return hit.assign(at=pd.Series(dtype="datetime64[us]")), truth, baseline
    delay = np.array([_uniform(seed, k, "delay") for k in hit["enrolment_id"]])
    room = ((hit["triggered_at"] + window) - hit["sent_at"]).dt.total_seconds().clip(upper=2 * 86400)
    hit["at"] = hit["sent_at"] + pd.to_timedelta(delay * room.to_numpy() * 0.999, unit="s")
    hit["revenue"] = np.round(80 + 320 * np.array([_uniform(seed, k, "basket") for k in hit["enrolment_id"]]), 2)
    return hit, truth, baseline


def write_orders(path: Path, orders: pd.DataFrame, zone: str) -> int:
    """The reaction orders in the web shop's export format (read by the ``ecommerce`` source)."""
    from zoneinfo import ZoneInfo

    header = ("order_id,line_no,order_date,user_id,email,phone,codice_fiscale,anonymous_id,sku,product_name,category,"
              "quantity,unit_price,discount,currency,coupon_code,shipping_cost,status")
    lines = [header]
    for i, r in enumerate(orders.itertuples(index=False)):
        when = pd.Timestamp(r.at).floor("s").to_pydatetime().replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
        lines.append(f"ACT-{i + 1:08d}-{r.enrolment_id[-8:]},1,{when.isoformat(timespec='seconds')},,{r.email},,,,"
                     f"ACT-001,Ordine dopo e-mail,activation,1,{r.revenue:.2f},0.00,EUR,,0.00,completed")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def simulate(project: Any, *, seed: int, journeys: tuple[str, ...] = ("cart_abandonment", "browse_abandonment"),
             every_days: int = 3, progress: Any = None) -> dict[str, Any]:
    """Run the journeys over the demo period, add the reactions, rebuild, and compare with the truth."""
    from percorso.build import run_build
    from percorso.ingest.pipeline import ingest_files

    say = progress or (lambda _m: None)
    say("attivazione: percorsi sul periodo simulato / activation: journeys over the simulated period")
    statuses = run_period(project, list(journeys), every_days=every_days)
    zone = project.settings.project.time_zone
    truth: dict[str, float] = {}
    before: dict[str, dict[str, int]] = {}
    frames = []
    for name in journeys:
        hit, truth[name], before[name] = reactions(project, name, seed)
        frames.append(hit)
    orders = pd.concat(frames, ignore_index=True)
    path = project.root / "sources" / REACTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    n = write_orders(path, orders, zone)
    say(f"attivazione: {n} ordini di risposta / reaction orders; import + build")
    ingest_files(project, "ecommerce", [path])
    run_build(project)
    out: dict[str, Any] = {"messages": statuses, "reaction_orders": n, "journeys": {}}
    for name in journeys:
        frame = journey_results(project.engine, journey_from_dict(EXAMPLES[name]))
        row = frame.iloc[0].to_dict()
        out["journeys"][name] = {"true_uplift": truth[name], **{k: (float(v) if isinstance(v, (int, float, np.floating,
                                 np.integer)) else v) for k, v in row.items()}, "before": before[name]}
    gt = project.root / "ground_truth"
    if gt.is_dir():
        (gt / "activation_effects.json").write_text(json.dumps(
            {"effects": EFFECTS, "true_uplift": truth, "seed": seed}, indent=2), encoding="utf-8")
    return out


__all__ = ["EFFECTS", "reactions", "run_period", "simulate", "write_orders"]

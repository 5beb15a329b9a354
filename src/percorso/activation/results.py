"""Does the journey work? Treated vs control, with intervals, a test and a plain sentence.

Why intention to treat: the comparison is between everybody the journey *assigned* to each
arm (enrolments), whatever happened next (an exit, a guard that blocked the e-mail). That is
what the randomisation makes comparable; comparing only the people who received the message
with the control would compare the consenting, reachable customers with everybody.

Per arm: enrolments ``n``, conversions (a goal event within the goal window after the
trigger), revenue of purchase orders in that window, online and in store. Then:

- conversion uplift, absolute (rate difference) with a Wald 95 % interval, and relative
  (rate ratio − 1) with a log-ratio interval;
- a two-proportion z-test (pooled) for "no effect";
- revenue per enrolment difference (Welch) and incremental revenue = difference × treated
  enrolments, with its interval, online and store apart;
- a sentence in Italian and English.

Per step: the same on the enrolments that reached each ``act`` step (the control reaches it
as a ``held_out`` row of the outbox).
"""

from __future__ import annotations

import math
from typing import Any

import ibis
import pandas as pd

from percorso.activation.model import Journey
from percorso.activation.triggers import event_types

Z95 = 1.959963984540054


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def uplift_stats(nt: int, ct: int, nc: int, cc: int) -> dict[str, float]:
    """Conversion uplift of ``ct/nt`` (treated) over ``cc/nc`` (control), with 95 % intervals and p.

    Examples
    --------
    >>> s = uplift_stats(1000, 150, 1000, 100)
    >>> round(s["uplift"], 3), round(s["uplift_low"], 3), round(s["uplift_high"], 3), s["p_value"] < 0.01
    (0.05, 0.021, 0.079, True)
    """
    nan = float("nan")
    if nt == 0 or nc == 0:
        return {k: nan for k in ("rate_treated", "rate_control", "uplift", "uplift_low", "uplift_high",
                                 "relative_uplift", "relative_low", "relative_high", "p_value")}
    rt, rc = ct / nt, cc / nc
    diff = rt - rc
    se = math.sqrt(rt * (1 - rt) / nt + rc * (1 - rc) / nc)
    pooled = (ct + cc) / (nt + nc)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
    p = 2 * _norm_sf(abs(diff) / se0) if se0 > 0 else (1.0 if diff == 0 else 0.0)
    if ct > 0 and cc > 0:
        log_rr = math.log(rt / rc)
        se_log = math.sqrt((1 - rt) / ct + (1 - rc) / cc)
        rel, rel_lo, rel_hi = rt / rc - 1, math.exp(log_rr - Z95 * se_log) - 1, math.exp(log_rr + Z95 * se_log) - 1
    else:
        rel = rel_lo = rel_hi = nan
    return {"rate_treated": rt, "rate_control": rc, "uplift": diff, "uplift_low": diff - Z95 * se,
            "uplift_high": diff + Z95 * se, "relative_uplift": rel, "relative_low": rel_lo, "relative_high": rel_hi,
            "p_value": p}


def revenue_stats(nt: int, st: float, sst: float, nc: int, sc: float, ssc: float) -> dict[str, float]:
    """Incremental revenue from sums and sums of squares of revenue per enrolment (Welch)."""
    nan = float("nan")
    if nt < 2 or nc < 2:
        return {"incremental_revenue": nan, "incremental_revenue_low": nan, "incremental_revenue_high": nan}
    mt, mc = st / nt, sc / nc
    vt = max(0.0, (sst - nt * mt * mt) / (nt - 1))
    vc = max(0.0, (ssc - nc * mc * mc) / (nc - 1))
    se = math.sqrt(vt / nt + vc / nc)
    return {"incremental_revenue": (mt - mc) * nt, "incremental_revenue_low": (mt - mc - Z95 * se) * nt,
            "incremental_revenue_high": (mt - mc + Z95 * se) * nt}


def per_enrolment(engine: Any, journey: Journey) -> Any:
    """One row per enrolment: variant, converted, revenue online and in store within the goal window."""
    e = engine.table("activation_enrolments")
    e = e.filter(e.journey == journey.name).select("enrolment_id", "customer_id", "variant", "triggered_at")
    o = engine.table("orders")
    o = o.filter(~o.is_return.fill_null(False)).select(
        o_customer=o.customer_id, o_at=o.occurred_at, o_revenue=o.revenue, o_online=o.online)
    window = ibis.interval(seconds=journey.goal.window)
    j = e.left_join(o, (e.customer_id == o.o_customer) & (o.o_at > e.triggered_at) & (o.o_at <= e.triggered_at + window))
    rev = j.o_revenue.fill_null(0)
    orders = j.group_by(["enrolment_id", "variant"]).aggregate(
        revenue=rev.sum(), revenue_online=(j.o_online.fill_null(False)).ifelse(rev, 0).sum(),
        revenue_store=(~j.o_online.fill_null(True)).ifelse(rev, 0).sum())
    types = event_types(journey.goal.event_type)
    if set(types) <= {"purchase", "receipt"}:
        conv = j.filter(j.o_at.notnull()).select("enrolment_id").distinct()
    else:
        t = engine.table("touchpoints")
        t = t.filter(t.event_type.isin(types)).select(t_customer=t.customer_id, t_at=t.occurred_at)
        jj = e.join(t, (e.customer_id == t.t_customer) & (t.t_at > e.triggered_at) & (t.t_at <= e.triggered_at + window))
        conv = jj.select("enrolment_id").distinct()
    conv = conv.mutate(converted=ibis.literal(1))
    out = orders.left_join(conv, "enrolment_id")
    return out.select("enrolment_id", "variant", "revenue", "revenue_online", "revenue_store",
                      converted=out.converted.fill_null(0))


def _arm_sums(rows: Any) -> Any:
    return rows.group_by("variant").aggregate(
        n=rows.enrolment_id.count(), conversions=rows.converted.sum(), revenue=rows.revenue.sum(),
        revenue_sq=(rows.revenue * rows.revenue).sum(), revenue_online=rows.revenue_online.sum(),
        online_sq=(rows.revenue_online * rows.revenue_online).sum(), revenue_store=rows.revenue_store.sum(),
        store_sq=(rows.revenue_store * rows.revenue_store).sum())


def _row(label: str, arms: pd.DataFrame) -> dict[str, Any]:
    a = arms.set_index("variant")

    def g(v: str, c: str) -> float:
        return float(a.at[v, c]) if v in a.index else 0.0

    nt, nc = int(g("treated", "n")), int(g("control", "n"))
    row: dict[str, Any] = {"step": label, "n_treated": nt, "n_control": nc,
                           "conversions_treated": int(g("treated", "conversions")),
                           "conversions_control": int(g("control", "conversions"))}
    row.update(uplift_stats(nt, row["conversions_treated"], nc, row["conversions_control"]))
    row.update(revenue_stats(nt, g("treated", "revenue"), g("treated", "revenue_sq"),
                             nc, g("control", "revenue"), g("control", "revenue_sq")))
    for part, sq in (("online", "online_sq"), ("store", "store_sq")):
        s = revenue_stats(nt, g("treated", f"revenue_{part}"), g("treated", sq), nc, g("control", f"revenue_{part}"),
                          g("control", sq))
        row[f"incremental_revenue_{part}"] = s["incremental_revenue"]
    row["significant"] = bool(row["p_value"] < 0.05) if not math.isnan(row["p_value"]) else False
    return row


def journey_results(engine: Any, journey: Journey) -> pd.DataFrame:
    """The results table: one row for the whole journey, then one per ``act`` step."""
    rows = per_enrolment(engine, journey)
    out = [_row("journey", engine.execute(_arm_sums(rows)))]
    ob = engine.table("activation_outbox")
    steps = engine.execute(ob.filter(ob.journey == journey.name).select("step").distinct())["step"].tolist()
    for step in sorted(steps):
        reached = ob.filter((ob.journey == journey.name) & (ob.step == step)).select("enrolment_id").distinct()
        out.append(_row(step, engine.execute(_arm_sums(rows.semi_join(reached, "enrolment_id")))))
    return pd.DataFrame(out)


def _pct(x: float, locale: str) -> str:
    s = f"{x * 100:+.1f}"
    return s.replace(".", ",") if locale == "it" else s


def _eur(x: float, locale: str) -> str:
    s = f"{x:,.0f}"
    return (s.replace(",", ".") + " €") if locale == "it" else f"€{s}"


def sentence(row: dict[str, Any], locale: str = "it") -> str:
    """Whether the journey works, in one sentence a CRM manager can repeat."""
    if row["n_control"] < 30 or row["n_treated"] < 30:
        return ("Troppo presto per dirlo: servono almeno 30 clienti per gruppo (trattati {t}, controllo {c})."
                if locale == "it" else "Too early to tell: at least 30 customers per group are needed "
                "(treated {t}, control {c}).").format(t=row["n_treated"], c=row["n_control"])
    pts = (f"{_pct(row['uplift'], locale)} punti ({_pct(row['uplift_low'], locale)} … {_pct(row['uplift_high'], locale)})"
           if locale == "it" else
           f"{_pct(row['uplift'], locale)} points ({_pct(row['uplift_low'], locale)} … {_pct(row['uplift_high'], locale)})")
    p = f"{row['p_value']:.3f}".replace(".", "," if locale == "it" else ".")
    money = _eur(row["incremental_revenue"], locale) if not math.isnan(row["incremental_revenue"]) else "n/d"
    if row["significant"] and row["uplift"] > 0:
        return (f"Il percorso funziona: la conversione sale di {pts} rispetto al gruppo di controllo (p = {p}); "
                f"ricavi incrementali stimati {money}." if locale == "it" else
                f"The journey works: conversion rises by {pts} over the control group (p = {p}); "
                f"estimated incremental revenue {money}.")
    if row["significant"]:
        return (f"Il percorso peggiora la conversione: {pts} rispetto al controllo (p = {p}). Da rivedere."
                if locale == "it" else f"The journey lowers conversion: {pts} against the control (p = {p}). Revisit it.")
    return (f"Nessuna prova che il percorso funzioni: differenza {pts} rispetto al controllo, non significativa "
            f"(p = {p})." if locale == "it" else
            f"No evidence that the journey works: a difference of {pts} against the control, not significant "
            f"(p = {p}).")


__all__ = ["journey_results", "per_enrolment", "revenue_stats", "sentence", "uplift_stats"]

"""The resolver's rules as Ibis over any engine: identity from raw events, for the build on Spark.

Why: on a cluster the events do not fit one process, so the build on Spark
(:mod:`percorso.build.lake_build`) must find customers from the lake's raw events without
DuckDB. This module is :func:`percorso.identity.resolver.resolve`'s full run written once in
Ibis (DESIGN.md §2's portability rules; the one engine-specific construct, the identifier's
64-bit key, is :func:`percorso.engine.dialect.identifier_key`):

1. **Identifiers** (``identity_identifiers``): every non-empty identifier column of every
   event, grouped by its key: first and last time, events, whether a trusted source carried
   it (:func:`~percorso.identity.resolver.trusted_sources`), whether the blocklist blocks it.
2. **Links**: the distinct identifier pairs carried by one event (a self-join of the
   occurrences on the event id), trusted when a trusted source carried the pair. Without
   analytics consent at the time of the event a cookie is not stitched: under the ``consent``
   or ``legitimate_interest`` basis each event's latest analytics record over the identifiers
   it carries (a denial wins a tie) decides whether its cookie occurrences join the pairing
   (:func:`percorso.engine.privacy_sql.unstitch_cookies`'s rule, :func:`refused_events`).
3. **Rules, split where they can bite.** The identifiers the solver certainly flags (hubs
   linked to more safe values of a limited kind than it allows:
   :mod:`percorso.identity.certain_hubs`) leave the graph first. Then label propagation in the engine
   (:mod:`percorso.identity.components`) joins identifiers over every link between two
   unblocked identifiers. A candidate component in which no rule can refuse anything (each
   limited kind within its limit, at most one *known* identifier or no untrusted link, no
   identifier with more links of its round, to kinds judged no later than its own, than the
   hub cap, no identifier an erasure pinned as shared) is one customer: the
   resolver's rounds would use every one of its links (their tests compare sums over subsets
   of the component against the same limits). Only the other components (hubs, conflicts,
   several known customers with an untrusted link, pins: about 82 % of a generated demo's
   identifiers, ADR 0044) go to the resolver's own
   solver (:func:`percorso.identity.graph.solve_tables`), one component at a time: its
   decisions are local to a component, so solving them apart gives the partition a
   whole-graph run gives. On Spark each component is solved in an executor task
   (:meth:`percorso.engine.spark.SparkEngine.map_groups`), never on the driver.
4. **Device link** (ADR 0009, :mod:`percorso.engine.identity_device_sql`'s rule in Ibis): an
   anonymous component whose (IP key, user agent) cells meet exactly one known component
   within the window, outside hub pairs and, with succession, without an overlapping known
   browser, takes that component's label; under a consent basis only when none of its
   cookies' latest analytics record is a denial (and, opt-in, one is a grant).
5. **Event keys**: each event's first *usable* identifier in priority order.

Erasure pins (``identity_pins``, ADR 0028) are read from the database (by ``id_hash``) or from
the lake (by ``id_type``, ``id_value``: the lake's keys are the engine's own), and the solver
keeps them flagged, as the resolver does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa

from percorso.engine.dialect import epoch_seconds, identifier_key
from percorso.events.schema import IDENTIFIER_COLUMNS
from percorso.identity.certain_hubs import certain_hubs, degrees
from percorso.identity.components import connected_components
from percorso.identity.graph import solve_tables
from percorso.identity.kinds import LIMITS, PRIORITY, ROUND_ORDER, STRONG

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.project import Project

#: ``k``: the identifier column's alphabetical rank (a link's end ``a`` is the earlier kind,
#: as in :mod:`percorso.engine.identity_sql`).
_K = {c: i for i, c in enumerate(sorted(IDENTIFIER_COLUMNS))}
#: identifiers that place a web/app event in a component for the device link, in this order
_DEVICE_KEY = ("anonymous_id", "device_id", "user_id")
_COOKIE_KINDS = ("anonymous_id", "device_id")


@dataclass
class EngineIdentity:
    """Temp tables of one run: ``nodes`` (usable identifiers with their ``label``) and
    ``event_keys`` (event_id, id_hash), plus what it did."""

    nodes: Any
    event_keys: Any
    rounds: int = 0
    #: what went to the solver: components, identifiers, links, and the largest component's
    #: identifiers and links (one executor task holds one component at a time)
    solved: dict[str, int] = field(default_factory=dict)


def occurrences(events: Table, trusted: list[str], kinds: tuple[str, ...] = IDENTIFIER_COLUMNS) -> Table:
    """One row per (event, non-empty identifier): ``event_id, ts, t, k, id_type, id_value, id_hash``.

    ``t``: a trusted source carried the event; ``k``: the kind's alphabetical rank.
    """
    parts = []
    for c in kinds:
        col = events[c]
        parts.append(events.filter(col.notnull() & (col != "")).select(
            event_id=events.event_id, ts=events.occurred_at,
            t=events.source_name.isin(trusted or ["\x00"]).fill_null(False),
            k=ibis.literal(_K[c], "int16"), id_type=ibis.literal(c), id_value=col,
            id_hash=identifier_key(ibis.literal(c), col)))
    return ibis.union(*parts)


def blocked_expr(id_type: Any, id_value: Any, rules: list[tuple[str, list[str], str | None]]) -> Any:
    """Whether an identifier is blocked: its lowercased value is listed, or its value fully
    matches the kind's combined pattern (:func:`percorso.engine.identity_sql.blocked_sql`)."""
    out = ibis.literal(False)
    for kind, exact, rx in rules:
        hit = ibis.literal(False)
        if exact:
            hit = hit | id_value.lower().isin(list(exact))
        if rx:
            hit = hit | id_value.re_search(f"^(?:{rx})$")
        out = out | ((id_type == kind) & hit)
    return out.fill_null(False)


def resolve_in_engine(project: Project, engine: Any, events: Table) -> EngineIdentity:
    """Usable identifiers with their component label, and each event's key identifier.

    ``engine`` materialises intermediate tables (``temp_table``); every step is a join or a
    group-by there except the solver over the components where a rule can bite.
    """
    from percorso.identity.resolver import _analytics_basis, _blocklist_rules, trusted_sources

    cfg = project.settings.identity
    pairs = engine.execute(events.select("source_name", "source_kind").distinct())
    pairs = [(n, k) for n, k in zip(pairs["source_name"], pairs["source_kind"], strict=True) if n is not None]
    trusted = trusted_sources(project, pairs)
    basis = _analytics_basis(project)
    occ = engine.temp_table(occurrences(events, trusted))
    temps, keep = [occ], []
    try:
        rules = _blocklist_rules(project)
        ids = occ.group_by("id_hash").aggregate(
            id_type=occ.id_type.arbitrary(), id_value=occ.id_value.arbitrary(), first_seen_at=occ.ts.min(),
            n_events=occ.count(), trusted_seen=occ.t.any())
        ids = ids.mutate(blocked=blocked_expr(ids.id_type, ids.id_value, rules),
                         known=ids.id_type.isin(sorted(STRONG)) & ids.trusted_seen)
        pins = pinned_keys(engine)
        if pins is not None:
            ids = ids.left_join(pins, ids.id_hash == pins.p_hash)
            ids = ids.mutate(pinned=ids.p_hash.notnull()).drop("p_hash")
        else:
            ids = ids.mutate(pinned=ibis.literal(False))
        nodes = engine.temp_table(ids)
        temps.append(nodes)

        linking = occ
        if basis in ("consent", "legitimate_interest"):
            refused = refused_events(engine, occ, opt_in=basis == "consent")
            if refused is not None:
                refused = engine.temp_table(refused)
                temps.append(refused)
                cookie = occ.id_type.isin(_COOKIE_KINDS)
                kept = occ.filter(cookie).anti_join(refused, occ.event_id == refused.r_ev)
                linking = engine.temp_table(occ.filter(~cookie).union(kept, distinct=False))
                temps.append(linking)
        x = linking.select(ev=linking.event_id, ha=linking.id_hash, ka=linking.k, t=linking.t)
        y = linking.select(ev2=linking.event_id, hb=linking.id_hash, kb=linking.k)
        j = x.join(y, (x.ev == y.ev2) & (x.ka < y.kb))
        links = engine.temp_table(j.group_by(a=j.ha, b=j.hb).aggregate(trusted=j.t.any(), ka=j.ka.min(),
                                                                        kb=j.kb.min()))
        temps.append(links)
        ok = nodes.filter(~nodes.blocked).select(nb=nodes.id_hash)
        ok2 = ok.view()
        usable_links = links.semi_join(ok, links.a == ok.nb).semi_join(ok2, links.b == ok2.nb)

        cap = cfg.max_customers_per_identifier
        # the identifiers the solver certainly flags leave the graph first (their links decide
        # nothing for anyone else), so no hub glues customers into one huge candidate component
        cut = certain_hubs(engine, nodes, usable_links, cap, temps)
        cut2 = cut.view()
        kept = usable_links.anti_join(cut, usable_links.a == cut.h_cut)
        usable_links = kept.anti_join(cut2, kept.b == cut2.h_cut)
        lab, rounds = connected_components(engine, usable_links, nodes.select(node=nodes.id_hash))
        temps.append(lab)
        cand = nodes.join(lab, nodes.id_hash == lab.node).drop("node")
        cand = cand.left_join(cut, cand.id_hash == cut.h_cut)
        # a certain hub is unusable, as a flagged identifier is: treated as blocked from here on
        cand = cand.mutate(blocked=cand.blocked | cand.h_cut.notnull()).drop("h_cut")
        labels, solved = _apply_rules(engine, cand, usable_links, links, cap, temps)
        solved["certain_hubs"] = int(engine.execute(cut.count()))
        usable = engine.temp_table(labels)
        temps.append(usable)
        if cfg.device_link:
            usable = _device_link(engine, events, occ, usable, cfg, basis, temps)
        keep = [usable]
        keys = _event_keys(engine, occ, usable)
        result = EngineIdentity(nodes=usable, event_keys=keys, rounds=rounds, solved=solved)
    finally:
        for t in temps:
            if not any(t is k for k in keep):
                engine.drop_temp(t)
    return result


def pinned_keys(engine: Any) -> Table | None:
    """``p_hash``: the keys of the identifiers an erasure keeps flagged (ADR 0028), or None.

    The database's ``identity_pins`` holds the resolver's keys (``id_hash``); the lake's holds
    the identifiers (``id_type``, ``id_value``: :mod:`percorso.engine.lake_sql` exports them so),
    keyed here the engine's way (Spark's keys are not DuckDB's).
    """
    if not engine.has_table("identity_pins"):
        return None
    p = engine.table("identity_pins")
    if "id_type" in p.columns:
        p = p.filter(p.id_value.notnull())
        return p.select(p_hash=identifier_key(p.id_type, p.id_value)).distinct()
    return p.select(p_hash=p.id_hash).distinct()


def _analytics_records(engine: Any, kinds: tuple[str, ...]) -> Table | None:
    """``r_hash, at, granted``: analytics consent records about identifiers of ``kinds``, keyed
    as identifiers are (records about a customer id or without a time name no identifier)."""
    if not engine.has_table("consent_history"):
        return None
    ch = engine.table("consent_history")
    ch = ch.filter((ch.purpose == "analytics") & ch.subject_type.isin(list(kinds)) & ch.subject_value.notnull()
                   & ch.occurred_at.notnull() & ch.granted.notnull())
    return ch.select(r_hash=identifier_key(ch.subject_type, ch.subject_value), at=ch.occurred_at,
                     granted=ch.granted)


def _latest_granted(at: Any, granted: Any) -> Any:
    """Whether the latest record is a grant; at one time a denial wins (it sorts after a grant)."""
    return granted.argmax(ibis.struct({"at": at, "denied": ~granted}))


def refused_events(engine: Any, occ: Table, *, opt_in: bool) -> Table | None:
    """``r_ev``: events whose cookie must not be stitched (None: no event is refused).

    An event's consent is the latest analytics record at or before it over every identifier
    it carries (the cookie's own Segment consent, the person's CRM record); a denial wins a
    tie. Opt-in (``consent`` basis): every event without a latest grant is refused, so with
    no record at all every cookie is unstitched; opt-out (``legitimate_interest``): only a
    latest denial refuses. The rule of :func:`percorso.engine.privacy_sql.unstitch_cookies`.
    """
    recs = _analytics_records(engine, IDENTIFIER_COLUMNS)
    if recs is None:
        return occ.select(r_ev=occ.event_id).distinct() if opt_in else None
    o = occ.select(ev=occ.event_id, h=occ.id_hash, ts=occ.ts)
    j = o.join(recs, (o.h == recs.r_hash) & (recs.at <= o.ts))
    latest = j.group_by("ev").aggregate(granted=_latest_granted(j.at, j.granted))
    if not opt_in:
        return latest.filter(~latest.granted).select(r_ev=latest.ev)
    ok = latest.filter(latest.granted)
    every = occ.select(r_ev=occ.event_id).distinct()
    return every.anti_join(ok, every.r_ev == ok.ev)


def _apply_rules(engine: Any, cand: Table, usable_links: Table, links: Table, cap: int,
                 temps: list) -> tuple[Table, dict[str, int]]:
    """(``id_hash, id_type, id_value, first_seen_at, label`` of every usable identifier, the
    size of what the solver got).

    ``cand`` holds every identifier with its candidate ``label`` (components over the links
    between unblocked identifiers). Components where no rule can bite keep their label; the
    others are solved by :func:`percorso.identity.graph.solve_tables`, one component per call
    (:func:`solve_group`): in an executor task on Spark (``engine.map_groups``), in this
    process on DuckDB (one process anyway). The sizes (components, identifiers, links, the
    largest component's identifiers and links) say how much one task holds (ADR 0044).
    """
    # an identifier is judged against the links to kinds judged no later than its own (its
    # round's links): more of those than the hub cap is what can make it a hub
    deg = degrees(usable_links)
    c = cand.left_join(deg, cand.id_hash == deg.n).drop("n")
    c = c.mutate(d=c.d.fill_null(0), dr=c.dr.fill_null(0), du=c.du.fill_null(0))
    c = c.filter(~c.blocked)
    per = {f"n_{k}": (c.id_type == k).ifelse(1, 0).sum() for k in LIMITS}
    comp = c.group_by("label").aggregate(
        n_known=c.known.ifelse(1, 0).sum(), max_dr=c.dr.max(), n_pinned=c.pinned.ifelse(1, 0).sum(),
        n_nodes=c.count(), n_ends=c.d.sum(), n_untrusted=c.du.sum(), **per)
    # two known identifiers matter only through an untrusted link: the solver applies trusted
    # links without that test (``check_known=False``) and rejects only untrusted ones
    bad = ((comp.n_known > 1) & (comp.n_untrusted > 0)) | (comp.max_dr > cap) | (comp.n_pinned > 0)
    for k, lim in LIMITS.items():
        bad = bad | (comp[f"n_{k}"] > lim)
    complex_comp = engine.temp_table(comp.filter(bad).select(bad_label=comp.label, n_nodes=comp.n_nodes,
                                                            n_links=comp.n_ends // 2))
    temps.append(complex_comp)
    cc = complex_comp
    size = engine.execute(cc.aggregate(components=cc.count(), identifiers=cc.n_nodes.sum(), links=cc.n_links.sum(),
                                       max_identifiers=cc.n_nodes.max(), max_links=cc.n_links.max()))
    stats = {k: int(v) if v == v and v is not None else 0 for k, v in size.iloc[0].to_dict().items()}
    simple = cand.filter(~cand.blocked).anti_join(cc, cand.label == cc.bad_label)
    cols = ("id_hash", "id_type", "id_value", "first_seen_at", "label")
    simple = simple.select(*cols)
    if stats["components"] == 0:
        return simple, stats

    hard = cand.semi_join(cc, cand.label == cc.bad_label)
    hn = hard.select(g=hard.label, id_hash=hard.id_hash, id_type=hard.id_type, trusted_seen=hard.trusted_seen,
                     blocked=hard.blocked, pinned=hard.pinned)
    inside = hard.select(h=hard.id_hash, g=hard.label)
    inside2 = inside.view()
    hl = links.join(inside, links.a == inside.h).semi_join(inside2, links.b == inside2.h)
    hl = hl.select(g=hl.g, id_hash_a=hl.a, id_hash_b=hl.b, trusted=hl.trusted)
    solver = functools.partial(solve_group, cap=cap)
    if hasattr(engine, "map_groups"):   # Spark: each component in an executor task
        back = engine.map_groups(hn, hl, "g", solver, "s_hash bigint, s_label bigint")
    else:                                # DuckDB: one process; the solver's decisions are per component
        back = engine.register_arrow("_rules_solved", solver(engine.to_arrow(hn), engine.to_arrow(hl)))
    temps.append(back)
    joined = hard.join(back, hard.id_hash == back.s_hash)
    return simple.union(joined.select(*cols[:-1], label=joined.s_label)), stats


def solve_group(nodes: pa.Table, links: pa.Table, *, cap: int) -> pa.Table:
    """``s_hash, s_label`` of the usable identifiers of some whole candidate components.

    Module-level so that Spark pickles it by reference (an executor imports this module).
    """
    return _solve(nodes, links, cap)


def _solve(nodes: pa.Table, links: pa.Table, cap: int) -> pa.Table:
    """The resolver's solver on whole candidate components: ``s_hash, s_label`` of the usable ones.

    Spark's keys are signed 64-bit (``xxhash64``); the solver numbers identifiers by their
    unsigned 64-bit keys, so they are viewed as such and back (an order-free relabelling).
    """
    signed = pa.types.is_signed_integer(nodes["id_hash"].type)

    def u64(col: pa.ChunkedArray) -> np.ndarray:
        a = col.to_numpy(zero_copy_only=False).astype(np.int64 if signed else np.uint64)
        return a.view(np.uint64) if signed else a

    def flag(col: pa.ChunkedArray) -> np.ndarray:
        return col.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)

    types = nodes["id_type"].to_pylist()
    cols = {"id_hash": u64(nodes["id_hash"]),
            "kind": np.array([ROUND_ORDER.index(t) for t in types], dtype=np.int64),
            "strong": np.array([t in STRONG for t in types], dtype=bool),
            "trusted_seen": flag(nodes["trusted_seen"]), "blocked": flag(nodes["blocked"]),
            "pinned": flag(nodes["pinned"])}
    edges = {"link_no": np.arange(links.num_rows, dtype=np.int64), "id_hash_a": u64(links["id_hash_a"]),
             "id_hash_b": u64(links["id_hash_b"]), "trusted": flag(links["trusted"])}
    g = solve_tables(cols, edges, cap=cap)
    h = np.asarray(g.hashes, dtype=np.uint64)
    usable = g.usable
    out_h, out_l = h[usable], h[g.solution.labels[usable]]
    if signed:
        out_h, out_l = out_h.view(np.int64), out_l.view(np.int64)
    return pa.table({"s_hash": pa.array(out_h), "s_label": pa.array(out_l)})


def _first_by_priority(occ: Table, usable: Table, kinds: tuple[str, ...]) -> Table:
    """``event_id, id_hash``: each event's first identifier in ``kinds`` order among ``usable``."""
    rank = ibis.cases(*((occ.id_type == k, i) for i, k in enumerate(kinds)), else_=len(kinds))
    o = occ.filter(occ.id_type.isin(list(kinds))).mutate(rank=rank)
    u = usable.select(u_hash=usable.id_hash)
    o = o.semi_join(u, o.id_hash == u.u_hash)
    return o.group_by("event_id").aggregate(id_hash=o.id_hash.argmin(o.rank))


def _event_keys(engine: Any, occ: Table, usable: Table) -> Table:
    """Each event's first usable identifier in priority order (events without one: absent)."""
    return engine.temp_table(_first_by_priority(occ, usable, PRIORITY))


def _consented_device_links(engine: Any, r: Table, usable: Table, *, opt_in: bool) -> Table:
    """The device links whose anonymous component may be stitched: none of its cookies' latest
    analytics record (at any time) is a denial and, opt-in, at least one is a grant (the
    resolver's ``_consented_device_links``)."""
    recs = _analytics_records(engine, _COOKIE_KINDS)
    if recs is None:
        return r.filter(ibis.literal(False)) if opt_in else r
    state = recs.group_by("r_hash").aggregate(granted=_latest_granted(recs.at, recs.granted))
    u = usable.join(state, usable.id_hash == state.r_hash)
    bad = u.filter(~u.granted).select(b_label=u.label).distinct()
    r = r.anti_join(bad, r.anon_label == bad.b_label)
    if opt_in:
        good = u.filter(u.granted).select(g_label=u.label).distinct()
        r = r.semi_join(good, r.anon_label == good.g_label)
    return r


def _device_link(engine: Any, events: Table, occ: Table, usable: Table, cfg: Any, basis: str,
                 temps: list) -> Table:
    """``usable`` with anonymous components attached by the guarded device link (ADR 0009)."""
    e = events.filter((events.ip_key != "") & (events.user_agent != "") & events.occurred_at.notnull())
    e = e.select("event_id", "occurred_at", "ip_key", "user_agent")
    known = usable.filter(usable.id_type.isin(sorted(STRONG))).select(k_label=usable.label).distinct()
    lab = usable.left_join(known, usable.label == known.k_label)
    lab = lab.select(l_hash=lab.id_hash, label=lab.label, known=lab.k_label.notnull())
    first = _first_by_priority(occ, usable, _DEVICE_KEY)
    ev = e.join(first, "event_id").join(lab, first.id_hash == lab.l_hash)
    day = (epoch_seconds(ev.occurred_at) / 86400.0).floor().cast("int32")
    ev = ev.mutate(ip=ev.ip_key, ua=ev.user_agent, day=day, h=ev.id_hash)
    first_ev = ibis.struct({"ts": ev.occurred_at, "id": ev.event_id})
    cells = engine.temp_table(ev.group_by(["ip", "ua", "day", "label", "known", "h"]).aggregate(
        ts=ev.occurred_at.min(), ts_max=ev.occurred_at.max(), event_id=ev.event_id.argmin(first_ev)))
    temps.append(cells)
    kc = cells.filter(cells.known)
    pair_hub = kc.group_by(["ip", "ua"]).aggregate(n=kc.label.nunique()).filter(ibis._.n > cfg.device_link_max_known)
    ip_hub = kc.group_by("ip").aggregate(n=kc.label.nunique()).filter(ibis._.n > cfg.device_link_max_known_per_ip)
    hip = ip_hub.select(hip=ip_hub.ip)
    hub = pair_hub.select("ip", "ua").union(cells.semi_join(hip, cells.ip == hip.hip).select("ip", "ua"))
    hub = hub.distinct()
    free = cells.anti_join(hub, ["ip", "ua"])
    k, a = free.filter(free.known), free.filter(~free.known)
    if cfg.device_link_succession:
        span = a.group_by(["ip", "ua", "label"]).aggregate(t0=a.ts.min(), t1=a.ts_max.max())
        ks = k.group_by(["ip", "ua", "h"]).aggregate(t0=k.ts.min(), t1=k.ts_max.max())
        ks = ks.select(kip=ks.ip, kua=ks.ua, k0=ks.t0, k1=ks.t1)
        cl = span.join(ks, (span.ip == ks.kip) & (span.ua == ks.kua) & (ks.k0 <= span.t1) & (ks.k1 >= span.t0))
        clash = cl.select(c_label=cl.label).distinct()
        a = a.anti_join(clash, a.label == clash.c_label)
    kk = k.select(kip=k.ip, kua=k.ua, kday=k.day, known_label=k.label)
    w = cfg.device_link_window_days
    m = a.join(kk, (a.ip == kk.kip) & (a.ua == kk.kua) & (kk.kday >= a.day - w) & (kk.kday <= a.day + w))
    r = m.group_by(anon_label=m.label).aggregate(known_label=m.known_label.min(), n=m.known_label.nunique())
    r = r.filter(r.n == 1).select("anon_label", "known_label")
    if basis in ("consent", "legitimate_interest"):
        r = _consented_device_links(engine, r, usable, opt_in=basis == "consent")
    out = usable.left_join(r, usable.label == r.anon_label)
    moved = engine.temp_table(out.select("id_hash", "id_type", "id_value", "first_seen_at",
                                         label=out.known_label.fill_null(out.label)))
    return moved


__all__ = ["EngineIdentity", "blocked_expr", "occurrences", "pinned_keys", "refused_events", "resolve_in_engine"]

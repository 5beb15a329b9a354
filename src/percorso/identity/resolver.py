"""``resolve``: from ``events`` to ``identity_map`` and ``event_customers``, fully or incrementally.

The stages: identifiers are unpivoted and paired per event in the engine
(:mod:`percorso.engine.identity_sql`), merged into the persistent ``identity_identifiers``
and ``identity_links`` tables (so an incremental run only reads new events), the graph is
solved in numpy (:mod:`percorso.identity.graph`), and customer ids are matched to the
previous ``identity_map`` so they stay stable (the oldest id wins; retired ids go to
``identity_merges``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from percorso.engine import identity_device_sql as D
from percorso.engine import identity_keys_sql as K
from percorso.engine import identity_region_sql as R
from percorso.engine import identity_sql as S
from percorso.errors import ConfigError
from percorso.identity.blocklist import blocklist_for
from percorso.identity.graph import distinct, solve_tables, split_by_size
from percorso.identity.kinds import HASHED, PRIORITY, ROUND_ORDER, STRONG, UNTRUSTED_KINDS

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.project import Project

Progress = Callable[[str], None]


@dataclass
class IdentityReport:
    """What a resolution run did (counts are after the run, over all data)."""

    mode: str
    events_read: int
    identifiers: int
    blocked_identifiers: int
    flagged_identifiers: int
    links_used: int
    links_flagged: int
    links_blocked: int
    links_rejected: int
    components: int
    customers_new: int
    customers_retired: int
    events_assigned: int
    seconds: float
    #: events whose first identifier is flagged or blocked, keyed by a lower-priority one
    events_rekeyed: int = 0
    #: anonymous components attached to a known customer by the device link (ADR 0009)
    device_links: int = 0
    #: identifiers re-solved by an incremental run (the components its new events touch)
    region_identifiers: int = 0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step (for benchmarks)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def trusted_sources(project: Project, pairs: list[tuple[str, str]]) -> list[str]:
    """Names of the sources allowed to merge known customers.

    ``[sources.X] trusted`` wins; else ``identity.trusted_sources`` when set; else every
    source whose kind is not a public, client-side one (web, app, clickstream, collector).
    """
    settings = project.settings
    listed = settings.identity.trusted_sources
    out = []
    for name, kind in pairs:
        src = settings.sources.get(name)
        if src is not None and src.trusted is not None:
            ok = src.trusted
        elif listed:
            ok = name in listed
        else:
            ok = (src.kind if src is not None else kind) not in UNTRUSTED_KINDS
        if ok:
            out.append(name)
    return sorted(out)


def _blocklist_rules(project: Project, kept_in: Any = None) -> list[tuple[str, list[str], str | None]]:
    """(kind, exact values, regex) of the blocklist for the engine; e-mail, phone and tax code
    as keyed hashes of their normalised values (the form ``events`` holds them in).

    Normalising a phone number or a tax code loads phonenumbers and stdnum (~0.03 s of a
    0.8 s incremental build), so with ``kept_in`` (the project's DuckDB engine, writable) the
    hashes are kept there under a key made of everything they depend on (the values, the
    region, the secret, the normaliser's code and its libraries' versions): a build computes
    them again only after one of those changed.
    """
    bl = blocklist_for(project)
    try:
        secret = project.secret
    except ConfigError:
        secret = None
    region = project.settings.identity.default_phone_region
    plain = bl.engine_rules()
    hashed_kinds = set(HASHED.values())
    raw = {kind: exact for kind, exact, _ in plain if kind in hashed_kinds}
    key = _blocklist_memo_key(raw, region, secret)
    memo = None if kept_in is None else S.read_blocklist_keys(kept_in, key)
    if memo is None:
        memo = _hash_blocklist(raw, region, secret)
        if kept_in is not None:
            S.write_blocklist_keys(kept_in, key, memo)
    return [(kind, memo[kind], None) if kind in hashed_kinds else (kind, exact, rx) for kind, exact, rx in plain]


def _hash_blocklist(raw: dict[str, list[str]], region: str, secret: bytes | None) -> dict[str, list[str]]:
    """The keyed hashes of the normalised blocklist values of each hashed kind (none without a secret)."""
    from percorso.identity import normalize as N

    by_column = {v: k for k, v in HASHED.items()}
    out: dict[str, list[str]] = {}
    for kind, exact in raw.items():
        keys = []
        if secret:
            fn = N.normalizer(by_column[kind], region)
            keys = [N.keyed_hash(secret, norm) for norm in map(fn, exact) if norm]
        out[kind] = sorted(keys)
    return out


def _blocklist_memo_key(raw: dict[str, list[str]], region: str, secret: bytes | None) -> str:
    import hashlib
    import hmac
    import json
    from importlib.metadata import version
    from pathlib import Path

    from percorso.identity import normalize as N

    code = hashlib.sha256(Path(N.__file__).read_bytes()).hexdigest()
    # the secret enters as a keyed hash of a constant: the key says nothing about it
    sealed = hmac.new(secret, b"identity blocklist", hashlib.sha256).hexdigest() if secret else None
    text = json.dumps({"values": raw, "region": region, "secret": sealed, "code": code,
                       "libraries": [version("phonenumbers"), version("python-stdnum")]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def resolve(project: Project, *, full: bool = False, progress: Progress | None = None) -> IdentityReport:
    """Stitch every identifier in ``events`` into customers.

    Parameters
    ----------
    project
        The open project (its engine is written: identity tables and ``event_customers``).
    full
        Recompute from every event; otherwise only events not yet in ``event_customers`` are
        read. Customer ids stay stable either way.
    progress
        Called with a short description of each step (for a progress display).
    """
    t0 = time.perf_counter()
    report = progress or (lambda _msg: None)
    phases: dict[str, float] = {}
    clock = [time.perf_counter(), "start"]

    def say(msg: str) -> None:
        lap(msg.split(" / ")[-1])
        report(msg)

    def lap(name: str) -> None:
        now = time.perf_counter()
        phases[str(clock[1])] = round(phases.get(str(clock[1]), 0.0) + now - float(clock[0]), 3)
        clock[0], clock[1] = now, name
    engine = project.engine
    R.drop_region_map(engine)
    full = full or not all(engine.has_table(t) for t in
                           ("identity_identifiers", "identity_links", "identity_map", "identity_event_keys"))
    # tables written before identifiers had integer keys are rebuilt (ids stay stable)
    full = full or "id_hash_a" not in engine.columns("identity_links") or "id_hash" not in engine.columns("identity_map")
    # so are they when events were deleted since the last run (the resolved mark moved)
    state = None if full else K.read_state(engine)
    pairs = S.source_kinds(engine, None if state is None else int(state["max_rowid"]))
    trusted = trusted_sources(project, pairs)
    rules = _blocklist_rules(project, kept_in=engine)
    settings = settings_fingerprint(project, pairs, trusted, rules)
    # a changed blocklist, cap, device link rule or trust of a known source can change any customer
    full = full or state is None or not same_settings(state["settings"], settings)
    # the device link weighs evidence over every event of an address: not local to a region
    region = not full and not (project.settings.identity.device_link and D.has_network_evidence(engine))
    with engine.unordered_writes():   # identity's tables are joined and grouped, never read by position
        if region:
            assert state is not None
            from percorso.identity.region import resolve_region

            return resolve_region(project, engine, state, trusted, rules, settings, say, lap, phases, t0,
                                  sources=pairs)
        after = None if full else int(state["max_rowid"])  # type: ignore[index]
        return _resolve(project, engine, after, trusted, rules, settings, say, lap, phases, t0, pairs,
                        n_with_id=None if full else int(state["n_with_id"]))  # type: ignore[index]


def settings_fingerprint(project: Project, pairs: list[tuple[str, str]], trusted: list[str], rules: list) -> str:
    """The identity settings a run depends on, as JSON: a digest of the rules, and each
    source's trust (a new source may appear in an incremental run; a known one changing its
    trust changes old identifiers, so it forces a full run, as any other change does)."""
    import hashlib
    import json

    cfg = project.settings.identity
    text = json.dumps({"rules": rules, "cap": cfg.max_customers_per_identifier,
                       "device": [cfg.device_link, cfg.device_link_window_days, cfg.device_link_max_known,
                                  cfg.device_link_max_known_per_ip, cfg.device_link_succession],
                       "priority": list(PRIORITY), "rounds": list(ROUND_ORDER),
                       "analytics_basis": _analytics_basis(project)}, sort_keys=True, default=str)
    return json.dumps({"digest": hashlib.sha256(text.encode()).hexdigest(),
                       "trusted": {name: name in trusted for name, _ in sorted(pairs)}}, sort_keys=True)


def same_settings(before: str | None, now: str) -> bool:
    """Whether a run with settings ``now`` may continue the one made with ``before``."""
    import json

    try:
        b, n = json.loads(before or ""), json.loads(now)
    except ValueError:
        return False
    return b.get("digest") == n["digest"] and all(n["trusted"].get(k) == v for k, v in b.get("trusted", {}).items())


def _resolve(project: Project, engine, after: int | None, trusted: list[str], rules: list, settings: str,
             say, lap, phases, t0, sources: list[tuple[str, str]], n_with_id: int | None = None) -> IdentityReport:
    """Solve the whole graph (a full run, or an incremental one the device link keeps whole).

    An incremental run still writes only what changed (ADR 0037, 2026-12-05): identifiers and
    links in place (a link's status only when it changes), the map rows whose customer or first
    time moved, and those rows as the identifiers the next build compares (``identity_touched``),
    instead of rewriting ``identity_identifiers``, ``identity_links``, ``identity_map`` and
    ``built_identity`` whole every micro-batch. And only for the components that may have
    changed (ADR 0050): the stable ids, the map's comparison and the merges read the previous
    customers of the new events' identifiers and of the device links that changed, not the
    whole map (0.3 of 0.5-1.0 s of identity per micro-batch of 10,000 events at 1M events).
    """
    full = after is None
    # an incremental run writes only the components its events or the device link changed
    # (ADR 0050): their previous customers are staged once the graph is solved
    local = not full and "anon_hash" in engine.columns("identity_device_links")
    had_map = local or S.snapshot_previous_map(engine)
    say("identificativi degli eventi / event identifiers")
    # a full run writes identity_identifiers as it reads the events' identifiers
    n_new_with_id = S.stage_identifier_occurrences(engine, trusted, after_rowid=after, rules=rules if full else None)
    unstitch_without_consent(project, engine)
    lap("count events")
    n_events = (engine.count("events") if after is None
                else K.count_events_after(engine, after))
    lap("identifiers table")
    if not full and "id_hash" not in engine.columns("identity_identifiers"):
        S.upsert_identifiers(engine, rules, full=True)
    elif not full:
        R.upsert_identifiers_in_place(engine, rules)
    say("coppie di identificativi / identifier pairs")
    if full:
        S.upsert_links(engine, trusted, full=True)
    else:   # the known pairs widened and the new ones appended in place (as the region path)
        S.stage_new_pairs(engine)
        R.upsert_links_in_place(engine)

    say("componenti / components")
    nodes, edges = S.graph_inputs(engine, ROUND_ORDER, STRONG, links="_id_links" if full else "identity_links")
    lap("solve")
    g = solve_tables(nodes, edges, cap=project.settings.identity.max_customers_per_identifier)
    sol, h_arr = g.solution, g.hashes

    say("esiti dei collegamenti / link outcomes")
    labels, device_links = _device_link(project, engine, say, sol.labels, g.usable, g.strong, h_arr[g.usable],
                                        after=after)
    comp = g.components(labels)
    if local:
        lap("changed components")
        # by a table of the labels, not numpy's default sort: 0.13 s against 0.007 for 1.07M
        # labels at 10M events (bench/incremental.py 0.665 -> 0.76 s in process with the default)
        keep = np.isin(comp["label"], R.stage_changed_components(engine, comp, device_links), kind="table")
        comp = {k: v[keep] for k, v in comp.items()}
    with engine.transaction():
        if full:
            S.write_link_status(engine, g.link_status(edges))
        else:   # only the links whose status changed (a whole rewrite was 0.2 CPU s a micro-batch)
            R.write_region_link_status(engine, g.link_status(edges))
        lap("write flags")
        S.write_flags(engine, g.flags())
        lap("stage components")
        D.write_device_links(engine, device_links)
        n_components = int(distinct(labels[g.usable]).size)
        say("codici cliente stabili / stable customer ids")
        # no previous map (a project's first build): every id is new, computed as the map is
        # written; the general path below only when two new ids clash (it numbers them)
        if not had_map and S.write_fresh_identity_map(engine, *split_by_size(comp), n_components):
            n_new = n_components
        else:
            S.stage_components(engine, comp)
            # a new id must not be any id in use, also outside the changed components
            S.assign_customer_ids(engine, taken="identity_map" if local else None)
            n_new = engine.query("SELECT count(*) AS n FROM _id_final WHERE is_new")["n"][0].as_py()
            lap("write identity_map")
            if full:
                S.write_identity_map(engine)
            else:
                S.write_identity_map_changes(engine)
        lap("record merges")
        run_at = datetime.now(UTC).replace(tzinfo=None)
        retired = S.record_merges(engine, run_at)   # (creates the empty log on a first build)
        say("clienti degli eventi / event customers")
        n_exceptions = K.write_event_key_exceptions(engine, PRIORITY, g.unusable())
        K.create_event_views(engine, PRIORITY)
        lap("count assigned events")
        n_with_id = (n_new_with_id if full else (n_new_with_id + n_with_id) if n_with_id is not None
                     else K.count_events_with_identifier(engine))
        K.write_watermark(engine, settings, n_components, n_with_id)
        S.write_sources(engine, sources)
        R.mark_touched(engine, everything=full, ids="_id_changed")
    assigned = K.count_assigned_events(engine, n_with_id)
    lap("end")
    counts = g.status_counts()
    return IdentityReport(
        mode="full" if full else "incremental", events_read=int(n_events), identifiers=int(g.kind.size),
        blocked_identifiers=int(g.blocked.sum()), flagged_identifiers=int((sol.flag > 0).sum()),
        links_used=counts["used"], links_flagged=counts["flagged_hub"], links_blocked=counts["blocked"],
        links_rejected=counts["rejected_untrusted"], components=n_components,
        device_links=0 if device_links is None else device_links.num_rows,
        customers_new=int(n_new), customers_retired=int(retired), events_assigned=int(assigned),
        seconds=round(time.perf_counter() - t0, 3), phases=phases, events_rekeyed=n_exceptions,
    )


def unstitch_without_consent(project: Project, engine) -> None:  # noqa: ANN001
    """Without analytics consent at the time of the event, a cookie is not stitched to a person."""
    basis = _analytics_basis(project)
    if basis in ("consent", "legitimate_interest"):
        from percorso.engine import privacy_sql as P

        P.unstitch_cookies(engine, opt_in=basis == "consent")


def _analytics_basis(project: Project) -> str:
    from percorso.privacy.settings import privacy_settings

    return privacy_settings(project.settings).basis("analytics")


def _consented_device_links(engine, links: pa.Table, lab: np.ndarray, h: np.ndarray, opt_in: bool) -> pa.Table:  # noqa: ANN001
    """The device links whose anonymous component may be stitched: none of its cookies' latest
    analytics record is a denial, and (opt-in basis) at least one is a grant."""
    from percorso.engine import privacy_sql as P

    state = P.cookie_analytics_state(engine)
    granted = state["granted"].to_numpy(zero_copy_only=False).astype(bool)
    sh = state["h"].to_numpy(zero_copy_only=False)
    bad = distinct(lab[np.isin(h, sh[~granted])])
    anon = links["anon_label"].to_numpy(zero_copy_only=False)
    keep = ~np.isin(anon, bad)
    if opt_in:
        keep &= np.isin(anon, distinct(lab[np.isin(h, sh[granted])]))
    import pyarrow as pa

    return links.filter(pa.array(keep))


def _device_link(project: Project, engine, say, labels: np.ndarray, usable: np.ndarray, strong: np.ndarray,
                 usable_hashes: np.ndarray, after: int | None = None) -> tuple[np.ndarray, pa.Table | None]:
    """Labels after the guarded device link (ADR 0009) and the links it made (None when off).

    A component is *known* when it holds a usable strong identifier; the engine picks the
    anonymous components whose (IP, user agent) evidence points to exactly one known
    component, and here their labels become that component's (an array lookup). ``after``: the
    last event of the previous run (its evidence is kept in cells; None reads every event).
    """
    cfg = project.settings.identity
    if not cfg.device_link:
        return labels, None
    if not D.has_network_evidence(engine):   # files without IP / user agent: nothing to weigh
        # no links: None, as when off (written and counted alike; an empty Arrow table made
        # here loaded pandas into every build of such files, ~0.15 s)
        return labels, None
    say("collegamento dei dispositivi / device link")
    lab = labels[usable]
    known = np.isin(lab, distinct(lab[strong[usable]]))
    links = D.device_link_candidates(
        engine, {"id_hash": usable_hashes, "label": lab.astype(np.int64), "known": known},
        window_days=cfg.device_link_window_days, max_known=cfg.device_link_max_known,
        max_known_per_ip=cfg.device_link_max_known_per_ip, succession=cfg.device_link_succession,
        after_rowid=after)
    basis = _analytics_basis(project)
    if links.num_rows and basis in ("consent", "legitimate_interest"):
        links = _consented_device_links(engine, links, lab, usable_hashes, basis == "consent")
    if links.num_rows:
        # one pass: an attached component does not carry the link on to other anonymous ones
        # (tried: four passes added 5 % more links at 20,000 customers, none worth the risk)
        remap = np.arange(int(labels.max()) + 1)
        remap[links["anon_label"].to_numpy()] = links["known_label"].to_numpy()
        labels = remap[labels]
    return labels, links

"""SQL of incremental identity resolution: only the region new events touch (DuckDB dialect).

Why a *region*: the graph solver (:mod:`percorso.identity.graph`) decides everything on the
connected components of the link graph without blocked identifiers (flags, trust refusals,
per-kind limits are judged on the customers an identifier touches, and those are inside its
component). Two such components never influence each other, so solving the union of the
components the new events' identifiers belong to, and nothing else, gives exactly the rows a
solve of the whole graph gives for them; every other identifier keeps its customer. Blocked
identifiers never link (their links keep status ``blocked``), so they do not widen it.

Every table is changed in place here (delete + insert of the region's rows), never rewritten:
the cost follows the region, not the history. Rows are replaced, not updated
(:func:`replace_rows`): DuckDB's checkpoint rewrites every updated column of every row group
holding an updated row, so an ``UPDATE`` of a few hundred identifiers scattered over a million
cost the next checkpoint 0.05-0.09 CPU s and 0.1-0.2 s of writing; the deleted and appended
rows cost it ~0.005 (measured on a copy of identity_identifiers' shape, 1.1M rows, 770
updated). Values are bound; identifiers are constants of this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.engine.identity_sql import _KIND_NAMES, _NEW_WINS, blocked_sql

if TYPE_CHECKING:
    from percorso.engine.backend import Engine

#: The region's links with every column (where a merge's linking event is looked up).
REGION_LINKS = "(SELECT * FROM identity_links WHERE link_no IN (SELECT link_no FROM _rg_links))"
#: Temp: the region's new map rows (``_id_comp`` joined to ``_id_final``, staged by
#: :func:`write_region_identity_map`): every current identifier of a customer the region had
#: before is there (see :func:`snapshot_region_prev`), and every identifier of a customer it has
#: now. Left, with :data:`REGION_IDS`, for the build that follows in the same connection
#: (:func:`percorso.engine.build_sql.stage_scope`): its map rows of the region are these, not
#: probed again in the map's 1M rows (ADR 0097). Dropped when a resolution starts
#: (:func:`drop_region_map`), so they are never another run's.
REGION_MAP = "_id_region_map"
#: Temp: the ``id_hash`` of every identifier of the region (:func:`stage_region`).
REGION_IDS = "_rg_ids"
#: Temp: the region's map rows before it was solved (:func:`snapshot_region_prev`).
REGION_PREV = "_id_prev"
#: Temp: the ``identity_identifiers`` rows of the region (:func:`region_graph_inputs`), read for
#: its nodes, flags and components.
REGION_IDENTIFIERS = "_rg_identifiers"
#: Temp: the ``identity_identifiers`` rows of the run's identifiers (``_id_new_ids``) as
#: :func:`upsert_identifiers_in_place` wrote them, with ``_r``. The new links' ends (their
#: blocked flag) and the region's rows are taken from it, not probed again in the table's 1M rows
#: (10-19 ms each at 10M events, ADR 0097): the table does not change in between.
RUN_IDENTIFIERS = "_id_rows"
#: A NULL ``id_hash`` in ``identity_touched`` means "every identifier" (a full resolution).
TOUCHED = "identity_touched"


def replace_rows(engine: Engine, table: str, changed: str, *, staged: str | None = None) -> None:
    """Replace rows of ``table`` by the rows of ``changed`` (a SELECT of ``table``'s columns, by
    name, plus ``_r``: the rowid of the row each one replaces): the old rows deleted, the new
    appended. What an ``UPDATE`` gives, at a fraction of the next checkpoint's cost (module doc).
    ``staged``: a statement run once the rows are staged (temp ``_rg_changed``), before the write.
    """
    engine.run(f"CREATE OR REPLACE TEMP TABLE _rg_changed AS {changed}")
    if staged:
        engine.run(staged)
    engine.run(f"DELETE FROM {table} WHERE rowid IN (SELECT _r FROM _rg_changed)")
    engine.run(f"INSERT INTO {table} BY NAME SELECT * EXCLUDE (_r) FROM _rg_changed")
    engine.run("DROP TABLE _rg_changed")


def upsert_identifiers_in_place(engine: Engine, rules: list[tuple[str, list[str], str | None]]) -> int:
    """Merge temp ``_id_new_ids`` into ``identity_identifiers`` in place; returns how many identifiers the run has.

    Known identifiers get their times, counts and trust widened; new ones are appended with
    their blocked flag (the blocklist did not change since the last run: the identity
    settings fingerprint forces a full run when it does). The rows written are staged first
    in temp :data:`RUN_IDENTIFIERS` (``_r``: the stored row each replaces, NULL for an
    identifier seen for the first time: it has no previous customer and no old events).
    """
    # the known ones are found by probing the table with the run's few identifiers (``NOT IN``
    # the table hashed every identifier ever seen: 0.27 CPU s at 1.1M identifiers), once: the
    # brand-new ones are the others (a second probe of the table for them cost ~10 ms at 10M events)
    # the kind and text are the new rows' (the key ``id_hash`` hashes both): the stored text
    # columns, decompressed for every vector holding a known identifier, were a third of the
    # statement (ADR 0070)
    n = engine.written(f"""CREATE OR REPLACE TEMP TABLE {RUN_IDENTIFIERS} AS
        SELECT {_KIND_NAMES}[n.k + 1] AS id_type, n.v AS id_value,
            least(o.first_seen_at, n.first_seen_at) AS first_seen_at,
            greatest(o.last_seen_at, n.last_seen_at) AS last_seen_at,
            coalesce(o.n_events, 0) + coalesce(n.n_events, 0) AS n_events,
            coalesce(o.trusted_seen, false) OR coalesce(n.trusted_seen, false) AS trusted_seen, o.blocked, o.id_hash,
            o._r
        FROM (SELECT first_seen_at, last_seen_at, n_events, trusted_seen, blocked, id_hash, rowid AS _r
              FROM identity_identifiers WHERE id_hash IN (SELECT h FROM _id_new_ids)) o
        JOIN _id_new_ids n ON o.id_hash = n.h""")
    blocked, params = blocked_sql(rules)
    n += engine.written(f"""INSERT INTO {RUN_IDENTIFIERS}
        SELECT id_type, id_value, first_seen_at, last_seen_at, n_events, trusted_seen,
               coalesce({blocked}, false), id_hash, NULL
        FROM (SELECT h AS id_hash, {_KIND_NAMES}[k + 1] AS id_type, v AS id_value, first_seen_at, last_seen_at,
                     n_events, trusted_seen FROM _id_new_ids WHERE h NOT IN (SELECT id_hash FROM {RUN_IDENTIFIERS}))""",
                        params)
    engine.run(f"""DELETE FROM identity_identifiers
        WHERE rowid IN (SELECT _r FROM {RUN_IDENTIFIERS} WHERE _r IS NOT NULL)""")
    engine.run(f"INSERT INTO identity_identifiers BY NAME SELECT * EXCLUDE (_r) FROM {RUN_IDENTIFIERS}")
    return n


def upsert_links_in_place(engine: Engine) -> None:
    """Merge temp ``_id_new_pairs`` into ``identity_links`` in place.

    A known pair keeps its earliest event (time, then event id) and adds counts and trust; a
    new pair is appended after the last ``link_no`` with its identifiers' text, status
    ``blocked`` when an end is blocked, else none yet (the region's solve sets it).
    """
    replace_rows(engine, "identity_links", f"""SELECT o.* EXCLUDE (_r) REPLACE (
            CASE WHEN {_NEW_WINS} THEN n.event_id ELSE o.event_id END AS event_id,
            CASE WHEN {_NEW_WINS} THEN n.source_name ELSE o.source_name END AS source_name,
            least(o.occurred_at, n.occurred_at) AS occurred_at,
            coalesce(o.n_events, 0) + coalesce(n.n_events, 0) AS n_events,
            coalesce(o.trusted, false) OR coalesce(n.trusted, false) AS trusted), o._r
        FROM (SELECT *, rowid AS _r FROM identity_links) o
        JOIN _id_new_pairs n ON o.id_hash_a = n.id_hash_a AND o.id_hash_b = n.id_hash_b""")
    # both ends are identifiers of the new events: their rows are the run's (:data:`RUN_IDENTIFIERS`),
    # not read from the stored identifiers (ADRs 0084, 0097)
    engine.run(f"""INSERT INTO identity_links (link_no, id_type_a, id_value_a, id_type_b, id_value_b, event_id,
            source_name, occurred_at, n_events, trusted, status, id_hash_a, id_hash_b)
        WITH n AS (SELECT * FROM _id_new_pairs p
                   WHERE NOT EXISTS (SELECT 1 FROM identity_links o
                                     WHERE o.id_hash_a = p.id_hash_a AND o.id_hash_b = p.id_hash_b)),
        ends AS (SELECT id_hash, blocked, id_type, id_value FROM {RUN_IDENTIFIERS})
        SELECT (SELECT coalesce(max(link_no), -1) FROM identity_links) + row_number() OVER (),
               na.id_type, na.id_value, nb.id_type, nb.id_value, n.event_id, n.source_name, n.occurred_at,
               n.n_events, n.trusted, CASE WHEN na.blocked OR nb.blocked THEN 'blocked' END, n.id_hash_a, n.id_hash_b
        FROM n JOIN ends na ON na.id_hash = n.id_hash_a
        JOIN ends nb ON nb.id_hash = n.id_hash_b""")


def stage_region(engine: Engine, *, max_steps: int = 10_000) -> int:
    """Temp ``_rg_ids(id_hash)`` and ``_rg_links``: the components of the new identifiers.

    Breadth-first from the identifiers of the new events over the links that are not
    blocked, one set-based step per hop (each step reads the two key columns of the links
    once). ``_rg_links`` holds (link_no, id_hash_a, id_hash_b, trusted) of every link inside
    the region: the solver's edges. Returns the number of identifiers in the region.
    """
    n = engine.written("CREATE OR REPLACE TEMP TABLE _rg_ids AS SELECT DISTINCT h AS id_hash FROM _id_new_ids")
    engine.run("CREATE OR REPLACE TEMP TABLE _rg_front AS SELECT id_hash FROM _rg_ids")
    engine.run("""CREATE OR REPLACE TEMP TABLE _rg_links (link_no BIGINT, id_hash_a UBIGINT, id_hash_b UBIGINT,
        trusted BOOLEAN)""")
    for _ in range(max_steps):
        engine.run("""CREATE OR REPLACE TEMP TABLE _rg_step AS
            SELECT link_no, id_hash_a, id_hash_b, trusted FROM identity_links
            WHERE status IS DISTINCT FROM 'blocked'
              AND (id_hash_a IN (SELECT id_hash FROM _rg_front) OR id_hash_b IN (SELECT id_hash FROM _rg_front))
              AND link_no NOT IN (SELECT link_no FROM _rg_links)""")
        engine.run("INSERT INTO _rg_links SELECT * FROM _rg_step")
        front = engine.written("""CREATE OR REPLACE TEMP TABLE _rg_front AS
            SELECT DISTINCT id_hash FROM (SELECT id_hash_a AS id_hash FROM _rg_step
                                          UNION ALL SELECT id_hash_b FROM _rg_step)
            WHERE id_hash NOT IN (SELECT id_hash FROM _rg_ids)""")
        if front == 0:
            break
        n += engine.written("INSERT INTO _rg_ids SELECT id_hash FROM _rg_front")
    engine.run("DROP TABLE IF EXISTS _rg_step")
    engine.run("DROP TABLE IF EXISTS _rg_front")
    return n


def region_graph_inputs(engine: Engine, round_order: tuple[str, ...], strong: frozenset[str], *,
                        reached: bool = True) -> tuple[dict, dict]:
    """(nodes, edges) of the region, as :func:`percorso.engine.identity_sql.graph_inputs`.

    ``reached``: whether the region holds identifiers besides the run's (links reached
    older ones); when not, its rows are all in :data:`RUN_IDENTIFIERS` and the table is not read.
    """
    from percorso.engine.identity_sql import node_columns

    # the region's identifier rows, staged once: the flags and the components read them too
    # (each probe of the table's 1.1M rows cost ~7-9 ms at 10M events); it does not change until
    # then. The run's own are the rows just written; only the others are probed for
    cols = "id_type, id_value, first_seen_at, last_seen_at, n_events, trusted_seen, blocked, id_hash"
    others = f"""UNION ALL SELECT {cols} FROM identity_identifiers WHERE id_hash IN (
        SELECT id_hash FROM _rg_ids WHERE id_hash NOT IN (SELECT id_hash FROM {RUN_IDENTIFIERS}))""" if reached else ""
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {REGION_IDENTIFIERS} AS SELECT {cols} FROM {RUN_IDENTIFIERS}
        {others}""")
    nodes = engine.con.execute(f"SELECT id_hash, {node_columns(engine)} FROM {REGION_IDENTIFIERS}",
                               [list(round_order), sorted(strong)]).fetchnumpy()
    edges = engine.con.execute("SELECT link_no, id_hash_a, id_hash_b, coalesce(trusted, false) AS trusted "
                               "FROM _rg_links").fetchnumpy()
    return nodes, edges


def drop_region_identifiers(engine: Engine) -> None:
    """Drop :data:`REGION_IDENTIFIERS` (its last reader, the components, is done)."""
    engine.run(f"DROP TABLE IF EXISTS {REGION_IDENTIFIERS}")


def write_region_link_status(engine: Engine, status: Any) -> None:
    """Set the status of the region's links from a (link_no, status) table (numpy columns)."""
    engine.con.register("_rg_status_in", status)
    try:
        # only the links whose status changes (an UPDATE set every region link's, changed or not)
        replace_rows(engine, "identity_links", """SELECT l.* EXCLUDE (_r) REPLACE (s.status::VARCHAR AS status), l._r
            FROM (SELECT *, rowid AS _r FROM identity_links) l JOIN _rg_status_in s ON l.link_no = s.link_no
            WHERE l.status IS DISTINCT FROM s.status::VARCHAR""")
    finally:
        engine.con.unregister("_rg_status_in")


def write_region_flags(engine: Engine, flags: Any) -> None:
    """Replace the region's rows of ``identity_flags`` by the solver's (as ``write_flags``)."""
    engine.con.register("_rg_flag_in", flags)
    try:
        engine.run(f"""DELETE FROM identity_flags WHERE (id_type, id_value) IN (
            SELECT (id_type, id_value) FROM {REGION_IDENTIFIERS})""")
        engine.run(f"""INSERT INTO identity_flags
            SELECT n.id_type, n.id_value, f.reason::VARCHAR, f.n_linked::BIGINT, f.conflict_type::VARCHAR,
                   n.n_events, n.first_seen_at
            FROM _rg_flag_in f JOIN {REGION_IDENTIFIERS} n USING (id_hash)""")
    finally:
        engine.con.unregister("_rg_flag_in")


def snapshot_region_prev(engine: Engine) -> None:
    """Temp ``_id_prev``: the current ``identity_map`` rows of the region (before it is solved).

    Enough for stable ids: a previous customer's identifiers all lie in one component, so
    every previous customer that the region touches is there whole. Without the kind and text
    of each identifier: its readers (the stable ids, the merge log, the region's counts) join
    by ``id_hash``, and the stored text columns, decompressed for every vector holding a
    region identifier (nearly all of them), were a third of this probe (ADR 0084). With each row's
    rowid (``_r``): :func:`write_region_identity_map` deletes these very rows by it.
    """
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_prev AS
        SELECT customer_id, first_seen_at, id_hash, rowid AS _r FROM identity_map
        WHERE id_hash IN (SELECT id_hash FROM _rg_ids)""")


def write_region_identity_map(engine: Engine) -> None:
    """Replace the region's rows of ``identity_map`` by :data:`REGION_MAP` (``_id_comp`` joined
    to ``_id_final``, staged here).

    The region's old rows are those :func:`snapshot_region_prev` read (the map has not changed
    since, in the same transaction), deleted by their rowid: a second probe of the map's 1M
    ``id_hash`` cost ~15 ms at 10M events (ADR 0093)."""
    engine.run(f"""CREATE OR REPLACE TEMP TABLE {REGION_MAP} AS
        SELECT c.id_type, c.id_value, f.customer_id, c.first_seen_at, c.id_hash
        FROM _id_comp c JOIN _id_final f USING (label)""")
    engine.run("DELETE FROM identity_map WHERE rowid IN (SELECT _r FROM _id_prev)")
    engine.run(f"""INSERT INTO identity_map (id_type, id_value, customer_id, first_seen_at, id_hash)
        SELECT id_type, id_value, customer_id, first_seen_at, id_hash FROM {REGION_MAP}""")


def drop_region_map(engine: Engine) -> None:
    """Drop :data:`REGION_MAP` and :data:`REGION_IDS` (a resolution starts: they would be the last one's)."""
    engine.run(f"DROP TABLE IF EXISTS {REGION_MAP}; DROP TABLE IF EXISTS {REGION_IDS}")


def usability_changed(engine: Engine) -> bool:
    """Whether an identifier seen before this run became usable or unusable (a new flag, a
    flag lifted): then older events may key to another identifier."""
    return bool(engine.con.execute("""SELECT count(*) FROM _rg_ids r
        WHERE r.id_hash NOT IN (SELECT id_hash FROM _id_rows WHERE _r IS NULL)
          AND (r.id_hash IN (SELECT id_hash FROM _id_prev)) <> (r.id_hash IN (SELECT id_hash FROM _id_comp))
        """).fetchall()[0][0])


def region_customer_counts(engine: Engine) -> tuple[int, int]:
    """(previous customers, current customers) of the region: the change in components."""
    row = engine.con.execute("""SELECT (SELECT count(DISTINCT customer_id) FROM _id_prev),
        (SELECT count(DISTINCT customer_id) FROM _id_final)""").fetchall()[0]
    return int(row[0]), int(row[1])


def mark_touched(engine: Engine, *, everything: bool, ids: str = "_rg_ids") -> None:
    """Record which identifiers' customers this run may have changed, for the next build.

    A full run writes one NULL row (every identifier); an incremental one appends the
    ``id_hash`` of ``ids`` (the region; a whole-graph incremental run, the map rows it changed).
    The build reads and clears it (:func:`touched_identifiers`, :func:`clear_touched`).
    """
    # no table yet: runs before it existed may have changed anything since the last build
    everything = everything or not engine.has_table(TOUCHED)
    if everything:
        engine.run(f"CREATE OR REPLACE TABLE {TOUCHED} (id_hash UBIGINT)")
        engine.run(f"INSERT INTO {TOUCHED} VALUES (NULL)")
    else:
        engine.run(f"INSERT INTO {TOUCHED} SELECT id_hash FROM {ids}")


def touched_is_partial(engine: Engine) -> bool:
    """Whether ``identity_touched`` lists the changed identifiers (no full run since it was cleared)."""
    if not engine.has_table(TOUCHED):
        return False
    return not engine.con.execute(f"SELECT count(*) FROM {TOUCHED} WHERE id_hash IS NULL").fetchall()[0][0]


def clear_touched(engine: Engine) -> None:
    engine.run(f"CREATE OR REPLACE TABLE {TOUCHED} (id_hash UBIGINT)")


def count_new_customers(engine: Engine) -> int:
    """Components of ``_id_final`` that got a new customer id."""
    return int(engine.con.execute("SELECT count(*) FROM _id_final WHERE is_new").fetchall()[0][0])


def identity_totals(engine: Engine) -> dict[str, int]:
    """Counts over every identifier and link, as a full run reports them (column scans, no solve)."""
    row = engine.con.execute("""SELECT (SELECT count(*) FROM identity_identifiers),
        (SELECT count(*) FROM identity_identifiers WHERE blocked), (SELECT count(*) FROM identity_flags)""").fetchall()[0]
    out = {"identifiers": int(row[0]), "blocked": int(row[1]), "flagged": int(row[2]),
           "used": 0, "flagged_hub": 0, "links_blocked": 0, "rejected_untrusted": 0}
    for status, n in engine.con.execute("SELECT status, count(*) FROM identity_links GROUP BY 1").fetchall():
        out["links_blocked" if status == "blocked" else str(status)] = int(n)
    return out


def stage_changed_components(engine: Engine, labels: Any, device_links: Any, *, max_steps: int = 1_000) -> Any:
    """After a whole-graph solve (the device link's path), stage only what it may have changed.

    ``labels`` holds (id_hash, label) of every usable identifier after the device link,
    ``device_links`` the links it made now (Arrow with ``anon_hash``, ``known_hash``; None
    for none); ``identity_map`` and ``identity_device_links`` still hold the last run's.
    Returns the labels (numpy) of the components to write again, and stages temp ``_id_prev``:
    the ``identity_map`` rows of every previous customer they hold, whole.

    Why the rest stays as it was: a component of the link graph whose identifiers the new
    events do not carry has the same nodes, links and node flags as at the last run, so the
    solver gives it the same labels (module doc); the device link then joins the same
    components, unless one of its links changed (a hub, the window or a consent moved it),
    and both ends of every link that appeared, went or changed are seeds too. So a component
    holding no seed is exactly one previous customer, whole, and keeps its id and rows. The
    seeds' components are closed over the previous customers they hold (a split leaves a part
    without seeds), until no new component joins.
    """
    engine.con.register("_rg_labels_in", labels)
    try:
        engine.run("CREATE OR REPLACE TEMP TABLE _rg_all AS SELECT id_hash, label FROM _rg_labels_in")
    finally:
        engine.con.unregister("_rg_labels_in")
    now = "SELECT NULL::UBIGINT AS anon_hash, NULL::UBIGINT AS known_hash WHERE false"
    if device_links is not None and device_links.num_rows:
        engine.con.register("_rg_dl_in", device_links.select(["anon_hash", "known_hash"]))
        now = "SELECT anon_hash, known_hash FROM _rg_dl_in"
    before = "SELECT anon_hash, known_hash FROM identity_device_links"
    try:
        engine.run(f"""CREATE OR REPLACE TEMP TABLE _rg_seed AS
            SELECT h AS id_hash FROM _id_new_ids
            UNION SELECT unnest([anon_hash, known_hash]) FROM (
                (({before}) EXCEPT ({now})) UNION ALL (({now}) EXCEPT ({before})))""")
    finally:
        if device_links is not None and device_links.num_rows:
            engine.con.unregister("_rg_dl_in")
    engine.run("""CREATE OR REPLACE TEMP TABLE _rg_lab AS
        SELECT DISTINCT label FROM _rg_all WHERE id_hash IN (SELECT id_hash FROM _rg_seed)""")
    # the previous customers of the seeds (a seed may be unusable now) and of their components
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_prev AS
        SELECT id_type, id_value, customer_id, first_seen_at, id_hash FROM identity_map
        WHERE customer_id IN (SELECT customer_id FROM identity_map WHERE id_hash IN (
            SELECT id_hash FROM _rg_seed UNION ALL
            SELECT id_hash FROM _rg_all WHERE label IN (SELECT label FROM _rg_lab)))""")
    for _ in range(max_steps):
        engine.run("""CREATE OR REPLACE TEMP TABLE _rg_more AS
            SELECT DISTINCT label FROM _rg_all WHERE id_hash IN (SELECT id_hash FROM _id_prev)
            AND label NOT IN (SELECT label FROM _rg_lab)""")
        if engine.count("_rg_more") == 0:
            break
        engine.run("INSERT INTO _rg_lab SELECT label FROM _rg_more")
        engine.run("""INSERT INTO _id_prev
            SELECT id_type, id_value, customer_id, first_seen_at, id_hash FROM identity_map
            WHERE customer_id IN (SELECT customer_id FROM identity_map WHERE id_hash IN (
                SELECT id_hash FROM _rg_all WHERE label IN (SELECT label FROM _rg_more)))
            AND customer_id NOT IN (SELECT customer_id FROM _id_prev)""")
    else:
        raise AssertionError(f"the changed components did not close in {max_steps} steps")
    out = engine.con.execute("SELECT label FROM _rg_lab").fetchnumpy()["label"]
    for name in ("_rg_all", "_rg_more", "_rg_lab", "_rg_seed"):
        engine.run(f"DROP TABLE IF EXISTS {name}")
    return out

"""SQL constructs of identity resolution (DuckDB dialect), one named function each.

Identity keeps the heavy work in the engine: identifiers are unpivoted from ``events``,
dictionary-encoded, paired per event and aggregated to *distinct* pairs here; only integer
arrays (the "small model input" of the graph solver) leave the engine, and its answer comes
back as Arrow arrays joined in SQL. Values are bound with ``?``; identifiers are constants.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from percorso.engine import event_store as ES
from percorso.events.schema import IDENTIFIER_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine



def _list(values: list[str]) -> list[str]:
    return list(values) or ["\x00"]  # a typed, never-matching list (DuckDB cannot type [])


#: ``k`` in SQL: the identifier column's alphabetical rank (a link's end ``a`` is the
#: alphabetically first kind, as it always was).
_ALPHA: tuple[str, ...] = tuple(sorted(IDENTIFIER_COLUMNS))
_K = {c: i for i, c in enumerate(_ALPHA)}
#: ``k`` → id_type, as a DuckDB list literal (1-based).
_KIND_NAMES = "[" + ", ".join(f"'{k}'" for k in _ALPHA) + "]"

#: Text columns of ``identity_identifiers``, ``identity_map`` and ``built_identity`` stored
#: without compression (:meth:`Engine.create_table`'s ``uncompressed``): one value per
#: identifier, nearly all distinct, which DuckDB's dictionary + FSST analysed and encoded at
#: ~0.1 s per column and million rows of a full run's write (10M clickstream events, 1M
#: identifiers: the three writes 1.16 -> 0.73 s; ADR 0094). Readers see the same values, and
#: read them without decoding; the file holds ~14 bytes more per identifier and column.
PLAIN_TEXT: tuple[str, ...] = ("id_value", "customer_id")


def stage_identifier_occurrences(engine: Engine, trusted_sources: list[str], *, after_rowid: int | None,
                                 rules: list[tuple[str, list[str], str | None]] | None = None) -> int:
    """Temp tables ``_id_new_ids`` (one row per identifier) and ``_id_occ`` (its pairing input).

    ``_id_new_ids`` aggregates every non-empty identifier of the events read: ``h`` (64-bit
    hash of kind and value, the identifier's integer key, so no later step groups or joins
    on strings), ``k`` (kind number), ``v``, first and last time, events, whether a trusted
    source carried it. It is grouped per identifier column straight from ``events`` (one
    scan per column, reading only that column plus time and source, skipping NULLs; ingest
    stores identifiers trimmed, empty ones as NULL), so no per-occurrence table is written.
    With ``rules`` (the blocklist of a full run, which merges nothing) the aggregate is
    written straight to ``identity_identifiers`` (:func:`upsert_identifiers`' full form), not
    staged first (a 1M-row temp table written and read once more at 10M events).

    ``_id_occ`` holds one row per (event, identifier) of the events carrying two or more
    identifiers (only those can link anything): ``ev`` (the event's rowid, a handle valid
    during this run), ``ts``, ``t``, ``k``, ``h``. ``after_rowid`` keeps only events appended
    after that rowid (an incremental run).

    Returns how many of the events read carry some identifier: each such event counts once
    per identifier in the aggregate, and the ones carrying m >= 2 are the ``_id_multi`` rows,
    with m rows each in ``_id_occ`` (so no scan of ``events`` counts them again).
    """
    cond = f" AND e.rowid > {int(after_rowid)}" if after_rowid is not None else ""
    trusted = {"trusted": _list(trusted_sources)}
    t = "list_contains($trusted, e.source_name)"
    ids = [f"""SELECT hash({_K[c]}::UTINYINT, e.{c}) AS h, {_K[c]}::UTINYINT AS k, any_value(e.{c}) AS v,
                      min(e.occurred_at) AS first_seen_at, max(e.occurred_at) AS last_seen_at,
                      count(*) AS n_events, bool_or({t}) AS trusted_seen
               FROM {ES.WITH_ROWID} e WHERE e.{c} <> ''{cond} GROUP BY 1""" for c in IDENTIFIER_COLUMNS]
    if rules is None:
        engine.con.execute("CREATE OR REPLACE TEMP TABLE _id_new_ids AS " + "\nUNION ALL\n".join(ids), trusted)
        per_id = "_id_new_ids"
    else:
        blocked, params = blocked_sql(rules, named=True)
        engine.create_table("identity_identifiers", _identifiers_select("\nUNION ALL\n".join(ids), blocked),
                            uncompressed=PLAIN_TEXT, params={**trusted, **params})
        per_id = "identity_identifiers"
    # "IS NOT NULL AND <> ''" lets DuckDB skip the string comparison on NULLs (4x faster)
    several = " + ".join(f"(e.{c} IS NOT NULL AND e.{c} <> '')::INT" for c in IDENTIFIER_COLUMNS)
    cols = ", ".join(f"e.{c}" for c in IDENTIFIER_COLUMNS)
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _id_multi AS
        SELECT e.rowid AS ev, e.occurred_at AS ts, {t} AS t, {cols} FROM {ES.WITH_ROWID} e
        WHERE ({several}) >= 2{cond}""", trusted)
    occ = [f"""SELECT e.ev, e.ts, e.t, {_K[c]}::UTINYINT AS k, hash({_K[c]}::UTINYINT, e.{c}) AS h
               FROM _id_multi e WHERE e.{c} <> ''""" for c in IDENTIFIER_COLUMNS]
    engine.run("CREATE OR REPLACE TEMP TABLE _id_occ AS " + "\nUNION ALL\n".join(occ))
    n = engine.con.execute(f"""SELECT (SELECT coalesce(sum(n_events), 0) FROM {per_id})
        - (SELECT count(*) FROM _id_occ) + (SELECT count(*) FROM _id_multi)""").fetchall()[0][0]
    engine.run("DROP TABLE _id_multi")
    return int(n)


#: The (source_name, source_kind) pairs of the events resolved so far (written with the watermark).
SOURCES = "identity_sources"


def source_kinds(engine: Engine, after_rowid: int | None = None) -> list[tuple[str, str]]:
    """Distinct (source_name, source_kind) of ``events`` (to decide which sources are trusted).

    ``after_rowid``: the events up to it were resolved, and their pairs kept in
    :data:`SOURCES` (:func:`write_sources`); only the events after it are read (a scan of
    two columns of every event cost an incremental run 0.09 CPU s at 10M events).
    """
    if after_rowid is not None and engine.has_table(SOURCES):
        rows = engine.con.execute(f"""SELECT source_name, source_kind FROM {SOURCES}
            UNION SELECT DISTINCT source_name, source_kind FROM {ES.STORE}
            WHERE rowid > ? AND source_name IS NOT NULL""",
                                  [int(after_rowid)]).fetchall()
    else:
        rows = engine.con.execute(
            "SELECT DISTINCT source_name, source_kind FROM events WHERE source_name IS NOT NULL").fetchall()
    return [(str(n), k) for n, k in rows]


def write_sources(engine: Engine, pairs: list[tuple[str, str]]) -> None:
    """Keep the (source_name, source_kind) pairs of the events resolved (read by :func:`source_kinds`)."""
    engine.run(f"""CREATE OR REPLACE TABLE {SOURCES} AS SELECT unnest(?::VARCHAR[]) AS source_name,
        unnest(?::VARCHAR[]) AS source_kind""", [[n for n, _ in pairs], [k for _, k in pairs]])


#: The keyed hashes of the blocklist's e-mails, phones and tax codes, under the key of what they
#: were made from (one row: :func:`percorso.identity.resolver._blocklist_rules`).
BLOCKLIST_KEYS = "identity_blocklist_keys"


def read_blocklist_keys(engine: Engine, key: str) -> dict[str, list[str]] | None:
    """The hashes kept under ``key`` (hashed kind -> keys), or None."""
    if not engine.has_table(BLOCKLIST_KEYS):
        return None
    rows = engine.con.execute(f"SELECT keys FROM {BLOCKLIST_KEYS} WHERE key = ?", [key]).fetchall()
    return json.loads(rows[0][0]) if rows else None


def write_blocklist_keys(engine: Engine, key: str, keys: dict[str, list[str]]) -> None:
    """Keep ``keys`` under ``key`` (only the latest: an older key can no longer match)."""
    engine.run(f"CREATE OR REPLACE TABLE {BLOCKLIST_KEYS} AS SELECT ?::VARCHAR AS key, ?::VARCHAR AS keys",
               [key, json.dumps(keys, sort_keys=True)])


def blocked_sql(rules: list[tuple[str, list[str], str | None]], *, named: bool = False) -> tuple[str, Any]:
    """(SQL over ``id_type`` and ``id_value``, its parameters): whether an identifier is blocked.

    ``named``: the parameters as ``$b0, $b1…`` in a dict (for a statement binding other named ones).
    """
    cases, params = [], []
    for kind, exact, rx in rules:
        cases.append("WHEN ? THEN (list_contains(?::VARCHAR[], lower(id_value))"
                     + (" OR regexp_full_match(id_value, ?))" if rx else ")"))
        params += [kind, _list(exact)] + ([rx] if rx else [])
    sql = ("CASE id_type " + " ".join(cases) + " ELSE false END") if cases else "false"
    if not named:
        return sql, params
    parts = sql.split("?")
    return "".join(p + (f"$b{i}" if i < len(params) else "") for i, p in enumerate(parts)), \
        {f"b{i}": v for i, v in enumerate(params)}


def _identifiers_select(new_ids: str, blocked: str) -> str:
    """SQL: ``identity_identifiers``' rows from the per-identifier aggregate ``new_ids`` (``_id_new_ids``' columns)."""
    return f"""SELECT id_type, id_value, first_seen_at, last_seen_at, n_events, trusted_seen,
                   coalesce({blocked}, false) AS blocked, id_hash
            FROM (SELECT h AS id_hash, {_KIND_NAMES}[k + 1] AS id_type, v AS id_value, first_seen_at, last_seen_at,
                         n_events, trusted_seen FROM ({new_ids}))"""


def upsert_identifiers(engine: Engine, rules: list[tuple[str, list[str], str | None]], *, full: bool) -> None:
    """Merge ``_id_new_ids`` into ``identity_identifiers`` and (re)compute the blocked flag.

    Grouped on the integer key ``id_hash``; ``rules`` holds, per identifier column, the
    lowercased exact values and one combined regex that are blocked (see
    :mod:`percorso.identity.blocklist`).
    """
    blocked, params = blocked_sql(rules)
    new = f"""SELECT h AS id_hash, {_KIND_NAMES}[k + 1] AS id_type, v AS id_value, first_seen_at, last_seen_at,
                     n_events, trusted_seen FROM _id_new_ids"""
    if full or not engine.has_table("identity_identifiers") or "id_hash" not in engine.columns("identity_identifiers"):
        engine.create_table("identity_identifiers", _identifiers_select("SELECT * FROM _id_new_ids", blocked),
                            uncompressed=PLAIN_TEXT, params=params)
        return
    # a CREATE AS, not create_table's declared columns: those would replace the table it reads
    engine.run(
        f"""CREATE OR REPLACE TABLE identity_identifiers AS
        WITH n AS ({new}),
        m AS (SELECT id_hash, coalesce(o.id_type, n.id_type) AS id_type, coalesce(o.id_value, n.id_value) AS id_value,
                     least(o.first_seen_at, n.first_seen_at) AS first_seen_at,
                     greatest(o.last_seen_at, n.last_seen_at) AS last_seen_at,
                     coalesce(o.n_events, 0) + coalesce(n.n_events, 0) AS n_events,
                     coalesce(o.trusted_seen, false) OR coalesce(n.trusted_seen, false) AS trusted_seen
              FROM identity_identifiers o FULL JOIN n USING (id_hash))
        SELECT id_type, id_value, first_seen_at, last_seen_at, n_events, trusted_seen,
               coalesce({blocked}, false) AS blocked, id_hash FROM m""",
        params,
    )


_NEW_PAIRS = """SELECT x.h AS id_hash_a, y.h AS id_hash_b, min(x.ts) AS occurred_at, arg_min(x.ev, (coalesce(x.ts, 'infinity'::TIMESTAMP), x.ev)) AS ev,
        count(*) AS n_events, bool_or(x.t) AS trusted
    FROM (SELECT ev, h, k, ts, t FROM _id_occ) x JOIN (SELECT ev, h, k FROM _id_occ) y ON x.ev = y.ev AND x.k < y.k
    GROUP BY ALL"""


#: A pair's first event: the earliest (a missing time last), on a tie the first read (events
#: are only appended, so an earlier run's event wins a tie, as it does in a full run).
_NEW_WINS = ("o.event_id IS NULL OR coalesce(n.occurred_at, 'infinity'::TIMESTAMP) "
             "< coalesce(o.occurred_at, 'infinity'::TIMESTAMP)")


def stage_new_pairs(engine: Engine) -> None:
    """Temp ``_id_new_pairs``: the distinct identifier pairs of ``_id_occ`` with their first event."""
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _id_new_pairs AS
        SELECT p.id_hash_a, p.id_hash_b, p.occurred_at, e.event_id, e.source_name, p.n_events, p.trusted
        FROM ({_NEW_PAIRS}) p JOIN {ES.STORE} e ON e.rowid = p.ev""")


def upsert_links(engine: Engine, trusted_sources: list[str], *, full: bool) -> None:
    """Merge the distinct identifier pairs of ``_id_occ`` into temp ``_id_links``.

    One row per pair (a before b in round order) as integer keys, with its first event, time,
    how many events carried it and whether any trusted source did. The events are paired by a
    self-join of ``_id_occ`` on the event handle (an integer join); the string columns of
    ``identity_links`` are written once, with the link outcomes, by :func:`write_link_status`.
    ``trusted_sources`` is kept for API compatibility (trust is already in ``_id_occ``).
    """
    del trusted_sources
    stage_new_pairs(engine)
    old = (not full and engine.has_table("identity_links") and "id_hash_a" in engine.columns("identity_links"))
    if not old:
        engine.run("""CREATE OR REPLACE TEMP TABLE _id_links AS
            SELECT (row_number() OVER () - 1)::BIGINT AS link_no, * FROM _id_new_pairs""")
        return
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _id_links AS
        WITH m AS (SELECT id_hash_a, id_hash_b,
                     CASE WHEN {_NEW_WINS}
                          THEN n.event_id ELSE o.event_id END AS event_id,
                     CASE WHEN {_NEW_WINS}
                          THEN n.source_name ELSE o.source_name END AS source_name,
                     least(o.occurred_at, n.occurred_at) AS occurred_at,
                     coalesce(o.n_events, 0) + coalesce(n.n_events, 0) AS n_events,
                     coalesce(o.trusted, false) OR coalesce(n.trusted, false) AS trusted
              FROM identity_links o FULL JOIN _id_new_pairs n USING (id_hash_a, id_hash_b))
        SELECT (row_number() OVER () - 1)::BIGINT AS link_no, id_hash_a, id_hash_b, occurred_at, event_id,
               source_name, n_events, trusted FROM m""")


def graph_inputs(engine: Engine, round_order: tuple[str, ...], strong: frozenset[str],
                 links: str = "_id_links") -> tuple[dict, dict]:
    """(nodes, edges) as numpy columns: the only data that leaves the engine (integers and flags).

    nodes: id_hash, kind (position of ``id_type`` in ``round_order``), strong (``id_type`` in
    ``strong``), trusted_seen, blocked, pinned; edges: link_no, id_hash_a, id_hash_b, trusted.
    The caller numbers nodes by sorting their hashes (numpy), so no string is sorted or joined
    here. ``links``: the table of the edges (``_id_links`` staged by :func:`upsert_links`, or
    ``identity_links`` once an incremental run merged the new pairs into it in place). Numpy, not Arrow: see :data:`percorso.identity.graph.Columns`.
    """
    nodes = engine.con.execute(f"SELECT id_hash, {node_columns(engine)} FROM identity_identifiers",
                               [list(round_order), sorted(strong)]).fetchnumpy()
    edges = engine.con.execute("SELECT link_no, id_hash_a, id_hash_b, coalesce(trusted, false) AS trusted "
                               f"FROM {links}").fetchnumpy()
    return nodes, edges


def node_columns(engine: Engine) -> str:
    """SQL of the solver's node columns after ``id_hash`` (parameters: the round order, the strong kinds)."""
    return ("list_position(?::VARCHAR[], id_type) - 1 AS kind, list_contains(?::VARCHAR[], id_type) AS strong, "
            f"coalesce(trusted_seen, false) AS trusted_seen, coalesce(blocked, false) AS blocked, "
            f"{pinned_expr(engine)} AS pinned")


def pinned_expr(engine: Engine) -> str:
    """SQL: whether an ``identity_identifiers`` row is kept flagged by an erasure (``identity_pins``,
    written by :func:`percorso.engine.privacy_sql.pin_flags`)."""
    return "id_hash IN (SELECT id_hash FROM identity_pins)" if engine.has_table("identity_pins") else "false"


def write_link_status(engine: Engine, status: Any) -> None:
    """``identity_links`` from temp ``_id_links`` and a (link_no, status) table (numpy columns or Arrow).

    The identifier strings come from ``identity_identifiers`` (a join on integer keys).
    """
    engine.con.register("_id_status", status)
    try:
        engine.run("""CREATE OR REPLACE TABLE identity_links AS
            SELECT l.link_no, na.id_type AS id_type_a, na.id_value AS id_value_a, nb.id_type AS id_type_b,
                   nb.id_value AS id_value_b, l.event_id, l.source_name, l.occurred_at, l.n_events, l.trusted,
                   s.status::VARCHAR AS status, l.id_hash_a, l.id_hash_b
            FROM _id_links l JOIN _id_status s USING (link_no)
            JOIN identity_identifiers na ON na.id_hash = l.id_hash_a
            JOIN identity_identifiers nb ON nb.id_hash = l.id_hash_b""")
    finally:
        engine.con.unregister("_id_status")


def write_flags(engine: Engine, sol: Any) -> None:
    """``identity_flags`` from the solver's (id_hash, reason, n_linked, conflict_type) rows."""
    engine.con.register("_id_flag_in", sol)
    try:
        engine.run("""CREATE OR REPLACE TABLE identity_flags AS
            SELECT n.id_type, n.id_value, f.reason::VARCHAR AS reason, f.n_linked::BIGINT AS n_linked,
                   f.conflict_type::VARCHAR AS conflict_type, n.n_events, n.first_seen_at
            FROM _id_flag_in f JOIN identity_identifiers n USING (id_hash)""")
    finally:
        engine.con.unregister("_id_flag_in")


def stage_components(engine: Engine, labels: Any, identifiers: str = "identity_identifiers") -> None:
    """Temp ``_id_comp`` (label, identifier, first seen) and ``_id_lab`` (label, smallest identifier).

    ``labels`` holds (id_hash, label) of every usable identifier; ``identifiers``: the table
    their rows are read from (a region's own rows, or the whole table).
    """
    engine.con.register("_id_labels", labels)
    try:
        engine.run(f"""CREATE OR REPLACE TEMP TABLE _id_comp AS
            SELECT l.label, n.id_type, n.id_value, n.first_seen_at, n.id_hash
            FROM _id_labels l JOIN {identifiers} n USING (id_hash)""")
    finally:
        engine.con.unregister("_id_labels")
    # min over (type, value) = min over 'type:value' (no kind name is a prefix of another);
    # the string is built once per component, not once per identifier
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_lab AS
        SELECT label, m.id_type || ':' || m.id_value AS min_ident, size FROM (
            SELECT label, min({'id_type': id_type, 'id_value': id_value}) AS m, count(*) AS size
            FROM _id_comp GROUP BY label)""")


def assign_customer_ids(engine: Engine, taken: str | None = None) -> None:
    """Temp ``_id_final`` (label, customer_id, is_new): keep the oldest previous id of each component.

    A previous id claimed by several components (a split) stays with the one holding most of
    its identifiers; the others, and components with no previous id, get
    ``'C' + sha256(smallest identifier)[:12]``. ``taken`` names a table whose
    ``customer_id`` a new id must not reuse (default: the previous map ``_id_prev``; an
    incremental run, whose ``_id_prev`` holds only its region, passes the whole map).
    """
    has_prev = engine.has_table("_id_prev")
    prev = "_id_prev" if has_prev else "(SELECT NULL::VARCHAR id_type, NULL::VARCHAR id_value, NULL::VARCHAR customer_id, NULL::TIMESTAMP first_seen_at, NULL::UBIGINT id_hash WHERE false)"
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _id_final AS
        WITH pc AS (SELECT customer_id, min(first_seen_at) AS pfs FROM {prev} GROUP BY 1),
        claim AS (SELECT c.label, p.customer_id, count(*) AS n FROM _id_comp c
                  JOIN {prev} p USING (id_hash) GROUP BY ALL),
        pick AS (SELECT label, arg_min(customer_id, (pfs, customer_id)) AS customer_id,
                        arg_min(n, (pfs, customer_id)) AS n FROM claim JOIN pc USING (customer_id) GROUP BY label),
        keep AS (SELECT customer_id, arg_min(label, (-n, min_ident)) AS label
                 FROM pick JOIN _id_lab USING (label) GROUP BY customer_id)
        SELECT l.label, coalesce(k.customer_id, 'C' || substr(sha256(l.min_ident), 1, 12)) AS customer_id,
               k.customer_id IS NULL AS is_new, l.min_ident
        FROM _id_lab l LEFT JOIN keep k USING (label)""")
    # a new id must not be one in use: the taken ids are probed with the new ones (a semi-join
    # whose build side is the few new ids; the other way round hashed every id in use, 0.2
    # CPU s at 1M customers). The UPDATE returns how many ids it changed: none, done.
    for attempt in range(1, 20):
        clash = f"""(SELECT customer_id FROM _id_final GROUP BY 1 HAVING count(*) > 1
                    UNION SELECT customer_id FROM {taken or prev}
                          WHERE customer_id IN (SELECT customer_id FROM _id_final WHERE is_new))"""
        changed = engine.con.execute(
            f"""UPDATE _id_final SET customer_id = 'C' || substr(sha256(min_ident || '#' || ?), 1, 12)
            WHERE is_new AND customer_id IN {clash}""", [str(attempt)]).fetchall()
        if not changed or not changed[0][0]:
            break


def write_fresh_identity_map(engine: Engine, single: Any, grouped: Any, n_components: int) -> bool:
    """``identity_map`` of a project with no previous map, in one statement; False on an id clash.

    With no previous map every component is new and its id is ``'C' + sha256(smallest
    'type:value')[:12]``, as :func:`assign_customer_ids` gives it, so the id is computed while
    the map is written, with no ``_id_comp``/``_id_lab``/``_id_final`` staged and read again
    (four 1M-row statements at 10M events). ``single`` holds the ``id_hash`` of the
    identifiers alone in their component (their own 'type:value' is the smallest: no
    grouping), ``grouped`` (id_hash, label) the others. Two components whose ids clash (a
    12-hex-digit prefix, ~0.2 % at 1M customers) are told apart only by
    :func:`assign_customer_ids`' numbered retries: then False, and the caller takes that path
    (which rewrites the map), so the map is always the one it gives.
    """
    engine.con.register("_id_single", single)
    engine.con.register("_id_grouped", grouped)
    try:
        engine.create_table("identity_map", """
            SELECT n.id_type, n.id_value, 'C' || substr(sha256(n.id_type || ':' || n.id_value), 1, 12) AS customer_id,
                   n.first_seen_at, n.id_hash
            FROM identity_identifiers n SEMI JOIN _id_single s USING (id_hash)
            UNION ALL
            SELECT id_type, id_value, 'C' || substr(sha256(m.id_type || ':' || m.id_value), 1, 12), first_seen_at, id_hash
            FROM (SELECT n.id_type, n.id_value, n.first_seen_at, n.id_hash,
                         min({'id_type': n.id_type, 'id_value': n.id_value}) OVER (PARTITION BY g.label) AS m
                  FROM identity_identifiers n JOIN _id_grouped g USING (id_hash))""", uncompressed=PLAIN_TEXT)
    finally:
        engine.con.unregister("_id_single")
        engine.con.unregister("_id_grouped")
    ids = engine.con.execute("SELECT count(DISTINCT customer_id) FROM identity_map").fetchall()[0][0]
    return int(ids) == int(n_components)


def write_identity_map(engine: Engine) -> None:
    engine.create_table("identity_map", """SELECT c.id_type, c.id_value, f.customer_id, c.first_seen_at, c.id_hash
        FROM _id_comp c JOIN _id_final f USING (label)""", uncompressed=PLAIN_TEXT)


def write_identity_map_changes(engine: Engine) -> None:
    """Write only the rows of ``identity_map`` this run changed; temp ``_id_changed`` lists them.

    A row changed when its identifier is new, left the map (it became unusable), or moved to
    another customer or first time (``_id_prev`` is the map before the run). The map then
    holds what :func:`write_identity_map` would write; the rest of its rows are not rewritten
    (at 150,000 identifiers the whole rewrite, and the build's copy and comparison of it, cost
    every micro-batch ~0.1-0.2 s and a log of the whole table).
    """
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_newmap AS
        SELECT c.id_type, c.id_value, f.customer_id, c.first_seen_at, c.id_hash
        FROM _id_comp c JOIN _id_final f USING (label)""")
    engine.run("""CREATE OR REPLACE TEMP TABLE _id_changed AS
        SELECT id_hash FROM (SELECT id_hash, customer_id, first_seen_at FROM _id_newmap
                             EXCEPT SELECT id_hash, customer_id, first_seen_at FROM _id_prev)
        UNION SELECT id_hash FROM (SELECT id_hash, customer_id, first_seen_at FROM _id_prev
                                   EXCEPT SELECT id_hash, customer_id, first_seen_at FROM _id_newmap)""")
    engine.run("DELETE FROM identity_map WHERE id_hash IN (SELECT id_hash FROM _id_changed)")
    engine.run("""INSERT INTO identity_map (id_type, id_value, customer_id, first_seen_at, id_hash)
        SELECT id_type, id_value, customer_id, first_seen_at, id_hash FROM _id_newmap
        WHERE id_hash IN (SELECT id_hash FROM _id_changed)""")


def record_merges(engine: Engine, run_at: Any, *, links: str = "identity_links",
                  mapped: str = "identity_map") -> int:
    """Append retired previous ids to ``identity_merges``; returns how many were retired.

    ``links`` is the SQL of the links to look the merging event up in, ``mapped`` that of the
    current map (id_type, id_value, customer_id, id_hash) of the previous customers'
    identifiers: an incremental run passes its region's (every identifier, used link and new
    customer of a retired customer is there), so nothing reads the whole map or link table.
    """
    engine.run("""CREATE TABLE IF NOT EXISTS identity_merges (retired_id VARCHAR, kept_id VARCHAR,
        merged_at TIMESTAMP, reason VARCHAR, link_event_id VARCHAR)""")
    if not engine.has_table("_id_prev"):
        return 0
    # integer keys throughout (``id_hash`` is a function of type and value): the string
    # comparisons OR-ed over both ends of a link were a nested loop, 0.2-0.3 s a micro-batch
    # at 1M events once merges happened; a link is read from both of its ends by a UNION ALL
    return engine.written(f"""INSERT INTO identity_merges
        WITH gone AS (SELECT DISTINCT p.customer_id FROM _id_prev p
                      WHERE NOT EXISTS (SELECT 1 FROM {mapped} m WHERE m.customer_id = p.customer_id)),
        dest AS (SELECT p.customer_id AS retired_id, m.customer_id AS kept_id, count(*) AS n
                 FROM _id_prev p JOIN gone USING (customer_id)
                 JOIN {mapped} m USING (id_hash) GROUP BY ALL),
        best AS (SELECT retired_id, arg_max(kept_id, (n, kept_id)) AS kept_id, count(*) AS n_dest
                 FROM dest GROUP BY 1),
        used AS (SELECT id_hash_a AS h, id_hash_b AS o, event_id, occurred_at FROM {links} WHERE status = 'used'
                 UNION ALL
                 SELECT id_hash_b AS h, id_hash_a AS o, event_id, occurred_at FROM {links} WHERE status = 'used'),
        ev AS (SELECT b.retired_id, arg_min(l.event_id, (l.occurred_at, l.event_id)) AS event_id
               FROM best b JOIN _id_prev pa ON pa.customer_id = b.retired_id
               JOIN used l ON l.h = pa.id_hash
               JOIN {mapped} mo ON mo.customer_id = b.kept_id AND mo.id_hash = l.o
               LEFT JOIN _id_prev po ON po.id_hash = mo.id_hash
               WHERE po.customer_id IS DISTINCT FROM b.retired_id
               GROUP BY 1)
        SELECT g.customer_id, b.kept_id, ?::TIMESTAMP,
               CASE WHEN b.retired_id IS NULL THEN 'dropped' WHEN b.n_dest > 1 THEN 'split' ELSE 'merged' END,
               ev.event_id
        FROM gone g LEFT JOIN best b ON b.retired_id = g.customer_id
        LEFT JOIN ev ON ev.retired_id = g.customer_id""", [run_at])


def snapshot_previous_map(engine: Engine) -> bool:
    """Copy the current ``identity_map`` to temp ``_id_prev`` (for stable ids and the merge log)."""
    engine.run("DROP TABLE IF EXISTS _id_prev")
    if not engine.has_table("identity_map"):
        return False
    # id_hash (the identifier's 64-bit key, a function of type and value): integer joins; a map
    # written before it existed gets it computed the way _id_new_ids computes it
    h = ("id_hash" if "id_hash" in engine.columns("identity_map")
         else f"hash((list_position({_KIND_NAMES}, id_type) - 1)::UTINYINT, id_value)")
    engine.run(f"""CREATE TEMP TABLE _id_prev AS
        SELECT id_type, id_value, customer_id, first_seen_at, {h} AS id_hash FROM identity_map""")
    return True


def pair_counts(engine: Engine, truth: str, assigned: str) -> dict[str, int]:
    """Sums of C(n, 2) over predicted, true and (predicted, true) groups, in the engine, in one pass.

    ``assigned`` holds (event_id, customer_id); ``truth`` holds (source_name, source_key,
    person_id); both are joined through ``events`` on event id and source key.
    ``true_pairs`` counts the events placed in a customer only; ``true_pairs_all`` every event
    of the truth (an unplaced event's pairs are all missed).
    """
    t = engine.query(f"""WITH j AS (
            SELECT a.customer_id, g.person_id FROM {assigned} a JOIN events e USING (event_id)
            JOIN {truth} g ON g.source_name = e.source_name AND g.source_key = e.source_key),
        p AS (SELECT count(*) AS n FROM j WHERE customer_id IS NOT NULL GROUP BY customer_id),
        t AS (SELECT count(*) FILTER (customer_id IS NOT NULL) AS n, count(*) AS n_all FROM j GROUP BY person_id),
        pt AS (SELECT count(*) AS n FROM j WHERE customer_id IS NOT NULL GROUP BY customer_id, person_id)
        SELECT (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM p)::BIGINT AS predicted_pairs,
               (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM t)::BIGINT AS true_pairs,
               (SELECT coalesce(sum(n_all * (n_all - 1) // 2), 0) FROM t)::BIGINT AS true_pairs_all,
               (SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM pt)::BIGINT AS correct_pairs,
               (SELECT count(*) FROM j WHERE customer_id IS NOT NULL)::BIGINT AS matched_events,
               (SELECT count(*) FROM j WHERE customer_id IS NULL)::BIGINT AS unassigned_events""")
    return {k: int(v[0]) for k, v in t.to_pydict().items()}


def find_identifiers(engine: Engine, values: list[str]) -> pa.Table:
    """Mapped or flagged identifiers whose value (or customer id) is one of ``values``."""
    return engine.query("""SELECT id_type, id_value, customer_id FROM identity_map
        WHERE id_value IN (SELECT unnest(?::VARCHAR[])) OR customer_id IN (SELECT unnest(?::VARCHAR[]))
        UNION ALL SELECT id_type, id_value, NULL FROM identity_flags WHERE id_value IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY 1, 2""", [values, values, values])


def customer_evidence(engine: Engine, customer_id: str, limit: int) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """(identifiers, links touching them with their first event, flags touching, merges) of a customer."""
    ids = engine.query("""SELECT id_type, id_value, first_seen_at FROM identity_map WHERE customer_id = ?
        ORDER BY first_seen_at, id_type, id_value""", [customer_id])
    links = engine.query("""WITH mine AS (SELECT id_type, id_value FROM identity_map WHERE customer_id = ?)
        SELECT l.id_type_a, l.id_value_a, l.id_type_b, l.id_value_b, l.status, l.trusted, l.n_events,
               l.event_id, l.source_name, e.source_file, e.source_line, l.occurred_at
        FROM identity_links l LEFT JOIN events e USING (event_id)
        WHERE (l.id_type_a, l.id_value_a) IN (SELECT (id_type, id_value) FROM mine)
           OR (l.id_type_b, l.id_value_b) IN (SELECT (id_type, id_value) FROM mine)
        ORDER BY l.occurred_at, l.event_id LIMIT ?""", [customer_id, limit])
    flags = engine.query("""SELECT f.* FROM identity_flags f WHERE (f.id_type, f.id_value) IN (
          SELECT CASE WHEN m.id_type = l.id_type_a AND m.id_value = l.id_value_a THEN (l.id_type_b, l.id_value_b)
                      ELSE (l.id_type_a, l.id_value_a) END
          FROM identity_links l JOIN identity_map m ON m.customer_id = ? AND (
               (m.id_type = l.id_type_a AND m.id_value = l.id_value_a) OR
               (m.id_type = l.id_type_b AND m.id_value = l.id_value_b)))""", [customer_id])
    import pyarrow as pa

    merges = (engine.query("SELECT * FROM identity_merges WHERE kept_id = ? OR retired_id = ? ORDER BY merged_at",
                           [customer_id, customer_id]) if engine.has_table("identity_merges") else pa.table({}))
    return ids, links, flags, merges

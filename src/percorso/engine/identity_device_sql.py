"""The guarded device link of identity resolution (DuckDB dialect): see ADR 0009.

Deterministic links cannot join a cookie that never signs in (a new cookie after Safari's
seven-day cap, after cookies were cleared) to anyone. Device graphs (Segment, mParticle,
Amplitude) join it by the network evidence every web and app event carries: the IP address
(stored as ``ip_key``, a keyed hash) and the user agent. That evidence is shared by whole
households, offices and carrier CGNATs, so the rule here is narrow and explainable:

- only an *anonymous* component (no usable strong identifier: user id, CRM id, e-mail,
  phone, card, tax code) is attached, and only to a *known* one; two known customers are
  never merged by it, so the rule cannot join people the deterministic rules kept apart;
- an (ip_key, user_agent) pair seen on events of more than ``max_known`` known components
  (over all time; a household with two identical phones), and every pair of an IP seen with
  more than ``max_known_per_ip`` known components (a carrier CGNAT address, an office, a
  public Wi-Fi), is a hub and is not evidence;
- the anonymous component's events must meet events of the known one with the same pair
  within ``window_days`` days (a home address is reassigned every few months), and every such
  meeting of the component must point to the *same* known component, else it stays alone.

An event's component is that of its first *usable* identifier among cookie (``anonymous_id``),
app device and user id: a flagged or blocked cookie falls back to the user id, so the customer
behind it still counts for the hub, succession and uniqueness guards. Everything is grouped per day on integer keys before the range join, so the join
is over (pair, day) cells, not events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine import event_store as ES
from percorso.engine.identity_keys_sql import identifier_hash_sql

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

#: identifiers that place a web/app event in a component, in this order
EVENT_KEY = ("anonymous_id", "device_id", "user_id")


def device_link_candidates(engine: Engine, labels: pa.Table, *, window_days: int, max_known: int,
                           max_known_per_ip: int, succession: bool = True, after_rowid: int | None = None) -> pa.Table:
    """Anonymous components to attach, with the evidence of each.

    ``labels`` holds (id_hash, label, known) of every usable identifier after the
    deterministic rounds. Returns one row per attached anonymous component: ``anon_label``,
    ``known_label``, and the first meeting behind it: ``anon_hash`` / ``known_hash`` (the key
    identifiers of the two events), ``anon_event_id``, ``known_event_id``, ``ip_key``,
    ``user_agent``, ``occurred_at``, and ``days`` (how many days the pair met). ``after_rowid``:
    the events up to it are in the kept cells (:data:`CELLS`; None: every event is read again).
    """
    source = update_cells(engine, after_rowid)
    engine.con.register("_dl_labels", labels)
    try:
        _stage_cells(engine, source)
    finally:
        engine.con.unregister("_dl_labels")
    return engine.query(CANDIDATES, [max_known, max_known_per_ip, window_days, window_days, not succession])


def has_network_evidence(engine: Engine) -> bool:
    """Whether any event carries both an IP key and a user agent (else the link has nothing to do)."""
    return bool(engine.con.execute("""SELECT count(*) FROM (SELECT 1 FROM events
        WHERE ip_key <> '' AND user_agent <> '' LIMIT 1)""").fetchall()[0][0])


#: The events with IP and user agent per (pair, day, cookie, device, user id), kept between runs:
#: the cells a run groups by component are made from these, not from every event again (at 1.6M
#: events, 640,000 of them with IP, reading and hashing them was ~0.25 CPU s of every micro-batch).
CELLS = "identity_dl_cells"
#: The last events rowid :data:`CELLS` holds (they are rebuilt when it is not the run's start).
CELLS_STATE = "identity_dl_state"


def _cell_rows(where: str) -> str:
    """SQL: the cells of the events with IP, user agent and time (``where``: more conditions)."""
    keys = ", ".join(f"CASE WHEN e.{c} <> '' THEN {identifier_hash_sql(c)} END AS h{i}" for i, c in enumerate(EVENT_KEY))
    return f"""SELECT hash(e.ip_key) AS ip, hash(e.user_agent) AS ua, floor(epoch(e.occurred_at) / 86400)::INTEGER AS day,
            {keys}, min(e.occurred_at) AS ts, max(e.occurred_at) AS ts_max,
            arg_min(e.rowid, (e.occurred_at, e.event_id)) AS er, arg_min(e.event_id, (e.occurred_at, e.event_id)) AS eid
        FROM {ES.WITH_ROWID} e
        WHERE e.ip_key <> '' AND e.user_agent <> '' AND e.occurred_at IS NOT NULL{where} GROUP BY ALL"""


def update_cells(engine: Engine, after_rowid: int | None) -> str:
    """Bring :data:`CELLS` up to the last event and return it: the cells of the events after
    ``after_rowid`` merged in (times widened, the first event by time then id kept); every
    event read again when the kept cells do not end at ``after_rowid``. A full run
    (``after_rowid`` None) reads every event into a temp table and drops the kept cells (a
    full build does not pay their write; the next incremental run makes them once)."""
    con = engine.con
    if after_rowid is None:
        engine.run(f"CREATE OR REPLACE TEMP TABLE _dl_all_cells AS {_cell_rows('')}")
        engine.run(f"DROP TABLE IF EXISTS {CELLS}")
        engine.run(f"DROP TABLE IF EXISTS {CELLS_STATE}")
        return "_dl_all_cells"
    kept = engine.has_table(CELLS) and engine.has_table(CELLS_STATE)
    at = con.execute(f"SELECT max_rowid FROM {CELLS_STATE}").fetchall() if kept else []
    if not at or at[0][0] != after_rowid:
        engine.run(f"CREATE OR REPLACE TABLE {CELLS} AS {_cell_rows('')}")
    else:
        engine.run(f"CREATE OR REPLACE TEMP TABLE _dl_new AS {_cell_rows(f' AND e.rowid > {int(after_rowid)}')}")
        same = " AND ".join(["o.ip = n.ip", "o.ua = n.ua", "o.day = n.day"]
                            + [f"o.h{i} IS NOT DISTINCT FROM n.h{i}" for i in range(len(EVENT_KEY))])
        first = "n.ts < o.ts OR (n.ts = o.ts AND n.eid < o.eid)"
        engine.run(f"""CREATE OR REPLACE TEMP TABLE _dl_merged AS
            SELECT o.rowid AS _r, o.* REPLACE (least(o.ts, n.ts) AS ts, greatest(o.ts_max, n.ts_max) AS ts_max,
                   CASE WHEN {first} THEN n.er ELSE o.er END AS er, CASE WHEN {first} THEN n.eid ELSE o.eid END AS eid)
            FROM {CELLS} o JOIN _dl_new n ON {same}""")
        engine.run(f"DELETE FROM {CELLS} WHERE rowid IN (SELECT _r FROM _dl_merged)")
        engine.run(f"INSERT INTO {CELLS} SELECT * EXCLUDE (_r) FROM _dl_merged")
        engine.run(f"INSERT INTO {CELLS} SELECT n.* FROM _dl_new n ANTI JOIN _dl_merged o ON {same}")
        engine.run("DROP TABLE IF EXISTS _dl_new")
        engine.run("DROP TABLE IF EXISTS _dl_merged")
    engine.run(f"CREATE OR REPLACE TABLE {CELLS_STATE} AS SELECT {ES.LAST_ROWID}::BIGINT AS max_rowid")
    return CELLS


def _stage_cells(engine: Engine, source: str) -> None:
    """Temp ``_dl_cells``: web/app events with IP and user agent, per (pair, day, component, key),
    from the cells ``source`` (:func:`update_cells`): an event's key is its first identifier among
    :data:`EVENT_KEY` that ``_dl_labels`` lists (usable), as it was read from the events.

    The day is ``floor(epoch / 86400)``, the UTC calendar day. DuckDB 2.0's ``//`` on a DOUBLE
    divides without flooring, and the cast to INTEGER then rounded, so days began at noon. That
    put two events 7 days 4 hours apart 8 "days" apart, and the identity rules on Spark (which
    floor, ``engine_rules._device_link``) disagreed at the window's edge (ADR 0044).
    """
    listed = ", ".join(f"CASE WHEN c.h{i} IN (SELECT id_hash FROM _dl_labels) THEN c.h{i} END"
                       for i in range(len(EVENT_KEY)))
    engine.run(f"""CREATE OR REPLACE TEMP TABLE _dl_cells AS
        WITH c AS (SELECT c.*, coalesce({listed}) AS h FROM {source} c)
        SELECT c.ip, c.ua, c.day, l.label, l.known, c.h, min(c.ts) AS ts, max(c.ts_max) AS ts_max,
               arg_min(c.er, (c.ts, c.eid)) AS er
        FROM c JOIN _dl_labels l ON l.id_hash = c.h GROUP BY ALL""")


#: The rule over ``_dl_cells`` (parameters: max known per pair, per IP, window twice, not succession).
CANDIDATES = f"""
        WITH hub AS (SELECT ip, ua FROM _dl_cells WHERE known GROUP BY ALL HAVING count(DISTINCT label) > ?
                     UNION ALL SELECT c.ip, c.ua FROM _dl_cells c SEMI JOIN (
                         SELECT ip FROM _dl_cells WHERE known GROUP BY ip HAVING count(DISTINCT label) > ?) USING (ip)),
        k0 AS (SELECT c.* FROM _dl_cells c ANTI JOIN hub USING (ip, ua) WHERE c.known),
        a0 AS (SELECT c.* FROM _dl_cells c ANTI JOIN hub USING (ip, ua) WHERE NOT c.known),
        -- each cell's first event (by time, then id) is kept as its rowid: its id is read here,
        -- for the cells left after the hubs only (a million ids written into the cells was half
        -- of their cost at 1M events with IP)
        ids AS (SELECT rowid AS er, event_id FROM {ES.STORE}
                WHERE rowid IN (SELECT er FROM k0 UNION ALL SELECT er FROM a0)),
        k AS (SELECT k0.*, ids.event_id FROM k0 JOIN ids USING (er)),
        a AS (SELECT a0.*, ids.event_id FROM a0 JOIN ids USING (er)),
        -- a cookie that replaced another on one device is used after the other's last visit or
        -- before its first; a known cookie whose first-to-last time on the pair overlaps the
        -- anonymous component's is another browser with the same user agent (a relative's phone)
        span AS (SELECT ip, ua, label, min(ts) AS t0, max(ts_max) AS t1 FROM a GROUP BY ALL),
        kspan AS (SELECT ip, ua, h, min(ts) AS t0, max(ts_max) AS t1 FROM k GROUP BY ALL),
        clash AS (SELECT DISTINCT s.label FROM span s JOIN kspan c ON c.ip = s.ip AND c.ua = s.ua
                  AND c.t0 <= s.t1 AND c.t1 >= s.t0),
        m AS (SELECT a.label AS anon_label, k.label AS known_label, a.h AS anon_hash, k.h AS known_hash,
                     a.event_id AS anon_event_id, k.event_id AS known_event_id, a.ts AS occurred_at, a.day,
                     a.er AS anon_row
              FROM a JOIN k ON a.ip = k.ip AND a.ua = k.ua AND k.day BETWEEN a.day - ? AND a.day + ?
              WHERE ? OR a.label NOT IN (SELECT label FROM clash))
        , r AS (SELECT anon_label, min(known_label) AS known_label,
               arg_min(anon_hash, (occurred_at, anon_event_id, known_event_id)) AS anon_hash,
               arg_min(known_hash, (occurred_at, anon_event_id, known_event_id)) AS known_hash,
               arg_min(anon_event_id, (occurred_at, anon_event_id, known_event_id)) AS anon_event_id,
               arg_min(known_event_id, (occurred_at, anon_event_id, known_event_id)) AS known_event_id,
               arg_min(anon_row, (occurred_at, anon_event_id, known_event_id)) AS anon_row,
               min(occurred_at) AS occurred_at, count(DISTINCT day) AS days
            FROM m GROUP BY anon_label HAVING count(DISTINCT known_label) = 1)
        -- the pair's text, from the anonymous event of the first meeting (the cells carry hashes
        -- only), found by its rowid: a join on the event id read that column of every event
        -- (80 of the query's 100 ms at 1.3M events)
        SELECT r.anon_label, r.known_label, r.anon_hash, r.known_hash, r.anon_event_id, r.known_event_id,
               e.ip_key, e.user_agent, r.occurred_at, r.days
        FROM r JOIN (SELECT rowid AS er, ip_key, user_agent FROM {ES.WITH_ROWID}
                     WHERE rowid IN (SELECT anon_row FROM r)) e
             ON e.er = r.anon_row"""


def write_device_links(engine: Engine, links: pa.Table | None) -> None:
    """``identity_device_links``: one row per attached anonymous component (see
    :func:`device_link_candidates`), with the identifiers' types and values for explain."""
    if links is None or not links.num_rows:
        engine.run("""CREATE OR REPLACE TABLE identity_device_links (anon_type VARCHAR, anon_value VARCHAR,
            known_type VARCHAR, known_value VARCHAR, anon_event_id VARCHAR, known_event_id VARCHAR,
            ip_key VARCHAR, user_agent VARCHAR, occurred_at TIMESTAMP, days BIGINT, anon_hash UBIGINT,
            known_hash UBIGINT)""")
        return
    engine.con.register("_dl_out", links)
    try:
        engine.run("""CREATE OR REPLACE TABLE identity_device_links AS
            SELECT na.id_type AS anon_type, na.id_value AS anon_value, nk.id_type AS known_type,
                   nk.id_value AS known_value, d.anon_event_id, d.known_event_id, d.ip_key, d.user_agent,
                   d.occurred_at, d.days, d.anon_hash, d.known_hash
            FROM _dl_out d JOIN identity_identifiers na ON na.id_hash = d.anon_hash
            JOIN identity_identifiers nk ON nk.id_hash = d.known_hash""")
    finally:
        engine.con.unregister("_dl_out")


def customer_device_links(engine: Engine, customer_id: str) -> pa.Table:
    """Device links that attached an anonymous identifier to ``customer_id``, with both events."""
    if not engine.has_table("identity_device_links"):
        return engine.query("SELECT NULL AS anon_type WHERE false")
    return engine.query("""SELECT d.anon_type, d.anon_value, d.known_type, d.known_value, d.ip_key, d.user_agent,
               d.days, d.occurred_at, d.anon_event_id, ea.source_name, ea.source_file, ea.source_line,
               d.known_event_id, ek.source_file AS known_source_file, ek.source_line AS known_source_line
        FROM identity_device_links d JOIN identity_map m ON m.id_hash = d.anon_hash
        LEFT JOIN events ea ON ea.event_id = d.anon_event_id LEFT JOIN events ek ON ek.event_id = d.known_event_id
        WHERE m.customer_id = ? ORDER BY d.occurred_at, d.anon_event_id""", [customer_id])

"""SQL of the incremental build's tails: a customer rebuilt from a cut, not from their first event (ADR 0040).

Why: the collector's micro-batches append a few events to each of ~20,000 customers every few
seconds; rebuilding each customer's whole history made a micro-batch cost the touched
histories (sessions, channels and orders of ~300,000-600,000 old events for 50,000 new ones).
Every touchpoint value is causal (a session number, a session's first informative channel, the
last non-direct channel of an order depend on what came before, in time order), so the rows
of a customer before the time ``t0`` of their earliest new event stay what they were, and the
rows from ``t0`` on follow from the events from ``t0`` on plus a *carry*: what the kept rows
say about the state at the cut (the last row's time and session number, the open session's
channel, the last informative channel). A customer takes this path (``_build_cut.t0`` set)
unless one of these holds, and then their whole history is rebuilt as before (``t0`` NULL):

- identity moved some of their old events (an identifier or an event key changed customer:
  a merge, a split, a re-key); a new identifier joining a customer moves nothing;
- an event at or after ``t0`` already stored, or a new one, carries an order id the customer
  already has (the one-row-per-order rule ranks an order's events together, across the cut);
- an event without a time;
- the open session's channel cannot be told from the kept rows: its web rows were ``Direct``
  and an informative event now joins it (the kept rows' channel changes), or its first
  informative event may be an old one after the cut (:func:`session_fallbacks`);
- (the runner) a stage rule reads the channel: the carry would not re-stage the kept rows.

The derived rows of a tail customer with ``occurred_at >= t0`` are deleted and derived again;
those before are kept. Identifiers come from code; values are bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine import event_store as ES
from percorso.engine.identity_keys_sql import customer_no_sql

if TYPE_CHECKING:
    from percorso.engine.backend import Engine

#: Each event's key identifier by events rowid as of the last build (``build_sql.EVENT_ROWS``).
EVENT_ROWS = "build_event_rows"

#: Per tail customer with kept rows: the state at the cut (read by the compiled plan's queries).
CARRY = "_build_carry"
CARRY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "VARCHAR"), ("c_last_at", "TIMESTAMP"), ("c_sno", "BIGINT"), ("c_seq", "BIGINT"),
    ("c_web", "BOOLEAN"), ("c_fixed", "BOOLEAN"), ("c_first_ch", "VARCHAR"), ("c_first_rule", "VARCHAR"),
    ("c_nd", "VARCHAR"), ("c_nd_at", "TIMESTAMP"))
#: What the customers query reads: every row of the scope's customers, new and kept.
TP_ALL, RU_ALL, ORDERS_ALL, EC_ALL = "_build_tp_all", "_build_ru_all", "_build_orders_all", "_build_ec_all"
ALL_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    TP_ALL: (("customer_id", "VARCHAR"), ("occurred_at", "TIMESTAMP"), ("seq", "BIGINT"), ("channel", "VARCHAR"),
             ("stage", "VARCHAR")),
    RU_ALL: (("customer_id", "VARCHAR"), ("occurred_at", "TIMESTAMP")),
    ORDERS_ALL: (("customer_id", "VARCHAR"), ("occurred_at", "TIMESTAMP"), ("is_return", "BOOLEAN"),
                 ("revenue", "DOUBLE"), ("store_id", "VARCHAR")),
    EC_ALL: (("event_id", "VARCHAR"), ("customer_id", "VARCHAR")),
}
#: Source of each ``_all`` table: (the new rows, the stored table whose kept rows join them).
_ALL_SOURCES = {TP_ALL: ("_build_touchpoints", "touchpoints"), RU_ALL: ("_build_record_updates", "record_updates"),
                ORDERS_ALL: ("_build_orders", "orders")}
#: Tables whose rows of a tail customer are replaced from ``t0`` on (the others: whole customers).
CUT_TABLES = ("touchpoints", "orders", "record_updates")
#: The stored rows of the tail customers each kept table holds: (stored table, columns read), each
#: after ``_r`` (the row's rowid, for the delete) and ``customer_id`` (the probe's). One
#: definition: :func:`stage_carry` reads them, :func:`empty_inputs` takes their types.
_TP_OLD = "occurred_at, {event_id} AS event_id, seq, source_system, channel, channel_rule, online, order_id, stage"
_KEPT: dict[str, tuple[str, str]] = {
    "_build_tp_old": ("touchpoints", _TP_OLD.format(event_id="event_id")),
    "_build_ru_old": ("record_updates", "occurred_at, event_id"),
    "_build_orders_old": ("orders", "occurred_at, is_return, revenue, store_id"),
}
_OLD = {table: name for name, (table, _) in _KEPT.items()}
#: Per stored table of :data:`CUT_TABLES`, the rows of the scope's customers ``(r, customer_id)``:
#: one probe of its customer column per build, read for the kept rows and for the delete.
_ROWS = {table: f"_build_rows_{table}" for table in CUT_TABLES}
_TEMPS = ("_build_cut", CARRY, "_build_new_ev0", "_build_new_ev", "_build_tp_old", "_build_old_r", "_build_picked_pre",
          "_build_fallback", "_build_pt", "_build_pt_at", "_build_pt_r", "_build_known", "_build_ru_old",
          "_build_orders_old", "_build_state_cut", "_build_state_new", "_build_cust_old", *_ROWS.values())


def _cols(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{c} {t}" for c, t in columns)


def ddl_of_inputs() -> tuple[str, ...]:
    """``CREATE TABLE`` of the carry and the ``_all`` tables, empty (to plan the queries)."""
    return tuple(f"CREATE TABLE {name} ({_cols(cols)})" for name, cols in ((CARRY, CARRY_COLUMNS), *ALL_TABLES.items()))


def _in(values: tuple[str, ...]) -> str:
    """A SQL list of constant strings from code (quotes doubled)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def stage_cut(engine: Engine, after_rowid: int, *, tail: bool) -> int:
    """Temp ``_build_cut(customer_id, customer_no, t0, fast)`` for every scope customer, and ``_build_new_ev``.

    ``_build_scope(customer_id, moved)`` must exist. ``t0``: the earliest time of the
    customer's appended events when none of their old events moved (``moved`` false) and
    every appended one has a time; else NULL (the whole history). ``tail`` False: all NULL.
    Returns the number of tail customers.
    """
    con = engine.con
    # the appended events with the customer of their key (by rowid alone first: joined in the
    # same statement, DuckDB read every column of every event)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_new_ev0 AS SELECT rowid AS r, event_id, occurred_at, order_id,
        store_id FROM {ES.WITH_ROWID} WHERE rowid > ?""", [after_rowid])
    con.execute("""CREATE OR REPLACE TEMP TABLE _build_new_ev AS
        SELECT n.r, n.event_id, n.occurred_at, n.order_id, n.store_id, k.customer_id FROM _build_new_ev0 n
        JOIN _build_nk k ON k.r = n.r""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_cut AS
        SELECT s.customer_id, {customer_no_sql("s.customer_id")} AS customer_no,
               CASE WHEN {bool(tail)} AND NOT s.moved AND n.n = n.n_at THEN n.t0 END AS t0,
               false AS fast
        FROM _build_scope s LEFT JOIN (SELECT customer_id, min(occurred_at) AS t0, count(*) AS n,
                                              count(occurred_at) AS n_at FROM _build_new_ev GROUP BY ALL) n
        USING (customer_id)""")
    _mark_fast(engine)
    # a fast customer's stored rows are neither read nor deleted: not probed (unless they fall back)
    for table, rows in _ROWS.items():
        con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS {_probe(table, 'NOT fast')}")
    return tail_count(engine)


def _probe(table: str, which: str) -> str:
    """SQL: ``(r, customer_id)`` of the rows of stored ``table`` whose customer is one of the
    ``_build_cut`` rows that match ``which``; ``touchpoints`` is probed by its integer
    ``customer_no`` (ADR 0062: a hash probe of one integer, not of the compressed string id),
    and the id is the ``_build_cut`` row's (ADR 0070: one number per customer, so the join
    gives each row once): the stored id column, decompressed for every vector holding a
    scope customer's row (nearly all of them), cost the probe two thirds of its time."""
    if table == "touchpoints":
        return f"""SELECT t.rowid AS r, c.customer_id FROM touchpoints t
            JOIN (SELECT customer_no, customer_id FROM _build_cut WHERE {which}) c ON c.customer_no = t.customer_no"""
    return f"SELECT rowid AS r, customer_id FROM {table} WHERE customer_id IN (SELECT customer_id FROM _build_cut WHERE {which})"


def tail_count(engine: Engine) -> int:
    return int(engine.con.execute("SELECT count(*) FROM _build_cut WHERE t0 IS NOT NULL").fetchall()[0][0])


def tail_counts(engine: Engine) -> tuple[int, int]:
    """The tail customers and, of those, the fast ones, in one statement."""
    row = engine.con.execute("""SELECT count(*) FILTER (t0 IS NOT NULL), count(*) FILTER (t0 IS NOT NULL AND fast)
        FROM _build_cut""").fetchall()[0]
    return int(row[0]), int(row[1])


_TAIL = "(SELECT customer_id FROM _build_cut WHERE t0 IS NOT NULL)"
#: Tail customers whose kept rows are read (not :data:`_FAST`'s).
_SLOW = "(SELECT customer_id FROM _build_cut WHERE t0 IS NOT NULL AND NOT fast)"
#: Tail customers rebuilt from their kept state (:data:`STATE`), their kept rows not read.
_FAST = "(SELECT customer_id FROM _build_cut WHERE t0 IS NOT NULL AND fast)"

#: Per customer, what their stored touchpoints and record updates say at their end (kept by
#: every incremental build for the customers it rebuilt; emptied by a full build): the carry's
#: inputs (the last row's time, session number and position, the last informative channel, the
#: open session's web rows as min / max / counts) and the counts that tell a clean history
#: (every event of the customer is one stored row, every row timed). A customer whose new events
#: all come after ``last_at`` is rebuilt from it without reading their kept rows (``fast``).
STATE = "build_tail_state"
STATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "VARCHAR"), ("n_events", "BIGINT"), ("n_rows", "BIGINT"), ("n_timed", "BIGINT"),
    ("last_at", "TIMESTAMP"), ("c_last_at", "TIMESTAMP"), ("c_sno", "BIGINT"), ("c_seq", "BIGINT"),
    ("c_nd", "VARCHAR"), ("c_nd_at", "TIMESTAMP"), ("w_n", "BIGINT"), ("w_ch0", "VARCHAR"), ("w_ch1", "VARCHAR"),
    ("w_r0", "VARCHAR"), ("w_r1", "VARCHAR"), ("w_nr", "BIGINT"))
_CARRY_STATE = ", ".join(c for c, _ in STATE_COLUMNS if c.startswith(("c_", "w_")))
#: The customers columns a fast customer's new row is combined with (the old row's).
_CUST_OLD = ("customer_id, first_seen_at, last_seen_at, n_touchpoints, n_orders, revenue, consent_profiling, "
             "consent_marketing, first_name, last_name, city, province, birth_date, home_store, first_channel, "
             "current_stage")


def reset_state(engine: Engine) -> None:
    """:data:`STATE` emptied (a full build: the next incremental build computes it again)."""
    engine.con.execute(f"CREATE OR REPLACE TABLE {STATE} ({_cols(STATE_COLUMNS)})")


def _mark_fast(engine: Engine) -> None:
    """``_build_cut.fast`` for the tail customers whose kept state (:data:`STATE`) ends before
    their first new event, and the old ``customers`` rows of those (``_build_cust_old``).

    Not fast (the kept rows are read as before): no state (never rebuilt since the last full
    build, or a history that is not clean); a new event at or before the last kept row; a new
    event with a store (the home store counts receipts per store: the old row cannot tell).
    """
    con = engine.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE _build_cust_old AS SELECT {_CUST_OLD} FROM customers LIMIT 0")
    if not engine.has_table(STATE):   # a project built before it: every customer slow, this once
        reset_state(engine)
        return
    if not engine.count(STATE):       # the first incremental build after a full one
        return
    con.execute(f"""UPDATE _build_cut c SET fast = true FROM {STATE} st
        WHERE st.customer_id = c.customer_id AND c.t0 IS NOT NULL AND c.t0 > st.last_at
          AND c.customer_id NOT IN (SELECT customer_id FROM _build_new_ev WHERE store_id IS NOT NULL)""")
    con.execute(f"""INSERT INTO _build_cust_old SELECT {_CUST_OLD} FROM customers
        WHERE customer_id IN (SELECT customer_id FROM _build_cut WHERE fast)""")
    con.execute("""UPDATE _build_cut SET fast = false WHERE fast
        AND customer_id NOT IN (SELECT customer_id FROM _build_cust_old)""")


def _stored_rows(engine: Engine, target: str, columns: str | None = None) -> None:
    """Temp ``target`` (:data:`_KEPT`): its columns (or ``columns``) of the rows of its stored
    table whose customer is a slow tail customer (found by :func:`stage_cut`'s probe, then read
    by rowid). The customer id is the probe's, not read again (ADR 0070: the stored id column
    by rowid decompressed every vector holding a wanted row)."""
    table, kept = _KEPT[target]
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_old_r AS SELECT r, customer_id FROM {_ROWS[table]}
        WHERE customer_id IN {_SLOW}""")
    # the read by rowid alone in its subquery: a join on the rowid reads every row (see read_picked)
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE {target} AS SELECT t._r, o.customer_id, t.* EXCLUDE (_r)
        FROM (SELECT rowid AS _r, {columns or kept} FROM {table} WHERE rowid IN (SELECT r FROM _build_old_r)) t
        JOIN _build_old_r o ON o.r = t._r""")


def stage_carry(engine: Engine, session_systems: tuple[str, ...], not_informative: tuple[str, ...],
                gap_minutes: int) -> int:
    """The slow tail customers' stored rows (``_build_tp_old``, ``_build_ru_old``,
    ``_build_orders_old``), every tail customer's state at the cut (``_build_state_cut``: from
    the kept rows, or the kept state of a fast one) and their carry (:data:`CARRY`); customers
    whose order ids meet across the cut, or whose stored rows have no time, go back to a whole
    rebuild. Returns the tail customers left.

    The open session is found from the kept rows' times, not read: a customer stays a tail
    only if every event before the cut is a kept touchpoint or record update
    (:func:`split_picked`), so the kept touchpoints before the cut are exactly the events the
    sessions were numbered over, and the gap rule (``gap_minutes``, the sessions' own: a
    change of it rebuilds everything) over their times gives the stored numbers again, unread
    (read by rowid, a column costs every block holding a kept row)."""
    con = engine.con
    # the kept touchpoints' event ids are read only for the customers query, which joins them to
    # the contact profiles: a project with none leaves them NULL (the column by rowid, every
    # block of it holding a kept row: 35 of the 80 ms of this read at 10M touchpoints, cold)
    ids = "event_id" if engine.count("contact_profiles") else "NULL::VARCHAR"
    _stored_rows(engine, "_build_tp_old", _TP_OLD.format(event_id=ids))
    # an order id met across the cut; for a fast customer, one of their stored touchpoints (the
    # order-id column probed for the new events' ids only)
    con.execute(f"""UPDATE _build_cut SET t0 = NULL WHERE t0 IS NOT NULL AND customer_id IN (
        SELECT o.customer_id FROM _build_tp_old o JOIN _build_cut c USING (customer_id)
            WHERE o.occurred_at IS NULL OR (o.order_id IS NOT NULL AND o.occurred_at >= c.t0)
        UNION ALL SELECT n.customer_id FROM _build_new_ev n JOIN _build_tp_old o
            ON o.customer_id = n.customer_id AND o.order_id = n.order_id
        UNION ALL SELECT n.customer_id FROM _build_new_ev n JOIN (
            SELECT customer_id, order_id FROM touchpoints WHERE order_id IN (
                SELECT order_id FROM _build_new_ev WHERE order_id IS NOT NULL AND customer_id IN {_FAST})) t
            ON t.customer_id = n.customer_id AND t.order_id = n.order_id)""")
    web, dull = _in(session_systems), _in(not_informative)
    informative = f"coalesce(online, false) AND channel NOT IN {dull}"
    gap = f"INTERVAL {int(gap_minutes)} MINUTE"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_state_cut AS
        WITH pre AS (SELECT o.* FROM _build_tp_old o JOIN _build_cut c USING (customer_id)
                     WHERE c.t0 IS NOT NULL AND o.occurred_at < c.t0),
        -- a session starts at a customer's first row and after a gap longer than the setting
        -- (touchpoints._sessions: a row of the same second as the one before is never a start)
        st AS (SELECT customer_id, occurred_at, lag(occurred_at) OVER w IS NULL
                   OR occurred_at > lag(occurred_at) OVER w + {gap} AS _start
               FROM pre WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at)),
        starts AS (SELECT customer_id, count(*) FILTER (_start) - 1 AS c_sno,
                          max(occurred_at) FILTER (_start) AS open_at FROM st GROUP BY ALL),
        -- the last kept row is in the open session (the rows from its start on), and has the
        -- highest position (every event before the cut is a kept row: split_picked); ``seq``
        -- numbers a customer's rows in the order of (time, event id): the latest informative
        -- row by it, the event ids not read
        last AS (SELECT customer_id, max(occurred_at) AS c_last_at, max(seq) AS c_seq,
                        arg_max(channel, seq) FILTER ({informative}) AS c_nd,
                        max(occurred_at) FILTER ({informative}) AS c_nd_at
                 FROM pre GROUP BY ALL),
        -- the open session's web rows: their channels and rules (all 'Direct', or one channel and rule)
        ses AS (SELECT p.customer_id, count(*) AS n, min(channel) AS ch0, max(channel) AS ch1,
                       min(channel_rule) AS r0, max(channel_rule) AS r1, count(channel_rule) AS nr
                FROM pre p JOIN starts o ON o.customer_id = p.customer_id AND p.occurred_at >= o.open_at
                WHERE p.source_system IN {web} GROUP BY ALL)
        SELECT l.customer_id, l.c_last_at, o.c_sno, l.c_seq, l.c_nd, l.c_nd_at, coalesce(s.n, 0) AS w_n,
               s.ch0 AS w_ch0, s.ch1 AS w_ch1, s.r0 AS w_r0, s.r1 AS w_r1, coalesce(s.nr, 0) AS w_nr
        FROM last l JOIN starts o USING (customer_id) LEFT JOIN ses s USING (customer_id)
        UNION ALL SELECT customer_id, {_CARRY_STATE} FROM {STATE}
            WHERE customer_id IN {_FAST} AND c_last_at IS NOT NULL""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {CARRY} AS
        SELECT customer_id, c_last_at, c_sno, c_seq, w_n > 0 AS c_web, coalesce(w_ch0 <> 'Direct', false) AS c_fixed,
               CASE WHEN w_ch0 <> 'Direct' THEN w_ch0 END AS c_first_ch,
               CASE WHEN w_ch0 <> 'Direct' THEN w_r0 END AS c_first_rule, c_nd, c_nd_at,
               w_n > 0 AND w_ch0 <> 'Direct' AND (w_ch0 <> w_ch1 OR w_r0 IS DISTINCT FROM w_r1 OR w_nr < w_n) AS _unclear
        FROM _build_state_cut WHERE customer_id IN {_TAIL}""")
    _fall_back(engine, f"SELECT customer_id FROM {CARRY} WHERE _unclear")
    con.execute(f"ALTER TABLE {CARRY} DROP COLUMN _unclear")
    _stored_rows(engine, "_build_ru_old")
    _stored_rows(engine, "_build_orders_old")
    return tail_count(engine)


def _fall_back(engine: Engine, which: str) -> int:
    """The customers the query ``which`` lists (into ``_build_fallback``) are rebuilt whole: no
    cut, no carry. Returns how many (as the statement reports them: no count of the table)."""
    n = engine.written(f"CREATE OR REPLACE TEMP TABLE _build_fallback AS {which}")
    if n:
        engine.con.execute("UPDATE _build_cut SET t0 = NULL WHERE customer_id IN (SELECT customer_id FROM _build_fallback)")
        engine.con.execute(f"DELETE FROM {CARRY} WHERE customer_id IN (SELECT customer_id FROM _build_fallback)")
    return n


def split_picked(engine: Engine) -> None:
    """Of the scope's events found (``_build_picked(k, r)``, keys ``_build_m``), set aside in
    ``_build_picked_pre`` those of tail customers before their cut (not read, unless the
    customer falls back); a tail customer with an event without a time falls back now.

    The events' times are read (by rowid: a block of ``occurred_at`` per customer, 57 MB at 10M
    events) only for the customers whose old events the kept rows do not account for
    (``_build_known``): when a customer has as many kept touchpoints and record updates, all
    with a time before the cut, as old events, each kept row is one of those events (a row
    comes from one event of the customer, and a tail customer's events did not move), so every
    old event is before the cut, at its kept row's time (the usual case: events appended after
    the history)."""
    con = engine.con
    con.execute("""CREATE OR REPLACE TEMP TABLE _build_pt AS SELECT p.k, p.r, c.customer_id FROM _build_picked p
        JOIN _build_m m ON m.id_hash = p.k JOIN _build_cut c ON c.customer_id = m.customer_id
        WHERE c.t0 IS NOT NULL AND NOT c.fast""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _build_known AS
        WITH old AS (SELECT customer_id, count(*) AS n FROM _build_pt WHERE r NOT IN (SELECT r FROM _build_new_ev)
                     GROUP BY ALL),
        kept AS (SELECT customer_id, count(*) AS n, count(occurred_at) AS n_at, max(occurred_at) AS last_at
                 FROM (SELECT customer_id, occurred_at FROM _build_tp_old
                       UNION ALL SELECT customer_id, occurred_at FROM _build_ru_old) GROUP BY ALL)
        SELECT customer_id FROM old JOIN kept USING (customer_id) JOIN _build_cut c USING (customer_id)
        WHERE old.n = kept.n AND kept.n_at = kept.n AND kept.last_at < c.t0""")
    # the rowids alone first: joined in the read, DuckDB read every event's column
    con.execute("""CREATE OR REPLACE TEMP TABLE _build_pt_r AS SELECT r FROM _build_pt
        WHERE customer_id NOT IN (SELECT customer_id FROM _build_known)""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_pt_at AS SELECT rowid AS r, occurred_at FROM {ES.STORE}
        WHERE rowid IN (SELECT r FROM _build_pt_r)""")
    _fall_back(engine, """SELECT DISTINCT p.customer_id FROM _build_pt p
        JOIN _build_pt_at a USING (r) WHERE a.occurred_at IS NULL""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _build_picked_pre AS SELECT p.k, p.r, p.customer_id FROM _build_pt p
        JOIN _build_pt_at a USING (r) JOIN _build_cut c USING (customer_id) WHERE c.t0 IS NOT NULL AND a.occurred_at < c.t0
        UNION ALL SELECT p.k, p.r, p.customer_id FROM _build_pt p JOIN _build_known USING (customer_id)
        JOIN _build_cut c USING (customer_id) WHERE c.t0 IS NOT NULL AND p.r NOT IN (SELECT r FROM _build_new_ev)""")
    # every event before the cut is a kept touchpoint or record update, unless it is the order
    # row the one-row-per-order rule left out: it still counted for the sessions, not in the
    # carry (read from the kept touchpoints), so its customer is rebuilt whole
    uncounted = _fall_back(engine, """
        WITH ev AS (SELECT customer_id, count(*) AS n FROM _build_picked_pre GROUP BY ALL),
        kept AS (SELECT o.customer_id, count(*) AS n FROM (SELECT customer_id, occurred_at FROM _build_tp_old
                     UNION ALL SELECT customer_id, occurred_at FROM _build_ru_old) o
                 JOIN _build_cut c USING (customer_id) WHERE c.t0 IS NOT NULL AND o.occurred_at < c.t0 GROUP BY ALL)
        SELECT ev.customer_id FROM ev LEFT JOIN kept USING (customer_id) WHERE ev.n <> coalesce(kept.n, 0)""")
    if uncounted:
        con.execute("""DELETE FROM _build_picked_pre WHERE customer_id IN (SELECT customer_id FROM _build_fallback)""")
    con.execute("DELETE FROM _build_picked WHERE r IN (SELECT r FROM _build_picked_pre)")


def session_fallbacks(engine: Engine, session_systems: tuple[str, ...], not_informative: tuple[str, ...]) -> int:
    """After the sessions step: tail customers whose rows after the cut cannot be derived from
    the carry, into ``_build_fallback`` (and back to a whole rebuild); returns how many.

    - an old event after the cut carries an order id (its order may have rows before the cut);
    - the open session goes on after the cut, its kept web rows are ``Direct`` and an
      informative event now joins it (the kept rows would take its channel);
    - the open session's channel came from an informative event that may be an old one after
      the cut (one with the same channel and rule), and the first informative event after the
      cut has another channel or rule: the kept rows may or may not have one before.
    """
    web, dull = _in(session_systems), _in(not_informative)
    return _fall_back(engine, f"""
        WITH s AS (SELECT s.customer_id, s.occurred_at, s.event_id, s.source_system, s.channel, s.channel_rule,
                          s.order_id, s._sno, n.event_id IS NULL AS old
                   FROM _build_sessions s JOIN _build_cut c ON c.customer_id = s.customer_id AND c.t0 IS NOT NULL
                   LEFT JOIN _build_new_ev n ON n.event_id = s.event_id),
        inf AS (SELECT s.* FROM s JOIN {CARRY} c ON c.customer_id = s.customer_id AND s._sno = c.c_sno
                WHERE s.source_system IN {web} AND s.channel NOT IN {dull}),
        f AS (SELECT customer_id, arg_min(channel, {{'at': occurred_at, 'id': event_id}}) AS ch,
                     arg_min(channel_rule, {{'at': occurred_at, 'id': event_id}}) AS rule FROM inf GROUP BY ALL)
        SELECT customer_id FROM s WHERE old AND order_id IS NOT NULL
        UNION SELECT c.customer_id FROM {CARRY} c JOIN f USING (customer_id)
            WHERE (c.c_web AND NOT c.c_fixed)
               OR (c.c_fixed AND (f.ch IS DISTINCT FROM c.c_first_ch OR f.rule IS DISTINCT FROM c.c_first_rule)
                   AND EXISTS (SELECT 1 FROM inf i WHERE i.customer_id = c.customer_id AND i.old
                               AND i.channel = c.c_first_ch AND i.channel_rule IS NOT DISTINCT FROM c.c_first_rule))""")


def picked_of_fallbacks(engine: Engine) -> str:
    """The set-aside events of the customers that fell back (to read into ``_build_events``),
    and the old events of the fast ones among them."""
    # a fast customer's old events were never listed (:func:`percorso.engine.build_sql.stage_scope_events`):
    # found now by their keys (their new events are read already, and not in the index yet)
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_picked AS SELECT k, r FROM _build_picked_pre
        WHERE customer_id IN (SELECT customer_id FROM _build_fallback)
        UNION ALL SELECT k, r FROM {EVENT_ROWS} WHERE k IN (SELECT id_hash FROM _build_m
            WHERE customer_id IN (SELECT customer_id FROM _build_fallback)
              AND customer_id IN (SELECT customer_id FROM _build_cut WHERE fast))""")
    engine.con.execute("DELETE FROM _build_picked_pre WHERE customer_id IN (SELECT customer_id FROM _build_fallback)")
    return "_build_picked"


def stage_all_inputs(engine: Engine) -> None:
    """Temp views :data:`ALL_TABLES`: the new rows of every scope customer and, of a slow tail
    customer, the stored rows before the cut (what the customers query reads); a fast one's
    history is their old ``customers`` row (:func:`combine_fast_customers`)."""
    for name, cols in ALL_TABLES.items():
        names = ", ".join(c for c, _ in cols)
        if name == EC_ALL:
            new = f"SELECT {names} FROM _build_events"
            old = "(SELECT event_id, customer_id, occurred_at FROM _build_tp_old UNION ALL " \
                  "SELECT event_id, customer_id, occurred_at FROM _build_ru_old)"
        else:
            staged, stored = _ALL_SOURCES[name]
            new = f"SELECT {names} FROM {staged}"
            old = {"touchpoints": "_build_tp_old", "record_updates": "_build_ru_old", "orders": "_build_orders_old"}[stored]
        kept = ", ".join(f"o.{c}" for c, _ in cols)
        if name == RU_ALL:
            # a fast customer's history stands as one record update at their old last time: the
            # customers query then gives them a row (:func:`combine_fast_customers` completes it)
            new += f" UNION ALL SELECT customer_id, last_seen_at FROM _build_cust_old WHERE customer_id IN {_FAST}"
        engine.con.execute(f"""CREATE OR REPLACE TEMP VIEW {name} AS {new} UNION ALL
            SELECT {kept} FROM {old} o JOIN _build_cut c USING (customer_id) WHERE c.t0 IS NOT NULL AND o.occurred_at < c.t0""")


def empty_inputs(engine: Engine) -> None:
    """The tail's tables, empty (a build with no tail customer still reads them), in one call
    (seven calls of one small statement each cost twice the statements)."""
    state_cut = tuple((c, t) for c, t in STATE_COLUMNS if c == "customer_id" or c.startswith(("c_", "w_")))
    engine.con.execute("; ".join([
        f"CREATE OR REPLACE TEMP TABLE {CARRY} ({_cols(CARRY_COLUMNS)})",
        # the stored tables' own types, no rows
        *(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT rowid AS _r, customer_id, {columns} FROM {table} LIMIT 0"
          for name, (table, columns) in _KEPT.items()),
        *(f"CREATE OR REPLACE TEMP TABLE {name} ({cols})"
          for name, cols in (("_build_picked_pre", "k UBIGINT, r BIGINT, customer_id VARCHAR"),
                             ("_build_fallback", "customer_id VARCHAR"), ("_build_state_cut", _cols(state_cut))))]))


def fast_fallen_back(engine: Engine) -> bool:
    """Whether a fast tail customer fell back to a whole rebuild (see :func:`cut_gone`)."""
    return bool(engine.con.execute("SELECT count(*) FROM _build_cut WHERE fast AND t0 IS NULL").fetchall()[0][0])


def cut_gone(engine: Engine, table: str, *, fallen: bool) -> None:
    """Temp ``_build_gone(r)`` for a table of :data:`CUT_TABLES`: the rows of the scope's
    customers (:func:`stage_cut`'s probe), except a tail customer's rows before their cut, which
    stay (their times were read with the kept rows: no read of ``table`` here). The fast
    customers that fell back (``fallen``: :func:`fast_fallen_back`), left out of the probe, are
    probed here."""
    if fallen:
        engine.con.execute(f"INSERT INTO {_ROWS[table]} {_probe(table, 'fast AND t0 IS NULL')}")
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_gone AS
        SELECT p.r FROM {_ROWS[table]} p JOIN _build_cut c USING (customer_id) WHERE c.t0 IS NULL
        UNION ALL SELECT o._r FROM {_OLD[table]} o JOIN _build_cut c USING (customer_id)
            WHERE c.t0 IS NOT NULL AND o.occurred_at >= c.t0""")


def drop_tail(engine: Engine, *others: str) -> None:
    """Drop the tail's temporary tables and views, and the tables ``others`` (names from code),
    in one call: ~30 drops, one call each, cost more than the drops themselves."""
    engine.con.execute("; ".join([*(f"DROP VIEW IF EXISTS {name}" for name in ALL_TABLES),
                                  *(f"DROP TABLE IF EXISTS {name}" for name in (*_TEMPS, *others))]))


def combine_fast_customers(engine: Engine, revenue_decimal: str) -> None:
    """Complete the ``_build_customers`` rows of the fast customers (made from their new rows
    and one record update at their old last time) with their old rows (``_build_cust_old``).

    Every new row of a fast customer is after every old one, so: counts and sums add; the
    first channel and first time stay the old ones when there were touchpoints; the latest
    stage, consent and traits are the new rows' when they have one; the home store is the old
    one (a new receipt makes the customer slow: :func:`_mark_fast`); identifiers, merges and
    the rest were computed afresh (they do not read the rows). The revenues add as
    ``revenue_decimal`` (``build.schema.REVENUE_DECIMAL``), as the full build sums them."""
    latest = ("consent_profiling", "consent_marketing", "first_name", "last_name", "city", "province", "birth_date",
              "current_stage")
    engine.con.execute(f"""UPDATE _build_customers x SET
        first_seen_at = CASE WHEN o.n_touchpoints = 0 AND x.n_touchpoints > 0 THEN x.first_seen_at
                             ELSE o.first_seen_at END,
        last_seen_at = CASE WHEN x.n_touchpoints = 0 AND o.n_touchpoints > 0 THEN o.last_seen_at
                            ELSE x.last_seen_at END,
        n_touchpoints = o.n_touchpoints + x.n_touchpoints, n_orders = o.n_orders + x.n_orders,
        revenue = CAST(CAST(o.revenue AS {revenue_decimal}) + CAST(x.revenue AS {revenue_decimal}) AS DOUBLE),
        home_store = coalesce(x.home_store, o.home_store),
        first_channel = CASE WHEN o.n_touchpoints > 0 THEN o.first_channel ELSE x.first_channel END,
        {", ".join(f"{c} = coalesce(x.{c}, o.{c})" for c in latest)}
        FROM _build_cust_old o WHERE o.customer_id = x.customer_id AND o.customer_id IN {_FAST}""")


def stage_state(engine: Engine, session_systems: tuple[str, ...], not_informative: tuple[str, ...]) -> None:
    """Temp ``_build_state_new``: the :data:`STATE` of every scope customer after this build,
    before the staged rows are written: the state at the cut (a tail customer's) followed by
    the staged touchpoints and record updates (all of a whole rebuild's rows; a tail's from
    the cut on, numbered on from the carry)."""
    web, dull = _in(session_systems), _in(not_informative)
    informative = f"coalesce(online, false) AND channel NOT IN {dull}"
    engine.con.execute(f"""CREATE OR REPLACE TEMP TABLE _build_state_new AS
        WITH c AS (SELECT customer_id, t0 IS NOT NULL AND fast AS fast, t0 IS NOT NULL AND NOT fast AS slow
                   FROM _build_cut),
        kept AS (SELECT customer_id, count(*) AS n, count(occurred_at) AS n_at, max(occurred_at) AS last_at FROM (
                     SELECT o.customer_id, o.occurred_at FROM _build_tp_old o JOIN _build_cut c USING (customer_id)
                         WHERE c.t0 IS NOT NULL AND o.occurred_at < c.t0
                     UNION ALL SELECT o.customer_id, o.occurred_at FROM _build_ru_old o JOIN _build_cut c USING (customer_id)
                         WHERE c.t0 IS NOT NULL AND o.occurred_at < c.t0) GROUP BY ALL),
        pre_ev AS (SELECT customer_id, count(*) AS n FROM _build_picked_pre GROUP BY ALL),
        ev AS (SELECT customer_id, count(*) AS n FROM _build_events GROUP BY ALL),
        tp AS (SELECT customer_id, occurred_at, event_id, seq, source_system, channel, channel_rule, online,
                      CAST(session_no AS BIGINT) AS sno FROM _build_touchpoints),
        rn AS (SELECT customer_id, count(*) AS n, count(occurred_at) AS n_at, max(occurred_at) AS last_at FROM (
                   SELECT customer_id, occurred_at FROM tp
                   UNION ALL SELECT customer_id, occurred_at FROM _build_record_updates) GROUP BY ALL),
        l AS (SELECT customer_id, max(occurred_at) AS t_last_at, max(sno) AS t_sno, max(seq) AS t_seq,
                     count(*) FILTER ({informative}) AS n_nd,
                     arg_max(channel, {{'at': occurred_at, 'id': event_id}}) FILTER ({informative}) AS t_nd,
                     max(occurred_at) FILTER ({informative}) AS t_nd_at FROM tp GROUP BY ALL),
        ses AS (SELECT tp.customer_id, count(*) AS n, min(channel) AS ch0, max(channel) AS ch1,
                       min(channel_rule) AS r0, max(channel_rule) AS r1, count(channel_rule) AS nr
                FROM tp JOIN l ON l.customer_id = tp.customer_id AND tp.sno = l.t_sno
                WHERE tp.source_system IN {web} GROUP BY ALL),
        j AS (SELECT c.customer_id, c.fast, l.t_sno IS NULL AS no_tp, l.t_sno = sc.c_sno AS goes_on,
                     st.n_events AS st_events, st.n_rows AS st_rows, st.n_timed AS st_timed, st.last_at AS st_last,
                     sc.c_last_at, sc.c_sno, sc.c_seq, sc.c_nd, sc.c_nd_at, sc.w_n, sc.w_ch0, sc.w_ch1, sc.w_r0,
                     sc.w_r1, sc.w_nr, kept.n AS k_n, kept.n_at AS k_at, kept.last_at AS k_last, pre_ev.n AS pre_n,
                     ev.n AS ev_n, rn.n AS r_n, rn.n_at AS r_at, rn.last_at AS r_last,
                     l.t_last_at, l.t_sno, l.t_seq, l.n_nd, l.t_nd, l.t_nd_at,
                     coalesce(ses.n, 0) AS s_n, ses.ch0, ses.ch1, ses.r0, ses.r1, coalesce(ses.nr, 0) AS s_nr
              FROM c LEFT JOIN {STATE} st ON c.fast AND st.customer_id = c.customer_id
              LEFT JOIN _build_state_cut sc ON (c.fast OR c.slow) AND sc.customer_id = c.customer_id
              LEFT JOIN kept ON c.slow AND kept.customer_id = c.customer_id
              LEFT JOIN pre_ev ON c.slow AND pre_ev.customer_id = c.customer_id
              LEFT JOIN ev ON ev.customer_id = c.customer_id LEFT JOIN rn ON rn.customer_id = c.customer_id
              LEFT JOIN l ON l.customer_id = c.customer_id LEFT JOIN ses ON ses.customer_id = c.customer_id)
        SELECT customer_id,
               coalesce(CASE WHEN fast THEN st_events ELSE pre_n END, 0) + coalesce(ev_n, 0) AS n_events,
               coalesce(CASE WHEN fast THEN st_rows ELSE k_n END, 0) + coalesce(r_n, 0) AS n_rows,
               coalesce(CASE WHEN fast THEN st_timed ELSE k_at END, 0) + coalesce(r_at, 0) AS n_timed,
               greatest(CASE WHEN fast THEN st_last ELSE k_last END, r_last) AS last_at,
               coalesce(t_last_at, c_last_at) AS c_last_at, coalesce(t_sno, c_sno) AS c_sno,
               coalesce(t_seq, c_seq) AS c_seq,
               CASE WHEN coalesce(n_nd, 0) > 0 THEN t_nd ELSE c_nd END AS c_nd,
               CASE WHEN coalesce(n_nd, 0) > 0 THEN t_nd_at ELSE c_nd_at END AS c_nd_at,
               -- the open session's web rows: the kept ones when no touchpoint is new, both when
               -- the new rows go on in it, else the new rows of the last session alone
               CASE WHEN no_tp THEN coalesce(w_n, 0) WHEN goes_on THEN w_n + s_n ELSE s_n END AS w_n,
               CASE WHEN no_tp THEN w_ch0 WHEN goes_on THEN least(w_ch0, ch0) ELSE ch0 END AS w_ch0,
               CASE WHEN no_tp THEN w_ch1 WHEN goes_on THEN greatest(w_ch1, ch1) ELSE ch1 END AS w_ch1,
               CASE WHEN no_tp THEN w_r0 WHEN goes_on THEN least(w_r0, r0) ELSE r0 END AS w_r0,
               CASE WHEN no_tp THEN w_r1 WHEN goes_on THEN greatest(w_r1, r1) ELSE r1 END AS w_r1,
               CASE WHEN no_tp THEN coalesce(w_nr, 0) WHEN goes_on THEN w_nr + s_nr ELSE s_nr END AS w_nr
        FROM j""")


def write_state(engine: Engine) -> None:
    """:data:`STATE` brought up to this build: the scope customers' rows replaced by the clean
    ones of ``_build_state_new`` (every event one row, every row timed); the others' stay."""
    con = engine.con
    con.execute(f"DELETE FROM {STATE} WHERE customer_id IN (SELECT customer_id FROM _build_cut)")
    names = ", ".join(c for c, _ in STATE_COLUMNS)
    con.execute(f"""INSERT INTO {STATE} ({names}) SELECT {names} FROM _build_state_new
        WHERE n_rows > 0 AND n_events = n_rows AND n_timed = n_rows""")

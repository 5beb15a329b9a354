"""SQL of the activation room: enrolments, the outbox (the action log) and suppressions.

Why here: only :mod:`percorso.engine` writes SQL text. The three tables are created on
demand (:func:`ensure_activation_tables`). Their primary keys carry the activation
guarantees: an enrolment is ``journey|customer|trigger occurrence`` and a message is
``enrolment|step``, both inserted with ``ON CONFLICT DO NOTHING``, so evaluating a trigger
twice, or replaying a micro-batch after a crash, never enrols or queues anything twice.
Every value is bound; identifiers are fixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

ENROLMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("enrolment_id", "VARCHAR PRIMARY KEY"), ("journey", "VARCHAR NOT NULL"), ("customer_id", "VARCHAR NOT NULL"),
    ("occurrence", "VARCHAR NOT NULL"), ("triggered_at", "TIMESTAMP NOT NULL"), ("entered_at", "TIMESTAMP NOT NULL"),
    ("variant", "VARCHAR NOT NULL"), ("node", "VARCHAR"), ("due_at", "TIMESTAMP"), ("status", "VARCHAR NOT NULL"),
    ("updated_at", "TIMESTAMP"),
)
OUTBOX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("message_key", "VARCHAR PRIMARY KEY"), ("enrolment_id", "VARCHAR NOT NULL"), ("journey", "VARCHAR NOT NULL"),
    ("step", "VARCHAR NOT NULL"), ("customer_id", "VARCHAR NOT NULL"), ("variant", "VARCHAR NOT NULL"),
    ("channel", "VARCHAR NOT NULL"), ("purpose", "VARCHAR NOT NULL"), ("action", "VARCHAR NOT NULL"),
    ("status", "VARCHAR NOT NULL"), ("reason", "VARCHAR"), ("attempts", "INTEGER NOT NULL"),
    ("created_at", "TIMESTAMP NOT NULL"), ("due_at", "TIMESTAMP NOT NULL"), ("sent_at", "TIMESTAMP"),
    ("error", "VARCHAR"),
)
SUPPRESSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("customer_id", "VARCHAR NOT NULL"), ("channel", "VARCHAR NOT NULL"), ("reason", "VARCHAR NOT NULL"),
    ("suppressed_at", "TIMESTAMP NOT NULL"),
)


def _ddl(name: str, cols: tuple[tuple[str, str], ...]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} (" + ", ".join(f"{c} {t}" for c, t in cols) + ")"


def ensure_activation_tables(engine: Engine) -> None:
    """Create the activation tables when missing (idempotent; skipped on a read-only database)."""
    if engine.read_only:
        return
    engine.run(_ddl("activation_enrolments", ENROLMENT_COLUMNS))
    engine.run(_ddl("activation_outbox", OUTBOX_COLUMNS))
    engine.run(_ddl("activation_suppression", SUPPRESSION_COLUMNS))


@contextmanager
def _view(engine: Engine, rows: pa.Table) -> Iterator[str]:
    """``rows`` as a view for one statement (values never become SQL text)."""
    name = "_activation_rows"
    engine.con.register(name, rows)
    try:
        yield name
    finally:
        engine.con.unregister(name)


def _names(cols: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(c for c, _ in cols)


def insert_new(engine: Engine, table: str, rows: pa.Table) -> int:
    """Insert ``rows`` into ``activation_enrolments`` or ``activation_outbox``, keeping existing keys.

    Returns how many rows were new.
    """
    cols = {"activation_enrolments": ENROLMENT_COLUMNS, "activation_outbox": OUTBOX_COLUMNS}[table]
    if rows.num_rows == 0:
        return 0
    before = engine.count(table)
    with _view(engine, rows) as view:
        engine.run(f"INSERT INTO {table} ({_names(cols)}) SELECT {_names(cols)} FROM {view} ON CONFLICT DO NOTHING")
    return engine.count(table) - before


def claim_due(engine: Engine, now: Any, limit: int, channels: list[str]) -> pa.Table:
    """Mark at most ``limit`` due pending messages of ``channels`` ``sending`` (persisted before
    any is sent) and return every ``sending`` message, oldest due first (``limit`` 0: only
    return those left ``sending``)."""
    if limit > 0:
        engine.run("""UPDATE activation_outbox SET status = 'sending' WHERE message_key IN (
                    SELECT message_key FROM activation_outbox WHERE status = 'pending' AND due_at <= ?
                    AND list_contains(?, channel) ORDER BY due_at, message_key LIMIT ?)""", [now, channels, limit])
    return engine.query("SELECT * FROM activation_outbox WHERE status = 'sending' ORDER BY due_at, message_key")


def release_sending(engine: Engine) -> int:
    """After a crash: messages left ``sending`` go back to ``pending`` (sent again with the same key)."""
    n = engine.query("SELECT count(*) AS n FROM activation_outbox WHERE status = 'sending'").column("n")[0].as_py()
    if n:
        engine.run("UPDATE activation_outbox SET status = 'pending' WHERE status = 'sending'")
    return int(n)


def apply_outcomes(engine: Engine, outcomes: pa.Table) -> None:
    """Write each message's new status, reason, attempts, due time, send time and error."""
    if outcomes.num_rows == 0:
        return
    with _view(engine, outcomes) as view:
        engine.run(f"""UPDATE activation_outbox AS o SET status = n.status, reason = n.reason,
                         attempts = n.attempts, due_at = n.due_at, sent_at = n.sent_at, error = n.error
                       FROM {view} AS n WHERE o.message_key = n.message_key""")


def update_enrolments(engine: Engine, rows: pa.Table) -> None:
    """Move enrolments: new node, due time and status (columns enrolment_id, node, due_at, status, updated_at)."""
    if rows.num_rows == 0:
        return
    with _view(engine, rows) as view:
        engine.run(f"""UPDATE activation_enrolments AS e SET node = m.node, due_at = m.due_at, status = m.status,
                         updated_at = m.updated_at FROM {view} AS m WHERE e.enrolment_id = m.enrolment_id""")


def add_suppression(engine: Engine, customer_id: str, channel: str, reason: str, at: Any) -> None:
    engine.run("INSERT INTO activation_suppression VALUES (?, ?, ?, ?)", [customer_id, channel, reason, at])




# -- the dispatcher's per-batch reads (raw SQL: one statement each, no query compiler on the hot path) --
def _ids_view(engine: Engine, ids: list[str]) -> Any:
    import pyarrow as pa

    return _view(engine, pa.table({"customer_id": pa.array(ids, pa.string())}))


def batch_profiles(engine: Engine, ids: list[str], present: bool = True) -> pa.Table:
    """Contact fields (keyed hashes: the caller opens them) and marketing consent of the batch's
    customers (empty without ``customers``: ``present`` says whether it exists, checked once per dispatch)."""
    if not present:
        return engine.query("SELECT NULL::VARCHAR AS customer_id WHERE false")
    with _ids_view(engine, ids) as v:
        return engine.query(f"""SELECT c.customer_id, c.first_name, c.last_name, c.email_key, c.phone_key, c.home_store,
                                       coalesce(c.consent_marketing, false) AS consent_marketing
                                FROM customers c JOIN {v} USING (customer_id)""")


def batch_suppressed(engine: Engine, ids: list[str], touchpoints: bool = True) -> pa.Table:
    """(customer_id, channel) pairs suppressed: the table, plus unsubscribes, bounces and
    complaints in the customers' touchpoints (e-mail; ``touchpoints``: whether that table exists)."""
    extra = ""
    if touchpoints:
        extra = f"""UNION SELECT DISTINCT t.customer_id, 'email' FROM touchpoints t JOIN {{v}} USING (customer_id)
                    WHERE t.event_type IN ('unsubscribe', 'email_bounce')
                       OR lower(t.event_name) IN ('complaint', 'complained', 'spamreport', 'spam_report')"""
    with _ids_view(engine, ids) as v:
        return engine.query(f"""SELECT s.customer_id, s.channel FROM activation_suppression s JOIN {v} USING (customer_id)
                                {extra.format(v=v)}""")


def batch_history(engine: Engine, ids: list[str], since: Any) -> pa.Table:
    """Messages already sent to the batch's customers since ``since`` (for the caps)."""
    with _ids_view(engine, ids) as v:
        return engine.query(f"""SELECT o.customer_id, o.channel, o.sent_at FROM activation_outbox o
                                JOIN {v} USING (customer_id) WHERE o.status = 'sent' AND o.sent_at > ?""", [since])


def best_identifiers(engine: Engine, ids: list[str], preference: list[str]) -> pa.Table:
    """Each customer's most preferred identifier (type, value) from ``identity_map``, so an
    event written for them resolves to them in the next build."""
    with _ids_view(engine, ids) as v:
        return engine.query(f"""SELECT m.customer_id, arg_min(m.id_type, (list_position(?, m.id_type), m.id_value)) AS id_type,
                                       arg_min(m.id_value, (list_position(?, m.id_type), m.id_value)) AS id_value
                                FROM identity_map m JOIN {v} USING (customer_id)
                                WHERE list_contains(?, m.id_type) GROUP BY m.customer_id""",
                            [preference, preference, preference])


def next_due(engine: Engine) -> Any:
    """When the earliest pending message is due (``None`` when none is)."""
    return engine.query("SELECT min(due_at) AS t FROM activation_outbox WHERE status = 'pending'").column("t")[0].as_py()


__all__ = ["best_identifiers", "next_due", "ENROLMENT_COLUMNS", "OUTBOX_COLUMNS", "SUPPRESSION_COLUMNS", "add_suppression", "apply_outcomes",
           "batch_history", "batch_profiles", "batch_suppressed", "claim_due", "ensure_activation_tables",
           "insert_new", "release_sending", "update_enrolments"]

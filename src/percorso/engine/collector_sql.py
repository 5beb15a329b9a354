"""SQL of the collector's tables: write keys and the log of consumed spool segments.

Why here: only :mod:`percorso.engine` writes SQL text. The tables belong to the collector
room (``percorso.collector``); the CLI creates keys on a stopped project too, so they are
created on demand by :func:`ensure_collector_tables`. Every value is bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from percorso.engine import event_store as ES

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

_DDL = (
    """CREATE TABLE IF NOT EXISTS collector_keys (
        key_id VARCHAR PRIMARY KEY, source_name VARCHAR NOT NULL, key_hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS collector_batches (
        segment VARCHAR NOT NULL, source_name VARCHAR NOT NULL, consumed_at TIMESTAMP NOT NULL,
        events_read BIGINT, accepted BIGINT, duplicates BIGINT, quarantined BIGINT, rejected BIGINT,
        first_received_at TIMESTAMP, last_received_at TIMESTAMP, ingest_run_id VARCHAR)""",
)


def ensure_collector_tables(engine: Engine) -> None:
    """Create the collector tables when missing (idempotent; skipped on a read-only database)."""
    if engine.read_only:
        return
    for ddl in _DDL:
        engine.run(ddl)


def insert_key(engine: Engine, row: dict[str, Any]) -> None:
    engine.run("INSERT INTO collector_keys (key_id, source_name, key_hash, created_at) VALUES (?, ?, ?, ?)",
               [row["key_id"], row["source_name"], row["key_hash"], row["created_at"]])


def list_keys(engine: Engine) -> pa.Table:
    return engine.query("SELECT key_id, source_name, key_hash, created_at, revoked_at FROM collector_keys "
                        "ORDER BY created_at, key_id")


def revoke_key(engine: Engine, key_id_or_source: str, at: Any) -> int:
    """Revoke by key id or every active key of a source; returns how many."""
    n = engine.query("SELECT count(*) AS n FROM collector_keys WHERE (key_id = ? OR source_name = ?) "
                     "AND revoked_at IS NULL", [key_id_or_source, key_id_or_source]).column("n")[0].as_py()
    engine.run("UPDATE collector_keys SET revoked_at = ? WHERE (key_id = ? OR source_name = ?) AND revoked_at IS NULL",
               [at, key_id_or_source, key_id_or_source])
    return int(n)


def segment_consumed(engine: Engine, segment: str) -> bool:
    """Was this spool segment already moved into ``events`` (a replay after a crash)?"""
    rows = engine.query("SELECT count(*) AS n FROM collector_batches WHERE segment = ?", [segment])
    return bool(rows.column("n")[0].as_py())


def consumed_segments(engine: Engine, segments: list[str]) -> set[str]:
    """Which of these spool units were already moved into ``events`` (a replay after a crash)?"""
    if not segments:
        return set()
    rows = engine.query("SELECT segment FROM collector_batches WHERE list_contains(?, segment)", [segments])
    return set(rows.column("segment").to_pylist())


def events_after(engine: Engine, rowid: int) -> bool:
    """Is there an ``events`` row past ``rowid`` (the last build's watermark)?"""
    rows = engine.query(f"SELECT count(*) AS n FROM (SELECT 1 FROM {ES.STORE} WHERE rowid > ? LIMIT 1)", [rowid])
    return bool(rows.column("n")[0].as_py())


def batch_totals(engine: Engine) -> dict[str, Any]:
    """Sums over every consumed segment (``percorso collector stats``)."""
    rows = engine.query(
        "SELECT count(*) AS segments, coalesce(sum(events_read), 0) AS events_read, "
        "coalesce(sum(accepted), 0) AS accepted, coalesce(sum(duplicates), 0) AS duplicates, "
        "coalesce(sum(quarantined), 0) AS quarantined, coalesce(sum(rejected), 0) AS rejected, "
        "max(consumed_at) AS last_consumed_at FROM collector_batches").to_pylist()
    return rows[0]


def defer_checkpoints(engine: Engine, mb: int) -> None:
    """Let the write-ahead log grow to ``mb`` MB before a commit checkpoints (DuckDB's default: 16 MB).

    Why: a micro-batch commits four times (ingest, bookkeeping, identity, build) and its WAL
    passes 16 MB at 1M events, so each of its commits checkpointed: ~1.4 s of a 40,000-event
    cycle's wall time (0.3-0.5 CPU s, the rest waiting for the disk). The consumer checkpoints
    when the spool is empty instead (:func:`checkpoint`); a crash replays at most ``mb`` of log.
    """
    engine.run(f"SET checkpoint_threshold = '{int(mb)}MiB'")


def checkpoint(engine: Engine) -> bool:
    """Write the log into the file now; False when another transaction prevents it (retried later)."""
    import duckdb

    try:
        engine.run("CHECKPOINT")
    except duckdb.Error:
        return False
    return True


def set_threads(engine: Engine, n: int) -> int:
    """Set the engine's worker threads to ``n`` (> 0) and return the previous setting."""
    before = int(engine.con.execute("SELECT current_setting('threads')").fetchall()[0][0])
    engine.con.execute(f"SET threads = {int(n)}")
    return before

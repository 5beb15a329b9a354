"""SQL of the service tables: API tokens, the audit log and background jobs.

Why here: only :mod:`percorso.engine` writes SQL text. These tables belong to the server
room (``percorso.server``) but the CLI also reads and writes them when no server runs
(``percorso token create`` on a stopped project), so they are created on demand by
:func:`ensure_service_tables`, like the tables later stages create when they build.
Every value is bound; no identifier comes from a user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from percorso.engine.backend import Engine

_DDL = (
    """CREATE TABLE IF NOT EXISTS api_tokens (
        token_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, role VARCHAR NOT NULL,
        token_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP,
        revoked_at TIMESTAMP, last_used_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        audit_id VARCHAR, occurred_at TIMESTAMP NOT NULL, who VARCHAR, role VARCHAR, action VARCHAR NOT NULL,
        route VARCHAR, query VARCHAR, status INTEGER, row_count BIGINT, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, status VARCHAR NOT NULL,
        created_by VARCHAR, created_at TIMESTAMP NOT NULL, started_at TIMESTAMP,
        finished_at TIMESTAMP, params VARCHAR, result VARCHAR, error VARCHAR)""",
)


def ensure_service_tables(engine: Engine) -> None:
    """Create the service tables when missing (idempotent; skipped on a read-only database)."""
    if engine.read_only:
        return
    for ddl in _DDL:
        engine.run(ddl)


# -- tokens --------------------------------------------------------------------------------
def insert_token(engine: Engine, row: dict[str, Any]) -> None:
    engine.run(
        "INSERT INTO api_tokens (token_id, name, role, token_hash, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [row["token_id"], row["name"], row["role"], row["token_hash"], row["created_at"], row["expires_at"]],
    )


def list_tokens(engine: Engine) -> pa.Table:
    return engine.query(
        "SELECT token_id, name, role, created_at, expires_at, revoked_at, last_used_at, token_hash "
        "FROM api_tokens ORDER BY created_at, token_id"
    )


def revoke_token(engine: Engine, token_id_or_name: str, at: Any) -> int:
    """Revoke by id or by name; returns how many tokens were revoked."""
    before = engine.query(
        "SELECT count(*) AS n FROM api_tokens WHERE (token_id = ? OR name = ?) AND revoked_at IS NULL",
        [token_id_or_name, token_id_or_name],
    ).column("n")[0].as_py()
    engine.run(
        "UPDATE api_tokens SET revoked_at = ? WHERE (token_id = ? OR name = ?) AND revoked_at IS NULL",
        [at, token_id_or_name, token_id_or_name],
    )
    return int(before)


def touch_tokens(engine: Engine, used: list[tuple[str, Any]]) -> None:
    """Record when tokens were last used (batched by the server, never per request)."""
    for token_id, at in used:
        engine.run("UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?", [at, token_id])


# -- audit ---------------------------------------------------------------------------------
def append_audit(engine: Engine, rows: pa.Table) -> None:
    engine.append_arrow("audit_log", rows)


def append_missing_audit(engine: Engine, rows: pa.Table) -> int:
    """Append the rows whose ``audit_id`` is not in ``audit_log`` yet (a journal replayed twice adds
    nothing); how many were added."""
    from percorso.engine.backend import quote_ident

    cols = ", ".join(quote_ident(c) for c in rows.column_names)
    with engine._write_lock:
        engine.con.register("_percorso_audit_replay", rows)
        try:
            added = engine.con.execute(
                f"INSERT INTO audit_log ({cols}) SELECT {cols} FROM _percorso_audit_replay r "
                "WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.audit_id = r.audit_id)").fetchall()
        finally:
            engine.con.unregister("_percorso_audit_replay")
    return int(added[0][0]) if added else 0


def read_audit(engine: Engine, since: Any = None, who: str | None = None, limit: int = 1000) -> pa.Table:
    return engine.query(
        "SELECT occurred_at, who, role, action, route, query, status, row_count, detail FROM audit_log "
        "WHERE (? IS NULL OR occurred_at >= ?) AND (? IS NULL OR who = ?) ORDER BY occurred_at, audit_id LIMIT ?",
        [since, since, who, who, limit],
    )


# -- jobs ----------------------------------------------------------------------------------
def insert_job(engine: Engine, row: dict[str, Any]) -> None:
    engine.run(
        "INSERT INTO jobs (job_id, kind, status, created_by, created_at, params) VALUES (?, ?, ?, ?, ?, ?)",
        [row["job_id"], row["kind"], row["status"], row["created_by"], row["created_at"], row["params"]],
    )


def update_job(engine: Engine, job_id: str, **values: Any) -> None:
    allowed = ("status", "started_at", "finished_at", "result", "error")
    sets = [k for k in values if k in allowed]
    if not sets:
        return
    assignments = ", ".join(f"{k} = ?" for k in sets)  # k is one of the allowlisted names above
    engine.run(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [values[k] for k in sets] + [job_id])


def read_jobs(engine: Engine, job_id: str | None = None) -> pa.Table:
    return engine.query(
        "SELECT job_id, kind, status, created_by, created_at, started_at, finished_at, params, result, error "
        "FROM jobs WHERE (? IS NULL OR job_id = ?) ORDER BY created_at DESC, job_id",
        [job_id, job_id],
    )


def fail_interrupted_jobs(engine: Engine, at: Any) -> int:
    """Mark jobs left ``queued``/``running`` by a killed server as failed; returns how many."""
    n = engine.query("SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')").column("n")[0].as_py()
    engine.run(
        "UPDATE jobs SET status = 'failed', finished_at = ?, "
        "error = 'interrupted: the server stopped before the job finished; run it again (imports are idempotent)' "
        "WHERE status IN ('queued', 'running')",
        [at],
    )
    return int(n)


"""SQL of the build stage that Ibis cannot express (JSON list arithmetic, in-place updates).

Identifiers come from code, never from users; values are bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from percorso.engine.backend import quote_ident as qi

if TYPE_CHECKING:
    from percorso.engine.backend import Engine


def fill_order_item_counts(engine: Engine, table: str = "orders") -> None:
    """Lines and pieces of each order from its ``items`` JSON array (``qty`` per line)."""
    engine.run(
        f"""UPDATE {qi(table)} SET
            n_lines = coalesce(json_array_length(items), 0)::INTEGER,
            n_items = coalesce(list_sum(list_transform(
                CAST(json_extract(items, '$[*].qty') AS VARCHAR[]), lambda x: TRY_CAST(x AS DOUBLE))), 0)
        WHERE n_lines IS NULL"""
    )


def delete_customers(engine: Engine, table: str, scope_table: str) -> None:
    """Delete the rows of ``table`` whose customer is listed in ``scope_table``."""
    engine.con.execute(f"DELETE FROM {qi(table)} WHERE customer_id IN (SELECT customer_id FROM {qi(scope_table)})")


def delete_missing_customers(engine: Engine, table: str) -> None:
    """Delete rows whose customer no longer exists in ``event_customers`` (retired by a merge)."""
    engine.con.execute(
        f"""DELETE FROM {qi(table)} WHERE customer_id NOT IN
            (SELECT DISTINCT customer_id FROM event_customers WHERE customer_id IS NOT NULL)"""
    )


def replace_table(engine: Engine, table: str, staged: str) -> None:
    """``table`` becomes a copy of ``staged`` (inside the caller's transaction)."""
    engine.con.execute(f"CREATE OR REPLACE TABLE {qi(table)} AS SELECT * FROM {qi(staged)}")


def append_table(engine: Engine, table: str, staged: str) -> None:
    """Append the rows of ``staged`` to ``table`` by column name."""
    cols = ", ".join(qi(c) for c in engine.columns(table))
    engine.con.execute(f"INSERT INTO {qi(table)} ({cols}) SELECT {cols} FROM {qi(staged)}")


def drop(engine: Engine, table: str) -> None:
    engine.con.execute(f"DROP TABLE IF EXISTS {qi(table)}")


def snapshot_built_events(engine: Engine) -> None:
    """Remember each event's and identifier's customer at this build (the next incremental build compares)."""
    engine.con.execute(
        "CREATE OR REPLACE TABLE built_events AS "
        "SELECT event_id, customer_id FROM event_customers WHERE customer_id IS NOT NULL"
    )
    engine.con.execute(
        "CREATE OR REPLACE TABLE built_identity AS SELECT customer_id, id_type, id_value FROM identity_map"
    )


def read_fingerprint(engine: Engine) -> str | None:
    """The build settings fingerprint of the last build (None before the first)."""
    if not engine.has_table("build_fingerprint"):
        return None
    rows = engine.con.execute("SELECT value FROM build_fingerprint").fetchall()
    return rows[0][0] if rows else None


def write_fingerprint(engine: Engine, value: str) -> None:
    engine.con.execute("CREATE OR REPLACE TABLE build_fingerprint AS SELECT ?::VARCHAR AS value", [value])

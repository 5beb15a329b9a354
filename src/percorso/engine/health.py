"""Is the project database whole? A quick test before every write, a full one for ``percorso check``.

Why: DuckDB reads a database lazily. A file cut short (a copy that stopped, a full disk
during a checkpoint) still opens, counts its rows and even accepts an insert, and only the
checkpoint at close fails; an import then "succeeded" while every later read fails. The
quick test compares the file's length with the blocks its header declares (no data read);
the full test also reads every column of every table, so DuckDB verifies each block's
checksum.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from percorso.engine.backend import quote_ident as qi
from percorso.engine.migrations import MIGRATIONS, REQUIRED_TABLES

HEADER_BYTES = 3 * 4096
"""DuckDB's file header and its two database headers precede the first block."""
WHAT_TO_DO = ("restore the database from a backup, or move it aside and rebuild it: `percorso ingest` "
              "the source files again, then `percorso build` (the files are the source of truth)")


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``ok`` or a problem, with what was checked."""

    check: str
    ok: bool
    detail: str


def truncation(con: duckdb.DuckDBPyConnection, path: str) -> str | None:
    """Why the file is shorter than its declared blocks, or None when its length is whole."""
    if path == ":memory:" or not os.path.exists(path):
        return None
    row = con.execute("PRAGMA database_size").fetchall()
    if not row:
        return None
    block_size, total_blocks, free_blocks = int(row[0][2]), int(row[0][3]), int(row[0][5])
    need = HEADER_BYTES + block_size * total_blocks
    have = os.path.getsize(path)
    if not total_blocks or have >= need:
        return None
    # DuckDB itself leaves the file shorter than its declared blocks when the last ones are
    # free (a 1M-event build ends one 256 KiB block short with 175 free): a whole number of
    # blocks, no more than the free ones. A copy or a disk that stopped cuts anywhere.
    short = need - have
    if short % block_size == 0 and short // block_size <= free_blocks:
        return None
    return f"the file is {have:,} bytes but its header declares {need:,} (cut short by {short:,} bytes)"


def quick_check(con: duckdb.DuckDBPyConnection, path: str) -> str | None:
    """The problem found without reading data (file length, the catalog), or None."""
    cut = truncation(con, path)
    if cut:
        return cut
    try:
        con.execute("SELECT count(*) FROM information_schema.tables").fetchall()
    except duckdb.Error as exc:
        return f"its catalog cannot be read ({str(exc).splitlines()[0]})"
    return None


def full_check(path: str | Path) -> list[Finding]:
    """Every check of ``percorso check``: open, length, migrations, tables, counts, a full read.

    Opens the file read-only and changes nothing. The full read hashes every column of every
    table, so DuckDB reads (and checksums) every block in use.
    """
    path = str(path)
    out: list[Finding] = []
    if not os.path.exists(path):
        return [Finding("open", False, f"no database at {path}; import files first (`percorso ingest`)")]
    try:
        con = duckdb.connect(path, read_only=True, config={"autoinstall_known_extensions": False,
                                                           "autoload_known_extensions": False})
    except duckdb.Error as exc:
        return [Finding("open", False, f"cannot be opened: {str(exc).splitlines()[0]}")]
    try:
        out.append(Finding("open", True, path))
        cut = truncation(con, path)
        out.append(Finding("length", cut is None, cut or "the file holds every block its header declares"))
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        out.append(Finding("tables", not missing, "missing: " + ", ".join(missing) if missing
                           else f"{len(REQUIRED_TABLES)} required tables present"))
        if "schema_migrations" in tables:
            try:
                done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
                want = {v for v, _, _ in MIGRATIONS}
                out.append(Finding("migrations", want <= done, f"applied {sorted(done)}" + (
                    "" if want <= done else f"; pending {sorted(want - done)} (any writing command applies them)")))
            except duckdb.Error as exc:
                out.append(Finding("migrations", False, str(exc).splitlines()[0][:300]))
        for t in sorted(tables):
            try:
                n = con.execute(f"SELECT count(*) FROM {qi(t)}").fetchall()[0][0]
                con.execute(f"SELECT count(hash(COLUMNS(*))) FROM {qi(t)}").fetchall()
                out.append(Finding(f"read {t}", True, f"{n:,} rows read"))
            except duckdb.Error as exc:
                out.append(Finding(f"read {t}", False, str(exc).splitlines()[0][:300]))
    finally:
        con.close()
    return out

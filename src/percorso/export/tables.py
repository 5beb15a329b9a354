"""Stored tables to files: ``percorso export TABLE --out FILE``.

Why an allowlist: the table name comes from the command line and ends up in SQL; only the
tables percorso writes can be exported, and a typo gets a "did you mean".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from percorso.errors import InputError, NotFound, suggest
from percorso.export.files import XLSX_MAX_ROWS, CsvProfile
from percorso.export.xlsx import write_xlsx

if TYPE_CHECKING:
    from ibis.expr.types import Table

    from percorso.engine import Engine

#: Tables that can be exported, with what they hold.
EXPORTABLE: dict[str, str] = {
    "touchpoints": "every event with its customer, channel, session and stage (record keeping excluded)",
    "record_updates": "record-keeping events per customer (CRM rows, identify calls): never touchpoints",
    "orders": "orders and returns, online and in store",
    "customers": "one row per person found: identifiers, consent, traits; revenue net of returns",
    "quarantine": "rows rejected at import, with reason and raw text",
    "events": "imported events, as stored",
    "ingest_runs": "one row per imported file",
    "campaign_costs": "daily campaign costs",
    "identity_map": "identifier → customer",
    "identity_flags": "identifiers flagged as hubs",
    "identity_merges": "customer ids retired by merges",
    "builds": "one row per build",
    "customer_value": "CLV predictions per customer",
}

_FORMATS = {".parquet": "parquet", ".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".jsonl": "json"}


def export_table(engine: Engine, table: str, out: str | Path, *, csv_profile: CsvProfile = "it") -> int:
    """Write a stored table to ``out`` (format from the extension); returns the row count."""
    from percorso.engine.export_sql import copy_table

    if table not in EXPORTABLE:
        raise InputError(f"table '{table}' cannot be exported; {suggest(table, EXPORTABLE)}")
    if not engine.has_table(table):
        raise NotFound(f"table '{table}' does not exist yet (run `percorso build` first?)")
    path = Path(out)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of '{path.name}': use one of {', '.join(_FORMATS)}")
    if csv_profile not in ("it", "standard"):
        raise InputError(f"csv profile '{csv_profile}' unknown; valid: it, standard")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = engine.count(table)
    if fmt == "xlsx":
        if n > XLSX_MAX_ROWS:
            raise InputError(f"table '{table}' has {n:,} rows, more than Excel's {XLSX_MAX_ROWS:,}; "
                             "export to .csv or .parquet instead")
        from percorso.engine.localtime import with_local_columns

        rows = with_local_columns(exported_rows(engine, table), engine.time_zone)
        write_xlsx(engine.execute(rows), path, sheet=table)
    else:
        copy_table(engine, table, path, fmt, csv_profile=csv_profile, rows=exported_rows(engine, table))
    return n


def exported_rows(engine: Engine, table: str) -> Table:
    """The rows a table exports: ``touchpoints`` with every detail of its events (page, referrer,
    region, properties, source name: not stored in it, ADR 0061), each customer's journey in its
    order (customer, then position): the join to the events gives the rows in no order, and a
    file read top to bottom or filtered in Excel should show one journey after the other."""
    t = engine.table(table)
    if table != "touchpoints":
        return t
    from percorso.build.details import with_details

    return with_details(engine, t).order_by(["customer_id", "seq"])

"""File ingestion: source files → ``events`` (+ ``quarantine``, ``ingest_runs``, ``pii_vault``,
``contact_profiles``, ``campaign_costs``). Entry point: :func:`ingest_files`."""

from percorso.ingest.pipeline import IngestReport, ingest_files

__all__ = ["IngestReport", "ingest_files"]

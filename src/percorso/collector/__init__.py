"""The Segment-compatible collector: HTTP intake, fsync'd spool, consumer into ``events``.

``keys`` (write keys per source), ``envelope`` (checking and stamping one call), ``intake``
(one request), ``spool`` (durable appends), ``consumer`` (spool → ingest pipeline → build),
``service`` (the running collector and its statistics). The routes are in
``percorso.server.routes.collector``. See docs/collector.md and ADR 0023.
"""

"""SQL constructs that Ibis cannot express, one named function each (DuckDB dialect).

Domain code never writes SQL text; when it needs one of these constructs it calls the
function here with an :class:`~percorso.engine.backend.Engine`. Identifiers are quoted
with :func:`quote_ident`, values are always bound.
"""

from __future__ import annotations

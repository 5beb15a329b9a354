"""The one gateway to the database.

Only this package imports the database driver (``duckdb``). Everyone else receives an
:class:`Engine` and passes it Ibis expressions, Arrow tables to append, or calls one of the
named SQL constructs in :mod:`percorso.engine.dialect` where Ibis cannot express something.
"""

from percorso.engine.backend import Engine, open_engine
from percorso.engine.ibis_compilers import load_compilers_lazily

# before any Ibis backend or ``ibis.to_sql`` of this process loads a dialect's compiler
load_compilers_lazily()

__all__ = ["Engine", "open_engine"]

"""Ibis's SQL compilers imported one by one (:mod:`percorso.engine.ibis_compilers`, issue 15):
an analysis process loads DuckDB's compiler only, and compiles the same SQL as with all twenty.

Each check runs in a fresh interpreter: the test process may already hold Ibis's compilers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from percorso.engine.ibis_compilers import PACKAGE, reexports

SRC = Path(__file__).resolve().parents[1] / "src"

#: Expressions over percorso's own constructs (windows, a join, a builtin UDF, a median):
#: their DuckDB SQL, printed as JSON.
_COMPILE = """
import json, sys
if sys.argv[1] == "eager":
    import ibis.backends.sql.compilers  # Ibis's __init__, every dialect
from percorso.engine import Engine
from percorso.engine.dialect import epoch_seconds
import ibis

engine = Engine(":memory:")
engine.con.execute("CREATE TABLE t (customer_id VARCHAR, node VARCHAR, occurred_at TIMESTAMP, step BIGINT)")
t = engine.table("t")
w = ibis.window(group_by=t.customer_id, order_by=[t.occurred_at, t.step])
nxt = t.mutate(to_node=t.node.lead().over(w), gap=epoch_seconds(t.node.lead().over(w).isnull().ifelse(
    t.occurred_at, t.occurred_at)) - epoch_seconds(t.occurred_at))
agg = nxt.group_by(["node", "to_node"]).aggregate(n=nxt.count(), people=nxt.customer_id.nunique(),
                                                 med=nxt.gap.median())
exprs = [agg.order_by(ibis.desc("n")).limit(5), agg.anti_join(t, t.node == agg.node).select("node"),
         t.filter(t.occurred_at.date() > ibis.date("2025-01-01")).distinct()]
out = {"sql": [str(ibis.to_sql(e, dialect="duckdb")) for e in exprs] + [engine.compile(exprs[0])],
       "rows": engine.execute(exprs[0]).shape[0],
       "compilers": sorted(m for m in sys.modules if m.startswith("ibis.backends.sql.compilers."))}
engine.close()
print(json.dumps(out))
"""


def _run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ibis_init_only_reexports_its_compilers():
    """The day Ibis's ``__init__`` does more than re-export (a new Ibis), the finder steps aside
    and every analysis pays for twenty compilers again: this says so."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    where = reexports(spec.origin)
    assert where is not None, f"{spec.origin} does more than re-export its compilers: see percorso.engine.ibis_compilers"
    assert where["DuckDBCompiler"] == f"{PACKAGE}.duckdb" and where["PySparkCompiler"] == f"{PACKAGE}.pyspark"


def test_an_engine_loads_duckdbs_compiler_only_and_compiles_the_same_sql():
    import importlib.util

    dialects = set(reexports(importlib.util.find_spec(PACKAGE).origin).values())
    lazy, eager = _run(_COMPILE, "lazy"), _run(_COMPILE, "eager")
    assert dialects & set(lazy["compilers"]) == {f"{PACKAGE}.duckdb"}
    assert dialects <= set(eager["compilers"])
    assert lazy["sql"] == eager["sql"] and lazy["rows"] == eager["rows"] == 0


def test_the_lazy_package_answers_as_ibis_does():
    code = """
import json
from percorso.engine.ibis_compilers import load_compilers_lazily
assert load_compilers_lazily()
import ibis
import ibis.backends.sql.compilers as sc
from ibis.backends.sql.compilers import PostgresCompiler
t = ibis.table({"a": "int64"}, name="t")
try:
    getattr(sc, "no_such_dialect")
    missing = None
except AttributeError as exc:
    missing = str(exc)
try:
    ibis.to_sql(t, dialect="no_such_dialect")
    unknown = None
except ValueError as exc:
    unknown = str(exc)
print(json.dumps({
    "same": PostgresCompiler is sc.postgres.PostgresCompiler is sc.PostgresCompiler,
    "all": sorted(sc.__all__), "sql": str(ibis.to_sql(t.filter(t.a > 1), dialect="mysql")),
    "missing": missing, "unknown": unknown,
}))
"""
    got = _run(code)
    assert got["same"] and "DuckDBCompiler" in got["all"] and "TrinoCompiler" in got["all"]
    assert "`t0`" in got["sql"]   # MySQL's quoting: the dialect's own compiler
    assert "no_such_dialect" in got["missing"] and "no_such_dialect" in got["unknown"]


@pytest.mark.parametrize("extra", ["import os", "register_everything()", "from ibis.backends.sql.compilers.a import *",
                                   "__all__ = ['AthenaCompiler', 'Other']"])
def test_an_init_that_does_more_is_left_to_ibis(tmp_path, extra):
    init = tmp_path / "__init__.py"
    body = f'"""Doc."""\nfrom __future__ import annotations\n\n__all__ = ["AthenaCompiler"]\n\n' \
           f"from {PACKAGE}.athena import AthenaCompiler\n"
    init.write_text(body, encoding="utf-8")
    assert reexports(init) == {"AthenaCompiler": f"{PACKAGE}.athena"}
    init.write_text(body + extra + "\n", encoding="utf-8")
    assert reexports(init) is None

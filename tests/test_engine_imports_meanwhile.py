"""pandas imported while DuckDB works (:mod:`percorso.engine.imports_meanwhile`, issue 15): the
first ``Engine.execute`` of a process, which converts the Arrow result itself, answers as Ibis's
``execute`` does (what every later one runs), for tables, scalars, nulls, lists and memtables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_FIRST_AND_LATER = """
import pickle, sys
from percorso.engine import Engine
import ibis

engine = Engine(":memory:")
engine.con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a', TIMESTAMP '2024-01-01 10:00', [1, 2], 1.5),"
                   " (2, NULL, NULL, NULL, NULL), (3, 'c', TIMESTAMP '2024-01-02 11:30', [], 2.5)) v(n, s, ts, xs, x)")
t = engine.table("t")
assert "pandas" not in sys.modules
first = [engine.execute(t.order_by("n"))]   # the first: imports pandas meanwhile
assert "pandas" in sys.modules
m = ibis.memtable({"n": [1, 3], "label": ["uno", "tre"]})   # (a memtable of a dict imports pandas)
exprs = [t.order_by("n"), t.n.sum(), t.x.mean(), t.join(m, "n").select("n", "label", "ts").order_by("n"),
         t.filter(t.n > 9), t.s.isnull().name("missing").as_table().order_by("missing")]
later_first = [engine.ibis.execute(e) for e in exprs[:1]]
rest_split = []
from percorso.engine.backend import _ibis_frame
for e in exprs[1:]:
    rest_split.append(_ibis_frame(e, engine.ibis._to_duckdb_relation(e).to_arrow_table()))
rest_ibis = [engine.ibis.execute(e) for e in exprs[1:]]
sys.stdout.buffer.write(pickle.dumps((first + rest_split, later_first + rest_ibis)))
"""


def test_the_first_execute_answers_as_ibis_does():
    import pickle

    import pandas as pd

    src = Path(__file__).resolve().parents[1] / "src"
    out = subprocess.run([sys.executable, "-c", _FIRST_AND_LATER], capture_output=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(src)})
    ours, ibis_ = pickle.loads(out.stdout)
    assert len(ours) == len(ibis_) == 6
    for a, b in zip(ours, ibis_, strict=True):
        if isinstance(b, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
            assert list(a.dtypes) == list(b.dtypes)
        else:
            assert type(a) is type(b) and a == b

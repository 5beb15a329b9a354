"""Connected components in the engine (label propagation) give scipy's partition (issue 21).

Oracle: :func:`scipy.sparse.csgraph.connected_components` on the same edges; the engine's
labels must be the smallest node of each scipy component (the canonical partition).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_cc

import pytest

from percorso.engine import Engine
from percorso.identity.components import connected_components


@pytest.fixture(scope="module")
def eng() -> Engine:
    """One in-memory database for the module (opening one runs every migration)."""
    with Engine(":memory:") as engine:
        yield engine


def scipy_labels(n: int, a: list[int], b: list[int]) -> dict[int, int]:
    """node → smallest node of its component, from scipy."""
    g = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, lab = scipy_cc(g, directed=False)
    smallest: dict[int, int] = {}
    for node, c in enumerate(lab):
        smallest.setdefault(int(c), node)
    return {node: smallest[int(c)] for node, c in enumerate(lab)}


def engine_labels(engine: Engine, n: int, a: list[int], b: list[int]) -> tuple[dict[int, int], int]:
    edges = engine.register_arrow("_cc_edges", pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())}))
    nodes = engine.register_arrow("_cc_nodes", pa.table({"node": pa.array(range(n), pa.int64())}))
    lab, rounds = connected_components(engine, edges, nodes)
    out = engine.execute(lab)
    engine.drop_temp(lab)
    return dict(zip(out["node"].astype(int), out["label"].astype(int), strict=True)), rounds


def test_hand_example(eng: Engine) -> None:
    # 0-1-2 chain, 3-4, 5 alone, 6-7-8-6 triangle with a self loop on 8
    a, b = [1, 2, 4, 6, 7, 8, 8], [0, 1, 3, 7, 8, 6, 8]
    got, _ = engine_labels(eng, 9, a, b)
    assert got == {0: 0, 1: 0, 2: 0, 3: 3, 4: 3, 5: 5, 6: 6, 7: 6, 8: 6}


def test_long_chain_needs_few_rounds(eng: Engine) -> None:
    """Pointer jumping: a 200-node path numbered backwards converges in ~log2(200) rounds."""
    n = 200
    a, b = list(range(n - 1, 0, -1)), list(range(n - 2, -1, -1))
    got, rounds = engine_labels(eng, n, a, b)
    assert set(got.values()) == {0}
    assert rounds <= 12


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))))
def test_same_partition_as_scipy(eng: Engine, case: tuple[int, list[tuple[int, int]]]) -> None:
    n, pairs = case
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    got, _ = engine_labels(eng, n, a, b)
    assert got == scipy_labels(n, a, b)

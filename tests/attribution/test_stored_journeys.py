"""Stored journeys (ADR 0038): every attribution and ROI answer read from them equals the one
computed live, they are computed once per data version, and a new data version replaces them.

The live answer is the oracle: the same runner on a read-only connection to the same built
demo (a read-only database never stores, :func:`percorso.attribution.stored.usable`).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from percorso.analysis import run
from percorso.attribution import stored as S
from percorso.attribution.analysis import AttributionQuery
from percorso.attribution.roi import RoiQuery
from percorso.engine import open_engine
from percorso.project import open_project
from tests.server.conftest import demo_template  # noqa: F401 - the shared 400-person demo

QUERIES = [
    AttributionQuery(),
    AttributionQuery(models=("first", "time_decay", "markov", "shapley"), date_from=date(2025, 3, 1),
                     date_to=date(2025, 9, 30), lookback_days=14),
    AttributionQuery(conversion="purchase_online", level="channel_campaign", ci_samples=20, seed=3),
    AttributionQuery(online_breakdown=True, direct="credit", date_to=date(2025, 6, 15)),
    RoiQuery(models=("linear",), conversion="purchase_store"),
]


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:  # noqa: F811
    target = tmp_path / "demo"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns(".percorso", "*.log"))
    return target


def _frames(result):
    out = {"frame": result.frame}
    for name in ("long", "totals"):
        if getattr(result, name, None) is not None:
            out[name] = getattr(result, name)
    return out


def test_stored_answers_equal_live_ones(demo: Path) -> None:
    with open_project(demo) as p:
        assert S.usable(p.engine)
        stored = [run(p.engine, q, p.settings) for q in QUERIES]
        assert p.engine.count(S.INDEX) == 5  # one per journey shape (the dates and models are not one)
        settings = p.settings
    live_engine = open_engine(demo / "percorso.duckdb", read_only=True)
    try:
        assert not S.usable(live_engine)
        for q, got in zip(QUERIES, stored, strict=True):
            want = run(live_engine, q, settings)
            for name, frame in _frames(want).items():
                pd.testing.assert_frame_equal(_frames(got)[name], frame, check_exact=False, rtol=1e-9, obj=f"{q.kind} {name}")
            assert got.meta["n_paths"] == want.meta["n_paths"]
    finally:
        live_engine.close()


def test_computed_once_per_data_version(demo: Path) -> None:
    from percorso.build.digest import read_digests, write_digests

    with open_project(demo) as p:
        e = p.engine
        run(e, AttributionQuery(), p.settings)
        first = e.execute(e.table(S.INDEX))
        run(e, AttributionQuery(date_from=date(2025, 5, 1), models=("last",)), p.settings)  # same journeys
        assert e.execute(e.table(S.INDEX)).equals(first)
        # a build that changed the data writes new digests: the entry is stale, recomputed, the old one dropped
        digests = read_digests(e)
        n, h, c = digests["customers"]
        write_digests(e, {**digests, "customers": (n, (h + 1) % 1_000_000_007, c)})
        run(e, AttributionQuery(), p.settings)
        now = e.execute(e.table(S.INDEX))
        assert len(now) == 1 and now["name"].iloc[0] == first["name"].iloc[0]
        assert now["data_version"].iloc[0] != first["data_version"].iloc[0]
        # the rows name their customers: an erasure's sweep (by column name) reaches them
        assert "customer_id" in e.columns(now["name"].iloc[0])


def test_a_build_that_changes_the_data_recomputes_the_stored_shapes(demo: Path) -> None:
    from percorso.build.digest import read_digests, write_digests
    from percorso.value.refresh import present_artefacts, refresh_after_build

    with open_project(demo) as p:
        e = p.engine
        assert "attribution" not in present_artefacts(e)
        run(e, RoiQuery(models=("last",), conversion="purchase_online"), p.settings)
        before = e.execute(e.table(S.INDEX))
        assert "attribution" in present_artefacts(e)
        digests = read_digests(e)
        n, h, c = digests["touchpoints"]
        write_digests(e, {**digests, "touchpoints": (n, (h + 1) % 1_000_000_007, c)})  # as a build would
        report = refresh_after_build(p)
        assert report.refreshed["attribution"].startswith("journey shapes recomputed: 1 ")
        after = e.execute(e.table(S.INDEX))
        assert list(after["key"]) == list(before["key"]) and list(after["shape"]) == list(before["shape"])
        assert after["data_version"].iloc[0] != before["data_version"].iloc[0]
        # the next answer reads them: nothing computed again
        run(e, RoiQuery(models=("linear",), conversion="purchase_online", date_from=date(2025, 4, 1)), p.settings)
        assert e.execute(e.table(S.INDEX)).equals(after)


def test_drill_downs_from_stored_journeys_list_the_live_customers(demo: Path) -> None:
    from percorso.attribution.analysis import NOT_ATTRIBUTABLE, TOTAL

    queries = [AttributionQuery(models=("linear",)),
               RoiQuery(models=("last",), conversion="purchase_online", date_from=date(2025, 3, 1))]
    with open_project(demo) as p:
        stored = [run(p.engine, q, p.settings) for q in queries]
        cells = [[{"node": n} for n in stored[0].frame["node"]],
                 [{"channel": c, "campaign": k} for c, k in zip(stored[1].frame["channel"], stored[1].frame["campaign"])]]
        assert {"node": NOT_ATTRIBUTABLE} in cells[0] and {"node": TOTAL} in cells[0]
        got = [[set(r.customers(limit=100_000, **sel)["customer_id"]) for sel in cs] for r, cs in zip(stored, cells)]
        settings = p.settings
    live_engine = open_engine(demo / "percorso.duckdb", read_only=True)
    try:
        for q, cs, have in zip(queries, cells, got, strict=True):
            live = run(live_engine, q, settings)
            want = [set(live.customers(limit=100_000, **sel)["customer_id"]) for sel in cs]
            assert have == want and any(have)
    finally:
        live_engine.close()

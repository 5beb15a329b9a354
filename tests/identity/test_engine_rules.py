"""The resolver's rules in Ibis (ADR 0039) give the resolver's answer, on DuckDB.

The oracle is :func:`percorso.identity.resolver.resolve` (SQL plus the numpy round solver) on
the same generated demo: the Ibis run (what ``percorso lake build`` runs on Spark, checked
there by ``tests/spark/test_spark_build.py``) must find the same customers, as sets of
identifiers, and give every event the same key identifier. The demo has links the rules refuse
(hub flags, untrusted merges) and a device link, so a rule left out would show.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.identity.engine_rules import resolve_in_engine
from percorso.project import open_project


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from percorso.demo import run_demo

    folder = tmp_path_factory.mktemp("rules") / "demo"
    run_demo(folder, customers=250, seed=7)
    return folder


def test_same_customers_and_event_keys_as_the_resolver(demo: Path) -> None:
    with open_project(demo, read_only=True) as p:
        e = p.engine
        refused = e.con.execute("SELECT count(*) FROM identity_links WHERE status <> 'used'").fetchall()[0][0]
        devices = e.con.execute("SELECT count(*) FROM identity_device_links").fetchall()[0][0]
        assert refused > 0 and devices > 0
        got = resolve_in_engine(p, e, e.table("events"))
        mine = e.execute(got.nodes.select("id_type", "id_value", "label"))
        ref = e.execute(e.table("identity_map").select("id_type", "id_value", "customer_id"))
        groups = {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in mine.groupby("label")}
        want = {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in ref.groupby("customer_id")}
        assert groups == want
        keys = e.execute(got.event_keys.join(got.nodes, "id_hash").select("event_id", "id_type", "id_value"))
        ec = e.table("event_customers")
        ref_keys = e.execute(ec.filter(ec.id_hash.notnull()).select("event_id", "id_type", "id_value"))
        assert set(map(tuple, keys.to_numpy())) == set(map(tuple, ref_keys.to_numpy()))
        # on DuckDB the key is the resolver's own
        assert set(e.execute(got.nodes.id_hash).astype("uint64")) == set(e.execute(e.table("identity_map").id_hash))


def _groups(e: object, table: object, key: str) -> set[frozenset[tuple[str, str]]]:
    df = e.execute(table.select("id_type", "id_value", key))  # type: ignore[attr-defined]
    return {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in df.groupby(key)}


@pytest.mark.parametrize(("basis", "device_linked"), [("consent", True), ("consent", False),
                                                      ("legitimate_interest", True), ("legitimate_interest", False)])
def test_analytics_consent_gives_the_resolvers_partition(demo: Path, tmp_path: Path, basis: str,
                                                         device_linked: bool) -> None:
    """Consent withheld for some cookies and users (denials, late grants, ties, no record):
    the Ibis rules stitch exactly the cookies the resolver stitches, under both bases, with
    the device-linked cookies granted (the link stays) or denied (it goes)."""
    import shutil

    from percorso.identity.resolver import resolve
    from tests.identity.helpers import add_analytics_consent

    copy = tmp_path / "p"
    shutil.copytree(demo, copy)
    with open_project(copy) as p:
        e = p.engine
        before = _groups(e, e.table("identity_map"), "customer_id")
        assert add_analytics_consent(p, device_linked=device_linked) > 100
        p.settings.privacy = {"legal_basis": {"analytics": basis}}
        resolve(p, full=True)
        want = _groups(e, e.table("identity_map"), "customer_id")
        devices = e.con.execute("SELECT count(*) FROM identity_device_links").fetchall()[0][0]
        assert (devices > 0) == device_linked   # the device link's consent rule is exercised both ways
        assert want != before   # the records change who is who, so a rule left out would show
        got = resolve_in_engine(p, e, e.table("events"))
        assert _groups(e, got.nodes, "label") == want
        keys = e.execute(got.event_keys.join(got.nodes, "id_hash").select("event_id", "id_type", "id_value"))
        ec = e.table("event_customers")
        ref_keys = e.execute(ec.filter(ec.id_hash.notnull()).select("event_id", "id_type", "id_value"))
        assert set(map(tuple, keys.to_numpy())) == set(map(tuple, ref_keys.to_numpy()))


def test_erasure_pins_stay_flagged(demo: Path, tmp_path: Path) -> None:
    """After an erasure that pins others' shared identifiers (ADR 0028), the Ibis rules keep
    them flagged and give the resolver's partition; without the pins they would not."""
    import shutil

    from percorso.privacy.erasure import erase
    from tests.identity.helpers import flagged_sharers

    copy = tmp_path / "p"
    shutil.copytree(demo, copy)
    with open_project(copy) as p:
        erased = flagged_sharers(p, 6)
        report = erase(p, erased, rewrite=False)
        assert report.identifiers_kept_flagged > 0
    with open_project(copy) as p:
        e = p.engine
        want = _groups(e, e.table("identity_map"), "customer_id")
        got = resolve_in_engine(p, e, e.table("events"))
        assert _groups(e, got.nodes, "label") == want
        assert got.solved["components"] > 0
        pins = set(e.execute(e.table("identity_pins").id_hash))
        assert pins and not pins & set(e.execute(got.nodes.id_hash).astype("uint64"))
        e.con.execute("ALTER TABLE identity_pins RENAME TO identity_pins_off")
        unpinned = resolve_in_engine(p, e, e.table("events"))
        assert pins & set(e.execute(unpinned.nodes.id_hash).astype("uint64"))   # the pins are what kept them out



def test_a_certain_hub_leaves_the_graph_first(tmp_path: Path) -> None:
    """A cookie that carried five people's e-mails (limit 3), each e-mail safe (one person's,
    from the CRM), is certainly flagged: the rules cut it before forming the components
    (ADR 0044), and the partition is still the resolver's. A cookie with three e-mails is not
    certain (three is within the limit); the solver decides it."""
    from percorso.identity.resolver import resolve
    from tests.identity.helpers import add_events, new_project, partition

    p = new_project(tmp_path)
    try:
        rows = [{"source_name": "crm", "crm_id": f"c{i}", "email_key": f"e{i}"} for i in range(8)]
        rows += [{"source_name": "web", "anonymous_id": "kiosk", "email_key": f"e{i}"} for i in range(5)]
        rows += [{"source_name": "web", "anonymous_id": "family", "email_key": f"e{i}"} for i in range(5, 8)]
        add_events(p, rows)
        resolve(p, full=True)
        got = resolve_in_engine(p, p.engine, p.engine.table("events"))
        assert got.solved["certain_hubs"] == 1
        assert _groups(p.engine, got.nodes, "label") == partition(p)
        kept = set(p.engine.execute(got.nodes.id_value))
        assert "kiosk" not in kept and {f"e{i}" for i in range(8)} <= kept
    finally:
        p.close()

"""Without profiling consent a person gets no per-person prediction and no persona; results say how many."""

from __future__ import annotations

from percorso.analysis import run
from percorso.privacy.consent import allowed
from percorso.project import open_project
from percorso.value.clv.analysis import CLVQuery
from percorso.value.personas import PersonasQuery


def test_profiling_opt_in_leaves_people_out(demo):
    with (demo / "percorso.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[privacy.legal_basis]\nprofiling = "consent"\n')
    with open_project(demo) as p:
        e = p.engine
        ok = set(e.execute(allowed(p, "profiling"))["customer_id"])
        # the demo's loyalty and CRM forms carry a profiling flag: some said yes, some no, most nothing
        assert 0 < len(ok) < e.count("customers")
        clv = run(e, CLVQuery(), p.settings)
        have = set(e.execute(e.table("customer_value").select("customer_id"))["customer_id"])
        assert have and have <= ok
        buyers = e.execute(e.table("customers").filter(lambda t: t.n_orders > 0).count())
        # the fit's summary holds the buyers; those without consent are counted, not predicted
        assert clv.meta["left_out_without_profiling_consent"] == int(buyers) - len(have)
        personas = run(e, PersonasQuery(k=3, seed=1), p.settings)
        members = set(e.execute(e.table("customer_personas").select("customer_id"))["customer_id"])
        assert members and members <= ok
        with_tp = int(e.execute(e.table("customers").filter(lambda t: t.n_touchpoints > 0).count()))
        assert personas.meta["left_out_without_profiling_consent"] == with_tp - len(members)

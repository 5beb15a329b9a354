"""The reacting demo end to end on real files: the holdout estimate counts exactly the simulated reactions.

Why (issue 20's bias check): bench/activation.py at 20,000 customers gave cart-journey uplifts
above the simulated truth in its first three seeds. The truth is the mean, over the treated
enrolments, of each one's response probability (zero for those who bought anyway or got no
e-mail in the goal window); the estimate is treated minus control conversion. Their difference
is (the arms' conversion gap before any reaction: the holdout's randomisation noise) + (the
reactions drawn minus their expectation) + (conversions the reaction orders add or remove beyond
their own enrolment: identity linking an order by e-mail to someone else, a window or goal
counted differently). This test pins the last term to zero by hand: 80 customers from a CRM
file and a web shop file, the journey over three weeks, the reaction orders written and
imported like any web-shop export, a rebuild, then each arm's conversions counted by hand.
"""

from __future__ import annotations

import json

from percorso.activation.demo import reactions, run_period, write_orders
from percorso.activation.model import journey_from_dict
from percorso.activation.results import journey_results
from percorso.activation.store import EXAMPLES
from percorso.build import run_build
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

N = 80
CRM = "crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;city;province;consent_profiling;consent_marketing;origin\n"
ECOM = ("order_id,line_no,order_date,user_id,email,phone,anonymous_id,sku,product_name,category,quantity,"
        "unit_price,discount,currency,coupon_code,shipping_cost,status\n")


def _files(tmp_path):  # noqa: ANN001, ANN202
    crm = tmp_path / "crm.csv"
    crm.write_bytes((CRM + "".join(f"K{i:03d};2024-02-01T10:00:00;Nome{i};Rossi;c{i}@example.it;;;Milano;MI;1;1;web\n"
                                   for i in range(N))).encode("latin-1"))
    web, shop = [], [ECOM]
    for i in range(N):
        day = 1 + i % 10
        web.append({"type": "track", "event": "Product Added", "messageId": f"a{i}", "userId": f"u{i}",
                    "timestamp": f"2024-03-{day:02d}T09:00:00Z", "context": {"traits": {"email": f"c{i}@example.it"}},
                    "properties": {"product_id": "MAT-1", "price": 300.0}})
        if i % 4 == 0:  # buys anyway two days later: converted, the e-mail cannot move them
            shop.append(f"W{i},1,2024-03-{day + 2:02d}T15:00:00+01:00,u{i},c{i}@example.it,,,MAT-1,Materasso,materassi,"
                        f"1,300.00,0.00,EUR,,0.00,completed\n")
    web.append({"type": "page", "messageId": "end", "anonymousId": "z", "timestamp": "2024-03-25T12:00:00Z",
                "context": {"page": {"url": "https://shop.it/"}}})
    (tmp_path / "web.jsonl").write_text("".join(json.dumps(m) + "\n" for m in web), encoding="utf-8")
    (tmp_path / "shop.csv").write_text("".join(shop), encoding="utf-8")
    return crm, tmp_path / "web.jsonl", tmp_path / "shop.csv"


def test_reaction_orders_add_exactly_their_own_conversions(tmp_path) -> None:
    root = tmp_path / "p"
    init_project(root)
    with open(root / "percorso.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[activation]\ncaps = []\nquiet_start = 0\nquiet_end = 0\n")
    crm, web, shop = _files(tmp_path)
    with open_project(root) as project:
        for source, path in (("crm", crm), ("web", web), ("ecommerce", shop)):
            (rep,) = ingest_files(project, source, [path])
            assert rep.quarantined == 0, source
        run_build(project)
        run_period(project, ["cart_abandonment"], every_days=2)
        hit, truth, before = reactions(project, "cart_abandonment", seed=3)
        engine = project.engine
        e = engine.execute(engine.table("activation_enrolments"))
        c = engine.execute(engine.table("customers").select("customer_id", "first_name"))
        arm = dict(zip(e["customer_id"], e["variant"]))
        buys_anyway = {cid for cid, name in zip(c["customer_id"], c["first_name"])  # the CRM's Nome<i>
                       if isinstance(name, str) and int(name[4:]) % 4 == 0}
        # by hand: who converts in each arm before any reaction is who bought anyway
        for variant in ("treated", "control"):
            mine = [cid for cid, v in arm.items() if v == variant]
            assert before[f"n_{variant}"] == len(mine)
            assert before[f"conversions_{variant}"] == len(buys_anyway & set(mine))
        assert len(arm) == N and before["n_control"] > 0 and len(hit) > 0  # not vacuous (seed 3 draws reactions)
        assert not set(hit["customer_id"]) & buys_anyway
        path = root / "sources" / "reactions.csv"
        path.parent.mkdir(exist_ok=True)
        write_orders(path, hit, project.settings.project.time_zone)
        ingest_files(project, "ecommerce", [path])
        run_build(project)
        row = journey_results(engine, journey_from_dict(EXAMPLES["cart_abandonment"])).iloc[0]
    assert (row["n_treated"], row["n_control"]) == (before["n_treated"], before["n_control"])
    assert row["conversions_treated"] == before["conversions_treated"] + len(hit)
    assert row["conversions_control"] == before["conversions_control"]
    nt, nc = before["n_treated"], before["n_control"]
    by_hand = (before["conversions_treated"] + len(hit)) / nt - before["conversions_control"] / nc
    assert abs(row["uplift"] - by_hand) < 1e-12
    # the truth: every treated enrolment that did not buy anyway got its e-mail within the window here
    # (beats every other day, no caps, no quiet hours, consent from the CRM), so each one's probability
    # is the 'new' persona's or the 'buyer' one's; the mean over the treated is the truth
    assert 0 < truth < 0.15

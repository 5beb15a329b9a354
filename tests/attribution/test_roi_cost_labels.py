"""ROI with cost files that name channels in their own words (ADR 0056), computed by hand.

Events (one clickstream, last-click model): u1 and u2 came by Paid Search (the file says
``paid_search`` and ``cpc``), campaign spring, and bought for 120 € and 80 €; u3 by e-mail
(``newsletter``), campaign promo, 50 €; u4 by an affiliate (``affiliate``), campaign deal, 40 €.

Costs, in four other spellings and one unknown word, and a source with its own label:

=========================  ==================  =====  ===========  =======  ====================
file row (channel)         reports' channel    cost   conversions  revenue  ROI (rev - cost)/cost
=========================  ==================  =====  ===========  =======  ====================
cpc, spring, 1 Mar         Paid Search | spring   30
paid_search, spring, 2 Mar Paid Search | spring   20  → 50 €: 2    200 €    (200 - 50)/50 = 3.0
ricerca_a_pagamento, brand Paid Search | brand    10  0            0        -1.0
Newsletter, promo          Email | promo          25  1            50       (50 - 25)/25 = 1.0
TikTok, launch (unknown)   TikTok | launch        15  0            0        -1.0 (shown, not dropped)
"Rete partner", deal       Affiliates | deal       8  1            40       (40 - 8)/8 = 4.0
(agency source's mapping)
=========================  ==================  =====  ===========  =======  ====================

Total: cost 108, 4 conversions, 290 €, ROI (290 - 108)/108. Before ADR 0056 no cost row
matched a conversion: each attributed row showed cost 0 and every cost sat in a row
of its own with no return.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from percorso.analysis.base import run
from percorso.attribution import RoiQuery
from percorso.attribution.analysis import TOTAL
from percorso.build import run_build
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

CLICKS = ("user_id,event,ts,channel,campaign,revenue\n"
          "u1,page_view,2025-03-01 10:00:00,paid_search,spring,\n"
          "u1,purchase,2025-03-01 10:05:00,paid_search,spring,120\n"
          "u2,page_view,2025-03-02 10:00:00,cpc,spring,\n"
          "u2,purchase,2025-03-02 10:05:00,cpc,spring,80\n"
          "u3,page_view,2025-03-03 10:00:00,newsletter,promo,\n"
          "u3,purchase,2025-03-03 10:05:00,newsletter,promo,50\n"
          "u4,page_view,2025-03-04 10:00:00,affiliate,deal,\n"
          "u4,purchase,2025-03-04 10:05:00,affiliate,deal,40\n")
COSTS = ("data,canale,campagna,costo\n"
         "2025-03-01,cpc,spring,30\n"
         "2025-03-02,paid_search,spring,20\n"
         "2025-03-01,ricerca_a_pagamento,brand,10\n"
         "2025-03-03,Newsletter,promo,25\n"
         "2025-03-01,TikTok,launch,15\n")
AGENCY = "date,channel,campaign,cost\n2025-03-04,Rete partner,deal,8\n"
#: By hand (module doc): (channel, campaign) → (cost, conversions, revenue, roi).
EXPECTED = {
    ("Paid Search", "spring"): (50.0, 2.0, 200.0, 3.0),
    ("Paid Search", "brand"): (10.0, 0.0, 0.0, -1.0),
    ("Email", "promo"): (25.0, 1.0, 50.0, 1.0),
    ("TikTok", "launch"): (15.0, 0.0, 0.0, -1.0),
    ("Affiliates", "deal"): (8.0, 1.0, 40.0, 4.0),
}


def test_roi_matches_costs_named_in_other_words(tmp_path: Path) -> None:
    init_project(tmp_path / "p")
    cfg = tmp_path / "p" / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[sources.agency]\nkind = "campaign_costs"\n'
                   'mapping = { "channel.Rete partner" = "Affiliates" }\n', encoding="utf-8")
    files = {}
    for name, text in (("clicks.csv", CLICKS), ("costs.csv", COSTS), ("agency.csv", AGENCY)):
        files[name] = tmp_path / name
        files[name].write_text(text, encoding="utf-8")
    with open_project(tmp_path / "p") as p:
        ingest_files(p, "clickstream", [files["clicks.csv"]])
        ingest_files(p, "campaign_costs", [files["costs.csv"]])
        ingest_files(p, "agency", [files["agency.csv"]])
        run_build(p)
        frame = run(p.engine, RoiQuery(models=("last",))).frame
    rows = {(r.channel, r.campaign): (r.cost, r.conversions, r.revenue, r.roi) for r in frame.itertuples()
            if r.channel != TOTAL and (r.cost or r.conversions)}
    assert rows.keys() == EXPECTED.keys()
    for key, want in EXPECTED.items():
        assert rows[key] == pytest.approx(want), key
    total = frame[frame["channel"] == TOTAL].iloc[0]
    assert (total["cost"], total["conversions"], total["revenue"]) == (108.0, 4.0, 290.0)
    assert total["roi"] == pytest.approx((290 - 108) / 108)

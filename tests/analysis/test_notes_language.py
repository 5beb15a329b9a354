"""The notes printed under a result follow the project's language on the CLI and the page's on the
dashboard (``AnalysisResult.notes(lang)``); ``meta["notes"]`` (the API's) and the JSON keys stay.

Before, health's consent note, cost to serve's default rates and the journeys' "steps read as
source event names" were printed in both languages in one line, the last also on dashboard pages.
"""

from __future__ import annotations

import json

from journey_cli import journey_project
from typer.testing import CliRunner

from percorso.analysis.base import run
from percorso.analysis.wire import result_from_wire, result_to_wire
from percorso.cli import app
from percorso.journeys.funnel import FunnelQuery
from percorso.project import open_project

GA4 = {  # web events kept under their GA4 names: view_item is stored as type product_view
    "anna": [("product_view", "2024-03-01 10:00", {"event_name": "view_item"}),
             ("add_to_cart", "2024-03-01 10:05", {"event_name": "add_to_cart"}),
             ("purchase", "2024-03-01 10:09", {"event_name": "purchase", "revenue": 30.0})],
    "bruno": [("product_view", "2024-03-02 10:00", {"event_name": "view_item"})],
}
STEPS = {"it": "passi letti come nomi di evento della sorgente (--node event_name): add_to_cart, view_item",
         "en": "steps read as source event names (--node event_name): add_to_cart, view_item"}
CONSENT = {"it": "consenso: non misurato, nessuna sorgente dà il consenso marketing",
           "en": "consent: not measured, no source gives marketing consent"}
RATES = {"it": "tariffe predefinite: call_center_contact 4,50 €, return_handling 8,00 €, delivery 6,90 €, "
               "margin_rate 45,0 %",
         "en": "default rates: call_center_contact €4.50, return_handling €8.00, delivery €6.90, margin_rate 45.0%"}
WHERE = {"it": "; impostale in percorso.toml [value.cost_to_serve]", "en": "; set them in percorso.toml"}


def _run(*args: str):
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res


def _set_locale(root, lang: str) -> None:
    toml = root / "percorso.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('locale = "it"', f'locale = "{lang}"').replace('locale = "en"', f'locale = "{lang}"'),
                    encoding="utf-8")


def test_cli_notes_in_the_project_language(tmp_path):
    root = journey_project(tmp_path / "p", GA4)
    with open_project(root) as p:   # no source gives consent (a clickstream alone)
        p.engine.run("UPDATE customers SET consent_marketing = NULL")
    keys = {}
    for lang, other in (("it", "en"), ("en", "it")):
        _set_locale(root, lang)
        funnel = _run("funnel", "view_item", "add_to_cart", "--project", str(root), "--format", "json")
        assert STEPS[lang] in funnel.stderr and STEPS[other] not in funnel.stderr
        health = _run("health", "--project", str(root), "--format", "json")
        assert CONSENT[lang] in health.stderr and CONSENT[other] not in health.stderr
        cost = _run("cost-to-serve", "--project", str(root), "--format", "json")
        assert RATES[lang] in cost.stderr and WHERE[lang] in cost.stderr
        assert RATES[other] not in cost.stderr and WHERE[other] not in cost.stderr
        # standard output: the same JSON rows, keys unchanged, in either language
        keys[lang] = [sorted(json.loads(r.stdout)[0]) for r in (funnel, health, cost)]
    assert keys["it"] == keys["en"]
    assert {"band", "avg_score", "revenue"} <= set(keys["it"][1])


def test_steps_note_on_the_api_and_the_page(tmp_path):
    root = journey_project(tmp_path / "p", GA4)
    with open_project(root) as p:
        res = run(p.engine, FunnelQuery(steps=("view_item", "add_to_cart")), p.settings)
    # the API's meta keeps the one line in both languages
    assert res.meta["notes"] == [f"passi letti come nomi di evento della sorgente / steps read as source event names "
                                 f"(--node event_name): add_to_cart, view_item"]
    # a dashboard page reads the result from the server's answer (wire) and says the note in its language
    page = result_from_wire(result_to_wire(res))
    assert page.notes("it") == [STEPS["it"]] and page.notes("en") == [STEPS["en"]]

"""Dashboard notes in the page's language, escaped: Valore's health and cost-to-serve sections show
the notes the CLI prints (consent not measured, ADR 0060; the default rates of the cost to
serve), and Attribuzione its notes whatever the project's language."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from markupsafe import escape

from percorso.project import init_project, open_project
from percorso.server.tokens import Role, create_token
from percorso.testing import journeys_for
from percorso.value.health import CONSENT_NOTES
from tests.web.conftest import get

PEOPLE = {"anna": [("page_view", "2024-03-01 10:00"), ("purchase", "2024-03-01 10:05", {"revenue": 50.0})],
          "bruno": [("page_view", "2024-03-02 10:00")]}


def _notes(root: Path, vista: str) -> dict[str, tuple[str, list[str]]]:
    """Language → (the page, its notes as shown) of one Valore section, from a fresh app (no cache)."""
    from percorso.server.app import create_app

    with open_project(root) as p:
        token, _ = create_token(p.engine, f"web-{vista}-{len(list(root.parent.iterdir()))}", Role.viewer)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        pages = {lang: get(client, "/valore", token, vista=vista, lang=lang) for lang in ("it", "en")}
    return {lang: (html, re.findall(r'<p class="note">(.*?)</p>', html, re.S)) for lang, html in pages.items()}


def test_health_says_consent_is_not_measured_in_the_page_language(tmp_path):
    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, PEOPLE)
        # no source gives consent (a clickstream alone): nobody has one on record
        p.engine.con.execute("UPDATE customers SET consent_marketing = NULL")
    shown = _notes(root, "health")
    for lang, other in (("it", "en"), ("en", "it")):
        html, notes = shown[lang]
        assert str(escape(CONSENT_NOTES[lang])) in notes and CONSENT_NOTES[other] not in html
    assert shown["it"][1][0].startswith("consenso: non misurato, nessuna sorgente dà il consenso marketing")
    assert shown["en"][1][0].startswith("consent: not measured, no source gives marketing consent")

    with open_project(root) as p:   # one customer with a consent on record: consent is measured
        p.engine.con.execute("UPDATE customers SET consent_marketing = customer_id = 'anna'")
    assert not any("consen" in n for _html, notes in _notes(root, "health").values() for n in notes)


def test_cost_to_serve_names_its_default_rates_in_the_page_language(tmp_path):
    root = tmp_path / "p"
    init_project(root, name="t")   # no [value.cost_to_serve]: every rate is a default
    with open_project(root) as p:
        journeys_for(p.engine, PEOPLE)
    shown = _notes(root, "cost")
    (it,) = [n for n in shown["it"][1] if "predefinite" in n]
    (en,) = [n for n in shown["en"][1] if "default rates" in n]
    # numbers as the page writes them (the defaults: delivery 6.90 €, margin 45 %), words in one language
    assert it.startswith("tariffe predefinite: call_center_contact 4,50 €, return_handling 8,00 €, delivery 6,90 €, "
                         "margin_rate 45,0 %") and "impostale in percorso.toml [value.cost_to_serve]" in it
    assert en.startswith("default rates: call_center_contact €4.50, return_handling €8.00, delivery €6.90, "
                         "margin_rate 45.0%") and "set them in percorso.toml [value.cost_to_serve]" in en
    assert "default rates" not in shown["it"][0] and "predefinite" not in shown["en"][0]

    cfg = root / "percorso.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[value.cost_to_serve]\ndelivery = 5.0\n", encoding="utf-8")
    (it,) = [n for n in _notes(root, "cost")["it"][1] if "predefinite" in n]
    assert "delivery" not in it and "margin_rate 45,0 %" in it     # a rate the project sets is no default


def test_attribution_notes_follow_the_page_not_the_project(tmp_path):
    """The project is Italian: ``meta["notes"]`` are Italian (the CLI's); the English page says them in English."""
    from percorso.attribution.analysis import NOTES
    from percorso.server.app import create_app

    root = tmp_path / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, PEOPLE)
        token, _ = create_token(p.engine, "web-attribution", Role.viewer)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        pages = {lang: get(client, "/attribuzione", token, lang=lang) for lang in ("it", "en")}
    # the page's models include last and last_non_direct, under GA4's Direct convention (the default)
    it, en = (str(escape(t)) for t in NOTES["direct_ignored"])
    assert f'<p class="note">{it}</p>' in pages["it"] and en not in pages["it"]
    assert f'<p class="note">{en}</p>' in pages["en"] and it not in pages["en"]

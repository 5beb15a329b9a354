"""Every word of the dashboard has its Italian, and Italian is the default."""

from __future__ import annotations

from percorso.web.catalog import extracted, untranslated
from percorso.web.i18n import format_month, format_number, gettext_for


def test_every_message_of_templates_and_code_has_an_italian_translation() -> None:
    ids = {m.id for m in extracted() if m.id}
    assert len(ids) > 60 and "Journey map" in ids and "Log in" in ids  # the extraction reads templates and code
    assert untranslated() == []


def test_catalog_and_formats_in_both_languages() -> None:
    assert gettext_for("it")("Journey map") == "Mappa del percorso"
    assert gettext_for("en")("Journey map") == "Journey map"
    assert format_month("2026-12-01", "it") == "dic 2026" and format_month("2026-12-01", "en") == "Dec 2026"
    assert format_number(0.4204, "share", "it") == "42,0 %" and format_number(0.4204, "share", "en") == "42.0%"
    assert format_number(1234.5, "money", "it") == "1.234,50 €"
    assert format_number(36, "duration", "it", unit="hours") == "36,0 ore"
    assert format_number(100, "duration", "it", unit="hours") == "4,2 giorni"
    assert format_number(90, "duration", "en", unit="minutes") == "90.0 min"


def test_data_words_are_translated_part_by_part_and_unknown_ones_left_alone() -> None:
    from percorso.web.words import say

    it, en = gettext_for("it"), gettext_for("en")
    assert say("Store / POS (online)", it) == "Negozio / cassa (online)"  # a separator at the end: no catalog header
    assert say("add_to_cart → purchase", it) == "aggiunta al carrello → acquisto"
    assert say("add_to_cart → purchase", en) == "add to cart → purchase"
    assert say("Email · email_click", it) == "Email · clic nell'e-mail"
    assert say("https://shop.it/p_1", it) == "https://shop.it/p_1" and say("Paid Search", it) == "Paid Search"
    assert say(None, it) == "" and say("", en) == ""

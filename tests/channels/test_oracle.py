"""The Ibis classifier, run in a real DuckDB file, equals the pure-Python classifier."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.channels import classify, classify_values, load_rules, parse_url_campaign, parse_url_values
from percorso.engine import Engine

RULES = load_rules()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One real DuckDB file for the whole module (a new file per example is slow)."""
    with Engine(tmp_path_factory.mktemp("db") / "oracle.duckdb") as e:
        yield e

SOURCES = ["google", "Google", "bing", "facebook", "l.facebook.com", "youtube", "amazon.it", "trovaprezzi",
           "idealo.it", "libero.it", "email", "sms", "(direct)", "newsletter", "partner", "www.google.com",
           "tiktok", "chatgpt.com", " Instagram ", ""]
MEDIUMS = ["cpc", "CPC", "ppc", "paid_social", "retargeting", "display", "cpm", "banner", "organic",
           "social", "social media", "sm", "video", "referral", "app", "link", "email", "e-mail",
           "affiliate", "audio", "sms", "web-push", "mobile", "notification", "(none)", "(not set)", "unpaid", ""]
CAMPAIGNS = ["brand", "summer-shop", "workshop", "shopping", "cross-network", "Cross-Network_X", "(not set)", ""]
CLICKS = ["gclid", "gbraid", "wbraid", "fbclid", "igshid", "srsltid", "msclkid", "GCLID"]
REFERRERS = ["https://www.google.it/search?q=a", "https://l.facebook.com/l.php", "http://www.corriere.it/x",
             "https://shop.example.it/p", "https://WWW.YouTube.com/", "android-app://com.google.android.gm/",
             "not a url", "https://search.libero.it/?q=x", "https://chatgpt.com/"]
PAGES = ["https://shop.example.it/landing", "https://other.example.it/"]
SYSTEMS = ["web", "pos", "esp", "events", "call_center", "app"]
EVENTS = ["page_view", "store_visit", "fair_visit", "receipt", "sales_meeting", "flyer_received"]
GIVEN = ["Store / POS", "Loyalty", " ", ""]


def opt(values):
    return st.one_of(st.none(), st.sampled_from(values))


def _words(values):
    # vocabulary words, sometimes glued with random text, to hit regex edges
    return st.one_of(opt(values), st.builds(lambda a, b: a + b, st.sampled_from(values),
                                             st.text("abcp-_ ", max_size=4)))


ROW = st.fixed_dictionaries({
    "utm_source": _words(SOURCES),
    "utm_medium": _words(MEDIUMS),
    "utm_campaign": _words(CAMPAIGNS),
    "click_id_type": opt(CLICKS),
    "referrer": opt(REFERRERS),
    "page_url": opt(PAGES),
    "source_system": opt(SYSTEMS),
    "event_type": opt(EVENTS),
    "channel": opt(GIVEN),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=40))
def test_ibis_classifier_equals_python_oracle(engine, rows):
    if True:
        data = pa.table({"_i": list(range(len(rows))),
                         **{k: pa.array([r[k] for r in rows], pa.string()) for k in ROW_KEYS}})
        engine.create_table("visits", data)
        out = engine.to_arrow(classify(engine.table("visits"), RULES).order_by("_i")).to_pylist()
    for row, got in zip(rows, out, strict=True):
        expected = classify_values(
            row["utm_source"], row["utm_medium"], row["utm_campaign"], row["click_id_type"], row["referrer"],
            RULES, page_url=row["page_url"], source_system=row["source_system"], event_type=row["event_type"],
            channel=row["channel"],
        )
        assert (got["channel"], got["channel_rule"]) == expected, row


ROW_KEYS = ["utm_source", "utm_medium", "utm_campaign", "click_id_type", "referrer", "page_url",
            "source_system", "event_type", "channel"]


def test_missing_columns_are_null(tmp_path):
    with Engine(tmp_path / "m.duckdb") as engine:
        engine.create_table("v", pa.table({"utm_source": ["google", None], "utm_medium": ["cpc", None]}))
        got = engine.to_arrow(classify(engine.table("v"), RULES)).to_pylist()
    assert [(g["channel"], g["channel_rule"]) for g in got] == [
        ("Paid Search", "ga4-2026:6"), ("Direct", "ga4-2026:2")]
    assert set(got[0]) == {"utm_source", "utm_medium", "channel", "channel_rule"}


URLS = st.builds(
    lambda base, parts: base + ("?" + "&".join(parts) if parts else ""),
    st.sampled_from(["https://shop.example.it/p", "https://shop.example.it/p#frag"]),
    st.lists(st.sampled_from([
        "utm_source=Google", "UTM_MEDIUM=cpc", "utm_campaign=Saldi%20Estate", "utm_campaign=a+b",
        "utm_term=Scarpe+Rosse", "utm_content=banner_1", "gclid=abc123", "fbclid=FB.1", "msclkid=m1",
        "srsltid=s1", "utm_source=", "x=1", "gbraid=g%2Fb",
    ]), max_size=6),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(urls=st.lists(st.one_of(st.none(), URLS), min_size=1, max_size=20))
def test_parse_url_campaign_equals_python(engine, urls):
    if True:
        engine.create_table("u", pa.table({"_i": list(range(len(urls))), "page_url": pa.array(urls, pa.string())}))
        t = engine.table("u")
        got = engine.to_arrow(t.select("_i", **parse_url_campaign(t.page_url)).order_by("_i")).to_pylist()
    for url, g in zip(urls, got, strict=True):
        g.pop("_i")
        assert g == parse_url_values(url), url


def test_parse_url_values_by_hand():
    v = parse_url_values("https://x.it/?utm_source=Google&utm_medium=CPC&utm_campaign=Saldi%20Estate"
                         "&utm_term=Scarpe+Rosse&fbclid=F1&gclid=G1")
    assert v == {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "saldi estate",
                 "utm_term": "Scarpe Rosse", "utm_content": None, "click_id_type": "gclid", "click_id": "G1"}


def test_ibis_hand_rows(engine):
    rows = {
        "utm_source": ["www.google.com", None, None, None, "google"],
        "utm_medium": ["cpc", None, None, None, "cpc"],
        "referrer": [None, "https://www.google.it/?q=x", "https://www.corriere.it/a", None, None],
        "click_id_type": [None, None, None, "gclid", None],
        "source_system": [None, None, None, None, "pos"],
        "channel": [None, None, None, None, None],
    }
    engine.create_table("hand", pa.table({"_i": list(range(5)), **{k: pa.array(v, pa.string()) for k, v in rows.items()}}))
    got = engine.to_arrow(classify(engine.table("hand"), RULES).order_by("_i")).to_pylist()
    assert [g["channel"] for g in got] == ["Paid Search", "Organic Search", "Referral", "Paid Search", "Store / POS"]
    assert [g["channel_rule"] for g in got] == ["ga4-2026:6", "ga4-2026:17", "ga4-2026:21", "ga4-2026:1", "offline:2"]

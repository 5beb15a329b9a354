"""Attivazione on the server side: the journeys with the holdout numbers of ``journey results``,
the customers for analysts only, and switching a journey on or off through a CSRF-protected form.

The journeys run once over the demo's last day (enrol, one dispatch with a recording sender),
so the numbers are the project's own; each figure on the page is checked against the Python
API (:func:`percorso.activation.service.results`) and the outbox table, never against page text.
"""

from __future__ import annotations

import re
from html import unescape

import pytest

from percorso.activation.model import journey_from_dict
from percorso.activation.outbox import dispatch
from percorso.activation.runner import run_journeys
from percorso.activation.service import results
from percorso.activation.store import EXAMPLES, get_journey, save_journey
from tests.web.conftest import get

NAMES = ("cart_abandonment", "browse_abandonment")


@pytest.fixture(scope="module")
def journeys_site(site):  # type: ignore[no-untyped-def]
    client, tokens, root = site

    def prepare() -> None:
        p = client.app.state.percorso.project
        live = [journey_from_dict({**EXAMPLES[n], "enabled": True}) for n in NAMES]
        t = p.engine.table("touchpoints")
        end = p.engine.execute(t.aggregate(end=t.occurred_at.max()))["end"].iloc[0].to_pydatetime()
        run_journeys(p.engine, p.secret, live, now=end, zone=p.settings.project.time_zone)
        dispatch(p.engine, p.settings, {"email": lambda m, person: ("sent", None)}, now=lambda: end)
        for j in live:  # stored off: the server's beat would move them on while the test reads
            save_journey(root, j.model_copy(update={"enabled": False}), replace=True)

    read(client, prepare)
    return client, tokens, root


def read(client, fn):  # type: ignore[no-untyped-def]
    """``fn()`` on the server's database worker: with a journey on, the server beats every 5 s on
    that connection, and a second user of it in this process is refused while it is busy."""
    return client.app.state.percorso.run_sync(fn)


def _points(x: float) -> str:
    return f"{x * 100:+.1f}".replace(".", ",")


def test_every_journey_with_the_results_of_the_api_in_both_languages(journeys_site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = journeys_site
    it = unescape(get(client, "/attivazione", tokens["viewer"]))
    en = unescape(get(client, "/attivazione", tokens["viewer"], lang="en"))
    assert 'role="alert"' not in it
    def numbers():  # noqa: ANN202
        p = client.app.state.percorso.project
        return (p.engine.execute(p.engine.table("activation_outbox").select("journey", "status")),
                {name: results(p, get_journey(root, name)) for name in NAMES})

    o, answers = read(client, numbers)
    for name in NAMES:
        frame, sentences = answers[name]
        row = frame.iloc[0]
        assert row["n_treated"] > 0  # the demo's history enrols people: the check is not vacuous
        assert sentences["it"] in it and sentences["en"] in en
        assert f">{_points(row['uplift'])}<" in it.replace("\n", "")
        sent = int(((o["journey"] == name) & (o["status"] == "sent")).sum())
        held = int(((o["journey"] == name) & (o["status"] == "held_out")).sum())
        cells = re.search(rf'>{name}</a>.*?</tr>', it.replace("\n", ""), re.S).group(0)
        nums = re.findall(r'<td class="num">([^<]*)</td>', cells)
        expected = [int(row["n_treated"]), int(row["n_control"]), sent, held]
        assert nums[1:5] == [f"{n:,}".replace(",", ".") for n in expected]
        assert ">spento<" in cells
    assert "Attivazione" in it and "Activation" in en


def test_a_viewer_sees_counts_an_analyst_the_customers(journeys_site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = journeys_site
    def enrolled():  # noqa: ANN202
        engine = client.app.state.percorso.engine
        e = engine.table("activation_enrolments")
        return set(engine.execute(e.filter(e.journey == "cart_abandonment").select("customer_id"))["customer_id"])

    ids = read(client, enrolled)
    viewer = get(client, "/attivazione", tokens["viewer"], j="cart_abandonment")
    assert ids and not any(c in viewer for c in ids)
    assert 'action="/attivazione/stato"' not in viewer
    analyst = get(client, "/attivazione", tokens["analyst"], j="cart_abandonment")
    shown = set(re.findall(r'href="/cliente\?id=([^&"]+)', analyst))
    assert shown and shown <= ids


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_switching_a_journey_needs_the_form_token_and_the_role(journeys_site) -> None:  # type: ignore[no-untyped-def]
    client, tokens, root = journeys_site
    page = get(client, "/attivazione", tokens["crm"])
    assert "/attivazione/stato" not in get(client, "/attivazione", tokens["analyst"])  # no switch shown
    headers = {"Authorization": f"Bearer {tokens['crm']}", "Accept": "text/html"}
    fields = {"journey": "browse_abandonment", "enabled": "1", "lang": "it"}
    forged = client.post("/attivazione/stato", headers=headers, data=fields, follow_redirects=False)
    assert forged.status_code == 403 and forged.headers.get("X-Refused") == "csrf"
    assert not get_journey(root, "browse_abandonment").enabled
    viewer = client.post("/attivazione/stato", headers={"Authorization": f"Bearer {tokens['viewer']}"},
                         data={**fields, "csrf": _csrf(page)}, follow_redirects=False)
    assert viewer.status_code == 403 and not get_journey(root, "browse_abandonment").enabled
    # switching a journey on sends messages to contacts: the role the API asks for it, crm
    analyst = client.post("/attivazione/stato", headers={"Authorization": f"Bearer {tokens['analyst']}"},
                          data={**fields, "csrf": _csrf(page)}, follow_redirects=False)
    assert analyst.status_code == 403 and not get_journey(root, "browse_abandonment").enabled
    done = client.post("/attivazione/stato", headers=headers, data={**fields, "csrf": _csrf(page)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/attivazione?j=browse_abandonment")
    assert get_journey(root, "browse_abandonment").enabled
    shown = re.search(r'>browse_abandonment</a>.*?</tr>', get(client, "/attivazione", tokens["viewer"]).replace("\n", ""),
                      re.S).group(0)
    assert '<span class="tag">attivo</span>' in shown
    off = client.post("/attivazione/stato", headers=headers, follow_redirects=False,
                      data={**fields, "enabled": "0", "csrf": _csrf(page)})
    assert off.status_code == 303 and not get_journey(root, "browse_abandonment").enabled
    unknown = client.post("/attivazione/stato", headers=headers, data={**fields, "journey": "nope", "csrf": _csrf(page)})
    assert unknown.status_code == 400 and "nope" in unknown.text

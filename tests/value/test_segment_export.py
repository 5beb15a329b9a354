"""Segment export: contact fields only when asked (--with-contacts) and allowed, with an audit line."""

from __future__ import annotations

import json
import logging

import ibis
import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.config import Settings
from percorso.errors import AccessDenied
from percorso.project import init_project, open_project
from percorso.sections import from_dict
from percorso.testing import journeys_for
from percorso.value.segments.export import CONTACT_FIELDS, CONTACT_ROLES, Requester, export_segment
from percorso.value.segments.store import save_segment

CARTS = '{"type":"behaviour","action":"abandoned_cart"}'
# anna and carla left a cart; bruno bought after his
PEOPLE = {
    "anna": [("add_to_cart", "2024-03-20 10:00")],
    "bruno": [("add_to_cart", "2024-03-20 10:00"), ("purchase", "2024-03-20 10:30", {"revenue": 20.0})],
    "carla": [("add_to_cart", "2024-03-21 10:00")],
}
# anna has both contacts and said no to marketing; carla only a phone; bruno an e-mail
CONTACTS = {"anna": ("Anna", "Rossi", "anna@example.it", "+393331112222", False),
            "bruno": ("Bruno", "Bianchi", "bruno@example.it", None, True),
            "carla": ("Carla", None, None, "+393334445555", True)}


# what each said per purpose (consent history): anna e-mail yes, SMS and phone no; carla SMS yes
CONSENT = [("anna", "email", True), ("anna", "sms", False), ("anna", "phone", False), ("carla", "sms", True),
           ("bruno", "email", True)]


#: settings with a project secret: the vault key (a bare engine has no project)
SETTINGS = from_dict(Settings, {"identity": {"secret": "segment-export-test"}})


def _with_contacts(engine, settings=SETTINGS) -> None:
    """The profile as the build fills it (contacts sealed in the PII vault, their keys on the
    profile), and the consent history."""
    import datetime as dt

    import pyarrow as pa

    from percorso.engine import privacy_sql as S
    from percorso.privacy.contacts import store_contacts

    keys = store_contacts(engine, settings, {k: {"email": v[2], "phone": v[3]} for k, v in CONTACTS.items()})
    stored = {k: (v[0], v[1], keys.get(k, {}).get("email_key"), keys.get(k, {}).get("phone_key"), v[4])
              for k, v in CONTACTS.items()}
    fields = ("first_name", "last_name", "email_key", "phone_key", "consent_marketing")
    c = engine.table("customers")
    cases = {f: ibis.cases(*((c.customer_id == k, ibis.literal(v[i], type=c[f].type())) for k, v in stored.items()),
                           else_=c[f]) for i, f in enumerate(fields)}
    engine.create_table("customers", engine.to_arrow(c.mutate(**cases)))
    S.ensure_tables(engine)
    at = dt.datetime(2024, 1, 1)
    rows = {"consent_id": [f"c{i}" for i in range(len(CONSENT))], "subject_type": ["customer_id"] * len(CONSENT),
            "subject_value": [r[0] for r in CONSENT], "purpose": [r[1] for r in CONSENT],
            "granted": [r[2] for r in CONSENT], "occurred_at": [at] * len(CONSENT), "source": ["crm"] * len(CONSENT),
            "text_version": [None] * len(CONSENT), "origin_event_id": [None] * len(CONSENT),
            "recorded_at": [at] * len(CONSENT)}
    types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
    S.insert_consent(engine, pa.table({k: pa.array(rows[k], type=types[t]) for k, t in S.CONSENT_COLUMNS}))


@pytest.fixture
def engine(tmp_path):
    eng = journeys_for(tmp_path, PEOPLE)
    _with_contacts(eng)
    save_segment(eng, "carts", CARTS)
    return eng


def test_no_contacts_unless_asked(engine):
    plain = export_segment(engine, "carts", SETTINGS)
    assert list(plain.frame.columns) == ["customer_id"] and list(plain.frame.customer_id) == ["anna", "carla"]
    assert not set(CONTACT_FIELDS) & set(plain.frame.columns)


def test_contacts_and_the_audit_line(engine, caplog):
    with caplog.at_level(logging.INFO, logger="percorso.audit"):
        out = export_segment(engine, "carts", SETTINGS, with_contacts=True)
    f = out.frame
    assert list(f.columns) == ["customer_id", *CONTACT_FIELDS]
    # anna's phone is withheld (no SMS / phone consent), her e-mail leaves (e-mail consent)
    assert list(f.email.fillna("-")) == ["anna@example.it", "-"] and list(f.phone.fillna("-")) == ["-", "+393334445555"]
    assert list(f.last_name.fillna("-")) == ["Rossi", "-"]
    # 2 rows, both with a contact; 1 e-mail, 1 phone; only carla's marketing flag is yes; 1 withheld
    assert (out.contacts, out.emails, out.phones, out.marketing_consent, out.withheld) == (2, 1, 1, 1, 1)
    assert "2 di/of 2" in out.note and "'carts'" in out.note and "withheld" in out.note
    assert [r.name for r in caplog.records] == ["percorso.audit"] and "requester cli" in caplog.records[0].getMessage()


def test_a_requester_without_the_right_gets_nothing(engine, caplog):
    analyst = Requester(name="token:abc", role="analyst")
    with caplog.at_level(logging.INFO, logger="percorso.audit"), pytest.raises(AccessDenied, match="analyst"):
        export_segment(engine, "carts", SETTINGS, with_contacts=True, requester=analyst)
    assert not caplog.records
    assert list(export_segment(engine, "carts", SETTINGS, requester=analyst).frame.customer_id) == ["anna", "carla"]


def test_contact_roles_are_the_servers(engine):
    from percorso.server.tokens import Role

    assert set(CONTACT_ROLES) == {r.name for r in Role if r >= Role.crm}
    crm = export_segment(engine, "carts", SETTINGS, with_contacts=True, requester=Requester(name="token:crm", role="crm"))
    assert crm.emails == 1


def test_members_at_a_past_time_with_contacts(engine):
    t0 = engine.execute(engine.table("segment_sizes").computed_at.max())
    out = export_segment(engine, "carts", SETTINGS, at=t0, with_contacts=True)
    assert list(out.frame.customer_id) == ["anna", "carla"] and out.emails == 1


def test_cli(tmp_path):
    init_project(tmp_path / "p", name="t")
    with open_project(tmp_path / "p") as p:
        journeys_for(p.engine, PEOPLE)
        _with_contacts(p.engine, p.settings)
        save_segment(p.engine, "carts", CARTS)
    base = ["segment", "export", "carts", "--project", str(tmp_path / "p"), "--format", "json"]
    plain = CliRunner().invoke(app, base)
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout) == [{"customer_id": "anna"}, {"customer_id": "carla"}]
    assert "contact" not in plain.stderr
    full = CliRunner().invoke(app, [*base, "--with-contacts"])
    assert full.exit_code == 0, full.output
    rows = json.loads(full.stdout)
    assert [r["email"] for r in rows] == ["anna@example.it", None] and rows[1]["phone"] == "+393334445555"
    note = full.stderr.strip().splitlines()
    assert len(note) == 1 and "contacts exported: 2 di/of 2" in note[0]


def test_no_contact_and_no_audience_member_without_consent(engine):
    """A person with no consent record keeps no contact; an audience keeps only those allowed."""
    import datetime as dt

    import pyarrow as pa

    from percorso.engine import privacy_sql as S

    S.ensure_tables(engine)
    engine.run("DELETE FROM consent_history WHERE subject_value = 'carla'")
    out = export_segment(engine, "carts", SETTINGS, with_contacts=True)
    assert list(out.frame.phone.fillna("-")) == ["-", "-"] and list(out.frame.first_name.fillna("-")) == ["Anna", "-"]
    sms = export_segment(engine, "carts", SETTINGS, purpose="sms")
    assert list(sms.frame.customer_id) == [] and sms.left_out == 2
    email = export_segment(engine, "carts", SETTINGS, purpose="email", with_contacts=True)
    assert list(email.frame.customer_id) == ["anna"] and email.left_out == 1
    # a later withdrawal counts from its moment: anna leaves the e-mail audience
    row = {"consent_id": "w", "subject_type": "customer_id", "subject_value": "anna", "purpose": "email",
           "granted": False, "occurred_at": dt.datetime(2025, 1, 1), "source": "manual", "text_version": None,
           "origin_event_id": None, "recorded_at": dt.datetime(2025, 1, 1)}
    types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
    S.insert_consent(engine, pa.table({k: pa.array([row[k]], type=types[t]) for k, t in S.CONSENT_COLUMNS}))
    assert export_segment(engine, "carts", SETTINGS, purpose="email").left_out == 2

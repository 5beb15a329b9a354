"""Export a segment's members, with contact fields only when asked and allowed.

Why: activation (a cart-abandonment e-mail, a call list) needs e-mail, phone and name, but
contact data is personal data: an export carries it only when explicitly asked for
(``with_contacts``), only for a requester allowed to see it (:func:`contacts_allowed`: a local
user, or a server token whose role may see raw contact data), and every such export
leaves an audit line (how many contacts, which segment, who asked) on the ``percorso.audit``
logger and, from the CLI, on stderr.

Contact fields come from the ``customers`` profile (names, consent, and the keyed hashes of
e-mail and phone); the e-mails and phones that leave are opened from the sealed PII vault for
the exported rows only (:func:`percorso.privacy.contacts.open_contacts`), after consent
decided which may leave.

Consent (issue 19): a contact leaves only for a purpose the person allows *at the moment of
the export* (:func:`percorso.privacy.consent.allowed`): the e-mail with ``email``, the phone
with ``sms`` or ``phone``; names only next to a contact that leaves. ``purpose`` turns the
export into an audience for that purpose: members not allowed are left out, and the export
says how many.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from percorso.errors import AccessDenied
from percorso.value.segments.store import export_columns, load_rule, members, members_at

if TYPE_CHECKING:
    import pandas as pd

    from percorso.engine import Engine

#: Contact fields of an export with contacts, plus the consent that says whether they may be
#: used for marketing (the person's latest answer).
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "consent_marketing")

#: the same fields as ``customers`` stores them (e-mail and phone as keyed hashes, opened at the end)
_STORED = tuple({"email": "email_key", "phone": "phone_key"}.get(f, f) for f in CONTACT_FIELDS)

audit_log = logging.getLogger("percorso.audit")


#: Server roles that may receive raw contact data (``percorso.server.tokens``: ``crm`` and the
#: roles above it); a test keeps the two lists equal.
CONTACT_ROLES = ("crm", "admin")


@dataclass(frozen=True)
class Requester:
    """Who asks for an export.

    ``name`` appears in the audit line. ``role`` is the role of a server token (``viewer``,
    ``analyst``, ``crm``, ``admin``); ``None`` is a local user, who holds the database file and
    so its contacts already.
    """

    name: str = "cli"
    role: str | None = None


LOCAL_USER = Requester()


def contacts_allowed(requester: Requester) -> bool:
    """Whether ``requester`` may receive contact fields: the one access check of exports."""
    return requester.role is None or requester.role in CONTACT_ROLES


@dataclass
class SegmentExport:
    """The exported rows and, with contacts, how many of them carry one (for the audit line)."""

    frame: pd.DataFrame
    segment: str
    with_contacts: bool
    contacts: int = 0
    emails: int = 0
    phones: int = 0
    marketing_consent: int = 0
    withheld: int = 0
    """Members whose e-mail or phone was withheld for lack of consent at the export."""
    purpose: str | None = None
    left_out: int = 0
    """Members left out of an audience export (``purpose``) for lack of consent."""

    @property
    def note(self) -> str:
        """One audit line: what left the database, from which segment, for whom."""
        extra = (f", senza consenso/without consent: {self.withheld} contatti trattenuti/withheld"
                 if self.withheld else "")
        if self.purpose:
            extra += f", finalità/purpose {self.purpose}: {self.left_out} esclusi/left out"
        return (f"contatti esportati / contacts exported: {self.contacts} di/of {len(self.frame)} clienti "
                f"(e-mail {self.emails}, telefono/phone {self.phones}, consenso marketing/consent {self.marketing_consent}"
                f"{extra}) - segmento/segment '{self.segment}'")


def export_segment(engine: Engine, name: str, settings: Any = None, *, columns: list[str] | None = None,
                   at: datetime | None = None, with_contacts: bool = False,
                   requester: Requester = LOCAL_USER, purpose: str | None = None) -> SegmentExport:
    """The members of segment ``name`` as a table ordered by ``customer_id``.

    ``columns``: profile fields (default: those of the rule); ``at``: the members at a past
    time, from the refreshes (customer_id only, plus contacts when asked). ``with_contacts``
    adds :data:`CONTACT_FIELDS` when ``requester`` may see them (:class:`AccessDenied`
    otherwise, before anything is read) and writes the audit line to ``percorso.audit``.
    Contacts leave only with consent now (module doc); ``purpose`` keeps only the members
    allowed for it now (an audience) and counts the others in ``left_out``.
    """
    from percorso.privacy.consent import allowed
    from percorso.privacy.settings import check_purpose, privacy_settings

    ps = privacy_settings(settings)
    if purpose is not None:
        purpose = check_purpose(purpose)
    if with_contacts and not contacts_allowed(requester):
        raise AccessDenied(f"{requester.name} (role {requester.role or 'none'}) may not export contact fields; "
                           "export without --with-contacts")
    if at is not None:
        expr = members_at(engine, name, at)
    else:
        expr = members(engine, name, settings, columns=export_columns(load_rule(engine, name), columns)[1:])
    left_out = 0
    if purpose is not None:
        n_all = int(engine.execute(expr.count()))
        expr = expr.semi_join(allowed(engine, purpose, settings=ps), "customer_id")
        left_out = n_all - int(engine.execute(expr.count()))
    withheld = 0
    if with_contacts:
        contact = _consented_contacts(engine, ps)
        keep = [x for x in expr.columns if x not in CONTACT_FIELDS]
        expr = expr.select(*keep).left_join(contact, "customer_id").select(*keep, *_STORED, "_withheld")
    frame = engine.execute(expr.order_by("customer_id"))
    if with_contacts:
        from percorso.privacy.contacts import open_contacts

        withheld = int(frame.pop("_withheld").fillna(False).sum())
        frame = open_contacts(engine, settings, frame)
    out = SegmentExport(frame=frame, segment=name, with_contacts=with_contacts, withheld=withheld,
                        purpose=purpose, left_out=left_out)
    if with_contacts:
        email, phone = frame["email"].notna(), frame["phone"].notna()
        out.contacts, out.emails, out.phones = int((email | phone).sum()), int(email.sum()), int(phone.sum())
        out.marketing_consent = int(((email | phone) & frame["consent_marketing"].eq(True)).sum())
        audit_log.info("%s; requester %s (role %s)", out.note, requester.name, requester.role or "none")
    return out


def _consented_contacts(engine: Engine, ps: Any) -> Any:
    """``customers``' contact fields with each contact kept only under consent now.

    The e-mail needs ``email``, the phone ``sms`` or ``phone``; names stay only next to a kept
    contact. ``_withheld`` marks a person who had a contact that was held back.
    """
    import ibis

    from percorso.privacy.consent import allowed

    c = engine.table("customers")
    ok_e = allowed(engine, "email", settings=ps).select("customer_id", _e=ibis.literal(True))
    ok_p = ibis.union(allowed(engine, "sms", settings=ps), allowed(engine, "phone", settings=ps), distinct=True)
    ok_p = ok_p.select("customer_id", _p=ibis.literal(True))
    j = c.select("customer_id", *_STORED).left_join(ok_e, "customer_id").select(
        "customer_id", *_STORED, "_e").left_join(ok_p, "customer_id").select("customer_id", *_STORED, "_e", "_p")
    e_ok, p_ok = j._e.fill_null(False), j._p.fill_null(False)
    email = ibis.ifelse(e_ok, j.email_key, ibis.null(j.email_key.type()))
    phone = ibis.ifelse(p_ok, j.phone_key, ibis.null(j.phone_key.type()))
    named = email.notnull() | phone.notnull()
    return j.select(
        "customer_id",
        first_name=ibis.ifelse(named, j.first_name, ibis.null(j.first_name.type())),
        last_name=ibis.ifelse(named, j.last_name, ibis.null(j.last_name.type())),
        email_key=email, phone_key=phone, consent_marketing=j.consent_marketing,
        _withheld=(j.email_key.notnull() & ~e_ok) | (j.phone_key.notnull() & ~p_ok))

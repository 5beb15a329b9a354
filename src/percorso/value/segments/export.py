"""Export a segment's members, with contact fields only when asked and allowed.

Why: activation (a cart-abandonment e-mail, a call list) needs e-mail, phone and name, but
contact data is personal data: an export carries it only when explicitly asked for
(``with_contacts``), only for a requester allowed to see it (:func:`contacts_allowed`: a local
user, or a server token whose role may see raw contact data), and every such export
leaves an audit line (how many contacts, which segment, who asked) on the ``percorso.audit``
logger and, from the CLI, on stderr.

Contact fields come from the ``customers`` profile, the one table the build fills from the
PII vault and the contact profiles (so erasure has one place to act on).
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

    @property
    def note(self) -> str:
        """One audit line: what left the database, from which segment, for whom."""
        return (f"contatti esportati / contacts exported: {self.contacts} di/of {len(self.frame)} clienti "
                f"(e-mail {self.emails}, telefono/phone {self.phones}, consenso marketing/consent {self.marketing_consent}) "
                f"- segmento/segment '{self.segment}'")


def export_segment(engine: Engine, name: str, settings: Any = None, *, columns: list[str] | None = None,
                   at: datetime | None = None, with_contacts: bool = False,
                   requester: Requester = LOCAL_USER) -> SegmentExport:
    """The members of segment ``name`` as a table ordered by ``customer_id``.

    ``columns``: profile fields (default: those of the rule); ``at``: the members at a past
    time, from the refreshes (customer_id only, plus contacts when asked). ``with_contacts``
    adds :data:`CONTACT_FIELDS` when ``requester`` may see them (:class:`AccessDenied`
    otherwise, before anything is read) and writes the audit line to ``percorso.audit``.
    """
    if with_contacts and not contacts_allowed(requester):
        raise AccessDenied(f"{requester.name} (role {requester.role or 'none'}) may not export contact fields; "
                           "export without --with-contacts")
    if at is not None:
        expr = members_at(engine, name, at)
    else:
        expr = members(engine, name, settings, columns=export_columns(load_rule(engine, name), columns)[1:])
    if with_contacts:
        c = engine.table("customers")
        contact = c.select("customer_id", *CONTACT_FIELDS)
        keep = [x for x in expr.columns if x not in CONTACT_FIELDS]
        expr = expr.select(*keep).left_join(contact, "customer_id").select(*keep, *CONTACT_FIELDS)
    frame = engine.execute(expr.order_by("customer_id"))
    out = SegmentExport(frame=frame, segment=name, with_contacts=with_contacts)
    if with_contacts:
        email, phone = frame["email"].notna(), frame["phone"].notna()
        out.contacts, out.emails, out.phones = int((email | phone).sum()), int(email.sum()), int(phone.sum())
        out.marketing_consent = int(((email | phone) & frame["consent_marketing"].eq(True)).sum())
        audit_log.info("%s; requester %s (role %s)", out.note, requester.name, requester.role or "none")
    return out

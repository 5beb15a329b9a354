"""Consent per purpose: the history, the records set by hand, and the one check everyone calls.

Why one module: activation (sending), segment exports, identity stitching and the per-person
predictions must all answer the same question the same way — *may this person's data be used
for this purpose at this moment?* — so the answer is one set-based Ibis expression,
:func:`allowed`, and nobody re-reads the history on their own.

The history (table ``consent_history``) is append-only: every record says who (an identifier
or a customer id), which purpose (:data:`~percorso.privacy.settings.PURPOSES`), granted or
denied, when, from which source and under which text version. Records come from the sources
(:func:`refresh`, run by every build: loyalty and CRM flags, newsletter opt-in and opt-out
events, Segment's ``context.consent``) and from people (:func:`set_consent`: ``percorso
consent set``, ``POST /v1/consent/{identifier}``). A person's state for a purpose at time *t*
is their latest record at or before *t* (a denial wins a tie), read through the legal basis
of the purpose (:mod:`percorso.privacy.settings`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from percorso.engine import privacy_sql as S
from percorso.errors import InputError, NotFound
from percorso.privacy.settings import PURPOSES, PrivacySettings, check_purpose, privacy_settings

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from percorso.engine import Engine
    from percorso.project import Project

__all__ = ["allowed", "refresh", "set_consent", "consent_view", "ConsentView", "latest_records"]


def _utc(at: dt.datetime | dt.date | str | None) -> dt.datetime:
    """``at`` as a naive UTC datetime (now when None; an aware time converted; a naive one is UTC)."""
    if at is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at)
        except ValueError:
            raise InputError(f"'{at}' is not a time; valid: ISO 8601 such as 2026-03-01T10:00:00+01:00") from None
    if not isinstance(at, dt.datetime):
        at = dt.datetime.combine(at, dt.time())
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at


def _parts(engine_or_project: Any, settings: PrivacySettings | None) -> tuple[Engine, PrivacySettings]:
    if hasattr(engine_or_project, "settings") and hasattr(engine_or_project, "engine"):
        return engine_or_project.engine, settings or privacy_settings(engine_or_project.settings)
    return engine_or_project, settings or privacy_settings(None)


def refresh(engine_or_project: Any) -> int:
    """Create the privacy tables if needed and append the consent records the sources hold.

    Returns how many records were new. Set-based and idempotent (run by every build).
    """
    engine, _ = _parts(engine_or_project, None)
    S.ensure_tables(engine)
    if not engine.has_table("events") or not engine.has_table("contact_profiles"):
        return 0
    return S.derive_consent(engine, _utc(None))


def _history(engine: Engine) -> ir.Table:
    """``consent_history``, or an empty table of its shape when a project has none yet (no memtable:
    an expression may be written with ``create_table``, which compiles it to SQL)."""
    import ibis  # here: the build refreshes consent without loading Ibis

    if engine.has_table("consent_history"):
        return engine.table("consent_history")
    c = engine.table("customers")
    kinds = {"BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "VARCHAR": "string"}
    return c.filter(ibis.literal(False)).select(
        **{col: ibis.null(kinds[t]) for col, t in S.CONSENT_COLUMNS})


def _subject_customers(engine: Engine) -> ir.Table:
    """(subject_type, subject_value, customer_id): every subject a record may name, to its person today."""
    import ibis  # here: the build refreshes consent without loading Ibis

    c = engine.table("customers").select("customer_id")
    own = c.select(subject_type=ibis.literal("customer_id"), subject_value=c.customer_id, customer_id=c.customer_id)
    parts = [own]
    if engine.has_table("identity_map"):
        m = engine.table("identity_map")
        parts.append(m.select(subject_type=m.id_type, subject_value=m.id_value, customer_id=m.customer_id))
    retired = _retired(engine)
    if retired is not None:
        parts.append(retired.select(subject_type=ibis.literal("customer_id"), subject_value=retired.retired_id,
                                    customer_id=retired.kept_id))
    return ibis.union(*parts, distinct=True)


def _retired(engine: Engine) -> ir.Table | None:
    """(retired_id, kept_id): where a customer id a merge retired lives now (latest merge)."""
    if not engine.has_table("identity_merges"):
        return None
    g = engine.table("identity_merges").filter(lambda t: t.kept_id.notnull())
    return g.group_by("retired_id").aggregate(kept_id=g.kept_id.argmax(g.merged_at))


def _records_by_customer(engine: Engine, h: ir.Table) -> ir.Table:
    """(customer_id, granted, occurred_at) of the records ``h``, each given to the person it names now.

    Driven by the records (a purpose's history up to a time), never by a union of every
    identifier: a record naming an identifier joins ``identity_map`` on the 64-bit key
    (computed for the records, :func:`percorso.engine.dialect.identifier_key`), one naming a
    customer id is that customer, or the one a merge kept.
    """
    import ibis  # here: the build refreshes consent without loading Ibis

    from percorso.engine.dialect import identifier_key

    cols = ("customer_id", "granted", "occurred_at")
    parts = []
    hc = h.filter(h.subject_type == "customer_id")
    c = engine.table("customers").select("customer_id")
    parts.append(hc.semi_join(c, hc.subject_value == c.customer_id).select(
        customer_id=hc.subject_value, granted=hc.granted, occurred_at=hc.occurred_at))
    retired = _retired(engine)
    if retired is not None:
        parts.append(hc.join(retired, hc.subject_value == retired.retired_id).select(
            customer_id=retired.kept_id, granted=hc.granted, occurred_at=hc.occurred_at))
    if engine.has_table("identity_map"):
        m = engine.table("identity_map")
        key = m.id_hash if "id_hash" in m.columns else identifier_key(m.id_type, m.id_value)
        m = m.filter(m.customer_id.notnull()).select(_key=key, customer_id=m.customer_id)
        hi = h.filter(h.subject_type != "customer_id")
        hi = hi.select("granted", "occurred_at", _key=identifier_key(hi.subject_type, hi.subject_value))
        parts.append(hi.join(m, "_key").select(*cols))
    return ibis.union(*(p.select(*cols) for p in parts), distinct=False)


def latest_records(engine_or_project: Any, purpose: str, at: dt.datetime | dt.date | str | None = None) -> ir.Table:
    """(customer_id, granted, occurred_at): each person's latest record for ``purpose`` at or before ``at``.

    A denial wins over a grant recorded at the same instant. People with no record are absent.
    One aggregate: the record with the greatest (time, is a denial) gives ``granted``.
    """
    import ibis  # here: the build refreshes consent without loading Ibis

    engine, _ = _parts(engine_or_project, None)
    p = check_purpose(purpose)
    h = _history(engine)
    u = _records_by_customer(engine, h.filter((h.purpose == p) & (h.occurred_at <= _utc(at))))
    return u.group_by("customer_id").aggregate(
        granted=u.granted.argmax(ibis.struct({"at": u.occurred_at, "denial": ~u.granted})),
        occurred_at=u.occurred_at.max())


def allowed(engine_or_project: Any, purpose: str, at: dt.datetime | dt.date | str | None = None, *,
            settings: PrivacySettings | None = None, population: ir.Table | None = None) -> ir.Table:
    """Customers whose data may be used for ``purpose`` at ``at``: an Ibis table of ``customer_id``.

    **The one consent check of percorso** (activation at send time, segment exports, identity
    stitching, per-person predictions). Set-based: semi-join it to your own table, e.g.
    ``audience.semi_join(allowed(project, "email", sent_at), "customer_id")``.

    Parameters
    ----------
    engine_or_project
        The open :class:`~percorso.project.Project` (its ``[privacy.legal_basis]`` applies) or
        a bare :class:`~percorso.engine.Engine` (default legal bases, or pass ``settings``).
    purpose
        One of ``analytics``, ``profiling``, ``email``, ``sms``, ``phone``, ``ads``.
    at
        The moment (UTC naive, aware, ISO text or a date = its UTC midnight); default now.
    population
        The people to choose from (a table with ``customer_id``); default ``customers``. A
        CLV fit straight from an orders table runs before any build, with no ``customers``.

    Returns
    -------
    ibis Table with one column ``customer_id``, one row per person allowed. Under
    ``consent`` basis: the latest record at ``at`` is a grant. Under ``legitimate_interest``:
    every customer whose latest record is not a denial. Under ``contract`` /
    ``legal_obligation``: every customer.
    """
    import ibis  # here: the build refreshes consent without loading Ibis

    engine, ps = _parts(engine_or_project, settings)
    basis = ps.basis(purpose)
    everyone = (engine.table("customers") if population is None else population).select("customer_id")
    if basis in ("contract", "legal_obligation"):
        return everyone
    if not engine.has_table("consent_history"):  # no record of anyone yet (no build so far)
        return everyone.filter(ibis.literal(False)) if basis == "consent" else everyone
    last = latest_records(engine, purpose, at)
    if basis == "consent":
        return last.filter(last.granted).select("customer_id")
    return everyone.anti_join(last.filter(~last.granted), "customer_id").select("customer_id")


def _subject_for(project: Project, identifier: str) -> tuple[str, str]:
    """The (subject_type, subject_value) a record set on ``identifier`` is stored under."""
    from percorso.engine import identity_sql as IS
    from percorso.identity import normalize as N
    from percorso.profile.lookup import lookup_values

    q = identifier.strip()
    engine = project.engine
    if len(q) == 13 and q.startswith("C") and engine.has_table("customers"):
        hit = engine.execute(engine.table("customers").filter(lambda t: t.customer_id == q).select("customer_id"))
        if len(hit):
            return "customer_id", q
    if engine.has_table("identity_map"):
        rows = [r for r in IS.find_identifiers(engine, lookup_values(project.settings, q)).to_pylist()
                if r["customer_id"]]
        people = {r["customer_id"] for r in rows}
        if len(people) > 1:
            from percorso.profile.lookup import AmbiguousCustomer

            raise AmbiguousCustomer(f"'{q}' is an identifier of {len(people)} customers; give a customer id",
                                    sorted(people))
        if rows:
            order = {t: i for i, t in enumerate(S.SUBJECT_ORDER)}
            best = min(rows, key=lambda r: order.get(r["id_type"], 99))
            return best["id_type"], best["id_value"]
    # not seen yet: a denial may be recorded before any data arrives (keyed hash, never raw)
    region = project.settings.identity.default_phone_region
    for kind, norm in (("email_key", N.normalize_email(q)), ("phone_key", N.normalize_phone(q, region)),
                       ("tax_code_key", N.normalize_tax_code(q))):
        if norm:
            return kind, N.keyed_hash(project.secret, norm)
    raise NotFound(f"nessun cliente / no customer or identifier found for the value given; valid: a customer id, "
                   "an e-mail, a phone, a tax code, a card or another identifier already imported")


def set_consent(project: Project, identifier: str, purpose: str, granted: bool, *,
                at: dt.datetime | dt.date | str | None = None, source: str = "manual",
                text_version: str | None = None) -> dict[str, Any]:
    """Record that the person behind ``identifier`` granted or denied ``purpose`` at ``at``.

    Appends to the history (nothing is overwritten: the latest record wins). Returns the stored
    record (no raw personal data: an e-mail is stored as its keyed hash).
    """
    p = check_purpose(purpose)
    engine = project.engine
    S.ensure_tables(engine)
    stype, sval = _subject_for(project, identifier)
    when, now = _utc(at), _utc(None)
    cid = hashlib.sha256(f"{stype}|{sval}|{p}|{granted}|{when.isoformat()}|{source}|{text_version}".encode()
                         ).hexdigest()[:32]
    rec = {"consent_id": cid, "subject_type": stype, "subject_value": sval, "purpose": p, "granted": bool(granted),
           "occurred_at": when, "source": source, "text_version": text_version, "origin_event_id": None, "recorded_at": now}
    import pyarrow as pa

    types = {"BOOLEAN": pa.bool_(), "TIMESTAMP": pa.timestamp("us"), "VARCHAR": pa.string()}
    S.insert_consent(engine, pa.table({c: pa.array([rec[c]], type=types[t]) for c, t in S.CONSENT_COLUMNS}))
    return rec


@dataclass
class ConsentView:
    """A person's consent: the state per purpose at ``at`` and the history behind it."""

    customer_id: str
    at: dt.datetime
    state: list[dict[str, Any]] = field(default_factory=list)
    """One row per purpose: purpose, basis, allowed, granted (latest record or None), since."""
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "at": self.at.isoformat(), "state": self.state,
                "history": [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
                            for r in self.history]}


def consent_view(project: Project, identifier: str, at: dt.datetime | dt.date | str | None = None) -> ConsentView:
    """The consent of the person behind ``identifier`` (``percorso consent show``, ``GET /v1/consent``)."""
    from percorso.profile import find_customer

    engine = project.engine
    cid = find_customer(engine, project.settings, identifier)
    when = _utc(at)
    ps = privacy_settings(project.settings)
    state = []
    for p in PURPOSES:
        ok = engine.execute(allowed(project, p, when).filter(lambda t: t.customer_id == cid).count())
        last = latest_records(project, p, when)
        row = engine.execute(last.filter(last.customer_id == cid))
        state.append({"purpose": p, "basis": ps.basis(p), "allowed": bool(int(ok)),
                      "granted": None if row.empty else bool(row["granted"].iloc[0]),
                      "since": None if row.empty else row["occurred_at"].iloc[0].isoformat()})
    h = _history(engine)
    subj = _subject_customers(engine).filter(lambda t: t.customer_id == cid)
    hist = h.join(subj, [h.subject_type == subj.subject_type, h.subject_value == subj.subject_value]).select(
        "purpose", "granted", "occurred_at", "source", "text_version", "subject_type", "recorded_at").order_by(
        ["occurred_at", "purpose"])
    rows = engine.to_arrow(hist).to_pylist()
    return ConsentView(customer_id=cid, at=when, state=state, history=rows)

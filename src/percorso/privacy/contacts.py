"""Contact data opened on demand: the e-mail and phone behind a page of rows' keyed hashes.

Why: raw e-mails and phones live only sealed in the PII vault (:mod:`percorso.privacy.vault`);
``customers`` and every other table hold their keyed hashes (``email_key``, ``phone_key``).
A reader that legitimately shows or sends a contact (the customer view, a search result, a
segment export with contacts, an audience file, the e-mail sender) opens the contacts of the
rows it is about to hand out, and only those: a page of a search, the rows of one export, a
batch of messages. That is work on a bounded list of distinct keys, never on events.

:func:`open_contacts` puts ``email`` / ``phone`` in place of ``email_key`` / ``phone_key``;
:func:`contact_keys` gives the keyed hashes a typed e-mail or phone would have (searching by
contact is an equality on the hash of the normalised value, never a scan of raw text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from percorso.engine import Engine

#: the contact columns readers see, and the keyed-hash column each is stored as
CONTACT_KEYS: dict[str, str] = {"email": "email_key", "phone": "phone_key"}


def opened(engine: Engine, settings: Any, keys: list[str]) -> dict[str, str]:
    """Key → raw value for the vault entries of ``keys`` (distinct, bounded: a page's keys)."""
    from percorso.engine import privacy_sql as S
    from percorso.privacy.vault import open_values

    wanted = sorted({k for k in keys if k})
    if not wanted or not engine.has_table("pii_vault"):
        return {}
    rows = open_values(settings, S.vault_values(engine, wanted))
    return dict(zip(rows["key"].to_pylist(), rows["value"].to_pylist(), strict=True))


def open_contacts(engine: Engine, settings: Any, frame: Any, *, keep_keys: bool = False) -> Any:
    """``frame`` (pandas or Arrow) with ``email`` / ``phone`` opened from its ``*_key`` columns.

    Each contact column takes the place of its key column (``keep_keys`` keeps both, the key
    after it); a key the vault does not hold (erased, expired) gives a missing contact.
    ``settings`` (a project's settings, or the project) holds the vault key; ``None`` (a reader
    without a project: a bare engine) gives missing contacts, never the keys in their place.
    """
    present = {c: k for c, k in CONTACT_KEYS.items() if k in _columns(frame)}
    if not present:
        return frame
    if isinstance(frame, pa.Table):
        keys = [v for k in present.values() for v in frame[k].to_pylist()]
    else:
        keys = [v for k in present.values() for v in frame[k].tolist()]
    plain = opened(engine, settings, [k for k in keys if isinstance(k, str)]) if settings is not None else {}
    for col, key in present.items():
        if isinstance(frame, pa.Table):
            values = pa.array([plain.get(k) if k is not None else None for k in frame[key].to_pylist()], pa.string())
            i = frame.column_names.index(key)
            frame = frame.add_column(i, col, values)
            if not keep_keys:
                frame = frame.remove_column(i + 1)
        else:
            frame = frame.copy() if col == next(iter(present)) else frame
            i = list(frame.columns).index(key)
            frame.insert(i, col, frame[key].map(lambda k: plain.get(k) if isinstance(k, str) else None))
            frame[col] = frame[col].astype(object)
            if not keep_keys:
                frame = frame.drop(columns=[key])
    return frame


def contact_keys(settings: Any, text: str) -> list[str]:
    """The keyed hashes ``text`` has if it is an e-mail, a phone or a tax code (normalised as ingest does)."""
    from percorso.identity import normalize as N

    secret = getattr(getattr(settings, "identity", None), "secret", "") or ""
    if not secret:
        return []
    region = settings.identity.default_phone_region
    out = []
    for norm in (N.normalize_email(text), N.normalize_phone(text, region), N.normalize_tax_code(text)):
        if norm:
            out.append(N.keyed_hash(secret.encode("utf-8"), norm))
    return sorted(set(out))


def store_contacts(engine: Engine, settings: Any, contacts: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str]]:
    """Seal ``customer_id → {"email": …, "phone": …}`` into the vault; returns their keys per customer.

    For programs that write a profile themselves (tests, the activation demo): the value is
    normalised and keyed as ingest would, sealed, and added to the vault once per key; the
    caller puts the returned ``email_key`` / ``phone_key`` on its rows.
    """
    from percorso.engine import privacy_sql as S
    from percorso.identity import normalize as N
    from percorso.privacy.vault import sealed_table

    secret = settings.identity.secret.encode("utf-8")
    region = settings.identity.default_phone_region
    norm = {"email": N.normalize_email, "phone": lambda v: N.normalize_phone(v, region)}
    out: dict[str, dict[str, str]] = {}
    rows: dict[tuple[str, str], str] = {}
    for cid, fields in contacts.items():
        for col, value in fields.items():
            if col not in CONTACT_KEYS or value is None:
                continue
            n = norm[col](value)
            if not n:
                continue
            key = N.keyed_hash(secret, n)
            out.setdefault(cid, {})[CONTACT_KEYS[col]] = key
            rows[(key, col)] = n
    if rows:
        table = pa.table({"key": [k for k, _ in rows], "kind": [c for _, c in rows], "value": list(rows.values()),
                          "first_event_id": pa.nulls(len(rows), pa.string())})
        S.add_vault_rows(engine, sealed_table(settings, table))
    return out


def _columns(frame: Any) -> list[str]:
    return list(frame.column_names) if isinstance(frame, pa.Table) else list(frame.columns)


__all__ = ["CONTACT_KEYS", "contact_keys", "open_contacts", "opened", "store_contacts"]

"""API tokens and roles: deny by default, stored only as hashes.

Why this shape: a token is shown once (``percorso token create`` prints it) and only its
SHA-256 is stored, so a copy of the database gives no access. Tokens are long random
strings, so an unsalted hash is enough (there is nothing to brute-force). The token carries
its id (``pct_<id>_<secret>``) so the server finds the row without scanning hashes, then
compares the hash in constant time.

Roles are ordered: each includes the rights of the ones before it.

=========  ===============================================================================
viewer     aggregates only: no customer id, no contact data, drill-down refused
analyst    + customer ids, drill-down, exports without raw contact data
crm        + raw contact data (for activation)
admin      + tokens, sources, settings, erasure, the audit log, backups
=========  ===============================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from percorso.engine import server_sql as S
from percorso.errors import InputError, NotFound

if TYPE_CHECKING:
    from percorso.engine import Engine


class Role(IntEnum):
    """Access levels, each including the ones below it."""

    viewer = 10
    analyst = 20
    crm = 30
    admin = 40

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().lower()]
        except KeyError:
            from percorso.errors import suggest

            raise InputError(f"unknown role '{text}'; {suggest(text, [r.name for r in cls])}") from None


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_TOKEN = re.compile(r"^pct_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` as a duration (for ``--expires``)."""
    m = _DURATION.match(text or "")
    if not m:
        raise InputError(f"bad duration '{text}'; valid: a number and a unit m|h|d|w, e.g. 90d, 12h, 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, name and role."""

    token_id: str
    name: str
    role: Role


def utcnow() -> datetime:
    """Naive UTC now, as every stored time."""
    from datetime import UTC

    return datetime.now(UTC).replace(tzinfo=None)


def create_token(engine: Engine, name: str, role: Role | str, expires: str | None = None) -> tuple[str, dict[str, Any]]:
    """Create a token; returns (the token text, shown once; its stored row without the hash)."""
    role = role if isinstance(role, Role) else Role.parse(role)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InputError("a token needs a name of 1 to 80 characters (who or what uses it), e.g. --name dashboard")
    S.ensure_service_tables(engine)
    token_id = secrets.token_hex(6)
    token = f"pct_{token_id}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    row = {"token_id": token_id, "name": name, "role": role.name, "token_hash": hash_token(token),
           "created_at": now, "expires_at": now + parse_duration(expires) if expires else None}
    S.insert_token(engine, row)
    return token, {k: v for k, v in row.items() if k != "token_hash"}


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Every token (never the hash), with its state: active, expired or revoked."""
    S.ensure_service_tables(engine)
    now = utcnow()
    rows = []
    for r in S.list_tokens(engine).to_pylist():
        r.pop("token_hash")
        r["state"] = ("revoked" if r["revoked_at"] else
                      "expired" if r["expires_at"] and r["expires_at"] <= now else "active")
        rows.append(r)
    return rows


def revoke_token(engine: Engine, token_id_or_name: str) -> int:
    S.ensure_service_tables(engine)
    n = S.revoke_token(engine, token_id_or_name, utcnow())
    if not n:
        raise NotFound(f"no active token with id or name '{token_id_or_name}' (see `percorso token list`)")
    return n


class TokenBook:
    """The server's in-memory view of the token table, reloaded after every change.

    Why in memory: every request is authenticated; a database read per request would put
    the single database worker on every request's path.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, dict[str, Any]] = {}

    def load(self, engine: Engine) -> None:
        S.ensure_service_tables(engine)
        self._by_id = {r["token_id"]: r for r in S.list_tokens(engine).to_pylist()}

    def verify(self, token: str | None) -> tuple[Principal | None, str]:
        """(principal, '') when valid, else (None, why): missing, malformed, unknown, expired, revoked."""
        if not token:
            return None, "missing"
        m = _TOKEN.match(token.strip())
        if not m:
            return None, "malformed"
        row = self._by_id.get(m.group(1))
        if row is None or not hmac.compare_digest(row["token_hash"], hash_token(token.strip())):
            return None, "unknown"
        if row["revoked_at"] is not None:
            return None, "revoked"
        if row["expires_at"] is not None and row["expires_at"] <= utcnow():
            return None, "expired"
        return Principal(row["token_id"], row["name"], Role[row["role"]]), ""

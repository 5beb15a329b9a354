"""Write keys: one per source, shown once, stored only as hashes.

Why a key per source: the write key is public (it sits in every page that loads
analytics.js), so it proves nothing about the sender; what it does is name the source the
events belong to (``web``, ``app``), and so their trust (a public source never merges two
known customers, :mod:`percorso.identity.graph`) and their event-name mapping. A leaked key
is revoked and replaced without touching the API tokens. Like API tokens, the key carries
its id (``pcw_<id>_<secret>``) so the server finds the row without scanning hashes, then
compares SHA-256 hashes in constant time (a long random key needs no salt).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from typing import TYPE_CHECKING, Any

from percorso.engine import collector_sql as S
from percorso.errors import InputError, NotFound

if TYPE_CHECKING:
    from percorso.project import Project

_KEY = re.compile(r"^pcw_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")
#: Source kinds whose files are Segment JSON Lines: the only ones the collector can feed.
SEGMENT_KINDS = ("web", "app")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _utcnow() -> Any:
    from percorso.server.tokens import utcnow

    return utcnow()


def create_key(project: Project, source: str) -> tuple[str, dict[str, Any]]:
    """Create a write key for ``source`` (a configured web/app source); (key shown once, row)."""
    src = project.settings.source(source)  # ConfigError naming the known sources
    if src.kind not in SEGMENT_KINDS:
        raise InputError(f"source '{source}' is of kind '{src.kind}'; write keys are for sources of kind "
                         f"{' or '.join(SEGMENT_KINDS)} (Segment events), e.g. `percorso source key create web`")
    S.ensure_collector_tables(project.engine)
    key_id = secrets.token_hex(6)
    key = f"pcw_{key_id}_{secrets.token_urlsafe(24)}"
    row = {"key_id": key_id, "source_name": source, "key_hash": hash_key(key), "created_at": _utcnow()}
    S.insert_key(project.engine, row)
    return key, {k: v for k, v in row.items() if k != "key_hash"}


def list_keys(project: Project) -> list[dict[str, Any]]:
    """Every key (never the hash), with its state."""
    S.ensure_collector_tables(project.engine)
    rows = S.list_keys(project.engine).to_pylist()
    for r in rows:
        r.pop("key_hash")
        r["state"] = "revoked" if r["revoked_at"] else "active"
    return rows


def revoke_key(project: Project, key_id_or_source: str) -> int:
    S.ensure_collector_tables(project.engine)
    n = S.revoke_key(project.engine, key_id_or_source, _utcnow())
    if not n:
        raise NotFound(f"no active write key with id or source '{key_id_or_source}' (see `percorso source key list`)")
    return n


class KeyBook:
    """The server's in-memory copy of the active keys (every request is checked against it)."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def load(self, engine: Any) -> None:
        S.ensure_collector_tables(engine)
        active = {r["key_id"]: (r["key_hash"], r["source_name"]) for r in S.list_keys(engine).to_pylist()
                  if r["revoked_at"] is None}
        with self._lock:
            self._by_id = active

    def source_of(self, key: str | None) -> str | None:
        """The source a valid key writes to, else None."""
        m = _KEY.match((key or "").strip())
        if not m:
            return None
        with self._lock:
            found = self._by_id.get(m.group(1))
        if found is None or not hmac.compare_digest(found[0], hash_key(key.strip())):  # type: ignore[union-attr]
            return None
        return found[1]

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
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
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
    """The in-memory copy of the active keys (every request is checked against it).

    The server loads it from the database and, with ``publish``, writes it to a file (hashes
    and source names only, owner-only) for the intake workers, which cannot open the database
    the server holds: :meth:`follow` makes a book that re-reads that file when it changes, so
    a key created or revoked through the server reaches every worker within a second.
    """

    def __init__(self, publish: Path | None = None) -> None:
        self._by_id: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._publish = publish
        self._follow: Path | None = None
        self._seen: tuple[int, int] | None = None
        self._checked = 0.0

    def load(self, engine: Any) -> None:
        S.ensure_collector_tables(engine)
        active = {r["key_id"]: (r["key_hash"], r["source_name"]) for r in S.list_keys(engine).to_pylist()
                  if r["revoked_at"] is None}
        with self._lock:
            self._by_id = active
        if self._publish is not None:
            tmp = self._publish.with_name(f".{self._publish.name}.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({k: list(v) for k, v in active.items()}, fh)
            os.replace(tmp, self._publish)

    @classmethod
    def follow(cls, path: Path) -> KeyBook:
        book = cls()
        book._follow = path
        book._refresh()
        return book

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._follow is None or now - self._checked < 1.0:
            return
        self._checked = now
        try:
            st = self._follow.stat()
        except FileNotFoundError:
            return
        if (st.st_mtime_ns, st.st_ino) == self._seen:
            return
        try:
            active = {k: (v[0], v[1]) for k, v in json.loads(self._follow.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError):
            return  # being replaced: the next look reads it
        with self._lock:
            self._by_id, self._seen = active, (st.st_mtime_ns, st.st_ino)

    def source_of(self, key: str | None) -> str | None:
        """The source a valid key writes to, else None."""
        m = _KEY.match((key or "").strip())
        if not m:
            return None
        self._refresh()
        with self._lock:
            found = self._by_id.get(m.group(1))
        if found is None or not hmac.compare_digest(found[0], hash_key(key.strip())):  # type: ignore[union-attr]
            return None
        return found[1]

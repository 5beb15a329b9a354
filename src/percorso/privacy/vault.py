"""The PII vault's values encrypted at rest (AES-256-GCM) under a rotatable project key.

Why authenticated encryption, in Python: DuckDB has no AEAD function, and the vault holds one
row per distinct e-mail, phone or tax code (not per event), so sealing and opening them in
Python is work on *distinct values*, as the engine rules allow. Each value is stored as
``v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`` with the identifier's keyed hash as
associated data, so a ciphertext moved to another row does not open.

The key: ``[privacy] vault_key`` (64 hex characters) or ``PERCORSO_VAULT_KEY``; without one it
is derived from ``[identity] secret`` (HKDF-SHA256), so a project works from the first import.
Rotation: put the new key in ``vault_key``, the old one in ``retired_vault_keys``, run
``percorso vault rotate`` (every value re-sealed under the new key), then drop the old key.
A value stored before encryption existed (plain text) opens as itself and is sealed by the
next rotation.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from percorso.errors import ConfigError
from percorso.privacy.settings import privacy_settings

if TYPE_CHECKING:
    from percorso.project import Project

PREFIX = "v1"


def _from_hex(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"percorso.toml: key '{where}' must be 64 hexadecimal characters (a 256-bit key); "
                          "make one with: python -c \"import secrets; print(secrets.token_hex(32))\"")
    return key


def _settings(owner: Any) -> Any:
    """The settings of a project, or the settings themselves (readers holding an engine and settings)."""
    return getattr(owner, "settings", owner)


def keys(owner: Project | Any) -> tuple[bytes, dict[str, bytes]]:
    """(current key, key id → key for every key that may open a value), from a project or its settings."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    settings = _settings(owner)
    ps = privacy_settings(settings)
    if ps.vault_key:
        current = _from_hex(ps.vault_key, "privacy.vault_key")
    else:
        secret = getattr(getattr(settings, "identity", None), "secret", "") or ""
        if not secret:
            raise ConfigError("percorso.toml: key 'identity.secret' is empty and 'privacy.vault_key' is not set; "
                              "set one of them (or PERCORSO_SECRET / PERCORSO_VAULT_KEY) to open the PII vault")
        current = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=b"percorso pii vault v1").derive(secret.encode("utf-8"))
    ring = {key_id(current): current}
    for i, old in enumerate(ps.retired_vault_keys):
        k = _from_hex(old, f"privacy.retired_vault_keys[{i}]")
        ring[key_id(k)] = k
    return current, ring


def key_id(key: bytes) -> str:
    """A short public name of a key (8 hex characters of its SHA-256), stored with each value."""
    return hashlib.sha256(key).hexdigest()[:8]


def seal(project: Project | Any, keys_col: list[str], values: list[str]) -> list[str]:
    """Encrypt ``values`` (each bound to its identifier key as associated data)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    current, _ = keys(project)
    aead, kid = AESGCM(current), key_id(current)
    out = []
    for k, v in zip(keys_col, values, strict=True):
        nonce = os.urandom(12)
        ct = aead.encrypt(nonce, v.encode("utf-8"), k.encode("utf-8"))
        out.append(f"{PREFIX}:{kid}:{base64.b64encode(nonce + ct).decode('ascii')}")
    return out


def open_values(project: Project | Any, table: pa.Table) -> pa.Table:
    """``table`` (with ``key`` and ``value`` columns) with every value decrypted (``project``: a
    project or its settings)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if table.num_rows == 0:
        return table
    _, ring = keys(project)
    aeads = {kid: AESGCM(k) for kid, k in ring.items()}
    plain = []
    for k, v in zip(table["key"].to_pylist(), table["value"].to_pylist(), strict=True):
        if v is None or not v.startswith(PREFIX + ":"):
            plain.append(v)        # stored before the vault was encrypted
            continue
        _, kid, blob = v.split(":", 2)
        if kid not in aeads:
            raise ConfigError(f"a vault value is sealed with key {kid}, which is neither privacy.vault_key nor in "
                              "privacy.retired_vault_keys; add the key it was sealed with")
        raw = base64.b64decode(blob)
        try:
            plain.append(aeads[kid].decrypt(raw[:12], raw[12:], k.encode("utf-8")).decode("utf-8"))
        except InvalidTag:
            raise ConfigError(f"a vault value under key {kid} does not open (wrong key or altered row)") from None
    i = table.column_names.index("value")
    return table.set_column(i, "value", pa.array(plain, pa.string()))


def sealed_table(project: Project | Any, rows: pa.Table) -> pa.Table:
    """``rows`` (key, kind, value, first_event_id) with ``value`` sealed, ready to append to the vault."""
    if rows.num_rows == 0:
        return rows
    i = rows.column_names.index("value")
    return rows.set_column(i, "value", pa.array(seal(project, rows["key"].to_pylist(), rows["value"].to_pylist()),
                                                pa.string()))


def plain_vault(project: Project) -> pa.Table:
    """The whole vault opened (key, kind, value, first_event_id), for the build's customer profile."""
    from percorso.engine import privacy_sql as S

    return open_values(project, S.vault_rows(project.engine))


def rotate(project: Project) -> dict[str, Any]:
    """Re-seal every value not under the current key (or stored in clear); returns counts."""
    from percorso.engine import privacy_sql as S

    current, _ = keys(project)
    kid = key_id(current)
    engine = project.engine
    old = S.vault_rows(engine, not_key_id=f"{PREFIX}:{kid}:")
    if old.num_rows == 0:
        return {"key_id": kid, "resealed": 0}
    fresh = sealed_table(project, open_values(project, old))
    with engine.transaction():
        S.replace_vault_rows(engine, fresh)
    return {"key_id": kid, "resealed": fresh.num_rows}

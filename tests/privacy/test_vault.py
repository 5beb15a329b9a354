"""The PII vault holds sealed values only; a rotated key opens them all; the profile reads them opened."""

from __future__ import annotations

import secrets

import pytest

from percorso.build import run_build
from percorso.errors import ConfigError
from percorso.privacy.vault import PREFIX, open_values, plain_vault, rotate, seal
from tests.privacy.helpers import consent_project


def test_sealed_rotated_and_opened(tmp_path):
    p = consent_project(tmp_path)
    e = p.engine
    stored = e.query("SELECT key, kind, value FROM pii_vault ORDER BY kind, key").to_pylist()
    assert stored and all(r["value"].startswith(PREFIX + ":") for r in stored)
    assert not any("@" in r["value"] or "+39" in r["value"] for r in stored)
    opened = {r["value"] for r in plain_vault(p).to_pylist()}
    assert {"anna.rossi@example.it", "bruno.b@example.it", "+393471234567", "+393487654321"} <= opened
    # the profile holds keyed hashes; its readers open them from the vault
    from percorso.privacy.contacts import open_contacts

    def emails() -> set:
        return set(open_contacts(e, p.settings, e.execute(e.table("customers").select("email_key")))["email"].dropna())

    before = emails()
    assert "anna.rossi@example.it" in before
    # a value moved to another row does not open (the identifier key is associated data)
    a, b = stored[0], stored[1]
    import pyarrow as pa

    with pytest.raises(ConfigError, match="does not open"):
        open_values(p, pa.table({"key": [b["key"]], "value": [a["value"]]}))
    # rotation: a new key, the old one retired; every value re-sealed, the same plain text
    old_id = stored[0]["value"].split(":")[1]
    new_key = secrets.token_hex(32)
    p.settings.privacy = {"vault_key": new_key, "retired_vault_keys": []}
    with pytest.raises(ConfigError, match="neither privacy.vault_key"):
        plain_vault(p)   # the old key is needed until the rotation
    from percorso.privacy.vault import key_id, keys

    p.settings.privacy = {"vault_key": new_key}
    cur, _ = keys(p)
    # the old key was derived from [identity] secret: it is retired, still opening, until the rotation
    p.settings.privacy = {"vault_key": new_key, "retired_vault_keys": [_derived_hex(p)]}
    out = rotate(p)
    assert out["resealed"] == len(stored) and out["key_id"] == key_id(cur) != old_id
    again = e.query("SELECT value FROM pii_vault").column(0).to_pylist()
    assert all(v.split(":")[1] == key_id(cur) for v in again)
    p.settings.privacy = {"vault_key": new_key}   # the old key dropped: everything still opens
    assert {r["value"] for r in plain_vault(p).to_pylist()} == opened
    run_build(p, full=True)
    assert emails() == before
    assert rotate(p)["resealed"] == 0
    # a value stored before sealing existed (plain text) opens as itself; a new one is sealed
    assert open_values(p, pa.table({"key": ["k"], "value": ["x@y.it"]}))["value"].to_pylist() == ["x@y.it"]
    assert seal(p, ["k"], ["x@y.it"])[0].startswith(PREFIX + ":" + key_id(cur))
    p.close()


def _derived_hex(p) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"percorso pii vault v1").derive(p.secret).hex()

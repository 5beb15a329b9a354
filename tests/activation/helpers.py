"""A small project for the activation tests: a real percorso.toml, real DuckDB file, chosen profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from percorso.engine.event_store import STORE
from percorso.project import init_project, open_project
from percorso.testing import journeys_for


def make_project(root: Path, people: dict[str, list], profiles: dict[str, dict[str, Any]], activation: str = "",
                 time_zone: str = "Europe/Rome") -> Any:
    """A project whose built tables hold ``people`` (journeys_for) and ``profiles`` (contact fields, consent)."""
    init_project(root)
    cfg = root / "percorso.toml"
    text = cfg.read_text(encoding="utf-8").replace('time_zone = "Europe/Rome"', f'time_zone = "{time_zone}"')
    cfg.write_text(text + "\n[activation]\n" + activation + "\n", encoding="utf-8")
    project = open_project(root)
    engine = project.engine
    journeys_for(engine, people, time_zone=time_zone)
    customers = engine.execute(engine.table("customers"))
    # e-mails and phones go sealed into the vault, as ingest puts them; the profile holds their keys
    from percorso.privacy.contacts import CONTACT_KEYS, store_contacts

    keys = store_contacts(engine, project.settings, {c: {k: v for k, v in f.items() if k in CONTACT_KEYS}
                                                     for c, f in profiles.items()})
    for cid, fields in profiles.items():
        fields = {k: v for k, v in fields.items() if k not in CONTACT_KEYS} | keys.get(cid, {})
        for k, v in fields.items():
            customers.loc[customers["customer_id"] == cid, k] = v
    engine.create_table("customers", pa.Table.from_pandas(customers, preserve_index=False))
    engine.create_table("identity_map", pa.table({
        "id_type": ["email_key"] * len(customers), "id_value": [f"h{c}" for c in customers["customer_id"]],
        "customer_id": list(customers["customer_id"])}))
    engine.run(f"DELETE FROM {STORE}")   # no events (``events`` is a view over their store, ADR 0075)
    return project

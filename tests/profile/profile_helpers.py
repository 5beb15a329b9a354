"""Helpers for customer-view tests: tiny real source files (Segment JSONL, e-commerce, POS, CRM, loyalty CSV).

Own copy (not the build tests' helpers) so that this directory does not depend on another
test package's internals; the headers are the real default layouts of each source kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from percorso.ingest import ingest_files
from percorso.project import Project


def seg(mid: str, ts: str, *, type: str = "page", anon: str | None = None, user: str | None = None,
        event: str | None = None, url: str = "https://shop.it/", props: dict[str, Any] | None = None,
        email: str | None = None) -> dict[str, Any]:
    """One Segment-spec message (page, identify or track)."""
    m: dict[str, Any] = {"type": type, "messageId": mid, "timestamp": ts,
                         "context": {"page": {"url": url, "referrer": ""}}, "properties": props or {}}
    if anon:
        m["anonymousId"] = anon
    if user:
        m["userId"] = user
    if event:
        m["event"] = event
    if email:
        m["context"]["traits"] = {"email": email}
    return m


def write_jsonl(path: Path, messages: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages), encoding="utf-8")
    return path


ECOM_HEAD = ("order_id,line_no,order_date,user_id,email,phone,anonymous_id,sku,product_name,category,quantity,"
             "unit_price,discount,currency,coupon_code,shipping_cost,status\n")
POS_HEAD = ("\ufeffNegozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Descrizione;Categoria;Quantità;"
            "Prezzo unitario;Sconto;Pagamento;Codice coupon;Riga\n")
CRM_HEAD = ("crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;city;province;"
            "consent_profiling;consent_marketing;origin\n")
LOYALTY_HEAD = ("card_number,registered_at,store_id,first_name,last_name,email,phone,birth_date,city,province,"
                "consent_marketing,consent_profiling\n")


def ingest(p: Project, source: str, path: Path) -> None:
    """Ingest one file through the real pipeline; nothing may be quarantined."""
    (r,) = ingest_files(p, source, [path])
    assert r.quarantined == 0, f"{path.name}: unexpected quarantine"

"""Helpers for build tests: tiny real source files for build tests: Segment JSONL, e-commerce CSV, POS CSV, CRM CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from percorso.ingest import ingest_files
from percorso.project import Project, init_project, open_project


def seg(mid: str, ts: str, *, type: str = "page", anon: str | None = None, user: str | None = None,
        event: str | None = None, url: str = "https://shop.it/", ref: str = "", props: dict[str, Any] | None = None,
        email: str | None = None) -> dict[str, Any]:
    """One Segment-spec message (page or track)."""
    m: dict[str, Any] = {"type": type, "messageId": mid, "timestamp": ts,
                         "context": {"page": {"url": url, "referrer": ref}}, "properties": props or {}}
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


def two_web_batches(folder: Path) -> tuple[Path, Path]:
    """Two small Segment files: a first import (a cookie with a campaign visit, a user), then
    one that links the cookie to the user and adds a new cookie (an incremental build's input)."""
    first = write_jsonl(folder / "a.jsonl", [
        seg("m1", "2025-03-01T08:00:00Z", anon="a1"),
        seg("m2", "2025-03-01T08:05:00Z", anon="a1", url="https://shop.it/?utm_source=google&utm_medium=cpc"),
        seg("m3", "2025-03-02T09:00:00Z", user="u1")])
    second = write_jsonl(folder / "b.jsonl", [
        seg("m4", "2025-03-03T10:00:00Z", anon="a1", user="u1"), seg("m5", "2025-03-03T10:31:00Z", anon="a2")])
    return first, second


ECOM_HEAD = ("order_id,line_no,order_date,user_id,email,phone,anonymous_id,sku,product_name,category,quantity,"
             "unit_price,discount,currency,coupon_code,shipping_cost,status\n")
POS_HEAD = ("\ufeffNegozio;Numero scontrino;Data;Ora;Carta fedeltà;Codice articolo;Descrizione;Categoria;Quantità;"
            "Prezzo unitario;Sconto;Pagamento;Codice coupon;Riga\n")
CRM_HEAD = ("crm_id;updated_at;first_name;last_name;email;phone;codice_fiscale;city;province;"
            "consent_profiling;consent_marketing;origin\n")


def ingest(p: Project, source: str, path: Path) -> None:
    (r,) = ingest_files(p, source, [path])
    assert r.quarantined == 0, f"{path.name}: unexpected quarantine"

"""Built-in source kinds: default column mapping, synonyms, shape and event types.

Each kind declares, for every contract field it reads, a type and the column names it
recognises (English and Italian synonyms, compared case- and accent-insensitively), so
the usual exports load with no configuration; ``[sources.X] mapping`` overrides single
fields. ``docs/sources.md`` documents the same tables for users.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# Field types: str, ts (date/time), time (time of day), num, int, bool, date, json.
F = dict[str, tuple[str, tuple[str, ...]]]

_ID: F = {
    "anonymous_id": ("str", ("anonymous_id", "anonymousid", "anon_id", "cookie_id", "client_id", "visitor_id")),
    "device_id": ("str", ("device_id", "deviceid", "idfa", "gaid")),
    "user_id": ("str", ("user_id", "userid", "customer_id", "account_id", "id_utente", "codice_cliente")),
    "email": ("str", ("email", "e_mail", "email_address", "indirizzo_email", "mail")),
    "phone": ("str", ("phone", "telephone", "phone_number", "mobile", "telefono", "cellulare")),
    "tax_code": ("str", ("codice_fiscale", "tax_code", "cf", "fiscal_code")),
    "loyalty_card": ("str", ("loyalty_card", "card_number", "carta_fedelta", "numero_carta", "fidelity_card")),
    "crm_id": ("str", ("crm_id", "contact_id", "id_crm", "id_contatto")),
    "ip": ("str", ("ip", "ip_address", "client_ip")),
}
_WEBISH: F = {
    "page_url": ("str", ("page_url", "url", "landing_url", "landing_page", "page", "link_url", "pagina")),
    "referrer": ("str", ("referrer", "referer", "page_referrer")),
    "user_agent": ("str", ("user_agent", "useragent", "ua")),
    "utm_source": ("str", ("utm_source",)),
    "utm_medium": ("str", ("utm_medium",)),
    "utm_campaign": ("str", ("utm_campaign",)),
    "utm_term": ("str", ("utm_term",)),
    "utm_content": ("str", ("utm_content",)),
    "click_id": ("str", ("click_id", "gclid", "fbclid", "msclkid")),
    "click_id_type": ("str", ("click_id_type",)),
}
_ORDER_LINE: F = {
    "line_no": ("int", ("line_no", "line", "line_number", "riga", "numero_riga")),
    "sku": ("str", ("sku", "product_id", "codice_articolo", "articolo", "item_id")),
    "product": ("str", ("product_name", "product", "descrizione", "description", "item_name")),
    "category": ("str", ("category", "categoria", "product_category", "reparto")),
    "quantity": ("num", ("quantity", "qty", "quantita", "qta", "pezzi")),
    "unit_price": ("num", ("unit_price", "price", "prezzo_unitario", "prezzo", "item_price")),
    "discount": ("num", ("discount", "sconto", "line_discount")),
    "currency": ("str", ("currency", "valuta", "divisa")),
    "coupon_code": ("str", ("coupon_code", "coupon", "codice_coupon", "promo_code")),
}
_PROFILE: F = {
    "first_name": ("str", ("first_name", "firstname", "nome", "given_name")),
    "last_name": ("str", ("last_name", "lastname", "cognome", "surname", "family_name")),
    "city": ("str", ("city", "citta", "comune", "localita")),
    "province": ("str", ("province", "provincia", "prov")),
    "birth_date": ("date", ("birth_date", "date_of_birth", "data_di_nascita", "data_nascita", "birthday")),
    "gender": ("str", ("gender", "sesso", "genere")),
    "consent_profiling": ("bool", ("consent_profiling", "consenso_profilazione", "profiling_consent")),
    "consent_marketing": ("bool", ("consent_marketing", "consenso_marketing", "marketing_consent")),
}


@dataclass(frozen=True)
class Kind:
    """One built-in source kind.

    ``shape`` picks the pipeline: ``rows`` (one event per row), ``segment`` (JSON Lines in
    Segment spec), ``orders`` (order lines grouped into one event per order), ``profiles``
    (an event plus a ``contact_profiles`` row), ``costs`` (``campaign_costs``, no events).
    """

    name: str
    shape: str
    source_system: str
    online: bool
    fields: F
    key: tuple[str, ...]
    required: tuple[str, ...] = ("occurred_at",)
    event_type: str | None = None
    event_map: dict[str, str] = field(default_factory=dict)
    channel: str | None = None
    channel_by_type: dict[str, str] = field(default_factory=dict)
    extras: tuple[str, ...] = ()
    """Fields stored in the ``properties`` JSON."""
    fallback_event_type: str | None = None
    """Event type of names that are not canonical nor aliases (else they are quarantined)."""
    keep_other_columns: bool = False
    """Store every column no field claims in ``properties`` (generic files keep everything)."""
    non_negative: tuple[str, ...] = ()
    """Numeric fields that may not be below zero (order quantities may: a return)."""
    key_from_content: bool = False
    """A row without an id (no id column, or an empty id) is keyed by a hash of its normalised
    content and its occurrence number within the export, never by file name or line (ADR 0013)."""


def _k(**kw) -> Kind:  # noqa: ANN003
    return Kind(**kw)


_CLICK: F = {
    "key": ("str", ("event_id", "message_id", "messageid", "hit_id", "id")),
    "user_id": ("str", ("user_id", "userid", "customer_id", "client_id", "visitor_id", "uid", "id_utente",
                        "codice_cliente", "account_id")),
    "anonymous_id": ("str", ("anonymous_id", "anonymousid", "anon_id", "cookie_id", "cookie")),
    "event_name": ("str", ("event_name", "event", "action", "activity", "name", "event_type", "evento", "azione")),
    "occurred_at": ("ts", ("timestamp", "ts", "time", "event_time", "datetime", "occurred_at", "event_timestamp",
                           "date", "data_ora", "data")),
    "session_id": ("str", ("session_id", "session", "sessionid", "visit_id", "sessione")),
    "properties": ("json", ("properties", "props", "params", "event_params")),
    "revenue": ("num", ("revenue", "value", "amount", "importo")),
    "currency": ("str", ("currency", "valuta")),
    "order_id": ("str", ("order_id", "transaction_id", "ordine")),
    # the exporter's channel of the event, translated by percorso.events.channel_labels; the
    # column also stays in ``properties`` as written
    "channel": ("str", ("channel", "canale", "channel_group", "default_channel_group", "traffic_channel",
                        "marketing_channel", "canale_marketing")),
    **{k: v for k, v in _ID.items() if k not in ("user_id", "anonymous_id")}, **_WEBISH,
}

KINDS: dict[str, Kind] = {
    "web": _k(name="web", shape="segment", source_system="web", online=True, fields={}, key=("key",)),
    "app": _k(name="app", shape="segment", source_system="app", online=True, fields={}, key=("key",)),
    "ecommerce": _k(
        name="ecommerce", shape="orders", source_system="ecommerce", online=True, event_type="purchase",
        key=("order_id",), required=("occurred_at", "order_id"),
        fields={
            "order_id": ("str", ("order_id", "order_number", "numero_ordine", "id_ordine")),
            "occurred_at": ("ts", ("order_date", "created_at", "order_time", "data_ordine", "timestamp", "date")),
            "shipping_cost": ("num", ("shipping_cost", "shipping", "spese_spedizione")),
            "status": ("str", ("status", "order_status", "stato")),
            **{k: _ID[k] for k in ("user_id", "email", "phone", "tax_code", "anonymous_id")}, **_ORDER_LINE,
        }, extras=("status",)),
    "pos": _k(
        name="pos", shape="orders", source_system="pos", online=False, event_type="receipt",
        channel="Store / POS", key=("store_id", "occurred_at", "receipt"),
        required=("occurred_at", "receipt", "store_id"),
        fields={
            "store_id": ("str", ("store_id", "negozio", "store", "punto_vendita", "codice_negozio")),
            "receipt": ("str", ("receipt_number", "receipt_id", "numero_scontrino", "scontrino", "receipt_no")),
            "occurred_at": ("ts", ("data", "date", "receipt_date", "data_scontrino", "timestamp")),
            "time": ("time", ("ora", "time", "orario", "receipt_time")),
            "payment": ("str", ("pagamento", "payment", "payment_method", "metodo_pagamento")),
            **{k: _ID[k] for k in ("loyalty_card", "email", "tax_code")}, **_ORDER_LINE,
        }, extras=("payment",)),
    "loyalty": _k(
        name="loyalty", shape="profiles", source_system="loyalty", online=False, event_type="loyalty_signup",
        channel="Loyalty", key=("loyalty_card",), required=("occurred_at", "loyalty_card"),
        fields={
            "occurred_at": ("ts", ("registered_at", "registration_date", "data_iscrizione", "created_at", "data_registrazione")),
            "store_id": ("str", ("store_id", "negozio", "store")),
            **{k: _ID[k] for k in ("loyalty_card", "email", "phone", "tax_code")}, **_PROFILE,
        }),
    "crm": _k(
        name="crm", shape="profiles", source_system="crm", online=False, event_type="crm_update",
        key=("crm_id", "occurred_at"), required=("occurred_at", "crm_id"),
        fields={
            "occurred_at": ("ts", ("updated_at", "last_modified", "modified_at", "data_aggiornamento", "created_at")),
            "origin": ("str", ("origin", "origine", "lead_source", "fonte")),
            **{k: _ID[k] for k in ("crm_id", "email", "phone", "tax_code", "loyalty_card", "user_id")}, **_PROFILE,
        }, extras=("origin",)),
    "esp": _k(
        name="esp", shape="rows", source_system="esp", online=True, channel="Email", key=("key",),
        required=("occurred_at", "event_name"), key_from_content=True,
        event_map={"sent": "email_sent", "delivered": "email_sent", "open": "email_open", "opened": "email_open",
                   "click": "email_click", "clicked": "email_click", "unsubscribe": "unsubscribe",
                   "bounce": "email_bounce", "bounced": "email_bounce", "inviata": "email_sent",
                   "aperta": "email_open", "cliccata": "email_click", "disiscrizione": "unsubscribe"},
        fields={
            "key": ("str", ("event_id", "id", "message_event_id")),
            "event_name": ("str", ("event", "event_type", "evento", "type", "action")),
            "occurred_at": ("ts", ("timestamp", "event_time", "occurred_at", "data_ora", "date")),
            "email": _ID["email"],
            "campaign_id": ("str", ("campaign_id", "id_campagna")),
            "campaign": ("str", ("campaign_name", "campaign", "campagna")),
            "page_url": ("str", ("link_url", "url", "link")),
        }, extras=("campaign_id", "campaign")),
    "ads": _k(
        name="ads", shape="rows", source_system="ads", online=True, key=("key",),
        required=("occurred_at", "event_name"), key_from_content=True,
        event_map={"impression": "ad_impression", "click": "ad_click", "impressione": "ad_impression"},
        fields={
            "key": ("str", ("click_event_id", "event_id", "id")),
            "occurred_at": ("ts", ("timestamp", "event_time", "date", "occurred_at")),
            "platform": ("str", ("platform", "network", "piattaforma", "ad_platform")),
            "click_id": ("str", ("click_id", "gclid", "fbclid", "msclkid")),
            "click_id_type": ("str", ("click_id_type",)),
            "campaign": ("str", ("campaign", "campaign_name", "campagna")),
            "ad_group": ("str", ("ad_group", "adset", "ad_set", "gruppo_annunci")),
            "event_name": ("str", ("event", "event_type", "type")),
            "anonymous_id": _ID["anonymous_id"],
            "page_url": ("str", ("landing_url", "url", "landing_page", "final_url")),
            "cost": ("num", ("cost", "costo", "spend")),
        }, extras=("platform", "campaign", "ad_group", "cost"), non_negative=("cost",)),
    "call_center": _k(
        name="call_center", shape="rows", source_system="call_center", online=False, event_type="call",
        channel="Call center", key=("key",), required=("occurred_at",), key_from_content=True,
        fields={
            "key": ("str", ("call_id", "id_chiamata", "ticket_id", "id")),
            "occurred_at": ("ts", ("started_at", "start_time", "call_time", "data_ora", "timestamp")),
            "phone": _ID["phone"], "crm_id": _ID["crm_id"], "email": _ID["email"],
            "reason": ("str", ("reason", "motivo", "topic")),
            "outcome": ("str", ("outcome", "esito", "result")),
            "duration_s": ("num", ("duration_s", "duration", "durata", "durata_s")),
            "agent": ("str", ("agent", "operatore", "agent_id")),
        }, extras=("reason", "outcome", "duration_s", "agent"), non_negative=("duration_s",)),
    "events": _k(
        name="events", shape="rows", source_system="events", online=False, key=("key",),
        required=("occurred_at", "event_name"), key_from_content=True,
        channel_by_type={"fair_visit": "Events & fairs", "flyer_received": "Direct mail / flyer",
                         "sales_meeting": "Sales rep", "store_visit": "Store / POS"},
        fields={
            "key": ("str", ("record_id", "id", "event_id")),
            "event_name": ("str", ("event_type", "event", "tipo", "tipo_evento")),
            "occurred_at": ("ts", ("occurred_at", "timestamp", "date", "data", "event_date")),
            **{k: _ID[k] for k in ("email", "phone", "crm_id", "loyalty_card")},
            "store_id": ("str", ("store_id", "negozio", "store")),
            "campaign": ("str", ("campaign", "campagna")),
            "coupon_code": ("str", ("coupon_code", "coupon", "codice_coupon", "flyer_code")),
            "fair_name": ("str", ("fair_name", "fiera", "event_name", "nome_fiera")),
        }, extras=("campaign", "fair_name")),
    "campaign_costs": _k(
        name="campaign_costs", shape="costs", source_system="costs", online=True, key=("date", "channel", "campaign"),
        required=("date", "cost"),
        fields={
            "date": ("date", ("date", "data", "day", "giorno")),
            "channel": ("str", ("channel", "canale")),
            "campaign": ("str", ("campaign", "campagna", "campaign_name")),
            "utm_source": ("str", ("source", "utm_source", "fonte")),
            "utm_medium": ("str", ("medium", "utm_medium", "mezzo")),
            "cost": ("num", ("cost", "costo", "spend", "spesa", "amount")),
            "currency": ("str", ("currency", "valuta")),
            "impressions": ("int", ("impressions", "impressioni", "impr")),
            "clicks": ("int", ("clicks", "clic", "click")),
        }, non_negative=("cost", "impressions", "clicks")),
    "clickstream": _k(name="clickstream", shape="rows", source_system="web", online=True, fields=_CLICK,
                      key=("key",), required=("occurred_at", "event_name"), extras=("session_id",),
                      fallback_event_type="custom", keep_other_columns=True, key_from_content=True),
    "generic": _k(name="generic", shape="rows", source_system="web", online=True, fields=_CLICK,
                  key=("key",), required=("occurred_at", "event_name"), extras=("session_id",),
                  fallback_event_type="custom", keep_other_columns=True, key_from_content=True),
}


def norm_name(name: str) -> str:
    """Column name key: lowercase, accents removed, non-alphanumerics as ``_``.

    >>> norm_name("Carta fedeltà")
    'carta_fedelta'
    """
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower().strip()
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


def resolve_columns(kind: Kind, columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Contract field → file column, from the config mapping first, then synonyms.

    A column is used for one field only (the first field that claims it), so a file with
    both ``event`` and ``event_type`` maps them sensibly.
    """
    by_norm: dict[str, str] = {}
    for c in columns:
        by_norm.setdefault(norm_name(c), c)
    out: dict[str, str] = {}
    used: set[str] = set()
    for fld, col in mapping.items():
        if fld.startswith(("event.", "channel.")):
            continue
        real = by_norm.get(norm_name(col))
        if real is not None:
            out[fld] = real
            used.add(real)
    for fld, (_t, synonyms) in kind.fields.items():
        if fld in out or fld in mapping:
            continue
        for syn in synonyms:
            real = by_norm.get(norm_name(syn))
            if real is not None and real not in used:
                out[fld] = real
                used.add(real)
                break
    return out


def event_map_from_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """Per-source event names: ``mapping = {"event.Video Played" = "page_view"}``."""
    return {k[len("event."):]: v for k, v in mapping.items() if k.startswith("event.")}


def channel_labels_from_mapping(mapping: dict[str, str]) -> dict[str, str]:
    """Per-source channel labels: ``mapping = {"channel.Partner" = "Affiliates"}``."""
    return {k[len("channel."):]: v for k, v in mapping.items() if k.startswith("channel.")}

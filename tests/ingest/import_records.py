"""Generated records of every source kind, written as two very different exports of the same data.

Layout ``a``: the header in the kind's English names, ``,``, ISO times, decimal point, UTF-8, LF.
Layout ``b``: columns in another order (Italian names where the kind knows them), ``;``,
``dd/mm/yyyy`` times (receipts: date and time of day in two columns), decimal comma with
thousands dots (``1.299,00``, impressions ``12.345``), booleans ``sì``/``no``, Latin-1, CRLF.
The same record must get the same key in both (issue 22).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

KINDS = ("ecommerce", "pos", "crm", "esp", "clickstream", "call_center", "campaign_costs", "events", "ads", "loyalty",
         "generic", "web", "app")
SEGMENT_KINDS = ("web", "app")
NAMES = ("Niccolò", "Pietà", "Forlì", "Anna", "José", "Zoë", "Bruno")
T0 = dt.datetime(2025, 3, 1, 9, 0)


@dataclass
class Col:
    a: str
    """Column name in layout a."""
    b: str
    """Column name in layout b."""
    kind: str
    """ts, date, time, num, int, bool, str."""


COLS: dict[str, list[Col]] = {
    "ecommerce": [Col("order_id", "numero_ordine", "str"), Col("line_no", "riga", "int"),
                  Col("order_date", "data_ordine", "ts"), Col("email", "email", "str"), Col("sku", "sku", "str"),
                  Col("quantity", "quantita", "int"), Col("unit_price", "prezzo", "num"),
                  Col("discount", "sconto", "num")],
    "pos": [Col("store_id", "negozio", "str"), Col("receipt_number", "numero_scontrino", "str"),
            Col("timestamp", "data", "ts"), Col("loyalty_card", "carta_fedelta", "str"), Col("sku", "articolo", "str"),
            Col("quantity", "qta", "int"), Col("unit_price", "prezzo", "num"), Col("line_no", "riga", "int")],
    "crm": [Col("crm_id", "id_crm", "str"), Col("updated_at", "data_aggiornamento", "ts"),
            Col("first_name", "nome", "str"), Col("email", "email", "str"),
            Col("consent_marketing", "consenso_marketing", "bool")],
    "loyalty": [Col("loyalty_card", "carta_fedelta", "str"), Col("registered_at", "data_iscrizione", "ts"),
                Col("first_name", "nome", "str"), Col("consent_profiling", "consenso_profilazione", "bool")],
    "esp": [Col("email", "email", "str"), Col("event", "evento", "str"), Col("timestamp", "data_ora", "ts"),
            Col("campaign", "campagna", "str")],
    "clickstream": [Col("event_id", "event_id", "str"), Col("timestamp", "data_ora", "ts"),
                    Col("user_id", "id_utente", "str"), Col("event", "evento", "str"), Col("revenue", "importo", "num")],
    "call_center": [Col("phone", "telefono", "str"), Col("started_at", "data_ora", "ts"),
                    Col("reason", "motivo", "str"), Col("duration_s", "durata", "num")],
    "events": [Col("record_id", "record_id", "str"), Col("event_type", "tipo_evento", "str"),
               Col("occurred_at", "data", "ts"), Col("email", "email", "str"), Col("fair_name", "fiera", "str")],
    "ads": [Col("click_event_id", "click_event_id", "str"), Col("timestamp", "timestamp", "ts"),
            Col("event", "event", "str"), Col("campaign", "campagna", "str"), Col("cost", "costo", "num")],
    "generic": [Col("event_id", "event_id", "str"), Col("timestamp", "data_ora", "ts"),
                Col("user_id", "id_utente", "str"), Col("event", "evento", "str"), Col("revenue", "importo", "num")],
    "campaign_costs": [Col("date", "giorno", "date"), Col("channel", "canale", "str"),
                       Col("campaign", "campagna", "str"), Col("cost", "costo", "num"),
                       Col("impressions", "impressioni", "int"), Col("clicks", "clic", "int")],
}

EVENT_VALUES = {"esp": ("open", "click", "sent"), "clickstream": ("page_view", "add_to_cart", "scroll_deep"),
                "generic": ("page_view", "purchase", "video_play"),
                "events": ("fair_visit", "flyer_received"), "ads": ("impression", "click")}


def records(kind: str, rng: random.Random, n: int) -> list[list[dict]]:
    """``n`` records; each record is a list of rows (orders and receipts have 1-3 lines)."""
    out = []
    for i in range(n):
        t = T0 + dt.timedelta(days=rng.randrange(300), minutes=rng.randrange(24 * 60))
        if kind in SEGMENT_KINDS:  # Segment calls: a message id, a type and an instant
            kind_call = rng.choice(["page", "track"])
            out.append([{"messageId": f"m-{i:03d}", "type": kind_call, "anonymousId": f"a{rng.randrange(5)}",
                         "event": "Order Completed" if kind_call == "track" else None, "timestamp": t,
                         "properties": {"revenue": rng.choice([12.5, 1299.0])} if kind_call == "track" else {}}])
            continue
        if kind == "ecommerce":
            oid = f"O{i:04d}"
            out.append([{"order_id": oid, "line_no": k + 1, "order_date": t, "email": f"c{i}@x.it", "sku": f"S{k}",
                         "quantity": rng.randrange(1, 4), "unit_price": rng.choice([1299.0, 12.5, 99.9, 1234.56]),
                         "discount": rng.choice([0.0, 5.5])} for k in range(rng.randrange(1, 4))])
            continue
        if kind == "pos":
            store, rec = rng.choice(["MI01", "RM02"]), str(i + 1)
            t = t.replace(second=0)
            out.append([{"store_id": store, "receipt_number": rec, "timestamp": t, "loyalty_card": f"L{i}",
                         "sku": f"S{k}", "quantity": 1, "unit_price": rng.choice([1299.0, 45.0, 7.9]), "line_no": k + 1}
                        for k in range(rng.randrange(1, 4))])
            continue
        row: dict = {}
        for c in COLS[kind]:
            if c.kind == "ts":
                row[c.a] = t.replace(second=rng.choice([0, 17]))
            elif c.kind == "date":
                row[c.a] = t.date()
            elif c.kind == "num":
                row[c.a] = rng.choice([0.5, 12.5, 1299.0, 2345.67])
            elif c.kind == "int":
                row[c.a] = rng.choice([3, 1299, 12345])
            elif c.kind == "bool":
                row[c.a] = rng.random() < 0.5
            elif c.a in ("event", "event_type"):
                row[c.a] = rng.choice(EVENT_VALUES[kind])
            elif c.a in ("email",):
                row[c.a] = f"p{rng.randrange(8)}@x.it"
            elif c.a == "phone":
                row[c.a] = f"+39 333 000 {rng.randrange(1000):04d}"
            elif c.a in ("event_id", "click_event_id", "record_id"):
                row[c.a] = rng.choice(["", f"E{i}"])  # an empty id is a missing id
            elif c.a in ("crm_id", "loyalty_card"):
                row[c.a] = f"{c.a[:1].upper()}{i:05d}"
            else:
                row[c.a] = rng.choice(NAMES) if c.a == "first_name" else rng.choice(["spring", "sale", "news"])
        out.append([row])
    if kind in ("esp", "call_center", "clickstream", "generic") and out:  # identical rows within one export: two records
        out.append([dict(out[0][0])])
    return out


def _num(v: float, layout: str, kind: str) -> str:
    if layout == "a":
        return str(int(v)) if kind == "int" else f"{v:.2f}"
    whole, frac = f"{abs(v):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return ("-" if v < 0 else "") + (grouped if kind == "int" else f"{grouped},{frac}")


def _render_segment(recs: list[list[dict]], layout: str, path: Path, rng: random.Random) -> Path:
    """JSON Lines: layout a compact, UTC ``Z`` times, LF; layout b keys in another order, blanks,
    the same instants with a +01:00 offset, CRLF."""
    import json

    lines = []
    for (row,) in recs:
        obj = {k: v for k, v in row.items() if v is not None}
        t = obj["timestamp"]
        if layout == "a":
            obj["timestamp"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(json.dumps(obj, separators=(",", ":")))
        else:
            obj["timestamp"] = (t + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
            keys = list(obj)
            rng.shuffle(keys)
            lines.append(json.dumps({k: obj[k] for k in keys}, indent=None, separators=(", ", ": ")))
    eol = "\n" if layout == "a" else "\r\n"
    path.write_bytes((eol.join(lines) + eol).encode("utf-8"))
    return path


def render(kind: str, recs: list[list[dict]], layout: str, path: Path, rng: random.Random) -> Path:
    """Write ``recs`` as one export in ``layout`` (see the module docstring); returns ``path``."""
    if kind in SEGMENT_KINDS:
        return _render_segment(recs, layout, path.with_suffix(".jsonl"), rng)
    cols = list(COLS[kind])
    header: list[str] = []
    split_time = layout == "b" and kind == "pos"
    if layout == "b":
        rng.shuffle(cols)
    for c in cols:
        name = c.a if layout == "a" else c.b
        header.append(name)
        if split_time and c.kind == "ts":
            header.append("ora")
    delim = "," if layout == "a" else ";"
    lines = [delim.join(header)]
    for rec in recs:
        for row in rec:
            cells = []
            for c in cols:
                v = row.get(c.a)
                if c.kind == "ts":
                    if layout == "a":
                        cells.append(v.strftime("%Y-%m-%d %H:%M:%S"))
                    elif split_time:
                        cells += [v.strftime("%d/%m/%Y"), v.strftime("%H:%M")]
                    else:
                        cells.append(v.strftime("%d/%m/%Y %H:%M:%S"))
                elif c.kind == "date":
                    cells.append(v.isoformat() if layout == "a" else v.strftime("%d/%m/%Y"))
                elif c.kind in ("num", "int"):
                    cells.append(_num(v, layout, c.kind))
                elif c.kind == "bool":
                    cells.append(("true" if v else "false") if layout == "a" else ("sì" if v else "no"))
                else:
                    cells.append(str(v))
            lines.append(delim.join(cells))
    eol, enc = ("\n", "utf-8") if layout == "a" else ("\r\n", "latin-1")
    path.write_bytes((eol.join(lines) + eol).encode(enc))
    return path

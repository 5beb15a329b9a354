"""What "revenue" and "customers" mean: the few definitions every output names.

Why one module: on the demo the same word meant five numbers. Revenue was the purchase
orders before returns in one command, after returns in another, after returns of buyers only
in a third; "customers" were every person found, the people with touchpoints, or the buyers.
Each figure was right for its question; none said which it was. Every result that shows a
revenue or a customer count names one of these definitions (``meta["definitions"]``, the
table's title), and the docs list them once (``docs/architecture.md``, "Definitions").

Revenue (from the ``orders`` table; an order is a return when ``is_return``):

* **gross revenue**: the revenue of the purchase orders, returns not subtracted;
* **net revenue**: purchase orders plus returns (returns are negative), i.e. net of returns.

Customers (from the ``customers`` table, one row per person identity resolution found):

* **people found**: every person with any event, record updates included (a CRM contact who
  never visited is one);
* **people with touchpoints**: at least one touchpoint (record keeping is never one,
  :data:`percorso.events.RECORD_KEEPING_EVENT_TYPES`);
* **buyers**: at least one purchase order (``n_orders > 0``).

A purchase order is an order that is not a return; attribution's default conversion
(``purchase``: web purchases and store receipts) counts the same orders, so its total row
equals the purchase orders and their gross revenue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ibis.expr.types as ir


@dataclass(frozen=True)
class Definition:
    """One named definition: a stable English key, and a label in Italian and English."""

    key: str
    it: str
    en: str

    def label(self) -> str:
        """``"acquirenti / buyers"``: the bilingual label."""
        return f"{self.it} / {self.en}"


GROSS_REVENUE = Definition("gross_revenue", "ricavi lordi (resi non sottratti)", "gross revenue (before returns)")
NET_REVENUE = Definition("net_revenue", "ricavi netti dei resi", "revenue net of returns")
PEOPLE = Definition("people", "persone trovate", "people found")
WITH_TOUCHPOINTS = Definition("with_touchpoints", "con punti di contatto", "with touchpoints")
BUYERS = Definition("buyers", "acquirenti", "buyers")

DEFINITIONS: dict[str, Definition] = {d.key: d for d in (GROSS_REVENUE, NET_REVENUE, PEOPLE, WITH_TOUCHPOINTS, BUYERS)}


def named(*, revenue: Definition | None = None, customers: Definition | None = None) -> dict[str, str]:
    """``meta["definitions"]`` of a result: which revenue and which customers it shows."""
    out = {}
    if revenue is not None:
        out["revenue"] = revenue.key
    if customers is not None:
        out["customers"] = customers.key
    return out


def caption(definitions: dict[str, str]) -> str:
    """A one-line label for a table: ``ricavi lordi … · clienti: acquirenti / gross revenue … · customers: buyers``."""
    rev = DEFINITIONS.get(definitions.get("revenue", ""))
    cust = DEFINITIONS.get(definitions.get("customers", ""))
    it = " · ".join(x for x in (rev and rev.it, cust and f"clienti: {cust.it}") if x)
    en = " · ".join(x for x in (rev and rev.en, cust and f"customers: {cust.en}") if x)
    return f"{it} / {en}" if it else ""


def titled(title: str, definitions: dict[str, str] | None) -> str:
    """``title`` followed by the caption of ``definitions`` on a line of its own."""
    return f"{title}\n{caption(definitions)}" if definitions else title


# -- the definitions as expressions (one place computes each) ------------------------------

def purchase_orders(orders: ir.Table) -> ir.Table:
    """Orders that are not returns."""
    return orders.filter(~orders.is_return.fill_null(False))


def gross_revenue(orders: ir.Table) -> ir.NumericScalar:
    """Σ revenue of the purchase orders (0 when there are none)."""
    return orders.revenue.sum(where=~orders.is_return.fill_null(False)).fill_null(0.0)


def net_revenue(orders: ir.Table) -> ir.NumericScalar:
    """Σ revenue of every order, returns (negative) included."""
    return orders.revenue.sum().fill_null(0.0)


def people(customers: ir.Table) -> ir.Table:
    """Every person found."""
    return customers


def with_touchpoints(customers: ir.Table) -> ir.Table:
    """People with at least one touchpoint."""
    return customers.filter(customers.n_touchpoints > 0)


def buyers(customers: ir.Table) -> ir.Table:
    """People with at least one purchase order."""
    return customers.filter(customers.n_orders > 0)


__all__ = [
    "BUYERS", "DEFINITIONS", "Definition", "GROSS_REVENUE", "NET_REVENUE", "PEOPLE", "WITH_TOUCHPOINTS",
    "buyers", "caption", "gross_revenue", "named", "net_revenue", "people", "purchase_orders", "titled",
    "with_touchpoints",
]

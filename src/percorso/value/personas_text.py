"""Names and plain-language descriptions of the personas, in Italian and English.

Why templates and not free text: every sentence must be traceable to a number on the card
(a persona described as "loyal" must have the orders to show for it), so names and
descriptions are fixed sentences filled with the card's facts. Rules:

* where they buy: under 30 % buyers → prospects (not yet buying); else the most common mix of
  the persona's buyers, with the omnichannel analysis's definition
  (:func:`percorso.build.orders.purchase_mix`): online only → online, store only → in store,
  both → omnichannel (a tie goes to online, then store: "omnichannel" only when buyers in
  both places are the largest group). Before, a persona whose orders were 40-60 % online was
  "omnichannel" even if each of its customers bought in one place only: on the 20k demo
  "omnichannel high-value customers: 24 % (5,834)" while ``percorso omnichannel`` counted
  333 omnichannel buyers;
* loyal: ≥ 3 purchase orders on average;
* value: average revenue ≥ 1.5 × all customers' average → high value; ≤ 0.5 × → low value;
* personas with the same name each get the first fact only they have among them, in this
  order: main channel, first step of the typical journey, home store, current stage (else a
  pair of them, else their number): "Prospects · Organic Search", "Prospects · GE01";
* churn risk on a card is the share of its customers at high churn risk (``value.churn``);
* customers with refunds and no purchase are counted on the card: their revenue is 0, not
  negative (:func:`percorso.value.personas_features.net_revenue`).
"""

from __future__ import annotations

import math
from typing import Any


#: Card facts on where the persona buys: share of orders placed online, and the shares of its
#: buyers who buy online only, in store only, or in both (the omnichannel mix).
MIX_SHARES = ("online_order_share", "online_only_share", "store_only_share", "omnichannel_share")
#: mix → (Italian, English) word of the name; in this order a tie is broken.
_WHERE = {"online_only": ("online", "online"), "store_only": ("da negozio", "in-store"),
          "omnichannel": ("omnicanale", "omnichannel")}


def _pct(x: float) -> str:
    """A share as a whole percentage (English); one that rounds to 0 (or 100) but is not reads
    "under 1%" ("over 99%"), never "0%" of people who are there.

    >>> _pct(0.003), _pct(0.24), _pct(0.998)
    ('under 1%', '24%', 'over 99%')
    """
    if 0 < x < 0.005:
        return "under 1%"
    return "over 99%" if 0.995 <= x < 1 else f"{round(100 * x)}%"


#: Italian articles before a whole percentage: ``lo 0%``, ``l'8%``, ``l'11%``, ``l'80%``, ``il 24%``.
_IT_ARTICLES = {"": ("", "", ""), "il": ("il ", "l'", "lo "), "nel": ("nel ", "nell'", "nello ")}


def _pct_it(x: float, article: str) -> str:
    """A share as Italian words after ``article`` ("il", "nel" or none): ``il 24%``, ``l'8%``, ``nell'80%``,
    ``nello 0%``; one that rounds to 0 (or 100) but is not: ``meno dell'1%`` (``in meno dell'1%``),
    ``più del 99%``.

    >>> _pct_it(0.003, "il"), _pct_it(0.003, "nel"), _pct_it(0.08, "il"), _pct_it(0.0, "nel")
    ("meno dell'1%", "in meno dell'1%", "l'8%", 'nello 0%')
    """
    plain, elided, zero = _IT_ARTICLES[article]
    if 0 < x < 0.005 or 0.995 <= x < 1:
        words = "meno dell'1%" if x < 0.5 else "più del 99%"
        return f"in {words}" if article == "nel" else words
    n = round(100 * x)
    lead = zero if n == 0 else elided if n in (1, 8, 11) or 80 <= n <= 89 else plain
    return f"{lead}{n}%"


def _num(x: float, it: bool, digits: int = 0) -> str:
    s = f"{x:,.{digits}f}"
    return s.replace(",", "\u2009").replace(".", ",") if it else s


def _ok(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def names(card: dict[str, Any], overall_revenue: float) -> tuple[str, str]:
    """(Italian, English) name of one persona from its card."""
    buyers = card.get("buyers_share") or 0.0
    shares = {m: card.get(f"{m}_share") for m in _WHERE}
    shares = {m: v for m, v in shares.items() if _ok(v)}
    if buyers < 0.3 or not shares:
        where_it, where_en = "prospect", "prospects"
    else:
        where_it, where_en = _WHERE[max(shares, key=lambda m: (shares[m], -list(_WHERE).index(m)))]
    loyal = (card.get("avg_orders") or 0.0) >= 3
    rev = card.get("avg_revenue") or 0.0
    value_it = value_en = ""
    if overall_revenue > 0 and rev >= 1.5 * overall_revenue:
        value_it, value_en = " ad alto valore", "high-value "
    elif overall_revenue > 0 and buyers >= 0.3 and rev <= 0.5 * overall_revenue:
        value_it, value_en = " a basso valore", "low-value "
    if where_it == "prospect":
        it = "Prospect" + (" fedeli" if loyal else "") + value_it
        en = ("Loyal " if loyal else "") + value_en + "prospects"
    else:
        it = f"Clienti {where_it}" + (" fedeli" if loyal else "") + value_it
        en = ("Loyal " if loyal else "") + value_en + f"{where_en} customers"
    return it, en[:1].upper() + en[1:]


def _tells_apart(card: dict[str, Any]) -> list[Any]:
    """Facts that may tell two same-named personas apart, in order of preference."""
    chans = card.get("channels") or []
    path = card.get("typical_journey") or ""
    return [chans[0][0] if chans else None, path.split(" > ")[0] or None, card.get("home_store"),
            card.get("current_stage")]


def disambiguate(cards: list[dict[str, Any]]) -> None:
    """Tag same-named personas with a fact that only they have among them (see the module doc)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cards:
        groups.setdefault(c["name_en"], []).append(c)
    for same in groups.values():
        if len(same) < 2:
            continue
        facts = [_tells_apart(c) for c in same]
        tags = []
        for f in facts:
            own = [i for i, v in enumerate(f) if _ok(v) and sum(g[i] == v for g in facts) == 1]
            pair = [(i, j) for i in range(len(f)) for j in range(i + 1, len(f)) if _ok(f[i]) and _ok(f[j])
                    and sum((g[i], g[j]) == (f[i], f[j]) for g in facts) == 1]
            tags.append(str(f[own[0]]) if own else f"{f[pair[0][0]]}, {f[pair[0][1]]}" if pair else None)
        if None in tags or len(set(tags)) < len(tags):
            tags = [f"#{c['persona']}" for c in same]
        for c, tag in zip(same, tags, strict=True):
            c["name_it"], c["name_en"] = f"{c['name_it']} · {tag}", f"{c['name_en']} · {tag}"


def describe(card: dict[str, Any]) -> tuple[str, str]:
    """(Italian, English) description of one persona from the facts of its card."""
    chans: list[tuple[str, float]] = card.get("channels") or []
    it_p = [f"{card['name_it']}: {_pct_it(card['share'], '')} dei clienti ({_num(card['customers'], True)})."]
    en_p = [f"{card['name_en']}: {_pct(card['share'])} of customers ({_num(card['customers'], False)})."]
    if chans:
        c0, s0 = chans[0]
        rest = ", ".join(c for c, _ in chans[1:])
        it_p.append(f"Canale principale {c0} ({_pct_it(s0, '')} dei contatti)" + (f", poi {rest}." if rest else "."))
        en_p.append(f"Main channel {c0} ({_pct(s0)} of touchpoints)" + (f", then {rest}." if rest else "."))
    buyers = card.get("buyers_share") or 0
    if 0 < buyers < 0.3:
        few = buyers < 0.005   # "Solo meno dell'1%", "Only under 1%": the share alone says it
        who = _pct_it(buyers, "").capitalize() if few else "Solo " + _pct_it(buyers, "il")
        it_p.append(f"{who} ha già acquistato.")
        en_p.append(f"{'Under 1%' if few else 'Only ' + _pct(buyers)} have bought so far.")
    elif buyers >= 0.3 and _ok(card.get("online_order_share")):
        on = card["online_order_share"]
        where_it = ("solo online" if on == 1 else "solo in negozio" if on == 0 else
                    f"online {_pct_it(on, 'nel')} dei casi e in negozio {_pct_it(1 - on, 'nel')}")
        where_en = ("online only" if on == 1 else "in store only" if on == 0 else
                    f"online {_pct(on)} of the time and in store {_pct(1 - on)}")
        it_p.append(f"Comprano {where_it}; "
                    f"in media {_num(card['avg_orders'], True, 1)} ordini e {_num(card['avg_revenue'], True)} € di spesa.")
        en_p.append(f"They buy {where_en}; "
                    f"on average {_num(card['avg_orders'], False, 1)} orders and €{_num(card['avg_revenue'], False)} spent.")
        if _ok(card.get("omnichannel_share")):
            o, w, s = (card.get(f"{m}_share") or 0.0 for m in ("omnichannel", "online_only", "store_only"))
            it_p.append(f"Dei clienti che hanno acquistato, {_pct_it(o, 'il')} compra sia online sia in negozio "
                        f"(omnicanale), {_pct_it(w, 'il')} solo online, {_pct_it(s, 'il')} solo in negozio.")
            en_p.append(f"Of those who bought, {_pct(o)} buy both online and in store (omnichannel), "
                        f"{_pct(w)} online only, {_pct(s)} in store only.")
    elif buyers == 0:
        it_p.append("Non hanno ancora acquistato.")
        en_p.append("They have not bought yet.")
    if card.get("refund_only"):
        n = card["refund_only"]
        it_p.append(f"Con soli resi e nessun acquisto (l'acquisto è sotto un'altra identità o prima dei dati; "
                    f"ricavo contato 0): {_num(n, True)}.")
        en_p.append(f"With refunds and no purchase (the purchase is under another identity or before the data; "
                    f"revenue counted as 0): {_num(n, False)}.")
    if card.get("typical_journey") and buyers >= 0.3:
        it_p.append(f"Percorso tipico prima del primo acquisto: {card['typical_journey']}.")
        en_p.append(f"Typical journey before the first purchase: {card['typical_journey']}.")
    elif card.get("typical_journey"):
        it_p.append(f"Percorso tipico: {card['typical_journey']}.")
        en_p.append(f"Typical journey: {card['typical_journey']}.")
    if card.get("top_categories"):
        it_p.append(f"Categorie preferite: {card['top_categories']}.")
        en_p.append(f"Favourite categories: {card['top_categories']}.")
    if card.get("home_store"):
        it_p.append(f"Negozio di riferimento: {card['home_store']}.")
        en_p.append(f"Home store: {card['home_store']}.")
    if _ok(card.get("avg_clv")):
        it_p.append(f"CLV medio {_num(card['avg_clv'], True)} €; ad alto rischio di abbandono "
                    f"{_pct_it(card['churn_risk'], 'il')}.")
        en_p.append(f"Average CLV €{_num(card['avg_clv'], False)}; {_pct(card['churn_risk'])} at high churn risk.")
    return " ".join(it_p), " ".join(en_p)

"""``explain``: why a set of identifiers is one customer — the chain of links and their events.

The query may be a customer id, an e-mail, a phone, a loyalty card or any identifier value;
e-mails, phones and tax codes are normalised and hashed with the project secret to find
their keys. The answer is the customer's identifiers, the links that joined them ordered
as a chain from the queried identifier (breadth-first over the customer's own links: one
customer is small), each with the event that created it, plus the flagged and rejected
links touching the customer and its merge history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from percorso.engine import identity_device_sql as D
from percorso.engine import identity_sql as S

if TYPE_CHECKING:
    import pandas as pd

    from percorso.project import Project


@dataclass
class Explanation:
    query: str
    customer_id: str
    identifiers: list[dict[str, Any]]
    chain: list[dict[str, Any]]
    """Used links in the order they join the identifiers, starting from the queried one."""
    other_links: list[dict[str, Any]]
    """Flagged, blocked and rejected links touching the customer."""
    flags: list[dict[str, Any]]
    merges: list[dict[str, Any]] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    """Other customers the query matched (a value shared by kinds)."""

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    def links_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.chain + self.other_links)


def explain(project: Project, query: str, *, limit: int = 500) -> Explanation:
    """Explain the customer behind ``query`` (customer id or any identifier value)."""
    from percorso.profile.lookup import find_identifiers

    engine = project.engine
    customers, found = find_identifiers(engine, project.settings, query)
    cid = customers[0]
    ids, links, flags, merges = S.customer_evidence(engine, cid, limit)
    ids_l = ids.to_pylist()
    links_l = [{**x, "rule": "same event"} for x in links.to_pylist()] + _device_links(engine, cid)
    start = [(r["id_type"], r["id_value"]) for r in found if r["customer_id"] == cid and r["id_value"] != cid]
    chain = _chain([x for x in links_l if x["status"] == "used"],
                   start[0] if start else ((ids_l[0]["id_type"], ids_l[0]["id_value"]) if ids_l else None))
    return Explanation(query=query, customer_id=cid, identifiers=ids_l, chain=chain,
                       other_links=[x for x in links_l if x["status"] != "used"], flags=flags.to_pylist(),
                       merges=merges.to_pylist() if merges.num_columns else [],
                       also=[c for c in customers if c != cid])


DEVICE_RULE = "device link (ip + user agent)"


def _device_links(engine, customer_id: str) -> list[dict[str, Any]]:
    """The customer's device links (ADR 0009) shaped as chain links: from the known
    identifier to the anonymous one, with the anonymous event (``event_id``) and the known
    event (``known_event_id``) that shared the IP key and user agent."""
    out = []
    for d in D.customer_device_links(engine, customer_id).to_pylist():
        out.append({"id_type_a": d["known_type"], "id_value_a": d["known_value"], "id_type_b": d["anon_type"],
                    "id_value_b": d["anon_value"], "status": "used", "rule": DEVICE_RULE, "trusted": False,
                    "n_events": None, "event_id": d["anon_event_id"], "source_name": d["source_name"],
                    "source_file": d["source_file"], "source_line": d["source_line"],
                    "occurred_at": d["occurred_at"], "known_event_id": d["known_event_id"],
                    "known_source_file": d["known_source_file"], "known_source_line": d["known_source_line"],
                    "ip_key": d["ip_key"], "user_agent": d["user_agent"], "days": d["days"]})
    return out


def _chain(links: list[dict[str, Any]], start: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Breadth-first order of one customer's links from ``start`` (each link once)."""
    if start is None:
        return links
    adj: dict[tuple[str, str], list[int]] = {}
    for i, x in enumerate(links):
        adj.setdefault((x["id_type_a"], x["id_value_a"]), []).append(i)
        adj.setdefault((x["id_type_b"], x["id_value_b"]), []).append(i)
    seen_n, seen_l, order = {start}, set(), []
    todo = deque([start])
    while todo:
        node = todo.popleft()
        for i in adj.get(node, []):
            if i in seen_l:
                continue
            seen_l.add(i)
            x = links[i]
            a, b = (x["id_type_a"], x["id_value_a"]), (x["id_type_b"], x["id_value_b"])
            other = b if a == node else a
            order.append({**x, "from": f"{node[0]}={node[1]}", "to": f"{other[0]}={other[1]}"})
            if other not in seen_n:
                seen_n.add(other)
                todo.append(other)
    order += [x for i, x in enumerate(links) if i not in seen_l]
    return order

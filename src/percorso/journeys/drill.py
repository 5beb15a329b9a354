"""Drill-down values checked like the command line's steps: a misspelt node is an error.

Why: ``result.customers(from_node="Emial")`` matched no cell and returned an empty frame,
which reads as "nobody"; the CLI already answered a misspelt funnel step or ``--end`` with
"did you mean". When a drill-down page comes back empty, these checks look the selector's
values up (node labels under the query's node, a path or transition's nodes, a breakdown
value, a journey-map stage or channel, an omnichannel store) and raise :class:`InputError`
(``selector_invalid``) for one the data does not have; a value the data has is a true zero.
Registered with :func:`percorso.analysis.base.register_drill_check` when the package loads.
"""

from __future__ import annotations

from typing import Any

from percorso.analysis.base import register_drill_check
from percorso.errors import InputError
from percorso.journeys.controls import PURCHASE_ANCHORS, JourneyQuery, require_labels

#: Selector keys whose value is one node label, or node labels joined by ``ARROW``.
LABEL_KEYS = ("node", "from_node", "to_node", "source", "target", "loop")
JOINED_KEYS = ("path", "transition")
ARROW = " → "
#: Labels the analyses make up (journey ends, the rest of a top-N, a cut path's tail).
MADE_UP = frozenset({"(start)", "(end)", "other", "…"})


def _error(message: str) -> InputError:
    return InputError(message, code="selector_invalid")


def _journey_values(runner: Any, selector: dict[str, Any]) -> None:
    """Node labels of paths, transitions, Sankey, funnel and friction drill-downs, and a breakdown."""
    q = runner.query
    labels: list[str] = []
    for key in LABEL_KEYS:
        if selector.get(key) is not None:
            labels.append(str(selector[key]))
    for key in JOINED_KEYS:
        value = selector.get(key)
        if value is not None and not str(value).startswith("other"):
            labels += str(value).split(ARROW)
    labels = [x for x in labels if x not in MADE_UP and x not in PURCHASE_ANCHORS]
    if labels:
        require_labels(runner.engine, q, labels, what="drill-down", error=_error)
    if selector.get("breakdown") is not None and q.breakdown:
        by = q.model_copy(update={"node": q.breakdown, "clean": (), "exclude": ()})
        require_labels(runner.engine, by, [str(selector["breakdown"])], what="breakdown", error=_error)


def _profile_values(keys: dict[str, str]) -> Any:
    """A check of selector keys that name touchpoint values (key → node definition)."""

    def check(runner: Any, selector: dict[str, Any]) -> None:
        for key, node in keys.items():
            if selector.get(key) is not None:
                require_labels(runner.engine, JourneyQuery(node=node), [str(selector[key])], what=key, error=_error)

    return check


register_drill_check(("paths_top", "paths_transitions", "paths_sankey", "funnel", "friction"), _journey_values)
register_drill_check(("journey_map",), _profile_values({"stage": "stage", "channel": "channel"}))
register_drill_check(("omnichannel",), _profile_values({"store": "store"}))

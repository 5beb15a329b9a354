"""Journeys as files in the project: ``activation/<name>.json``, plus the shipped examples.

Why files: a journey is reviewed like any other configuration (diff, version control, a copy
to another project); the API writes the same file, so the two never disagree. Enabling or
disabling rewrites the file's ``enabled`` flag.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.errors import InputError, NotFound, suggest

if TYPE_CHECKING:
    from percorso.activation.model import Journey

FOLDER = "activation"

#: Journeys shipped with percorso (``percorso journey create --example NAME``). In the demo the
#: cart-abandonment e-mail has a true effect and the browse-abandonment one is inert.
EXAMPLES: dict[str, dict[str, Any]] = {
    "cart_abandonment": {
        "name": "cart_abandonment",
        "description": "Carrello abbandonato: e-mail se nessun acquisto entro 2 ore / cart abandonment e-mail",
        "trigger": {"kind": "event", "event_type": "add_to_cart", "unless": "purchase", "within": "2h"},
        "steps": [{"kind": "wait", "duration": "1h"},
                  {"kind": "act", "name": "cart_email", "action": {"kind": "email", "template": "cart"}}],
        "exit": ["purchase"], "goal": {"event_type": "purchase", "window": "7d"}, "holdout": 0.1},
    "browse_abandonment": {
        "name": "browse_abandonment",
        "description": "Navigazione senza carrello: e-mail di ispirazione / browse abandonment (inert in the demo)",
        "trigger": {"kind": "event", "event_type": "product_view", "unless": "add_to_cart", "within": "1d"},
        "steps": [{"kind": "act", "name": "browse_email", "action": {"kind": "email", "template": "browse"}}],
        "exit": ["purchase"], "goal": {"event_type": "purchase", "window": "7d"}, "holdout": 0.1},
    "mattress_follow_up": {
        "name": "mattress_follow_up",
        "description": "Materasso acquistato in negozio: richiamo dopo 30 giorni / mattress follow-up after 30 days",
        "trigger": {"kind": "event", "event_type": "receipt",
                    "where": [{"field": "items", "op": "contains", "value": "materass"}]},
        "steps": [{"kind": "wait", "duration": "30d"},
                  {"kind": "wait_until", "window": {"days": [0, 1, 2, 3, 4, 5], "start_hour": 9, "end_hour": 19}},
                  {"kind": "act", "name": "store_task",
                   "action": {"kind": "task", "queue": "store", "note": "Come va il nuovo materasso?"}}],
        "goal": {"event_type": "purchase", "window": "60d"}, "holdout": 0.1},
    "return_call": {
        "name": "return_call",
        "description": "Reso: attività per il call center / a return becomes a call-center task",
        "trigger": {"kind": "event", "event_type": "return"},
        "steps": [{"kind": "act", "name": "call_task",
                   "action": {"kind": "task", "queue": "call_center", "note": "Cliente con reso: capire il motivo"}}],
        "goal": {"event_type": "purchase", "window": "30d"}, "holdout": 0.1},
}


def folder(root: Path) -> Path:
    return Path(root) / FOLDER


def journey_path(root: Path, name: str) -> Path:
    return folder(root) / f"{name}.json"


def load_journeys(root: Path) -> list[Journey]:
    """Every journey file of the project, by name; a broken file is one line naming it."""
    paths = sorted(folder(root).glob("*.json"))
    if not paths:   # every build asks: a project without journeys loads no model (pydantic)
        return []
    from percorso.activation.model import journey_from_dict

    out = []
    for path in paths:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not readable JSON ({exc})", code="journey_invalid") from None
        j = journey_from_dict(raw, origin=str(path))
        if j.name != path.stem:
            raise InputError(f"{path}: name {j.name!r} differs from the file name", code="journey_invalid")
        out.append(j)
    return out


def get_journey(root: Path, name: str) -> Journey:
    journeys = {j.name: j for j in load_journeys(root)}
    if name not in journeys:
        raise NotFound(f"no journey {name!r}; {suggest(name, journeys) if journeys else 'none yet'} "
                       f"(percorso journey create)", code="journey_not_found")
    return journeys[name]


def save_journey(root: Path, journey: Journey, *, replace: bool = False) -> Path:
    """Write ``journey`` atomically (temp file + rename)."""
    path = journey_path(root, journey.name)
    if path.exists() and not replace:
        raise InputError(f"journey {journey.name!r} exists ({path}); pass --replace to overwrite",
                         code="journey_exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(journey.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def set_enabled(root: Path, name: str, enabled: bool) -> Journey:
    j = get_journey(root, name).model_copy(update={"enabled": enabled})
    save_journey(root, j, replace=True)
    return j


def example(name: str) -> Journey:
    if name not in EXAMPLES:
        raise NotFound(f"no shipped journey {name!r}; {suggest(name, EXAMPLES)}", code="journey_not_found")
    from percorso.activation.model import journey_from_dict

    return journey_from_dict(EXAMPLES[name], origin=f"example {name}")


__all__ = ["EXAMPLES", "example", "get_journey", "journey_path", "load_journeys", "save_journey", "set_enabled"]

"""``evaluate``: pairwise precision and recall of the customers against a ground truth.

Why pairs: a clustering is right when every two events of one person share a customer
(recall) and every two events of one customer belong to one person (precision). The sums
of C(n, 2) over predicted, true and (predicted, true) groups give both without listing any
pair, so the whole computation stays in the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from percorso.engine import identity_sql as S
from percorso.errors import InputError, NotFound

if TYPE_CHECKING:
    from percorso.engine import Engine


def evaluate(engine: Engine, ground_truth_csv_path: str | Path) -> dict[str, Any]:
    """Precision, recall and pair counts of ``touchpoints`` (or ``event_customers``) vs the truth.

    The CSV has ``source_name, source_key, person_id`` (``ground_truth/identity.csv`` of the
    demo generator); it is joined to the assignments through ``events``. ``touchpoints`` (the
    issue's measure) holds only events with a customer, so an event with no usable identifier
    (an ESP event whose only identifier is a flagged family e-mail) is not scored at all; over
    ``event_customers`` (before a build) such events count against recall.
    """
    import pyarrow.csv as pacsv

    path = Path(ground_truth_csv_path)
    if not path.exists():
        raise NotFound(f"ground truth file {path} does not exist")
    opts = pacsv.ConvertOptions(column_types={"source_name": "string", "source_key": "string", "person_id": "string"})
    truth = pacsv.read_csv(path, convert_options=opts)
    missing = {"source_name", "source_key", "person_id"} - set(truth.column_names)
    if missing:
        raise InputError(f"{path}: missing columns {sorted(missing)}; valid: source_name, source_key, person_id")
    assigned = "touchpoints" if engine.has_table("touchpoints") else "event_customers"
    if not engine.has_table(assigned):
        raise NotFound("no touchpoints or event_customers yet; run `percorso identity resolve` first")
    engine.register_arrow("_id_truth", truth.select(["source_name", "source_key", "person_id"]))
    try:
        c = S.pair_counts(engine, "_id_truth", assigned)
    finally:
        engine.unregister("_id_truth")
    c["precision"] = c["correct_pairs"] / c["predicted_pairs"] if c["predicted_pairs"] else 1.0
    c["recall"] = c["correct_pairs"] / c["true_pairs"] if c["true_pairs"] else 1.0
    c["assigned_from"] = assigned
    return c

"""How much the identity solver gets, and its largest piece, as the data grows: prints ONE JSON object.

    PYTHONPATH=src .venv/bin/python bench/identity_solver_groups.py --customers 1000 4000 16000

ADR 0039 splits identity: label propagation in the engine finds candidate components; only
those where a rule can refuse a link (hubs, limit conflicts, two known customers, erasure
pins) go to the resolver's solver, one component per call (on Spark: one executor task per
component, ``SparkEngine.map_groups``). What a task holds is one component, so the question
for a cluster is whether the *largest* such component grows with the data. For each size a
generated demo (``percorso demo``: shared family devices, shop phones, typos, several cards)
is resolved with :func:`percorso.identity.engine_rules.resolve_in_engine` on DuckDB (the
same Ibis as on Spark; the sizes do not depend on the engine) and reports: identifiers,
events, the components sent to the solver, their identifiers and links, and the largest
component's identifiers and links, and whether the partition is the resolver's
(``equal_to_resolver``: the demo's ``identity_map``). Not a timing benchmark (no lock needed); ``--keep`` keeps
the projects in ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, nargs="+", default=[1000, 4000, 16000])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    from percorso.demo import run_demo
    from percorso.identity.engine_rules import resolve_in_engine
    from percorso.project import open_project

    work = a.work or Path(tempfile.mkdtemp(prefix="percorso-solver-groups-"))
    out = {"load_avg_start": [round(x, 2) for x in os.getloadavg()], "sizes": []}
    try:
        for n in a.customers:
            folder = work / f"demo-{n}"
            if not (folder / "percorso.toml").exists():
                run_demo(folder, customers=n, seed=7)
            with open_project(folder, read_only=True) as p:
                e = p.engine
                t0 = time.perf_counter()
                got = resolve_in_engine(p, e, e.table("events"))
                row = {"customers": n, "events": e.count("events"), "identifiers": e.count("identity_identifiers"),
                       "customers_found": int(e.execute(got.nodes.label.nunique())),
                       "seconds": round(time.perf_counter() - t0, 2), **{f"solver_{k}": v for k, v in got.solved.items()}}
                # the partition must be the resolver's (the demo's identity_map)
                mine = e.execute(got.nodes.select("id_type", "id_value", "label"))
                ref = e.execute(e.table("identity_map").select("id_type", "id_value", "customer_id"))
                row["equal_to_resolver"] = (
                    {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in mine.groupby("label")}
                    == {frozenset(zip(g.id_type, g.id_value, strict=True)) for _, g in ref.groupby("customer_id")})
            row["solver_share_of_identifiers"] = round(row["solver_identifiers"] / max(1, row["identifiers"]), 4)
            out["sizes"].append(row)
            print(json.dumps(row), flush=True, file=__import__("sys").stderr)
            if not a.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not a.keep and a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    out["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

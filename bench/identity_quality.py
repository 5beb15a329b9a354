"""Identity quality on the demo's ground truth: prints ONE JSON object.

    .venv/bin/python bench/identity_quality.py --customers 100000 --seed 42   # the issue's size
    .venv/bin/python bench/identity_quality.py --customers 20000              # development

Generates the demo files (``percorso generate``), imports them all into a fresh project,
builds (``percorso.build.run_build``) and scores identity's assignment (``event_customers``,
the events placed in a customer, record keeping included, as ``percorso.identity.evaluate``) against
``ground_truth/identity.csv`` (source_name, source_key, person_id) with pairwise precision
and recall. Pairs are counted in the engine as sums of C(n, 2) over (customer), (person) and
(customer, person) cells — no pair is listed. Also reported:

- ``merges_through_flagged_hubs``: used links that touch a flagged identifier (must be 0);
- ``by_kind``: per key identifier kind of the scored events, the pairs it puts wrongly together
  (false merges: customer cells holding several persons) and how many persons are split
  over several customers — to find which identifier causes errors;
- ``missing_pairs_by_split_kinds`` / ``_sources``: the true pairs lost by each split-off part
  of a person (all but its largest customer), grouped by the part's key kinds or sources —
  pairs are quadratic, so this says where recall goes, which counts of persons do not;
- ``missing_pairs_by_part``: the pairs recall misses, by why each split-off part of a person
  (every customer of a person but its largest) stays apart — A: the person never carries a
  strong identifier; B: the part carries a flagged identifier (family e-mail); C: the part has
  only weak identifiers (cookie, device, order); D: its strong identifiers appear nowhere else
  in the person; E: it is identified but the person's largest part is not (a busy cookie that
  never identifies: the loss is really that cookie's) — and the sources of its events. A part
  of n events in a person of N events whose largest part has m is charged n*m + n*(N-m-n)/2
  pairs, so the rows sum to the missing pairs (pairs are quadratic: heavy people dominate,
  which a count of persons hides);
  ``top_by_kinds`` groups the same parts by the identifier kinds on their events (``!`` marks
  a flagged one: ``anonymous_id+email_key!`` is a cookie that only a family e-mail identified);
- ``device_links``: anonymous components the device link (ADR 0009) attached, and how many of
  them to the right person (its anonymous and its known event belong to one person);
- ``recall_upper_bound``: the recall of a perfect linker that knows the truth but only has
  the evidence the resolver has: the identifiers on the events and the (IP, user agent) pair
  the device link (ADR 0009) reads (what no rule over that evidence can exceed);
  ``recall_upper_bound_identifiers``: the same with the identifiers alone (what no
  deterministic rule can exceed); with ``--what-if``, the identifier bound if the files also
  carried a payment-card token or the codice fiscale on financed receipts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from percorso.build import run_build  # noqa: E402
from percorso.generate import generate  # noqa: E402
from percorso.identity import evaluate  # noqa: E402
from percorso.ingest.demo_files import ingest_demo_folder  # noqa: E402
from percorso.project import init_project, open_project  # noqa: E402

BREAKDOWN = """
WITH j AS (
    SELECT t.customer_id, g.person_id, ec.id_type
    FROM _q_scored t JOIN events e USING (event_id) JOIN event_customers ec USING (event_id)
    JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key),
cells AS (SELECT customer_id, person_id, count(*) AS n FROM j WHERE customer_id IS NOT NULL GROUP BY ALL),
cust AS (SELECT customer_id, count(*) AS persons, sum(n) AS n FROM cells GROUP BY 1),
wrong AS (  -- pairs of events of one customer that belong to different persons
    SELECT c.customer_id, (c.n * (c.n - 1) // 2) - sum(x.n * (x.n - 1) // 2) AS false_pairs
    FROM cust c JOIN cells x USING (customer_id) WHERE c.persons > 1 GROUP BY c.customer_id, c.n),
kinds AS (SELECT customer_id, string_agg(DISTINCT id_type, '+' ORDER BY id_type) AS key_kinds FROM j GROUP BY 1)
SELECT key_kinds, count(*) AS merged_customers, sum(false_pairs)::BIGINT AS false_pairs
FROM wrong JOIN kinds USING (customer_id) GROUP BY 1 ORDER BY false_pairs DESC LIMIT 12
"""

SPLITS = """
WITH j AS (
    SELECT t.customer_id, g.person_id, ec.id_type
    FROM _q_scored t JOIN events e USING (event_id) JOIN event_customers ec USING (event_id)
    JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key),
p AS (SELECT person_id, count(DISTINCT coalesce(customer_id, '?')) AS parts, count(*) AS n,
             count(*) FILTER (customer_id IS NULL) AS unassigned FROM j GROUP BY 1),
minor AS (  -- events of a person outside its largest customer, by the key kind of their customer
    SELECT person_id, customer_id, count(*) AS n, row_number() OVER (PARTITION BY person_id ORDER BY count(*) DESC,
           customer_id) AS rk, string_agg(DISTINCT id_type, '+' ORDER BY id_type) AS key_kinds
    FROM j GROUP BY 1, 2)
SELECT key_kinds, count(DISTINCT person_id) AS split_persons, sum(n)::BIGINT AS events_outside_main
FROM minor WHERE rk > 1 GROUP BY 1 ORDER BY events_outside_main DESC LIMIT 12
"""

DEVICE_LINKS = """
SELECT count(*) AS links, count(*) FILTER (WHERE ta.person_id = tk.person_id) AS right_person
FROM identity_device_links d
JOIN events ea ON ea.event_id = d.anon_event_id JOIN _q_truth ta ON ta.source_name = ea.source_name AND ta.source_key = ea.source_key
JOIN events ek ON ek.event_id = d.known_event_id JOIN _q_truth tk ON tk.source_name = ek.source_name AND tk.source_key = ek.source_key
"""

MISSING = """
WITH j AS (
    SELECT t.customer_id, g.person_id, e.source_name, ec.id_type
    FROM _q_scored t JOIN events e USING (event_id) LEFT JOIN event_customers ec USING (event_id)
    JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key),
parts AS (  -- one person's events in one customer, with the key kinds and sources of that part
    SELECT person_id, customer_id, count(*) AS n, string_agg(DISTINCT id_type, '+' ORDER BY id_type) AS kinds,
           string_agg(DISTINCT source_name, '+' ORDER BY source_name) AS sources,
           row_number() OVER (PARTITION BY person_id ORDER BY count(*) DESC, customer_id) AS rk
    FROM j GROUP BY 1, 2),
m AS (  -- a split-off part misses its pairs with the main part and half of those with other split-off parts
    SELECT *, n * nmain + n * (tot - nmain - n) / 2 AS mass FROM (
        SELECT *, sum(n) OVER (PARTITION BY person_id) AS tot, max(n) OVER (PARTITION BY person_id) AS nmain
        FROM parts) WHERE rk > 1)
SELECT {by}, count(*) AS parts, sum(n)::BIGINT AS events, round(sum(mass))::BIGINT AS missing_pairs,
       round(sum(mass) / (SELECT sum(mass) FROM m), 4) AS share
FROM m GROUP BY 1 ORDER BY missing_pairs DESC LIMIT 12
"""


STRONG_COLS = ("user_id", "email_key", "phone_key", "loyalty_card", "crm_id", "tax_code_key")


def missing_pairs_by_part(e) -> dict[str, object]:  # noqa: ANN001
    """Missing pairs charged to each split-off part, by cause (A-D, see the module doc), sources
    and the identifier kinds on the part's events (``!`` marks a flagged one)."""
    def has(c: str) -> str:
        return f"coalesce(e.{c}, '') <> ''"
    strong = " OR ".join(has(c) for c in STRONG_COLS)
    fl = {c: f"({has(c)} AND hash('{c}', e.{c}) IN (SELECT h FROM _q_fl))" for c in COLS}
    kinds = ", ".join(f"CASE WHEN {fl[c]} THEN '{c}!' WHEN {has(c)} THEN '{c}' END" for c in COLS)
    e.run("CREATE OR REPLACE TEMP TABLE _q_fl AS SELECT DISTINCT hash(id_type, id_value) AS h FROM identity_flags")
    e.run(f"""CREATE OR REPLACE TEMP TABLE _q_parts AS
    WITH ev AS (SELECT coalesce(t.customer_id, 'none:' || t.event_id) AS cid, g.person_id, e.source_name,
            ({strong}) AS strong, ({" OR ".join(fl.values())}) AS flagged,
            list_filter([{kinds}], lambda k: k IS NOT NULL) AS kinds
        FROM _q_scored t JOIN events e USING (event_id)
        JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key),
    parts AS (SELECT person_id, cid, count(*) AS n, bool_or(strong) AS strong, bool_or(flagged) AS flagged,
            string_agg(DISTINCT source_name, '+' ORDER BY source_name) AS sources,
            array_to_string(list_sort(list_distinct(flatten(list(kinds)))), '+') AS kinds FROM ev GROUP BY ALL),
    pp AS (SELECT *, sum(n) OVER w AS tot, max(n) OVER w AS nmain, bool_or(strong) OVER w AS known,
            row_number() OVER o AS rk, first_value(strong) OVER o AS main_strong
        FROM parts WINDOW w AS (PARTITION BY person_id), o AS (PARTITION BY person_id ORDER BY n DESC, cid))
    SELECT CASE WHEN NOT known THEN 'A never identified' WHEN flagged THEN 'B flagged identifier'
                WHEN NOT strong THEN 'C weak identifiers only' WHEN main_strong THEN 'D strong identifiers not elsewhere'
                ELSE 'E identified, beside a larger anonymous part' END AS cause,
           sources, kinds, n * nmain + n * (tot - nmain - n) / 2 AS mass FROM pp WHERE rk > 1""")
    out = {}
    for by in ("sources", "kinds"):
        out[by] = e.query(f"""SELECT cause, {by}, count(*) AS parts, round(sum(mass))::BIGINT AS missing_pairs
            FROM _q_parts GROUP BY ALL ORDER BY missing_pairs DESC""").to_pylist()
    e.run("DROP TABLE _q_fl")
    e.run("DROP TABLE _q_parts")
    totals: dict[str, int] = {}
    for row in out["sources"]:
        totals[row["cause"]] = totals.get(row["cause"], 0) + row["missing_pairs"]
    return {"by_cause": dict(sorted(totals.items())), "top": out["sources"][:20], "top_by_kinds": out["kinds"][:20]}


COLS = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key", "loyalty_card", "crm_id",
        "tax_code_key", "order_id")
#: the device link's evidence (ADR 0009): an (IP, user agent) pair, NULL when either is missing
DEVICE_PAIR = "nullif(ip_key, '') || chr(31) || nullif(user_agent, '')"


def recall_upper_bound(e, events: str = "events", cols: tuple[str, ...] = COLS) -> float:  # noqa: ANN001
    """Recall of a perfect, truth-aware linker: identifiers joined only within one person.

    Events of a person that share no chain of ``cols`` (columns, or SQL expressions of the
    events' columns such as :data:`DEVICE_PAIR`) with each other cannot be put together by any
    rule over that evidence; this bounds the recall any resolution using it can reach. The
    chains run over every event of the truth (an e-commerce order, which ``touchpoints`` folds
    into the web purchase, still joins its phone and codice fiscale, as it does for the
    resolver); the pairs are counted over the scored events, as recall is.
    """
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e.run(f"""CREATE OR REPLACE TEMP TABLE _q_j AS SELECT (row_number() OVER () - 1)::BIGINT AS ev, g.person_id,
            e.event_id IN (SELECT event_id FROM _q_scored) AS scored, e.*
        FROM {events} e JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key""")
    n_ev = e.count("_q_j")
    un = " UNION ALL ".join(f"SELECT ev, hash(person_id, {i}, {c}) AS h FROM _q_j WHERE ({c}) IS NOT NULL"
                         for i, c in enumerate(cols))
    t = e.query(f"SELECT ev, h FROM ({un})")
    _, node = np.unique(t["h"].to_numpy(), return_inverse=True)
    a, b = t["ev"].to_numpy(), node + n_ev
    n = int(b.max()) + 1 if b.size else n_ev
    _, lab = connected_components(coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n)), directed=False)
    e.register_arrow("_q_lab", pa.table({"ev": np.arange(n_ev), "c": lab[:n_ev]}))
    r = e.query("""WITH x AS (SELECT j.person_id, l.c FROM _q_j j JOIN _q_lab l USING (ev) WHERE j.scored),
        p AS (SELECT count(*) AS n FROM x GROUP BY c), t AS (SELECT count(*) AS n FROM x GROUP BY person_id)
        SELECT (SELECT sum(n * (n - 1) // 2) FROM p) / (SELECT sum(n * (n - 1) // 2) FROM t) AS ub""")
    e.unregister("_q_lab")
    return float(r["ub"][0].as_py())


WHAT_IF = """
CREATE OR REPLACE TEMP VIEW _q_what_if AS
WITH g AS (SELECT e.event_id, g.person_id FROM events e
           JOIN _q_truth g ON g.source_name = e.source_name AND g.source_key = e.source_key),
cf AS (SELECT g.person_id, min(e.tax_code_key) AS cf FROM events e JOIN g USING (event_id)
       WHERE e.tax_code_key IS NOT NULL GROUP BY 1)
SELECT e.*,
    -- one payment-card token per person on card-paid till receipts and web orders (optimistic)
    CASE WHEN (e.source_name = 'pos' AND e.properties NOT ILIKE '%contanti%') OR e.source_name = 'ecommerce'
         THEN g.person_id END AS card_token,
    -- the buyer's codice fiscale on financed till receipts (consumer credit needs it)
    CASE WHEN e.source_name = 'pos' AND e.properties ILIKE '%finanziamento%'
         THEN coalesce(e.tax_code_key, cf.cf, 'new:' || g.person_id) ELSE e.tax_code_key END AS tax_code_fin
FROM events e JOIN g USING (event_id) LEFT JOIN cf USING (person_id)
"""


def what_if_bounds(e) -> dict[str, float]:  # noqa: ANN001
    """The perfect linker's recall if the files carried evidence real systems hold but the demo lacks.

    The extra identifier is built from the truth, so each figure is the most that evidence
    could add: it says whether adding it to the generator and ingest is worth doing.
    """
    e.run(WHAT_IF)
    fin = tuple("tax_code_fin" if c == "tax_code_key" else c for c in COLS)
    return {"card_token": recall_upper_bound(e, "_q_what_if", COLS + ("card_token",)),
            "tax_code_on_financed_receipts": recall_upper_bound(e, "_q_what_if", fin)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, help="folder to keep (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true", help="reuse an already ingested --keep folder (rebuild only)")
    ap.add_argument("--what-if", action="store_true", help="also the bound with evidence the demo lacks")
    ap.add_argument("--ingest-memory", help="raise ingest's per-file memory cap (e.g. 2GB)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = a.keep or Path(tmp)
        root, data = base / "proj", base / "data"
        out: dict[str, object] = {"customers": a.customers, "seed": a.seed}
        if not a.reuse:
            t0 = time.perf_counter()
            generate(data, a.customers, a.seed)
            out["generate_s"] = round(time.perf_counter() - t0, 1)
            import shutil

            shutil.rmtree(root, ignore_errors=True)  # a fresh project: a new secret must not meet old hashes
            init_project(root, name="quality")
            project = open_project(root)
            t0 = time.perf_counter()
            if a.ingest_memory:  # work-around knob: ingest's per-file engine memory cap
                from percorso.ingest import pipeline

                pipeline.MEMORY_CAP.update(dict.fromkeys(("csv", "jsonl", "xlsx", "json"), a.ingest_memory))
            ingest_demo_folder(project, data / "sources")
            out["ingest_s"] = round(time.perf_counter() - t0, 1)
        else:
            project = open_project(root)
        t0 = time.perf_counter()
        rep = run_build(project, full=True)
        out["build_s"] = round(time.perf_counter() - t0, 1)
        out["identity"] = {k: v for k, v in rep.identity.items() if k != "phases"}
        e = project.engine
        truth = data / "ground_truth" / "identity.csv"
        out.update(evaluate(e, truth))
        out["merges_through_flagged_hubs"] = e.query("""SELECT count(*) AS n FROM identity_links l
            JOIN identity_flags f ON (f.id_type = l.id_type_a AND f.id_value = l.id_value_a)
                                  OR (f.id_type = l.id_type_b AND f.id_value = l.id_value_b)
            WHERE l.status = 'used'""")["n"][0].as_py()
        out["flags_by_kind"] = e.query("""SELECT id_type, reason, count(*) AS n FROM identity_flags
            GROUP BY ALL ORDER BY n DESC""").to_pylist()
        import pyarrow.csv as pacsv

        e.register_arrow("_q_truth", pacsv.read_csv(truth, convert_options=pacsv.ConvertOptions(
            column_types={"source_name": "string", "source_key": "string", "person_id": "string"})))
        e.run("""CREATE OR REPLACE TEMP VIEW _q_scored AS
            SELECT event_id, customer_id FROM event_customers WHERE customer_id IS NOT NULL""")
        out["false_merges_by_key_kinds"] = e.query(BREAKDOWN).to_pylist()
        out["splits_by_key_kinds"] = e.query(SPLITS).to_pylist()
        for by in ("kinds", "sources"):  # recall lost, as pair mass: heavy persons dominate
            out[f"missing_pairs_by_split_{by}"] = e.query(MISSING.format(by=by)).to_pylist()
        out["device_links"] = e.query(DEVICE_LINKS).to_pylist()[0]
        out["missing_pairs_by_part"] = missing_pairs_by_part(e)
        out["recall_upper_bound"] = recall_upper_bound(e, cols=COLS + (DEVICE_PAIR,))
        out["recall_upper_bound_identifiers"] = recall_upper_bound(e)
        if a.what_if:
            out["recall_upper_bound_what_if"] = what_if_bounds(e)
        e.unregister("_q_truth")
        e.close()
        print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()

"""CLI of the value commands (rfm, clv, churn, cohorts, segment) on a real project, via CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from percorso.cli import app
from percorso.project import init_project, open_project
from percorso.testing import journeys_for


def shoppers(n: int = 40, seed: int = 4) -> dict:
    """Customers buying online or in store at their own pace over 2024, with site visits."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        t = datetime(2024, 1, 1, 10) + timedelta(days=int(rng.integers(0, 120)))
        steps, gap = [], float(rng.uniform(15, 120))
        while t < datetime(2024, 12, 31):
            store = bool(rng.random() < 0.5)
            steps.append(("page_view", t - timedelta(hours=2)))
            steps.append(("receipt" if store else "purchase", t,
                          {"channel": "Store / POS" if store else "Direct", "revenue": float(rng.integers(20, 300))}))
            t += timedelta(days=float(rng.exponential(gap)) + 1)
        out[f"c{i:02d}"] = steps
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "p"
    init_project(root, name="t")
    with open_project(root) as p:
        journeys_for(p.engine, shoppers())
    return root


def _ok(args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def _json(args):
    return json.loads(_ok([*args, "-f", "json"]).stdout)


def test_rfm(project, tmp_path):
    doc = _json(["rfm", "-p", project, "--chart", tmp_path / "r.html"])
    assert sum(r["customers"] for r in doc) == 40 and (tmp_path / "r.html").exists()
    assert all(r["online_orders"] + r["store_orders"] > 0 for r in doc)
    seg = doc[0]["segment"]
    rows = _json(["rfm", "-p", project, "--customers", f"segment={seg}", "--limit", "100"])
    assert len(rows) == doc[0]["customers"] and {r["rfm_segment"] for r in rows} == {seg}
    _ok(["rfm", "-p", project, "--out", tmp_path / "r.xlsx"])
    assert (tmp_path / "r.xlsx").stat().st_size > 0


def test_clv_churn_cohorts(project, tmp_path):
    params = _json(["clv", "fit", "-p", project, "--horizon-months", "6", "--chart", tmp_path / "d.html"])
    assert {r["param"] for r in params} == {"r", "alpha", "a", "b", "p", "q", "gamma"}
    assert all(r["ci95_low"] <= r["estimate"] <= r["ci95_high"] for r in params if r["se"] is not None)
    stored = _json(["clv", "models", "-p", project])
    assert [r["estimate"] for r in stored] == [r["estimate"] for r in params]
    top = _json(["clv", "predict", "-p", project, "--decile", "1", "--limit", "100"])
    assert len(top) == 4 and top == sorted(top, key=lambda r: -r["clv"])
    hold = _json(["clv", "validate", "-p", project, "--holdout", "12w", "--chart", tmp_path / "h.html"])
    assert hold[0]["bucket"] == "0" and (tmp_path / "h.html").exists()
    churn = _json(["churn", "-p", project])
    assert sum(r["customers"] for r in churn) == 40
    lvl = churn[0]["risk_level"]
    assert len(_json(["churn", "-p", project, "--customers", f"risk_level={lvl}"])) == churn[0]["customers"]
    coh = _json(["cohorts", "-p", project, "--metric", "cum_revenue_per_customer", "--chart", tmp_path / "c.html"])
    assert {r["period"] for r in coh if r["cohort"] == "2024-01"} == set(range(12))
    first = next(r for r in coh if r["period"] == 0)
    drill = _json(["cohorts", "-p", project, "--customers", f"cohort={first['cohort']},period=0"])
    assert len(drill) == first["active"]


@pytest.fixture(scope="module")
def fitted(project):
    """The project with a stored CLV fit: an export with the ``clv`` column needs one. Fitting here
    (not relying on test_clv_churn_cohorts having run first) keeps the test right alone or in any order."""
    _ok(["clv", "fit", "-p", project, "--horizon-months", "6"])
    return project


def test_segments(fitted, tmp_path):
    project = fitted
    rule = ('{"type":"and","rules":[{"type":"behaviour","action":"bought_in_store","min_count":2},'
            '{"type":"compare","field":"rfm_segment","op":"ne","value":"Lost"}]}')
    _ok(["segment", "create", "stores", "-p", project, "--rule", rule, "--description", "negozio"])
    listed = _json(["segment", "list", "-p", project])
    assert listed[0]["name"] == "stores" and listed[0]["description"] == "negozio"
    hist = _json(["segment", "show", "stores", "-p", project, "--chart", tmp_path / "s.html"])
    assert [h["size"] for h in hist] == [listed[0]["size"]] * 2 and hist[1]["entered"] == hist[1]["left"] == 0
    rows = list(csv_rows(_ok(["segment", "export", "stores", "-p", project]).stdout))
    assert rows[0] == ["customer_id", "rfm_segment"] and len(rows) == listed[0]["size"] + 1
    rows = list(csv_rows(_ok(["segment", "export", "stores", "-p", project, "--columns", "health_score,clv"]).stdout))
    assert rows[0] == ["customer_id", "health_score", "clv"]
    assert _json(["segment", "refresh", "-p", project])[0]["size"] == listed[0]["size"]
    assert len(_json(["rfm", "-p", project, "--segment", "stores"])) >= 1
    _ok(["segment", "delete", "stores", "-p", project])
    assert _json(["segment", "list", "-p", project]) == []


def csv_rows(text):
    import csv
    import io

    return csv.reader(io.StringIO(text))


def test_bayes_without_the_extra_fails_with_one_clear_line(project):
    """Simulate a default install (pymc-marketing not importable) through the real entry point."""
    code = ("import sys; sys.modules['pymc_marketing'] = None; sys.modules['pymc_marketing.clv'] = None\n"
            "from percorso.cli import main; sys.argv = ['percorso', 'clv', 'bayes', '-p', sys.argv[1]]; main()")
    res = subprocess.run([sys.executable, "-c", code, str(project)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "errore [extra_missing]: the Bayesian CLV fit needs the optional extra: pip install 'percorso[bayes]' "
        "(il fit bayesiano richiede l'extra [bayes]: pymc-marketing)"]

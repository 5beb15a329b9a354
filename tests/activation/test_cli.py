"""``percorso journey …`` end to end on a small project: create, list, show, enable, test, run, log, results."""

from __future__ import annotations

import json

from percorso.cli import run_cli

from .helpers import make_project


def test_journey_commands(tmp_path, capsys) -> None:
    people = {f"C{i:02d}": [("add_to_cart", "2024-03-05 10:00")] for i in range(12)}
    project = make_project(tmp_path, people, {c: {"email": f"{c.lower()}@example.it"} for c in people},
                           'smtp_host = "127.0.0.1"\nsmtp_port = 1\n')
    project.close()
    p = ["--project", str(tmp_path)]
    assert run_cli(["journey", "create", "--example", "cart_abandonment", *p]) == 0
    assert run_cli(["journey", "create", "--example", "cart_abandonment", *p]) == 2  # exists: one line, usage error
    assert "journey_exists" in capsys.readouterr().err
    assert run_cli(["journey", "list", "--format", "json", *p]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["journey"], r["enabled"]) for r in listed] == [("cart_abandonment", False)]
    assert run_cli(["journey", "show", "cart_abandonment", *p]) == 0
    assert json.loads(capsys.readouterr().out)["trigger"]["unless"] == "purchase"
    assert run_cli(["journey", "test", "cart_abandonment", "--now", "2024-03-06", "--format", "json", *p]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert len(preview) == 12 and all(r["actions"] in ("wait 1h → email:cart_email", "(controllo / control: nothing)")
                                      for r in preview)
    assert run_cli(["journey", "enable", "cart_abandonment", *p]) == 0
    assert run_cli(["journey", "run", "--no-send", "--now", "2024-03-06", *p]) == 0
    assert run_cli(["journey", "log", "cart_abandonment", "--format", "json", *p]) == 0
    log = json.loads(capsys.readouterr().out)
    assert len(log) == 12 and {r["status"] for r in log} <= {"pending", "held_out"}
    assert {r["customer_id"]: r["variant"] for r in log} == {r["customer_id"]: r["variant"] for r in preview}
    assert run_cli(["journey", "results", "cart_abandonment", "--format", "json", *p]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results[0]["step"] == "journey" and results[0]["n_treated"] + results[0]["n_control"] == 12
    assert run_cli(["journey", "show", "nope", *p]) == 3
    assert run_cli(["journey", "disable", "cart_abandonment", *p]) == 0

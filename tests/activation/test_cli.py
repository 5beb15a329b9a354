"""``percorso journey …`` end to end on a small project: create, list, show, enable, test, run, log, results."""

from __future__ import annotations

import json
from datetime import datetime

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


def test_audience_and_task_lists(tmp_path, capsys) -> None:
    import csv

    from percorso.activation.model import journey_from_dict
    from percorso.activation.service import tick
    from percorso.activation.store import save_journey

    people = {"A": [("return", "2024-03-05 10:00", {"revenue": -10})],
              "B": [("return", "2024-03-05 11:00", {"revenue": -20})]}
    project = make_project(tmp_path, people, {"A": {"email": "Anna.Rossi@GMail.com", "phone": "3401234567",
                                                    "first_name": "Anna", "home_store": "S01"},
                                              "B": {"email": "b@example.it", "home_store": "S02"}})
    save_journey(project.root, journey_from_dict({
        "name": "ret", "enabled": True, "holdout": 0.0, "trigger": {"kind": "event", "event_type": "return"},
        "steps": [{"kind": "act", "name": "aud", "action": {"kind": "audience", "audience": "winback", "format": "google"}},
                  {"kind": "act", "name": "task", "action": {"kind": "task", "queue": "store", "note": "richiamare"}}]}))
    tick(project, now=datetime(2024, 3, 5, 14))
    project.close()
    out = tmp_path / "lists"
    assert run_cli(["journey", "export", "ret", "--out", str(out), "--project", str(tmp_path)]) == 0
    rows = list(csv.reader(open(out / "ret_winback_google.csv", encoding="utf-8")))
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    import hashlib

    emails = sorted(r[0] for r in rows[1:])
    assert emails == sorted([hashlib.sha256(b"annarossi@gmail.com").hexdigest(),
                             hashlib.sha256(b"b@example.it").hexdigest()])
    s01 = (out / "ret_tasks_S01.csv").read_text(encoding="utf-8-sig").splitlines()
    assert s01[0].startswith("queue;store_id;due_at;customer_id") and ";A;Anna;" in s01[1] and "richiamare" in s01[1]
    assert (out / "ret_tasks_S02.csv").exists()

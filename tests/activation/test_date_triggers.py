"""Birthday triggers on the project's calendar: the local day, 29 February in common years, once a year."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from percorso.activation.model import DateTrigger, journey_from_dict
from percorso.activation.runner import run_journeys
from percorso.activation.triggers import occurrences

from .helpers import make_project

BORN = {"A": date(1990, 2, 28), "B": date(1992, 2, 29), "C": date(1985, 3, 1), "D": None, "E": date(2025, 2, 28)}


@pytest.fixture
def project(tmp_path):
    people = {c: [("page_view", "2024-01-10 10:00")] for c in BORN}
    return make_project(tmp_path, people, {c: {"birth_date": pd.Timestamp(b)} for c, b in BORN.items() if b})


def _who(project, now: datetime, days: int = 0) -> list[str]:
    occ = project.engine.execute(occurrences(project.engine, DateTrigger(rule="birthday", days=days), now,
                                             project.settings.project.time_zone))
    return sorted(occ["customer_id"])


@pytest.mark.parametrize(("now", "days", "expected"), [
    # 23:30 UTC on the 27th is 00:30 on the 28th in Rome: a common year, so 29 February people too
    # (E is born that very day: a birth, not a birthday)
    (datetime(2025, 2, 27, 23, 30), 0, ["A", "B"]),
    (datetime(2025, 2, 27, 22, 30), 0, []),            # 23:30 on the 27th in Rome: nobody yet
    (datetime(2025, 3, 1, 12, 0), 0, ["C"]),            # B is not wished twice
    (datetime(2024, 2, 28, 12, 0), 0, ["A"]),           # a leap year: B waits for the 29th
    (datetime(2024, 2, 29, 12, 0), 0, ["B"]),
    (datetime(2025, 2, 21, 12, 0), 7, ["A", "B"]),      # a week before: the target day is 28 February 2025
    (datetime(2024, 2, 22, 12, 0), 7, ["B"]),           # a week before 29 February 2024
    (datetime(2026, 2, 28, 12, 0), 0, ["A", "B", "E"]),  # E's first birthday
])
def test_birthday_on_the_local_calendar(project, now, days, expected) -> None:
    assert _who(project, now, days) == expected


def test_birthday_enrols_once_a_year(project) -> None:
    j = journey_from_dict({"name": "auguri", "enabled": True, "holdout": 0.0,
                           "trigger": {"kind": "date", "rule": "birthday"},
                           "steps": [{"kind": "act", "action": {"kind": "task", "note": "Auguri!"}}]})
    zone = project.settings.project.time_zone
    for hour in (9, 15):  # two beats the same day: one enrolment each
        run_journeys(project.engine, project.secret, [j], now=datetime(2025, 2, 28, hour), zone=zone)
    e = project.engine.execute(project.engine.table("activation_enrolments"))
    assert sorted(zip(e["customer_id"], e["occurrence"])) == [("A", "birthday:2025"), ("B", "birthday:2025")]


def test_no_birth_dates_is_one_line(tmp_path) -> None:
    from percorso.errors import InputError

    project = make_project(tmp_path, {"A": [("page_view", "2024-01-10 10:00")]}, {})
    project.engine.create_table("customers", project.engine.to_arrow(
        project.engine.table("customers").drop("birth_date")))
    with pytest.raises(InputError, match="birth_date"):
        _who(project, datetime(2025, 2, 28, 12))

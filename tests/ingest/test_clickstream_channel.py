"""A clickstream's own channel column (ADR 0055): its labels are the events' channel, translated
to the reports' channel names; the column stays in ``properties``; the rows' ids do not change."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from percorso.build import run_build
from percorso.channels.names import KNOWN_CHANNELS
from percorso.events.channel_labels import _ALIASES, CHANNEL_LABELS, NOT_A_CHANNEL, channel_of_label, label_key
from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

# u2's two visits are three days apart: two sessions, each with the channel its file row gives
CSV = ("user_id,event,ts,channel,browser\n"
       "u1,page_view,2025-03-01 10:00:00,paid_search,Firefox\n"
       "u1,purchase,2025-03-01 10:05:00,paid_search,Chrome\n"
       "u2,page_view,2025-03-02 09:00:00, Newsletter ,Firefox\n"
       "u2,page_view,2025-03-05 09:00:00,Organic Search,Firefox\n"
       "u3,page_view,2025-03-01 08:00:00,Partner,Firefox\n"
       "u4,page_view,2025-03-01 08:00:00,,Firefox\n"
       "u6,page_view,2025-03-01 08:00:00,SOCIAL-MEDIA,Firefox\n"
       "u7,page_view,2025-03-01 08:00:00,Diretto,Firefox\n"
       "u8,page_view,2025-03-01 08:00:00,Browser,Firefox\n")
#: By hand, from the label table: (user, channel of the event, channel of the touchpoint, rule).
EXPECTED = [
    ("u1", "Paid Search", "Paid Search", "source"),
    ("u1", "Paid Search", "Paid Search", "source"),
    ("u2", "Email", "Email", "source"),
    ("u2", "Organic Search", "Organic Search", "source"),
    ("u3", "Partner", "Partner", "source"),            # a label the table does not know: as written
    ("u4", None, "Direct", "ga4-2026:2"),               # no label: the GA4 rules (no UTM, no referrer)
    ("u6", "Organic Social", "Organic Social", "source"),
    ("u7", "Direct", "Direct", "source"),
    ("u8", None, "Direct", "ga4-2026:2"),               # where it was recorded, not how they came
]


def _project(tmp_path: Path, name: str = "p", extra_toml: str = ""):
    init_project(tmp_path / name)
    if extra_toml:
        cfg = tmp_path / name / "percorso.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + extra_toml, encoding="utf-8")
    return open_project(tmp_path / name)


def _file(tmp_path: Path, text: str = CSV, name: str = "clicks.csv") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def _channels(p) -> list[tuple]:
    return p.engine.con.execute(
        "SELECT e.user_id, e.channel, t.channel, t.channel_rule FROM events e "
        "JOIN touchpoints t USING (event_id) ORDER BY e.source_line").fetchall()


def test_labels_are_the_events_channel_and_stay_in_properties(tmp_path):
    p = _project(tmp_path)
    (r,) = ingest_files(p, "clickstream", [_file(tmp_path)])
    assert (r.accepted, r.quarantined) == (9, 0)
    run_build(p)
    assert _channels(p) == EXPECTED
    props = [json.loads(x) for (x,) in p.engine.con.execute("SELECT properties FROM events ORDER BY source_line")
             .fetchall()]
    assert [x["channel"] for x in props] == ["paid_search", "paid_search", " Newsletter ", "Organic Search",
                                             "Partner", None, "SOCIAL-MEDIA", "Diretto", "Browser"]
    assert [x["browser"] for x in props] == ["Firefox", "Chrome"] + ["Firefox"] * 7
    p.close()


def test_the_channel_column_leaves_event_ids_as_they_were(tmp_path):
    """Rows keyed by their content (no id column) get the ids they had when the column was only a
    property: the same rows without the column give the same ids, so a file imported before is
    recognised again."""
    without = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 3) for line in CSV.splitlines())
    a, b = _project(tmp_path, "a"), _project(tmp_path, "b")
    ingest_files(a, "clickstream", [_file(tmp_path)])
    ingest_files(b, "clickstream", [_file(tmp_path, without + "\n", "other-name.csv")])
    ids = "SELECT event_id, source_key FROM events ORDER BY source_line"
    assert a.engine.con.execute(ids).fetchall() == b.engine.con.execute(ids).fetchall()
    # and the same rows imported again (another file name) are all duplicates
    (r,) = ingest_files(a, "clickstream", [_file(tmp_path, CSV, "again.csv")])
    assert (r.accepted, r.duplicates) == (0, 9)
    a.close()
    b.close()


def test_a_source_names_its_own_labels(tmp_path):
    p = _project(tmp_path, extra_toml='[sources.negozio]\nkind = "clickstream"\n'
                                      'mapping = { "channel.Partner" = "Affiliates", "channel.diretto" = "Referral" }\n')
    ingest_files(p, "negozio", [_file(tmp_path)])
    got = dict(p.engine.con.execute("SELECT user_id, channel FROM events WHERE user_id IN ('u3', 'u7')").fetchall())
    assert got == {"u3": "Affiliates", "u7": "Referral"}
    p.close()


def test_an_older_project_gets_its_channels_by_the_migration(tmp_path):
    """A project whose clickstream was imported before: the column only in ``properties``, the
    events' channel empty, the database at migration 3. Opened by this version, the events get the
    channel the ingest now gives, and a build gives the touchpoints a fresh import gets."""
    p = _project(tmp_path)
    ingest_files(p, "clickstream", [_file(tmp_path)])
    fresh = p.engine.con.execute("SELECT event_id, channel FROM events ORDER BY event_id").fetchall()
    run_build(p)
    # back to the layout of migration 3: ``events`` a table (the store and its views came with 7, ADR 0075)
    p.engine.con.execute("UPDATE event_store SET channel = NULL")
    p.engine.con.execute("DELETE FROM schema_migrations WHERE version IN (4, 7)")
    p.engine.con.execute("DROP VIEW events")
    p.engine.con.execute("DROP VIEW events_with_rowid")
    p.engine.con.execute("ALTER TABLE event_store RENAME TO events")
    p.close()
    path = tmp_path / "p" / "percorso.duckdb"
    con = duckdb.connect(str(path))
    assert con.execute("SELECT count(channel) FROM events").fetchall() == [(0,)]
    con.close()
    p = open_project(tmp_path / "p")
    assert p.engine.con.execute("SELECT event_id, channel FROM events ORDER BY event_id").fetchall() == fresh
    run_build(p, full=True)
    assert _channels(p) == EXPECTED
    p.close()


def test_label_table_speaks_the_reports_vocabulary():
    assert set(CHANNEL_LABELS.values()) <= set(KNOWN_CHANNELS) | {""}
    assert {label_key(c) for c in KNOWN_CHANNELS} <= set(CHANNEL_LABELS)
    keys = [label_key(a) for aliases in _ALIASES.values() for a in aliases] + [label_key(w) for w in NOT_A_CHANNEL]
    assert len(keys) == len(set(keys)), "an alias names two channels"
    assert not set(keys) & {label_key(c) for c in KNOWN_CHANNELS}, "an alias is another channel's name"
    assert [channel_of_label(x) for x in ("Paid-Search", " e-mail ", "Volantino", "partner", " ", None, "SERVER")] == [
        "Paid Search", "Email", "Direct mail / flyer", "partner", None, None, None]

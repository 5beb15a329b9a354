"""A cost file's channel labels are translated as a clickstream's are (ADR 0056): the stored
channel and the row's key are the reports' channel name, so re-imports in other words are
duplicates or restatements, never a second cost; migration 5 brings stored rows along."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from percorso.ingest import ingest_files
from percorso.project import init_project, open_project

HEAD = "date,channel,campaign,cost\n"
CSV = (HEAD + "2025-03-01,paid_search,spring,100\n"
       "2025-03-01,CPC,summer,40\n"
       "2025-03-01,ricerca_a_pagamento,brand,10\n"
       "2025-03-01, Newsletter ,promo,25\n"
       "2025-03-01,Partner,deal,3\n"
       "2025-03-01,web,site,7\n"
       "2025-03-01,,none,1\n")
#: By hand, from the label table: (campaign, stored channel).
EXPECTED = [("brand", "Paid Search"), ("deal", "Partner"),  # a label the table does not know: as written
            ("none", None), ("promo", "Email"), ("site", "web"),  # a word for where, not how: as written
            ("spring", "Paid Search"), ("summer", "Paid Search")]


def _project(tmp_path: Path, extra_toml: str = ""):
    if not (tmp_path / "p").exists():
        init_project(tmp_path / "p")
    if extra_toml:
        cfg = tmp_path / "p" / "percorso.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + "\n" + extra_toml, encoding="utf-8")
    return open_project(tmp_path / "p")


def _file(tmp_path: Path, text: str, name: str) -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def _costs(p, table: str = "campaign_costs") -> list[tuple]:
    return p.engine.con.execute(f"SELECT campaign, channel, cost FROM {table} ORDER BY campaign, cost").fetchall()


def _old_id(source: str, day: str, label: str, campaign: str) -> str:
    """A cost row's id as the ingest gave it before ADR 0056: its key with the label as written."""
    return hashlib.sha256(f"{source}|{day}:{label}:{campaign}".encode()).hexdigest()[:32]


def test_labels_are_translated_and_the_same_file_twice_is_all_duplicates(tmp_path):
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, CSV, "a.csv")])
        assert (r.accepted, r.quarantined) == (7, 0)
        assert [(c, ch) for c, ch, _ in _costs(p)] == EXPECTED
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, CSV, "again.csv")])
        assert (r.accepted, r.duplicates, r.restated) == (0, 7, 0)
        assert len(_costs(p)) == 7


def test_the_same_day_in_the_reports_words_is_the_same_cost(tmp_path):
    """``paid_search`` then ``Paid Search`` for the same day and campaign: one key. The same figure
    is a duplicate; a corrected one restates the day (the earlier row to the history)."""
    with _project(tmp_path) as p:
        ingest_files(p, "campaign_costs", [_file(tmp_path, HEAD + "2025-03-01,paid_search,spring,100\n", "a.csv")])
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, HEAD + "2025-03-01,Paid Search,spring,100\n",
                                                        "b.csv")])
        assert (r.accepted, r.duplicates, r.restated) == (0, 1, 0)
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, HEAD + "2025-03-01,sem,spring,120\n", "c.csv")])
        assert (r.accepted, r.duplicates, r.restated) == (1, 0, 1)
        assert _costs(p) == [("spring", "Paid Search", 120.0)]
        assert _costs(p, "campaign_costs_history") == [("spring", "Paid Search", 100.0)]


def test_a_source_names_its_own_labels_and_a_later_entry_restates_the_rows_it_renames(tmp_path):
    """A label the table does not know is kept (``Rete partner``); the source then says what it
    is (``channel.Rete partner = Affiliates``) and the file is imported again: its rows now have
    the reports' name, and the rows stored under the old label are restated, not counted twice."""
    text = HEAD + "2025-03-01,Rete partner,deal,8\n2025-03-02,Rete partner,deal,9\n"
    with _project(tmp_path, '[sources.agency]\nkind = "campaign_costs"\n') as p:
        ingest_files(p, "agency", [_file(tmp_path, text, "a.csv")])
        assert _costs(p) == [("deal", "Rete partner", 8.0), ("deal", "Rete partner", 9.0)]
    toml = tmp_path / "p" / "percorso.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        'kind = "campaign_costs"\n', 'kind = "campaign_costs"\nmapping = { "channel.Rete partner" = "Affiliates" }\n'),
        encoding="utf-8")
    with _project(tmp_path) as p:
        (r,) = ingest_files(p, "agency", [_file(tmp_path, text, "b.csv")], force=True)  # the same content
        assert (r.accepted, r.restated) == (2, 2)
        assert _costs(p) == [("deal", "Affiliates", 8.0), ("deal", "Affiliates", 9.0)]
        assert _costs(p, "campaign_costs_history") == [("deal", "Rete partner", 8.0), ("deal", "Rete partner", 9.0)]
        # another source's rows are its own: untouched
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, text, "c.csv")])
        assert (r.accepted, r.restated) == (2, 0)
        assert p.engine.con.execute("SELECT sum(cost) FROM campaign_costs").fetchall() == [(34.0,)]


def test_an_older_project_gets_its_cost_channels_by_the_migration(tmp_path):
    """A project whose costs were imported before: labels as written, keyed by them, and the same
    day imported a second time in the reports' words (the cost stored twice). Opened by this
    version, the rows are what a fresh import gives (same ids), the earlier of the pair in the
    history, replaced by the later run."""
    later = HEAD + "2025-03-01,Paid Search,spring,110\n"
    with _project(tmp_path) as p:
        # an older project is keyed by id scheme 1 (ADR 0063), the scheme migration 5 writes
        p.engine.con.execute("UPDATE project_meta SET value = '1' WHERE key = 'id_scheme'")
        ingest_files(p, "campaign_costs", [_file(tmp_path, CSV, "a.csv")])
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, later, "b.csv")])
        fresh = p.engine.con.execute("SELECT * FROM campaign_costs ORDER BY cost_id").fetchall()
        hist = p.engine.con.execute("SELECT * EXCLUDE (replaced_at) FROM campaign_costs_history").fetchall()
        assert [h[6] for h in hist] == [100.0]
        con = p.engine.con
        # back to how the ingest stored them: labels as written, keyed by them, the restated row back
        run_a = con.execute("SELECT ingest_run_id FROM ingest_runs WHERE source_file = 'a.csv'").fetchall()[0][0]
        con.execute("INSERT INTO campaign_costs SELECT * EXCLUDE (replaced_at, replaced_by_run) "
                    "FROM campaign_costs_history")
        con.execute("DELETE FROM campaign_costs_history")
        for line in CSV.splitlines()[1:]:
            day, label, campaign, _ = line.split(",")
            con.execute("UPDATE campaign_costs SET channel = nullif(trim(?), ''), cost_id = ? WHERE campaign = ? "
                        "AND ingest_run_id = ?", [label, _old_id("campaign_costs", day, label.strip(), campaign),
                                                  campaign, run_a])
        con.execute("DELETE FROM schema_migrations WHERE version = 5")
    con = duckdb.connect(str(tmp_path / "p" / "percorso.duckdb"))
    assert con.execute("SELECT count(*), count(DISTINCT channel) FROM campaign_costs").fetchall() == [(8, 7)]
    con.close()
    with _project(tmp_path) as p:
        assert p.engine.con.execute("SELECT * FROM campaign_costs ORDER BY cost_id").fetchall() == fresh
        assert p.engine.con.execute("SELECT * EXCLUDE (replaced_at) FROM campaign_costs_history").fetchall() == hist
        # and the files imported again are duplicates
        (r,) = ingest_files(p, "campaign_costs", [_file(tmp_path, CSV, "a2.csv")])
        assert (r.accepted, r.duplicates) == (0, 7)

"""The staged JSON Lines keep each line once and find blank lines without ``trim`` (ADR 0048).

Oracle: the statement before the change, kept here, which numbered the lines with the same
window, dropped the lines ``trim(line) = ''`` and copied a line to ``j`` when it was valid JSON
and ``left(trim(line), 1) = '{'``. Both must give the same line numbers, the same ``j`` and the
same raw text (``coalesce(line, j)``, what the quarantine stores), on hand-made lines and on
hypothesis text with every kind of blank (spaces, tabs, no-break and ideographic spaces).
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.engine import ingest_sql as S
from percorso.engine.backend import Engine

OLD_STAGE = ("SELECT row_number() OVER (ORDER BY rowid) AS _line, line AS raw, CASE WHEN json_valid(line) AND "
             "left(trim(line), 1) = '{' THEN line END AS j FROM st_l QUALIFY line IS NOT NULL AND trim(line) <> '' "
             "ORDER BY _line")
BLANKS = [" ", "\t", "\u00a0", "\u2003", "\u3000", "\u202f", "\u2028", "\ufeff"]
HAND = ['{"type": "page", "messageId": "m1"}', "", "   ", "\u00a0\u00a0", "\t", "\u3000{\"a\": 1}",
        '\t{"a": 1}', '  {"a": 1}  ', "[1, 2]", '"text"', '{"a": 1', "not json", "x\u00a0", "\u2028",
        '{"b": "à ü €"}']


def _both(tmp_path: Path, lines: list[str]) -> tuple[list[tuple], list[tuple]]:
    src = tmp_path / "lines.jsonl"
    src.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    eng = Engine(":memory:")
    try:
        S.stage_lines(eng, "st", str(src))
        new = eng.con.execute("SELECT _line, coalesce(line, j), j FROM st ORDER BY _line").fetchall()
        eng.con.execute("CREATE TEMP TABLE st_l AS SELECT * FROM read_csv(?, columns={'line': 'VARCHAR'}, header=false, "
                        "delim='\x01', quote='', escape='', auto_detect=false, strict_mode=false)", [str(src)])
        old = eng.con.execute(OLD_STAGE).fetchall()
        return new, old
    finally:
        eng.close()


def test_hand_made_lines_stage_as_before(tmp_path):
    new, old = _both(tmp_path, HAND)
    assert new == old
    # by hand: lines 2-4 are blank (trim removes spaces and no-break spaces, not a tab: line 5
    # stays); j holds the JSON objects: not line 6 (an ideographic space is trimmed but is not
    # JSON whitespace) nor line 7 (a tab is JSON whitespace but trim keeps it before the "{")
    assert [n for n, _, _ in new] == [1] + list(range(5, 16))
    assert [n for n, _, j in new if j is not None] == [1, 8, 15]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.sampled_from(BLANKS), max_size=3),
                          st.sampled_from(["", '{"a": 1}', "[1]", "{x", "plain", '{"k": "v w"}']),
                          st.lists(st.sampled_from(BLANKS), max_size=2)), min_size=1, max_size=12))
def test_random_blanks_stage_as_before(tmp_path, parts):
    lines = ["".join(a) + mid + "".join(b) for a, mid, b in parts]
    new, old = _both(tmp_path, lines)
    assert new == old


def test_patterns_match_trim_on_every_code_point():
    """``NOT_BLANK`` / ``OBJECT_START`` say what ``trim`` says, for each of the 1,112,063 code points."""
    eng = Engine(":memory:")
    try:
        row = eng.con.execute(
            "SELECT count(*) FILTER ((trim(c) = '') = regexp_matches(c, ?)), "
            "count(*) FILTER ((left(trim(c || '{x'), 1) = '{') <> regexp_matches(c || '{x', ?)), "
            "count(*) FILTER (trim(c) = '') FROM (SELECT chr(range::INTEGER) AS c FROM range(1, 1114112) "
            "WHERE range < 55296 OR range > 57343)", [S.NOT_BLANK, S.OBJECT_START]).fetchall()[0]
    finally:
        eng.close()
    assert row[0] == 0 and row[1] == 0
    assert row[2] == 17  # the Unicode space separators (category Zs): what trim removes

"""A content key's text, written value by value, is the text of ``to_json`` of the list (ADR 0053).

Oracle: the definition of ADR 0061 itself, ``CAST(to_json([name, value, ...]) AS VARCHAR)`` run
by the engine on the same values, and for whole keys ``substr(sha256(that), 1, 32)`` (id scheme 1)
or ``md5(md5(to_json([source, name, ...])) || to_json([value, ...]))`` (scheme 2, ADR 0063) over the typed values as
``plan._key_text`` renders them. Values: any text (quotes, backslashes, every control character,
NUL, non-ASCII, U+2028), NULLs, numbers, times (microseconds, years before 1000 and after 9999),
as hypothesis draws them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.engine import ingest_sql as S
from percorso.engine.backend import Engine
from percorso.ingest import plan as P
from percorso.ingest.kinds import KINDS

TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
               max_size=12)
"""Any text the engine can hold (no lone surrogates: they are not UTF-8)."""
TRICKY = st.sampled_from(['"', "\\", "\\\"", "\x00", "\x01\x1f", "\x7f", "\n\r\t\b\f", "/", "é€😀", "\u2028",
                          "'", "", " ", "null", "[1]", "{\"a\": 1}"])


@pytest.fixture(scope="module")
def eng():
    engine = Engine(":memory:")
    yield engine
    engine.close()


def _both(eng: Engine, values: list[str | None], names: bool = True) -> tuple[str, str]:
    """(to_json of the list, the concatenation) of ``['f0', v0, 'f1', v1, ...]`` in the engine
    (``[v0, v1, ...]`` without ``names``)."""
    cols = [f"v{i}" for i in range(len(values))]
    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT "
                    + ", ".join(f"?::VARCHAR AS {c}" for c in cols), values)
    if names:
        old = "CAST(to_json([" + ", ".join(f"'f{i}', {c}" for i, c in enumerate(cols)) + "]) AS VARCHAR)"
        new = S.json_pairs_text([(f"f{i}", c) for i, c in enumerate(cols)])
    else:
        old, new = "CAST(to_json([" + ", ".join(cols) + "]) AS VARCHAR)", S.json_values_text(cols)
    return eng.con.execute(f"SELECT {old}, {new} FROM r").fetchall()[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), TEXT, TRICKY), min_size=1, max_size=5), st.booleans())
def test_concatenation_is_the_text_of_to_json(eng, values, names):
    old, new = _both(eng, values, names)
    assert new == old


def test_hand_written_examples(eng):
    """What the text looks like: escapes as the engine writes them (upper-case hex), NULL as null."""
    assert _both(eng, ['a"b\\c', None]) == (r'["f0","a\"b\\c","f1",null]',) * 2
    assert _both(eng, ["\x01\n", "é"]) == ('["f0","\\u0001\\n","f1","é"]',) * 2


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(TEXT, TRICKY), min_size=1, max_size=3), st.lists(st.one_of(st.none(), TEXT), min_size=3,
                                                                          max_size=3))
def test_any_field_name_gives_the_text_of_to_json(eng, names, values):
    """A mapping may name a field freely (``"colore preferito"``, a quote): the same text as the definition."""
    from percorso.engine.backend import quote_literal as ql

    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT ?::VARCHAR AS v0, ?::VARCHAR AS v1, ?::VARCHAR AS v2",
                    values)
    pairs = [(n, f"v{i}") for i, n in enumerate(names)]
    old = "CAST(to_json([" + ", ".join(f"{ql(n)}, {c}" for n, c in pairs) + "]) AS VARCHAR)"
    defined, written = eng.con.execute(f"SELECT {old}, {S.json_pairs_text(pairs)} FROM r").fetchall()[0]
    assert written == defined


ROW = st.fixed_dictionaries({
    "event_name": st.one_of(st.none(), TEXT, TRICKY),
    "user_id": st.one_of(st.none(), TEXT, TRICKY, st.from_regex(r"0*[0-9]{1,5}", fullmatch=True)),
    "occurred_at": st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 1),
                                                     max_value=dt.datetime(9999, 12, 31))),
    "revenue": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "session_id": st.one_of(st.none(), TEXT, TRICKY),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ROW, min_size=1, max_size=4), st.one_of(st.just("clicks"), TEXT, TRICKY))
def test_content_key_keeps_its_definition(eng, rows, source):
    """The clickstream's ``_ckey`` (key_plan) is, under id scheme 1, the sha256 of ADR 0061's ``to_json``
    text of its typed values; under scheme 2 the md5 of the md5 of the source and the names, then
    the values (ADR 0063)."""
    from percorso.engine.backend import quote_literal as ql

    kind = KINDS["clickstream"]
    types = {"event_name": "str", "user_id": "str", "occurred_at": "ts", "revenue": "num", "session_id": "str"}
    sources = {f: (t, ("col", f)) for f, t in types.items()}
    eng.con.execute("CREATE OR REPLACE TEMP TABLE t (event_name VARCHAR, user_id VARCHAR, occurred_at TIMESTAMP, "
                    "revenue DOUBLE, session_id VARCHAR)")
    eng.con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", [[r[c] for c in types] for r in rows])
    texts = [P._key_text(f, types[f], "Europe/Rome", False) for f in sorted(types)]
    pairs = ", ".join(f"'{f}', {t}" for f, t in zip(sorted(types), texts))
    shape = f"md5(CAST(to_json([{ql(source)}, {', '.join(ql(f) for f in sorted(types))}]) AS VARCHAR))"
    defined = {1: f"substr(sha256(CAST(to_json([{pairs}]) AS VARCHAR)), 1, 32)",
               2: f"md5({shape} || CAST(to_json([{', '.join(texts)}]) AS VARCHAR))"}
    for scheme, oracle in defined.items():
        derived, _ = P.key_plan(kind, sources, "Europe/Rome", source, set(), scheme=scheme)
        got = eng.con.execute(f"SELECT {dict(derived)['_ckey']}, {oracle} FROM t").fetchall()
        assert all(a == b and a is not None for a, b in got)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), TEXT, TRICKY, st.from_regex(r"0*[0-9]{0,6}", fullmatch=True),
                          st.from_regex(r"0+[0-9a-z ]{0,4}", fullmatch=True)), min_size=1, max_size=8))
def test_identifier_text_keeps_its_definition(eng, values):
    """``id_part_sql`` matches the digits pattern only for a value starting with 0 (ADR 0067): the same
    text as the definition, which strips the leading zeros of every all-digit value."""
    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT unnest(?::VARCHAR[]) AS v", [values])
    defined = "CASE WHEN regexp_full_match(v, '[0-9]+') THEN coalesce(NULLIF(ltrim(v, '0'), ''), '0') ELSE v END"
    got = eng.con.execute(f"SELECT v, {S.id_part_sql('v')}, {defined} FROM r").fetchall()
    assert [(v, a) for v, a, _ in got] == [(v, b) for v, _, b in got]
    assert len(got) == len(values)


def test_plain_values_are_only_quoted(eng):
    """The text of a time, number or boolean is quoted as ``to_json`` writes it, NULL as null (ADR 0067):
    hand-picked edges (microseconds, year 1 and 9999, NaN, infinities, a negative zero)."""
    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT * FROM (VALUES "
                    "(strftime(TIMESTAMP '2025-03-30 02:30:00.000123', '%Y-%m-%dT%H:%M:%S.%f')), "
                    "(strftime(TIMESTAMP '0001-01-01 00:00:00', '%Y-%m-%dT%H:%M:%S.%f')), "
                    "(strftime(TIMESTAMP '9999-12-31 23:59:59.999999', '%Y-%m-%dT%H:%M:%S.%f')), "
                    "(strftime('infinity'::TIMESTAMP, '%Y-%m-%dT%H:%M:%S.%f')), "
                    "(CAST('nan'::DOUBLE AS VARCHAR)), (CAST('-inf'::DOUBLE AS VARCHAR)), (CAST(-0.0 AS VARCHAR)), "
                    "(CAST(1e300 AS VARCHAR)), (CAST(DATE '0001-01-01' - 1 AS VARCHAR)), (CAST(true AS VARCHAR)), "
                    "(NULL)) v(v)")
    rows = eng.con.execute(f"SELECT {S.json_value_text('v', True)}, {S.json_value_text('v')} FROM r").fetchall()
    assert len(rows) == 11 and all(a == b for a, b in rows)
    assert rows[0][0] == '"2025-03-30T02:30:00.000123"' and rows[-1][0] == "null"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), TEXT, TRICKY, st.sampled_from([" Page View", "page-view", "ADD_TO_CART", "cart"])),
                min_size=1, max_size=6))
def test_event_names_looked_up_once_each(eng, names):
    """An event name looked up by its distinct values as written (``event_name_map``, ADR 0078) gets
    the type the normalised lookup gives, and the content key the definition gives (both schemes)."""
    kind = KINDS["clickstream"]
    sources = {"event_name": ("str", ("col", "event_name")), "occurred_at": ("ts", ("col", "occurred_at"))}
    eng.con.execute("CREATE OR REPLACE TEMP TABLE t (event_name VARCHAR, occurred_at TIMESTAMP)")
    eng.con.executemany("INSERT INTO t VALUES (?, TIMESTAMP '2025-03-05 10:00:00')", [[n] for n in names])
    S.event_type_table(eng, "_types", {"page_view": "page_view", "add_to_cart": "add_to_cart"})
    evt, (table, alias, key), text = S.event_name_map(eng, "_types", "t", "event_name")
    shape = "md5(CAST(to_json(['clicks', 'event_name', 'occurred_at']) AS VARCHAR))"
    defined = {1: "substr(sha256(CAST(to_json(['event_name', lower(event_name), 'occurred_at', "
                  f"strftime(occurred_at, '{P.KEY_TIME_FORMAT}')]) AS VARCHAR)), 1, 32)",
               2: f"md5({shape} || CAST(to_json([lower(event_name), strftime(occurred_at, '{P.KEY_TIME_FORMAT}')]) "
                  "AS VARCHAR))"}
    looked_up = f"(SELECT event_type FROM _types m WHERE m.k = {S.name_key_sql('t.event_name')})"
    for scheme, oracle in defined.items():
        derived, _ = P.key_plan(kind, sources, "Europe/Rome", "clicks", set(), scheme=scheme,
                                texts={"event_name": text})
        got = eng.con.execute(f"SELECT {dict(derived)['_ckey']}, {oracle}, {evt}, {looked_up} FROM t "
                              f"LEFT JOIN {table} {alias} ON {alias}.k = {key}").fetchall()
        assert len(got) == len(names) and all(a == b and a is not None and c == d for a, b, c, d in got)


def test_a_time_quoted_by_its_format(eng):
    """A key's time, quoted by ``strftime`` itself (ADR 0078), is the quoted text of the time, infinite
    ones (``infinity`` whatever the format) and NULL included."""
    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT * FROM (VALUES (TIMESTAMP '2025-03-30 02:30:00.000123'), "
                    "(TIMESTAMP '0001-01-01 00:00:00'), ('infinity'::TIMESTAMP), ('-infinity'::TIMESTAMP), "
                    "(TIMESTAMP '9999-12-31 23:59:59.999999'), (NULL)) v(v)")
    rows = eng.con.execute(f"SELECT {S.json_value_text(P._time_json('v'), written=True)}, "
                           f"{S.json_value_text(P._key_text('v', 'ts', 'UTC', False), True)} FROM r").fetchall()
    assert len(rows) == 6 and all(a == b for a, b in rows)
    assert [a for a, _ in rows][2:4] == ['"infinity"', '"-infinity"'] and rows[-1][0] == "null"


TYPED = st.one_of(
    st.tuples(st.just("VARCHAR"), st.one_of(st.none(), TEXT, TRICKY)),
    st.tuples(st.just("DOUBLE"), st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))),
    st.tuples(st.just("BIGINT"), st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1)),
    st.tuples(st.just("BOOLEAN"), st.booleans()),
    st.tuples(st.just("TIMESTAMP"), st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 1),
                                                                      max_value=dt.datetime(9999, 12, 31)))),
    st.tuples(st.just("DATE"), st.dates()),
    st.tuples(st.just("JSON"), st.sampled_from(['{"a": [1, "x\\"y"]}', " 1 ", "null", '"é"', "[]"])),
    st.tuples(st.just("VARCHAR[]"), st.lists(st.one_of(st.none(), TEXT, TRICKY), max_size=3)),
    st.tuples(st.just("BLOB"), st.binary(max_size=6)),
    st.tuples(st.just("STRUCT(a INTEGER, b VARCHAR)"), st.fixed_dictionaries({"a": st.integers(-9, 9), "b": TRICKY})),
)
"""A value of a file's column of any type the readers give, as (type, value)."""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(TEXT, TRICKY), TYPED), min_size=1, max_size=5, unique_by=lambda p: p[0]))
def test_object_concatenation_is_the_text_of_json_object(eng, pairs):
    """``json_object_text`` (the columns kept in ``properties``, ADR 0091) is the text of the engine's
    ``json_object`` of the same names and values, of every type, NULLs, any name."""
    from percorso.engine.backend import quote_literal as ql

    cols = [f"v{i}" for i in range(len(pairs))]
    eng.con.execute("CREATE OR REPLACE TEMP TABLE r AS SELECT "
                    + ", ".join(f"?::{t} AS {c}" for c, (_, (t, _)) in zip(cols, pairs)), [v for _, (_, v) in pairs])
    named = [(n, c) for c, (n, _) in zip(cols, pairs)]
    old = "CAST(json_object(" + ", ".join(f"{ql(n)}, {c}" for n, c in named) + ") AS VARCHAR)"
    defined, written = eng.con.execute(f"SELECT {old}, {S.json_object_text(named)} FROM r").fetchall()[0]
    assert written == defined


def test_object_hand_written_example(eng):
    """What the text looks like: a column's name and value as ``json_object`` writes them, NULL as null."""
    got = eng.con.execute(f"SELECT {S.json_object_text([('channel', 'a'), ('b c', 'b')])} "
                          "FROM (SELECT 'x\"' AS a, NULL::DOUBLE AS b)").fetchall()[0][0]
    assert got == '{"channel":"x\\"","b c":null}'

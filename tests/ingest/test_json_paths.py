"""The typed stage of JSON Lines parses each line once (JsonPaths) and types it as the per-path calls did.

Oracle: the same select list built without :class:`JsonPaths`, where every field parses the
line with its own ``json_extract_string(j, path)`` (the code before the change, kept for
one-field passes). Both typed tables must be equal, column by column and row by row, over
Segment lines with missing, nested, numeric-as-text, wrong-typed, unicode and invalid values.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from percorso.engine import ingest_sql as S
from percorso.engine.backend import Engine
from percorso.ingest import plan as P
from percorso.ingest.kinds import KINDS

HAND = [
    {"type": "track", "event": "Order Completed", "messageId": "m1", "userId": "u1", "timestamp": "2025-03-05T10:00:00Z",
     "properties": {"revenue": 499.5, "currency": "EUR", "order_id": "o1", "products": [{"sku": "S1", "qty": 2}]},
     "context": {"ip": "10.0.0.1", "page": {"url": "https://x.it/?utm_source=google&gclid=abc", "referrer": "https://g.it"},
                 "traits": {"email": "A@x.it", "phone": "+39 333 1234567"}, "consent": {"marketing": True}}},
    {"type": "page", "name": "Home", "messageId": "m2", "anonymousId": "a1", "sentAt": "2025-03-05T10:00:05Z",
     "originalTimestamp": "2025-03-05T10:00:00Z", "receivedAt": "2025-03-05T10:00:07Z",
     "properties": {"revenue": "12,50", "total": 3}},
    {"type": "track", "event": "Product Viewed", "messageId": 17, "anonymousId": "à-ü", "properties": {"revenue": "x"},
     "timestamp": "not a time"},
    {"type": "alias", "previousId": "old", "userId": "new", "messageId": "m4", "timestamp": "2025-03-05 11:00",
     "properties": None, "context": {"campaign": {"source": "News", "medium": "email", "name": "Spring"}}},
    {"type": "identify", "messageId": "m5", "traits": {"email": ["a", "b"]}, "properties": {"value": 1e3},
     "context": {"device": {"id": 42}, "userAgent": "UA/1.0"}},
]
BAD_LINES = ["not json", "[1, 2]", '{"type": "page", "messageId": "m6"', "null"]


def _typed(tmp_path: Path, lines: list[str], *, one_parse: bool) -> list[tuple]:
    src = tmp_path / "seg.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    eng = Engine(":memory:")
    try:
        S.stage_lines(eng, "st", str(src))
        paths = S.JsonPaths() if one_parse else None
        select, checks = P.typed_plan(KINDS["web"], dict(P.SEGMENT), {}, tz="Europe/Rome", decimals={},
                                      date_format=None, json_lines=True, paths=paths)
        S.build_typed(eng, "ty", "st", select, checks, [], pre=paths.columns() if paths else [])
        cols = [c for c, _ in select]
        return eng.con.execute(f"SELECT _line, {', '.join(S.qi(c) for c in cols)}, _reason, _message "
                               f"FROM ty ORDER BY _line").fetchall()
    finally:
        eng.close()


def test_one_parse_types_like_one_call_per_path(tmp_path):
    lines = [json.dumps(x, ensure_ascii=False) for x in HAND] + BAD_LINES
    once = _typed(tmp_path, lines, one_parse=True)
    assert once == _typed(tmp_path, lines, one_parse=False)
    assert len(once) == len(lines)
    by_line = {r[0]: r for r in once}
    cols = ["_line"] + [c for c, _ in P.typed_plan(KINDS["web"], dict(P.SEGMENT), {}, tz="UTC", decimals={},
                                                     date_format=None, json_lines=True)[0]]
    first = dict(zip(cols, by_line[1]))
    assert (first["key"], first["revenue"], first["page_url"]) == ("m1", 499.5, "https://x.it/?utm_source=google&gclid=abc")
    assert json.loads(first["properties"])["consent"] == {"marketing": True}  # context.consent moved in


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.sampled_from(["revenue", "email", "url", "id", "name"]), inner, max_size=3),
                           max_leaves=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.fixed_dictionaries({"type": st.sampled_from(["track", "page", "identify"]), "messageId": JSON_VALUES},
                                      optional={"event": JSON_VALUES, "userId": JSON_VALUES, "properties": JSON_VALUES,
                                                "context": JSON_VALUES, "timestamp": JSON_VALUES}),
                min_size=1, max_size=6))
def test_one_parse_equals_per_path_on_random_lines(tmp_path, calls):
    lines = [json.dumps(c, ensure_ascii=False) for c in calls]
    assert _typed(tmp_path, lines, one_parse=True) == _typed(tmp_path, lines, one_parse=False)

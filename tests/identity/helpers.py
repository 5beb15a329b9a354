"""Small ``events`` tables for identity tests (real DuckDB file, Arrow appends)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from percorso.engine.event_store import append_arrow as append_events
from percorso.events.schema import EVENT_COLUMNS
from percorso.project import Project, init_project, open_project

T0 = datetime(2025, 3, 1, 9, 0)


def new_project(tmp_path: Path, **identity: Any) -> Project:
    init_project(tmp_path / "proj", name="t")
    project = open_project(tmp_path / "proj")
    for k, v in identity.items():
        setattr(project.settings.identity, k, v)
    return project


def events_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows → Arrow ``events`` batch; missing columns are NULL, ids and times defaulted."""
    out = []
    for i, r in enumerate(rows):
        r = dict(r)
        r.setdefault("source_name", "crm")
        r.setdefault("source_kind", {"web": "web", "app": "app"}.get(r["source_name"], r["source_name"]))
        r.setdefault("source_key", f"k{i}-{sorted(r.items())}")
        r.setdefault("event_id", hashlib.sha256(f"{r['source_name']}|{r['source_key']}".encode()).hexdigest()[:32])
        r.setdefault("occurred_at", T0 + timedelta(minutes=i))
        r.setdefault("event_type", "identify")
        r.setdefault("source_file", f"{r['source_name']}.csv")
        r.setdefault("source_line", i + 1)
        out.append(r)
    return pa.table({c.name: pa.array([r.get(c.name) for r in out], c.arrow_type) for c in EVENT_COLUMNS})


def add_events(project: Project, rows: list[dict[str, Any]]) -> pa.Table:
    t = events_table(rows)
    append_events(project.engine, t)   # to the events' store (ADR 0075)
    return t


def partition(project: Project) -> set[frozenset[tuple[str, str]]]:
    """identity_map as a set of customers, each a frozenset of (id_type, id_value)."""
    t = project.engine.query("SELECT id_type, id_value, customer_id FROM identity_map").to_pylist()
    groups: dict[str, set[tuple[str, str]]] = {}
    for r in t:
        groups.setdefault(r["customer_id"], set()).add((r["id_type"], r["id_value"]))
    return {frozenset(g) for g in groups.values()}


def customer_of(project: Project, id_type: str, id_value: str) -> str | None:
    t = project.engine.query("SELECT customer_id FROM identity_map WHERE id_type = ? AND id_value = ?",
                             [id_type, id_value]).to_pylist()
    return t[0]["customer_id"] if t else None


def add_analytics_consent(project: Project, *, device_linked: bool = True) -> int:
    """Analytics consent records for a generated project's cookies and some of its users.

    Per cookie (``anonymous_id`` / ``device_id``, picked by a hash of its value): a denial
    before its first event; a grant one day after its first event (earlier events have no
    record); a grant before it then a denial two days in; a grant and a denial at the same
    moment (the denial wins); or a grant before its first event. Every fifth user id gets a
    denial half-way through its events (a person's record decides the cookie on the same
    event). The cookies of the anonymous customers the device link attached (ADR 0009) get a
    grant (``device_linked``) or a denial before their first event, so that both outcomes of
    the device link's consent rule can be had. Returns how many records were added.
    """
    from percorso.engine import privacy_sql

    e = project.engine
    privacy_sql.ensure_tables(e)
    dl = ("SELECT m2.id_type AS t, m2.id_value AS v FROM identity_device_links d "
          "JOIN identity_map m ON m.id_type = d.anon_type AND m.id_value = d.anon_value "
          "JOIN identity_map m2 ON m2.customer_id = m.customer_id WHERE m2.id_type IN ('anonymous_id', 'device_id')"
          if e.has_table("identity_device_links") else "SELECT NULL AS t, NULL AS v WHERE false")
    rows = e.query(f"""
        WITH c0 AS (SELECT 'anonymous_id' AS t, anonymous_id AS v, min(occurred_at) AS f
                    FROM events WHERE anonymous_id IS NOT NULL GROUP BY 2
                    UNION ALL SELECT 'device_id', device_id, min(occurred_at)
                    FROM events WHERE device_id IS NOT NULL GROUP BY 2),
        dl AS ({dl}),
        c AS (SELECT * FROM c0 WHERE (t, v) NOT IN (SELECT (t, v) FROM dl)),
        r AS (SELECT t, v, f - INTERVAL 1 HOUR AS ts, false AS g FROM c WHERE hash(v) % 5 = 0
              UNION ALL SELECT t, v, f + INTERVAL 1 DAY, true FROM c WHERE hash(v) % 5 = 1
              UNION ALL SELECT t, v, f - INTERVAL 1 DAY, true FROM c WHERE hash(v) % 5 = 2
              UNION ALL SELECT t, v, f + INTERVAL 2 DAY, false FROM c WHERE hash(v) % 5 = 2
              UNION ALL SELECT t, v, f, g FROM c, (VALUES (true), (false)) x(g) WHERE hash(v) % 5 = 3
              UNION ALL SELECT t, v, f - INTERVAL 1 HOUR, true FROM c WHERE hash(v) % 5 = 4
              UNION ALL SELECT t, v, f - INTERVAL 1 HOUR, $dev FROM c0 WHERE (t, v) IN (SELECT (t, v) FROM dl)
              UNION ALL SELECT 'user_id', user_id, min(occurred_at) + (max(occurred_at) - min(occurred_at)) / 2, false
              FROM events WHERE user_id IS NOT NULL AND hash(user_id) % 5 = 0 GROUP BY user_id)
        SELECT md5(t || v || ts::VARCHAR || g::VARCHAR) AS consent_id, t AS subject_type, v AS subject_value,
               'analytics' AS purpose, g AS granted, ts AS occurred_at, 'web' AS source,
               NULL::VARCHAR AS text_version, NULL::VARCHAR AS origin_event_id, ts AS recorded_at FROM r""",
                   {"dev": device_linked})
    return privacy_sql.insert_consent(e, rows)


def flagged_sharers(project: Project, n: int) -> list[str]:
    """``n`` customers (stable order) whose events carry an identifier flagged as shared that is
    not theirs: erasing them pins it for the others (ADR 0028)."""
    cols = ("anonymous_id", "device_id", "user_id", "email_key", "phone_key", "loyalty_card", "crm_id")
    carried = " UNION ALL ".join(f"SELECT ec.customer_id, '{c}' AS id_type, e.{c} AS id_value FROM events e "
                                 f"JOIN event_customers ec USING (event_id) WHERE e.{c} IS NOT NULL" for c in cols)
    rows = project.engine.con.execute(f"""
        SELECT DISTINCT c.customer_id FROM ({carried}) c JOIN identity_flags f USING (id_type, id_value)
        WHERE c.customer_id IS NOT NULL
          AND (c.id_type, c.id_value) NOT IN (SELECT (id_type, id_value) FROM identity_map m
                                             WHERE m.customer_id = c.customer_id)
        ORDER BY hash(c.customer_id) LIMIT ?""", [n]).fetchall()
    return [r[0] for r in rows]

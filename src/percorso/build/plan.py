"""The incremental build's queries, compiled to SQL once and kept (issue 15, ADR 0032).

Why: turning the sessions, touchpoints, record updates, orders and customers expressions into
SQL costs about 0.7 CPU s (Ibis rewrites, then sqlglot), whatever the number of rows; an
incremental build of 1,000 events spent more on that than on the data. Those queries read
fixed table names (``_build_events``, ``_build_sessions``, ``_build_touchpoints``, ...), so
their SQL depends only on the code, the build settings, the channel rules and the columns of
the tables they read. Compiled once from unbound tables of those names, the SQL is kept in
the process (the collector builds every few seconds) and in the project (``build_plan``,
written by every build that compiled it, a full one included), under a key made of all of
these: any change compiles again. The same expressions are compiled, so the rows are the same
(the incremental tests compare every table with a full build).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from percorso.engine import build_tail_sql as T

if TYPE_CHECKING:
    from percorso.channels.rules import ChannelRules
    from percorso.engine import Engine
    from percorso.project import Project

#: The steps, in the order they run: each is ``CREATE TABLE <step> AS <sql>`` (the first a temp).
STEPS: tuple[str, ...] = ("_build_sessions", "_build_touchpoints", "_build_record_updates", "_build_orders",
                          "_build_customers")
#: The stored tables the plan reads (their columns are part of the key).
SOURCES: tuple[str, ...] = ("events", "identity_map", "contact_profiles", "identity_merges")
#: The plan's entry listing the event columns its queries read (a JSON list; absent: all).
EVENT_COLUMNS = "_build_events_columns"

_CODE: list[str] = []
_MEMO: dict[str, dict[str, str]] = {}


def _code_digest() -> str:
    """A digest of percorso's source and of the Ibis and sqlglot versions (the SQL they write).

    Kept in a file beside this module's compiled code (``__pycache__``), under a signature of
    the source files' sizes and modification times and of the three packages' files: reading
    every source file and the packages' metadata cost each new process ~35 ms (a tenth of an
    incremental build's own work at 10M events); the signature costs ~3. Any change of a file
    changes its time, so the digest is computed again (a folder that cannot be written: every
    time, as before)."""
    if not _CODE:
        root = Path(__file__).resolve().parents[1]
        signature = _code_signature(root)
        kept = Path(__file__).resolve().parent / "__pycache__" / "plan-code-digest.json"
        try:
            saved = json.loads(kept.read_text())
            if isinstance(saved, dict) and saved.get("signature") == signature:
                _CODE.append(str(saved["digest"]))
        except (OSError, ValueError, KeyError):
            pass
        if not _CODE:
            _CODE.append(_source_digest(root))
            try:
                kept.parent.mkdir(exist_ok=True)
                part = kept.with_name(f"{kept.name}.{os.getpid()}")
                part.write_text(json.dumps({"signature": signature, "digest": _CODE[0]}))
                os.replace(part, kept)
            except OSError:
                pass
    return _CODE[0]


def _source_digest(root: Path) -> str:
    """The digest itself: every source file's path and bytes, and the three packages' versions."""
    # the versions from the packages' metadata: importing Ibis to read its version would
    # cost an incremental build more than the rest of its Python (~0.25 CPU s)
    from importlib.metadata import version

    # DuckDB's too: its planner tells which event columns the queries read (EVENT_COLUMNS)
    h = hashlib.sha256(f"{version('ibis-framework')}|{version('sqlglot')}|{version('duckdb')}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _code_signature(root: Path) -> str:
    """Sizes and modification times of the source files and of the packages' ``__init__`` files
    (an upgrade rewrites them), found without importing the packages."""
    from importlib.util import find_spec

    h = hashlib.sha256(str(root).encode())
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(f for f in files if f.endswith(".py")):
            st = os.stat(os.path.join(folder, name))
            h.update(f"{folder}/{name}|{st.st_mtime_ns}|{st.st_size}\n".encode())
    for package in ("ibis", "sqlglot", "duckdb"):
        spec = find_spec(package)
        origin = getattr(spec, "origin", None)
        st = os.stat(origin) if origin else None
        h.update(f"{package}|{origin}|{st and st.st_mtime_ns}|{st and st.st_size}\n".encode())
    return h.hexdigest()


def plan_key(engine: Engine, settings_fingerprint: str, rules: ChannelRules) -> str:
    """Everything the plan's SQL depends on, as one digest."""
    from percorso.engine.build_sql import source_columns

    # the rules as classified (their files' paths left out: a copied project keeps its plan)
    what = repr((rules.version, rules.rules, rules.categories, rules.offline))
    text = json.dumps({"code": _code_digest(), "settings": settings_fingerprint, "rules": what,
                       "columns": source_columns(engine, SOURCES)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def compile_plan(engine: Engine, rules: ChannelRules, *, session_gap_minutes: int,
                 stage_settings: Any, time_zone: str) -> dict[str, str]:
    """The SQL of each step (:data:`STEPS`), from unbound tables named as the steps write them."""
    import ibis

    from percorso.build.customers import customers_expr
    from percorso.build.orders import orders_expr
    from percorso.build.records import record_updates_expr
    from percorso.build.touchpoints import keyed, sessions_expr, touchpoint_rows_expr
    from percorso.engine.build_sql import SCOPE_MAP, narrowed, read_columns

    def unbound(name: str, schema: Any) -> Any:
        return ibis.table(schema, name=name)

    events = engine.table("events").schema()
    idmap = engine.table("identity_map")
    staged = unbound("_build_events", ibis.schema({**dict(events.items()), "id_hash": "uint64",
                                                   "customer_id": idmap.customer_id.type(),
                                                   "id_type": idmap.id_type.type(),
                                                   "id_value": idmap.id_value.type(), "customer_no": "int64"}))
    scoped = keyed(staged)
    out: dict[str, str] = {}
    # the customers rebuilt from a tail continue from the rows kept before their cut (ADR 0040)
    carry = unbound(T.CARRY, _schema(T.CARRY_COLUMNS))
    sess = sessions_expr(scoped, rules, session_gap_minutes, carry)
    # each step's SQL narrowed to the columns it reads (ADR 0096): the tables it reads, by their columns
    tables = {"_build_events": staged.columns, T.CARRY: carry.columns, "_build_sessions": sess.columns}
    out["_build_sessions"] = narrowed(engine.compile(sess), tables)
    tp = touchpoint_rows_expr(scoped, unbound("_build_sessions", sess.schema()), stage_settings, time_zone, carry)
    out["_build_touchpoints"] = narrowed(engine.compile(tp), tables)
    ru = record_updates_expr(scoped)
    out["_build_record_updates"] = narrowed(engine.compile(ru), tables)
    tp_t = unbound("_build_touchpoints", tp.schema())
    orders = orders_expr(tp_t, carry)
    out["_build_orders"] = narrowed(engine.compile(orders), {**tables, "_build_touchpoints": tp.columns})
    merges = unbound("identity_merges", engine.table("identity_merges").schema()) \
        if engine.has_table("identity_merges") else None
    # a customer's row reads all of their rows: the new ones and, for a tail, those kept before the cut
    every = {name: unbound(name, _schema(cols)) for name, cols in T.ALL_TABLES.items()}
    # the map's rows of the scope's customers (every customer the query gives is one), staged
    # already: not a probe of the whole map's customer ids again
    cust = customers_expr(every[T.TP_ALL], every[T.RU_ALL], every[T.ORDERS_ALL],
                          unbound(SCOPE_MAP, idmap.schema()), every[T.EC_ALL],
                          unbound("contact_profiles", engine.table("contact_profiles").schema()), merges)
    out["_build_customers"] = engine.compile(cust)
    # the event columns the queries read: only those are read by rowid for the scope's events
    cols = read_columns(engine, out, STEPS, "_build_events", SOURCES,
                        extra=(*T.ddl_of_inputs(), f"CREATE TABLE {SCOPE_MAP} AS SELECT * FROM identity_map LIMIT 0"))
    if cols is not None:
        out[EVENT_COLUMNS] = json.dumps(cols)
    return out


def _schema(columns: tuple[tuple[str, str], ...]) -> Any:
    import ibis

    from percorso.build.touchpoints import _ibis_type

    return ibis.schema({name: _ibis_type(sql) for name, sql in columns})


def event_columns(plan: dict[str, str]) -> list[str] | None:
    """The event columns the plan's queries read (None: every column)."""
    return json.loads(plan[EVENT_COLUMNS]) if EVENT_COLUMNS in plan else None


def incremental_plan(project: Project, rules: ChannelRules, settings_fingerprint: str) -> tuple[str, dict[str, str], bool]:
    """``(key, sql by step, to keep)``: from this process, the project, or compiled now; ``to
    keep``: the project does not hold it yet (the build writes it).

    A plan found in this process may be another project's (same code, settings and columns:
    the same SQL), so the project is asked whether it keeps it too: else its next build, in a
    new process, would compile it again.
    """
    from percorso.engine.build_sql import has_plan, read_plan

    engine = project.engine
    key = plan_key(engine, settings_fingerprint, rules)
    if key in _MEMO:
        return key, _MEMO[key], not has_plan(engine, key)
    stored = read_plan(engine, key)
    if stored is not None:
        _MEMO[key] = stored
        return key, stored, False
    st = project.settings
    plan = compile_plan(engine, rules, session_gap_minutes=st.build.session_gap_minutes, stage_settings=st.stages,
                        time_zone=st.project.time_zone)
    _MEMO[key] = plan
    return key, plan, True


def plan_in_background(project: Project, rules: ChannelRules,
                       settings_fingerprint: str) -> Callable[[], tuple[str, dict[str, str], bool]]:
    """:func:`incremental_plan`, its compiling on a thread: returns the function that waits for it.

    Why: a full build compiles the incremental plan for the next build (~0.6 CPU s of Ibis and
    sqlglot, pure Python), and did so after its tables, while nothing else ran. Started when
    identity is done (the plan's key reads only the tables identity writes and ``events``), it
    runs while DuckDB builds the touchpoints, which leaves the interpreter free (the engine
    releases it while a statement runs). The thread reads the catalog through its own
    connection (:meth:`Engine.fork`); a failure there compiles again in the caller's thread,
    so an error surfaces where it did before.
    """
    import threading

    from percorso.engine.build_sql import has_plan

    engine = project.engine
    key = plan_key(engine, settings_fingerprint, rules)
    if key in _MEMO or has_plan(engine, key):   # found: nothing to compile (incremental_plan says where)
        return lambda: incremental_plan(project, rules, settings_fingerprint)
    st = project.settings
    options = {"session_gap_minutes": st.build.session_gap_minutes, "stage_settings": st.stages,
               "time_zone": st.project.time_zone}
    fork = engine.fork()
    box: dict[str, dict[str, str]] = {}

    def work() -> None:
        try:
            box["plan"] = compile_plan(fork, rules, **options)
        except Exception:  # noqa: BLE001 - compiled again by result(), where its error is raised
            pass
        finally:
            try:
                fork.close()
            except Exception:  # noqa: BLE001 - the build already failed and closed the database
                pass

    thread = threading.Thread(target=work, name="percorso-build-plan", daemon=True)
    thread.start()

    def result() -> tuple[str, dict[str, str], bool]:
        thread.join()
        plan = box.get("plan") or compile_plan(engine, rules, **options)
        _MEMO[key] = plan
        return key, plan, True

    return result


__all__ = ["EVENT_COLUMNS", "STEPS", "compile_plan", "event_columns", "incremental_plan",
           "plan_in_background", "plan_key"]

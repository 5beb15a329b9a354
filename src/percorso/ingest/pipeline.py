"""``ingest_files``: read files of one source into ``events`` (or ``campaign_costs``), bad rows to ``quarantine``.

Every step runs in the engine on whole files: stage (read as text), type and check
(TRY_CAST / TRY_STRPTIME), quarantine the failures, hash identifiers on distinct values,
then one deduplicating ``INSERT … SELECT``. Rows read = accepted + quarantined + duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from percorso.engine import ingest_sql as S
from percorso.engine.backend import quote_ident as qi
from percorso.engine.backend import quote_literal as ql
from percorso.errors import DiskFull, EngineError, InputError
from percorso.events import EVENT_TYPE_ALIASES, EVENT_TYPES
from percorso.events.channel_labels import CHANNEL_LABELS, label_key
from percorso.events.schema import EVENT_COLUMN_NAMES, SCHEMA_VERSION
from percorso.identity.normalize import keyed_hash, normalize_distinct
from percorso.ingest import plan as P
from percorso.ingest import reasons as R
from percorso.ingest.kinds import KINDS, Kind, channel_labels_from_mapping, event_map_from_mapping, resolve_columns
from percorso.ingest.readers import (
    csv_layout,
    file_format,
    needs_transcoding,
    normalise_newlines,
    scan_encoding,
    transcode_lines,
    unzip_single,
    xlsx_batches,
)

_REJECT_REASONS = {"TOO MANY COLUMNS": "wrong_column_count", "MISSING COLUMNS": "wrong_column_count",
                   "INVALID ENCODING": "bad_encoding", "INVALID UNICODE": "bad_encoding"}
MEMORY_CAP = {"parquet": "4GB"}
"""Engine memory while importing one file (default 1GB): bigger files spill to disk instead of
growing RAM. Parquet is read in place (no text staging), so it gets more room to stay fast:
the typed stage of 10M clickstream events spilled at 2GB (ingest 60-64 CPU s, peak RSS 2.2 GB),
less at 3GB (56-60 CPU s, peak 3.0 GB) and not at 4GB (typed stage and insert 19.4 + 19.8 ->
17.6 + 18.6 CPU s, 424 + 290 MB spilled -> 0, peak RSS 3.1 -> 3.6 GB; ADR 0035); DESIGN §8
allows 6 GB, on a shared 2-core machine."""
_PII = {"email": "email_key", "phone": "phone_key", "tax_code": "tax_code_key", "ip": "ip_key"}


@dataclass
class IngestReport:
    """Outcome of ingesting one file; ``rows_read == accepted + quarantined + duplicates``."""

    source_name: str
    source_kind: str
    source_file: str
    ingest_run_id: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    events_written: int = 0
    invalid_identifiers: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    restated: int = 0
    error: str | None = None
    """Why this file was not imported at all (nothing of it was written), in plain words."""
    error_code: str | None = None
    """Campaign cost days whose stored figure this file replaced (the old one kept in the history)."""
    already_ingested: bool = False
    """The same content (sha256) was imported before as this source: nothing was read again."""
    file_sha256: str = ""
    generic_event_names: dict[str, int] = field(default_factory=dict)
    """Event names of this file that no canonical type, alias or mapping knows, imported as type
    ``custom`` (the name kept in ``event_name``) → rows: what a mapping could type, before import."""
    mapping_not_applied: list[dict[str, Any]] = field(default_factory=list)
    """Event names of this source stored under another event type than its mapping gives now
    (``{"event_name", "stored_type", "mapped_type", "rows"}``): a mapping changed after the rows
    were imported applies to new rows only, and a duplicate is never rewritten. Filled when at
    least half of the file's rows were duplicates (or it was imported before): the case a user
    re-imports to apply it."""

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.duplicates


def ingest_files(project: Any, source_name: str, paths: list[str | Path], progress: Any = None, *,
                 force: bool = False, sha256: dict[str, str] | None = None,
                 encoding: str | None = None) -> list[IngestReport]:
    """Ingest ``paths`` as source ``source_name`` of ``project``; one report per file, in order.

    ``progress`` is an optional callable ``(description, done, total)``. A file whose content
    (sha256) was already imported as this source is not read again (``already_ingested``)
    unless ``force``; re-reading it would add nothing anyway, since event ids are deterministic.
    Parquet files with one schema are read, checked and written in one pass (:func:`_batches`).

    ``sha256`` (path → content hash) and ``encoding`` are for a caller that wrote the files
    itself and knows both (the collector's cycle file: hashed while copied, UTF-8 from its own
    door), so the files are not read once more for each.
    """
    src = project.settings.source(source_name)
    if encoding:
        src = replace(src, encoding=encoding)
    kind = KINDS[src.kind]
    reports: dict[int, IngestReport] = {}
    todo: list[tuple[int, Path, str]] = []
    readable: list[tuple[int, Path]] = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.is_file():
            reports[i] = _failed(source_name, kind, path, "", "file_not_found",
                                 f"file not found: {p}; check the path (percorso ingest SOURCE FILE...)")
            continue
        try:
            file_format(path)
        except InputError as exc:  # a type that is not read (.xls, .ods, .dat): said per file
            reports[i] = _failed(source_name, kind, path, "", exc.code, exc.message)
            continue
        readable.append((i, path))
    known = sha256 or {}
    hashing = _hash_ahead([p for _, p in readable if not known.get(str(p))])
    try:
        project.engine.con  # noqa: B018 - open now: a locked or damaged database stops the whole call
    except BaseException:
        for future in hashing.values():
            future.cancel()
        raise
    for i, path in readable:
        sha = known.get(str(path)) or hashing[str(path)].result()
        prev = None if force else S.previous_run(project.engine, source_name, sha)
        if prev is not None:
            with project.engine.transaction():
                reports[i] = _already(project, source_name, kind, path, sha, prev)
        else:
            todo.append((i, path, sha))
    done = len(reports)
    # One transaction per file (per batch of same-schema Parquet files): a bad file is
    # reported and rolled back alone, the good ones stay in (issue 22).
    queue = [[item] for item in todo if file_format(item[1]) != "parquet"]
    try:
        queue += [b for b in _batches(project.engine, todo) if file_format(b[0][1]) == "parquet"]
    except Exception as exc:  # noqa: BLE001 - an unreadable Parquet footer: each file on its own
        if _disk_full(exc):
            raise
        queue += [[item] for item in todo if file_format(item[1]) == "parquet"]
    while queue:
        batch = queue.pop(0)
        step = _step(progress, source_name, [p for _, p, _ in batch], done, len(paths))
        try:
            with project.engine.transaction():
                for (i, _, _), rep in zip(batch, _ingest_batch(project, source_name, src, kind, batch, step)):
                    reports[i] = rep
                # people erased before stay erased: what the files bring back of them goes (issue 19)
                from percorso.privacy.erasure import suppress_import

                suppress_import(project, [reports[i].ingest_run_id for i, _, _ in batch])
        except Exception as exc:  # noqa: BLE001 - reported per file, in plain words; the others go on
            if _disk_full(exc):
                raise _disk_full_error(project, batch, reports) from exc
            if isinstance(exc, EngineError):
                raise
            if len(batch) > 1:  # which file of the batch? each on its own
                queue[:0] = [[item] for item in batch]
                continue
            (i, path, sha), = batch
            code = getattr(exc, "code", "file_unreadable")
            msg = str(exc) if hasattr(exc, "code") else _plain(exc)
            named = msg if msg.startswith(f"{path.name}:") else f"{path.name}: {msg}"
            reports[i] = _failed(source_name, kind, path, sha, code, named)
        done += len(batch)
    if progress:
        progress("done", len(paths), len(paths))
    out = [reports[i] for i in range(len(paths))]
    # a re-import (the file, or most of it, already stored): not the few repeats a collector
    # micro-batch carries after a client's retry, which would scan the source's history each time
    repeated = [r for r in out
                if not r.error and (r.already_ingested or (r.duplicates and 2 * r.duplicates >= r.rows_read))]
    if repeated:
        stale = mapping_not_applied(project, source_name, src, kind)
        for r in repeated:
            r.mapping_not_applied = stale
    return out


def mapping_not_applied(project: Any, source_name: str, src: Any, kind: Kind) -> list[dict[str, Any]]:
    """Stored event names of a source whose event type its event-name mapping now gives otherwise.

    Why: an import never rewrites a stored event (event ids are deterministic, a re-read row is
    a duplicate), so a user who edits ``mapping = {"event.cart" = "add_to_cart"}`` and imports the
    file again sees every row counted as a duplicate and the old type stay. This names what did
    not change. One grouped scan of the source's events, only when a file is imported again.

    Examples
    --------
    ``[{"event_name": "cart", "stored_type": "custom", "mapped_type": "add_to_cart", "rows": 2}]``
    """
    if kind.shape != "segment" and "event_name" not in kind.fields:
        return []   # orders, profiles, calls: the type is the kind's, no name is mapped
    table = event_name_table(kind, src)
    out = []
    for name, stored, rows in S.stored_event_names(project.engine, source_name):
        mapped = table.get(P.norm_event(name), kind.fallback_event_type)
        if mapped is not None and mapped != stored:
            out.append({"event_name": name, "stored_type": stored, "mapped_type": mapped, "rows": int(rows)})
    return out


def generic_names_text(source_name: str, names: dict[str, int]) -> str:
    """One line (Italian / English) for :attr:`IngestReport.generic_event_names`: which names became
    type ``custom``, and how to give them a type (a mapping applies to the rows imported after it)."""
    shown = ", ".join(f"{k} ({v})" for k, v in list(names.items())[:6]) + (", …" if len(names) > 6 else "")
    first = next(iter(names))
    return (f"{source_name}: nomi evento senza tipo, importati come custom (il nome resta in event_name) / event "
            f"names with no type, imported as custom (the name kept in event_name): {shown}. They work as they are "
            f"(`percorso funnel {first} purchase`); to give one a type, add it to [sources.{source_name}] in "
            f"percorso.toml mapping = {{ \"event.{first}\" = \"TYPE\" }} (TYPE: {', '.join(_HINT_TYPES)}, …; "
            f"docs/sources.md) before importing: a mapping applies to the rows imported after it")


_HINT_TYPES = ("page_view", "product_view", "search", "add_to_cart", "checkout", "purchase", "login")
"""Canonical types a clickstream's own names usually are, named in :func:`generic_names_text`."""


def mapping_not_applied_text(source_name: str, stale: list[dict[str, Any]], database: str) -> str:
    """One line (Italian / English) for :func:`mapping_not_applied`: what happened, why, what to do."""
    n = sum(s["rows"] for s in stale)
    pairs = ", ".join(f"{s['event_name']}: {s['stored_type']} → {s['mapped_type']}" for s in stale[:5])
    pairs += ", …" if len(stale) > 5 else ""
    return (f"{source_name}: {n} righe già importate restano col tipo di prima ({pairs}): la mappatura di "
            f"percorso.toml vale solo per le righe importate dopo la modifica / {n} rows already imported keep "
            f"their old type: a changed mapping applies only to rows imported after the change, and percorso "
            f"does not re-type stored rows; to apply it, start over: move {database} aside (saved segments, "
            f"journeys and tokens are in it too), ingest every source again, then `percorso build`")


def _disk_full(exc: BaseException) -> bool:
    """The engine's or the system's "no space left": not a file's fault, so the whole call stops."""
    text = str(exc).lower()
    return "no space left" in text or "disk full" in text or getattr(exc, "errno", None) == 28


def _disk_full_error(project: Any, batch: list[tuple[int, Path, str]], reports: dict[int, IngestReport]) -> DiskFull:
    """The whole call stops on a full disk, saying which file was rolled back and what is already in."""
    done = [r.source_file for r in reports.values() if not r.error and not r.already_ingested]
    where = project.database_path.parent
    return DiskFull(
        f"disk full (no space left on the disk of {where}) while importing {', '.join(p.name for _, p, _ in batch)}: "
        f"nothing of it was written, the database is unchanged by it"
        + (f" ({', '.join(done)} imported before it)" if done else "")
        + "; free some space there (the engine also writes temporary files next to the database) "
          "and run the same command again: files already imported are recognised and skipped",
        code="disk_full")


def _plain(exc: BaseException) -> str:
    """An engine error about a file, in one line: what the reader said, and what to do."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"could not be read ({first[:300]}); check that it is a complete file of this kind "
            "(open it in a spreadsheet, or export it again)")


def _failed(source_name: str, kind: Kind, path: Path, sha: str, code: str, message: str) -> IngestReport:
    """Report of a file that was not imported at all (nothing of it was written)."""
    return IngestReport(source_name, kind.name, path.name, uuid.uuid4().hex, file_sha256=sha, error=message,
                        error_code=code)


def _batches(eng: Any, todo: list[tuple[int, Path, str]]) -> list[list[tuple[int, Path, str]]]:
    """Files read in one pass: Parquet files with the same schema together, any other file alone.

    Why: per file, the typed stage, the anti-join against every stored event and the insert
    each paid their fixed cost again (a call with 10 files scanned up to 45M stored ids).
    """
    out: list[list[tuple[int, Path, str]]] = []
    by_schema: dict[tuple, list[tuple[int, Path, str]]] = {}
    for item in todo:
        if file_format(item[1]) != "parquet":
            out.append([item])
            continue
        schema = S.parquet_schema(eng, str(item[1]))
        if schema not in by_schema:
            by_schema[schema] = []
            out.append(by_schema[schema])
        by_schema[schema].append(item)
    return out


def _step(progress: Any, source_name: str, paths: list[Path], done: int, total: int) -> Any:
    """Progress callable for the stages of one batch: ``step("typing")``."""
    what = paths[0].name + (f" +{len(paths) - 1}" if len(paths) > 1 else "")
    return lambda stage: progress and progress(f"{source_name}: {what}: {stage}", done, total)


def _hash_ahead(paths: list[Path]) -> dict[str, Future[str]]:
    """The content hashes of ``paths``, read by one thread while the caller opens the database (a
    new one is made and migrated then): the 10M-event bench file's hash took 0.09 s before any
    import work (ADR 0086). Hashing releases the interpreter's lock on each block: both run at once."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="percorso-sha256")
    try:
        return {str(p): pool.submit(file_sha256, p) for p in paths}
    finally:
        pool.shutdown(wait=False)   # its thread ends once the files are hashed (or cancelled)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, streamed in 1 MiB chunks (bounded memory on any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _already(project: Any, source_name: str, kind: Kind, path: Path, sha: str, prev: dict) -> IngestReport:
    """Report (and record) a file whose content was imported before: every good row is a duplicate."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rep = IngestReport(source_name, kind.name, path.name, uuid.uuid4().hex, rows_read=int(prev["rows_read"]),
                       accepted=0, quarantined=int(prev["quarantined"]),
                       duplicates=int(prev["accepted"]) + int(prev["duplicates"]), already_ingested=True,
                       file_sha256=sha)
    S.insert_run(project.engine, _run_row(rep, path, now, now))
    return rep


def _run_row(rep: IngestReport, path: Path, started: dt.datetime, finished: dt.datetime) -> dict[str, Any]:
    return {"ingest_run_id": rep.ingest_run_id, "source_name": rep.source_name, "source_kind": rep.source_kind,
            "source_file": rep.source_file, "file_path": str(path.resolve()), "file_size": path.stat().st_size,
            "file_sha256": rep.file_sha256, "rows_read": rep.rows_read, "accepted": rep.accepted,
            "quarantined": rep.quarantined, "duplicates": rep.duplicates, "started_at": started,
            "finished_at": finished}


def _stage(eng: Any, stage: str, src: Any, kind: Kind, batch_paths: list[Path], run_id: str,
           source_name: str) -> tuple[list[str], dict[str, str], str, bool, int]:
    """Stage the batch's files; (columns, column types, raw-text SQL, JSON lines, rejected).

    Copies a file needs before the engine can read it (the one file of a ``.zip``, a file
    mixing CRLF and LF line ends, or UTF-8 and Latin-1 rows) are written next to the
    database, on the disk that holds the data anyway, and removed once it is staged.
    """
    with tempfile.TemporaryDirectory(prefix="percorso-ingest-", dir=eng_dir(eng)) as workdir:
        path = batch_paths[0]
        if file_format(path) == "zip":  # one data file inside: read it as if it were given directly
            batch_paths = [unzip_single(path, Path(workdir))]
        return _stage_format(eng, stage, src, kind, batch_paths, run_id, source_name, Path(workdir), path.name)


def eng_dir(eng: Any) -> str | None:
    """Folder of the database file (None for an in-memory one: the system's temporary folder)."""
    return None if eng.path == ":memory:" else str(Path(eng.path).resolve().parent)


def _stage_format(eng: Any, stage: str, src: Any, kind: Kind, batch_paths: list[Path], run_id: str,
                  source_name: str, workdir: Path, shown: str) -> tuple[list[str], dict[str, str], str, bool, int]:
    path = batch_paths[0]
    fmt = file_format(path)
    if fmt == "parquet":
        col_types = S.stage_parquet(eng, stage, [str(p) for p in batch_paths])
        cols = list(col_types)
        return cols, col_types, S.raw_json_row_expr(cols), False, 0
    if fmt == "csv":
        lay = csv_layout(path, encoding=src.encoding, delimiter=src.delimiter)
        read, enc = path, lay.encoding
        if needs_transcoding(enc):  # UTF-8 and Latin-1 rows, or Windows-1252: each line re-encoded
            read, enc = workdir / ("utf8-" + path.name.removesuffix(".gz")), "utf-8"
            transcode_lines(path, read)
        if lay.mixed_newlines:
            read = normalise_newlines(read, workdir)
        cols = S.stage_csv(eng, stage, str(read), delim=lay.delimiter, encoding=enc, columns=lay.columns,
                           skip=lay.skip, unnamed=lay.unnamed)
        rejected = S.quarantine_rejects(eng, stage, _REJECT_REASONS, source_name=source_name, source_kind=kind.name,
                                        source_file=shown, run_id=run_id, expected=len(lay.columns))
        return cols, {c: "VARCHAR" for c in cols}, S.raw_csv_expr(cols, lay.delimiter), False, rejected
    if fmt == "jsonl":
        with _readable(path, src.encoding or scan_encoding(path)) as (read_path, read_enc):
            S.stage_lines(eng, stage, str(read_path), encoding=read_enc)
        return [], {}, "coalesce(s.line, s.j)", True, 0
    first = True
    for batch in xlsx_batches(path):
        S.stage_arrow(eng, stage, batch, first=first)
        first = False
    cols = [c for c in S.column_types(eng, stage) if c not in ("_line", "_file")]
    S.drop_empty_columns(eng, stage, [c for c in cols if re.fullmatch(r"column_\d+", c)])
    cols = [c for c in S.column_types(eng, stage) if c not in ("_line", "_file")]
    return cols, {c: "VARCHAR" for c in cols}, S.raw_csv_expr(cols, ";"), False, 0


@contextmanager
def _readable(path: Path, encoding: str) -> Iterator[tuple[Path, str]]:
    """(path, encoding) the engine can read: a file mixing UTF-8 and Latin-1 rows, or written in
    Windows-1252, is re-encoded line by line into a temporary UTF-8 copy (removed afterwards),
    so no valid row is refused and no ``€`` becomes a control character."""
    if not needs_transcoding(encoding):
        yield path, encoding
        return
    fd, tmp = tempfile.mkstemp(prefix="percorso-", suffix=path.suffix)
    os.close(fd)
    try:
        transcode_lines(path, Path(tmp))
        yield Path(tmp), "utf-8"
    finally:
        Path(tmp).unlink(missing_ok=True)


def decide_decimals(evidence: dict[str, dict[str, int]], configured: str | None) -> dict[str, str | None]:
    """Number convention of each numeric field: ``"comma"``, ``"dot"`` or None (undecided).

    The configured ``[sources.X] decimal`` wins. Otherwise a column follows its own values
    (the convention more of them can only be read in); a column whose values fit both (only
    whole numbers and ``1.299``-like ones) follows the file's other numeric columns; if they
    do not decide either, its ambiguous values are quarantined rather than guessed.

    >>> decide_decimals({"unit_price": {"ambiguous": 3, "comma": 0, "dot": 0},
    ...                  "discount": {"ambiguous": 0, "comma": 2, "dot": 0}}, None)
    {'unit_price': 'comma', 'discount': 'comma'}
    """
    if configured:
        return {f: ("comma" if configured == "," else "dot") for f in evidence}
    comma = sum(e["comma"] for e in evidence.values())
    dot = sum(e["dot"] for e in evidence.values())
    file_wide = "comma" if comma > dot else "dot" if dot > comma else None
    out: dict[str, str | None] = {}
    for f, e in evidence.items():
        out[f] = "comma" if e["comma"] > e["dot"] else "dot" if e["dot"] > e["comma"] else file_wide
    return out


def _ingest_batch(project: Any, source_name: str, src: Any, kind: Kind, batch: list[tuple[int, Path, str]],
                  step: Any) -> list[IngestReport]:
    """Read, check and write the files of one batch in one pass; one report (and run) per file.

    Every row keeps its file (``_file``, the position in the batch) and line; counts are
    per file by grouping on it. ``seconds`` of each report is the batch's time.
    """
    t0 = time.perf_counter()
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    eng = project.engine
    paths = [p for _, p, _ in batch]
    names = [p.name for p in paths]
    reps = [IngestReport(source_name, kind.name, p.name, uuid.uuid4().hex, file_sha256=sha) for _, p, sha in batch]
    run_ids = [r.ingest_run_id for r in reps]
    stage, typed = "_ing_stage", "_ing_typed"
    tz = project.settings.project.time_zone
    with S.memory_cap(eng, MEMORY_CAP.get(file_format(paths[0]), "1GB")):
        step("reading")
        cols, col_types, raw_expr, json_lines, rejected = _stage(eng, stage, src, kind, paths, run_ids[0], source_name)
        sources = _sources(kind, src, cols, json_lines, eng, stage)
        ev_paths = S.JsonPaths() if json_lines else None  # each line parsed once for every numeric field
        numeric = {f: P.src_expr(sources[f][1], ev_paths) for f, (t, sr) in sources.items() if t in ("num", "int")
                   and (sr[0] != "col" or col_types.get(sr[1], "VARCHAR") == "VARCHAR")}
        decimals = decide_decimals(S.number_evidence(eng, stage, numeric,
                                                     pre=ev_paths.columns() if ev_paths is not None else []),
                                   src.decimal)
        select, checks = P.typed_plan(
            kind, sources, col_types, tz=tz, decimals=decimals, date_format=src.date_format,
            true_values=tuple(src.true_values or S.DEFAULT_TRUE), false_values=tuple(src.false_values or S.DEFAULT_FALSE),
            json_lines=json_lines, paths=(jpaths := S.JsonPaths() if json_lines else None),
            zones=P.wall_time_zones(eng, stage, sources, col_types, tz))
        derived, lookups, texts = _derived(kind, src, sources, select, checks, eng, stage)
        ing = project.settings.ingest
        # the bound as a naive UTC time: compared with now() itself, every time was cast to a time
        # with zone, through the engine's calendar (0.85 CPU s per check of 10M rows, ADR 0053)
        checks += P.window_checks(sources, ing.earliest.isoformat(),
                                  f"now()::TIMESTAMP + INTERVAL {int(ing.latest_days_ahead)} DAY")
        given = {"channel": c for n, c in derived if n == "_channel"}  # a cost row's channel name (ADR 0056)
        scheme = S.id_scheme(eng)  # the project's, for good: a re-import recomputes the stored ids (ADR 0063)
        key_derived, post = P.key_plan(kind, sources, tz, source_name, {n[3:] for n, _ in select if n.startswith("_r_")},
                                       values=given, scheme=scheme, texts=texts)
        step("typing and checking")
        pre = jpaths.columns() if jpaths is not None else []
        copy_id = lambda k, n: P.copy_id_sql(scheme, source_name, k, n)  # noqa: E731
        straight = checked = None   # a first import: the SQL of the rows the insert reads straight (ADR 0072)
        by_content = 0  # good rows keyed by their content
        if _first_import(eng, kind, sources, len(reps)):
            straight = _first_import_typed(eng, kind, sources, tz, typed, stage, select, checks, derived,
                                           key_derived, post, pre, lookups, copy_id)
            checked = S.checked_rows("rows")
        else:
            S.build_typed(eng, typed, stage, select, checks, derived + key_derived, post, pre=pre, lookups=lookups)
            if any(n == "_ckey" for n, _ in key_derived):
                by_content = S.number_content_keys(eng, typed, copy_id)
        if kind.shape == "orders":
            S.quarantine_whole_orders(eng, typed, R.INCOMPLETE_ORDER)
        S.quarantine_insert(eng, typed, stage, raw_expr, source_name=source_name, source_kind=kind.name,
                            files=names, run_ids=run_ids, rows=checked)
        counts = S.checked_counts(eng) if straight else S.file_counts(eng, typed)
        good = [counts.get(f, (0, 0))[0] for f in range(len(reps))]
        for f, rep in enumerate(reps):
            rep.quarantined = counts.get(f, (0, 0))[1] + (rejected if f == 0 else 0)
            rep.rows_read = good[f] + rep.quarantined
        if kind.fallback_event_type:   # a clickstream's own names (catalog, cart): said, with how to map them
            generic = (S.checked_generic_names(eng) if straight
                       else S.generic_names(eng, typed, kind.fallback_event_type))
            for f, names_ in generic.items():
                reps[f].generic_event_names = names_
        joins = _identifier_maps(project, eng, typed, sources, reps)
        step("writing")
        if kind.shape == "costs":
            restated = _write_costs(eng, typed, sources, source_name, names, run_ids, project)
            if len(reps) == 1:
                reps[0].restated = restated
            target, key_col = "campaign_costs", "cost_id"
        else:
            # one file keyed by content alone: its copies are numbered, so its keys are distinct
            distinct = straight is not None or (len(reps) == 1 and kind.shape != "orders" and by_content == good[0])
            _write_events(eng, kind, src, typed, sources, joins, source_name, names, run_ids, distinct_keys=distinct,
                          rows=straight)
            if kind.shape == "profiles":
                _write_profiles(eng, typed, sources, joins, source_name)
            target, key_col = "events", "event_id"
            for kind_name, col in _PII.items():
                if kind_name in sources and kind_name != "ip":
                    # raw contact data only in the vault, sealed (percorso.privacy.vault)
                    from percorso.privacy.vault import sealed_table

                    S.vault_append(eng, sealed_table(project, S.vault_new(eng, f"_map_{kind_name}", kind_name, col,
                                                                          run_ids)))
        written = S.written_by_run(eng, target, run_ids)
        # orders: the lines of the orders each file's run wrote; otherwise one event per good row
        lines = (S.good_written_by_file(eng, typed, target, key_col, run_ids, P.event_id(kind, "t"))
                 if kind.shape == "orders" else None)
        finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for f, (rep, path) in enumerate(zip(reps, paths)):
            rep.events_written = written.get(rep.ingest_run_id, 0)
            rep.accepted = lines.get(f, 0) if lines is not None else rep.events_written
            rep.duplicates = good[f] - rep.accepted
            rep.seconds = time.perf_counter() - t0
            S.insert_run(eng, _run_row(rep, path, started, finished))
        for name in joins:
            eng.unregister(name[0])
        S.drop_temp(eng, typed, S.CHECKED, S.EVENT_NAMES, stage, stage + "_rej", stage + "_rejj", stage + "_rejerr",
                    stage + "_rejscan")
    return reps


FIRST_IMPORT_STRAIGHT = True
"""A first import inserts straight from the typed rows (:func:`_first_import`); tests turn it off to
compare both ways."""


def _first_import(eng: Any, kind: Kind, sources: dict, files: int) -> bool:
    """Whether this batch is imported without a typed table (ADR 0072): one file of rows keyed by
    their content alone (no id column, no contact data to hash) into an empty ``events``.

    Why only then: with nothing stored there is nothing to compare a row with, and within one
    file every row's key is distinct once its copies are numbered, so the insert needs no key of
    a row before it runs but those of the few rows that may be copies (:func:`_first_import_typed`).
    A re-import, a batch of files, natural keys, orders and contact data keep the typed table.
    """
    return (FIRST_IMPORT_STRAIGHT and files == 1 and kind.shape == "rows" and kind.key_from_content
            and "key" not in sources and not any(k in sources for k in _PII) and S.is_empty(eng, "events"))


def _first_import_typed(eng, kind, sources, tz, typed, stage, select, checks, derived,  # noqa: ANN001
                        key_derived, post, pre, lookups, copy_id) -> str:
    """The readers of a first import's typed rows served without the typed table; returns the SQL
    of the rows the insert reads straight (:func:`percorso.engine.ingest_sql.typed_select`).

    One grouped pass over the typed rows without their key (``ingest_sql.checked_pass``) gives the
    file counts, the bad rows, the generic names, the channel and URL maps and the content hashes
    that repeat. The rows with such a hash (every copy of a content, and a few others) are typed
    with their key into ``typed`` and numbered there as before; the insert reads them from it and
    every other good row straight from the file.

    What the pass found spares the straight select work it would do for nothing (ADR 0077): the
    rows of ``typed`` are left out by their line (a join on one integer, not the content hash of
    every row again: the first import is one file), none when no content repeats (and ``typed`` is
    then made without reading the file); the checks are left out when no row failed one (the same
    checks over the same rows in the same transaction, ``now()`` included: ``_reason`` would be
    NULL in every row, and its ``CASE`` cost ~1 CPU s of a 10M-row insert).
    """
    chash = P.content_hash(sources, tz)
    S.checked_pass(eng, S.typed_select(stage, select, checks, derived, pre=pre, lookups=lookups),
                   generic_type=kind.fallback_event_type, channel="channel" in sources and not (
                       kind.channel or kind.channel_by_type), url="page_url" in sources, content_hash=chash)
    repeats = S.checked_total(eng, "repeats")
    repeated = f"SELECT _h FROM {S.checked_rows('repeats')} r"
    # the same hash over the stage's row (the typed values' own SQL: the other rows are never typed)
    S.build_typed(eng, typed, stage, select, checks, derived + key_derived, post, pre=pre, lookups=lookups,
                  stage_where=f"{P.content_hash(sources, tz, dict(select))} IN ({repeated})" if repeats else S.NO_ROWS)
    S.number_content_keys(eng, typed, copy_id)
    bad = sum(b for _, b in S.checked_counts(eng).values())
    return S.typed_select(stage, select, checks if bad else [], derived + key_derived, post, pre=pre, lookups=lookups,
                          messages=False, where=S.lines_not_in(typed) if repeats else None)


def _sources(kind: Kind, src: Any, cols: list[str], json_lines: bool, eng: Any, stage: str) -> dict:
    """field → (type, source): where each contract field is read from, and as what."""
    if kind.shape == "segment":
        return dict(P.SEGMENT)
    if json_lines:  # JSON Lines of a tabular kind: top-level keys act as columns
        cols = S.json_keys(eng, stage)
        to_src = lambda c: ("json", ["$." + '"' + c.replace('"', '\\"') + '"'])  # noqa: E731
    else:
        to_src = lambda c: ("col", c)  # noqa: E731
    found = resolve_columns(kind, cols, src.mapping)
    sources: dict[str, tuple[str, tuple[str, Any]]] = {}
    for fld, col in found.items():
        ftype = kind.fields[fld][0] if fld in kind.fields else "str"
        sources[fld] = (ftype, to_src(col))
    if "time" in sources and "occurred_at" in sources:  # date and time of day in two columns (any format)
        sources["occurred_at"] = ("ts", ("concat", [sources["occurred_at"][1], sources["time"][1]]))
        del sources["time"]
    missing = [f for f in kind.required if f not in sources and f != "key"]
    if missing:
        hints = "; ".join(f"{f}: one of {', '.join(kind.fields[f][1][:6])}" for f in missing)
        raise InputError(
            f"source kind '{kind.name}': no column found for required field(s) {', '.join(missing)}; "
            f"columns in the file: {', '.join(cols)}. Expected ({hints}), or declare it in percorso.toml "
            f"[sources.NAME] mapping = {{{missing[0]} = \"your column\"}}", code="mapping_missing")
    if kind.keep_other_columns:
        # the channel column is read as the channel and kept as written too (nothing of the file lost)
        rest = _rest_expr(cols, set(found.values()) - {found.get("channel")}, json_lines)
        if rest:
            sources["_rest"] = ("json", ("sql", rest))
    return sources


def _rest_expr(cols: list[str], used: set[str], json_lines: bool) -> str | None:
    """JSON object of the columns no field claimed (kept in ``properties``), or None."""
    rest = [c for c in cols if c not in used]
    if not rest:
        return None
    if json_lines:
        vals = [f"json_extract(j, {ql('$.' + chr(34) + c.replace(chr(34), chr(92) + chr(34)) + chr(34))})" for c in rest]
    else:
        vals = [qi(c) for c in rest]
    return S.json_object_text(list(zip(rest, vals)))


def _derived(kind, src, sources, select, checks, eng,  # noqa: ANN001
             stage) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]], dict[str, str]]:
    """Columns computed over the typed ones (segment time and name, ``_evt``, a cost row's
    ``_channel``), the lookups they read (:func:`percorso.engine.ingest_sql.build_typed`), and the
    key texts a lookup gives (``plan.key_plan``'s ``texts``).

    An event name read from a column of the file (not a JSON line's key, not a Segment call) is
    looked up by its distinct values as written (``ingest_sql.event_name_map``, ADR 0078)."""
    derived: list[tuple[str, str]] = []
    if kind.shape == "costs":
        if "channel" not in sources:
            return derived, [], {}
        # the reports' name of the row's channel label, the channel of its key too (ADR 0056)
        channel, lookup = S.cost_channel(eng, channel_label_table(src))
        return [("_channel", channel)], [lookup], {}
    if kind.shape == "segment":
        name_sql = "CASE seg_type WHEN 'track' THEN seg_event ELSE seg_type END"
        derived += [("event_name", f"coalesce(seg_name, {name_sql})"), ("occurred_at", P.segment_time_expr())]
        checks.insert(1, ("missing_required", "key IS NULL", "'required field messageId is empty'"))
        checks.insert(2, ("missing_required", f"({P.segment_time_expr()}) IS NULL",
                          "'no time: timestamp, originalTimestamp and receivedAt are all empty'"))
        checks.insert(3, ("missing_required", "seg_type IS NULL OR (seg_type = 'track' AND seg_event IS NULL)",
                          "'required field type (and event, for track calls) is empty'"))
    elif "event_name" in sources:
        name_sql = "event_name"
    else:
        return derived, [], {}
    S.event_type_table(eng, "_ing_evmap", event_name_table(kind, src))
    texts = {}
    typed_name = dict(select).get("event_name")
    ftype, (read_as, _) = sources["event_name"] if kind.shape != "segment" else ("", ("", None))
    if typed_name and ftype == "str" and read_as == "col":
        evt, lookup, texts["event_name"] = S.event_name_map(eng, "_ing_evmap", stage, typed_name)
    else:   # a JSON line's name: one more parse of every line would cost more than the lookup saves
        evt, lookup = S.lookup_event_type("_ing_evmap", name_sql)
    if kind.fallback_event_type:  # generic files: an unknown name is kept as a generic event
        derived.append(("_evt", f"coalesce({evt}, {ql(kind.fallback_event_type)})"))
        return derived, [lookup], texts
    derived.append(("_evt", evt))
    checks.append(("unknown_event_type", f"{name_sql} IS NOT NULL AND _evt IS NULL",
                   f"'event name ' || {name_sql} || ' is not a known event type; valid: canonical types "
                   f"(page_view, purchase, ...), their aliases, or map it in percorso.toml: "
                   f"[sources.NAME] mapping = {{\"event.<name>\" = \"page_view\"}}'"))
    return derived, [lookup], texts


def event_name_table(kind: Kind, src: Any) -> dict[str, str]:
    """Normalised event name → canonical type for a source: types, aliases, the kind's and the
    source's own event map. One table for files and for the collector, which answers an unknown
    name with a 400 before it reaches this pipeline (:mod:`percorso.collector.envelope`)."""
    table = {k: k for k in EVENT_TYPES}
    table.update(EVENT_TYPE_ALIASES)
    table.update({P.norm_event(k): v for k, v in kind.event_map.items()})
    table.update({P.norm_event(k): v for k, v in event_map_from_mapping(src.mapping).items()})
    return table


def channel_label_table(src: Any) -> dict[str, str]:
    """Normalised channel label → channel name for a source: the built-in labels, then the
    source's own (``mapping = {"channel.Partner" = "Affiliates"}``)."""
    table = dict(CHANNEL_LABELS)
    table.update({label_key(k): v for k, v in channel_labels_from_mapping(src.mapping).items()})
    return table


def _identifier_maps(project: Any, eng: Any, typed: str, sources: dict,
                     reps: list[IngestReport]) -> list[tuple[str, str, str]]:
    """Normalise + hash the distinct raw PII values; register (raw, norm, key) maps for the join."""
    region = project.settings.identity.default_phone_region
    joins = []
    for kind_name in _PII:
        if kind_name not in sources:
            continue
        import pyarrow as pa  # here: an import without such identifiers (a clickstream file) never loads it

        raw = S.distinct_values(eng, typed, kind_name)
        norm = normalize_distinct(kind_name, raw, region)
        secret = project.secret
        keys = pa.array([None if v is None else keyed_hash(secret, v) for v in norm.to_pylist()], pa.string())
        name = f"_map_{kind_name}"
        eng.register_arrow(name, pa.table({"raw": raw.cast(pa.string()), "norm": norm, "key": keys}))
        joins.append((name, kind_name, f"m_{kind_name}"))
        for f, bad in S.invalid_counts(eng, typed, kind_name, name).items():
            reps[f].invalid_identifiers[kind_name] = bad
    return joins


def _col(sources: dict, fld: str, cast: str | None = None) -> str:
    if fld not in sources:
        return "NULL" if cast is None else f"NULL::{cast}"
    return f"t.{qi(fld)}"


def _event_exprs(kind: Kind, src: Any, sources: dict, joins: list, source_name: str, names: list[str],
                 run_ids: list[str], agg: bool) -> list[tuple[str, str]]:
    """Event column → SQL over the typed table ``t`` (aggregated per order when ``agg``).

    ``names`` and ``run_ids`` are the file names and run ids of the batch, by ``t._file``.
    """
    present = _present(kind, sources)
    A = (lambda e: f"any_value({e})" if e != "NULL" else e) if agg else (lambda e: e)  # noqa: E731
    system = _system(kind)
    e: dict[str, str] = {
        "event_id": A(P.event_id(kind, "t")), "schema_version": str(SCHEMA_VERSION),
        "occurred_at": "min(t.occurred_at)" if agg else "t.occurred_at",
        "received_at": A("t.received_at") if "received_at" in present else "now()::TIMESTAMP",
        "source_name": ql(source_name), "source_kind": ql(kind.name), "source_system": ql(system),
        "source_file": A(S.per_file(names, "t._file")), "source_line": "min(t._line)" if agg else "t._line",
        "source_key": A(P.stored_key(kind, sources, "t")), "online": "true" if kind.online else "false",
        "ingest_run_id": A(S.per_file(run_ids, "t._file")),
    }
    for c in ("anonymous_id", "device_id", "user_id", "crm_id", "store_id", "currency", "coupon_code",
              "referrer", "user_agent", "page_url"):
        e[c] = A(_col(present, c))
    e["region"] = A(_col(present, "city"))
    e["loyalty_card"] = (A(f"upper(regexp_replace(t.loyalty_card, '\\s+', '', 'g'))") if "loyalty_card" in present
                         else "NULL")
    for name, col, alias in joins:
        if col in _PII:
            e[_PII[col]] = A(f"{alias}.key")
    for k, v in P.url_exprs(present, "u" if "page_url" in present else None).items():
        e[k] = A(v)
    if kind.shape == "orders":
        qty, price = f"coalesce({_col(present, 'quantity')}, 1)", f"coalesce({_col(present, 'unit_price')}, 0)"
        line_total = f"({qty} * {price} - coalesce({_col(present, 'discount')}, 0))"
        e["revenue"] = f"round(sum({line_total}), 2)"
        e["event_type"] = f"CASE WHEN sum({line_total}) < 0 THEN 'return' ELSE {ql(kind.event_type)} END"
        e["event_name"] = ql(kind.event_type)
        e["order_id"] = "any_value(t._key)" if kind.name == "pos" else A(_col(present, "order_id"))
        # file order, by line number first when the file has one (a NULL constant may not be an ORDER BY key)
        order = "t.line_no, t._line" if "line_no" in present else "t._line"
        e["items"] = ("CAST(to_json(list({'sku': " + _col(present, "sku") + ", 'product': " + _col(present, "product")
                      + ", 'category': " + _col(present, "category") + f", 'qty': {qty}, 'price': {price}}}"
                      + f" ORDER BY {order})) AS VARCHAR)")
    else:
        e["revenue"] = _col(present, "revenue")
        e["order_id"] = _col(present, "order_id")
        e["items"] = _col(present, "items")
        e["event_type"] = "t._evt" if "event_name" in present else ql(kind.event_type)
        e["event_name"] = "t.event_name" if "event_name" in present else ql(kind.event_type)
    if kind.channel:
        e["channel"] = ql(kind.channel)
    elif kind.channel_by_type:
        e["channel"] = "CASE " + " ".join(f"WHEN t._evt = {ql(k)} THEN {ql(v)}" for k, v in
                                          kind.channel_by_type.items()) + " END"
    elif "channel" in present:   # a clickstream's own channel column, by its label (_write_events)
        e["channel"] = A("ch.channel")
    else:
        e["channel"] = "NULL"
    extras = [x for x in kind.extras if x in present]
    bases = [b for b in ("properties", "_rest") if b in present]
    props = P.properties_expr(extras, bases)
    e["properties"] = A(props) if props != "NULL" else "NULL"
    return [(c, e.get(c, "NULL")) for c in EVENT_COLUMN_NAMES]


def _present(kind: Kind, sources: dict) -> set[str]:
    """The fields a batch reads (a Segment call always has a time and a name)."""
    return set(sources) | ({"occurred_at", "event_name"} if kind.shape == "segment" else set())


def _system(kind: Kind) -> str:
    return "app" if kind.name == "app" else kind.source_system


def _enumerated_values(kind: Kind, src: Any, sources: dict) -> dict[str, set[str | None]]:
    """What a batch may write in the store's enumerated columns (``event_store.writable``, ADR
    0082): its kind and system, and the types :func:`_event_exprs` gives: the kind's own, a return,
    a generic event's, and every type its names are looked up to (a source's mapping included)."""
    types = {kind.event_type, kind.fallback_event_type, "return" if kind.shape == "orders" else None}
    if "event_name" in _present(kind, sources):
        types |= set(event_name_table(kind, src).values())
    return {"event_type": types, "source_kind": {kind.name}, "source_system": {_system(kind)}}


def _write_events(eng, kind, src, typed, sources, joins, source_name, names, run_ids,  # noqa: ANN001
                  distinct_keys: bool = False, rows: str | None = None) -> None:
    """Insert the events of the good typed rows. ``rows``: a first import's (ADR 0072), the SQL of
    the rows read straight, besides those of ``typed`` (the candidates for renumbering); the URL
    and channel maps are then built from ``ingest_sql.CHECKED``."""
    agg = kind.shape == "orders"
    exprs = _event_exprs(kind, src, sources, joins, source_name, names, run_ids, agg)
    url_join = []
    if "page_url" in sources:
        urls = f"SELECT _url AS page_url FROM {S.checked_rows('urls')} c" if rows else None
        eng.run(f"CREATE OR REPLACE TEMP TABLE _ing_urls AS {P.url_map_sql(typed, urls)}")
        url_join = [("_ing_urls", "page_url", "u")]
    if "channel" in sources and not (kind.channel or kind.channel_by_type):
        labels = f"SELECT _ch AS raw FROM {S.checked_rows('channels')} c" if rows else None
        S.channel_map(eng, typed, "_ing_channels", channel_label_table(src), values=labels)
        url_join.append(("_ing_channels", "channel", "ch"))
    # the columns this source gives no value are left to the table (NULL): appending ~27 NULL
    # columns a clickstream does not have cost ~4-7 of the insert's ~25-33 CPU s at 10M rows (ADR 0053)
    exprs = [(c, x) for c, x in exprs if x != "NULL"]
    body = S.typed_body(typed, exprs, joins + url_join, group=agg)
    if rows:
        body = f"{S.typed_body(typed, exprs, joins + url_join, group=False, rows=rows)} UNION ALL {body}"
    S.insert_dedup(eng, "events", "event_id", [c for c, _ in exprs], body, typed=typed, grouped=agg,
                   distinct_keys=distinct_keys, key=P.record_key(kind), event_id=P.event_id(kind),
                   values=_enumerated_values(kind, src, sources))
    S.drop_temp(eng, "_ing_urls", "_ing_channels")


def _write_profiles(eng, typed, sources, joins, source_name) -> None:  # noqa: ANN001
    present = set(sources)
    cols = {"event_id": "t._event_id", "occurred_at": "t.occurred_at", "source_name": ql(source_name),
            "source_line": "t._line"}
    for c in ("first_name", "last_name", "city", "province", "birth_date", "gender", "consent_profiling",
              "consent_marketing", "crm_id", "user_id"):
        cols[c] = _col(present, c)
    cols["loyalty_card"] = f"upper(regexp_replace({_col(present, 'loyalty_card')}, '\\s+', '', 'g'))"
    for name, col, alias in joins:
        if col in ("email", "phone"):
            cols[_PII[col]] = f"{alias}.key"
    body = S.typed_body(typed, list(cols.items()), joins, group=False)
    S.insert_dedup(eng, "contact_profiles", "event_id", [c for c in cols if c != "source_line"], body,
                   typed=typed, grouped=False)


def _write_costs(eng, typed, sources, source_name, names, run_ids, project) -> int:  # noqa: ANN001
    """Write the cost rows; returns how many stored days they restated (replaced, history kept)."""
    present = set(sources)
    cur = ql(project.settings.project.currency)
    cols = {"cost_id": "t._event_id", "date": "t.date", "channel": "t._channel" if "channel" in present else "NULL",
            "campaign": _col(present, "campaign"), "utm_source": f"lower({_col(present, 'utm_source')})",
            "utm_medium": f"lower({_col(present, 'utm_medium')})", "cost": "t.cost",
            "currency": f"coalesce({_col(present, 'currency')}, {cur})",
            "impressions": _col(present, "impressions"), "clicks": _col(present, "clicks"),
            "source_name": ql(source_name), "source_file": S.per_file(names, "t._file"), "source_line": "t._line",
            "ingest_run_id": S.per_file(run_ids, "t._file")}
    body = S.typed_body(typed, list(cols.items()), [], group=False)
    restated = S.restate_costs(eng, body, list(cols), relabel="channel" in present)
    S.insert_dedup(eng, "campaign_costs", "cost_id", list(cols), body, typed=typed, grouped=False)
    S.drop_temp(eng, S.CHANNEL_LABELS_TABLE)
    return restated

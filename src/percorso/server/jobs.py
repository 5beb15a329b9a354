"""Imports and builds as background jobs, with progress, that survive a killed server.

Why jobs: an import or a build takes seconds to minutes; an HTTP request should not. A job
is a row in ``jobs`` (queued → running → done | failed) and runs on its own thread with its
own connection to the database (:meth:`~percorso.engine.Engine.fork`), one job at a time, in
order, so requests keep being answered (from the data committed so far) while it runs. Progress lives in memory (``GET /v1/jobs/{id}``). A server killed
mid-job leaves the row ``running``; the next start marks it failed with what to do (run it
again: imports are idempotent and a build recomputes), so no job is ever silently lost.
A stop (SIGTERM) lets the running job finish and fails the queued ones the same way.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from percorso.engine import server_sql as S
from percorso.errors import InputError
from percorso.server.tokens import Principal, utcnow

KINDS = ("ingest", "build")


class JobRunner:
    """One background thread taking jobs in order and running each on the database worker."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.progress: dict[str, dict[str, Any]] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._params: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, str] = {}
        self._engine: Any = state.engine.fork()  # made here, on the database worker
        # held while a job or a micro-batch runs; ServerState.rewriting takes it (a restore through
        # the CLI bridge takes it twice on the database worker: reentrant)
        self.lock = threading.RLock()
        self._thread = threading.Thread(target=self._loop, name="percorso-jobs", daemon=True)
        self._thread.start()

    # -- submitting ---------------------------------------------------------------------
    def submit(self, kind: str, params: dict[str, Any], principal: Principal | None) -> str:
        """Queue a job (called on the database worker); returns its id."""
        if kind not in KINDS:
            raise InputError(f"unknown job kind '{kind}'; valid: {', '.join(KINDS)}")
        job_id = uuid.uuid4().hex[:16]
        S.insert_job(self.state.engine, {"job_id": job_id, "kind": kind, "status": "queued",
                                         "created_by": principal.name if principal else None,
                                         "created_at": utcnow(), "params": json.dumps(params, sort_keys=True)})
        self._params[job_id] = params
        self._kinds[job_id] = kind
        self.progress[job_id] = {"step": "queued", "done": 0, "total": None}
        self._queue.put(job_id)
        return job_id

    def status(self, job_id: str | None = None) -> list[dict[str, Any]]:
        rows = S.read_jobs(self.state.engine, job_id).to_pylist()
        for r in rows:
            r["params"] = json.loads(r["params"]) if r["params"] else None
            r["result"] = json.loads(r["result"]) if r["result"] else None
            r["progress"] = self.progress.get(r["job_id"])
        return rows

    def stop(self) -> None:
        """Let the running job finish (its safe point), leave queued ones for the next start."""
        self._queue.put(None)
        self._thread.join(timeout=600)
        if self._engine is not None:
            self.state.run_sync(self._engine.close)
            self._engine = None

    # -- running ------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            if self.state.stopping.is_set():
                continue  # left queued: the next start marks it failed
            with self.lock:
                self._run(job_id)

    def reconnect(self) -> None:
        """A new connection after the database file changed (restore, erasure, retention run); call
        with :attr:`lock` held."""
        self._engine.close()
        self._engine = self.state.engine.fork()

    def _project(self) -> Any:
        """The server's project on a connection of this thread's own."""
        from percorso.project import Project

        project = Project(root=self.state.root, settings=self.state.project.settings)
        project._engine, project._borrowed = self._engine, True
        return project

    def _run(self, job_id: str) -> None:
        project = self._project()
        params = self._params.pop(job_id)
        kind = self._kinds.pop(job_id)
        S.update_job(project.engine, job_id, status="running", started_at=utcnow())
        self.progress[job_id] = {"step": "running", "done": 0, "total": None}
        try:
            result = (_run_ingest if kind == "ingest" else _run_build)(self, project, job_id, params)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, never lost
            from percorso.errors import PercorsoError

            msg = exc.message if isinstance(exc, PercorsoError) else f"unexpected {type(exc).__name__}: {exc}"
            S.update_job(project.engine, job_id, status="failed", finished_at=utcnow(), error=msg)
            self.progress[job_id] = {**self.progress.get(job_id, {}), "step": "failed"}
        else:
            S.update_job(project.engine, job_id, status="done", finished_at=utcnow(),
                         result=json.dumps(result, default=str, sort_keys=True))
            self.progress[job_id] = {**self.progress.get(job_id, {}), "step": "done"}
        finally:
            self.state.changed()

    def reporter(self, job_id: str) -> Any:
        def report(step: str, done: int | None = None, total: int | None = None) -> None:
            self.progress[job_id] = {"step": step, "done": done, "total": total}

        return report


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return asdict(value) if is_dataclass(value) else value


def _run_ingest(runner: JobRunner, project: Any, job_id: str, params: dict[str, Any]) -> dict[str, Any]:
    from percorso.ingest.pipeline import ingest_files

    reports = ingest_files(project, params["source"], [Path(p) for p in params["paths"]],
                           runner.reporter(job_id))
    return {"files": [_plain(r) for r in reports]}


def _run_build(runner: JobRunner, project: Any, job_id: str, params: dict[str, Any]) -> dict[str, Any]:
    from percorso.build.runner import run_build

    report = run_build(project, full=bool(params.get("full")), refresh=params.get("refresh", True),
                       progress=lambda msg: runner.reporter(job_id)(msg))
    return _plain(report)


"""A percorso project: a folder with ``percorso.toml``, editable rule tables and a database.

:func:`open_project` is the entry point of the Python API; :func:`init_project` writes a
new project folder (``percorso init``).
"""

from __future__ import annotations

import secrets
import shutil
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from percorso.config import CONFIG_FILE, Settings, load_settings
from percorso.engine import Engine
from percorso.engine.backend import default_memory_limit, default_temp_cap
from percorso.errors import ConfigError, InputError, NotFound

RULES_DIR = "rules"

#: Engines a server of this process owns, by database file: a project opened in the same
#: process (a CLI command the server runs for a client) uses the server's connection instead
#: of opening the file a second time, and never closes it.
_SHARED_ENGINES: dict[Path, Engine] = {}


def share_engine(engine: Engine, database_path: Path) -> None:
    """Let projects opened in this process on ``database_path`` use ``engine`` (``percorso serve``)."""
    _SHARED_ENGINES[Path(database_path).resolve()] = engine


def unshare_engine(database_path: Path) -> None:
    _SHARED_ENGINES.pop(Path(database_path).resolve(), None)


#: ``--engine`` of the current command (``duckdb`` | ``spark``), over ``[engine] kind``.
ENGINE_OVERRIDE: ContextVar[str | None] = ContextVar("percorso_engine_override", default=None)


@dataclass
class Project:
    """An opened project: its folder, settings and (lazily) its database engine.

    ``engine_kind`` pins the engine (``duckdb`` for the commands that write: ingest, build,
    ``lake export``); ``None`` follows ``--engine`` and then ``[engine] kind``.
    """

    root: Path
    settings: Settings
    read_only: bool = False
    engine_kind: str | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _borrowed: bool = field(default=False, repr=False)

    @property
    def kind(self) -> str:
        """The engine this project's analyses run on: ``duckdb`` or ``spark``."""
        return self.engine_kind or ENGINE_OVERRIDE.get() or self.settings.engine.kind

    @property
    def lake_path(self) -> Path:
        lake = Path(self.settings.engine.lake)
        return lake if lake.is_absolute() else self.root / lake

    @property
    def engine(self) -> Engine:
        if self._engine is None and self.kind == "spark":
            from percorso.engine.spark import SparkEngine

            eng = self.settings.engine
            self._engine = SparkEngine(self.lake_path, master=eng.master, conf=eng.spark,  # type: ignore[assignment]
                                       time_zone=self.settings.project.time_zone)
        if self._engine is None:
            shared = _SHARED_ENGINES.get(self.database_path.resolve())
            if shared is not None:
                self._engine, self._borrowed = shared, True
                return shared
            if self.read_only and not self.database_path.exists():
                # a read-only open cannot create the file; say what to do, not DuckDB's IO error
                raise NotFound(
                    f"no database yet at {self.database_path}: import files first with "
                    "`percorso ingest SOURCE FILE…`, then `percorso build`"
                )
            eng = self.settings.engine
            tmp = None if eng.temp_directory is None else self.root / eng.temp_directory
            cap = eng.max_temp_size or default_temp_cap(tmp or self.database_path.parent)
            self._engine = Engine(self.database_path, read_only=self.read_only,
                                  memory_limit=eng.memory_limit or default_memory_limit(), temp_directory=tmp,
                                  max_temp_size=cap, time_zone=self.settings.project.time_zone)
        return self._engine

    @property
    def database_path(self) -> Path:
        db = Path(self.settings.project.database)
        return db if db.is_absolute() else self.root / db

    @property
    def rules_dir(self) -> Path:
        return self.root / RULES_DIR

    def rule_file(self, name: str) -> Path:
        """Path of an editable rule table; falls back to the packaged default."""
        local = self.rules_dir / name
        if local.exists():
            return local
        return packaged_rule_file(name)

    @property
    def secret(self) -> bytes:
        s = self.settings.identity.secret
        if not s:
            raise ConfigError(
                f"{self.root / CONFIG_FILE}: key 'identity.secret' is empty; set it (any long random "
                "string) or the environment variable PERCORSO_SECRET"
            )
        return s.encode("utf-8")

    def keep_block_memory(self) -> None:
        """For a command that runs in a process of its own (``ingest``, ``build``): the engine keeps
        its freed blocks instead of asking the system for fresh pages (:meth:`Engine.keep_block_memory`).
        Not when the command runs inside ``percorso serve`` (its engine is borrowed and lives on)."""
        engine = self.engine
        if not self._borrowed and hasattr(engine, "keep_block_memory"):
            engine.keep_block_memory()

    def close(self) -> None:
        if self._engine is not None and not self._borrowed:
            self._engine.close()
        self._engine = None
        self._borrowed = False

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def packaged_rule_file(name: str) -> Path:
    path = Path(str(resources.files("percorso.rules").joinpath("data", name)))
    if not path.exists():
        raise InputError(f"no rule table named '{name}'")
    return path


def open_project(root: str | Path = ".", *, read_only: bool = False, engine: str | None = None) -> Project:
    """Open the project in ``root`` (the folder holding ``percorso.toml``).

    Examples
    --------
    >>> p = open_project("demo")                      # doctest: +SKIP
    >>> p.engine.table("customers").count().execute() # doctest: +SKIP
    """
    root = Path(root).resolve()
    settings = load_settings(root / CONFIG_FILE)
    if engine not in (None, "duckdb", "spark"):
        raise InputError(f"unknown engine '{engine}'; valid: duckdb, spark")
    return Project(root=root, settings=settings, read_only=read_only, engine_kind=engine)


def init_project(root: str | Path, *, name: str | None = None, force: bool = False) -> Path:
    """Write a new project folder with a default ``percorso.toml`` and rule tables."""
    root = Path(root)
    cfg = root / CONFIG_FILE
    if cfg.exists() and not force:
        raise InputError(f"{cfg} already exists; use --force to overwrite it")
    root.mkdir(parents=True, exist_ok=True)
    template = packaged_rule_file("percorso.toml.template").read_text(encoding="utf-8")
    text = template.replace("{name}", name or root.resolve().name).replace(
        "{secret}", secrets.token_hex(32)
    )
    cfg.write_text(text, encoding="utf-8")
    rules = root / RULES_DIR
    rules.mkdir(exist_ok=True)
    data = Path(str(resources.files("percorso.rules").joinpath("data")))
    for f in sorted(data.iterdir()):
        if f.suffix == ".csv" and not (rules / f.name).exists():
            shutil.copy(f, rules / f.name)
    return cfg

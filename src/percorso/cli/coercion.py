"""Command-line values converted without pydantic when the conversion is plain (ADR 0068).

Why: typer 0.29 converts every option and argument through a pydantic ``TypeAdapter``
(``typer.core.build_runtime_param``), so every command imported pydantic and built one adapter
per option: ~0.08 s of a ~1.3 s ``percorso build`` after a small import, for turning ``"."``
into ``Path(".")`` and ``"json"`` into ``OutputFormat.json``. Here the parameters of the types
percorso's commands use (``str``, ``int``, ``float``, ``bool``, ``Path``, an ``Enum`` of choices,
``datetime`` with formats, lists of those) convert a value whose result is unambiguous in plain
Python, with typer's own helpers for choices and paths; any other value (a bad one, an unusual
spelling such as ``"1_000"``, a number out of range) goes to typer's own pydantic conversion,
made on first use, so results, messages and exit codes are typer's. A test compares both
conversions on every parameter of every command. With another typer (one without
``build_runtime_param``) nothing is changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

try:   # typer 0.29's layout; another typer converts as it does (install() changes nothing)
    from typer import _param_types as T
    from typer._coercion import RuntimeParam
except ImportError:   # pragma: no cover - the pinned typer has them
    T, RuntimeParam = None, object  # type: ignore[assignment,misc]

#: returned by a plain conversion that leaves the value to typer's own
_TYPER = object()
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
Convert = Callable[[Any, Any, Any], Any]


def _plain_int(value: Any) -> Any:
    if type(value) is int:
        return value
    return int(value) if type(value) is str and _INT.fullmatch(value) else _TYPER


def _plain_float(value: Any) -> Any:
    if type(value) is float:
        return value
    return float(value) if type(value) is str and _FLOAT.fullmatch(value) else _TYPER


def _same_type(kind: type) -> Convert:
    return lambda value, param, ctx: value if type(value) is kind else _TYPER


def _number(plain: Callable[[Any], Any], low: Any, high: Any) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        out = plain(value)
        if out is _TYPER or (low is not None and out < low) or (high is not None and out > high):
            return _TYPER
        return out
    return convert


def _choice(choices: list[Any], case_sensitive: bool) -> Convert:
    return lambda value, param, ctx: T.coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive,
                                                         ctx=ctx)


def _moment(formats: list[str]) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if type(value) is datetime:
            return value
        for fmt in formats:
            try:
                return datetime.strptime(value, fmt)
            except (TypeError, ValueError):
                continue
        return _TYPER
    return convert


def _path(kind: type, info: Any) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if type(value) is str and value:
            value = kind(value)
        elif not isinstance(value, kind):
            return _TYPER
        return T.coerce_cli_path(value, info, path_type=kind, param=param, ctx=ctx)
    return convert


def _converter(annotation: Any, info: Any) -> Convert | None:
    """The plain conversion of one (non-list) annotation, or None (typer's for every value);
    in the order of typer's ``build_leaf_adapter``."""
    if info.parser is not None or getattr(info, "click_type", None) is not None:
        return None
    if T.lenient_issubclass(annotation, Enum):
        return _choice(list(annotation), info.case_sensitive)
    if annotation is datetime:
        return _moment(list(info.formats)) if info.formats else None
    if annotation in (int, float):
        return None if info.clamp else _number(_plain_int if annotation is int else _plain_float, info.min, info.max)
    if annotation in (bool, str):
        return _same_type(annotation)
    if T.lenient_issubclass(annotation, Path) and info.path_type is None:
        return _path(annotation, info)
    return None


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):  # type: ignore[misc,valid-type]
    """Converts a plain value by ``convert``, any other by typer's own (``typer_param()``, made
    once, on first use: only then is pydantic imported)."""

    convert: Convert
    typer_param: Callable[[], Any]
    made: list[Any] = field(default_factory=list)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            out = self.convert(value, param, ctx)
        except Exception:  # noqa: BLE001 - typer's conversion gives the message
            out = _TYPER
        if out is not _TYPER:
            return out
        if not self.made:
            self.made.append(self.typer_param())
        return self.made[0]._coerce_value(value, param=param, ctx=ctx)


def _list_of(item: Convert) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            return _TYPER
        out = [item(v, param, ctx) for v in value]
        return _TYPER if any(v is _TYPER for v in out) else out
    return convert


def plain_runtime_param(descriptor: Any, typer_param: Callable[[], Any]) -> PlainRuntimeParam | None:
    """The runtime parameter of ``descriptor`` that converts plain values itself, or None when
    typer's own (``typer_param()``) must convert every value (files, tuples, other types)."""
    if descriptor.is_file or descriptor.is_tuple:
        return None
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if get_origin(annotation) is list:
        item = _converter(get_args(annotation)[0], info)
        convert = _list_of(item) if item is not None else None
    else:
        convert = _converter(annotation, info)
    if convert is None:
        return None
    return PlainRuntimeParam(parameter_info=info, annotation=annotation, convert=convert, typer_param=typer_param)


def install() -> None:
    """Make typer's parameters convert plain values without pydantic (typer 0.29's layout only)."""
    from typer import core

    typer_build = getattr(core, "build_runtime_param", None)
    if T is None or typer_build is None or getattr(typer_build, "typer_build", None) is not None:
        return

    def build_runtime_param(descriptor: Any) -> Any:
        return plain_runtime_param(descriptor, lambda: typer_build(descriptor)) or typer_build(descriptor)

    build_runtime_param.typer_build = typer_build  # type: ignore[attr-defined]
    core.build_runtime_param = build_runtime_param

"""Typed settings sections as plain dataclasses, checked when they are made (ADR 0065).

Why not pydantic: every command reads ``percorso.toml``, and importing pydantic and building
the models of ``percorso.config`` took ~0.1 s of each process that opens a project (the
command line's typer 0.29 still imports pydantic to convert its options). A section here is a ``@dataclass(slots=True)`` subclass of :class:`Section` whose
fields say their type, and their bounds and check through :func:`setting`; making one (from
keywords or from a TOML table with :func:`from_dict`) converts and checks every field as
pydantic's lax mode did (``"30"`` is 30, ``1`` is true, a TOML date or ``"2020-01-31"`` a
date) and refuses with pydantic's words, so a file accepted or refused before still is, with
the same one-line reason. Types understood: ``str``, ``int``, ``float``, ``bool``,
``datetime.date``, ``Literal[...]``, ``list[X]``, ``dict[str, X]``, ``X | None``, ``Any`` and
other sections. Analyses' typed queries stay pydantic models (their JSON schema is the API).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import types
import typing
from typing import Any, Callable, Literal, get_args, get_origin

_BOOLS = {"0": False, "off": False, "f": False, "false": False, "n": False, "no": False,
          "1": True, "on": True, "t": True, "true": True, "y": True, "yes": True}


@dataclasses.dataclass(frozen=True)
class Problem:
    """One refused value: where (``loc``, keys from the section down), what, and why."""

    loc: tuple[str | int, ...]
    input: Any
    msg: str
    kind: Literal["value", "missing", "extra"] = "value"
    allowed: tuple[str, ...] = ()
    """For an unknown key, the keys its table has (to suggest the nearest)."""


class SectionError(ValueError):
    """The values of a section that were refused, all of them (``problems``)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(str(x) for x in p.loc) or 'input'}: {p.msg}" for p in problems))


def setting(default: Any = dataclasses.MISSING, *, factory: Callable[[], Any] | None = None,
            ge: float | None = None, gt: float | None = None, le: float | None = None,
            check: Callable[[Any], Any] | None = None) -> Any:
    """A field with bounds (``ge``, ``gt``, ``le``) and/or a ``check`` that returns the value
    (normalised) or raises :class:`ValueError` with the reason; ``check`` never sees ``None``."""
    meta = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("check", check)) if v is not None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Section:
    """Base of a settings section: its fields are converted and checked in ``__post_init__``."""

    __slots__ = ()

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for name, (hint, field) in _fields(type(self)).items():
            value = getattr(self, name)
            if value is not field.default:   # a default is taken as written (as pydantic did)
                object.__setattr__(self, name, _field_value(hint, field, value, (name,), problems))
        if problems:
            raise SectionError(problems)


_S = typing.TypeVar("_S", bound=Section)


def from_dict(cls: type[_S], raw: Any) -> _S:
    """The section ``cls`` of a TOML table; :class:`SectionError` lists every refused key."""
    problems: list[Problem] = []
    out = _build(cls, raw, (), problems)
    if problems:
        raise SectionError(problems)
    return typing.cast(_S, out)


_FIELDS: dict[type, dict[str, tuple[Any, dataclasses.Field[Any]]]] = {}


def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field[Any]]]:
    """Name -> (resolved type, field) of a section class, worked out once per class."""
    got = _FIELDS.get(cls)
    if got is None:
        hints = typing.get_type_hints(cls)
        got = _FIELDS[cls] = {f.name: (hints[f.name], f) for f in dataclasses.fields(cls)}
    return got


def _build(cls: type[Section], raw: Any, loc: tuple[str | int, ...], problems: list[Problem]) -> Any:
    if isinstance(raw, cls):
        return raw
    if not isinstance(raw, dict):
        problems.append(Problem(loc, raw, f"Input should be a valid dictionary or instance of {cls.__name__}"))
        return raw
    fields = _fields(cls)
    before = len(problems)
    values = {}
    for name, (hint, field) in fields.items():
        if name in raw:
            values[name] = _field_value(hint, field, raw[name], (*loc, name), problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append(Problem((*loc, name), raw, "Field required", "missing"))
    problems.extend(Problem((*loc, key), value, "Extra inputs are not permitted", "extra", tuple(fields))
                    for key, value in raw.items() if key not in fields)
    return cls(**values) if len(problems) == before else raw


def _field_value(hint: Any, field: dataclasses.Field[Any], value: Any, loc: tuple[str | int, ...],
                 problems: list[Problem]) -> Any:
    before = len(problems)
    out = _convert(hint, value, loc, problems)
    if len(problems) > before:
        return value
    if out is None:
        return None
    meta = field.metadata
    for key, words in (("ge", "greater than or equal to"), ("gt", "greater than"), ("le", "less than or equal to")):
        bound = meta.get(key)
        if bound is not None and not (out >= bound if key == "ge" else out > bound if key == "gt" else out <= bound):
            problems.append(Problem(loc, value, f"Input should be {words} {bound}"))
            return value
    if "check" in meta:
        try:
            return meta["check"](out)
        except ValueError as exc:
            problems.append(Problem(loc, value, str(exc)))
            return value
    return out


def _convert(hint: Any, v: Any, loc: tuple[str | int, ...], problems: list[Problem]) -> Any:  # noqa: C901, PLR0911, PLR0912
    """``v`` as type ``hint`` (pydantic's lax conversions), or ``v`` with a problem recorded."""
    def bad(msg: str) -> Any:
        problems.append(Problem(loc, v, msg))
        return v

    origin = get_origin(hint)
    if hint is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in get_args(hint):
            return None
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _convert(inner[0], v, loc, problems)
    if origin is Literal:
        choices = get_args(hint)
        if any(v == c and type(v) is type(c) for c in choices):
            return v
        words = [repr(c) for c in choices]
        return bad("Input should be " + (f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else words[0]))
    if origin is list:
        if not isinstance(v, list | tuple | set | frozenset):
            return bad("Input should be a valid list")
        (item,) = get_args(hint)
        return [_convert(item, x, (*loc, i), problems) for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            return bad("Input should be a valid dictionary")
        value_hint = get_args(hint)[1]
        return {k: _convert(value_hint, x, (*loc, k), problems) for k, x in v.items()}
    if isinstance(hint, type) and issubclass(hint, Section):
        return _build(hint, v, loc, problems)
    if hint is str:
        return v if isinstance(v, str) else bad("Input should be a valid string")
    if hint is bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, int | float) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _BOOLS:
            return _BOOLS[v.strip().lower()]
        return bad("Input should be a valid boolean" + (", unable to interpret input" if isinstance(v, str | int)
                                                        else ""))
    if hint is int:
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                return bad("Input should be a finite number")
            return int(v) if v.is_integer() else bad("Input should be a valid integer, got a number with a fractional part")
        if isinstance(v, str):
            try:
                return int(v.strip())
            except ValueError:
                return bad("Input should be a valid integer, unable to parse string as an integer")
        return bad("Input should be a valid integer")
    if hint is float:
        if isinstance(v, int | float):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v.strip())
            except ValueError:
                return bad("Input should be a valid number, unable to parse string as a number")
        return bad("Input should be a valid number")
    if hint is dt.date:
        if isinstance(v, dt.datetime):
            return v.date() if v.time() == dt.time(0) else bad(
                "Datetimes provided to dates should have zero time - e.g. be exact dates")
        if isinstance(v, dt.date):
            return v
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v.strip())
            except ValueError:
                return bad("Input should be a valid date in the format YYYY-MM-DD")
        return bad("Input should be a valid date")
    raise TypeError(f"percorso.sections: no conversion to {hint!r}")   # a field type this module does not know

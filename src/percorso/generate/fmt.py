"""Vectorised text formatting for the demo files (Arrow compute, no per-row Python).

Times are simulated as integer seconds since :data:`T0` (2024-01-01 00:00 UTC). Formatting
goes through lookup tables (one string per day, one per second of the day) and
``binary_join_element_wise``, which is an order of magnitude faster than ``strftime`` on
millions of rows. Files are written straight from the Arrow string buffer.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 731
SPAN_S = DAYS * 86400
ROME = ZoneInfo("Europe/Rome")


def s(values: list[str] | tuple[str, ...]) -> pa.Array:
    """A small pool of strings as an Arrow array (to ``take`` from)."""
    return pa.array(list(values), pa.string())


def take(pool: pa.Array | list[str] | tuple[str, ...], idx: np.ndarray) -> pa.Array:
    """Pick ``pool[idx]`` for every row, vectorised."""
    if not isinstance(pool, pa.Array):
        pool = s(pool)
    return pool.take(pa.array(np.asarray(idx, dtype=np.int64)))


def join(*parts: pa.Array | str) -> pa.Array:
    """Concatenate string arrays and literals row by row."""
    return pc.binary_join_element_wise(*parts, "")


def num(values: np.ndarray) -> pa.Array:
    """Integers as decimal strings."""
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def zpad(values: np.ndarray, width: int) -> pa.Array:
    """Integers left-padded with zeros."""
    return pc.utf8_lpad(num(values), width, "0")


def money(cents: np.ndarray, sep: str = ".") -> pa.Array:
    """Euro cents as ``123.45`` (or ``123,45`` with ``sep=','``); negatives keep their sign."""
    cents = np.asarray(cents, dtype=np.int64)
    sign = pc.if_else(pa.array(cents < 0), "-", "")
    a = np.abs(cents)
    return join(sign, num(a // 100), sep, zpad(a % 100, 2))


def where(mask: np.ndarray, a: pa.Array | str, b: pa.Array | str) -> pa.Array:
    """Row-wise ``a if mask else b``."""
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def scatter(n: int, pieces: list[tuple[np.ndarray, pa.Array | str]]) -> pa.Array:
    """``n`` rows, ``""`` except at each piece's row indices, which get its values (or its one string).

    A part of a line that only some rows carry is built on those rows alone and placed with one
    ``take``, instead of joining it on every row and masking it with ``where`` (a copy per step).
    """
    arrays, pick, off = [], np.full(n, -1, np.int64), 0
    for rows, values in pieces:
        if isinstance(values, str):
            arrays.append(s([values]))
            pick[rows] = off
            off += 1
        else:
            arrays.append(values)
            pick[rows] = off + np.arange(len(rows))
            off += len(rows)
    pick[pick < 0] = off
    return pa.concat_arrays(arrays + [s([""])]).take(pa.array(pick))


@lru_cache(maxsize=1)
def _utc_offset_hours() -> np.ndarray:
    """Europe/Rome offset (hours) for every UTC hour of the simulated span."""
    out = np.empty(DAYS * 24 + 48, dtype=np.int64)
    for h in range(out.size):
        out[h] = int((T0 + timedelta(hours=h)).astimezone(ROME).utcoffset().total_seconds() // 3600)
    return out


def local_seconds(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local (Europe/Rome) seconds since T0's local midnight and the offset hours, from UTC seconds."""
    off = _utc_offset_hours()[np.clip(t // 3600, 0, DAYS * 24 + 47)]
    return t + off * 3600, off


@lru_cache(maxsize=4)
def _day_strings(fmt: str) -> pa.Array:
    days = [(T0 + timedelta(days=d)).strftime(fmt) for d in range(DAYS + 2)]
    return s(days)


@lru_cache(maxsize=4)
def _tod_strings(with_seconds: bool) -> pa.Array:
    if with_seconds:
        vals = [f"{h:02d}:{m:02d}:{x:02d}" for h in range(24) for m in range(60) for x in range(60)]
    else:
        vals = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]
    return s(vals)


def date_str(t: np.ndarray, fmt: str = "%Y-%m-%d") -> pa.Array:
    """Day of second-offsets ``t`` (already in the wanted zone) as text."""
    return take(_day_strings(fmt), np.clip(t // 86400, 0, DAYS + 1))


def time_str(t: np.ndarray, seconds: bool = True) -> pa.Array:
    """Time of day of ``t`` as ``HH:MM:SS`` (or ``HH:MM``)."""
    tod = t % 86400
    return take(_tod_strings(seconds), tod if seconds else tod // 60)


def iso_utc(t: np.ndarray, ms: np.ndarray | None = None) -> pa.Array:
    """UTC ISO 8601 with ``Z`` (Segment style), optional milliseconds."""
    parts = [date_str(t), "T", time_str(t)]
    if ms is not None:
        parts += [".", zpad(ms, 3)]
    return join(*parts, "Z")


def iso_local_offset(t: np.ndarray) -> pa.Array:
    """Local Rome time with its offset, e.g. ``2024-07-03T18:22:10+02:00``."""
    loc, off = local_seconds(t)
    return join(date_str(loc), "T", time_str(loc), where(off == 2, "+02:00", "+01:00"))


def iso_local_naive(t: np.ndarray, sep: str = " ") -> pa.Array:
    """Local Rome time without offset, ``YYYY-MM-DD HH:MM:SS``."""
    loc, _ = local_seconds(t)
    return join(date_str(loc), sep, time_str(loc))


def write_lines(fh: BinaryIO, lines: pa.Array, chunk: int = 400_000, terminated: bool = False) -> None:
    """Write a string array as newline-terminated lines, straight from the Arrow buffer.

    ``terminated`` says the strings already end with a newline (saves a pass).
    """
    for start in range(0, len(lines), chunk):
        part = lines.slice(start, chunk)
        if not terminated:
            part = join(part, "\n")
        # a slice shares its parent's buffers: write the byte range its offsets name (no copy)
        if part.null_count:
            raise ValueError("null line in output")
        offsets = np.frombuffer(part.buffers()[1], dtype=np.int32)[part.offset: part.offset + len(part) + 1]
        data = part.buffers()[2]
        fh.write(memoryview(data)[offsets[0]: offsets[-1]])


def write_joined(fh: BinaryIO, parts: list[pa.Array | str], chunk: int = 32_768) -> None:
    """Write the row-wise concatenation of ``parts`` (already newline-terminated), a slice of rows
    at a time: the whole joined array of a Segment file is gigabytes at 1M customers; slices of
    a few MB are reused by the allocator instead of faulting fresh pages in each time."""
    n = max((len(x) for x in parts if not isinstance(x, str)), default=0)
    for start in range(0, n, chunk):
        write_lines(fh, join(*[x if isinstance(x, str) else x.slice(start, chunk) for x in parts]), terminated=True)


def csv_lines(columns: list[pa.Array], delimiter: str) -> pa.Array:
    """Rows of a delimited file from already-formatted columns (values never hold the delimiter)."""
    columns = list(columns)
    columns[-1] = join(columns[-1], "\n")
    return pc.binary_join_element_wise(*columns, delimiter)

"""File sniffing (encoding, delimiter, decimal comma) and XLSX streaming to Arrow batches.

Why sniff in Python: the delimiter and decimal hints need only the first 64 KiB, and the
encoding one streaming pass over the bytes (:func:`scan_encoding`); the file itself is parsed
by the engine. XLSX has no engine reader, so openpyxl streams it in read-only mode, in batches.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

SAMPLE = 65536


def file_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in (".csv", ".txt", ".tsv"):
        return "csv"
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".xlsx", ".xlsm"):
        return "xlsx"
    from percorso.errors import InputError

    raise InputError(f"{path}: unsupported file type '{ext}'; valid: .csv .tsv .txt .jsonl .ndjson .parquet .xlsx")


def scan_encoding(path: Path, chunk: int = 1 << 20) -> str:
    """``utf-8``, ``latin-1`` or ``mixed``, from every byte of the file (not a sample).

    Why the whole file: a Latin-1 row after the first 64 KiB of a UTF-8-looking file was
    quarantined as ``bad_encoding``. UTF-8 is checked in one streaming pass (1 MiB chunks,
    bounded memory); only a file that fails it is read again line by line: no line that is
    valid UTF-8 with accented letters means Latin-1 throughout, some of each means ``mixed``
    (rows re-encoded one by one by :func:`transcode_lines`).
    """
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                dec.decode(block)
            dec.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    with open(path, "rb") as fh:
        for line in fh:
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                return "mixed"  # some lines are UTF-8 with accents, and (above) some are not
            except UnicodeDecodeError:
                continue
    return "latin-1"


def decode_line(line: bytes) -> str:
    """One line as text: UTF-8 when it is valid UTF-8, else Windows-1252 / Latin-1 (every byte is a letter)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return line.decode("cp1252")
        except UnicodeDecodeError:
            return line.decode("latin-1")


def transcode_lines(path: Path, out: Path) -> None:
    """Write ``path`` as UTF-8, each line decoded on its own (:func:`decode_line`): the row-level fallback."""
    with open(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        for line in src:
            dst.write(decode_line(line))


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (";", ",", "\t", "|")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def sniff_decimal_comma(text: str, delim: str) -> bool:
    """True when numbers look like ``1.234,50`` / ``3,5`` (only possible if ``,`` is not the delimiter)."""
    if delim == ",":
        return False
    comma = len(re.findall(rf"(?:^|{re.escape(delim)})-?\d+,\d+(?={re.escape(delim)}|$)", text, re.M))
    dot = len(re.findall(rf"(?:^|{re.escape(delim)})-?\d+\.\d+(?={re.escape(delim)}|$)", text, re.M))
    return comma > dot


def sniff_csv(path: Path) -> tuple[str, str, bool]:
    """(encoding over the whole file, delimiter and decimal comma from the first 64 KiB)."""
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE)
    enc = scan_encoding(path)
    text = sample.decode("utf-8" if enc != "latin-1" else "latin-1", errors="replace").lstrip("\ufeff")
    header = text.splitlines()[0] if text else ""
    delim = sniff_delimiter(header)
    return enc, delim, sniff_decimal_comma(text, delim)


def _cell(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, float):
        text = repr(v)
        # a spreadsheet number is a number, not text: 1.299 written as "1.299" would read as
        # ambiguous (thousands dot?); "1.2990" is the same value and only a decimal point
        return text + "0" if re.fullmatch(r"-?[1-9]\d{0,2}\.\d{3}", text) else text
    return str(v)


def xlsx_batches(path: Path, batch_rows: int = 50_000) -> Iterator[pa.Table]:
    """Stream the first sheet as all-string Arrow batches with ``_line`` (1-based data row)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(next(rows, ()))]
        buf: list[tuple] = []
        line = 0
        start = 1
        for row in rows:
            line += 1
            if all(v is None for v in row):
                continue
            buf.append((line, row))
            if len(buf) >= batch_rows:
                yield _batch(header, buf)
                buf = []
        if buf or start == line + 1:
            yield _batch(header, buf)
    finally:
        wb.close()


def _batch(header: list[str], buf: list[tuple]) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for i, name in enumerate(header):
        cols[name] = pa.array([_cell(r[i]) if i < len(r) else None for _, r in buf], pa.string())
    cols["_line"] = pa.array([ln for ln, _ in buf], pa.int64())
    return pa.table(cols)

"""Reading files as users have them: compression, line endings, CSV layout, XLSX batches.

Why sniff in Python: only the first 64 KiB are read (the header, delimiter, encoding, a
``sep=;`` line Excel writes, line endings); the file itself is parsed by the engine with
that layout given explicitly, so its own dialect sniffer (which gives up on a header ending
in LF over rows ending in CRLF) never runs. XLSX has no engine reader, so openpyxl streams
it in read-only mode, in batches. ``.gz`` files are read compressed by the engine; a
``.zip`` holding one data file is extracted next to the database first.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from percorso.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

SAMPLE = 65536
_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
            ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".xlsm": "xlsx"}
_VALID = ".csv .tsv .txt .jsonl .ndjson .parquet .xlsx, each also as .gz or inside a .zip"
_RESAVE = {".xls": "old Excel format", ".ods": "OpenDocument spreadsheet", ".numbers": "Numbers spreadsheet",
           ".xlsb": "Excel binary workbook"}


def file_format(path: Path) -> str:
    """``csv`` | ``jsonl`` | ``parquet`` | ``xlsx`` | ``zip`` from the name (``.csv.gz`` is ``csv``)."""
    suffixes = [s.lower() for s in path.suffixes]
    ext = suffixes[-1] if suffixes else ""
    if ext == ".zip":
        return "zip"
    if ext == ".gz" and len(suffixes) >= 2 and _FORMATS.get(suffixes[-2]) in ("csv", "jsonl"):
        return _FORMATS[suffixes[-2]]
    if ext in _FORMATS:
        return _FORMATS[ext]
    if ext in _RESAVE:
        raise InputError(f"{path.name}: {_RESAVE[ext]} ({ext}) is not read; open it and save it as .xlsx or as "
                         "CSV UTF-8, then ingest that file")
    shown = "".join(suffixes[-2:]) if ext == ".gz" else ext or "(none)"
    raise InputError(f"{path.name}: unsupported file type '{shown}'; valid: {_VALID}")


def unzip_single(path: Path, workdir: Path) -> Path:
    """The one data file inside a ``.zip``, extracted to ``workdir`` (streamed, bounded memory).

    Why only one: a file's rows are reported with its name and line; an archive of several
    exports should be unpacked and passed as several files, which the message says.
    """
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(f"{path.name}: not a valid .zip archive; re-create it or unpack it and ingest the "
                         "file inside") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                   and not Path(m.filename).name.startswith(".")]
        if len(members) != 1:
            names = ", ".join(m.filename for m in members[:5]) or "none"
            raise InputError(f"{path.name}: a .zip must hold exactly one data file to ingest, it holds "
                             f"{len(members)} ({names}); unpack it and pass the files")
        inner = Path(Path(members[0].filename).name)
        if file_format(inner) == "zip":
            raise InputError(f"{path.name}: holds another archive ({inner}); unpack it and ingest the file inside")
        out = workdir / inner.name
        with zf.open(members[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return out


def _open(path: Path):  # noqa: ANN202
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def read_sample(path: Path, size: int = SAMPLE) -> bytes:
    """The first ``size`` bytes of the file's content (decompressed for ``.gz``)."""
    try:
        with _open(path) as fh:
            return fh.read(size)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise InputError(f"{path.name}: cannot be decompressed ({exc}); check that it is a complete .gz "
                         "file") from None


def sniff_encoding(sample: bytes) -> str:
    """``utf-16`` with a BOM (Excel's "Unicode text"), ``utf-8`` (with or without BOM) when the sample decodes, else ``latin-1``."""
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
        return "latin-1"


def scan_text(path: Path, chunk: int = 1 << 20, *, detect: bool = True) -> tuple[str | None, int, int]:
    """(encoding, CRLF, LF line ends) from every byte of the file, in one streaming pass.

    Why the whole file: a Latin-1 row after the first 64 KiB of a UTF-8-looking file was
    quarantined as ``bad_encoding``, and an export appended to by two programs may switch from
    LF to CRLF after the sample (the engine's parser takes one style per file and kept the
    ``\r`` in every later row's last column). Both are read from the same 1 MiB blocks.

    The encoding (None when ``detect`` is off) is ``utf-8``, ``latin-1``, ``cp1252`` or
    ``mixed``. Only a file that fails UTF-8 is read again, line by line: some lines valid UTF-8
    with accented letters and some not means ``mixed``; none means a one-byte code page.
    Which one: Italian Excel on Windows saves Windows-1252, where 0x80 is ``€`` and 0x92 the
    apostrophe of ``D’Angelo``; read as Latin-1 those bytes become invisible control
    characters, so a file that holds any byte 0x80-0x9F is ``cp1252``. ``mixed`` and
    ``cp1252`` files are re-encoded line by line (:func:`transcode_lines`), since the engine
    reads only UTF-8, UTF-16 and Latin-1.
    """
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    utf8, crlf, lf, last = detect, 0, 0, b""
    with _open(path) as fh:
        while block := fh.read(chunk):
            crlf += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
            lf += block.count(b"\n")
            last = block[-1:]
            if utf8:
                try:
                    dec.decode(block)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not detect:
        return None, crlf, lf
    return ("utf-8" if utf8 else _one_byte_or_mixed(path)), crlf, lf


def _one_byte_or_mixed(path: Path) -> str:
    c1 = re.compile(rb"[\x80-\x9f]")
    windows = False
    with _open(path) as fh:
        for line in fh:
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                return "mixed"  # some lines are UTF-8 with accents, and (above) some are not
            except UnicodeDecodeError:
                windows = windows or bool(c1.search(line))
    return "cp1252" if windows else "latin-1"


def scan_encoding(path: Path) -> str:
    """The encoding of :func:`scan_text` alone (JSON Lines: line ends do not matter there)."""
    return scan_text(path)[0] or "utf-8"  # never None when detecting


def needs_transcoding(encoding: str) -> bool:
    """True for the encodings read through a line-by-line UTF-8 copy (``mixed``, ``cp1252``)."""
    return encoding in ("mixed", "cp1252")


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
    with _open(path) as src, open(out, "w", encoding="utf-8", newline="") as dst:
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


@dataclass(frozen=True)
class CsvLayout:
    """How to read one delimited text file: layout sniffed from its first 64 KiB, encoding and line ends from every byte.

    ``columns`` are the header's names (blank ones named ``column_N``, listed in ``unnamed``;
    repeated ones suffixed ``_2``); ``skip`` is the number of lines before the first data
    row (the header, plus Excel's ``sep=;`` line when present); ``mixed_newlines`` says
    that lines end both in CRLF and in LF (the engine's parser accepts one style per file).
    """

    encoding: str
    delimiter: str
    decimal_comma: bool
    columns: list[str]
    skip: int = 1
    mixed_newlines: bool = False
    unnamed: list[str] = field(default_factory=list)


def _decode(sample: bytes, enc: str) -> str:
    if enc == "utf-16":
        cut = len(sample) - len(sample) % 2
        return sample[:cut].decode("utf-16", errors="replace")
    codec = enc if enc in ("latin-1", "cp1252") else "utf-8"
    return sample.decode(codec, errors="replace").lstrip("\ufeff")


def header_names(raw: list[str]) -> tuple[list[str], list[str]]:
    """(names, unnamed): header cells trimmed, blanks named ``column_N``, repeats suffixed ``_2``, ``_3``…"""
    names: list[str] = []
    unnamed: list[str] = []
    seen: set[str] = set()
    for i, cell in enumerate(raw):
        name = cell.strip().strip("\ufeff").strip()
        if not name:
            name = f"column_{i + 1}"
            unnamed.append(name)
        base, n = name, 1
        while name.lower() in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name.lower())
        names.append(name)
    return names, unnamed


def _trailing_fields(lines: list[str], delim: str, width: int) -> int:
    """How many empty fields the sample's rows carry past the header (``1;2;3;`` under ``a;b;c``).

    Why: many exports end every data row with a delimiter the header lacks; read as they are,
    every row would have one field too many. Only trailing fields that are empty in their
    row count (the widest such row), so a row with real values past them is still refused.
    """
    extra = 0
    for row in csv.reader(lines[:-1] if len(lines) > 1 else lines, delimiter=delim, quotechar='"'):
        if len(row) > width and not any(v.strip() for v in row[width:]):
            extra = max(extra, len(row) - width)
    return extra


def csv_layout(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> CsvLayout:
    """Sniff the layout of a CSV (plain or ``.gz``); ``encoding`` / ``delimiter`` override the sniffed ones."""
    sample = read_sample(path)
    if not sample.strip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n"):
        raise InputError(f"{path.name}: the file is empty; export it again with a header row and data rows")
    enc = encoding or sniff_encoding(sample)
    if enc != "utf-16":  # every byte: a Latin-1 row or CRLF line ends after 64 KiB decide too
        scanned, crlf, lf = scan_text(path, detect=not encoding)
        enc = encoding or scanned or enc
    else:
        crlf, lf = sample.count(b"\r\x00\n\x00"), sample.count(b"\n\x00")
    text = _decode(sample, enc)
    lines = text.splitlines()
    skip = 0
    sep = re.fullmatch(r'"?sep=(.)"?,*;*', lines[0].strip()) if lines else None
    if sep:  # Excel's hint line: "sep=;" names the delimiter and precedes the header
        delimiter = delimiter or sep.group(1)
        lines, skip = lines[1:], 1
    header = lines[0] if lines else ""
    delim = delimiter or sniff_delimiter(header)
    row = next(csv.reader([header], delimiter=delim, quotechar='"'), [])
    row += [""] * _trailing_fields(lines[1:200], delim, len(row))
    columns, unnamed = header_names(row)
    if not columns:
        raise InputError(f"{path.name}: no header row found; the first line must name the columns")
    body = "\n".join(lines[1:])
    return CsvLayout(enc, delim, sniff_decimal_comma(body, delim), columns, skip + 1,
                     mixed_newlines=0 < crlf < lf, unnamed=unnamed)


def sniff_csv(path: Path) -> tuple[str, str, bool]:
    """(encoding over the whole file, delimiter and decimal comma from the first 64 KiB)."""
    lay = csv_layout(path)
    return lay.encoding, lay.delimiter, lay.decimal_comma


def normalise_newlines(path: Path, workdir: Path) -> Path:
    """A copy of the file (decompressed) whose CRLF line ends are LF, for files that mix both.

    Streamed in 1 MiB blocks; a CR ending one block is carried over to the next, so a CRLF
    split by the block boundary is still seen. A CRLF inside a quoted value becomes LF too
    (the same line break).
    """
    out = workdir / ("lf-" + (path.name[:-3] if path.suffix.lower() == ".gz" else path.name))
    with _open(path) as src, open(out, "wb") as dst:
        carry = b""
        while block := src.read(1 << 20):
            block = carry + block
            carry = b"\r" if block.endswith(b"\r") else b""
            if carry:
                block = block[:-1]
            dst.write(block.replace(b"\r\n", b"\n"))
        dst.write(carry)
    return out


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

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises zip, XML and key errors for a damaged file
        raise InputError(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}); open it "
                         "in Excel or LibreOffice and save it again as .xlsx", code="file_unreadable") from None
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header, _ = header_names(["" if h is None else str(h) for h in next(rows, ())])
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
    import pyarrow as pa  # here: an import of a Parquet or CSV file never loads pyarrow (~0.15 s)

    cols: dict[str, pa.Array] = {}
    for i, name in enumerate(header):
        cols[name] = pa.array([_cell(r[i]) if i < len(r) else None for _, r in buf], pa.string())
    cols["_line"] = pa.array([ln for ln, _ in buf], pa.int64())
    return pa.table(cols)

"""A minimal, vectorised XLSX writer for large demo sheets.

XlsxWriter writes one cell per Python call, which costs over a minute for a few hundred
thousand loyalty members. An XLSX file is a zip of XML parts; the sheet XML is built here
column-wise with Arrow (inline strings and booleans), so a million rows take seconds. The
zip entries carry a fixed timestamp so the same data gives the same bytes.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from percorso.generate import fmt

_FIXED = (2026, 1, 1, 0, 0, 0)
_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
       '</Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
         '</Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
       '<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '</Relationships>')


def _esc(a: pa.Array) -> pa.Array:
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        a = pc.replace_substring(a, old, new)
    return a


def _cell(col: pa.Array | np.ndarray) -> pa.Array:
    if isinstance(col, np.ndarray) and col.dtype == bool:
        return fmt.join('<c t="b"><v>', fmt.where(col, "1", "0"), "</v></c>")
    return fmt.join('<c t="inlineStr"><is><t xml:space="preserve">', _esc(col.fill_null("")), "</t></is></c>")


def write_xlsx(path: Path, sheet: str, columns: dict[str, pa.Array | np.ndarray]) -> None:
    """Write one sheet: a header row, then string (Arrow) and boolean (numpy) columns."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if names else 0
    header = "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in names)
    rows = fmt.join("<row>", *[_cell(c) for c in columns.values()], "</row>") if n else pa.array([], pa.string())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, text in (("[Content_Types].xml", _CT), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WB.format(name=sheet)), ("xl/_rels/workbook.xml.rels", _WB_RELS)):
            zf.writestr(zipfile.ZipInfo(name, _FIXED), text)
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml", _FIXED)
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                     b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            fh.write(f"<row>{header}</row>".encode())
            for start in range(0, n, 200_000):
                part = pa.concat_arrays([rows.slice(start, 200_000)])
                offs = np.frombuffer(part.buffers()[1], dtype=np.int32)[part.offset: part.offset + len(part) + 1]
                fh.write(memoryview(part.buffers()[2])[offs[0]: offs[-1]])
            fh.write(b"</sheetData></worksheet>")

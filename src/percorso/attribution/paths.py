"""The aggregated path table: the only thing that leaves the engine for the solvers.

Why: 5M journeys collapse to ~1M distinct paths; every model (rule-based, Markov, Shapley) is a
function of (path, conversions, value, nulls, new customers) alone, so the solvers work on
a compact CSR layout (``offsets`` + flat ``steps`` of node codes) with numpy, never on rows.

The file format is the one of ChannelAttribution and marketing-attribution-models:
``path`` as ``'a > b > c'``, ``total_conversions``, ``total_conversion_value``,
``total_null``; ``;`` or ``,`` separated. ``total_new`` (first-time customers) is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from percorso.errors import InputError

SEP = " > "
MEASURES = ("conversions", "value", "new_customers")


@dataclass(frozen=True)
class PathTable:
    """Distinct paths in CSR form.

    Attributes
    ----------
    nodes : node labels; code ``i`` in ``steps`` is ``nodes[i]``.
    offsets : int64 (n_paths + 1); path ``p`` is ``steps[offsets[p]:offsets[p+1]]`` (never empty).
    steps : int32 node codes.
    conversions, value, nulls, new_customers : float64 per path (float so bootstrap weights fit).
    """

    nodes: tuple[str, ...]
    offsets: np.ndarray
    steps: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray
    new_customers: np.ndarray

    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def path_of_step(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_paths), self.lengths)

    def measures(self) -> np.ndarray:
        """(n_paths, 3) matrix of conversions, value, new customers (the credited measures)."""
        return np.column_stack([self.conversions, self.value, self.new_customers])

    def totals(self) -> dict[str, float]:
        return {"conversions": float(self.conversions.sum()), "value": float(self.value.sum()),
                "new_customers": float(self.new_customers.sum()), "nulls": float(self.nulls.sum())}

    def with_counts(self, conversions: np.ndarray, value: np.ndarray, nulls: np.ndarray,
                    new_customers: np.ndarray) -> PathTable:
        return PathTable(self.nodes, self.offsets, self.steps, conversions, value, nulls, new_customers)

    def path_strings(self) -> list[str]:
        """Readable paths (``'a > b'``); for files and small tables only."""
        nodes = np.asarray(self.nodes, dtype=object)
        return [SEP.join(nodes[self.steps[a:b]]) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]


def from_arrow(table: pa.Table, *, sep: str = SEP) -> PathTable:
    """Build a :class:`PathTable` from Arrow columns ``path`` (string or list<string>) and counts.

    Splitting and encoding are vectorised with Arrow compute; rows with an empty path are dropped
    (nothing to credit) and duplicate paths are *not* merged (the solvers do not need it).
    """
    path = table.column("path").combine_chunks()
    if pa.types.is_string(path.type) or pa.types.is_large_string(path.type):
        path = pc.split_pattern(path, sep)
    lists = pa.array(path) if not isinstance(path, pa.Array) else path
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype("float64")).astype(np.int64)
    enc = pc.dictionary_encode(flat).combine_chunks() if isinstance(flat, pa.ChunkedArray) else pc.dictionary_encode(flat)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    nodes = tuple(enc.dictionary.to_pylist())
    # drop empty-string nodes produced by '' paths
    if "" in nodes:
        bad = nodes.index("")
        keep_step = codes != bad
        path_ids = np.repeat(np.arange(len(lengths)), lengths)
        lengths = np.bincount(path_ids[keep_step], minlength=len(lengths)).astype(np.int64)
        codes = codes[keep_step]
    # reorder node codes alphabetically for stable output
    order = np.argsort(np.asarray(nodes, dtype=object))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = rank[codes].astype(np.int32) if len(codes) else codes
    nodes = tuple(np.asarray(nodes, dtype=object)[order].tolist())

    def col(name: str) -> np.ndarray:
        if name not in table.column_names:
            return np.zeros(table.num_rows)
        return np.nan_to_num(table.column(name).to_numpy(zero_copy_only=False).astype("float64"))

    conv, val, nul, new = col("total_conversions"), col("total_conversion_value"), col("total_null"), col("total_new")
    keep = lengths > 0
    if not keep.all():
        conv, val, nul, new, lengths = conv[keep], val[keep], nul[keep], new[keep], lengths[keep]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return without_unused_nodes(PathTable(nodes, offsets, codes, conv, val, nul, new))


def without_unused_nodes(paths: PathTable) -> PathTable:
    """Drop node labels no step uses (after paths or steps were dropped), re-coding the steps."""
    used = np.unique(paths.steps)
    if len(used) == len(paths.nodes):
        return paths
    remap = np.full(len(paths.nodes), -1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    nodes = tuple(np.asarray(paths.nodes, dtype=object)[used].tolist())
    return PathTable(nodes, paths.offsets, remap[paths.steps], paths.conversions, paths.value, paths.nulls,
                     paths.new_customers)


def read_paths_file(file: str | Path) -> PathTable:
    """Read a ChannelAttribution-style path table (``;`` or ``,`` separated, header required)."""
    import pyarrow.csv as pacsv

    file = Path(file)
    if not file.exists():
        raise InputError(f"paths file '{file}' does not exist", code="paths_file_missing")
    with file.open("r", encoding="utf-8-sig") as fh:
        header = fh.readline()
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().strip('"') for c in header.strip().split(delimiter)]
    if "path" not in columns:
        raise InputError(
            f"paths file '{file}' has no 'path' column (found: {', '.join(columns)}); expected "
            "path, total_conversions, total_conversion_value, total_null", code="paths_file_invalid")
    if "total_conversions" not in columns and "total_null" not in columns:
        raise InputError(f"paths file '{file}' needs total_conversions and/or total_null columns",
                         code="paths_file_invalid")
    decimal_comma = delimiter == ";"
    types = {c: pa.string() for c in columns}
    table = pacsv.read_csv(file, parse_options=pacsv.ParseOptions(delimiter=delimiter),
                           convert_options=pacsv.ConvertOptions(column_types=types))
    cols = {}
    for name in table.column_names:
        arr = table.column(name)
        if name != "path":
            text = pc.utf8_trim_whitespace(arr)
            if decimal_comma:
                text = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
            try:
                arr = pc.cast(text, pa.float64())
            except pa.ArrowInvalid as exc:
                raise InputError(f"paths file '{file}': column '{name}' is not numeric ({exc})",
                                 code="paths_file_invalid") from None
        cols[name.strip()] = arr
    return from_arrow(pa.table(cols))


def write_paths_file(paths: PathTable, file: str | Path, *, delimiter: str = ";") -> None:
    """Write the path table in the interop format (decimal comma when ``;`` separated)."""
    import pyarrow.csv as pacsv

    def num(a: np.ndarray) -> pa.Array:
        arr = pa.array(a, type=pa.float64())
        if delimiter == ";":
            return pc.replace_substring(pc.cast(arr, pa.string()), ".", ",")
        return arr

    table = pa.table({
        "path": pa.array(paths.path_strings(), type=pa.string()),
        "total_conversions": num(paths.conversions), "total_conversion_value": num(paths.value),
        "total_null": num(paths.nulls), "total_new": num(paths.new_customers),
    })
    pacsv.write_csv(table, file, write_options=pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed"))

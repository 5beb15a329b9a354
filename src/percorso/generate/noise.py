"""Formatting noise in identifiers and deliberately malformed rows (with their record).

Real exports write the same phone as ``333 123 4567``, ``+39 333-1234567`` or
``0039 3331234567`` and the same email in mixed case with stray spaces; identity must
normalise them. About 0.5 % of the rows of the text files are broken on purpose; each one
is recorded (file, 1-based data line, defect) so tests can check it lands in quarantine.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from percorso.generate import fmt

RATE = 0.0055


def phone_noisy(digits: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Italian mobile numbers written the ways people and systems write them."""
    n = len(digits)
    a = pc.utf8_slice_codeunits(digits, 0, 3)
    b = pc.utf8_slice_codeunits(digits, 3, 6)
    c = pc.utf8_slice_codeunits(digits, 6, 10)
    rest = pc.utf8_slice_codeunits(digits, 3, 10)
    style = rng.choice(6, n, p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.1])
    out = digits
    for k, v in ((1, fmt.join(a, " ", b, " ", c)), (2, fmt.join("+39 ", a, "-", rest)),
                 (3, fmt.join("0039", digits)), (4, fmt.join("+39", digits)), (5, fmt.join(a, "/", rest))):
        out = fmt.where(style == k, v, out)
    return out


def email_noisy(email: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Mixed case and stray spaces on some emails."""
    n = len(email)
    r = rng.random(n)
    out = fmt.where(r < 0.08, pc.utf8_upper(email), email)
    out = fmt.where((r >= 0.08) & (r < 0.18), pc.utf8_capitalize(email), out)
    out = fmt.where((r >= 0.18) & (r < 0.24), fmt.join(" ", out, " "), out)
    return out


BAD_VALUES = {
    "unparseable_date": ("31/02/2024 25:61", "ieri", "2024-13-45"),
    "non_numeric_amount": ("12,5O€", "n.d.", "abc"),
    "missing_key": ("",),
    "missing_time": ("",),
    "unknown_event_type": ("evento_sconosciuto", "zzz_test"),
}


def tax_code_noisy(code: pa.Array, rng: np.random.Generator) -> pa.Array:
    """Codici fiscali as typed at a till or in a form: some lowercase, some with spaces."""
    import pyarrow.compute as pc

    n = len(code)
    low = pa.array(rng.random(n) < 0.1)
    spaced = pa.array(rng.random(n) < 0.05)
    out = pc.if_else(low, pc.utf8_lower(code), code)
    return pc.if_else(spaced, pc.binary_join_element_wise(pc.utf8_slice_codeunits(out, 0, 6), pc.utf8_slice_codeunits(out, 6), " "), out)


def pick_rows(eligible: np.ndarray, rng: np.random.Generator, rate: float = RATE) -> np.ndarray:
    """Row indices (sorted) to corrupt among the eligible ones; ``rate`` is of all rows."""
    idx = np.flatnonzero(eligible)
    k = min(int(rng.binomial(eligible.size, rate)), idx.size) if idx.size else 0
    return np.sort(rng.choice(idx, k, replace=False)) if k else np.zeros(0, np.int64)


def corrupt(cols: dict[str, pa.Array], rows: np.ndarray, defects: dict[str, str], delimiter: str,
            rng: np.random.Generator) -> list[str]:
    """Break ``rows`` in place (column → defect map); returns the defect of each row.

    ``defects`` maps a defect name to the column it damages; ``wrong_column_count`` appends
    an extra delimited field to that column.
    """
    names = list(defects)
    which = rng.integers(0, len(names), rows.size)
    for i, defect in enumerate(names):
        sel = rows[which == i]
        if not sel.size:
            continue
        col = defects[defect]
        mask = np.zeros(len(cols[col]), dtype=bool)
        mask[sel] = True
        if defect == "wrong_column_count":
            bad = fmt.join(cols[col], delimiter, "EXTRA")
        else:  # a bad value holding the delimiter would read as a wrong column count instead
            pool = tuple(v for v in BAD_VALUES[defect] if delimiter not in v)
            bad = fmt.take(pool, rng.integers(0, len(pool), len(cols[col])))
        cols[col] = fmt.where(mask, bad, cols[col])
    return [names[w] for w in which]

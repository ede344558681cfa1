"""CSV bytes of a DataFrame in bulk, for :func:`core.export.write_csv`.

``frame_csv_chunks(df, header=True)`` yields the bytes of ``df`` as CSV, a few
thousand rows at a time, equal to :func:`core.export.reference_csv_bytes`
(``pandas.to_csv`` with QUOTE_NONNUMERIC of ``neutralise_formulas(df)``):
text quoted and neutralised, numbers bare, floats as Python's ``repr``, bools
as ``True``/``False``, missing cells as ``""``, ``inf`` as text.

Written by hand because no library writes that format in bulk: pandas and the
csv module format every cell with a Python call (about 0.4 us a float, most of
an audit's flagged.csv time), and ``pyarrow.csv`` writes floats and bools its
own way (``3.0`` as ``3``, ``1e-05`` as ``0.00001``, ``true``). Here each
column becomes Arrow text with ``pyarrow.compute`` (casts, a regex, joins), and
only the cells whose Arrow text might differ from the contract take the Python
route: floats outside the ranges where Arrow's shortest digits are printed as
Python prints them (:func:`_float_text`), and strings that a formula could
start (:func:`_str_text`: found by the writer's own pattern, run by Arrow). A frame with a dtype not handled
here (nullable or complex numbers, long doubles, no columns) is written by the
reference itself.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Rows formatted at once (the text of one chunk is in memory).
ROWS_PER_CHUNK = 65536
_EMPTY = pa.scalar("", pa.large_string())
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def frame_csv_chunks(df: pd.DataFrame, *, header: bool = True) -> Iterator[bytes]:
    """The CSV bytes of ``df`` (UTF-8, header line first when ``header``), ROWS_PER_CHUNK rows per piece."""
    from .export import reference_csv_bytes, safe_csv_cell

    columns = [_prepared(df.iloc[:, j]) for j in range(df.shape[1])]
    if not columns or not all(_handled(c.dtype) for c, _ in columns):
        yield reference_csv_bytes(df, header=header)
        return
    if header:
        names = [_quote(safe_csv_cell(str(c))) for c in df.columns]
        yield (",".join(names) + os.linesep).encode("utf-8")
    rows = ROWS_PER_CHUNK
    for a in range(0, len(df), rows):
        texts = [_column_text(c.iloc[a: a + rows], raw) for c, raw in columns]
        lines = pc.binary_join_element_wise(*texts, pa.scalar(",", pa.large_string()))
        yield _data_bytes(pc.binary_join_element_wise(lines, _EMPTY, pa.scalar(os.linesep, pa.large_string())))


def _prepared(col: pd.Series) -> tuple[pd.Series, bool]:
    """(column, raw_text): a whole column as neutralise_formulas leaves it where that decides per
    column (float32 with an infinity becomes Python floats, float64; text-like columns other than
    categories are neutralised cell by cell, pandas then inferring the result's dtype, as there),
    except that a column of strings is kept raw (raw_text True), to be neutralised in bulk."""
    from .export import _safe_column

    dtype = col.dtype
    if pd.api.types.is_numeric_dtype(dtype) and dtype != object:
        if dtype == np.float32 and np.isinf(col.to_numpy()).any():
            return col.astype(np.float64), False
        return col, False
    if isinstance(dtype, pd.CategoricalDtype):
        return col, False
    if isinstance(dtype, pd.StringDtype) or (dtype == object and pd.api.types.infer_dtype(col, skipna=True) == "string"):
        return col, True
    return _safe_column(col), False


def _handled(dtype) -> bool:
    """False for the dtypes left to the reference writer (nullable, complex, half or long floats)."""
    if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)) or dtype == object:
        return True
    return isinstance(dtype, np.dtype) and (dtype.kind in "biu" or dtype in _FLOATS)


def _column_text(col: pd.Series, raw_text: bool) -> pa.Array:
    """Rows of a prepared column (see _prepared) as CSV text (large_string, no nulls)."""
    from .export import neutral_cell

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # the few categories, then taken by code (-1: missing)
        names = _object_text(np.array([neutral_cell(c) for c in dtype.categories] + [None], dtype=object))
        codes = col.cat.codes.to_numpy().astype(np.int64)
        codes[codes < 0] = len(names) - 1
        return names.take(pa.array(codes))
    if isinstance(dtype, pd.StringDtype):
        values = pa.array(col.array, from_pandas=True)  # strings and nulls
        return _str_text(values) if raw_text else _quoted(values)
    values = col.to_numpy()
    if dtype == object:
        return _str_text(pa.array(values, type=pa.large_string(), from_pandas=True)) if raw_text else _object_text(values)
    if dtype.kind == "b":
        return pc.if_else(pa.array(values), pa.scalar("True", pa.large_string()), pa.scalar("False", pa.large_string()))
    if dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.large_string())
    return _float_text(values)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _quoted(arr: pa.Array) -> pa.Array:
    """Strings (nulls as empty) -> quoted CSV text, inner quotes doubled."""
    q = pa.scalar('"', pa.large_string())
    inner = pc.replace_substring(pc.fill_null(arr.cast(pa.large_string()), ""), '"', '""')
    return pc.binary_join_element_wise(q, inner, q, _EMPTY)


def _str_text(arr: pa.Array) -> pa.Array:
    """Strings (and nulls, for missing values) neutralised with core.export.safe_csv_cell, which
    runs only on the cells its pattern finds (found by Arrow), then quoted."""
    from .export import safe_csv_cell

    arr = arr.cast(pa.large_string())
    maybe = pc.fill_null(pc.match_substring_regex(arr, _risky_cell_re2()), False)
    if pc.any(maybe).as_py():
        fixed = [safe_csv_cell(v) for v in arr.filter(maybe).to_pylist()]
        arr = pc.replace_with_mask(arr, maybe, pa.array(fixed, pa.large_string()))
    return _quoted(arr)


@functools.cache
def _risky_cell_re2() -> str:
    """core.export._RISKY_CELL for Arrow's RE2: the same pattern with Python's \\s spelled out
    (the characters str.isspace() accepts, as Python's re does), every character as \\x{...}."""
    from .export import INVISIBLE_CHARS, LINE_BREAKS, TRIGGER_CHARS

    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())

    def chars(text: str) -> str:
        return "".join(f"\\x{{{ord(c):x}}}" for c in text)

    return (f"(?:^|[{chars(LINE_BREAKS)}])"
            f"(?:[{chars(chr(9) + chr(13))}]|[{chars(spaces + INVISIBLE_CHARS)}]*[{chars(TRIGGER_CHARS)}])")


def _cell_text(v) -> str:
    """One neutralised cell (None, str, bool, int or finite float) as the csv module writes it."""
    if v is None:
        return '""'
    if isinstance(v, str):
        return _quote(v)
    return repr(v) if isinstance(v, float) else str(v)


def _object_text(values: np.ndarray) -> pa.Array:
    """Neutralised cells (core.export._safe_column's output) -> CSV text."""
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        return _quoted(pa.array(values, type=pa.large_string(), from_pandas=True))
    return pa.array([_cell_text(v) for v in values], pa.large_string())


def _float_text(x: np.ndarray) -> pa.Array:
    """Floats as ``str`` of their numpy scalars writes them (bare: for float64, Python's repr;
    for float32, its own shortest digits), NaN as ``""``, infinities as neutralised text.

    Arrow casts a float to its shortest round-trip digits, as numpy does, but
    places them differently: it agrees with numpy on a non-integral value in
    fixed notation in [1e-4, 1e16) (float32: [1e-4, 1e6)), and in exponent
    notation where the exponent has two digits or more (below 1e-9; from 1e16,
    float32 from 1e10). Every other cell (integral values, 1e-9 to 1e-4, NaN,
    inf, ...) is formatted by Python. Checked on 50M float64 and 25M float32
    values of every magnitude and random bit patterns.
    """
    from .export import safe_csv_cell

    positional = 1e16 if x.dtype == np.float64 else 1e6  # numpy's cut for exponent notation
    text = pc.cast(pa.array(x), pa.large_string())
    with np.errstate(invalid="ignore"):
        ax = np.abs(x).astype(np.float64)  # compared in double, as numpy compares (a float32 1e-4 is below 1e-4)
        sci = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
        dot = pc.match_substring(text, ".").to_numpy(zero_copy_only=False)
        same = np.where(sci, (ax < 1e-9) | (ax >= max(positional, 1e10)), dot & (ax >= 1e-4) & (ax < positional))
    other = ~same
    if other.any():
        def cell(v: float) -> str:
            if v != v:
                return '""'
            return str(v) if v - v == 0 else _quote(safe_csv_cell(str(v)))
        odd = x[other]
        fixed = [cell(v) for v in (odd.tolist() if x.dtype == np.float64 else odd)]  # numpy scalars: float32 digits
        text = pc.replace_with_mask(text, pa.array(other), pa.array(fixed, pa.large_string()))
    return text


def _data_bytes(arr: pa.Array) -> memoryview:
    """The characters of a large_string array without nulls, end to end."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    return memoryview(arr.buffers()[2])[offsets[0]: offsets[-1]]

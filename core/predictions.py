"""Read and check predicted class probabilities (or logits) for a dataset.

Predictions are an (n examples, k classes) array, row ``i`` for data row ``i``,
column ``j`` for class index ``j``. Rows and columns in messages are 0-based
(a CSV column with a header is named by its header). Checks, in order: a 2-D
numeric array; ``n``/``k`` equal to the dataset's; no NaN or infinity; then
for probabilities every entry in ``[-1e-6, 1 + 1e-3]`` and every row summing to
1 within ``1e-3``. Rows inside those tolerances that are not exact (sum off by
more than 1e-9, or an entry outside [0, 1]) are clipped to [0, 1] and
renormalised, with one notice counting the rows that missed by more than the
file's own rounding (a float32 file's rows may miss by (k + 2) float32 epsilons
silently); anything else raises InputError, with a hint to
load the file as logits where that fits. Logits go through a softmax instead.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .data import check_parquet_size, read_delimited, read_npy, read_text
from .errors import InputError, reading
from .validation import (
    EXACT_TOL,
    SUM_TOL,
    check_probability_rows,
    column_name,
    raise_first_nonfinite,
    rounding_tolerance,
)

_INDEX_NAMES = {"", "unnamed_0", "row", "index", "idx", "id"}


def load_predictions(path, *, n_examples=None, n_classes=None, logits=False, ctx=None) -> np.ndarray:
    """Load predictions from ``.npy``, ``.csv``/``.tsv`` or ``.parquet`` and check them.

    csv/tsv: numeric columns, with or without a header row. parquet: numeric columns,
    or a single column of equal-length lists. In both, a first column named ``id``,
    ``row``, ``index``, ``idx`` or left unnamed is taken as row ids and dropped.
    ``logits=True`` applies a softmax. Returns float64 (n, k), C-contiguous, rows
    summing to 1; see :func:`check_pred_probs` for the checks and the notice.
    """
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{source}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{source}: the file is empty")
    ext = p.suffix.lower()
    with reading(source):
        if ext == ".npy":
            arr, names = read_npy(p, source, "predictions"), None
        elif ext in (".csv", ".tsv", ".tab"):
            arr, names = _load_delimited(p, source, "," if ext == ".csv" else "\t")
        elif ext in (".parquet", ".pq"):
            arr, names = _load_parquet(p, source)
        else:
            raise InputError(f"{source}: unsupported predictions file type {ext or '(none)'!r}; "
                             f"use .npy, .csv, .tsv or .parquet")
        return _validate(arr, source, n_examples, n_classes, ctx, logits=logits, owned=True, names=names)


def check_pred_probs(arr, *, source, n_examples=None, n_classes=None, ctx=None) -> np.ndarray:
    """Check an in-memory (n, k) probability array; ``source`` names it in messages.

    Raises InputError for a wrong shape, NaN/inf, entries below -1e-6 or above
    1 + 1e-3, or a row whose sum is off by more than 1e-3. Near-misses are clipped
    and renormalised in a copy, and ``ctx.notice`` (a warning without ``ctx``) says
    how many rows changed. Returns float64 C-contiguous: ``arr`` itself when it
    already was float64 C-contiguous and needed no change.
    """
    return _validate(arr, str(source), n_examples, n_classes, ctx, logits=False, owned=False, names=None)


def softmax(logits) -> np.ndarray:
    """Softmax over the last axis of ``logits`` (stable: the row max is subtracted first); float64."""
    return _softmax_inplace(np.array(logits, dtype=np.float64, order="C", copy=True))


def _softmax_inplace(out: np.ndarray) -> np.ndarray:
    out -= out.max(axis=-1, keepdims=True)
    np.exp(out, out=out)
    out /= np.expand_dims(out @ np.ones(out.shape[-1]), -1)
    return out


# ----------------------------------------------------------------------------- checks


def _validate(arr, source, n_examples, n_classes, ctx, *, logits, owned, names):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{source}: predictions must be numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = "; this looks like labels, not predictions" if arr.ndim == 1 and arr.dtype.kind in "iu" else ""
        raise InputError(f"{source}: predictions must be a 2-D array of shape (n examples, k classes), "
                         f"got shape {arr.shape}{hint}")
    n, k = arr.shape
    if n == 0 or k == 0:
        raise InputError(f"{source}: the predictions are empty (shape {arr.shape})")
    if n_examples is not None and n != n_examples:
        hint = "; is the array transposed?" if (k == n_examples and n == n_classes) else ""
        raise InputError(f"{source}: {n} rows of predictions but the dataset has {n_examples} examples{hint}")
    if n_classes is not None and k != n_classes:
        raise InputError(f"{source}: {k} columns of predictions but the dataset has {n_classes} classes")

    out = np.asarray(arr, dtype=np.float64, order="C")
    owned = (owned or not np.may_share_memory(out, arr)) and out.flags.writeable
    with np.errstate(all="ignore"):
        sums = out @ np.ones(k)  # BLAS: several times faster than out.sum(axis=1) for small k
    if not np.isfinite(sums).all():
        raise_first_nonfinite(out, np.flatnonzero(~np.isfinite(sums)), source, names)
    if logits:
        return _softmax_inplace(out if owned else out.copy())
    lowest, highest, deviation = check_probability_rows(out, sums, source, names)

    rounding = rounding_tolerance(arr.dtype, k)
    fix_rows = deviation > EXACT_TOL      # renormalised
    news_rows = deviation > rounding      # ... and told: more than the file's own rounding
    n_clipped = 0
    if lowest < 0 or highest > 1:
        fix_rows |= ((out < 0) | (out > 1)).any(axis=1)
        far = (out < -rounding) | (out > 1 + rounding)
        n_clipped = int(np.count_nonzero(far))
        news_rows |= far.any(axis=1)
        del far
    if not fix_rows.any():
        return out
    largest = max(float(deviation.max()), highest - 1.0, -lowest)
    if not owned:
        out = out.copy()
    np.clip(out, 0.0, 1.0, out=out)
    out /= (out @ np.ones(k))[:, None]
    changed = int(np.count_nonzero(news_rows))
    if changed:
        clipped = f"; clipped {n_clipped:,} values to [0, 1]" if n_clipped else ""
        _notice(ctx, f"{source}: renormalised {changed:,} rows whose probabilities summed to 1 within "
                     f"{SUM_TOL:g} (largest deviation {largest:.1e}){clipped}")
    return out


def _notice(ctx, text: str) -> None:
    if ctx is not None:
        ctx.notice(text)
    else:
        warnings.warn(text, stacklevel=3)


# ----------------------------------------------------------------------------- readers


def _index_like(name) -> bool:
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_") in _INDEX_NAMES


def _load_delimited(p: Path, source: str, sep: str):
    text = read_text(p, source)
    first = next((line for line in text.splitlines() if line.strip()), "")
    fields = next(csv.reader(io.StringIO(first), delimiter=sep), [])
    header = not all(_is_number(f) for f in fields)
    df = read_delimited(text, source, sep, header=header)
    if len(df) == 0:
        raise InputError(f"{source}: the file has a header but no rows")
    if header and len(df.columns) > 1 and _index_like(df.columns[0]):
        df = df.iloc[:, 1:]
    names = [str(c) for c in df.columns] if header else None
    for j, c in enumerate(df.columns):
        col = df[c]
        if col.dtype.kind in "biuf":
            continue
        coerced = pd.to_numeric(col, errors="coerce")
        bad = np.flatnonzero((coerced.isna() & col.notna()).to_numpy())
        if len(bad):
            r = int(bad[0])
            raise InputError(f"{source}: row {r}, {column_name(j, names)}: {str(col.iloc[r])!r} is not a number")
        df[c] = coerced
    return df.to_numpy(dtype=np.float64), names


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _load_parquet(p: Path, source: str):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    check_parquet_size(p, source)
    try:
        table = pq.read_table(p)
    except Exception as e:  # pyarrow raises several types for a damaged or foreign file
        raise InputError(f"{source}: not a readable Parquet file ({type(e).__name__}: {e})") from None
    cols = [c for c in table.column_names if not c.startswith("__index_level_")]
    if len(cols) > 1 and _index_like(cols[0]):
        cols = cols[1:]
    if not cols or table.num_rows == 0:
        raise InputError(f"{source}: the table has no rows or no columns")
    n = table.num_rows
    if len(cols) == 1 and _is_list(pa, table.schema.field(cols[0]).type):
        col = table.column(cols[0]).combine_chunks()
        name = cols[0]
        if col.null_count:
            r = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"{source}: row {r}, column {name!r} is empty (null)")
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths != lengths[0])
        if len(bad):
            r = int(bad[0])
            raise InputError(f"{source}: row {r}, column {name!r} has {lengths[r]} values but row 0 has "
                             f"{lengths[0]}")
        values = col.flatten()
        if not _is_numeric(pa, values.type):
            raise InputError(f"{source}: column {name!r} holds lists of {values.type}, not numbers")
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False).reshape(n, -1), None
    out = np.empty((n, len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        typ = table.schema.field(c).type
        if not _is_numeric(pa, typ):
            raise InputError(f"{source}: column {c!r} is {typ}, not numbers; expected one numeric column per "
                             f"class or a single column of lists")
        out[:, j] = table.column(c).cast(pa.float64()).to_numpy()
    return out, cols


def _is_list(pa, typ) -> bool:
    return pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ)


def _is_numeric(pa, typ) -> bool:
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)

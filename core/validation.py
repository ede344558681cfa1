"""The checks of labels and predicted probabilities, written once for every reader.

Every message names the source (a file or "labels"/"pred_probs" for in-memory
arrays), the row (0-based) and column, and says what is wrong in words.

``check_probability_rows(out, sums, source, names=None, row_offset=0)`` -> (lowest, highest, deviation)
    For (n, k) float64 probabilities ``out`` and their row sums: raises InputError for the
    first NaN/inf entry, an entry below -NEGATIVE_TOL or above 1 + SUM_TOL, or a row whose
    sum misses 1 by more than SUM_TOL (in that order); returns the smallest and largest
    entry and |sum - 1| per row for the caller's renormalisation. ``row_offset`` is added
    to row numbers in messages (a chunk of a larger file); ``names``: column names or None.
``rounding_tolerance(dtype, k)`` -> how far a row may miss 1 by the file's own rounding.
``check_label_indices(labels, pred_probs)`` -> (labels int64, pred_probs float 2-D)
    In-memory inputs of the audit and calibration functions.
``check_label_array(arr, source, kinds="biuf")`` -> arr
    A labels ``.npy``: 1-D, numbers (dtype kind in ``kinds``), not empty.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

NEGATIVE_TOL = 1e-6   # entries down to -1e-6 count as 0
SUM_TOL = 1e-3        # rows (and entries above 1) off by at most this are renormalised
EXACT_TOL = 1e-9      # rows within this of summing to 1 are not counted as renormalised
LOGITS_HINT = "if these are logits or log-probabilities, pass --logits"


def column_name(c: int, names) -> str:
    return f"column {names[c]!r}" if names is not None else f"column {c}"


def check_probability_rows(out: np.ndarray, sums: np.ndarray, source: str, names=None, row_offset: int = 0):
    k = out.shape[1]
    if not np.isfinite(sums).all():
        raise_first_nonfinite(out, np.flatnonzero(~np.isfinite(sums)), source, names, row_offset)
    lowest, highest = float(out.min()), float(out.max())
    if lowest < -NEGATIVE_TOL:
        r, c = divmod(int(np.argmax(out.ravel() < -NEGATIVE_TOL)), k)
        raise InputError(f"{source}: row {row_offset + r}, {column_name(c, names)} is {out[r, c]:.6g}; "
                         f"probabilities cannot be negative ({LOGITS_HINT})")
    if highest > 1 + SUM_TOL:
        r, c = divmod(int(np.argmax(out.ravel() > 1 + SUM_TOL)), k)
        raise InputError(f"{source}: row {row_offset + r}, {column_name(c, names)} is {out[r, c]:.6g}; "
                         f"probabilities cannot be above 1 ({LOGITS_HINT})")
    deviation = np.abs(sums - 1.0)
    if (deviation > SUM_TOL).any():
        r = int(np.argmax(deviation > SUM_TOL))
        raise InputError(f"{source}: row {row_offset + r} sums to {sums[r]:.6g}, not 1 (tolerance {SUM_TOL:g}); "
                         f"{LOGITS_HINT}")
    return lowest, highest, deviation


def raise_first_nonfinite(arr, rows, source, names, row_offset: int = 0, chunk: int = 4096) -> None:
    """Raise InputError for the first NaN/inf entry among ``rows``; return if there is none
    (finite entries whose sum overflowed: the range checks report those)."""
    for start in range(0, len(rows), chunk):
        block = rows[start:start + chunk]
        bad = ~np.isfinite(arr[block])
        hit = np.flatnonzero(bad.any(axis=1))
        if len(hit):
            r = int(block[hit[0]])
            c = int(np.argmax(bad[hit[0]]))
            what = "NaN (missing or not a number)" if np.isnan(arr[r, c]) else f"{arr[r, c]} (infinite)"
            raise InputError(f"{source}: row {row_offset + r}, {column_name(c, names)} is {what}")


def rounding_tolerance(dtype, k: int) -> float:
    """How far a row of ``k`` probabilities stored as ``dtype`` may miss 1 by rounding alone:
    (k + 2) machine epsilons for float32/float16 (renormalised without a notice), else EXACT_TOL."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize < 8:
        return min(SUM_TOL, (k + 2) * float(np.finfo(dtype).eps))
    return EXACT_TOL


def check_label_indices(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    """Check in-memory inputs of the audit and calibration functions.

    labels: (n,) integer (or integral float) class indices; pred_probs: (n, k).
    Returns (labels as int64, pred_probs as a floating 2-D array), or raises
    InputError naming the first label outside the k classes.
    """
    pred_probs = np.asarray(pred_probs)
    if pred_probs.ndim != 2 or pred_probs.shape[1] < 1:
        raise InputError(f"pred_probs: expected a 2-D array (examples x classes), got shape {pred_probs.shape}")
    if not np.issubdtype(pred_probs.dtype, np.floating):
        pred_probs = pred_probs.astype(np.float64)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise InputError(f"labels: expected a 1-D array, got shape {labels.shape}")
    if len(labels) != len(pred_probs):
        raise InputError(f"labels: {len(labels)} labels but pred_probs has {len(pred_probs)} rows")
    if len(labels) and not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.floating) or not np.all(np.mod(labels, 1) == 0):
            raise InputError("labels: labels must be integer class indices")
    labels = labels.astype(np.int64, copy=False)
    k = pred_probs.shape[1]
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if len(bad):
        raise InputError(f"labels: row {bad[0]} has label {labels[bad[0]]}, outside the {k} classes of pred_probs")
    return labels, pred_probs


def check_label_array(arr: np.ndarray, source: str, kinds: str = "biuf") -> np.ndarray:
    if arr.ndim != 1:
        hint = "; is this a pred_probs file?" if arr.ndim == 2 else ""
        raise InputError(f"{source}: labels must be a 1-D array (n,), got shape {arr.shape}{hint}")
    if arr.dtype.kind not in kinds:
        raise InputError(f"{source}: labels must be integers, got dtype {arr.dtype}")
    if len(arr) == 0:
        raise InputError(f"{source}: the label array is empty")
    return arr

"""Calibration metrics and reliability bins for top-label confidence.

Conventions (the numbers compare with papers that use the same ones):

- Top label: the argmax of a pred_probs row (the first column on a tie); its
  probability is the *confidence*, and the prediction is *correct* when the
  top label equals the label passed in (the given label, or a corrected one).
- ``ece``: expected calibration error with ``n_bins`` (15) equal-width bins over
  [0, 1], closed on the right: with ``edges = np.linspace(0, 1, n_bins + 1)`` a
  confidence c falls in bin i when ``edges[i] < c <= edges[i + 1]``; c = 0 goes to
  the first bin, which is therefore [0, 1/15]. ECE is the sum over bins of
  (bin count / n) * |bin accuracy - bin mean confidence|.
- ``ece_equal_mass``: the same sum over ``n_bins`` bins of equal count: the
  examples sorted by confidence (ties in row order, as a stable sort) are split
  like ``np.array_split(order, n_bins)``: the first ``n % n_bins`` bins hold one
  example more. Tied confidences may straddle two bins.
- ``mce``: the largest |accuracy - mean confidence| over the non-empty
  equal-width bins.
- ``brier``: multiclass Brier score, sum over classes of (p_k - onehot_k)^2,
  averaged over examples; 0 best, 2 worst.
- ``nll``: mean of -log p[label], with p clipped below at 1e-12 (so one example
  contributes at most 27.63).
- ``auroc``: area under the ROC curve of confidence as a score separating
  correct (positive) from incorrect top-label predictions, ties counted as half
  (Mann-Whitney); None when all predictions are correct or all are wrong.
- ``accuracy``: share of correct top-label predictions; ``mean_confidence``:
  mean top-label confidence (above accuracy = overconfident).
- Reliability bins carry a 95% Wilson score interval (z = 1.959964) for the
  bin's accuracy.

pred_probs are used as given (rows are expected to sum to 1; nothing is
renormalised here). Undefined values are None in :func:`calibration_metrics`
and NaN in :func:`reliability_bins`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd

from .validation import check_label_indices

WILSON_Z = 1.959964
NLL_CLIP = 1e-12
STRATEGIES = ("equal_width", "equal_mass")

METRIC_HELP = {
    "ece": "Top-label expected calibration error: 15 equal-width confidence bins over [0, 1], closed on the right "
    "(first bin [0, 1/15]); each bin's |accuracy - mean confidence| weighted by its share of examples. 0 is perfect.",
    "ece_equal_mass": "Like ECE but with 15 bins of equal count (examples sorted by confidence, split as "
    "np.array_split does; the first n % 15 bins hold one more).",
    "mce": "Maximum calibration error: the largest |accuracy - mean confidence| over the non-empty equal-width bins.",
    "brier": "Multiclass Brier score: sum over classes of the squared error against the one-hot label, averaged over "
    "examples; 0 best, 2 worst.",
    "nll": "Negative log-likelihood: mean of -log p[label], with p clipped below at 1e-12.",
    "auroc": "How well confidence separates correct from incorrect top-label predictions (area under the ROC curve, "
    "ties count half); 0.5 is chance, empty when all predictions are correct or all wrong.",
    "accuracy": "Share of examples whose top-label prediction (argmax, first on ties) equals the label.",
    "mean_confidence": "Mean top-label probability; above accuracy means overconfident, below underconfident.",
    "n": "Number of examples the metrics were computed on.",
    "n_bins": "Number of confidence bins used for ece, ece_equal_mass and mce (15 by default).",
}


def _check_inputs(pred_probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """pred_probs as a 2-D array and labels as int64, or InputError."""
    labels, pred_probs = check_label_indices(labels, pred_probs)
    return pred_probs, labels


def _top_label(pred_probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-label confidence as float64, whether the top label equals the label)."""
    predicted = pred_probs.argmax(axis=1)
    confidence = pred_probs[np.arange(len(labels)), predicted].astype(np.float64, copy=False)
    return confidence, predicted == labels


def _check_binning(n_bins: int, strategy: str) -> None:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")


def _equal_width_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence: i for edges[i] < c <= edges[i + 1] (right-closed), clipped to [0, n_bins).

    np.searchsorted(edges, c, side="left") - 1, computed as ceil(c * n_bins) - 1 and then moved
    to the edge that holds it (the product and the linspace edges differ by an ulp at most, so
    a step at most each way): several times faster than the search for big arrays.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    c = np.asarray(confidence, dtype=np.float64)
    if c.size < 4096 or not np.isfinite(c).all():
        bins = np.searchsorted(edges, c, side="left")
    else:
        bins = np.ceil(c * n_bins)
        np.clip(bins, 0, n_bins, out=bins)
        bins = bins.astype(np.intp)
        padded = np.concatenate([edges, [np.inf]])  # bins may reach n_bins + 1 (c above 1)
        while True:
            up = c > padded[bins]
            down = (bins > 0) & (c <= padded[bins - 1])
            if not (up.any() or down.any()):
                break
            bins += up
            bins -= down
    bins -= 1
    return np.clip(bins, 0, n_bins - 1, out=bins)


def _equal_mass_sizes(n: int, n_bins: int) -> np.ndarray:
    """Bin sizes of np.array_split(range(n), n_bins): the first n % n_bins get one more."""
    q, rem = divmod(n, n_bins)
    return np.array([q + 1] * rem + [q] * (n_bins - rem), dtype=np.int64)


def _equal_mass_positions(n: int, n_bins: int) -> np.ndarray:
    """Bin of each position in sorted order, as np.array_split(range(n), n_bins)."""
    return np.repeat(np.arange(n_bins, dtype=np.int64), _equal_mass_sizes(n, n_bins))


def _sorted_order(confidence: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, confidence[order]): ascending, with the tie groups that straddle an
    equal-mass bin boundary in row order, so every bin holds what a stable sort gives.

    A plain (unstable, much faster) argsort orders the rest; ties inside one bin
    do not change any bin's content.
    """
    order = np.argsort(confidence)
    sorted_conf = confidence[order]
    n = len(confidence)
    done_until = 0
    for b in np.cumsum(_equal_mass_sizes(n, n_bins))[:-1]:
        if b == 0 or b >= n or b < done_until or sorted_conf[b - 1] != sorted_conf[b]:
            continue
        lo = np.searchsorted(sorted_conf, sorted_conf[b], side="left")
        done_until = np.searchsorted(sorted_conf, sorted_conf[b], side="right")
        order[lo:done_until].sort()
    return order, sorted_conf


def bin_assignments(confidence, *, n_bins: int = 15, strategy: str = "equal_width") -> np.ndarray:
    """Bin index (int64, 0..n_bins-1) of each confidence, in input order.

    equal_width: right-closed bins over [0, 1] (see the module docstring);
    equal_mass: bins of the stable-sorted order split like np.array_split.
    Same bins as :func:`reliability_bins` and :func:`calibration_metrics`.
    """
    _check_binning(n_bins, strategy)
    confidence = np.asarray(confidence, dtype=np.float64)
    if strategy == "equal_width":
        return _equal_width_bins(confidence, n_bins).astype(np.int64, copy=False)
    if n_bins < 128 and not np.isnan(confidence).any():
        return _equal_mass_bins(confidence, n_bins)
    order, _ = _sorted_order(confidence, n_bins)
    bins = np.empty(len(confidence), dtype=np.int64)
    bins[order] = _equal_mass_positions(len(confidence), n_bins)
    return bins


#: Cells of the value grid _equal_mass_bins places rows in before comparing any by value.
MASS_GRID = 1 << 16


def _equal_mass_bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass bin of each value (no NaN, n_bins < 128) without sorting, the same as binning the stable-sorted
    order. Rows go into MASS_GRID equal-width cells of [min, max] (a cell index never decreases with the value);
    cell counts say which cell holds each bin's first sorted position, and only the rows of those few cells are
    compared by value: a partition there gives each bin's first value, a row is in the bin of the first values
    below it, and rows equal to one (ties that may straddle a boundary) get their sorted position, values below
    plus rank in row order. A few O(n) passes instead of an O(n log n) sort (0.2 s instead of 2 s at 10M rows);
    written by hand because numpy has no stable quantile binning."""
    n = len(x)
    starts = np.cumsum(_equal_mass_sizes(n, n_bins))[:-1]  # first sorted position of bins 1..n_bins-1
    inside = starts[starts < n]
    if not len(inside):
        return np.zeros(n, dtype=np.int64)
    lo, hi = float(x.min()), float(x.max())
    scale = MASS_GRID / (hi - lo) if hi > lo else 0.0
    if np.isfinite(scale) and np.isfinite(lo) and np.isfinite(hi) and scale > 0:
        cell = ((x - lo) * scale).astype(np.int32)
        np.minimum(cell, MASS_GRID - 1, out=cell)
    else:  # one value, or infinities: one cell (still exact, compared by value)
        cell = np.zeros(n, dtype=np.int32)
    counts = np.bincount(cell, minlength=MASS_GRID)
    before = np.cumsum(counts) - counts  # rows in lower cells
    start_cell = np.searchsorted(before + counts, inside, side="right")  # the cell of each bin start, nondecreasing
    hot = np.zeros(MASS_GRID, dtype=bool)
    hot[start_cell] = True
    sub = np.flatnonzero(hot[cell])  # rows of the cells holding a bin start, ascending
    xs, cs = x[sub], cell[sub]
    first = np.empty(len(inside))
    for c in np.unique(start_cell):
        at = start_cell == c
        ks = inside[at] - before[c]
        first[at] = np.partition(xs[cs == c], ks)[ks]
    # starts in lower cells are below every row of a cell; in higher cells above; in its own cell: compare
    bins = np.searchsorted(start_cell, np.arange(MASS_GRID), side="left")[cell].astype(np.int64)
    sub_bins = np.zeros(len(sub), dtype=np.int64)
    for value in first:
        sub_bins += xs > value
    bins[sub] = sub_bins
    # sub_bins counts the starts below x, so first[sub_bins] is the smallest start value >= x: a tie when equal
    tied = np.flatnonzero(first[np.minimum(sub_bins, len(first) - 1)] == xs)
    for value in np.unique(first):
        same = tied[xs[tied] == value]  # ascending rows: their order in a stable sort
        c = cs[same[0]] if len(same) else 0
        below = before[c] + np.count_nonzero(xs[cs == c] < value)
        bins[sub[same]] = np.searchsorted(starts, below + np.arange(len(same)), side="right")
    return bins


def _bin_stats(bins, confidence, correct, n_bins):
    counts = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    return counts, conf_sum, correct_sum


def _equal_mass_stats(sorted_conf, sorted_correct, n_bins):
    """(counts, confidence sums, correct counts) of the equal-mass bins, from the sorted arrays."""
    counts = _equal_mass_sizes(len(sorted_conf), n_bins)
    starts = np.cumsum(counts) - counts
    nonempty = counts > 0  # a prefix of the bins, with strictly increasing starts
    conf_sum = np.zeros(n_bins)
    correct_sum = np.zeros(n_bins)
    if nonempty.any():
        conf_sum[nonempty] = np.add.reduceat(sorted_conf, starts[nonempty])
        correct_sum[nonempty] = np.add.reduceat(sorted_correct, starts[nonempty], dtype=np.int64)
    return counts, conf_sum, correct_sum


def _wilson(successes: np.ndarray, counts: np.ndarray, z: float = WILSON_Z) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / counts
        denom = 1 + z * z / counts
        center = (p + z * z / (2 * counts)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / counts + z * z / (4 * counts * counts))
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def reliability_bins(pred_probs, labels, *, n_bins: int = 15, strategy: str = "equal_width") -> pd.DataFrame:
    """Per-bin reliability table for a reliability diagram.

    Columns: ``bin`` (0..n_bins-1), ``lower``/``upper`` (equal_width: the bin's
    edges; equal_mass: the smallest and largest confidence in the bin),
    ``count``, ``mean_confidence``, ``accuracy``, ``gap`` (|accuracy - mean
    confidence|, so sum(count * gap) / n is the ECE), ``wilson_low``,
    ``wilson_high`` (95% Wilson interval of the accuracy). Empty bins have
    count 0 and NaN statistics (and NaN lower/upper for equal_mass).
    """
    _check_binning(n_bins, strategy)
    confidence, correct = _top_label(*_check_inputs(pred_probs, labels))
    return reliability_bins_of(confidence, correct, n_bins=n_bins, strategy=strategy)


def reliability_bins_of(confidence, correct, *, n_bins: int = 15, strategy: str = "equal_width") -> pd.DataFrame:
    """:func:`reliability_bins` from each example's top-label confidence (float) and whether its top label is
    the given one (bool), e.g. the columns of a results table, without the (n, k) probabilities."""
    _check_binning(n_bins, strategy)
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if strategy == "equal_width":
        bins = _equal_width_bins(confidence, n_bins)
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1], edges[1:]
        counts, conf_sum, correct_sum = _bin_stats(bins, confidence, correct, n_bins)
    else:
        order, sorted_conf = _sorted_order(confidence, n_bins)
        counts, conf_sum, correct_sum = _equal_mass_stats(sorted_conf, correct[order], n_bins)
        starts = np.cumsum(counts) - counts
        nonempty = counts > 0
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        lower[nonempty] = sorted_conf[starts[nonempty]]
        upper[nonempty] = sorted_conf[starts[nonempty] + counts[nonempty] - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_conf = conf_sum / counts
        accuracy = correct_sum / counts
    low, high = _wilson(correct_sum, counts)
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins, dtype=np.int64),
            "lower": lower,
            "upper": upper,
            "count": counts.astype(np.int64),
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
            "gap": np.abs(accuracy - mean_conf),
            "wilson_low": low,
            "wilson_high": high,
        }
    )


def ece_from_bins(bins: pd.DataFrame) -> float:
    """ECE of a :func:`reliability_bins` table: sum(count * gap) / n (0.0 with no rows)."""
    counts = bins["count"].to_numpy()
    gap = np.nan_to_num(bins["gap"].to_numpy())
    return float((counts * gap).sum() / max(counts.sum(), 1))


def _auroc_from_sorted(sorted_conf: np.ndarray, sorted_correct: np.ndarray) -> float | None:
    """Mann-Whitney AUROC with average ranks for ties; inputs sorted by confidence."""
    n = len(sorted_conf)
    n_pos = int(np.count_nonzero(sorted_correct))
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    np.not_equal(sorted_conf[1:], sorted_conf[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    del new_group
    pos = np.add.reduceat(sorted_correct, starts, dtype=np.int64)
    # a tie group [s, e) has mean 1-based rank (s + e + 1) / 2, with e the next group's start
    twice_rank_sum = int(np.dot(pos, starts)) + int(np.dot(pos[:-1], starts[1:])) + int(pos[-1]) * n + n_pos
    return float((twice_rank_sum / 2 - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _brier_nll(pred_probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    given_prob = pred_probs[np.arange(len(labels)), labels].astype(np.float64, copy=False)
    # sum_k (p_k - onehot_k)^2 = sum_k p_k^2 - 2 p[label] + 1, averaged
    brier = np.einsum("ij,ij->i", pred_probs, pred_probs, dtype=np.float64).mean() - 2.0 * given_prob.mean() + 1.0
    np.clip(given_prob, NLL_CLIP, None, out=given_prob)
    nll = -np.log(given_prob, out=given_prob).mean()
    return float(max(brier, 0.0)), float(nll)


def calibration_metrics(pred_probs, labels, *, n_bins: int = 15) -> dict:
    """Calibration of the top-label confidence against ``labels``.

    pred_probs: (n, k) probabilities; labels: (n,) integer labels in [0, k).
    Returns plain Python values: ``ece``, ``ece_equal_mass``, ``mce``,
    ``brier``, ``nll``, ``auroc`` (None when all predictions are correct or all
    wrong), ``accuracy``, ``mean_confidence`` (floats), ``n`` and ``n_bins``
    (ints). With n = 0 every metric is None. Conventions: module docstring.
    """
    _check_binning(n_bins, "equal_width")
    pred_probs, labels = _check_inputs(pred_probs, labels)
    n = len(labels)
    names = ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc", "accuracy", "mean_confidence")
    if n == 0:
        return {**{name: None for name in names}, "n": 0, "n_bins": int(n_bins)}
    confidence, correct = _top_label(pred_probs, labels)
    brier, nll = _brier_nll(pred_probs, labels)

    counts, conf_sum, correct_sum = _bin_stats(_equal_width_bins(confidence, n_bins), confidence, correct, n_bins)
    abs_diff = np.abs(correct_sum - conf_sum)
    nonempty = counts > 0

    order, sorted_conf = _sorted_order(confidence, n_bins)
    sorted_correct = correct[order]
    del order
    _, mass_conf, mass_correct = _equal_mass_stats(sorted_conf, sorted_correct, n_bins)
    return {
        "ece": float(abs_diff.sum() / n),
        "ece_equal_mass": float(np.abs(mass_correct - mass_conf).sum() / n),
        "mce": float((abs_diff[nonempty] / counts[nonempty]).max()),
        "brier": brier,
        "nll": nll,
        "auroc": _auroc_from_sorted(sorted_conf, sorted_correct),
        "accuracy": float(np.count_nonzero(correct) / n),
        "mean_confidence": float(confidence.mean()),
        "n": n,
        "n_bins": int(n_bins),
    }


_NO_LOCK = contextlib.nullcontext()


class StreamingCalibration:
    """:func:`calibration_metrics` accumulated chunk by chunk, for predictions too big to hold.

    ``StreamingCalibration(n)``, then ``update(pred_probs_chunk, labels_chunk)`` for
    consecutive chunks covering n rows, then ``result()``: the same dict as
    calibration_metrics. ece, mce, brier, nll, accuracy and mean_confidence are
    float64 sums per chunk (equal up to summation order, about 1e-12).
    ece_equal_mass and auroc need the confidences in sorted order: they come from
    one in-place sort of 4 bytes per example, the confidence rounded to float32
    with the correct bit below it (a float32's bits sort like its value), so they
    are exact for float32 predictions and within float32 rounding (1e-7)
    otherwise; a tie group straddling an equal-mass bin boundary is split with
    the incorrect predictions first instead of in row order.
    """

    def __init__(self, n: int, *, n_bins: int = 15):
        _check_binning(n_bins, "equal_width")
        self.n, self.n_bins = int(n), int(n_bins)
        self.keys = np.empty(self.n, dtype=np.uint32)
        self.filled = 0
        self.counts = np.zeros(n_bins, dtype=np.int64)
        self.conf_sum = np.zeros(n_bins)
        self.correct_sum = np.zeros(n_bins)
        self.sq_sum = self.given_sum = self.nll_sum = 0.0

    def update(self, pred_probs: np.ndarray, labels: np.ndarray, *, predicted: np.ndarray | None = None,
               start: int | None = None, lock=None) -> None:
        """Add a chunk: (m, k) probabilities and their (m,) labels (argmax may be passed in).

        start: its first row (default: right after the previous chunk); chunks may then
        come in any order, from several threads when ``lock`` (a threading.Lock) is given.
        """
        m = len(labels)
        start = self.filled if start is None else int(start)
        if start + m > self.n:
            raise ValueError(f"more than the {self.n} rows announced")
        ar = np.arange(m)
        if predicted is None:
            predicted = pred_probs.argmax(axis=1)
        confidence = pred_probs[ar, predicted].astype(np.float64, copy=False)
        correct = predicted == labels
        counts, conf_sum, correct_sum = _bin_stats(_equal_width_bins(confidence, self.n_bins), confidence, correct,
                                                   self.n_bins)
        given = pred_probs[ar, labels].astype(np.float64)
        sq_sum = float(np.einsum("ij,ij->", pred_probs, pred_probs, dtype=np.float64))
        given_sum = float(given.sum())
        np.clip(given, NLL_CLIP, None, out=given)
        nll_sum = float(-np.log(given, out=given).sum())
        keys = self.keys[start: start + m]
        np.left_shift(confidence.astype(np.float32).view(np.uint32), 1, out=keys)
        keys |= correct
        with lock if lock is not None else _NO_LOCK:
            self.counts += counts
            self.conf_sum += conf_sum
            self.correct_sum += correct_sum
            self.sq_sum += sq_sum
            self.given_sum += given_sum
            self.nll_sum += nll_sum
            self.filled += m

    def result(self) -> dict:
        """The calibration_metrics dict of everything added (sorts the keys in place)."""
        if self.filled != self.n:
            raise ValueError(f"{self.filled} of the {self.n} rows announced were added")
        n, n_bins = self.n, self.n_bins
        names = ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc", "accuracy", "mean_confidence")
        if n == 0:
            return {**{name: None for name in names}, "n": 0, "n_bins": n_bins}
        self.keys.sort()
        abs_diff = np.abs(self.correct_sum - self.conf_sum)
        nonempty = self.counts > 0
        n_correct = float(self.correct_sum.sum())
        return {
            "ece": float(abs_diff.sum() / n),
            "ece_equal_mass": self._ece_equal_mass(),
            "mce": float((abs_diff[nonempty] / self.counts[nonempty]).max()),
            "brier": float(max(self.sq_sum / n - 2.0 * self.given_sum / n + 1.0, 0.0)),
            "nll": self.nll_sum / n,
            "auroc": _auroc_from_sorted_keys(self.keys),
            "accuracy": n_correct / n,
            "mean_confidence": float(self.conf_sum.sum() / n),
            "n": n,
            "n_bins": n_bins,
        }

    def _ece_equal_mass(self, block: int = 1 << 22) -> float:
        sizes = _equal_mass_sizes(self.n, self.n_bins)
        total, start = 0.0, 0
        for size in sizes:
            conf = correct = 0.0
            for a in range(start, start + size, block):
                kb = self.keys[a: min(a + block, start + size)]
                conf += float((kb >> 1).view(np.float32).sum(dtype=np.float64))
                correct += float(np.count_nonzero(kb & 1))
            total += abs(correct - conf)
            start += size
        return total / self.n


def _auroc_from_sorted_keys(keys: np.ndarray, block: int = 1 << 22) -> float | None:
    """Mann-Whitney AUROC (ties count half) from sorted (value << 1 | correct) keys, block by block.

    Within a value the incorrect (bit 0) come first, so the incorrect ones before a correct
    one at sorted position i number i minus the correct ones before it: summed over the
    correct, sum(i) - n_pos (n_pos - 1) / 2. That counts ties in full; half of each tie
    group's pos * neg is taken back, the groups found where a value's bit-0 run meets its
    bit-1 run (keys[i] == keys[i - 1] + 1, keys[i] odd).
    """
    n = len(keys)
    n_pos, index_sum, meets = 0, 0, []
    for a in range(0, n, block):
        kb = keys[a: a + block]
        odd = np.flatnonzero(kb & 1)
        n_pos += len(odd)
        index_sum += int(odd.sum(dtype=np.int64)) + a * len(odd)
        lo, end = max(a, 1), min(a + block, n)
        cur, prev = keys[lo:end], keys[lo - 1: end - 1]
        meets.append(np.flatnonzero(((cur & 1) == 1) & (prev == cur - 1)) + lo)
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    at = np.concatenate(meets)
    neg = at - np.searchsorted(keys, keys[at] - 1, side="left")
    pos = np.searchsorted(keys, keys[at], side="right") - at
    u = index_sum - n_pos * (n_pos - 1) // 2 - 0.5 * float(np.dot(neg.astype(np.float64), pos))
    return float(u / (n_pos * n_neg))

"""Out-of-core audit: big ``.npy`` predictions memory-mapped and audited in chunks.

From :data:`STREAM_MIN_ROWS` rows on, ``run_audit`` takes this path for a
``.npy`` of labels with a ``.npy`` of probabilities or logits (default detection
method, no model, no recalibration; tables take the in-memory path): the file is
opened with ``np.load(mmap_mode="r")`` and read in chunks of about
:data:`CHUNK_VALUES` values, so memory grows with the chunk, not with the file.

Passes over the file, each chunk by chunk (progress and cancel per chunk):

1. check the predictions as :mod:`core.predictions` does (finite, in range,
   rows summing to 1; near-misses renormalised, which, as in the in-memory
   path, then applies to every row) and sum each class's given-label
   probability: cleanlab's per-class thresholds;
2. count the confident joint (cleanlab's ``compute_confident_joint``) and
   accumulate the calibration metrics (:class:`core.calibration.StreamingCalibration`);
3. for each given class g and true class t, keep the ``prune_counts[t, g]``
   rows with the largest margin p[t] - p[g] (cleanlab's ``prune_by_noise_rate``):
   a running top-m buffer per pair;
4. flag (drop the candidates whose argmax, with p[given] + 1e-6, is the given
   label) and write ``examples.parquet`` (row groups of about ROW_GROUP_VALUES values), then
   ``flagged.csv`` (flagged rows only) through :func:`core.export.write_csv`.

The flags equal the in-memory path's (``core.audit``, itself equal to
``cleanlab.filter.find_label_issues``): every per-row number is computed with
the same float64 operations; only the class thresholds are sums taken in
another order, which could move a flag only for a probability within about
1e-12 of a threshold. Ties of margins at a top-m cut are resolved by one more
pass over that class, sorted exactly as cleanlab sorts. Calibration:
see StreamingCalibration.

Labels: the ``.npy`` of labels is memory-mapped too and encoded with a
bincount lookup table (same classes as :func:`core.data.load_dataset`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import RunContext
from .validation import (
    EXACT_TOL,
    check_label_array,
    check_probability_rows,
    raise_first_nonfinite,
    rounding_tolerance,
)

if TYPE_CHECKING:
    from .audit import AuditResult
    from .data import Dataset
    from .pipeline import AuditConfig

#: Predictions files with at least this many rows are audited out of core.
STREAM_MIN_ROWS = 2_000_000
#: flagged.csv is formatted this many rows at a time (the text of one part is in memory).
FLAGGED_PART_ROWS = 200_000
#: Values (rows x classes) per chunk: 2 MiB as float64, about what one core's L2 cache holds, so each
#: step on a chunk reads it from cache (the passes take half the CPU time of 16 MiB chunks, which every
#: step streamed from memory). THREADS + 1 chunks are in flight.
CHUNK_VALUES = 1 << 18
#: examples.parquet gathers consecutive chunks into row groups of about this many values (rows x classes).
ROW_GROUP_VALUES = 1 << 21


# ----------------------------------------------------------------------------- choosing the path


def npy_header(path) -> tuple[tuple[int, ...], np.dtype] | None:
    """(shape, dtype) of a ``.npy`` without reading its data (a memory map); None if unreadable."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return arr.shape, arr.dtype


def wants_streaming(config: "AuditConfig") -> bool:
    """True when DATA is a ``.npy`` of labels and the predictions a ``.npy`` of at least STREAM_MIN_ROWS rows, with the
    default detection method (cleanlab's find_label_issues defaults, self-confidence ranking),
    and no model or recalibration asks for the whole matrix in memory."""
    from .detection import DetectionMethod

    source = config.pred_probs or config.logits
    if not source or config.model or config.recalibrate or Path(source).suffix.lower() != ".npy":
        return False
    if getattr(config, "correctness", False) or getattr(config, "multi_label", False):
        return False  # a cross-fitted model over every row, or several labels per row: in memory
    if getattr(config, "annotators", None) or Path(str(config.data)).suffix.lower() != ".npy":
        return False  # tables (ids, texts, several annotators) are loaded whole anyway: the in-memory path
    method = DetectionMethod.from_config(config)
    if not method.is_default or method.rank != "self_confidence":
        return False
    header = npy_header(source)
    return header is not None and len(header[0]) == 2 and header[0][0] >= STREAM_MIN_ROWS


def chunk_rows(k: int) -> int:
    """Rows per chunk for k classes (about CHUNK_VALUES values, at least 4096 rows)."""
    return max(4096, CHUNK_VALUES // max(k, 1))


def _ranges(n: int, step: int) -> list[tuple[int, int]]:
    return [(s, min(s + step, n)) for s in range(0, n, step)]


# ----------------------------------------------------------------------------- labels


def _open_npy(path, what: str) -> np.ndarray:
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{source}: no such file")
    from .data import check_npy_header

    check_npy_header(p, source, what)  # the data the header announces is in the file
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e) or "object" in str(e).lower():
            raise InputError(f"{source}: holds Python objects (pickle), which are not loaded for "
                             f"safety; save the {what} as a numeric array") from None
        raise InputError(f"{source}: not a readable .npy file ({e})") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{source}: not a readable .npy file ({e})") from None
    return arr


def encode_npy_labels(path, class_list=None, classes_source: str = "--classes") -> tuple[np.ndarray, list[str]]:
    """Labels of a ``.npy`` (memory-mapped) as compact class indices, and the class names.

    Same classes as :func:`core.data.load_dataset` gives for whole-number labels:
    without a class list, labels that include 0 are indices named "0".."max",
    others map to their sorted unique values; with an all-integer class list
    labels match names by value, otherwise they are indices in [0, k). The
    values are found with a bincount over [min, max], and mapped with a
    lookup table, chunk by chunk. Returns (uint8/uint16/int32 array, names).
    """
    source = str(path)
    raw = _open_npy(path, "labels")
    check_label_array(raw, source, kinds="iuf")
    n = len(raw)
    step = 1 << 22
    lo, hi = None, None
    for s, e in _ranges(n, step):
        c = raw[s:e]
        if raw.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(c) | (c != np.round(c)))
            if len(bad):
                r = s + int(bad[0])
                raise InputError(f"{source}: row {r}: label {raw[r]:g} in column 'label' is not a whole number")
        cmin, cmax = int(c.min()), int(c.max())
        lo = cmin if lo is None else min(lo, cmin)
        hi = cmax if hi is None else max(hi, cmax)
    from .data import MIN_CLASS_BOUND

    span = hi - lo + 1
    small = span <= max(MIN_CLASS_BOUND, n)  # presence by bincount; else (sparse values) by np.unique
    if small:
        present = np.zeros(span, dtype=np.int64)
        for s, e in _ranges(n, step):
            present += np.bincount(np.asarray(raw[s:e], dtype=np.int64) - lo, minlength=span)
        values = np.flatnonzero(present) + lo  # sorted unique labels
        del present
    else:
        values = np.unique(np.concatenate([np.unique(np.asarray(raw[s:e], dtype=np.int64))
                                           for s, e in _ranges(n, step)]))
    code_of = np.full(len(values), -1, dtype=np.int64)  # class index of each value, -1 for none
    if class_list is None:
        if values[0] == 0:
            bound = max(MIN_CLASS_BOUND, n)
            if values[-1] >= bound:
                r = _first_row(raw, int(values[-1]), step)
                raise InputError(f"{source}: row {r}: label {int(values[-1]):,} in column 'label' would make "
                                 f"{int(values[-1]) + 1:,} classes for {n:,} rows; class indices must be "
                                 f"below {bound:,} (pass --classes FILE to name the classes)")
            names = [str(i) for i in range(int(values[-1]) + 1)]
            code_of = values.copy()
        else:
            names = [str(int(v)) for v in values]
            code_of = np.arange(len(values))
    else:
        import re

        from .data import _INT_STRING, _preview

        names = list(class_list)
        k = len(names)
        if all(re.fullmatch(_INT_STRING, c) for c in names):
            by_value = np.array([int(c) for c in names], dtype=np.int64)
            order = np.argsort(by_value)
            pos = np.clip(np.searchsorted(by_value[order], values), 0, k - 1)
            hit = by_value[order][pos] == values
            code_of[hit] = order[pos[hit]]
            what = "is not one of the {k} classes in {src} ({preview})"
        else:
            ok = (values >= 0) & (values < k)
            code_of[ok] = values[ok]
            what = "is out of range for the {k} classes in {src} (expected 0..{last})"
        missing = values[code_of < 0]
        if len(missing):
            bad_value = int(missing[0])
            r = _first_row(raw, bad_value, step)
            reason = what.format(k=k, src=classes_source, preview=_preview(names), last=k - 1)
            raise InputError(f"{source}: row {r}: label {bad_value} in column 'label' {reason}")
    lut = None
    if small:
        lut = np.full(span, -1, dtype=np.int64)
        lut[values - lo] = code_of
    codes = np.empty(n, dtype=np.min_scalar_type(max(len(names) - 1, 0)))
    for s, e in _ranges(n, step):
        c = np.asarray(raw[s:e], dtype=np.int64)
        codes[s:e] = lut[c - lo] if lut is not None else code_of[np.searchsorted(values, c)]
    return codes, names


def _first_row(raw: np.ndarray, value: int, step: int) -> int:
    """The first row of ``raw`` holding ``value`` (read chunk by chunk)."""
    for s, e in _ranges(len(raw), step):
        hit = np.flatnonzero(np.asarray(raw[s:e]) == value)
        if len(hit):
            return s + int(hit[0])
    return -1


# ----------------------------------------------------------------------------- predictions


class PredictionChunks:
    """A memory-mapped ``.npy`` of probabilities or logits, read as checked float64 chunks.

    ``check(ctx)`` runs pass 1's checks (as core.predictions does, with the same
    messages and row numbers); afterwards ``chunk(s, e)`` returns rows [s, e) as
    the in-memory loader would have them: softmaxed logits, or probabilities
    clipped and renormalised when any row of the file needed it.
    """

    def __init__(self, path, *, logits: bool, n_examples: int, n_classes: int, array: np.ndarray | None = None):
        """path: the ``.npy`` (named in messages); array: its contents when already at hand
        (a project's stored predictions), else the file is memory-mapped."""
        self.source = src = str(path)
        self.logits = logits
        self.array = arr = _open_npy(path, "predictions") if array is None else array
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{src}: predictions must be numbers, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise InputError(f"{src}: predictions must be a 2-D array of shape (n examples, k classes), "
                             f"got shape {arr.shape}")
        n, k = arr.shape
        if n != n_examples:
            hint = "; is the array transposed?" if (k == n_examples and n == n_classes) else ""
            raise InputError(f"{src}: {n} rows of predictions but the dataset has {n_examples} examples{hint}")
        if k != n_classes:
            raise InputError(f"{src}: {k} columns of predictions but the dataset has {n_classes} classes")
        self.n, self.k = n, k
        self.renormalise = False
        self.clip = True  # renormalising clips to [0, 1] first; pass 1 turns it off when no value is outside
        self._ones = np.ones(k)

    def raw(self, s: int, e: int) -> np.ndarray:
        return np.array(self.array[s:e], dtype=np.float64, order="C")

    def chunk(self, s: int, e: int) -> np.ndarray:
        """Rows [s, e), checked and prepared (float64)."""
        return self._prepare(self.raw(s, e))

    def rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows ``idx`` (sorted), prepared as :meth:`chunk` prepares them."""
        return self._prepare(np.array(self.array[idx], dtype=np.float64, order="C"))

    def _prepare(self, out: np.ndarray) -> np.ndarray:
        from .predictions import _softmax_inplace

        if self.logits:
            return _softmax_inplace(out)
        if self.renormalise:
            if self.clip:
                np.clip(out, 0.0, 1.0, out=out)
            out /= (out @ self._ones)[:, None]
        return out

    def check_chunk(self, s: int, out: np.ndarray, stats: dict) -> np.ndarray | None:
        """Check raw rows starting at row ``s``; return the renormalised rows' sums
        (what dividing by would use) or None for logits. Updates ``stats``."""
        src, k = self.source, self.k
        with np.errstate(all="ignore"):
            sums = out @ self._ones
        if self.logits:
            if not np.isfinite(sums).all():
                raise_first_nonfinite(out, np.flatnonzero(~np.isfinite(sums)), src, None, row_offset=s)
            return None
        lowest, highest, deviation = check_probability_rows(out, sums, src, None, row_offset=s)
        rounding = rounding_tolerance(self.array.dtype, k)  # a float32 file's own rounding is not news
        changed_rows = deviation > EXACT_TOL
        news_rows = deviation > rounding
        clipped_sums = sums
        if lowest < 0 or highest > 1:
            stats["outside"] = True
            outside = (out < 0) | (out > 1)
            far = (out < -rounding) | (out > 1 + rounding)
            stats["clipped"] += int(np.count_nonzero(far))
            changed_rows |= outside.any(axis=1)
            news_rows |= far.any(axis=1)
            clipped_sums = np.clip(out, 0.0, 1.0) @ self._ones
        stats["changed"] += int(np.count_nonzero(changed_rows))
        stats["news"] += int(np.count_nonzero(news_rows))
        stats["largest"] = max(stats["largest"], float(deviation.max()), highest - 1.0, -lowest)
        return clipped_sums


# ----------------------------------------------------------------------------- the audit


class _PairTops:
    """For every (given class g, other class t) pair, the m[g, t] smallest values seen with their rows,
    ties at the cut kept: cleanlab's prune_by_noise_rate picks, streamed.

    Written by hand because no library keeps many bounded selections at once. All pairs are
    updated together with numpy (one sort per flush), so the cost does not grow with the
    K * (K - 1) pairs in Python (at 345 classes a per-pair loop spent minutes per million rows).
    ``cuts`` (K x K): a value at or below which an entry may still be among its pair's m
    smallest (+inf while fewer than m are held, -inf for a pair that takes nothing); it only
    decreases, so a stale read lets more through and never loses an entry.
    """

    #: Queued entries that trigger a merge: at least as many as are held (so each merge's sort is
    #: paid for by new entries), within these bounds.
    FLUSH_MIN, FLUSH_MAX = 1 << 18, 1 << 22

    def __init__(self, m: np.ndarray):
        k = m.shape[0]
        self.m = m.astype(np.int64).ravel()
        self.cuts = np.where(m > 0, np.inf, -np.inf)
        self.pair = np.empty(0, dtype=np.int64)
        self.vals = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._n_pending = 0
        self.k = k

    def candidates(self, neg: np.ndarray, y: np.ndarray, first_row: int):
        """This chunk's entries at or below their pair's cut: (pair ids, values, rows).
        neg: (n, K) values of the chunk's rows; y: their given classes."""
        keep = neg <= self.cuts[y]
        i, t = np.nonzero(keep)
        return y[i] * self.k + t, neg[i, t], i + first_row

    def add(self, found) -> None:
        """Queue a chunk's candidates; merge once enough are queued."""
        self._pending.append(found)
        self._n_pending += len(found[0])
        if self._n_pending >= min(max(len(self.pair), self.FLUSH_MIN), self.FLUSH_MAX):
            self.merge()

    def merge(self) -> None:
        """Fold the queued entries in: keep each pair's m smallest (and ties at the cut); lower the cuts."""
        if not self._pending:
            return
        pair = np.concatenate([self.pair, *(f[0] for f in self._pending)])
        vals = np.concatenate([self.vals, *(f[1] for f in self._pending)])
        rows = np.concatenate([self.rows, *(f[2] for f in self._pending)])
        self._pending, self._n_pending = [], 0
        # by pair, values ascending within each (ties in any order: all ties at a cut are kept): an
        # unstable (SIMD) sort of the values, then a stable sort of the pair ids, a radix sort when
        # they fit 16 bits; 2-4x faster than np.lexsort
        order = np.argsort(vals)
        ids = pair[order]
        order = order[np.argsort(ids.astype(np.uint16) if self.k * self.k <= 1 << 16 else ids, kind="stable")]
        pair, vals, rows = pair[order], vals[order], rows[order]
        ids, start, count = np.unique(pair, return_index=True, return_counts=True)
        m = self.m[ids]
        full = count >= m
        cut = np.full(len(ids), np.inf)
        cut[full] = vals[start[full] + m[full] - 1]
        keep = vals <= np.repeat(cut, count)
        self.pair, self.vals, self.rows = pair[keep], vals[keep], rows[keep]
        np.put(self.cuts, ids[full], cut[full])  # ids index the K x K pairs in C order, as ravel()

    def groups(self) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """After the last merge: (g, t, values, rows) of each pair holding entries, values ascending."""
        self.merge()
        ids, start, count = np.unique(self.pair, return_index=True, return_counts=True)
        for pid, s, c in zip(ids.tolist(), start.tolist(), count.tolist()):
            yield pid // self.k, pid % self.k, self.vals[s: s + c], self.rows[s: s + c]


#: Threads that process chunks at once (numpy releases the GIL in the heavy steps).
THREADS = max(1, min(4, os.cpu_count() or 1))


def ordered_map(fn, items: list, threads: int = THREADS) -> Iterator:
    """``fn(item)`` for each item on a thread pool, yielded in item order, at most
    ``threads + 1`` in flight (so memory holds a few chunks, not all)."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class StreamedAudit:
    """The audit of one big predictions file: the class-level results in memory,
    the per-example rows produced chunk by chunk (:meth:`example_chunks`).

    Build with :func:`stream_label_audit`. Attributes: ``n``, ``k``,
    ``class_names``, ``thresholds``, ``confident_joint``, ``calibration``
    (the dict of calibration_metrics), ``n_label_issues``, ``result`` (an
    :class:`core.audit.AuditResult` whose ``examples`` is None: the rows are
    too many to hold; use example_chunks).
    """

    def __init__(self, preds: PredictionChunks, labels: np.ndarray, class_names: list[str], ctx: RunContext):
        self.preds, self.labels, self.class_names = preds, labels, list(class_names)
        self.n, self.k = preds.n, preds.k
        self.step = chunk_rows(self.k)
        self.ranges = _ranges(self.n, self.step)
        self.ctx = ctx

    # pass 1
    def _check_and_thresholds(self) -> None:
        from cleanlab.internal.constants import CONFIDENT_THRESHOLDS_LOWER_BOUND

        k = self.k
        stats = {"changed": 0, "news": 0, "clipped": 0, "largest": 0.0, "outside": False}
        self.class_counts = np.zeros(k, dtype=np.int64)
        given_raw = np.zeros(k)
        given_norm = np.zeros(k)
        lock = threading.Lock()

        def one(rng):
            s, e = rng
            out = self.preds.raw(s, e)
            y = self.labels[s:e].astype(np.intp)
            part = {"changed": 0, "news": 0, "clipped": 0, "largest": 0.0, "outside": False}
            sums = self.preds.check_chunk(s, out, part)
            if self.preds.logits:
                from .predictions import _softmax_inplace

                out = _softmax_inplace(out)
            g = out[np.arange(e - s), y]
            raw = np.bincount(y, weights=g, minlength=k)
            norm = None if sums is None else np.bincount(y, weights=np.clip(g, 0.0, 1.0) / sums, minlength=k)
            return part, raw, norm, np.bincount(y, minlength=k)

        with self.ctx.stage("checking predictions", len(self.ranges)) as stage:
            for part, raw, norm, counts in ordered_map(one, self.ranges):
                with lock:
                    for key in ("changed", "news", "clipped"):
                        stats[key] += part[key]
                    stats["largest"] = max(stats["largest"], part["largest"])
                    stats["outside"] = stats["outside"] or part["outside"]
                given_raw += raw
                if norm is not None:
                    given_norm += norm
                self.class_counts += counts
                stage.advance(1)
        if stats["changed"]:
            self.preds.renormalise = True
        self.preds.clip = stats["outside"]
        if stats["news"]:
            clipped = f"; clipped {stats['clipped']:,} values to [0, 1]" if stats["clipped"] else ""
            self.ctx.notice(f"{self.preds.source}: renormalised {stats['news']:,} rows whose probabilities summed "
                            f"to 1 within 1e-3 (largest deviation {stats['largest']:.1e}){clipped}")
        sums = given_norm if self.preds.renormalise else given_raw
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(self.class_counts > 0, sums / np.maximum(self.class_counts, 1), 2.0)
        self.thresholds = np.clip(means, CONFIDENT_THRESHOLDS_LOWER_BOUND, None)

    def _calibrate(self, joint: np.ndarray) -> None:
        """cleanlab.count.calibrate_confident_joint and estimate_latent (defaults) from the class
        counts: those two read the labels only through their counts and number, and a
        value count of n labels would cost a pass (their formulas, cleanlab's helpers)."""
        from cleanlab.count import _converge_estimates, compute_py
        from cleanlab.internal.constants import TINY_VALUE
        from cleanlab.internal.latent_algebra import clip_noise_rates
        from cleanlab.internal.util import round_preserving_row_totals

        counts = self.class_counts
        cj = (joint.T / np.clip(joint.sum(axis=1), a_min=TINY_VALUE, a_max=None) * counts).T
        cj = cj / np.clip(np.sum(cj), a_min=TINY_VALUE, a_max=None) * sum(counts)
        cj = round_preserving_row_totals(cj)
        ps = counts / float(self.n)
        given_counts = cj.sum(axis=1).astype(float)
        true_counts = cj.sum(axis=0).astype(float)
        noise = cj / np.clip(true_counts, a_min=TINY_VALUE, a_max=None)
        inv_noise = cj.T / np.clip(given_counts, a_min=TINY_VALUE, a_max=None)
        py = compute_py(ps, noise, inv_noise, py_method="cnt", true_labels_class_counts=true_counts)
        py, noise, inv_noise = _converge_estimates(ps, py, clip_noise_rates(noise), clip_noise_rates(inv_noise))
        self.confident_joint, self.noise_matrix = cj, clip_noise_rates(noise)

    # pass 2
    def _confident_joint_and_calibration(self) -> None:
        from .calibration import StreamingCalibration

        k = self.k
        pairs = np.zeros(k * k, dtype=np.int64)
        cal = StreamingCalibration(self.n)
        cut = self.thresholds - 1e-6
        lock = threading.Lock()
        small = k < 256  # counts and a single index fit a byte: both as one integer matmul (far faster
        ones, index = np.ones(k, dtype=np.uint8), np.arange(k, dtype=np.uint8)  # than sum/argmax over rows)

        def one(rng):
            s, e = rng
            p = self.preds.chunk(s, e)
            y = self.labels[s:e].astype(np.intp)
            predicted = p.argmax(axis=1)
            confident = p >= cut
            if small:
                as_bytes = confident.view(np.uint8)
                n_confident = as_bytes @ ones
                only = as_bytes @ index  # the confident class where exactly one is
            else:
                n_confident = confident.sum(axis=1)
                only = confident.argmax(axis=1)
            any_confident = n_confident > 0
            true_guess = np.where(n_confident > 1, predicted, only)
            del confident
            cal.update(p, y, predicted=predicted, start=s, lock=lock)
            return np.bincount(y[any_confident] * k + true_guess[any_confident], minlength=k * k)

        with self.ctx.stage("confident joint", len(self.ranges)) as stage:
            for part in ordered_map(one, self.ranges):
                pairs += part
                stage.advance(1)
        joint = pairs.reshape(k, k)
        np.fill_diagonal(joint, joint.diagonal().clip(min=1))
        self._calibrate(joint)
        self.calibration = cal.result()
        del cal  # its sort keys: 4 bytes per row

    # pass 3
    def _prune_candidates(self) -> None:
        from cleanlab.filter import _keep_at_least_n_per_class

        k = self.k
        prune = _keep_at_least_n_per_class(prune_count_matrix=self.confident_joint.T, n=1, frac_noise=1.0)
        m = prune.T.astype(np.int64)  # m[g, t]: how many rows given g cleanlab moves towards t
        np.fill_diagonal(m, 0)
        m[self.class_counts <= 1] = 0  # cleanlab never flags a class with a single example
        whole = m >= self.class_counts[:, None]  # every row of the class is a candidate
        self.whole_classes: list[int] = sorted(set(np.flatnonzero((whole & (m > 0)).any(axis=1)).tolist()))
        m[whole] = 0
        tops = _PairTops(m)

        def one(rng):
            """The chunk's entries at or below their pair's cut so far: neg = p[g] - p[t] = -(p[t] - p[g])."""
            s, e = rng
            p = self.preds.chunk(s, e)
            y = self.labels[s:e].astype(np.int64)
            neg = p[np.arange(e - s), y][:, None] - p
            return tops.candidates(neg, y, s)

        with self.ctx.stage("finding label issues", len(self.ranges)) as stage:
            if m.any():
                tops.add(one(self.ranges[0]))  # the first chunk alone: its merge sets the cuts
                tops.merge()  # the chunks the pool reads ahead then pass only what beats them
                stage.advance(1)
                for found in ordered_map(one, self.ranges[1:]):
                    tops.add(found)
                    stage.advance(1)
        picked = [rows if len(rows) == m[g, t] else self._resolve(g, t, m[g, t])
                  for g, t, _, rows in tops.groups()]
        rows = np.concatenate(picked) if picked else np.empty(0, dtype=np.int64)
        chosen = np.zeros(self.n, dtype=bool)  # sorted unique rows: a mask is far faster than np.unique here
        chosen[rows] = True
        self.candidates = np.flatnonzero(chosen)

    def _resolve(self, g: int, t: int, m: int) -> np.ndarray:
        """The rows of np.argsort(neg_margin_of_class_g)[:m], as cleanlab picks them (for ties at the cut)."""
        # tied margins straddle the cut: rebuild the class's whole margin column in row order
        neg, rows = [], []
        for s, e in self.ranges:
            r = np.flatnonzero(self.labels[s:e] == g)
            if len(r):
                sub = self.preds.rows(r + s)
                neg.append(-(sub[:, t] - sub[:, g]))
                rows.append(r + s)
        neg, rows = np.concatenate(neg), np.concatenate(rows)
        return rows[np.argsort(neg)[:m]]

    def _flag(self) -> None:
        """Drop the candidates the model agrees with (cleanlab.count._reduce_issues), reading only
        the candidate rows; keep the flagged rows' numbers for flagged.csv and the summaries."""
        from cleanlab.count import _reduce_issues

        from .audit import AuditResult, _overlapping_classes, _top_corrections
        from .detection import DetectionMethod

        method = DetectionMethod()
        cand = self.candidates
        for g in self.whole_classes:
            cand = np.union1d(cand, np.flatnonzero(self.labels == g))
        parts = []
        for b in range(0, len(cand), self.step):
            idx = cand[b: b + self.step]
            p = self.preds.rows(idx)
            y = self.labels[idx].astype(np.int64)
            keep = ~_reduce_issues(pred_probs=p, labels=y)
            idx, p, y = idx[keep], p[keep], y[keep]
            parts.append(self._rows_frame(idx, p, y, np.ones(len(idx), dtype=bool)))
        empty = self._rows_frame(np.empty(0, dtype=np.int64), np.empty((0, self.k)), np.empty(0, dtype=np.int64),
                                 np.empty(0, dtype=bool))
        self.flagged = pd.concat([empty, *parts], ignore_index=True) if parts else empty
        self.flagged_rows = self.flagged["row"].to_numpy()
        k = self.k
        given = self.flagged["given_label"].to_numpy()
        issues = np.bincount(given, minlength=k).astype(np.int64)
        self.n_label_issues = int(issues.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(self.class_counts > 0, issues / np.maximum(self.class_counts, 1), np.nan)
        issues_per_class = pd.DataFrame(
            {
                "class": np.arange(k, dtype=np.int64),
                "class_name": self.class_names,
                "n_examples": self.class_counts,
                "n_label_issues": issues,
                "issue_rate": rate,
                "threshold": np.asarray(self.thresholds, dtype=np.float64),
            }
        )
        self.result: AuditResult = AuditResult(
            examples=None,
            confident_joint=self.confident_joint,
            noise_matrix=self.noise_matrix,
            issues_per_class=issues_per_class,
            overlapping_classes=_overlapping_classes(self.confident_joint, self.class_names),
            top_corrections=_top_corrections(given, self.flagged["predicted_label"].to_numpy(), self.class_names),
            detection={**method.to_dict(), "rank_by": method.rank, "description": method.describe()},
        )

    def _rows_columns(self, rows: np.ndarray, p: np.ndarray, y: np.ndarray, is_issue: np.ndarray) -> dict:
        """core.audit.AuditResult.examples' columns (name -> array, in order) for the given rows of
        prepared probabilities."""
        ar = np.arange(len(rows))
        predicted = p.argmax(axis=1) if len(rows) else np.empty(0, dtype=np.int64)
        given = p[ar, y]
        return {
            "row": rows.astype(np.int64, copy=False),
            "given_label": y,
            "predicted_label": predicted.astype(np.int64, copy=False),
            "suggested_label": np.where(is_issue, predicted, y),
            "confidence": p[ar, predicted],
            "given_label_prob": given,
            "label_quality": given.copy(),
            "is_label_issue": is_issue,
            "class_threshold": np.asarray(self.thresholds, dtype=np.float64)[y],
        }

    def _rows_frame(self, rows: np.ndarray, p: np.ndarray, y: np.ndarray, is_issue: np.ndarray) -> pd.DataFrame:
        """_rows_columns as a DataFrame."""
        return pd.DataFrame(self._rows_columns(rows, p, y, is_issue), copy=False)

    def chunk_columns(self, rng: tuple[int, int]) -> tuple[dict, np.ndarray]:
        """Pass 4 for rows [s, e): their examples columns (see _rows_columns) and their prepared probabilities."""
        s, e = rng
        is_issue = np.zeros(e - s, dtype=bool)
        lo, hi = np.searchsorted(self.flagged_rows, [s, e])
        is_issue[self.flagged_rows[lo:hi] - s] = True
        p = self.preds.chunk(s, e)
        return self._rows_columns(np.arange(s, e), p, self.labels[s:e].astype(np.int64), is_issue), p

    def chunk_frame(self, rng: tuple[int, int]) -> tuple[pd.DataFrame, np.ndarray]:
        """chunk_columns with the columns as a DataFrame."""
        cols, p = self.chunk_columns(rng)
        return pd.DataFrame(cols, copy=False), p

    def example_columns(self) -> dict[str, np.ndarray]:
        """Pass 4 into whole columns: core.audit.AuditResult.examples' columns as numpy arrays of n rows,
        filled chunk by chunk on the thread pool (numpy releases the GIL, so a GUI thread stays free).
        ``label_quality`` is the ``given_label_prob`` array itself (self-confidence ranking: equal values)."""
        n = self.n
        cols = {"row": np.arange(n, dtype=np.int64)}
        for name in ("given_label", "predicted_label", "suggested_label"):
            cols[name] = np.empty(n, dtype=np.int64)
        for name in ("confidence", "given_label_prob"):
            cols[name] = np.empty(n, dtype=np.float64)
        cols["is_label_issue"] = np.zeros(n, dtype=bool)
        cols["is_label_issue"][self.flagged_rows] = True
        thresholds = np.asarray(self.thresholds, dtype=np.float64)

        def fill(rng):
            s, e = rng
            p = self.preds.chunk(s, e)
            y = self.labels[s:e].astype(np.int64)
            ar = np.arange(e - s)
            predicted = p.argmax(axis=1)
            cols["given_label"][s:e] = y
            cols["predicted_label"][s:e] = predicted
            cols["suggested_label"][s:e] = np.where(cols["is_label_issue"][s:e], predicted, y)
            cols["confidence"][s:e] = p[ar, predicted]
            cols["given_label_prob"][s:e] = p[ar, y]

        for _ in ordered_map(fill, self.ranges):
            pass
        cols["label_quality"] = cols["given_label_prob"]
        order = ["row", "given_label", "predicted_label", "suggested_label", "confidence", "given_label_prob",
                 "label_quality", "is_label_issue"]
        out = {name: cols[name] for name in order}
        out["class_threshold"] = thresholds[cols["given_label"]]
        return out

    def example_chunks(self, stage=None) -> Iterator[pd.DataFrame]:
        """Pass 4: every example's row (core.audit.AuditResult.examples' columns), one DataFrame per chunk."""
        for frame, _ in ordered_map(self.chunk_frame, self.ranges):
            yield frame
            if stage is not None:
                stage.advance(1)


def stream_label_audit(preds: PredictionChunks, labels: np.ndarray, class_names: list[str],
                       ctx: RunContext | None = None) -> StreamedAudit:
    """Passes 1-3 and the summaries: everything but the per-example rows.

    preds: the memory-mapped predictions; labels: (n,) class indices (any
    integer dtype); class_names: k names. Raises InputError for bad predictions
    and Cancelled between chunks after ``ctx.cancel()``.
    """
    ctx = ctx or RunContext()
    if len(class_names) != preds.k:
        raise InputError(f"{preds.source}: {preds.k} columns of predictions but the dataset has "
                         f"{len(class_names)} classes")
    if len(labels) != preds.n:
        raise InputError(f"{preds.source}: {preds.n} rows of predictions but the dataset has {len(labels)} examples")
    audit = StreamedAudit(preds, labels, class_names, ctx)
    audit.timings = {}
    for name, step in (("check", audit._check_and_thresholds), ("joint", audit._confident_joint_and_calibration),
                       ("prune", audit._prune_candidates), ("flag", audit._flag)):
        t0 = time.perf_counter()
        step()
        audit.timings[f"audit_{name}"] = time.perf_counter() - t0
    return audit


# ----------------------------------------------------------------------------- the run


class StreamedReport:
    """What :func:`core.pipeline.run_audit` returns for an out-of-core run.

    It has the attributes of :class:`core.pipeline.AuditReport` (config, summary,
    calibration, audit, notices, score, reviews, recalibration, class_names,
    labels, dataset, pred_probs: the memory-mapped file, and examples); ``examples``
    builds the whole table on first use (the GUI needs it), while
    :meth:`write_files` (what core.export.write_outputs calls) streams it to disk.
    """

    score = None
    recalibration = None

    def __init__(self, config, streamed: StreamedAudit, summary: dict, *, dataset=None, reviews=None,
                 notices=()):
        self.config, self.streamed, self.summary = config, streamed, summary
        self.calibration = streamed.calibration
        self.audit = streamed.result
        self.pred_probs = streamed.preds.array
        self.reviews = reviews
        self.notices = list(notices)
        self._dataset = dataset
        self._examples = None

    @property
    def class_names(self) -> list[str]:
        return self.streamed.class_names

    @property
    def dataset(self) -> "Dataset":
        if self._dataset is None:
            from .data import Dataset

            raw = np.load(self.config.data, mmap_mode="r", allow_pickle=False)
            self._dataset = Dataset(pd.DataFrame({"label": np.asarray(raw)}), self.labels, self.class_names,
                                    str(self.config.data), label_col="label", root=Path(self.config.data).resolve().parent)
        return self._dataset

    @property
    def labels(self) -> np.ndarray:
        if self._dataset is not None:
            return self._dataset.labels
        return self.streamed.labels.astype(np.int64)

    @property
    def examples(self) -> pd.DataFrame:
        """The whole table, built once from whole numpy columns (StreamedAudit.example_columns, no copies)."""
        if self._examples is None:
            self._examples = self._decorate(pd.DataFrame(self.streamed.example_columns(), copy=False))
        return self._examples

    def _decorate(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Add the id, input and human-validation columns, as core.pipeline does."""
        ids, extra = self._extra_columns(chunk["row"].to_numpy(), chunk.columns)
        chunk.insert(1, "id", ids)
        for name, values in extra.items():
            chunk[name] = values
        return chunk

    def _decorated(self, cols: dict) -> dict:
        """_decorate for a dict of columns (a new dict, columns in the same order)."""
        ids, extra = self._extra_columns(cols["row"], cols)
        return {"row": cols["row"], "id": ids, **{k: v for k, v in cols.items() if k != "row"}, **extra}

    def _extra_columns(self, rows: np.ndarray, present) -> tuple[np.ndarray, dict]:
        """(id column, {name: column} to add after the others) for these rows: the input column
        unless among ``present``, and the human-validation columns when there are reviews."""
        ds = self._dataset
        if ds is not None and ds.id_col is not None:
            ids = ds.table[ds.id_col].to_numpy()[rows]
        else:
            ids = rows if len(rows) == self.streamed.n else rows.copy()  # whole table: share "row"
        extra = {}
        if ds is not None:
            from .pipeline import input_column

            col = input_column(ds)
            if col is not None and col not in present:
                extra[col] = ds.table[col].to_numpy()[rows]
        if self.reviews is not None:
            extra["human_reviewed"] = np.isin(rows, self.reviews["row"].to_numpy())
            extra["is_validated_error"] = np.isin(
                rows, self.reviews["row"].to_numpy()[self.reviews["is_validated_error"].to_numpy(bool)])
        return ids, extra

    def write_files(self, out: Path, ctx: RunContext | None = None) -> dict[str, Path]:
        """Write the CLI's files into the folder ``out``, examples.parquet a row group per few chunks."""
        from .export import write_csv, write_json

        ctx = ctx or RunContext()
        names = self.class_names
        categories = pd.Index([str(c) for c in names])
        paths = {
            "summary": write_json(self.summary, out / "summary.json"),
            "examples": out / "examples.parquet",
            "flagged": out / "flagged.csv",
            "pred_probs": out / "pred_probs.npy",
        }
        self.write_timings = {}

        def write_flagged():  # on its own thread, beside the examples pass
            t = time.perf_counter()
            write_csv(self._flagged_parts(), paths["flagged"])
            self.write_timings["flagged_csv"] = time.perf_counter() - t

        t0 = time.perf_counter()
        csv_pool = ThreadPoolExecutor(max_workers=1)
        flagged_done = csv_pool.submit(write_flagged)
        try:
            self._write_examples(paths, categories, ctx)
        finally:
            csv_pool.shutdown(wait=True)
        flagged_done.result()
        if self.recalibration is not None:  # applied afterwards in the GUI's Calibration tab
            paths["pred_probs_recalibrated"] = out / "pred_probs_recalibrated.npy"
            np.save(paths["pred_probs_recalibrated"], self.recalibration.pred_probs, allow_pickle=False)
        self.write_timings["all_files"] = time.perf_counter() - t0
        return paths

    def _flagged_parts(self) -> Iterator[pd.DataFrame]:
        """flagged.csv's table (core.export.flagged_table's: worst label quality first, labels
        as class names), FLAGGED_PART_ROWS rows at a time, so its text is never whole in memory."""
        from .export import with_class_names

        flagged = self.streamed.flagged
        order = np.lexsort((flagged["row"].to_numpy(), flagged["label_quality"].to_numpy()))
        for a in range(0, max(len(order), 1), FLAGGED_PART_ROWS):
            part = self._decorate(flagged.iloc[order[a: a + FLAGGED_PART_ROWS]].reset_index(drop=True))
            yield with_class_names(part, self.class_names)

    def _write_examples(self, paths: dict, categories: pd.Index, ctx: RunContext) -> None:
        """examples.parquet (a row group per ROW_GROUP_VALUES values) and pred_probs.npy, in one pass."""
        import shutil

        import pyarrow as pa
        import pyarrow.parquet as pq

        from .export import LABEL_COLUMNS

        # dictionary-encode the few-valued columns only: for floats and row numbers it costs time for nothing
        labels = [c for c in LABEL_COLUMNS if c != "consensus_label"]
        few_valued = [*labels, *(c.replace("_label", "_class") for c in labels), "is_label_issue", "class_threshold"]
        preds = self.streamed.preds
        copy = not (preds.logits or preds.renormalise)  # the file is what the audit used
        target = None
        if not copy:
            dtype = preds.array.dtype if preds.array.dtype.kind == "f" else np.float64
            target = np.lib.format.open_memmap(paths["pred_probs"], mode="w+", dtype=dtype, shape=(preds.n, preds.k))

        class_columns = {c.replace("_label", "_class"): c for c in labels}

        def frame_of(cols: dict) -> pd.DataFrame:  # what the in-memory path writes with to_parquet
            frame = pd.DataFrame(cols, copy=False)
            for name, col in class_columns.items():
                frame[name] = pd.Categorical.from_codes(frame[col].to_numpy(), categories)
            return frame

        # the schema (and its pandas metadata) from one row through pandas; each chunk's columns then go
        # to Arrow directly, the class columns as dictionary arrays of their label codes
        head, _ = self.streamed.chunk_columns((0, min(1, self.streamed.n)))
        schema = pa.Table.from_pandas(frame_of(self._decorated(head)), preserve_index=False).schema
        dictionaries = {name: pa.array(list(categories), type=schema.field(name).type.value_type)
                        for name in class_columns}

        def table_of(rng):
            cols, p = self.streamed.chunk_columns(rng)
            if target is not None:
                target[rng[0]: rng[1]] = p
            cols = self._decorated(cols)
            arrays = []
            for f in schema:
                if f.name in class_columns:
                    codes = cols[class_columns[f.name]].astype(f.type.index_type.to_pandas_dtype())
                    arrays.append(pa.DictionaryArray.from_arrays(codes, dictionaries[f.name]))
                else:
                    arrays.append(pa.array(cols[f.name], type=f.type, from_pandas=True))
            return pa.Table.from_arrays(arrays, schema=schema)

        group_rows = max(self.streamed.step, ROW_GROUP_VALUES // self.streamed.k)
        writer = pq.ParquetWriter(paths["examples"], schema, use_dictionary=few_valued,
                                  compression={c: "snappy" if c in few_valued else "none" for c in schema.names})
        pending, group = None, []

        def write_group():  # one row group: the chunks gathered so far (not copied)
            nonlocal pending
            table = pa.concat_tables(group)
            group.clear()
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_table, table, row_group_size=table.num_rows)

        with ThreadPoolExecutor(max_workers=1) as pool:  # write a group while the next chunks are computed
            try:
                with ctx.stage("writing results", len(self.streamed.ranges)) as stage:
                    for table in ordered_map(table_of, self.streamed.ranges):
                        group.append(table)
                        if sum(t.num_rows for t in group) >= group_rows:
                            write_group()
                        stage.advance(1)
                if group:
                    write_group()
                if pending is not None:
                    pending.result()
            finally:
                if pending is not None:
                    pending.exception()  # wait for it before closing
                writer.close()
        if copy:
            shutil.copyfile(preds.source, paths["pred_probs"])
        else:
            target.flush()
            del target


def run_streamed_audit(config: "AuditConfig", ctx: RunContext | None = None) -> StreamedReport:
    """The out-of-core counterpart of core.pipeline.run_audit for big ``.npy`` predictions."""
    from .data import _class_list

    ctx = ctx or RunContext()
    t0 = time.perf_counter()
    dataset = None
    if not Path(config.data).is_file():
        raise InputError(f"{config.data}: no such file or folder")
    class_list, classes_source = _class_list(config.classes)
    labels, names = encode_npy_labels(config.data, class_list, classes_source)
    columns = {"label": "label", "text": None, "image": None, "id": None}
    timings = {"load": time.perf_counter() - t0}
    ctx.check_cancelled()
    source = config.pred_probs or config.logits
    preds = PredictionChunks(source, logits=bool(config.logits), n_examples=len(labels), n_classes=len(names))
    t0 = time.perf_counter()
    streamed = stream_label_audit(preds, labels, names, ctx)
    timings["audit"] = time.perf_counter() - t0
    timings.update(streamed.timings)
    reviews = None
    extra = {}
    if config.reviews:
        from .verdicts import load_reviews

        reviews = load_reviews(config.reviews, n_examples=len(labels), class_names=names)
        rows = reviews["row"].to_numpy()
        validated = rows[reviews["is_validated_error"].to_numpy(dtype=bool)]
        flagged_rows = streamed.flagged_rows
        extra = {
            "n_reviewed": int(len(np.unique(rows))),
            "n_validated_errors": int(len(np.unique(validated))),
            "reviewed_flagged": int(np.isin(flagged_rows, rows).sum()),
            "validated_found": int(np.isin(flagged_rows, validated).sum()),
        }
    cal = streamed.calibration
    n = len(labels)
    summary = {
        "n_examples": int(n),
        "n_classes": int(len(names)),
        "class_names": list(names),
        "accuracy": cal["accuracy"],
        "n_label_issues": streamed.n_label_issues,
        "label_issue_rate": streamed.n_label_issues / n,
        "calibration": {key: cal[key] for key in ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc")},
        "model": f"predictions from {Path(source).name}",
        "device": "none",
        "in_sample": False,
        "data": str(config.data),
        "columns": columns,
        "detection": dict(streamed.result.detection),
        "issues_per_class": streamed.result.issues_per_class.to_dict(orient="records"),
        "top_corrections": streamed.result.top_corrections.head(20).to_dict(orient="records"),
        "out_of_core": {"chunk_rows": streamed.step, "chunks": len(streamed.ranges)},
        "timings_s": {key: round(float(v), 4) for key, v in timings.items()},
        **extra,
    }
    return StreamedReport(config, streamed, summary, dataset=dataset, reviews=reviews, notices=ctx.notices)


def reopen_streamed(config: "AuditConfig", dataset: "Dataset", pred_probs: np.ndarray, examples: pd.DataFrame,
                    summary: dict, *, source: str, ctx: RunContext | None = None) -> StreamedReport:
    """The StreamedReport of a saved out-of-core run, without scoring again.

    The class-level results (thresholds, confident joint, calibration, flags) are
    recomputed chunk by chunk from the stored ``pred_probs`` (n, k), as the run
    computed them (the GIL is released between chunks, so a GUI stays responsive);
    ``examples`` and ``summary`` are the stored ones. ``source`` names the project in messages.
    """
    ctx = ctx or RunContext()
    names = list(dataset.class_names)
    labels = examples["given_label"].to_numpy()
    preds = PredictionChunks(source, logits=False, n_examples=len(labels), n_classes=len(names), array=pred_probs)
    streamed = stream_label_audit(preds, labels, names, ctx)
    reviews = None
    if config.reviews and Path(config.reviews).exists():
        from .verdicts import load_reviews

        reviews = load_reviews(config.reviews, n_examples=len(labels), class_names=names)
    report = StreamedReport(config, streamed, summary, dataset=dataset, reviews=reviews, notices=ctx.notices)
    report._examples = examples
    return report

"""Filter and sort the per-example results table as column arrays.

The GUI's examples table shows ``AuditReport.examples`` (up to millions of
rows) without a Python object per cell: :class:`ExampleTable` holds each
column as one numpy array (numbers, booleans, label indices) or one pyarrow
string array (text, image paths, string ids). A :class:`TableFilter` says
which rows to show; :meth:`ExampleTable.view` turns a filter and a sort
column into the row indices to display, in display order.

Everything here is plain numpy/pyarrow and runs in any thread.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Columns that hold class indices (shown and sorted by class name).
LABEL_COLUMNS = ("given_label", "predicted_label", "suggested_label", "decided_label", "corrected_label", "guessed_label",
                 "consensus_label")
#: Integer columns where -1 means "none" (not decided, in no near-duplicate set): shown and exported blank.
MINUS_ONE_IS_MISSING = ("decided_label", "corrected_label", "guessed_label", "near_duplicate_set")


@dataclass(frozen=True)
class TableFilter:
    """Which examples to show; every field that is set must hold (logical AND).

    flagged_only: only rows with ``is_label_issue``.
    given: only rows whose given label is this class index.
    given_suggested / given_predicted: only rows with this (given, suggested) or
      (given, predicted) pair of class indices.
    confidence: inclusive (low, high) range of the ``confidence`` column.
    bin: (bin index, n_bins, strategy) of a reliability diagram over the
      ``confidence`` column (core.calibration.bin_assignments).
    text: case-insensitive substring of the input column or the id ("" = any).
    annotator: only rows this annotator labelled (the ``annotator_labels`` column
      of a multi-annotator audit, core.multiannotator).
    """

    flagged_only: bool = False
    given: int | None = None
    given_suggested: tuple[int, int] | None = None
    given_predicted: tuple[int, int] | None = None
    confidence: tuple[float, float] | None = None
    bin: tuple[int, int, str] | None = None
    text: str = ""
    annotator: str | None = None

    def is_empty(self) -> bool:
        """True when the filter lets every row through."""
        return self == TableFilter()

    def without(self, name: str) -> "TableFilter":
        """A copy with field ``name`` back at its default."""
        return replace(self, **{name: TableFilter.__dataclass_fields__[name].default})


class ExampleTable:
    """Column arrays of a results table, with cached sort orders.

    columns: name -> numpy array (numbers, bools, label indices) or pyarrow
    string array, all of length n. class_names: names of the label indices.
    search_columns: the string columns that :attr:`TableFilter.text` searches.
    """

    def __init__(self, columns: dict, class_names: list[str], *, search_columns: tuple[str, ...] = ()):
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")
        self.columns = columns
        self.class_names = [str(c) for c in class_names]
        self.n = lengths.pop() if lengths else 0
        self.search_columns = tuple(c for c in search_columns if c in columns)
        self._orders: dict[tuple[str, bool], np.ndarray] = {}
        self._bins: dict[tuple[int, str], np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_frame(cls, df: pd.DataFrame, class_names: list[str], *, search_columns=("text", "id")) -> "ExampleTable":
        """Build from a DataFrame such as ``AuditReport.examples``.

        Numeric and bool columns become numpy arrays; any other column becomes
        a pyarrow string array (missing cells stay null).
        """
        columns: dict = {}
        for name in df.columns:
            s = df[name]
            if pd.api.types.is_bool_dtype(s) and not s.hasnans:
                columns[name] = s.to_numpy(dtype=bool)
            elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                if pd.api.types.is_integer_dtype(s) and not s.hasnans:
                    columns[name] = s.to_numpy(dtype=np.int64)
                else:
                    columns[name] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                columns[name] = _to_strings(s)
        return cls(columns, class_names, search_columns=tuple(search_columns))

    def set_column(self, name: str, values) -> None:
        """Add or replace column ``name`` (numpy array, or strings as pyarrow) and forget its sort orders."""
        if len(values) != self.n:
            raise ValueError(f"column {name!r} has {len(values)} values, the table {self.n} rows")
        if not isinstance(values, (np.ndarray, pa.Array, pa.ChunkedArray)):
            values = _to_strings(pd.Series(values, dtype=object))
        with self._lock:
            self.columns[name] = values
            for key in [k for k in self._orders if k[0] == name]:
                del self._orders[key]

    # -- what is in a column --------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def kind(self, name: str) -> str:
        """"label", "bool", "int", "float" or "text"."""
        col = self.columns[name]
        if isinstance(col, (pa.Array, pa.ChunkedArray)):
            return "text"
        if col.dtype == bool:
            return "bool"
        if np.issubdtype(col.dtype, np.integer):
            return "label" if name in LABEL_COLUMNS else "int"
        return "float"

    def value(self, name: str, row: int):
        """The Python value of one cell (None for a missing text cell)."""
        col = self.columns[name]
        if isinstance(col, (pa.Array, pa.ChunkedArray)):
            return col[row].as_py()
        return col[row].item()

    # -- filtering ------------------------------------------------------------
    def bins(self, n_bins: int, strategy: str, column: str = "confidence") -> np.ndarray:
        """Reliability-diagram bin of every row (cached per n_bins and strategy)."""
        from .calibration import bin_assignments

        key = (int(n_bins), strategy)
        with self._lock:
            cached = self._bins.get(key)
        if cached is None:
            cached = bin_assignments(self.columns[column], n_bins=int(n_bins), strategy=strategy)
            with self._lock:
                self._bins[key] = cached
        return cached

    def has_bins(self, n_bins: int, strategy: str) -> bool:
        """True when :meth:`bins` of this binning is cached (so a bin filter is fast)."""
        with self._lock:
            return (int(n_bins), strategy) in self._bins

    def mask(self, flt: TableFilter) -> np.ndarray:
        """Boolean mask over rows (file order) of the rows that pass ``flt``."""
        m = np.ones(self.n, dtype=bool)
        if flt.flagged_only:
            m &= self.columns["is_label_issue"]
        if flt.given is not None:
            m &= self.columns["given_label"] == flt.given
        if flt.given_suggested is not None:
            g, s = flt.given_suggested
            m &= (self.columns["given_label"] == g) & (self.columns["suggested_label"] == s)
        if flt.given_predicted is not None:
            g, p = flt.given_predicted
            m &= (self.columns["given_label"] == g) & (self.columns["predicted_label"] == p)
        if flt.confidence is not None:
            lo, hi = flt.confidence
            conf = self.columns["confidence"]
            m &= (conf >= lo) & (conf <= hi)
        if flt.bin is not None:
            index, n_bins, strategy = flt.bin
            m &= self.bins(n_bins, strategy) == index
        if flt.annotator is not None and "annotator_labels" in self.columns:
            import re

            pattern = f"(^|; ){re.escape(flt.annotator)}="
            hits = pc.match_substring_regex(self.columns["annotator_labels"], pattern)
            m &= np.asarray(pc.fill_null(hits, False), dtype=bool)
        if flt.text:
            candidates = np.flatnonzero(m)
            if len(candidates) == self.n:
                m &= self.search(flt.text)
            elif len(candidates):  # search only the rows the other criteria kept
                m[candidates] = self.search(flt.text, candidates)
        return m

    def search(self, text: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Which rows' text search columns contain ``text``, ignoring case (no regex);
        a whole number also matches a numeric search column (an integer id) equal to it.

        rows: the row indices to search (default all); returns a bool array of that length.
        """
        needle = text.strip()
        hit = np.zeros(self.n if rows is None else len(rows), dtype=bool)
        for name in self.search_columns:
            col = self.columns[name]
            if self.kind(name) == "text":
                if rows is not None:
                    col = col.take(pa.array(rows))
                hit |= _match(col, needle)
            elif re.fullmatch(r"[+-]?\d+", needle):
                hit |= (col if rows is None else col[rows]) == int(needle)
        return hit

    # -- sorting --------------------------------------------------------------
    def has_order(self, name: str, descending: bool = False) -> bool:
        """True when the sort order of ``name`` is cached (so sorting is instant)."""
        with self._lock:
            return (name, bool(descending)) in self._orders

    def sort_order(self, name: str, descending: bool = False) -> np.ndarray:
        """Row indices that sort column ``name`` (stable: ties keep row order).

        Label columns sort by class name; missing values come last either way.
        The result is cached.
        """
        key = (name, bool(descending))
        with self._lock:
            cached = self._orders.get(key)
        if cached is not None:
            return cached
        col, kind = self.columns[name], self.kind(name)
        if kind == "text":
            order = pc.array_sort_indices(
                col, order="descending" if descending else "ascending", null_placement="at_end"
            ).to_numpy().astype(np.int64, copy=False)
        else:
            if kind == "label":
                key_values = self.class_rank()[np.clip(col, 0, len(self.class_names) - 1)]
            elif kind == "bool":
                key_values = col.astype(np.int8)
            else:
                key_values = col
            if descending:
                # negation keeps the sort stable and NaN last; ints negate exactly
                key_values = -key_values.astype(np.float64) if kind == "float" else -key_values.astype(np.int64)
            order = _stable_argsort(key_values)
        with self._lock:
            self._orders[key] = order
        return order

    def class_rank(self) -> np.ndarray:
        """Position of each class in name order (numeric names by value: "2" before "10")."""
        names = self.class_names
        numeric = all(re.fullmatch(r"[+-]?\d+", n) for n in names)
        by_name = sorted(range(len(names)), key=(lambda i: int(names[i])) if numeric else (lambda i: names[i].casefold()))
        rank = np.empty(len(names), dtype=np.int64)
        rank[by_name] = np.arange(len(names))
        return rank

    def view(self, flt: TableFilter, sort: str | None = None, descending: bool = False) -> np.ndarray:
        """Row indices (int64) that pass ``flt``, in the order of column ``sort``
        (file order when None)."""
        mask = None if flt.is_empty() else self.mask(flt)
        if sort is None:
            return np.arange(self.n, dtype=np.int64) if mask is None else np.flatnonzero(mask).astype(np.int64)
        order = self.sort_order(sort, descending)
        return order if mask is None else order[mask[order]]


def _match(col: pa.Array, needle: str, chunk: int = 1 << 17) -> np.ndarray:
    """Case-insensitive literal substring match of every string, as a bool array (nulls False):
    pyarrow's ``match_substring(ignore_case=True)`` (Unicode simple case folding), computed by
    :func:`_ascii_match` where that applies (1.5-3x faster on ASCII needles).

    Large arrays are split into chunks searched on a thread pool (numpy and
    pyarrow release the GIL), which scales with the cores.
    """

    def run(part: pa.Array) -> np.ndarray:
        hit = _ascii_match(part, needle)
        if hit is None:
            found = pc.match_substring(part, needle, ignore_case=True)
            hit = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
        return hit

    if len(col) <= 2 * chunk or (os.cpu_count() or 1) < 2:
        return run(col)
    parts = [col.slice(start, chunk) for start in range(0, len(col), chunk)]
    return np.concatenate(list(_pool().map(run, parts)))


#: ASCII letters whose Unicode case folding (pyarrow's, RE2's) reaches beyond ASCII: KELVIN SIGN, LONG S.
_WIDE_FOLDS = frozenset("kKsS")


def _ascii_match(arr: pa.Array, needle: str, sample: int = 1 << 14) -> np.ndarray | None:
    """``pc.match_substring(arr, needle, ignore_case=True)`` with nulls False, computed by numpy over
    the whole string buffer at once (no per-string work), or None where this does not apply.

    It applies to a non-empty ASCII needle in a string/large_string array (its k/s only in ASCII
    text: their Unicode case folding reaches beyond ASCII), unless the needle's rarest byte pair is
    common (over one per row in a sample): then pyarrow's per-row search is faster. Candidates are
    the positions of that pair with bit 0x20 set on both sides (both cases); each is then checked
    byte by byte (letters either case) and must lie inside one row.
    """
    typ = arr.type
    if not needle or not needle.isascii() or not isinstance(arr, pa.Array) \
            or not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        return None
    n = len(arr)
    hit = np.zeros(n, dtype=bool)
    if n == 0:
        return hit
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if pa.types.is_large_string(typ) else np.int32)
    offsets = offsets[arr.offset:arr.offset + n + 1].astype(np.int64, copy=False)
    lo, hi = int(offsets[0]), int(offsets[-1])
    if data_buf is None or hi - lo < len(needle):
        return hit
    data = np.frombuffer(data_buf, dtype=np.uint8, count=hi - lo, offset=lo)
    if _WIDE_FOLDS & set(needle) and data.max() >= 0x80:
        return None
    want = np.frombuffer(needle.lower().encode(), dtype=np.uint8)
    width = min(2, len(want))
    probe = (data[:sample] | 0x20).tobytes()
    keys = [(want[j:j + width] | 0x20).tobytes() for j in range(min(len(want) - width + 1, 16))]
    k = min(range(len(keys)), key=lambda j: probe.count(keys[j]))
    if probe.count(keys[k]) > len(probe) / data.size * n:
        return None
    folded = np.bitwise_or(data, 0x20, out=_scratch("folded", data.size, np.uint8))
    if width == 1:
        start = np.flatnonzero(folded == keys[0][0])
    else:
        pair = int.from_bytes(keys[k], "little")
        even = folded[: data.size // 2 * 2].view("<u2")
        odd = folded[1: 1 + (data.size - 1) // 2 * 2].view("<u2")
        same = _scratch("same", even.size, bool)
        start = np.concatenate([np.flatnonzero(np.equal(even, pair, out=same)) * 2,
                                np.flatnonzero(np.equal(odd, pair, out=same[:odd.size])) * 2 + 1]) - k
    start = start[(start >= 0) & (start + len(want) <= data.size)]
    letter = (want >= ord("a")) & (want <= ord("z"))
    for j, byte in enumerate(want):
        if not start.size:
            break
        b = data[start + j]
        start = start[((b | 0x20) == byte) if letter[j] else (b == byte)]
    row = np.searchsorted(offsets, start + lo, side="right") - 1
    hit[row[start + lo + len(want) <= offsets[row + 1]]] = True
    if arr.null_count:
        hit &= arr.is_valid().to_numpy(zero_copy_only=False)
    return hit


_SCRATCH = threading.local()


def _scratch(name: str, size: int, dtype, keep: int = 1 << 24) -> np.ndarray:
    """An array of ``size`` elements, reused by this thread up to ``keep`` elements (saves a
    page-faulting allocation per chunk; larger ones, e.g. chunks of long texts, are not kept)."""
    if size > keep:
        return np.empty(size, dtype=dtype)
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        setattr(_SCRATCH, name, buf)
    return buf[:size]


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="table_filter")


def _stable_argsort(values: np.ndarray) -> np.ndarray:
    """np.argsort(kind="stable") as int64; integers of a small range go through
    numpy's radix sort (16-bit keys), which is several times faster."""
    if values.dtype.kind in "iub" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 2**15:
            values = (values.astype(np.int64) - lo).astype(np.int16)
    return np.argsort(values, kind="stable").astype(np.int64, copy=False)


def _to_strings(s: pd.Series) -> pa.Array:
    """A column as a pyarrow large_string array (non-strings formatted with str())."""
    try:
        arr = pa.array(s, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        values = s.to_numpy(dtype=object)
        missing = pd.isna(s).to_numpy()
        arr = pa.array([None if m else str(v) for v, m in zip(values, missing)], type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(arr.type):  # nothing but missing values (an empty review column)
        return pa.nulls(len(arr), pa.large_string())
    return arr.cast(pa.large_string())


def strings_from_codes(codes: np.ndarray, names) -> pa.Array:
    """A pyarrow large_string column whose row i is ``names[codes[i]]``, null where codes[i] < 0 (vectorised)."""
    codes = np.asarray(codes)
    indices = pa.array(codes.astype(np.int32, copy=False), mask=codes < 0)
    return pa.array([str(n) for n in names], type=pa.large_string()).take(indices)


def decision_arrays(rows, labels, actions, n: int, action_names) -> tuple[np.ndarray, pa.Array]:
    """The table's ``decided_label`` (int64, -1 when undecided) and ``decision`` (strings, null when
    undecided) columns of n rows, from the decided rows only (e.g. Project.effective_decisions'
    row, label and action): numpy and pyarrow over whole columns, no Python per row."""
    label = np.full(n, -1, dtype=np.int64)
    codes = np.full(n, -1, dtype=np.int8)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows):
        label[rows] = np.asarray(labels, dtype=np.int64)
        index = {name: i for i, name in enumerate(action_names)}
        codes[rows] = [index[a] for a in actions]
    return label, strings_from_codes(codes, action_names)


def pair_counts(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts of (a[i], b[i]) pairs: rows a, columns b (e.g. given x predicted)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k)


def row_shares(counts: np.ndarray) -> np.ndarray:
    """Each row of a (k, k) count matrix divided by its sum (a row without counts stays 0), float."""
    counts = np.asarray(counts, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))


def confidence_histogram(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 20, low: float = 0.0):
    """Histogram of confidence split by correctness.

    Returns (edges (n_bins + 1,), counts of correct rows, counts of incorrect rows),
    equal-width bins over [low, 1].
    """
    edges = np.linspace(low, 1.0, n_bins + 1)
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    right, _ = np.histogram(confidence[correct], bins=edges)
    wrong, _ = np.histogram(confidence[~correct], bins=edges)
    return edges, right, wrong


def is_missing(name: str, value) -> bool:
    """True when ``value`` of column ``name`` means "none" and must be shown blank (-1 in MINUS_ONE_IS_MISSING)."""
    return name in MINUS_ONE_IS_MISSING and value is not None and not isinstance(value, str) and value == -1


def blank_missing(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose -1 cells of MINUS_ONE_IS_MISSING columns are missing (pandas ``Int64`` NA),
    so a CSV writes them as empty cells; other columns are unchanged."""
    out = df.copy()
    for name in MINUS_ONE_IS_MISSING:
        if name in out.columns and pd.api.types.is_integer_dtype(out[name]):
            out[name] = out[name].astype("Int64").mask(out[name].to_numpy() == -1)
    return out


def top_pairs(counts: np.ndarray, n: int | None = None) -> pd.DataFrame:
    """The off-diagonal cells of a (k, k) count matrix, largest first.

    counts: e.g. :func:`pair_counts` of given x predicted labels. n: keep at most
    this many (default all non-zero cells). Returns columns ``given``, ``other``
    (the column class) and ``count``; ties by given, then other.
    """
    counts = np.asarray(counts)
    k = counts.shape[0]
    flat = counts.ravel().astype(np.int64)
    cells = np.flatnonzero(flat)
    cells = cells[cells // k != cells % k]
    cells = cells[np.lexsort((cells, -flat[cells]))]
    if n is not None:
        cells = cells[:n]
    return pd.DataFrame({"given": cells // k, "other": cells % k, "count": flat[cells]})

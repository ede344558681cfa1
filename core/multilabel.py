"""Several labels per example: multi-label audit with cleanlab.multilabel_classification.

Labels (``--multi-label``), per row: a label column whose cells are ``a|b``
strings, JSON lists (``["a", "b"]``; also list cells in parquet/jsonl), or
empty for no label; or, when no label column is found, one 0/1 column per
class (every column that holds only 0 and 1, the id column aside). Class
names come from ``--classes`` or the sorted set of names seen (whole numbers
sort as numbers).

Predictions: ``--pred-probs`` (n, k) per-class probabilities in [0, 1] (rows
need not sum to 1) or ``--logits`` (a sigmoid is applied).

:func:`audit_multilabel` flags examples with
``cleanlab.multilabel_classification.filter.find_label_issues`` and scores
them with ``...rank.get_label_quality_scores`` (the method's ``rank_by``);
the predicted set is every class with p >= 0.5, and a flagged example's
suggested set is its predicted set. Calibration is per class: each class is a
binary problem (probabilities [1 - p, p] against "has the class"), with the
metrics of core.calibration (15 equal-width bins); ``calibration`` in the
summary is their mean over classes (macro).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

THRESHOLD = 0.5
SEP = "|"


@dataclass
class MultiLabelData:
    """A multi-label dataset: ``label_sets[i]`` is the sorted class indices of row i."""

    table: pd.DataFrame
    label_sets: list[list[int]]
    class_names: list[str]
    source: str
    id_col: str | None = None
    text_col: str | None = None
    image_col: str | None = None
    label_cols: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.label_sets)


@dataclass
class MultiLabelReport:
    """examples: one row per example (module docstring); per_class: one row per class; summary: summary.json."""

    data: MultiLabelData
    pred_probs: np.ndarray
    examples: pd.DataFrame
    per_class: pd.DataFrame
    summary: dict

    @property
    def class_names(self) -> list[str]:
        return self.data.class_names


def _items(value, source: str, row: int, col: str) -> list[str]:
    """The label names of one cell: list, JSON list string, ``a|b`` string, a number, or empty."""
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            from .data import json_cell

            try:
                items = json_cell(text)
            except ValueError:
                raise InputError(f"{source}: row {row}: column {col!r}: {text[:40]!r} is not a JSON list") from None
            if not isinstance(items, list):
                raise InputError(f"{source}: row {row}: column {col!r}: expected a JSON list of labels")
        else:
            items = [t for t in text.split(SEP)]
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items = [value]
    else:
        raise InputError(f"{source}: row {row}: column {col!r}: {value!r} is not a label set")
    out = [str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v).strip()
           for v in items]
    return [v for v in out if v]


def _sort_key(name: str):
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def parse_label_sets(col: pd.Series, source: str, classes=None) -> tuple[list[list[int]], list[str]]:
    """Label sets of a column (module docstring) as sorted class indices, and the class names."""
    from .data import _class_list

    names_per_row = [_items(v, source, i, str(col.name)) for i, v in enumerate(col.tolist())]
    class_list, classes_source = _class_list(classes)
    if class_list is None:
        class_list = sorted({n for row in names_per_row for n in row}, key=_sort_key)
    if len(class_list) < 2:
        raise InputError(f"{source}: column {col.name!r}: multi-label data needs at least two classes "
                         f"(found {len(class_list)})")
    index = {str(c): i for i, c in enumerate(class_list)}
    sets = []
    for i, row in enumerate(names_per_row):
        bad = [n for n in row if n not in index]
        if bad:
            where = classes_source or "the class list"
            raise InputError(f"{source}: row {i}: label {bad[0]!r} in column {col.name!r} is not one of the "
                             f"{len(class_list)} classes in {where}")
        sets.append(sorted({index[n] for n in row}))
    return sets, [str(c) for c in class_list]


def _indicator_columns(table: pd.DataFrame, skip) -> list[str]:
    cols = []
    for c in table.columns:
        if c in skip or not pd.api.types.is_numeric_dtype(table[c]):
            continue
        values = table[c].dropna().unique()
        if len(values) and set(np.asarray(values, dtype=float).tolist()) <= {0.0, 1.0}:
            cols.append(c)
    return cols


def load_multilabel(config) -> MultiLabelData:
    """Read DATA as multi-label (module docstring); InputError naming the file, column or row."""
    from .data import detect_columns, read_table

    source = str(config.data)
    if not Path(source).is_file():
        raise InputError(f"{source}: no such file")
    table = read_table(source)
    try:
        cols = detect_columns(table, label_col=config.label_col, text_col=config.text_col,
                              image_col=config.image_col, id_col=config.id_col, source=source)
    except InputError:
        if config.label_col:
            raise
        cols = detect_columns(table.assign(__label__=0), label_col="__label__", text_col=config.text_col,
                              image_col=config.image_col, id_col=config.id_col, source=source)
        cols["label_col"] = None
    skip = {cols[k] for k in ("text_col", "image_col", "id_col")} - {None}
    indicators = _indicator_columns(table, skip)
    if cols["label_col"] is not None and not (config.label_col is None and len(indicators) >= 2
                                              and cols["label_col"] in indicators):
        sets, names = parse_label_sets(table[cols["label_col"]], source, config.classes)
        label_cols = [cols["label_col"]]
    else:
        if len(indicators) < 2:
            raise InputError(f"{source}: --multi-label needs a label column of 'a|b' or JSON lists, or one 0/1 "
                             "column per class; found neither")
        matrix = table[indicators].fillna(0).to_numpy(dtype=np.int64)
        sets = [np.flatnonzero(r).tolist() for r in matrix]
        names = [str(c) for c in indicators]
        label_cols = list(indicators)
    return MultiLabelData(table, sets, names, source, id_col=cols["id_col"], text_col=cols["text_col"],
                          image_col=cols["image_col"], label_cols=label_cols)


def load_multilabel_probs(path, *, n_examples: int, n_classes: int, logits: bool = False) -> np.ndarray:
    """(n, k) float64 per-class probabilities from npy/csv/tsv/parquet; a sigmoid for logits.

    Values must be finite and (for probabilities) within [0, 1] up to 1e-6 (clipped).
    """
    from .data import read_npy
    from .predictions import _load_delimited, _load_parquet

    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{source}: no such file")
    ext = p.suffix.lower()
    if ext == ".npy":
        arr = read_npy(p, source, "predictions")
    elif ext in (".csv", ".tsv", ".tab"):
        arr, _ = _load_delimited(p, source, "," if ext == ".csv" else "\t")
    elif ext in (".parquet", ".pq"):
        arr, _ = _load_parquet(p, source)
    else:
        raise InputError(f"{source}: unsupported predictions file type {ext or '(none)'!r}; use .npy, .csv or .parquet")
    arr = np.asarray(arr)
    if arr.dtype.kind not in "biuf" or arr.ndim != 2:
        raise InputError(f"{source}: predictions must be a 2-D array of numbers (n examples, k classes)")
    if arr.shape != (n_examples, n_classes):
        raise InputError(f"{source}: predictions have shape {arr.shape}, the data {n_examples} examples and "
                         f"{n_classes} classes")
    out = np.array(arr, dtype=np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        r, c = divmod(int(np.argmax(bad.ravel())), n_classes)
        raise InputError(f"{source}: row {r}, column {c} is {out[r, c]}; predictions must be finite")
    if logits:
        return 1.0 / (1.0 + np.exp(-out))
    outside = (out < -1e-6) | (out > 1 + 1e-6)
    if outside.any():
        r, c = divmod(int(np.argmax(outside.ravel())), n_classes)
        raise InputError(f"{source}: row {r}, column {c} is {out[r, c]:.6g}; per-class probabilities must be in "
                         "[0, 1] (pass --logits for scores)")
    return np.clip(out, 0.0, 1.0)


def _names(sets, class_names) -> list[str]:
    return [SEP.join(class_names[c] for c in s) for s in sets]


def audit_multilabel(label_sets: list[list[int]], pred_probs: np.ndarray, class_names: list[str], method=None):
    """(examples, per_class, detection summary, accuracy) of a multi-label audit (module docstring).

    method: a core.detection.DetectionMethod (labelerrors-2021 is single-label only).
    examples: row, given_labels, predicted_labels, suggested_labels (``a|b``
    names), n_given, label_quality, is_label_issue. per_class: class, class_name,
    n_positive, n_predicted, n_issues (flagged examples whose given and suggested
    sets differ in the class), ece, mce, brier, nll, auroc. accuracy: ``accuracy``
    (predicted set == given set) and ``hamming_accuracy`` (share of right class decisions).
    """
    from cleanlab.multilabel_classification import filter as ml_filter
    from cleanlab.multilabel_classification import rank as ml_rank

    from .calibration import calibration_metrics
    from .detection import LABELERRORS_2021, DetectionMethod, lowest

    method = method or DetectionMethod()
    if method.filter_by == LABELERRORS_2021:
        raise InputError("--filter-by labelerrors-2021 is a single-label recipe; choose another for --multi-label")
    n, k = pred_probs.shape
    quality = np.asarray(ml_rank.get_label_quality_scores(label_sets, pred_probs, method=method.rank), dtype=float)
    if method.num_issues is not None:
        if method.num_issues > n:
            raise InputError(f"--num-issues {method.num_issues} is more than the {n:,} examples")
        flags = lowest(quality, method.num_issues)
    else:
        flags = np.asarray(ml_filter.find_label_issues(label_sets, pred_probs, filter_by=method.filter_by,
                                                       frac_noise=method.frac_noise, n_jobs=1), dtype=bool)
    given = np.zeros((n, k), dtype=bool)
    for i, s in enumerate(label_sets):
        given[i, s] = True
    predicted = pred_probs >= THRESHOLD
    suggested = np.where(flags[:, None], predicted, given)
    pred_sets = [np.flatnonzero(r).tolist() for r in predicted]
    sugg_sets = [np.flatnonzero(r).tolist() for r in suggested]
    examples = pd.DataFrame({
        "row": np.arange(n, dtype=np.int64),
        "given_labels": _names(label_sets, class_names),
        "predicted_labels": _names(pred_sets, class_names),
        "suggested_labels": _names(sugg_sets, class_names),
        "n_given": given.sum(axis=1).astype(np.int64),
        "label_quality": quality,
        "is_label_issue": flags,
    })
    records = []
    changed = (given != suggested) & flags[:, None]
    for c in range(k):
        p = pred_probs[:, c]
        metrics = calibration_metrics(np.column_stack([1.0 - p, p]), given[:, c].astype(np.int64))
        records.append({
            "class": c, "class_name": class_names[c], "n_positive": int(given[:, c].sum()),
            "n_predicted": int(predicted[:, c].sum()), "n_issues": int(changed[:, c].sum()),
            **{m: metrics[m] for m in ("ece", "mce", "brier", "nll", "auroc")},
        })
    detection = {**method.to_dict(), "rank_by": method.rank, "description": method.describe(),
                 "library": "cleanlab.multilabel_classification"}
    accuracy = {"accuracy": float((given == predicted).all(axis=1).mean()),
                "hamming_accuracy": float((given == predicted).mean())}
    return examples, pd.DataFrame(records), detection, accuracy


def run_multilabel_audit(config, ctx=None) -> MultiLabelReport:
    """Load, audit and summarise a multi-label dataset with predictions from a file (module docstring)."""
    from .detection import DetectionMethod

    method = DetectionMethod.from_config(config)
    if method.filter_by == "labelerrors-2021":
        raise InputError("--filter-by labelerrors-2021 is a single-label recipe; choose another for --multi-label")
    if not (config.pred_probs or config.logits):
        raise InputError("--multi-label needs --pred-probs (per-class probabilities) or --logits; "
                         "the bundled models score one label per example")
    t0 = time.perf_counter()
    data = load_multilabel(config)
    timings = {"load": time.perf_counter() - t0}
    t0 = time.perf_counter()
    probs = load_multilabel_probs(config.pred_probs or config.logits, n_examples=data.n,
                                  n_classes=len(data.class_names), logits=bool(config.logits))
    timings["predictions"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    examples, per_class, detection, accuracy = audit_multilabel(data.label_sets, probs, data.class_names, method)
    timings["audit"] = time.perf_counter() - t0
    examples.insert(1, "id", data.table[data.id_col].to_numpy() if data.id_col else np.arange(data.n))
    col = data.text_col or data.image_col
    if col is not None:
        examples[col] = data.table[col].to_numpy()
    flags = examples["is_label_issue"].to_numpy()
    summary = {
        "n_examples": data.n,
        "n_classes": len(data.class_names),
        "class_names": data.class_names,
        "multi_label": True,
        **accuracy,
        "n_label_issues": int(flags.sum()),
        "label_issue_rate": float(flags.mean()),
        "calibration": {m: _mean(per_class[m]) for m in ("ece", "mce", "brier", "nll", "auroc")},
        "calibration_per_class": per_class.to_dict(orient="records"),
        "detection": detection,
        "model": f"predictions from {Path(config.pred_probs or config.logits).name}",
        "device": "none",
        "data": data.source,
        "columns": {"labels": data.label_cols, "text": data.text_col, "image": data.image_col, "id": data.id_col},
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    return MultiLabelReport(data, probs, examples, per_class, summary)


def _mean(values) -> float | None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(v.mean()) if len(v) else None


def write_multilabel_outputs(report: MultiLabelReport, out_dir) -> dict[str, Path]:
    """summary.json, examples.parquet, flagged.csv (worst label quality first), pred_probs.npy, as one unit."""
    from .export import write_csv, write_json
    from .results_folder import replace_results

    files = {"summary": "summary.json", "examples": "examples.parquet", "flagged": "flagged.csv",
             "pred_probs": "pred_probs.npy"}

    def write(folder: Path) -> None:
        write_json(report.summary, folder / files["summary"])
        report.examples.to_parquet(folder / files["examples"], index=False)
        flagged = report.examples[report.examples["is_label_issue"].to_numpy()]
        write_csv(flagged.sort_values(["label_quality", "row"], kind="stable").reset_index(drop=True),
                  folder / files["flagged"])
        np.save(folder / files["pred_probs"], report.pred_probs, allow_pickle=False)

    written = replace_results(out_dir, write)
    return {key: written[name] for key, name in files.items()}


def class_reliability(report: MultiLabelReport, cls: int, n_bins: int = 15) -> pd.DataFrame:
    """core.calibration.reliability_bins of class ``cls`` as a binary problem ([1 - p, p] against "has the class")."""
    from .calibration import reliability_bins

    p = report.pred_probs[:, cls]
    has = np.zeros(report.data.n, dtype=np.int64)
    for i, s in enumerate(report.data.label_sets):
        has[i] = cls in s
    return reliability_bins(np.column_stack([1.0 - p, p]), has, n_bins=n_bins)


def decisions_path(data_path) -> Path:
    """Where the app keeps the review decisions of a multi-label dataset: the cache, keyed by the data's path."""
    import hashlib

    from .paths import cache_dir

    resolved = str(Path(data_path).resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    return cache_dir() / "multilabel" / f"{Path(data_path).stem}-{digest}.jsonl"


class MultiLabelReview:
    """Review decisions on a multi-label audit, one JSON line per decision, synced to disk as made.

    path: the decisions file (``.jsonl``; created when missing, read back when it
    exists: the last line of a row counts). report: the MultiLabelReport. A
    decision is a label set: ``keep`` (the given set), ``accept`` (the suggested
    set) or ``edit`` (:meth:`toggle` flips one class of the current set).
    ``queue``: the flagged rows, worst label quality first.
    """

    def __init__(self, path, report: MultiLabelReport):
        self.path = Path(path)
        self.report = report
        self.names = report.class_names
        index = {n: i for i, n in enumerate(self.names)}
        ex = report.examples
        self._given = [self._parse(s, index) for s in ex["given_labels"]]
        self._suggested = [self._parse(s, index) for s in ex["suggested_labels"]]
        self.decisions: dict[int, tuple[str, list[int]]] = {}
        if self.path.exists():
            for lineno, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    rec = json.loads(line)
                    self.decisions[int(rec["row"])] = (rec["action"], sorted(index[n] for n in rec["labels"]))
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"{self.path}: line {lineno}: not a multi-label decision") from None
        flagged = ex[ex["is_label_issue"].to_numpy()].sort_values(["label_quality", "row"], kind="stable")
        self.queue = [int(r) for r in flagged["row"]]

    @staticmethod
    def _parse(text: str, index) -> list[int]:
        return sorted(index[n] for n in text.split(SEP) if n) if text else []

    def current(self, row: int) -> list[int]:
        """The row's label set now: its decision, else the given set."""
        return list(self.decisions[row][1]) if row in self.decisions else list(self._given[row])

    def _record(self, row: int, action: str, labels: list[int]) -> list[int]:
        labels = sorted(set(labels))
        line = json.dumps({"row": int(row), "action": action, "labels": [self.names[c] for c in labels],
                           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            import os

            os.fsync(f.fileno())
        self.decisions[row] = (action, labels)
        return labels

    def keep(self, row: int) -> list[int]:
        return self._record(row, "keep", self._given[row])

    def accept(self, row: int) -> list[int]:
        return self._record(row, "accept", self._suggested[row])

    def toggle(self, row: int, cls: int) -> list[int]:
        """Flip class ``cls`` in the row's current set (InputError for a class that does not exist)."""
        if not 0 <= cls < len(self.names):
            raise InputError(f"class {cls + 1} does not exist ({len(self.names)} classes)")
        labels = set(self.current(row)) ^ {cls}
        return self._record(row, "edit", sorted(labels))

    def frozen(self) -> "MultiLabelReview":
        """A copy whose decisions stay as they are now, while this review goes on (for a background export)."""
        import copy

        out = copy.copy(self)
        out.decisions = dict(self.decisions)  # its values are replaced, never changed in place
        return out

    def cleanset(self) -> pd.DataFrame:
        """The data table plus ``given_labels``, ``corrected_labels`` (decided set, else given) and ``decision``."""
        table = self.report.data.table.copy()
        corrected = [SEP.join(self.names[c] for c in self.current(r)) for r in range(len(self._given))]
        decision = [self.decisions[r][0] if r in self.decisions else None for r in range(len(self._given))]
        for col, values in (("given_labels", self.report.examples["given_labels"].tolist()),
                            ("corrected_labels", corrected), ("decision", decision)):
            table[f"labelaudit_{col}" if col in self.report.data.table.columns else col] = values
        return table

"""Open a results folder (``labelaudit audit --out DIR``) as the run it holds, without scoring again.

``open_results(folder, ctx)`` checks the folder (its manifest
:data:`core.results_folder.MANIFEST`, then ``summary.json``, ``examples.parquet``
and ``pred_probs.npy``) and returns the :class:`core.pipeline.AuditReport` the
window shows: the dataset is the folder's examples table (given labels, ids, the
input column), the predictions its ``pred_probs.npy``, the detection options its
summary's. The audit's class-level results are recomputed by
:func:`core.pipeline.report_from_saved` (out of core when the run was), while the
per-example table and the summary are the folder's own, so every flag, label
quality and number equals the folder's. A saved recalibration is restored from
``pred_probs_recalibrated.npy``. Every problem is an InputError naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import RunContext
from .results_folder import MANIFEST, read_manifest

#: The files an audit results folder needs (optional: flagged.csv, pred_probs_recalibrated.npy).
REQUIRED = ("summary.json", "examples.parquet", "pred_probs.npy")
#: Class-name copies of the label columns, written for readers of the file; the report holds the indices.
_CLASS_COLUMNS = tuple(c.replace("_label", "_class") for c in ("given_label", "predicted_label", "suggested_label",
                                                                   "consensus_label"))
_COLUMNS = ("row", "given_label", "suggested_label", "label_quality", "is_label_issue")
#: Image paths checked for a notice when the images are gone (the first ones).
_IMAGES_CHECKED = 20


def is_results_folder(path) -> bool:
    """Whether ``path`` is a folder holding a labelaudit results manifest (any kind)."""
    p = Path(path)
    return p.is_dir() and (p / MANIFEST).is_file()


def open_results(folder, ctx: RunContext | None = None):
    """The AuditReport of the audit results in ``folder``; see the module docstring.

    Raises InputError (one line naming the file) for a folder that is not an audit
    results folder (a benchmark one included), a listed file that is missing, a damaged
    file, or files that do not fit together (rows, classes).
    """
    from .data import Dataset, read_table
    from .pipeline import AuditConfig, report_from_saved

    ctx = ctx or RunContext()
    folder = Path(folder)
    files = _check_manifest(folder)
    summary = _read_summary(folder / "summary.json")
    names = summary["class_names"]
    k = len(names)
    with ctx.stage("reading the results folder", 3) as stage:
        examples = read_table(folder / "examples.parquet")
        _check_examples(examples, folder / "examples.parquet", k)
        examples = examples.drop(columns=[c for c in _CLASS_COLUMNS if c in examples.columns])
        stage.advance(1)
        n = len(examples)
        streamed = "out_of_core" in summary
        probs_path = folder / "pred_probs.npy"
        pred_probs = _probabilities(probs_path, n, k, streamed, ctx)
        stage.advance(1)
        ctx.check_cancelled()
        cols = summary.get("columns") if isinstance(summary.get("columns"), dict) else {}
        text_col = _column(cols.get("text"), examples)
        image_col = _column(cols.get("image"), examples)
        root = _image_root(summary, folder)
        labels = examples["given_label"].to_numpy(dtype=np.int64)
        dataset = Dataset(examples, labels, list(names), str(folder), label_col="given_label", text_col=text_col,
                          image_col=image_col, id_col="id" if "id" in examples.columns else None, root=root)
        if image_col is not None:
            _notice_missing_images(dataset, ctx)
        stage.advance(1)
    config = AuditConfig(data=str(folder / "examples.parquet"),
                         label_col="given_label",
                         text_col=text_col, image_col=image_col, id_col=dataset.id_col, classes=list(names),
                         pred_probs=str(probs_path), **_detection(summary, folder / "summary.json"))
    report = report_from_saved(dataset, pred_probs, examples, summary, config, source=str(probs_path), ctx=ctx)
    if not streamed:
        _check_flags(report, examples, folder, ctx)
    if "pred_probs_recalibrated.npy" in files or "recalibration" in summary:
        report.recalibration = _recalibration(folder, summary, n, k, ctx)
    report.notices = list(ctx.notices)
    return report


def _check_manifest(folder: Path) -> list[str]:
    """The manifest's file list, after checking the folder is a complete audit results folder."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    manifest = read_manifest(folder)
    if manifest is None:
        if (folder / MANIFEST).exists():
            raise InputError(f"{folder / MANIFEST}: not a readable labelaudit results manifest")
        raise InputError(f"{folder}: not a labelaudit results folder (it has no {MANIFEST}; "
                         "`labelaudit audit DATA --out DIR` writes one)")
    kind = manifest.get("kind", "audit")
    if kind == "benchmark":
        raise InputError(f"{folder}: a benchmark results folder (labelaudit benchmark --out); "
                         "open its models in the Benchmark tab")
    if kind != "audit":
        raise InputError(f"{folder / MANIFEST}: results of kind {kind!r}, which this version cannot open")
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise InputError(f"{folder / MANIFEST}: the manifest's file list is damaged")
    for name in sorted(set(files) | set(REQUIRED)):
        if not (folder / name).is_file():
            where = "listed in the manifest but missing" if name in files else "missing"
            raise InputError(f"{folder / name}: {where}; the results folder is incomplete")
    return files


def _read_summary(path: Path) -> dict:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{path}: not a labelaudit summary (expected a JSON object)")
    names = summary.get("class_names")
    if (not isinstance(names, list) or not names or not all(isinstance(c, str) for c in names)
            or len(set(names)) != len(names)):
        raise InputError(f"{path}: class_names is missing or not a list of distinct names")
    if summary.get("multi_label"):
        raise InputError(f"{path}: a multi-label audit's results, which the window does not open yet; run "
                         "`labelaudit gui DATA --multi-label --pred-probs FILE --run` to see them")
    if not isinstance(summary.get("detection", {}), dict):
        raise InputError(f"{path}: detection is not an object")
    return summary


def _check_examples(examples: pd.DataFrame, path: Path, k: int) -> None:
    missing = [c for c in _COLUMNS if c not in examples.columns]
    if missing:
        raise InputError(f"{path}: lacks the column(s) {', '.join(missing)} of a labelaudit examples table")
    if not np.array_equal(examples["row"].to_numpy(), np.arange(len(examples))):
        raise InputError(f"{path}: the row column is not 0..n-1 in order")
    for col in ("given_label", "suggested_label"):
        values = examples[col]
        if not pd.api.types.is_integer_dtype(values.dtype):
            raise InputError(f"{path}: column {col} holds {values.dtype} values, not class indices")
        bad = np.flatnonzero((values.to_numpy() < 0) | (values.to_numpy() >= k))
        if len(bad):
            raise InputError(f"{path}: row {int(bad[0])}: {col} {int(values.iloc[bad[0]])} is not a class index "
                             f"below the {k} classes of summary.json")


def _probabilities(path: Path, n: int, k: int, streamed: bool, ctx: RunContext) -> np.ndarray:
    """pred_probs.npy: memory-mapped for an out-of-core run (its chunks are checked as they are read),
    else loaded and checked as ``--pred-probs`` is."""
    from .audit_stream import _open_npy

    arr = _open_npy(path, "predictions")
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise InputError(f"{path}: holds a {arr.ndim}-D {arr.dtype} array, not (examples, classes) probabilities")
    if arr.shape != (n, k):
        raise InputError(f"{path}: has shape {arr.shape}, but examples.parquet has {n:,} rows and summary.json "
                         f"{k} classes; the folder's files do not belong together")
    if streamed:
        return arr
    from .predictions import check_pred_probs

    return check_pred_probs(np.asarray(arr), source=str(path), n_examples=n, n_classes=k, ctx=ctx)


def _column(name, examples: pd.DataFrame) -> str | None:
    return name if isinstance(name, str) and name in examples.columns else None


def _image_root(summary: dict, folder: Path) -> Path:
    """Where relative image paths resolve: the audited table's folder when it is still there, else the results folder."""
    data = summary.get("data")
    if isinstance(data, str) and data:
        parent = Path(data).parent
        if parent.is_dir():
            return parent.resolve()
    return folder.resolve()


def _notice_missing_images(dataset, ctx: RunContext) -> None:
    paths = dataset.image_paths()[:_IMAGES_CHECKED]
    gone = [p for p in paths if not p.is_file()]
    if gone:
        ctx.notice(f"{gone[0]}: image not found (of the first {len(paths)}, {len(gone)} are missing); the audited "
                   f"images are not where the results say, so the inspector shows their paths only")


def _detection(summary: dict, path: Path) -> dict:
    """The AuditConfig detection options the run used, from summary["detection"] (``path``: summary.json)."""
    from .detection import DEFAULT_FILTER_BY, DetectionMethod

    det = summary.get("detection") or {}
    out = {"filter_by": det.get("filter_by") or DEFAULT_FILTER_BY, "rank_by": det.get("rank_by")}
    num = det.get("num_issues")
    if isinstance(num, int) and not isinstance(num, bool):
        out["num_issues"] = num
    frac = det.get("frac_noise")
    if isinstance(frac, (int, float)) and not isinstance(frac, bool) and math.isfinite(frac):
        out["frac_noise"] = float(frac)
    try:
        DetectionMethod.from_config(SimpleNamespace(**out))
    except InputError as err:
        raise InputError(f"{path}: its detection method does not fit this version ({err})") from None
    return out


def _check_flags(report, examples: pd.DataFrame, folder: Path, ctx: RunContext) -> None:
    """Say so when the recomputed audit flags other rows than the folder (the folder's are shown)."""
    again = report.audit.examples["is_label_issue"].to_numpy(dtype=bool)
    stored = examples["is_label_issue"].to_numpy(dtype=bool)
    if len(again) == len(stored) and not np.array_equal(again, stored):
        ctx.notice(f"{folder / 'examples.parquet'}: recomputing the audit from pred_probs.npy flags "
                   f"{int(again.sum()):,} examples, the folder {int(stored.sum()):,}; the folder's flags are shown")


def _recalibration(folder: Path, summary: dict, n: int, k: int, ctx: RunContext):
    """The saved recalibration (RecalibrationResult), or None with a notice when it cannot be restored."""
    from .recalibration import RecalibrationResult

    saved = summary.get("recalibration")
    path = folder / "pred_probs_recalibrated.npy"
    if not isinstance(saved, dict) or not path.is_file():
        ctx.notice(f"{folder}: the recalibration is not restored (summary.json and pred_probs_recalibrated.npy "
                   "must both hold it); apply one again in the Calibration tab")
        return None
    from .audit_stream import _open_npy

    arr = _open_npy(path, "predictions")
    if arr.shape != (n, k) or arr.dtype.kind != "f":
        raise InputError(f"{path}: has shape {arr.shape} ({arr.dtype}), expected ({n:,}, {k}) probabilities")
    try:
        numbers = {key: float(saved[key]) for key in ("ece_before", "ece_after", "nll_before", "nll_after")}
        method = str(saved["method"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{folder / 'summary.json'}: the recalibration entry lacks its method or numbers") from None
    return RecalibrationResult(method, np.asarray(arr), **numbers, details=dict(saved))

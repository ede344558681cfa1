"""Writers for the audit's output files, safe to open in a spreadsheet.

``write_outputs(report, out_dir)`` writes the files of the CLI contract
(summary.json, examples.parquet, flagged.csv, pred_probs.npy and, after a
recalibration, pred_probs_recalibrated.npy). ``flagged_table`` builds the
flagged-example table that both the CLI and the GUI's export write.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import InputError

if TYPE_CHECKING:
    from .pipeline import AuditReport

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
LABEL_COLUMNS = ("given_label", "predicted_label", "suggested_label")


def safe_csv_cell(value):
    """Return ``value`` with a leading quote if a spreadsheet would run it as a formula.

    Strings starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a
    ``'`` prefix (OWASP's CSV-injection advice); everything else is unchanged.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose text cells cannot run as spreadsheet formulas."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_csv_cell)
    out.columns = [safe_csv_cell(str(c)) for c in out.columns]
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as UTF-8 CSV with formula cells neutralised; returns the path."""
    path = Path(path)
    neutralise_formulas(df).to_csv(path, index=False)
    return path


def with_class_names(examples: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Copy of ``examples`` with the label index columns replaced by class names."""
    names = np.asarray(class_names, dtype=object)
    out = examples.copy()
    for col in LABEL_COLUMNS:
        if col in out.columns:
            out[col] = names[out[col].to_numpy()]
    return out


def flagged_table(examples: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """The flagged rows, worst label quality first, labels as class names."""
    flagged = examples[examples["is_label_issue"].to_numpy(dtype=bool)]
    flagged = flagged.sort_values(["label_quality", "row"], kind="stable")
    return with_class_names(flagged, class_names).reset_index(drop=True)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write_json(data: dict, path: str | Path) -> Path:
    """Write ``data`` as indented JSON (NaN and inf become null)."""
    path = Path(path)
    path.write_text(json.dumps(_json_safe(data), indent=2) + "\n", encoding="utf-8")
    return path


def write_outputs(report: "AuditReport", out_dir: str | Path) -> dict[str, Path]:
    """Write the audit's files into ``out_dir`` (created if missing).

    Returns {"summary": ..., "examples": ..., "flagged": ..., "pred_probs": ...,
    ["pred_probs_recalibrated": ...]} -> paths.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{out}: cannot create the output folder ({err.strerror})") from None
    if not os.access(out, os.W_OK):
        raise InputError(f"{out}: output folder is not writable")
    names = report.class_names
    paths = {
        "summary": write_json(report.summary, out / "summary.json"),
        "examples": out / "examples.parquet",
        "flagged": write_csv(flagged_table(report.examples, names), out / "flagged.csv"),
        "pred_probs": out / "pred_probs.npy",
    }
    examples = report.examples.copy()
    categories = pd.Index([str(n) for n in names])  # class names are unique (core.data checks)
    for col in LABEL_COLUMNS:
        examples[col.replace("_label", "_class")] = pd.Categorical.from_codes(examples[col].to_numpy(), categories)
    examples.to_parquet(paths["examples"], index=False)
    np.save(paths["pred_probs"], np.asarray(report.pred_probs), allow_pickle=False)
    if report.recalibration is not None:
        paths["pred_probs_recalibrated"] = out / "pred_probs_recalibrated.npy"
        np.save(paths["pred_probs_recalibrated"], report.recalibration.pred_probs, allow_pickle=False)
    return paths

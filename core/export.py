"""Writers for the audit's output files, safe to open in a spreadsheet.

``write_outputs(report, out_dir)`` writes the files of the CLI contract
(summary.json, examples.parquet, flagged.csv, pred_probs.npy and, after a
recalibration, pred_probs_recalibrated.npy). ``flagged_table`` builds the
flagged-example table that both the CLI and the GUI's export write.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd


if TYPE_CHECKING:
    from .pipeline import AuditReport

LABEL_COLUMNS = ("given_label", "predicted_label", "suggested_label", "consensus_label")

# Everything str.splitlines() breaks a line at: a reader (or a spreadsheet) may start a new row or line there.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# A line whose first visible character is one of these runs as a formula (ASCII and full-width forms).
TRIGGER_CHARS = "=+-@\uff1d\uff0b\uff0d\uff20"
# Characters a spreadsheet skips before deciding, besides whitespace (str.isspace, regex \s): the zero-width ones.
INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
_TRIGGERS = re.escape(TRIGGER_CHARS)
_INVISIBLE = "\\s" + INVISIBLE_CHARS
_RISKY_LINE = re.compile(f"[\\t\\r]|[{_INVISIBLE}]*[{_TRIGGERS}]")
_RISKY_CELL = re.compile(f"(?:\\A|[{LINE_BREAKS}])(?:[\\t\\r]|[{_INVISIBLE}]*[{_TRIGGERS}])")


def safe_csv_cell(value):
    """Return ``value`` so that no line of it can run as a spreadsheet formula.

    A string gets a ``'`` before every line (split where ``str.splitlines`` splits)
    that starts with tab or CR or whose first non-blank character is ``=``, ``+``,
    ``-`` or ``@`` (OWASP's CSV-injection advice, applied per line because a
    reader may start a new row or line at any break). Other values are returned
    unchanged, so numbers (negative ones too) stay numbers.
    """
    if not isinstance(value, str) or not _RISKY_CELL.search(value):
        return value
    return "".join("'" + line if _RISKY_LINE.match(line) else line for line in value.splitlines(keepends=True))


def neutral_cell(v):
    """One cell as neutralise_formulas leaves it: None for missing, numbers (Python's) kept,
    an infinite float or anything else as text through safe_csv_cell."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
        v = v.item() if isinstance(v, np.generic) else v
        return v if not isinstance(v, float) or math.isfinite(v) else safe_csv_cell(str(v))
    return safe_csv_cell(v if isinstance(v, str) else str(v))


def _safe_column(col: pd.Series) -> pd.Series:
    """Text-like column -> object column of neutralised strings (numbers kept, missing values blank)."""
    if isinstance(col.dtype, pd.CategoricalDtype):  # neutralise the few categories, not every cell
        names = np.array([neutral_cell(c) for c in col.cat.categories] + [None], dtype=object)
        return pd.Series(names[col.cat.codes.to_numpy()], index=col.index, dtype=object)
    return col.astype(object).map(neutral_cell)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose text cells and header cells cannot run as spreadsheet formulas."""
    out = df.copy()
    for name in out.columns:
        col = out[name]
        numeric = pd.api.types.is_numeric_dtype(col.dtype) and col.dtype != object
        if not numeric or (pd.api.types.is_float_dtype(col.dtype) and np.isinf(col.to_numpy(dtype=float)).any()):
            out[name] = _safe_column(col)  # text, or floats with -inf (a bare "-inf" reads as a formula)
    out.columns = [safe_csv_cell(str(c)) for c in out.columns]
    return out


def _plain_cell(v):
    """One cell of a row-wise table, ready for ``csv.writer`` with QUOTE_NONNUMERIC."""
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return safe_csv_cell(str(v))
    if isinstance(v, (bool, int, float)):
        return v
    return safe_csv_cell(str(v))


def write_csv(data, path: str | Path) -> Path:
    """Write a table as UTF-8 CSV that is safe to open in a spreadsheet; returns the path.

    ``data`` is a DataFrame (its columns are the header), an iterable of
    DataFrames with the same columns (a big table a part at a time: one header,
    then each part as it would be written alone), or an iterable of rows whose
    first row is the header. Every text cell, header cells included, goes through
    ``safe_csv_cell`` and is quoted (so a line break or delimiter inside it stays
    inside it); numbers are written bare, so a spreadsheet reads them as
    numbers. The file is written beside ``path`` and moved into place, so a
    reader never sees half of it and a symlink at ``path`` is replaced, not
    written through. A DataFrame is written exactly as ``pandas.to_csv`` with
    QUOTE_NONNUMERIC writes :func:`neutralise_formulas`' copy (see
    :mod:`core.csv_text`, which makes the same bytes in bulk).
    """
    from .csv_text import frame_csv_chunks

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frames = None
        if isinstance(data, pd.DataFrame):
            frames = [data]
        else:
            data = iter(data)
            first = next(data, None)
            if isinstance(first, pd.DataFrame):
                frames = itertools.chain([first], data)
            else:
                data = itertools.chain([] if first is None else [first], data)
        if frames is None:
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
                writer.writerows([_plain_cell(v) for v in row] for row in data)
        else:
            with open(tmp, "wb") as fh:
                for i, frame in enumerate(frames):
                    for part in frame_csv_chunks(frame, header=i == 0):
                        fh.write(part)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def reference_csv_bytes(df: pd.DataFrame, *, header: bool = True) -> bytes:
    """``df`` as the CSV bytes write_csv's contract defines: pandas.to_csv (QUOTE_NONNUMERIC, no index)
    of :func:`neutralise_formulas`' copy. The bulk writer falls back to this for dtypes it does not know."""
    return neutralise_formulas(df).to_csv(index=False, header=header, quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


def delimited_text(rows, delimiter: str = "\t") -> str:
    """Rows -> text for the clipboard that pastes into a spreadsheet as these cells and runs nothing.

    Each cell is flattened to one line (line breaks and the delimiter become
    spaces, since paste targets differ in how they read quoted breaks), then
    neutralised like ``write_csv``'s cells; one line per row.
    """
    flatten = str.maketrans({c: " " for c in LINE_BREAKS + delimiter})
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else safe_csv_cell(str(v).translate(flatten)) for v in row])
    return buf.getvalue().rstrip("\n")


def with_class_names(examples: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Copy of ``examples`` with the label index columns replaced by class names (categorical)."""
    from .table_filter import blank_missing

    categories = pd.Index([str(c) for c in class_names])  # unique (core.data checks)
    out = blank_missing(examples)  # -1 "none" cells (no near-duplicate set, undecided) are written empty
    for col in LABEL_COLUMNS:
        if col in out.columns:
            out[col] = pd.Categorical.from_codes(out[col].to_numpy(), categories)
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
    """Write the audit's files into ``out_dir``, replacing an earlier run's set as one unit.

    See :func:`core.results_folder.replace_results`: after a kill or a full disk the
    folder holds the complete earlier results or the complete new ones; InputError
    when ``out_dir`` is a non-empty folder that holds no labelaudit results,
    OutputError when the disk is full. Returns {"summary": ..., "examples": ...,
    "flagged": ..., "pred_probs": ..., ["pred_probs_recalibrated": ...]} -> paths.
    """
    from .results_folder import replace_results

    files = {"summary": "summary.json", "examples": "examples.parquet", "flagged": "flagged.csv",
             "pred_probs": "pred_probs.npy"}
    if report.recalibration is not None:
        files["pred_probs_recalibrated"] = "pred_probs_recalibrated.npy"
    written = replace_results(out_dir, lambda folder: _write_audit_files(report, folder, files))
    return {key: written[name] for key, name in files.items()}


def _write_audit_files(report: "AuditReport", out: Path, files: dict[str, str]) -> None:
    if hasattr(report, "write_files"):  # an out-of-core run (core.audit_stream) streams its files
        report.write_files(out)
        return
    names = report.class_names
    write_json(report.summary, out / files["summary"])
    write_csv(flagged_table(report.examples, names), out / files["flagged"])
    examples = report.examples.copy()
    categories = pd.Index([str(n) for n in names])  # class names are unique (core.data checks)
    for col in LABEL_COLUMNS:
        if col in examples.columns:
            examples[col.replace("_label", "_class")] = pd.Categorical.from_codes(examples[col].to_numpy(), categories)
    examples.to_parquet(out / files["examples"], index=False)
    np.save(out / files["pred_probs"], np.asarray(report.pred_probs), allow_pickle=False)
    if report.recalibration is not None:
        np.save(out / files["pred_probs_recalibrated"], report.recalibration.pred_probs, allow_pickle=False)

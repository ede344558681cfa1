"""What the views need from an AuditReport, prepared off the GUI thread.

:func:`prepare_results` turns a :class:`core.pipeline.AuditReport` into a
:class:`Results`: the examples as an :class:`core.table_filter.ExampleTable`,
the column list the table shows, and the default sort order and reliability
bins computed ahead of time. It knows nothing of Qt; the worker calls it right
after ``run_audit`` so the GUI thread only has to display the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from labelaudit.core.calibration import reliability_bins_of
from labelaudit.core.pipeline import AuditReport, input_column
from labelaudit.core.table_filter import ExampleTable, confidence_histogram, pair_counts, top_pairs

#: Sort the table by this column (ascending: likeliest label errors first) after a run.
DEFAULT_SORT = "label_quality"
#: Dataset columns shown beside the audit's own, at most this many.
MAX_EXTRA_COLUMNS = 6

#: Header and tooltip of every known column of AuditReport.examples.
COLUMN_INFO = {
    "is_label_issue": ("Flagged", "Flagged as a likely label error by confident learning (cleanlab)."),
    "row": ("Row", "0-based row of the example in the data file."),
    "id": ("ID", "The example's id (the id column of the data)."),
    "given_label": ("Given", "The label in the data."),
    "suggested_label": ("Suggested", "The label confident learning suggests (the predicted label for flagged examples)."),
    "predicted_label": ("Predicted", "The model's top-probability class."),
    "decided_label": ("Decided", "The label a reviewer decided (Review tab or imported validation); blank when undecided or excluded."),
    "decision": ("Decision", "The review decision that counts: keep, accept, relabel, exclude or unsure."),
    "label_quality": ("Label quality", "cleanlab's label-quality score named in the overview (default: self-confidence, the model's probability of the given label); low = likely wrong."),
    "confidence": ("Confidence", "The model's top-label probability."),
    "given_label_prob": ("P(given)", "The model's probability of the given label."),
    "class_threshold": ("Class threshold", "Confident-learning threshold of the given class: the mean probability of that class among the examples labelled with it."),
    "outlier_score": ("Outlier score (low = unusual)", "How typical the example is among the data, from cleanlab's "
                      "Datalab on the embeddings: 1 = typical, near 0 = unusual (an outlier)."),
    "is_outlier": ("Outlier", "Flagged as an outlier."),
    "near_duplicate_set": ("Near-duplicate set", "Examples with the same number are near duplicates of each other; "
                           "blank when the example has no near duplicate."),
    "human_reviewed": ("Reviewed", "A human reviewed this example (from --reviews)."),
    "is_validated_error": ("Validated error", "Human reviewers confirmed the label is wrong."),
    "consensus_label": ("Consensus", "The annotators' consensus label (CROWDLAB: annotators weighed by their quality and the model)."),
    "consensus_quality": ("Consensus quality", "How likely the consensus label is right (CROWDLAB); low = look again."),
    "annotator_agreement": ("Agreement", "Share of this example's annotators who chose the consensus label."),
    "n_annotations": ("Annotations", "How many annotators labelled this example."),
    "annotator_labels": ("Annotators' labels", "Each annotator's label of this example."),
    "confidence_recalibrated": ("Recalibrated conf.", "Top-label confidence after recalibration (out-of-sample)."),
    "p_correct": ("P(correct)", "Correctness model (--correctness): cross-fitted probability that the model's top "
                  "answer is right, from its confidence, margin, entropy (and embeddings); beside raw confidence."),
}
#: Shown first, in this order, when present.
LEADING = ("is_label_issue", "row", "id", "given_label", "suggested_label", "consensus_label", "annotator_agreement",
           "decided_label", "decision", "predicted_label",
           "label_quality", "confidence", "p_correct")
#: Review columns, filled from the project's decisions (gui.project_controller).
DECISION_COLUMNS = ("decided_label", "decision")


@dataclass
class Results:
    """The GUI's view of one AuditReport: the report plus the table and arrays its views
    draw (computed once per report).

    table: every column the examples table can show (ExampleTable).
    columns: the columns shown, in order. input_col: the text or image column (or None).
    image_root: folder relative image paths resolve against (images only).
    confusion: (k, k) counts, rows given label, columns predicted label.
    class_thresholds: (k,) confident-learning threshold per class (NaN if unknown).
    flagged_per_class: (k,) flagged examples per given class.
    top_confusions: core.table_filter.top_pairs of ``confusion`` (given, other = predicted, count).
    reliability: reliability_bins at the default 15 equal-width bins.
    confidence_hist: core.table_filter.confidence_histogram of correct vs incorrect.
    """

    report: AuditReport
    table: ExampleTable
    columns: list[str]
    input_col: str | None
    is_image: bool
    image_root: Path | None
    confusion: np.ndarray
    class_thresholds: np.ndarray
    flagged_per_class: np.ndarray
    top_confusions: pd.DataFrame
    reliability: pd.DataFrame | None = None
    confidence_hist: tuple | None = None
    notices: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return self.report.class_names

    def image_path(self, row: int) -> Path | None:
        """Path of the image of dataset row ``row`` (None for text data or a missing cell)."""
        if not self.is_image:
            return None
        value = self.table.value(self.input_col, row)
        if value is None:
            return None
        path = Path(str(value))
        if not path.is_absolute() and self.image_root is not None:
            path = self.image_root / path
        return path

    def header(self, column: str) -> tuple[str, str]:
        """(header text, tooltip) of a column."""
        if column in COLUMN_INFO:
            return COLUMN_INFO[column]
        if column == self.input_col:
            kind = "Image" if self.is_image else "Text"
            return kind, f"The {kind.lower()} column of the data ({column!r})."
        return column, f"Column {column!r} of the data file."


def prepare_results(report: AuditReport) -> Results:
    """Build the view arrays of ``report`` (heavy: run it in the worker thread)."""
    dataset = report.dataset
    examples = report.examples
    frame = examples
    extra = _extra_columns(dataset, frame)
    if extra:
        frame = pd.concat([frame, dataset.table[extra].reset_index(drop=True)], axis=1)
    in_col = input_column(dataset)
    table = ExampleTable.from_frame(frame, report.class_names, search_columns=tuple(c for c in (in_col, "id") if c))
    # review columns start empty (whole arrays, no Python per row); gui.project_controller fills them
    table.set_column("decided_label", np.full(table.n, -1, dtype=np.int64))
    table.set_column("decision", pa.nulls(table.n, pa.large_string()))

    columns = [c for c in LEADING if c in table.columns]
    if dataset.id_col is None and "id" in columns:
        columns.remove("id")  # ids are the row numbers: one column is enough
    if in_col and in_col in frame.columns:
        # the text or image right after the labels it is judged by, so it is on screen at 1280 px
        columns.insert(columns.index("suggested_label") + 1, in_col)
    columns += [c for c in table.columns if c not in columns and c not in ("id",)]

    table.sort_order(DEFAULT_SORT)  # cache the order shown first
    table.bins(15, "equal_width")  # the reliability diagram's default bins
    k = len(report.class_names)
    given, predicted = table.columns["given_label"], table.columns["predicted_label"]
    confidence = table.columns["confidence"]
    low = math.floor(20 / max(k, 1)) / 20  # top-label confidence is at least 1/k
    thresholds = np.full(k, np.nan)
    ipc = report.audit.issues_per_class
    if "threshold" in ipc.columns:
        thresholds[ipc["class"].to_numpy(dtype=np.int64)] = ipc["threshold"].to_numpy(dtype=np.float64)
    confusion = pair_counts(given, predicted, k)
    return Results(
        report=report,
        table=table,
        columns=columns,
        input_col=in_col,
        is_image=dataset.text_col is None and dataset.image_col is not None,
        image_root=dataset.root,
        confusion=confusion,
        class_thresholds=thresholds,
        flagged_per_class=np.bincount(given[table.columns["is_label_issue"]], minlength=k),
        top_confusions=top_pairs(confusion, 100),
        # from the table's columns: the (n, k) probabilities may be a memory-mapped 10M-row file
        reliability=reliability_bins_of(confidence, predicted == given, n_bins=15, strategy="equal_width"),
        confidence_hist=confidence_histogram(confidence, predicted == given, n_bins=20, low=low),
        notices=list(report.notices),
    )


def _extra_columns(dataset, examples: pd.DataFrame) -> list[str]:
    """Dataset columns worth showing beside the audit's (e.g. the demo's planted_error)."""
    used = {dataset.label_col, dataset.text_col, dataset.image_col, dataset.id_col}
    out = []
    for col in dataset.table.columns:
        if col in used or col in examples.columns or not isinstance(col, str):
            continue
        out.append(col)
        if len(out) == MAX_EXTRA_COLUMNS:
            break
    return out

"""The Multi-label tab: per-class calibration and a review of the flagged label sets.

A view over core.multilabel: the per-class table (positives, issues, ECE,
MCE, Brier, AUROC), a reliability diagram of the class chosen in the picker
(each class a binary problem), and the flagged examples worst first, where
keys 1-9 toggle a class of the current example's label set, A accepts the
suggested set, K keeps the given one and Down / Up move. Every decision is
written to disk as it is made (core.multilabel.MultiLabelReview).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.multilabel import MultiLabelReview, class_reliability, decisions_path

from . import reliability, theme
from .exporting import Exports

CLASS_COLUMNS = (("class_name", "Class"), ("n_positive", "Positives"), ("n_issues", "Issues"), ("ece", "ECE"),
                 ("mce", "MCE"), ("brier", "Brier"), ("auroc", "AUROC"))
QUEUE_COLUMNS = ("Row", "Given", "Suggested", "Decided")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


class MultiLabelTab(QWidget):
    """``show_report(report, decisions=None)`` shows a MultiLabelReport; ``failed(str)`` carries errors,
    ``status(str)`` what an export does."""

    failed = Signal(str)
    status = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report = None
        self.review: MultiLabelReview | None = None
        self.exports = Exports(self, self.status.emit, lambda reason, _details: self.failed.emit(reason))
        self.setFocusPolicy(Qt.StrongFocus)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.classes = QTableWidget(0, len(CLASS_COLUMNS))
        self.classes.setHorizontalHeaderLabels([t for _k, t in CLASS_COLUMNS])
        self.classes.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.classes.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.classes.verticalHeader().hide()
        self.classes.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.picker = QComboBox()
        self.picker.setToolTip("The class whose reliability diagram is shown (that class as a binary problem)")
        self.picker.currentIndexChanged.connect(self._show_class)
        self.classes.cellClicked.connect(lambda r, _c: self.picker.setCurrentIndex(r))
        self.plot = pg.PlotWidget(background=theme.plot_background())
        self.plot.setLabel("bottom", "confidence (15 equal-width bins)")
        self.plot.setLabel("left", "accuracy")
        self.plot.setXRange(0, 1)
        self.plot.setYRange(0, 1)
        self.class_ece = QLabel()
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.classes, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class"))
        row.addWidget(self.picker, 1)
        row.addWidget(self.class_ece)
        lv.addLayout(row)
        lv.addWidget(self.plot, 2)

        self.queue = QTableWidget(0, len(QUEUE_COLUMNS))
        self.queue.setHorizontalHeaderLabels(QUEUE_COLUMNS)
        self.queue.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.queue.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.queue.setSelectionMode(QAbstractItemView.SingleSelection)
        self.queue.verticalHeader().hide()
        self.queue.horizontalHeader().setStretchLastSection(True)
        self.queue.setFocusPolicy(Qt.NoFocus)  # the tab takes the review keys
        self.queue.currentCellChanged.connect(lambda r, *_: self._show_example(r))
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumHeight(120)
        self.current = QLabel()
        self.current.setWordWrap(True)
        self.keys = QLabel()
        theme.set_muted(self.keys)
        self.export_button = QPushButton("Export cleanset…")
        self.export_button.clicked.connect(self._export)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(QLabel("Flagged examples, worst label quality first"))
        rv.addWidget(self.queue, 1)
        rv.addWidget(self.text)
        rv.addWidget(self.current)
        rv.addWidget(self.keys)
        rv.addWidget(self.export_button, 0, Qt.AlignRight)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

    # -- showing -------------------------------------------------------------
    def show_report(self, report, decisions=None) -> None:
        """Show ``report``; review decisions go to ``decisions`` (default: core.multilabel.decisions_path)."""
        self.report = report
        self.review = MultiLabelReview(decisions or decisions_path(report.data.source), report)
        s = report.summary
        self.summary.setText(
            f"{s['n_examples']:,} examples, {s['n_classes']} classes (multi-label) · {s['n_label_issues']:,} flagged "
            f"({s['detection']['description']}) · exact-match accuracy {s['accuracy']:.4f}, Hamming "
            f"{s['hamming_accuracy']:.4f} · mean per-class ECE {_fmt(s['calibration']['ece'])}"
        )
        per_class = report.per_class
        self.classes.setRowCount(len(per_class))
        for r, rec in enumerate(per_class.to_dict(orient="records")):
            for c, (key, _t) in enumerate(CLASS_COLUMNS):
                item = QTableWidgetItem(_fmt(rec[key]))
                if key != "class_name":
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.classes.setItem(r, c, item)
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItems([f"{i + 1}. {n}" for i, n in enumerate(report.class_names)])
        self.picker.blockSignals(False)
        self._show_class(0)
        names = report.class_names[:9]
        self.keys.setText("Keys: " + ", ".join(f"{i + 1} {n}" for i, n in enumerate(names))
                          + " (toggle) · A accept suggested · K keep given · Down / Up move")
        self.queue.setRowCount(len(self.review.queue))
        for r in range(len(self.review.queue)):
            self._fill_queue_row(r)
        if self.review.queue:
            self.queue.setCurrentCell(0, 0)

    def _fill_queue_row(self, r: int) -> None:
        row = self.review.queue[r]
        ex = self.report.examples
        decided = self.review.decisions.get(row)
        values = (str(row), ex["given_labels"][row], ex["suggested_labels"][row],
                  "|".join(self.report.class_names[c] for c in decided[1]) if decided else "")
        for c, v in enumerate(values):
            self.queue.setItem(r, c, QTableWidgetItem(v))

    def _show_class(self, cls: int) -> None:
        if self.report is None or cls < 0:
            return
        bins = class_reliability(self.report, cls)
        self.plot.clear()
        reliability.draw_reliability(self.plot, bins)
        rec = self.report.per_class.iloc[cls]
        self.class_ece.setText(f"ECE {_fmt(float(rec['ece']))}")
        self.bins_shown = bins

    def _show_example(self, r: int) -> None:
        if self.review is None or not 0 <= r < len(self.review.queue):
            return
        row = self.review.queue[r]
        data = self.report.data
        col = data.text_col or data.image_col
        self.text.setPlainText(str(data.table[col].iloc[row]) if col else "")
        now = self.review.current(row)
        probs = self.report.pred_probs[row]
        self.current.setText("Now: " + ("|".join(self.report.class_names[c] for c in now) or "(no class)") + " · "
                             + ", ".join(f"{n} {probs[i]:.2f}" for i, n in enumerate(self.report.class_names[:9])))

    # -- deciding ------------------------------------------------------------
    @property
    def current_row(self) -> int | None:
        r = self.queue.currentRow()
        return self.review.queue[r] if self.review is not None and 0 <= r < len(self.review.queue) else None

    def keyPressEvent(self, event) -> None:
        row = self.current_row
        key = event.key()
        if row is None:
            return super().keyPressEvent(event)
        if Qt.Key_1 <= key <= Qt.Key_9 and key - Qt.Key_1 < len(self.report.class_names):
            self.review.toggle(row, key - Qt.Key_1)
        elif key == Qt.Key_A:
            self.review.accept(row)
            self._move(1)
        elif key == Qt.Key_K:
            self.review.keep(row)
            self._move(1)
        elif key in (Qt.Key_Down, Qt.Key_Up):
            self._move(1 if key == Qt.Key_Down else -1)
            return
        else:
            return super().keyPressEvent(event)
        r = self.review.queue.index(row)
        self._fill_queue_row(r)
        self._show_example(self.queue.currentRow())

    def _move(self, step: int) -> None:
        r = min(max(self.queue.currentRow() + step, 0), self.queue.rowCount() - 1)
        self.queue.setCurrentCell(r, 0)

    def export_cleanset(self, path: str) -> int | None:
        """Write the cleanset (data + given_labels, corrected_labels, decision) as CSV or Parquet in the
        background, with the decisions made until now; returns the export's job (see gui.exporting)."""
        from labelaudit.core.export import write_csv

        review = self.review.frozen()

        def write():
            table = review.cleanset()
            if str(path).lower().endswith(".parquet"):
                table.to_parquet(path, index=False)
            else:
                write_csv(table, path)
            return path

        return self.exports.start(path, "the cleanset", write, lambda out: f"Wrote the cleanset to {out}",
                                  cannot_write="{path}: cannot write ({reason})")

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export cleanset", "cleanset.csv", "CSV (*.csv);;Parquet (*.parquet)")
        if path:
            self.export_cleanset(path)

"""Benchmark review: several models' predictions on one test set, scored on the original
and on the corrected labels (core.benchmark.run_benchmark), as a table and a slope chart.

The benchmark runs on the thread pool (gui.worker.run_in_pool); the GUI thread
only fills the table and draws one line per model from "Original" to "Corrected".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from . import theme
from .worker import run_in_pool

PRED_FILTER = "Predictions (*.npy *.csv *.parquet);;All files (*)"
LABEL_FILTER = "Labels (*.npy *.csv *.tsv *.parquet *.jsonl);;All files (*)"
SOURCES = (
    ("Human validation file (mturk.json or review CSV)", "reviews", "Reviews (*.json *.csv *.tsv);;All files (*)"),
    ("Project review decisions (.labelaudit)", "project", "Projects (*.labelaudit);;All files (*)"),
)
CHART_METRICS = (("Rank (1 = most accurate)", "rank"), ("Accuracy", "accuracy"), ("ECE", "ece"))
TABLE_COLUMNS = (
    ("Model", "model", None),
    ("Accuracy (original)", "accuracy_original", 4),
    ("Accuracy (corrected)", "accuracy_corrected", 4),
    ("Change", "accuracy_change", 4),
    ("ECE (original)", "ece_original", 4),
    ("ECE (corrected)", "ece_corrected", 4),
    ("Rank (original)", "rank_original", 0),
    ("Rank (corrected)", "rank_corrected", 0),
    ("Rank change", "rank_change", 0),
    ("Rows (corrected)", "n_corrected", 0),
)
PALETTE = ("#3d6fe0", "#d9482b", "#2f9e58", "#e07a1f", "#8e5bd6", "#1fa2b8", "#b8860b", "#c2185b")


def _path_row(edit: QLineEdit, browse) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(browse)
    row.addWidget(button)
    return row


class BenchmarkTab(QWidget):
    """Pick a test set's labels, several models' predictions and the corrections; run; compare.

    finished(DataFrame): the benchmark table (core.benchmark.COLUMNS) after a run;
    failed(str): one-line reason.
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self._running = False

        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText("labels.npy or a table with a label column")
        self.classes_edit = QLineEdit()
        self.classes_edit.setPlaceholderText("optional: one class name per line")
        self.source_box = QComboBox()
        for title, key, _ in SOURCES:
            self.source_box.addItem(title, key)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("the file with the reviewers' verdicts")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("optional: folder for benchmark.csv and benchmark.json")

        self.models = QTableWidget(0, 2)
        self.models.setHorizontalHeaderLabels(["Model name", "Predictions file"])
        self.models.verticalHeader().hide()
        self.models.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.models.horizontalHeader().setSectionResizeMode(1, QHeaderView.Stretch)
        self.models.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.models.setMinimumHeight(90)
        self.models.setMaximumHeight(160)
        add = QPushButton("Add models…")
        add.setToolTip("Pick one or more prediction files (n x k probabilities); each becomes a model named after its file")
        add.clicked.connect(self._browse_models)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        model_buttons = QHBoxLayout()
        model_buttons.addWidget(add)
        model_buttons.addWidget(remove)
        model_buttons.addStretch(1)

        form = QFormLayout()
        form.addRow("Labels", _path_row(self.labels_edit, lambda: self._browse(self.labels_edit, "Labels", LABEL_FILTER)))
        form.addRow("Classes", _path_row(self.classes_edit, lambda: self._browse(self.classes_edit, "Classes",
                                                                                   "Text (*.txt);;All files (*)")))
        form.addRow("Corrections", self.source_box)
        form.addRow("", _path_row(self.source_edit, self._browse_source))
        form.addRow("Models", self.models)
        form.addRow("", model_buttons)
        form.addRow("Save to", _path_row(self.out_edit, self._browse_out))

        self.run_button = QPushButton("Run benchmark")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        theme.set_muted(self.status)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.status, 1)

        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _, _ in TABLE_COLUMNS])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setToolTip("Original: every row with its given label. Corrected: reviewed rows relabelled or "
                              "dropped as the reviewers decided. Accuracy is top-label; ECE uses 15 equal-width bins.")

        self.chart_metric = QComboBox()
        for title, key in CHART_METRICS:
            self.chart_metric.addItem(title, key)
        self.chart_metric.currentIndexChanged.connect(self._draw_chart)
        self.chart = pg.PlotWidget(background=theme.plot_background())
        self.chart.setMinimumSize(300, 260)
        plot = self.chart.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.15)
        plot.getAxis("bottom").setTicks([[(0, "Original labels"), (1, "Corrected labels")]])
        self.chart_items: list = []
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_row = QHBoxLayout()
        chart_row.addWidget(QLabel("Slope chart of"))
        chart_row.addWidget(self.chart_metric)
        chart_row.addStretch(1)
        chart_layout.addLayout(chart_row)
        chart_layout.addWidget(self.chart, 1)

        results = QSplitter(Qt.Horizontal)
        results.addWidget(self.table)
        results.addWidget(chart_box)
        results.setSizes([640, 560])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(run_row)
        layout.addWidget(results, 1)

    # -- inputs ---------------------------------------------------------------
    def set_inputs(self, labels, models: dict[str, str], *, classes=None, reviews=None, project=None, out=None) -> None:
        """Fill the form (for scripts and tests): labels path, {name: predictions path}, one corrections source."""
        self.labels_edit.setText(str(labels))
        self.classes_edit.setText(str(classes) if classes else "")
        self.source_box.setCurrentIndex(self.source_box.findData("project" if project else "reviews"))
        self.source_edit.setText(str(project or reviews or ""))
        self.out_edit.setText(str(out) if out else "")
        self.models.setRowCount(0)
        for name, path in models.items():
            self._add_model(name, str(path))

    def model_paths(self) -> dict[str, str]:
        """{name: predictions path} from the models table (empty rows skipped)."""
        out = {}
        for i in range(self.models.rowCount()):
            name = (self.models.item(i, 0).text() if self.models.item(i, 0) else "").strip()
            path = (self.models.item(i, 1).text() if self.models.item(i, 1) else "").strip()
            if name or path:
                out[name or Path(path).stem] = path
        return out

    def _add_model(self, name: str, path: str) -> None:
        taken = set(self.model_paths())
        base, n = name, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        i = self.models.rowCount()
        self.models.insertRow(i)
        self.models.setItem(i, 0, QTableWidgetItem(name))
        self.models.setItem(i, 1, QTableWidgetItem(path))

    def _browse(self, edit: QLineEdit, title: str, file_filter: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, edit.text() or "", file_filter)
        if path:
            edit.setText(path)

    def _browse_source(self) -> None:
        file_filter = SOURCES[self.source_box.currentIndex()][2]
        self._browse(self.source_edit, "Corrections", file_filter)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save benchmark files to", self.out_edit.text() or "")
        if path:
            self.out_edit.setText(path)

    def _browse_models(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Model predictions", "", PRED_FILTER)
        for path in paths:
            self._add_model(Path(path).stem, path)

    def _remove_selected(self) -> None:
        for i in sorted({index.row() for index in self.models.selectedIndexes()}, reverse=True):
            self.models.removeRow(i)

    # -- running --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def run(self) -> None:
        """Run core.benchmark.run_benchmark with the form's inputs on the thread pool."""
        if self._running:
            return
        labels = self.labels_edit.text().strip()
        source = self.source_edit.text().strip()
        models = self.model_paths()
        if not labels or not source or not models:
            missing = [w for w, v in (("labels", labels), ("corrections", source), ("models", models)) if not v]
            self._fail(f"Missing: {', '.join(missing)}")
            return
        kind = self.source_box.currentData()
        kwargs = {
            "classes": self.classes_edit.text().strip() or None,
            kind: source,
            "out": self.out_edit.text().strip() or None,
        }

        def job():
            from labelaudit.core.benchmark import run_benchmark

            return run_benchmark(labels, models, **kwargs)

        self._running = True
        self.run_button.setEnabled(False)
        self.status.setText(f"Scoring {len(models)} models on original and corrected labels…")
        run_in_pool(job, self._on_done, lambda reason, details="": self._fail(reason), owner=self)

    def _on_done(self, table) -> None:
        self._running = False
        self.run_button.setEnabled(True)
        self.results = table
        self._fill_table()
        self._draw_chart()
        moved = table[table["rank_change"] != 0]
        n = int(table["n_original"].iloc[0])
        kept = int(table["n_corrected"].iloc[0])
        text = (f"{len(table)} models · {kept:,} of {n:,} rows kept after corrections · "
                + (f"{len(moved)} models change rank" if len(moved) else "no model changes rank"))
        if self.out_edit.text().strip():
            text += f" · wrote benchmark.csv and benchmark.json to {self.out_edit.text().strip()}"
        self.status.setText(text)
        self.finished.emit(table)

    def _fail(self, reason: str) -> None:
        self._running = False
        self.run_button.setEnabled(True)
        self.status.setText(f"Failed: {reason}")
        self.failed.emit(reason)

    # -- drawing --------------------------------------------------------------
    def _fill_table(self) -> None:
        table = self.results
        self.table.setRowCount(len(table))
        for i, rec in enumerate(table.to_dict(orient="records")):
            for j, (_, key, digits) in enumerate(TABLE_COLUMNS):
                value = rec[key]
                if digits is None:
                    text = str(value)
                elif digits == 0:
                    text = f"{int(value):+d}" if key == "rank_change" else f"{int(value):,}"
                else:
                    text = "—" if value is None or np.isnan(value) else (
                        f"{value:+.{digits}f}" if key == "accuracy_change" else f"{value:.{digits}f}")
                item = QTableWidgetItem(text)
                if digits is not None:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if key == "model":
                    item.setToolTip(rec["predictions"])
                self.table.setItem(i, j, item)

    def chart_values(self) -> list[tuple[str, float, float]]:
        """(model, original, corrected) for the metric the chart shows."""
        if self.results is None:
            return []
        key = self.chart_metric.currentData()
        return [(r["model"], float(r[f"{key}_original"]), float(r[f"{key}_corrected"]))
                for r in self.results.to_dict(orient="records")]

    def _draw_chart(self, *_) -> None:
        plot = self.chart.getPlotItem()
        for item in self.chart_items:
            plot.removeItem(item)
        self.chart_items = []
        values = self.chart_values()
        if not values:
            return
        key = self.chart_metric.currentData()
        plot.invertY(key == "rank")  # rank 1 on top
        plot.getAxis("left").setTicks([[(r, str(r)) for r in range(1, len(values) + 1)]] if key == "rank" else None)
        plot.setLabel("left", self.chart_metric.currentText())
        fmt = (lambda v: f"{int(v)}") if key == "rank" else (lambda v: f"{v:.4f}")
        colors = {name: PALETTE[i % len(PALETTE)] for i, (name, _, _) in enumerate(values)}
        for name, before, after in values:
            line = pg.PlotDataItem([0, 1], [before, after], pen=pg.mkPen(colors[name], width=2), symbol="o",
                                   symbolSize=8, symbolBrush=colors[name], symbolPen=colors[name])
            plot.addItem(line)
            self.chart_items.append(line)
        # one label per distinct value on each side, so tied models share a label instead of overprinting
        for side, x, anchor in ((1, -0.04, (1, 0.5)), (2, 1.04, (0, 0.5))):
            groups: dict[float, list[str]] = {}
            for rec in values:
                groups.setdefault(rec[side], []).append(rec[0])
            for value, names in groups.items():
                color = colors[names[0]] if len(names) == 1 else theme.plot_foreground()
                text = f"{', '.join(names)}  {fmt(value)}" if side == 1 else f"{fmt(value)}  {', '.join(names)}"
                label = pg.TextItem(text, color=color, anchor=anchor)
                label.setPos(x, value)
                plot.addItem(label)
                self.chart_items.append(label)
        ys = [v for _, a, b in values for v in (a, b)]
        span = max(ys) - min(ys)
        pad = 0.5 if key == "rank" else max(span * 0.1, 1e-3)
        plot.setXRange(-0.6, 1.6, padding=0)
        plot.setYRange(min(ys) - pad, max(ys) + pad, padding=0)

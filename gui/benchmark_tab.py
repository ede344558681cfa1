"""Benchmark review: several models' predictions on one test set, scored on the original
and on the corrected labels (core.model_comparison.run_benchmark), as a table and a slope chart.

With lm-evaluation-harness results (core.lm_eval_benchmark) the tab also lists
the questions whose answer key looks wrong and each model's calibration
(gui.benchmark_questions), and "Review flagged questions" audits the questions
in the window (their pooled probabilities), so the Review tab works on them and
"Re-rank with review decisions" scores the models on the corrected keys.

The benchmark runs on the thread pool (gui.worker.run_in_pool); the GUI thread
only fills the table and draws one line per model from "Original" to "Corrected".
"""

from __future__ import annotations

import re
import time
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
    QTabWidget,
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
    ("None yet (lm-eval: the given keys; review the flagged questions first)", "none", ""),
)
MODES = (("Prediction files on one test set", "predictions"), ("lm-evaluation-harness results (--log_samples)", "lm_eval"))
LM_EVAL_FILTER = "lm-eval samples (*.jsonl *.json);;All files (*)"
PURPOSE = ("Compare models on a test set before and after its labels are corrected: does the ranking survive the "
           "label errors? With lm-eval results, also find the questions whose answer key looks wrong.")
CHART_METRICS = (("Rank (1 = most accurate)", "rank"), ("Accuracy", "accuracy"), ("ECE", "ece"))
TABLE_COLUMNS = (  # (header, column of benchmark.csv, digits, header tooltip): short headers fit 1280 px
    ("Model", "model", None, "Model name (the tooltip of a name shows its predictions file)"),
    ("Acc. orig.", "accuracy_original", 4, "Accuracy (original): top-label accuracy against the given labels"),
    ("Acc. corr.", "accuracy_corrected", 4, "Accuracy (corrected): against the labels the reviewers corrected"),
    ("Δ acc.", "accuracy_change", 4, "Accuracy change: corrected minus original"),
    ("ECE orig.", "ece_original", 4, "ECE (original), 15 equal-width bins"),
    ("ECE corr.", "ece_corrected", 4, "ECE (corrected), 15 equal-width bins"),
    ("Rank orig.", "rank_original", 0, "Rank (original): 1 = most accurate on the given labels"),
    ("Rank corr.", "rank_corrected", 0, "Rank (corrected): 1 = most accurate on the corrected labels"),
    ("Δ rank", "rank_change", 0, "Rank change: corrected minus original (negative = moved up)"),
    ("Rows corr.", "n_corrected", 0, "Rows (corrected): test rows left after the reviewers' decisions"),
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

    finished(DataFrame): the benchmark table (core.model_comparison.COLUMNS) after a run;
    failed(str): one-line reason.
    """

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.reviews: dict = {}  # lm-eval: task -> core.lm_eval_benchmark.TaskReview
        self._running = False

        self.purpose = QLabel(PURPOSE)
        self.purpose.setWordWrap(True)
        self.mode_box = QComboBox()
        for title, key in MODES:
            self.mode_box.addItem(title, key)
        self.mode_box.currentIndexChanged.connect(self._mode_changed)
        self.current_button = QPushButton("Use current audit")
        self.current_button.setToolTip("Labels and classes of the open dataset, its predictions as a model, and the "
                                       "project's review decisions as the corrections")
        self.current_button.clicked.connect(self.use_current)
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
        self.models.setMinimumHeight(60)
        self.models.setMaximumHeight(160)
        add = QPushButton("Add models…")
        add.setToolTip("Pick one or more prediction files (n x k probabilities), or lm-eval samples files; each "
                       "becomes a model named after its file")
        add.clicked.connect(self._browse_models)
        self.add_folder = QPushButton("Add model folder…")
        self.add_folder.setToolTip("One model's lm-eval output folder (samples_<task>_<date>.jsonl files), named "
                                   "after the folder; each task becomes its own benchmark")
        self.add_folder.clicked.connect(self._browse_model_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove_selected)
        model_buttons = QHBoxLayout()
        model_buttons.addWidget(add)
        model_buttons.addWidget(self.add_folder)
        model_buttons.addWidget(remove)
        model_buttons.addStretch(1)

        mode_row = QHBoxLayout()
        mode_row.addWidget(self.mode_box, 1)
        mode_row.addWidget(self.current_button)
        form = QFormLayout()
        self.form = form
        form.addRow("Compare", mode_row)
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
        for j, (title, _, _, tip) in enumerate(TABLE_COLUMNS):
            header = QTableWidgetItem(title)
            header.setToolTip(tip)
            self.table.setHorizontalHeaderItem(j, header)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)  # the names take what is left
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)  # a cut name keeps its end (the size: pythia-160m, -1b)
        self.table.setToolTip("Original: every row with its given label. Corrected: reviewed rows relabelled or "
                              "dropped as the reviewers decided. Accuracy is top-label; ECE uses 15 equal-width bins.")

        self.chart_metric = QComboBox()
        for title, key in CHART_METRICS:
            self.chart_metric.addItem(title, key)
        self.chart_metric.currentIndexChanged.connect(self._draw_chart)
        self.chart = pg.PlotWidget(background=theme.plot_background())
        self.chart.setMinimumSize(300, 120)
        plot = self.chart.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(y=True, alpha=0.15)
        plot.getAxis("bottom").setTicks([[(0, "Original"), (1, "Corrected")]])
        self.chart_items: list = []
        plot.getViewBox().sigResized.connect(self._fit_labels)
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
        results.setSizes([780, 480])  # the table's numbers take about 590 px, the model names the rest

        from .benchmark_questions import CalibrationView, QuestionsView

        self.task_box = QComboBox()
        self.task_box.currentIndexChanged.connect(self._show_task)
        self.review_button = QPushButton("Review flagged questions")
        self.review_button.setToolTip("Audit this task's questions in the window (pooled probabilities): the Review "
                                      "tab then works on the flagged ones (keep key, accept suggested, exclude)")
        self.review_button.clicked.connect(self.review_questions)
        self.rerank_button = QPushButton("Re-rank with review decisions")
        self.rerank_button.setToolTip("Run again with the open project's decisions as the corrected keys")
        self.rerank_button.clicked.connect(self.rerank_with_project)
        self.questions_view = QuestionsView()
        self.calibration_view = CalibrationView()
        self.lm_tabs = QTabWidget()
        self.lm_tabs.addTab(self.questions_view, "Flagged questions")
        self.lm_tabs.addTab(self.calibration_view, "Calibration per model")
        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("Task"))
        task_row.addWidget(self.task_box, 1)
        task_row.addWidget(self.review_button)
        task_row.addWidget(self.rerank_button)
        self.lm_box = QWidget()
        lm_layout = QVBoxLayout(self.lm_box)
        lm_layout.setContentsMargins(0, 0, 0, 0)
        lm_layout.addLayout(task_row)
        lm_layout.addWidget(self.lm_tabs, 1)
        self.lm_box.hide()
        body = QSplitter(Qt.Vertical)
        body.addWidget(results)
        body.addWidget(self.lm_box)
        body.setSizes([300, 400])
        layout = QVBoxLayout(self)
        layout.addWidget(self.purpose)
        layout.addLayout(form)
        layout.addLayout(run_row)
        layout.addWidget(body, 1)
        self.source_box.currentIndexChanged.connect(self._source_changed)
        self._mode_changed()

    # -- inputs ---------------------------------------------------------------
    def set_inputs(self, labels, models: dict[str, str], *, classes=None, reviews=None, project=None, out=None,
                   lm_eval: bool = False) -> None:
        """Fill the form (for scripts and tests): labels path, {name: predictions path}, one corrections source.

        lm_eval: models are lm-eval samples files or model folders (labels unused; corrections optional).
        """
        self.mode_box.setCurrentIndex(self.mode_box.findData("lm_eval" if lm_eval else "predictions"))
        self.labels_edit.setText(str(labels) if labels else "")
        self.classes_edit.setText(str(classes) if classes else "")
        source = "project" if project else ("reviews" if reviews or not lm_eval else "none")
        self.source_box.setCurrentIndex(self.source_box.findData(source))
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
        lm_eval = self.mode == "lm_eval"
        paths, _ = QFileDialog.getOpenFileNames(self, "lm-eval samples files" if lm_eval else "Model predictions", "",
                                                LM_EVAL_FILTER if lm_eval else PRED_FILTER)
        for path in paths:
            self._add_model(Path(path).parent.name if lm_eval else Path(path).stem, path)

    def _browse_model_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "One model's lm-eval output folder", "")
        if path:
            self._add_model(Path(path).name, path)

    @property
    def mode(self) -> str:
        """"predictions" (probability files on one labelled test set) or "lm_eval"."""
        return self.mode_box.currentData()

    def _mode_changed(self, *_) -> None:
        lm_eval = self.mode == "lm_eval"
        self.form.setRowVisible(1, not lm_eval)  # labels
        self.form.setRowVisible(2, not lm_eval)  # classes
        self.add_folder.setVisible(lm_eval)
        self.models.setHorizontalHeaderLabels(["Model name", "lm-eval samples file or model folder" if lm_eval
                                               else "Predictions file"])
        none = self.source_box.findData("none")
        if not lm_eval and self.source_box.currentIndex() == none:
            self.source_box.setCurrentIndex(0)
        self.lm_box.setVisible(lm_eval and bool(self.reviews))
        self._source_changed()

    def _source_changed(self, *_) -> None:
        self.form.setRowVisible(4, self.source_box.currentData() != "none")  # no file to pick for "none yet"

    def use_current(self) -> None:
        """Fill the form from the window's audit: its labels, its predictions as a model, its project's decisions."""
        window = self.window()
        report = getattr(window, "report", None)
        if report is None:
            self._fail("No audit is open: run one first (File > Open)")
            return
        from labelaudit.core.paths import cache_dir

        folder = cache_dir() / "benchmark-inputs" / (re.sub(r"[^\w.-]+", "_", Path(str(report.dataset.source)).stem)
                                                     or "data")
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "labels.npy", np.asarray(report.labels, dtype=np.int64))
        (folder / "classes.txt").write_text("\n".join(map(str, report.class_names)) + "\n", encoding="utf-8")
        preds = report.config.pred_probs or report.config.logits
        if not report.config.pred_probs:
            preds = folder / "pred_probs.npy"
            np.save(preds, np.asarray(report.pred_probs, dtype=np.float64))
        project = getattr(getattr(window, "projects", None), "project", None)
        self.mode_box.setCurrentIndex(self.mode_box.findData("predictions"))
        self.labels_edit.setText(str(folder / "labels.npy"))
        self.classes_edit.setText(str(folder / "classes.txt"))
        name = str(report.summary.get("model") or "current") if isinstance(report.summary, dict) else "current"
        if str(preds) not in self.model_paths().values():
            self._add_model(name, str(preds))
        if project is not None:
            self.source_box.setCurrentIndex(self.source_box.findData("project"))
            self.source_edit.setText(str(project.path))
        self.status.setText("Filled from the current audit: add the other models' predictions on the same rows, "
                            "then Run benchmark.")

    def _remove_selected(self) -> None:
        for i in sorted({index.row() for index in self.models.selectedIndexes()}, reverse=True):
            self.models.removeRow(i)

    # -- running --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    def run(self) -> None:
        """Run core.model_comparison.run_benchmark with the form's inputs on the thread pool."""
        if self._running:
            return
        if self.mode == "lm_eval":
            self._run_lm_eval()
            return
        labels = self.labels_edit.text().strip()
        source = self.source_edit.text().strip()
        models = self.model_paths()
        if not labels or not source or not models:
            missing = [w for w, v in (("labels", labels), ("corrections", source), ("models", models)) if not v]
            self._fail(f"Missing: {', '.join(missing)}")
            return
        kind = self.source_box.currentData()
        if kind == "none":
            self._fail("Missing: corrections (a validation file or a project)")
            return
        kwargs = {
            "classes": self.classes_edit.text().strip() or None,
            kind: source,
            "out": self.out_edit.text().strip() or None,
        }

        def job():
            from labelaudit.core.model_comparison import run_benchmark

            return run_benchmark(labels, models, **kwargs)

        self._running = True
        self.run_button.setEnabled(False)
        self.status.setText(f"Scoring {len(models)} models on original and corrected labels…")
        run_in_pool(job, self._on_done, lambda reason, details="": self._fail(reason), owner=self)

    def _run_lm_eval(self, models: dict[str, str] | None = None) -> None:
        models = models or self.model_paths()
        kind = self.source_box.currentData()
        source = self.source_edit.text().strip() if kind != "none" else ""
        if not models or (kind != "none" and not source):
            self._fail("Missing: " + ", ".join(w for w, v in (("models", models), ("corrections", kind == "none"
                                                                                    or source)) if not v))
            return
        out = self.out_edit.text().strip()
        if not out:
            from labelaudit.core.paths import cache_dir

            out = str(cache_dir() / "benchmarks" / time.strftime("%Y%m%d-%H%M%S"))
        kwargs = {kind: source} if kind != "none" else {}

        def job():
            from labelaudit.core.lm_eval_benchmark import run_lm_eval_benchmark
            from labelaudit.core.progress import RunContext

            notes: list[str] = []
            return run_lm_eval_benchmark(models, out=out, ctx=RunContext(on_notice=notes.append), **kwargs), notes

        self._running = True
        self.run_button.setEnabled(False)
        self.status.setText(f"Reading {len(models)} models' lm-eval samples and scoring them…")
        run_in_pool(job, self._on_lm_done, lambda reason, details="": self._fail(reason), owner=self)

    def _on_lm_done(self, done: tuple) -> None:
        reviews, notes = done  # task -> TaskReview, notices (skipped tasks, keys lm-eval could not score)
        self._running = False
        self.run_button.setEnabled(True)
        self.reviews = reviews
        self.task_box.blockSignals(True)
        self.task_box.clear()
        for name, review in reviews.items():
            self.task_box.addItem(f"{name} ({len(review.questions):,} questions, "
                                  f"{int(review.questions['is_flagged'].sum()):,} keys flagged)", name)
        self.task_box.blockSignals(False)
        self.lm_box.show()
        self._show_task()
        first = next(iter(reviews.values()))
        where = first.out.parent if len(reviews) > 1 else first.out
        self.status.setText(f"{len(reviews)} task(s) · {len(first.table)} models · wrote benchmark.csv, "
                            f"benchmark.json, questions.parquet and flagged.csv to {where}"
                            + (f" · {len(notes)} note(s) (hover to read)" if notes else ""))
        self.status.setToolTip("\n".join(notes))
        self.finished.emit(first.table)

    @property
    def current_review(self):
        """The TaskReview of the task shown (None before an lm-eval run)."""
        return self.reviews.get(self.task_box.currentData()) if self.reviews else None

    def _show_task(self, *_) -> None:
        review = self.current_review
        if review is None:
            return
        self.results = review.table
        self._fill_table()
        self._draw_chart()
        self.questions_view.set_review(review)
        self.calibration_view.set_calibration(review.calibration)
        self.rerank_button.setEnabled(True)

    def questions_config(self):
        """The AuditConfig that audits the shown task's questions with the models' pooled probabilities."""
        from labelaudit.core.pipeline import AuditConfig

        out = self.current_review.out
        return AuditConfig(data=str(out / "questions.parquet"), pred_probs=str(out / "pred_probs_pooled.npy"),
                           classes=str(out / "classes.txt"), label_col="label", text_col="text", id_col="id")

    def review_questions(self) -> None:
        """Audit the shown task's questions in the window; its Review tab then works on the flagged ones."""
        window = self.window()
        if self.current_review is None or not hasattr(window, "start_run"):
            self._fail("Run an lm-eval benchmark in the app's window first")
            return
        if getattr(window, "running", False):
            self._fail("An audit is running: wait for it or cancel it (Esc), then press Review flagged questions")
            return
        window.set_config(self.questions_config())
        window.start_run()
        self.status.setText("Auditing the questions: decide in the Review tab, then press Re-rank with review "
                            "decisions here.")

    def rerank_with_project(self) -> None:
        """Run the shown task again with the open project's review decisions as the corrected keys."""
        review = self.current_review
        project = getattr(getattr(self.window(), "projects", None), "project", None)
        if review is None or project is None:
            self._fail("No project is open: press Review flagged questions and decide in the Review tab first")
            return
        self.source_box.setCurrentIndex(self.source_box.findData("project"))
        self.source_edit.setText(str(project.path))
        self.out_edit.setText(str(review.out))
        self._run_lm_eval(dict(zip(review.table["model"], review.table["predictions"])))

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
            for j, (_, key, digits, _tip) in enumerate(TABLE_COLUMNS):
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
        ys = [v for _, a, b in values for v in (a, b)]
        span = max(ys) - min(ys)
        pad = 0.5 if key == "rank" else max(span * 0.1, 1e-3)
        plot.setYRange(min(ys) - pad, max(ys) + pad, padding=0)
        # one label per distinct value on each side, so tied models share a label instead of overprinting;
        # labels of close values are pushed apart to one text line each
        pixels = max(plot.getViewBox().height(), 100.0)
        gap = (self.chart.fontMetrics().height() + 2) * (span + 2 * pad) / pixels
        for side, x, anchor in ((1, -0.04, (1, 0.5)), (2, 1.04, (0, 0.5))):
            groups: dict[float, list[str]] = {}
            for rec in values:
                groups.setdefault(rec[side], []).append(rec[0])
            placed = spread(sorted(groups), gap)
            for (value, names), y in zip(sorted(groups.items()), placed):
                color = colors[names[0]] if len(names) == 1 else theme.plot_foreground()
                text = f"{', '.join(names)}  {fmt(value)}" if side == 1 else f"{fmt(value)}  {', '.join(names)}"
                label = pg.TextItem(text, color=color, anchor=anchor)
                label.setPos(x, y)
                plot.addItem(label)
                self.chart_items.append(label)
        self._fit_labels()

    def _fit_labels(self, *_) -> None:
        """Widen the x range so the longest label on each side fits beside the lines (whole names, no clipping)."""
        plot = self.chart.getPlotItem()
        labels = [item for item in self.chart_items if isinstance(item, pg.TextItem)]
        if not labels:
            return
        metrics = self.chart.fontMetrics()
        width = max(plot.getViewBox().width(), 200.0)
        left = max((metrics.horizontalAdvance(i.textItem.toPlainText()) for i in labels if i.pos().x() < 0.5),
                   default=0) + 12
        right = max((metrics.horizontalAdvance(i.textItem.toPlainText()) for i in labels if i.pos().x() > 0.5),
                    default=0) + 12
        a, b = left / width, right / width
        if a + b > 0.8:  # too narrow for whole names: share what there is
            a, b = 0.8 * a / (a + b), 0.8 * b / (a + b)
        span = 1.08 / (1 - a - b)
        plot.setXRange(-0.04 - a * span, 1.04 + b * span, padding=0)


def spread(values: list[float], gap: float) -> list[float]:
    """Label positions for sorted ``values``, at least ``gap`` apart: labels that would overlap
    form a cluster centred on their values' mean, one ``gap`` per label (drawing only)."""
    clusters: list[list] = []  # [first position, values]
    for v in values:
        clusters.append([v, [v]])
        while len(clusters) > 1:
            (p0, v0), (p1, v1) = clusters[-2], clusters[-1]
            if p0 + len(v0) * gap <= p1:
                break
            merged = v0 + v1
            centre = sum(merged) / len(merged)
            clusters[-2:] = [[centre - gap * (len(merged) - 1) / 2, merged]]
    return [p + i * gap for p, vs in clusters for i in range(len(vs))]

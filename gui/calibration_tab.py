"""The calibration lab: reliability before and after a cross-fitted recalibration,
the metric table with each estimator's convention, the paper presets, and the
LLM self-knowledge view (P(True) / P(IK) against correctness).

Everything it shows is computed by core (core.calibration,
core.calibration_estimators, core.recalibration, core.selfknowledge) on the
thread pool (gui.worker.run_in_pool), once the tab is shown; the GUI thread
only draws. Results that arrive after a newer report was set are dropped.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.calibration_estimators import PRESETS

from . import reliability, theme
from .worker import run_in_pool

METHODS = (
    ("Temperature scaling", "temperature",
     "One temperature T fitted by NLL on the log-probabilities; the predicted class never changes."),
    ("Isotonic regression", "isotonic", "One-vs-rest isotonic regression per class (scikit-learn), renormalised."),
    ("Histogram binning", "histogram", "Per-class frequency of the label in 15 equal-width probability bins."),
    ("Auto (lowest NLL)", "auto", "Fits all three on the same folds and keeps the one with the lowest cross-fitted NLL."),
)
SELF_KNOWLEDGE_KEYS = (("P(True)", "p_true"), ("P(IK)", "p_ik"))


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _cell(row: dict | None) -> str:
    """A metric as shown: its value, the smooth ECE with its interval, the signed debiased
    ECE with its standard error ("about 0" when smaller than it)."""
    if row is None:
        return ""
    value = row["value"]
    if row.get("se") is not None and value is not None:
        if row.get("about_zero"):
            return f"about 0  ({value:+.4f} ± {row['se']:.4f} SE)"
        return f"{value:+.4f}  (± {row['se']:.4f} SE)"
    text = _fmt(value)
    if row.get("interval"):
        low, high = row["interval"]
        text += f"  [{_fmt(low)}, {_fmt(high)}]"
    return text


def fitted_words(result) -> str:
    """What a RecalibrationResult fitted, in words: the temperature, the bins or the isotonic pieces."""
    d = result.details
    if result.method == "temperature" and "temperature" in d:
        return f"T = {d['temperature']:.3f}"
    if result.method == "histogram" and "n_bins" in d:
        return f"{d['n_bins']} bins per class"
    if result.method == "isotonic" and "median_pieces" in d:
        return f"median {d['median_pieces']:.0f} pieces per class"
    return ""


class ReliabilityView(pg.PlotWidget):
    """A reliability diagram: accuracy per bin as bars, the gap to the mean forecast shaded, the diagonal."""

    def __init__(self, title: str, xlabel: str = "Confidence", parent=None):
        super().__init__(parent=parent, background=theme.plot_background())
        self.base_title = title
        self.setMinimumSize(240, 220)
        plot = self.getPlotItem()
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setLabel("bottom", xlabel)
        plot.setLabel("left", "Accuracy")
        plot.setXRange(0, 1, padding=0.02)
        plot.setYRange(0, 1, padding=0.02)
        self.items: list = []
        self.show_message("")

    def _clear(self) -> None:
        for item in self.items:
            self.removeItem(item)
        self.items = []

    def show_message(self, text: str) -> None:
        """An empty diagram with ``text`` as its title."""
        self._clear()
        self.setTitle(f"{self.base_title}{' · ' + text if text else ''}")

    def show_bins(self, lower, upper, forecast, accuracy, subtitle: str = "") -> None:
        """Draw non-empty bins: edges ``lower``/``upper``, mean forecast and accuracy per bin."""
        self._clear()
        self.items = [reliability.diagonal_item(), *reliability.bin_items(lower, upper, forecast, accuracy)]
        for item in self.items:
            self.addItem(item)
        self.setTitle(f"{self.base_title}{' · ' + subtitle if subtitle else ''}")

    def show_frame(self, bins, subtitle: str = "") -> None:
        """Draw a core.calibration.reliability_bins DataFrame."""
        b = reliability.nonempty_bins(bins)
        self.show_bins(b["lower"], b["upper"], b["mean_confidence"], b["accuracy"], subtitle)


class CalibrationTab(QWidget):
    """Calibration lab for one AuditReport; see the module docstring.

    set_report(report): show a report (AuditReport or None). Apply fits the
    picked method with the report's folds and seed and emits
    ``recalibrated(RecalibrationResult)`` when done, so the window can update
    the table's confidences and the overview. ``failed(reason)`` on an error.
    """

    recalibrated = Signal(object)
    failed = Signal(str)
    busy = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report = None
        self.result = None  # the RecalibrationResult shown as "after"
        self.preset = "guo2017"
        self.before_rows: list[dict] | None = None
        self.after_rows: list[dict] | None = None
        self.self_knowledge: dict = {}
        self._generation = 0
        self._stale = False  # a report whose views were not computed yet (done when the tab shows)
        self._jobs = 0
        self._applying = False

        # controls
        self.preset_group = QButtonGroup(self)
        self.preset_group.setExclusive(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Binning:"))
        self.preset_buttons: dict[str, QPushButton] = {}
        for key, cfg in PRESETS.items():
            button = QPushButton(f"{cfg['label']} ({cfg['n_bins']} {cfg['strategy'].replace('_', '-')})")
            button.setCheckable(True)
            button.setToolTip(cfg["description"])
            button.clicked.connect(lambda _=False, k=key: self.set_preset(k))
            self.preset_group.addButton(button)
            self.preset_buttons[key] = button
            controls.addWidget(button)
        self.preset_buttons[self.preset].setChecked(True)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Recalibrate with:"))
        self.method_box = QComboBox()
        for title, key, tip in METHODS:
            self.method_box.addItem(title, key)
            self.method_box.setItemData(self.method_box.count() - 1, tip, Qt.ToolTipRole)
        controls.addWidget(self.method_box)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Fit with K-fold cross-fitting (the audit's folds and seed): every 'after' "
                                     "number is out-of-sample")
        self.apply_button.clicked.connect(self.apply)
        controls.addWidget(self.apply_button)
        controls.addStretch(1)
        self.status = QLabel(" ")
        theme.set_muted(self.status)

        # diagrams and table
        self.before_plot = ReliabilityView("Before")
        self.after_plot = ReliabilityView("After")
        plots = QSplitter(Qt.Horizontal)
        plots.addWidget(self.before_plot)
        plots.addWidget(self.after_plot)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Metric", "Before", "After (cross-fitted)"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.Stretch)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.table.setMinimumHeight(8 * 26 + 30)  # the eight metric rows without scrolling
        self.table_note = QLabel(
            "Smooth ECE [interval]: 95% normal-approximation bootstrap interval (estimate ± 1.96 × the bootstrap "
            "standard error, 100 resamples). Debiased ECE: signed, ± its bootstrap standard error; \"about 0\" when "
            "smaller than that error. Hover a row for its convention.")
        self.table_note.setWordWrap(True)
        theme.set_muted(self.table_note)
        table_box = QWidget()
        tv = QVBoxLayout(table_box)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.table, 1)
        tv.addWidget(self.table_note)

        # LLM self-knowledge
        self.sk_group = QGroupBox("LLM self-knowledge: does the model know when it is right?")
        self.sk_key_box = QComboBox()
        self.sk_key_box.currentIndexChanged.connect(self._show_self_knowledge)
        self.sk_summary = QLabel(" ")
        self.sk_summary.setWordWrap(True)
        self.sk_summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.sk_reliability = ReliabilityView("Reliability", xlabel="P(True)")
        self.sk_coverage = pg.PlotWidget(background=theme.plot_background())
        self.sk_coverage.setMinimumSize(240, 200)
        cov = self.sk_coverage.getPlotItem()
        cov.setMouseEnabled(x=False, y=False)
        cov.setMenuEnabled(False)
        cov.hideButtons()
        cov.showGrid(x=True, y=True, alpha=0.15)
        cov.setLabel("bottom", "Coverage (share answered)")
        cov.setLabel("left", "Accuracy on answered")
        cov.setTitle("Answer only when P > t")
        self.coverage_curve = cov.plot([], [], pen=pg.mkPen(theme.ACCENT, width=2), symbol="o", symbolSize=4,
                                       symbolBrush=theme.ACCENT)
        sk_layout = QVBoxLayout(self.sk_group)
        top = QHBoxLayout()
        top.addWidget(QLabel("Score:"))
        top.addWidget(self.sk_key_box)
        top.addWidget(self.sk_summary, 1)
        sk_layout.addLayout(top)
        sk_plots = QHBoxLayout()
        sk_plots.addWidget(self.sk_reliability)
        sk_plots.addWidget(self.sk_coverage)
        sk_layout.addLayout(sk_plots)
        self.sk_group.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        body = QSplitter(Qt.Vertical)
        body.addWidget(plots)
        body.addWidget(table_box)
        body.addWidget(self.sk_group)
        layout.addWidget(body, 1)
        self._update_enabled()

    # -- public ---------------------------------------------------------------
    def set_report(self, report) -> None:
        """Show ``report`` (an AuditReport, or None to clear). A recalibration it carries is shown as 'after'."""
        self._generation += 1
        self.report = report
        self.result = getattr(report, "recalibration", None) if report is not None else None
        self.before_rows = self.after_rows = None
        self.self_knowledge = {}
        self._fill_table()
        self.before_plot.show_message("computed when this tab is shown…" if report is not None else "")
        self.after_plot.show_message("")
        self.sk_group.hide()
        if report is None:
            self.status.setText(" ")
            self._update_enabled()
            return
        if self.result is not None:
            self.method_box.setCurrentIndex(max(self.method_box.findData(self.result.method), 0))
        # The metrics bootstrap (hundreds of resamples) starts when the tab is first shown, not
        # with every new report: run in the background right after an audit, it held the GIL
        # while the window showed the results.
        self._stale = True
        if self.isVisible():
            self._compute_if_stale()
        self._update_enabled()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._compute_if_stale()

    def _compute_if_stale(self) -> None:
        if self._stale and self.report is not None:
            self._stale = False
            self._compute_views()
            self._compute_self_knowledge()

    def set_preset(self, key: str) -> None:
        """Use the bins of PRESETS[key] for the diagrams and the table."""
        if key not in PRESETS:
            raise ValueError(f"unknown preset {key!r}")
        self.preset = key
        self.preset_buttons[key].setChecked(True)
        if self.report is not None and not self._stale:
            self._generation += 1
            self._compute_views()

    def apply(self) -> None:
        """Fit the picked method on the thread pool; emits ``recalibrated`` when done."""
        report = self.report
        if report is None:
            return
        method = self.method_box.currentData()
        pred_probs, labels = report.pred_probs, report.dataset.labels
        folds, seed = int(report.config.folds), int(report.config.seed)
        preset, generation = self.preset, self._generation

        def job():
            from labelaudit.core.calibration import reliability_bins
            from labelaudit.core.calibration_estimators import calibration_table
            from labelaudit.core.recalibration import recalibrate

            cfg = PRESETS[preset]
            result = recalibrate(pred_probs, labels, method, folds=folds, seed=seed)
            rows = calibration_table(result.pred_probs, labels, preset)
            bins = reliability_bins(result.pred_probs, labels, n_bins=cfg["n_bins"], strategy=cfg["strategy"])
            return result, rows, bins

        def done(out):
            self._applying = False
            self._end_job()
            if generation != self._generation:
                return
            self.result, self.after_rows, bins = out
            self.after_plot.show_frame(bins, self._after_subtitle())
            self._fill_table()
            r = self.result
            fitted = fitted_words(r)
            self.status.setText(
                f"{r.method}{' (' + fitted + ')' if fitted else ''}, {r.details['folds']}-fold cross-fitted: "
                f"ECE {r.ece_before:.4f} → {r.ece_after:.4f}, NLL {r.nll_before:.4f} → {r.nll_after:.4f}")
            self.recalibrated.emit(r)

        def failed(reason, details=""):
            self._applying = False
            self._on_failed(reason, details)

        self._applying = True
        self._start_job(f"Recalibrating ({self.method_box.currentText().lower()}, {folds}-fold cross-fitting)…")
        run_in_pool(job, done, failed, owner=self)

    # -- computing --------------------------------------------------------------
    def _compute_views(self) -> None:
        """Before (and after, when there is a result): table rows and reliability bins, off the GUI thread."""
        report, result, preset, generation = self.report, self.result, self.preset, self._generation
        pred_probs, labels = report.pred_probs, report.dataset.labels
        after_probs = result.pred_probs if result is not None else None

        def job():
            from labelaudit.core.calibration import reliability_bins
            from labelaudit.core.calibration_estimators import calibration_table

            cfg = PRESETS[preset]
            out = {}
            for name, probs in (("before", pred_probs), ("after", after_probs)):
                if probs is not None:
                    out[name] = (calibration_table(probs, labels, preset),
                                 reliability_bins(probs, labels, n_bins=cfg["n_bins"], strategy=cfg["strategy"]))
            return out

        def done(out):
            self._end_job()
            if generation != self._generation:
                return
            words = self._bin_words()
            self.before_rows, bins = out["before"]
            self.before_plot.show_frame(bins, words)
            if self.result is result:  # else an Apply finished meanwhile and drew its own 'after'
                if "after" in out:
                    self.after_rows, bins = out["after"]
                    self.after_plot.show_frame(bins, self._after_subtitle())
                else:
                    self.after_plot.show_message("pick a method and Apply")
            self._fill_table()

        self._start_job("Computing calibration metrics…")
        run_in_pool(job, done, self._on_failed, owner=self)

    def _compute_self_knowledge(self) -> None:
        score = getattr(self.report, "score", None)
        extra = getattr(score, "extra", None) or {}
        keys = [(title, key) for title, key in SELF_KNOWLEDGE_KEYS if key in extra]
        if not keys or "llm_correct" not in extra:
            return
        generation = self._generation
        arrays = {key: np.asarray(extra[key]) for _, key in keys}
        correct = np.asarray(extra["llm_correct"], dtype=bool)

        def job():
            from labelaudit.core.selfknowledge import self_knowledge_report

            return {key: self_knowledge_report(p, correct) for key, p in arrays.items()}

        def done(out):
            self._end_job()
            if generation != self._generation:
                return
            self.self_knowledge = out
            self.sk_key_box.blockSignals(True)
            self.sk_key_box.clear()
            for title, key in keys:
                self.sk_key_box.addItem(title, key)
            self.sk_key_box.blockSignals(False)
            self.sk_group.show()
            self._show_self_knowledge()

        self._start_job("Computing self-knowledge…")
        run_in_pool(job, done, self._on_failed, owner=self)

    # -- drawing ----------------------------------------------------------------
    def _bin_words(self) -> str:
        cfg = PRESETS[self.preset]
        return f"{cfg['n_bins']} {cfg['strategy'].replace('_', '-')} bins"

    def _after_subtitle(self) -> str:
        fitted = fitted_words(self.result)
        return f"{self.result.method}{' ' + fitted if fitted else ''}, cross-fitted · {self._bin_words()}"

    def _fill_table(self) -> None:
        rows = self.before_rows or self.after_rows or []
        after = {r["key"]: r for r in self.after_rows or []}
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            items = [QTableWidgetItem(row["name"]), QTableWidgetItem(_cell(row)),
                     QTableWidgetItem(_cell(after.get(row["key"])))]
            for col, item in enumerate(items):
                item.setToolTip(f"<b>{row['name']}</b><br>{row['convention']}")
                item.setData(Qt.UserRole, row["key"])
                if col:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, col, item)

    def _show_self_knowledge(self, *_):
        key = self.sk_key_box.currentData()
        rep = self.self_knowledge.get(key)
        if rep is None:
            return
        title = self.sk_key_box.currentText()
        rel = rep["reliability"]
        self.sk_reliability.getPlotItem().setLabel("bottom", title)
        self.sk_reliability.show_bins([b["lower"] for b in rel], [b["upper"] for b in rel],
                                      [b["mean_p_true"] for b in rel], [b["accuracy"] for b in rel],
                                      f"{title} vs correctness · {rep['n_bins']} equal-mass bins")
        cov = [c for c in rep["coverage"] if c["accuracy"] is not None]
        self.coverage_curve.setData([c["coverage"] for c in cov], [c["accuracy"] for c in cov])
        self.sk_coverage.getPlotItem().setTitle(f"Answer only when {title} > t")
        self.sk_summary.setText(
            f"{rep['n']:,} answers, {rep['accuracy']:.1%} correct · AUROC {_fmt(rep['auroc'], 3)} · "
            f"Brier {_fmt(rep['brier'], 4)} · ECE {_fmt(rep['ece'], 4)} (10 equal-mass bins, Kadavath 2022) · "
            f"mean {title} {_fmt(rep['mean_p_true'], 3)}")
        self.sk_summary.setToolTip(
            f"{title} is judged as a forecast of whether the answer was right: the diagram bins {title} itself "
            "(not max(p, 1 - p)); AUROC: how well it separates right from wrong answers; Brier: mean squared "
            "error against correctness.")

    # -- busy state -------------------------------------------------------------
    def _start_job(self, text: str) -> None:
        self._jobs += 1
        self.status.setText(text)
        self.busy.emit(text)
        self._update_enabled()

    def _end_job(self) -> None:
        self._jobs = max(self._jobs - 1, 0)
        if not self._jobs:
            self.busy.emit("")
            if self.status.text().endswith("…"):
                self.status.setText(" ")
        self._update_enabled()

    def _on_failed(self, reason: str, details: str = "") -> None:
        self._end_job()
        self.status.setText(f"Failed: {reason}")
        self.failed.emit(reason)

    def _update_enabled(self) -> None:
        self.apply_button.setEnabled(self.report is not None and not self._applying)

    @property
    def running(self) -> bool:
        """True while a computation is on the thread pool."""
        return self._jobs > 0

"""Interactive plots linked to the results state (pyqtgraph).

- :class:`ReliabilityPlot`: per-bin accuracy against confidence with the
  diagonal, Wilson intervals and bin counts; clicking a bin filters the table
  to that bin's examples.
- :class:`ConfidencePlot`: confidence histogram of correct and incorrect
  predictions; clicking a bar (or dragging the shaded range) filters by confidence.
- :class:`ConfusionPlot`: given x predicted counts (or cleanlab's noise matrix);
  hovering a cell shows given -> predicted and its count, clicking it filters
  the table to that pair; beside it the top confusions, largest first.

Every plot draws what core computed (core.calibration.reliability_bins,
core.table_filter.confidence_histogram / pair_counts, AuditResult.noise_matrix)
and exports itself to PNG or SVG with pyqtgraph's exporters.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers the exporters)
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QPainter, QPen
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.calibration import ece_from_bins, reliability_bins
from labelaudit.core.table_filter import row_shares

from . import reliability, theme
from . import state as state_module
from .turns import later
from .worker import run_in_pool

STRATEGIES = (("Equal width", "equal_width"), ("Equal mass", "equal_mass"))


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


class PlotPanel(QWidget):
    """A plot with a row of controls above it and a one-line readout below it."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.controls = QHBoxLayout()
        self.controls.setContentsMargins(4, 2, 4, 2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(280, 240)
        # a QGraphicsView's size hint follows its scene rect; ignore it so a redraw never re-lays out the window
        self.graphics.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        self.readout = QLabel(" ")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        # fixed size: a new text must not re-layout the window (hover updates it often)
        self.readout.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.readout.setFixedHeight(self.readout.fontMetrics().lineSpacing() * 2 + 6)
        self.readout.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        theme.set_muted(self.readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(self.controls)
        # the plot appears once it has something to show (an empty plot would cost a paint for nothing)
        self.placeholder = QLabel("The plot appears here once an audit has run.")
        self.placeholder.setAlignment(Qt.AlignCenter)
        theme.set_muted(self.placeholder)
        self.view_stack = QStackedWidget()
        self.view_stack.addWidget(self.placeholder)
        self.view_stack.addWidget(self.graphics)
        self.view_stack.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Ignored)
        layout.addWidget(self.view_stack, 1)
        layout.addWidget(self.readout)
        scene = self.graphics.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_mouse_clicked)
        self._dirty = False
        state.results_changed.connect(self._on_results)
        state.filter_changed.connect(self._on_filter)

    # Drawing is deferred: plots in hidden tabs draw when first shown, a visible
    # one in a later event-loop turn (gui.turns), so that the table and the plot
    # are painted in separate turns (each stays short; see gui.worker.StallMeter).
    def invalidate(self) -> None:
        """Redraw soon if visible, else when next shown."""
        self._dirty = True
        if self.isVisible():
            later(self.refresh, self, key=(id(self), "refresh"))

    def refresh(self) -> None:
        """Redraw if something changed since the last draw."""
        if self._dirty:
            self._dirty = False
            self._draw()
            if self.state.results is None:
                self.view_stack.setCurrentWidget(self.placeholder)
            elif self.view_stack.currentWidget() is not self.graphics:
                # the plot's first paint (its layout, axes and text) in a turn of its own
                later(self._show_graphics, self, key=(id(self), "show"))

    def _show_graphics(self) -> None:
        if self.state.results is not None:
            self.view_stack.setCurrentWidget(self.graphics)
            # lay out, place the view boxes and build the items' lazy paths (pyqtgraph does it on the first
            # boundingRect) now: left to the first paint, they would change the scene and cost a second paint
            self.graphics.ci.layout.activate()
            scene = self.graphics.scene()
            scene.prepareForPaint()
            for item in scene.items():
                item.boundingRect()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.refresh()

    def changeEvent(self, event) -> None:
        """Follow a light/dark switch of the system palette."""
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:
            self.apply_colors()
            self.invalidate()

    def apply_colors(self) -> None:
        """Background, axes and titles in the current palette's colours."""
        fg = theme.plot_foreground()
        self.graphics.setBackground(theme.plot_background())
        for item in self.graphics.ci.items:
            if isinstance(item, pg.PlotItem):
                for name in ("left", "bottom"):
                    axis = item.getAxis(name)
                    axis.setPen(fg)
                    axis.setTextPen(fg)
                item.titleLabel.setAttr("color", fg)

    @staticmethod
    def _style_plot(plot: pg.PlotItem) -> None:
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.showGrid(x=True, y=True, alpha=0.15)

    def export(self, path: str | Path) -> Path:
        """Write the plot to ``path``: .svg as vector graphics, anything else as a PNG image."""
        path = Path(path)
        self.refresh()
        scene = self.graphics.scene()
        if path.suffix.lower() == ".svg":
            # pyqtgraph's SVGExporter cannot parse the paths Qt >= 6.8 writes (pyqtgraph issue #3485);
            # Qt's own generator renders the same scene as vector graphics.
            rect = self.graphics.viewport().rect()
            gen = QSvgGenerator()
            gen.setFileName(str(path))
            gen.setSize(rect.size())
            gen.setViewBox(rect)
            gen.setTitle(self.plot_title())
            painter = QPainter(gen)
            self.graphics.render(painter, QRectF(rect), rect)
            painter.end()
        else:
            exporter = pg.exporters.ImageExporter(scene)
            exporter.parameters()["width"] = max(1200, int(self.graphics.width() * 2))
            exporter.export(str(path))
        return path

    def plot_title(self) -> str:
        return "labelaudit plot"

    def _data_pos(self, plot: pg.PlotItem, scene_pos) -> QPointF | None:
        vb = plot.getViewBox()
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        return vb.mapSceneToView(scene_pos)

    # subclasses implement these
    def _on_results(self, results) -> None: ...

    def _draw(self) -> None: ...

    def _on_filter(self, flt) -> None: ...

    def _on_mouse_moved(self, scene_pos) -> None: ...

    def _on_mouse_clicked(self, event) -> None: ...


class ReliabilityPlot(PlotPanel):
    """Reliability diagram of the top-label confidence, with a bin-count strip below."""

    bins_changed = Signal(object)  # the reliability_bins DataFrame now shown

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.bins_spin = QSpinBox()
        self.bins_spin.setRange(2, 100)
        self.bins_spin.setValue(15)
        self.bins_spin.setToolTip("Number of confidence bins (15 is the ECE convention)")
        self.strategy_box = QComboBox()
        for title, key in STRATEGIES:
            self.strategy_box.addItem(title, key)
        self.strategy_box.setToolTip(
            "Equal width: bins of the same confidence range over [0, 1].\n"
            "Equal mass: bins holding the same number of examples."
        )
        self.controls.addWidget(QLabel("Bins"))
        self.controls.addWidget(self.bins_spin)
        self.controls.addWidget(self.strategy_box)
        self.controls.addStretch(1)
        hint = QLabel("Click a bin to filter the table")
        theme.set_muted(hint)
        self.controls.addWidget(hint)

        self.plot = self.graphics.addPlot(row=0, col=0)
        self.counts_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 3)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        for p in (self.plot, self.counts_plot):
            self._style_plot(p)
        self.counts_plot.setXLink(self.plot)
        self.plot.setLabel("left", "Accuracy")
        self.counts_plot.setLabel("left", "Count")
        self.counts_plot.setLabel("bottom", "Confidence (top-label probability)")
        self.plot.getAxis("bottom").setStyle(showValues=False)
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        for p in (self.plot, self.counts_plot):  # the same width, so the two x axes line up
            p.getAxis("left").setWidth(52)
        self.diagonal = pg.PlotCurveItem([0, 1], [0, 1])
        self.plot.addItem(self.diagonal)
        self._items: list = []
        self.bins = None
        self._n_bins, self._strategy = 15, "equal_width"
        self._cache: dict = {}
        self._pending: set = set()  # binnings being computed on the thread pool
        self.bins_spin.valueChanged.connect(self._on_binning)
        self.strategy_box.currentIndexChanged.connect(self._on_binning)

    # -- data -----------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        return self._n_bins

    @property
    def strategy(self) -> str:
        return self._strategy

    def _on_results(self, results) -> None:
        self._cache, self._pending = {}, set()
        if results is not None and results.reliability is not None:
            self._cache[(15, "equal_width")] = results.reliability
        self.bins_spin.blockSignals(True)
        self.bins_spin.setValue(15)
        self.bins_spin.blockSignals(False)
        self.strategy_box.blockSignals(True)
        self.strategy_box.setCurrentIndex(0)
        self.strategy_box.blockSignals(False)
        self._n_bins, self._strategy = 15, "equal_width"
        self.invalidate()

    def _on_binning(self, *_):
        self._n_bins = self.bins_spin.value()
        self._strategy = self.strategy_box.currentData()
        flt = self.state.filter
        if flt.bin is not None:  # the old bin means nothing under the new binning
            self.state.clear_filter("bin")
        self.invalidate()

    def _bins_frame(self):
        report = self.state.report
        if report is None:
            return None
        key = (self._n_bins, self._strategy)
        if key not in self._cache:
            table = self.state.table
            if table is not None and table.n >= state_module.ASYNC_SORT_ROWS:  # seconds at 10M rows: thread pool
                self._bins_in_pool(report, key)
                return None
            self._cache[key] = reliability_bins(report.pred_probs, report.labels, n_bins=key[0], strategy=key[1])
        return self._cache[key]

    def _bins_in_pool(self, report, key) -> None:
        """Compute the bins ``key`` (n_bins, strategy) of a big report on the thread pool; redraw when they come."""
        if key in self._pending:
            return
        self._pending.add(key)

        def done(bins) -> None:
            self._pending.discard(key)
            if self.state.report is report:
                self._cache[key] = bins
                if key == (self._n_bins, self._strategy):
                    self.invalidate()

        run_in_pool(lambda: reliability_bins(report.pred_probs, report.labels, n_bins=key[0], strategy=key[1]),
                    done, lambda *_: self._pending.discard(key), owner=self)

    def _draw(self) -> None:
        for item in self._items:
            item.getViewBox().removeItem(item) if item.getViewBox() else None
        self._items = []
        self.bins = bins = self._bins_frame()
        if bins is None:
            self.plot.setTitle("")
            self.readout.setText("Computing the bins…" if self._pending else " ")
            self.bins_changed.emit(None)
            return
        self.diagonal.setPen(pg.mkPen(theme.plot_foreground(), width=1, style=Qt.DashLine))
        b = reliability.nonempty_bins(bins)
        lower, upper = reliability.visible_edges(b["lower"], b["upper"])
        acc, conf = b["accuracy"].to_numpy(), b["mean_confidence"].to_numpy()
        fg = theme.plot_foreground()
        bars, gap = reliability.bin_items(lower, upper, conf, acc)
        centers = (lower + upper) / 2
        err = pg.ErrorBarItem(
            x=centers, y=acc, top=b["wilson_high"].to_numpy() - acc, bottom=acc - b["wilson_low"].to_numpy(),
            beam=min(0.012, float(np.min(upper - lower)) / 3 if len(upper) else 0.01), pen=pg.mkPen(fg, width=1),
        )
        counts = pg.BarGraphItem(x0=lower, x1=upper, height=b["count"].to_numpy(), brush=theme.color(fg, 90), pen=pg.mkPen(theme.color(fg, 140)))
        for item, plot in ((bars, self.plot), (gap, self.plot), (err, self.plot), (counts, self.counts_plot)):
            plot.addItem(item)
            self._items.append(item)
        self.counts_plot.setYRange(0, max(1, int(b["count"].max())), padding=0.05)
        self._draw_selection()
        cal = self.state.report.calibration
        ece = cal.get("ece") if self._n_bins == 15 and self._strategy == "equal_width" else ece_from_bins(bins)
        self.plot.setTitle(f"ECE {_fmt(ece)}", size="10pt")
        self.readout.setText(self._caption())
        self.bins_changed.emit(bins)

    def _caption(self) -> str:
        """The readout when the mouse is elsewhere: the filtered bin, else the legend."""
        flt = self.state.filter
        if self.bins is not None and flt.bin is not None and flt.bin[1:] == (self._n_bins, self._strategy):
            return self.bin_text(flt.bin[0])
        return "Bars: accuracy per bin · red: gap to mean confidence · whiskers: 95% Wilson interval"

    def _draw_selection(self) -> None:
        sel = getattr(self, "_sel_item", None)
        if sel is not None:
            self.plot.removeItem(sel)
            self._sel_item = None
        flt = self.state.filter
        if self.bins is None or flt.bin is None or flt.bin[1:] != (self._n_bins, self._strategy):
            return
        row = self.bins.iloc[flt.bin[0]]
        if row["count"] == 0:
            return
        lo, hi = reliability.visible_edges([row["lower"]], [row["upper"]])
        self._sel_item = pg.BarGraphItem(
            x0=lo, x1=hi, y0=[0], y1=[1], brush=theme.color(theme.SUGGESTED, 40), pen=pg.mkPen(theme.SUGGESTED, width=2)
        )
        self.plot.addItem(self._sel_item)

    def _on_filter(self, flt) -> None:
        if self.bins is not None and not self._dirty:
            self._draw_selection()
            self.readout.setText(self._caption())

    # -- interaction ----------------------------------------------------------
    def bin_at(self, x: float) -> int | None:
        """The non-empty bin drawn at confidence ``x`` (nearest one for gaps between equal-mass bins)."""
        self.refresh()
        if self.bins is None:
            return None
        b = self.bins
        ok = b["count"].to_numpy() > 0
        if not ok.any():
            return None
        lower, upper = reliability.visible_edges(b["lower"], b["upper"])
        dist = np.where(ok, np.maximum(lower - x, 0) + np.maximum(x - upper, 0), np.inf)
        best = int(np.argmin(dist))
        return best if dist[best] < 0.05 else None

    def bin_text(self, index: int) -> str:
        r = self.bins.iloc[index]
        return (
            f"Bin {index + 1} of {self._n_bins}: confidence {_fmt(r['lower'])}–{_fmt(r['upper'])} · "
            f"{int(r['count']):,} examples · accuracy {_fmt(r['accuracy'])} "
            f"(95% CI {_fmt(r['wilson_low'])}–{_fmt(r['wilson_high'])}) · mean confidence {_fmt(r['mean_confidence'])} · "
            f"gap {_fmt(r['gap'])}"
        )

    def click_bin(self, index: int) -> None:
        """What a click on bin ``index`` does: filter the table to it (again: clear that filter)."""
        self.refresh()
        key = (int(index), self._n_bins, self._strategy)
        if self.state.filter.bin == key:
            self.state.clear_filter("bin")
        else:
            self.state.update_filter(bin=key)

    def bin_scene_pos(self, index: int):
        """Scene position of the middle of bin ``index``'s bar (for tests and screenshots)."""
        self.refresh()
        r = self.bins.iloc[index]
        y = r["accuracy"] / 2 if r["accuracy"] > 0.1 else 0.5
        return self.plot.getViewBox().mapViewToScene(QPointF((r["lower"] + r["upper"]) / 2, y))

    def _on_mouse_moved(self, scene_pos) -> None:
        for plot in (self.plot, self.counts_plot):
            pos = self._data_pos(plot, scene_pos)
            if pos is not None:
                index = self.bin_at(pos.x())
                if index is not None:
                    text = self.bin_text(index)
                    self.readout.setText(text)
                    QToolTip.showText(QCursor.pos(), text.replace(" · ", "\n"), self.graphics)
                    return
        QToolTip.hideText()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        for plot in (self.plot, self.counts_plot):
            pos = self._data_pos(plot, event.scenePos())
            if pos is not None:
                index = self.bin_at(pos.x())
                if index is not None:
                    self.click_bin(index)
                    event.accept()
                return


class ConfidencePlot(PlotPanel):
    """Histogram of top-label confidence for correct and incorrect predictions."""

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Logarithmic count axis (makes the rarer incorrect predictions visible)")
        self.controls.addWidget(self.log_box)
        self.controls.addStretch(1)
        hint = QLabel("Click a bar or drag the range to filter")
        theme.set_muted(hint)
        self.controls.addWidget(hint)
        self.plot = self.graphics.addPlot()
        self._style_plot(self.plot)
        self.plot.setLabel("bottom", "Confidence (top-label probability)")
        self.plot.setLabel("left", "Examples")
        self.legend = self.plot.addLegend(offset=(10, 10))
        self.right = pg.PlotCurveItem([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, brush=theme.color(theme.CORRECT, 90), pen=pg.mkPen(theme.CORRECT, width=1.5), name="correct")
        self.wrong = pg.PlotCurveItem([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, brush=theme.color(theme.WRONG, 110), pen=pg.mkPen(theme.WRONG, width=1.5), name="incorrect")
        self.plot.addItem(self.right)
        self.plot.addItem(self.wrong)
        self.legend.addItem(self.right, "correct (predicted = given)")
        self.legend.addItem(self.wrong, "incorrect")
        self.region = pg.LinearRegionItem(brush=theme.color(theme.SUGGESTED, 45), pen=pg.mkPen(theme.SUGGESTED, width=2))
        self.region.setZValue(-10)
        self.region.hide()
        self.plot.addItem(self.region)
        self.region.sigRegionChangeFinished.connect(self._on_region)
        self.log_box.toggled.connect(self.invalidate)
        self.hist = None

    def _on_results(self, results) -> None:
        self.hist = results.confidence_hist if results is not None else None
        self.invalidate()

    def _draw(self, *_):
        self._on_filter(self.state.filter)
        if self.hist is None:
            self.right.setData([0, 1], [0])
            self.wrong.setData([0, 1], [0])
            return
        edges, right, wrong = self.hist
        log = self.log_box.isChecked()
        f = (lambda c: np.log10(c + 1.0)) if log else (lambda c: c.astype(float))
        self.right.setData(edges, f(right))
        self.wrong.setData(edges, f(wrong))
        self.plot.setLabel("left", "log10(examples + 1)" if log else "Examples")
        self.plot.setXRange(edges[0], edges[-1], padding=0.02)
        self.readout.setText(
            f"{int(right.sum()):,} correct · {int(wrong.sum()):,} incorrect (top-label prediction vs the given label)"
        )

    def _on_filter(self, flt) -> None:
        if flt.confidence is None:
            self.region.hide()
            return
        self.region.blockSignals(True)
        self.region.setRegion(flt.confidence)
        self.region.blockSignals(False)
        self.region.show()

    def _on_region(self, *_):
        lo, hi = self.region.getRegion()
        self.state.update_filter(confidence=(round(float(lo), 4), round(float(hi), 4)))

    def bar_at(self, x: float) -> int | None:
        if self.hist is None:
            return None
        edges = self.hist[0]
        if not edges[0] <= x <= edges[-1]:
            return None
        return int(min(np.searchsorted(edges, x, side="right") - 1, len(edges) - 2))

    def _on_mouse_moved(self, scene_pos) -> None:
        pos = self._data_pos(self.plot, scene_pos)
        i = self.bar_at(pos.x()) if pos is not None else None
        if i is None:
            return
        edges, right, wrong = self.hist
        total = right[i] + wrong[i]
        text = (
            f"confidence {edges[i]:.3f}–{edges[i + 1]:.3f}: {int(right[i]):,} correct, {int(wrong[i]):,} incorrect"
            + (f" ({wrong[i] / total:.1%} incorrect)" if total else "")
        )
        self.readout.setText(text)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton or event.isAccepted():
            return
        pos = self._data_pos(self.plot, event.scenePos())
        i = self.bar_at(pos.x()) if pos is not None else None
        if i is not None:
            edges = self.hist[0]
            rng = (float(edges[i]), float(edges[i + 1]))
            if self.state.filter.confidence == rng:
                self.state.clear_filter("confidence")
            else:
                self.state.update_filter(confidence=rng)


class ConfusionPlot(PlotPanel):
    """Heatmap of given label (rows) against predicted label, or cleanlab's noise matrix."""

    MODES = (
        ("Given × predicted: counts", "counts"),
        ("Given × predicted: % of given", "row"),
        ("Noise matrix P(given | true)", "noise"),
    )

    def __init__(self, state, parent=None):
        super().__init__(state, parent)
        self.mode_box = QComboBox()
        for title, key in self.MODES:
            self.mode_box.addItem(title, key)
        self.mode_box.setToolTip(
            "Counts: how often each given label meets each predicted label.\n"
            "% of given: the same, as a share of the given label's examples.\n"
            "Noise matrix: cleanlab's estimate of P(given label | true label); clicking filters given → suggested."
        )
        self.controls.addWidget(self.mode_box)
        self.controls.addStretch(1)
        hint = QLabel("Click a cell to filter")
        theme.set_muted(hint)
        self.controls.addWidget(hint)
        self.plot = self.graphics.addPlot()
        self._style_plot(self.plot)
        self.plot.showGrid(x=False, y=False)
        self.plot.invertY(True)
        self.plot.setAspectLocked(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.cell_labels = CellLabels()
        self.plot.addItem(self.cell_labels)
        self._sel = QGraphicsRectItem()
        self._sel.setPen(QPen(QColor(theme.SUGGESTED), 0.08))
        self._sel.hide()
        self.plot.addItem(self._sel)
        self._hover = QGraphicsRectItem()  # outlines the hovered cell: at 100 classes a cell is a few pixels
        pen = QPen(QColor(theme.ACCENT), 0)  # width 0: one device pixel at any zoom
        self._hover.setPen(pen)
        self._hover.hide()
        self.plot.addItem(self._hover)
        self.values = None
        self.mode_box.currentIndexChanged.connect(self.invalidate)
        # the largest off-diagonal cells as a list beside the heatmap: at 100 classes a cell is a few pixels
        self.top_list = QTableWidget(0, 3)
        self.top_list.setHorizontalHeaderLabels(["Given", "Predicted", "Count"])
        self.top_list.verticalHeader().hide()
        self.top_list.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.top_list.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.top_list.setSelectionMode(QAbstractItemView.SingleSelection)
        self.top_list.setWordWrap(False)
        hh = self.top_list.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.Stretch)
        hh.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.top_list.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.top_list.setToolTip("The most frequent given → predicted confusions, largest first; click one to "
                                 "filter the table to it (again to clear)")
        self.top_list.cellClicked.connect(self._top_clicked)
        top_box = QWidget()
        tv = QVBoxLayout(top_box)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.setSpacing(2)
        title = QLabel("Top confusions")
        title.setObjectName("sectionTitle")
        tv.addWidget(title)
        tv.addWidget(self.top_list, 1)
        top_box.setMinimumHeight(120)
        # below the heatmap, full width: beside it, both were too narrow to read in a 420 px pane
        split = QSplitter(Qt.Vertical)
        split.setChildrenCollapsible(False)
        layout = self.layout()
        index = layout.indexOf(self.view_stack)
        layout.removeWidget(self.view_stack)
        split.addWidget(self.view_stack)
        split.addWidget(top_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([750, 250])  # kept in proportion as the pane resizes
        layout.insertWidget(index, split, 1)
        self.split = split
        self.plot.getViewBox().sigResized.connect(self._set_ticks)

    @property
    def mode(self) -> str:
        return self.mode_box.currentData()

    def _on_results(self, results) -> None:
        self._top_pending = True  # filled when drawn, i.e. once the tab is visible
        self.invalidate()

    def _fill_top(self, results) -> None:
        """List results.top_confusions (core.table_filter.top_pairs), largest first."""
        self.top_list.setRowCount(0)
        if results is None:
            return
        names = results.class_names
        top = results.top_confusions
        self.top_list.setRowCount(len(top))
        for r, (g, p, n) in enumerate(top[["given", "other", "count"]].itertuples(index=False)):
            for c, text in enumerate((names[g], names[p], f"{int(n):,}")):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, (int(g), int(p)))
                item.setToolTip(f"given {names[g]!r} → predicted {names[p]!r}: {int(n):,} examples")
                if c == 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.top_list.setItem(r, c, item)

    def _top_clicked(self, row: int, _col: int) -> None:
        g, p = self.top_list.item(row, 0).data(Qt.UserRole)
        if self.state.filter.given_predicted == (g, p):
            self.state.clear_filter("given_predicted")
        else:
            self.state.update_filter(given_predicted=(g, p), given_suggested=None)

    def matrix(self) -> np.ndarray | None:
        results = self.state.results
        if results is None:
            return None
        if self.mode == "noise":
            return np.asarray(results.report.audit.noise_matrix, dtype=float)
        if self.mode == "row":
            return row_shares(results.confusion)
        return results.confusion.astype(float)

    def _draw(self, *_):
        if getattr(self, "_top_pending", False):
            self._top_pending = False
            self._fill_top(self.state.results)
        self.values = m = self.matrix()
        if m is None:
            self.image.clear()
            self.cell_labels.set_labels(0, [], np.zeros(0, bool), theme.plot_foreground())
            return
        k = m.shape[0]
        off = ~np.eye(k, dtype=bool)
        scale = m[off].max() if k > 1 and m[off].max() > 0 else max(m.max(), 1e-12)
        norm = np.clip(m / scale, 0, 1) ** 0.5  # square root: small confusions stay visible
        bg, fg, accent = theme.plot_background(), theme.plot_foreground(), QColor(theme.ACCENT)
        cmap = pg.ColorMap([0.0, 0.55, 1.0], [bg, accent, QColor(theme.WRONG)])
        rgba = cmap.map(norm.ravel(), mode="byte").reshape(k, k, 4)
        # the diagonal (agreement) in a neutral grey between background and text colour
        diag = [round(0.82 * a + 0.18 * b) for a, b in zip(bg.getRgb()[:3], fg.getRgb()[:3])]
        idx = np.arange(k)
        rgba[idx, idx] = [*diag, 255]
        self.image.setImage(rgba, levels=None, autoLevels=False)
        self.image.setRect(QRectF(0, 0, k, k))
        self.plot.setXRange(0, k, padding=0.01)
        self.plot.setYRange(0, k, padding=0.01)
        self._set_ticks()
        noise = self.mode == "noise"
        self.plot.setLabel("left", "Given label")
        if k <= 12:
            texts = []
            for i in range(k):
                for j in range(k):
                    v = m[i, j]
                    if (not noise and v == 0) or (noise and v < 0.005):
                        texts.append("·")
                    else:
                        texts.append(f"{v:.2f}" if noise else (f"{v:.0%}" if self.mode == "row" else f"{int(v):,}"))
            light = (norm > 0.6) & ~np.eye(k, dtype=bool)  # dark cells get white text
            self.cell_labels.set_labels(k, texts, light.ravel(), fg)
        else:
            self.cell_labels.set_labels(0, [], np.zeros(0, bool), fg)
        self.plot.setTitle("P(given | true), cleanlab" if noise else "Given × predicted", size="10pt")
        self.readout.setText("Colour scale: off-diagonal cells (square-root); the diagonal is grey")
        self._on_filter(self.state.filter)

    def _set_ticks(self, *_) -> None:
        """Class names on the axes, as many as fit without overlapping: every step-th class, the
        step from the pixels per cell; the bottom axis shows class numbers once names do not fit."""
        if self.values is None or self.state.results is None:
            return
        names = self.state.results.class_names
        k = self.values.shape[0]
        rect = self.plot.getViewBox().sceneBoundingRect()
        fm = self.fontMetrics()
        step_y = max(1, math.ceil(k * (fm.height() + 2) / max(rect.height(), 1)))
        left = [(i + 0.5, _short(names[i])) for i in range(0, k, step_y)]
        widest = max(fm.horizontalAdvance(_short(n)) for n in names) + 8
        if widest * k <= rect.width():
            bottom = [(i + 0.5, _short(names[i])) for i in range(k)]
        else:  # numbers: "given 'x' -> predicted 'y'" on hover says which class
            step_x = max(1, math.ceil(k * (fm.horizontalAdvance(str(k)) + 10) / max(rect.width(), 1)))
            bottom = [(i + 0.5, str(i)) for i in range(0, k, step_x)]
        self.plot.getAxis("left").setTicks([left])
        self.plot.getAxis("bottom").setTicks([bottom])
        numbers = bottom and bottom[0][1] == "0" and names[0] != "0"
        noise = self.mode == "noise"
        label = "True label (estimated)" if noise else "Predicted label"
        self.plot.setLabel("bottom", label + (" (class number; hover for the name)" if numbers else ""))

    def _on_filter(self, flt) -> None:
        pair = flt.given_suggested if self.mode == "noise" else flt.given_predicted
        if pair is None or self.values is None:
            self._sel.hide()
            return
        g, p = pair
        self._sel.setRect(QRectF(p + 0.04, g + 0.04, 0.92, 0.92))
        self._sel.show()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(given, other) of the cell at data coordinates (x, y)."""
        if self.values is None:
            return None
        k = self.values.shape[0]
        i, j = int(math.floor(y)), int(math.floor(x))
        return (i, j) if 0 <= i < k and 0 <= j < k else None

    def cell_text(self, i: int, j: int) -> str:
        names = self.state.results.class_names
        if self.mode == "noise":
            return f"P(given {names[i]!r} | true {names[j]!r}) = {self.values[i, j]:.3f} (cleanlab estimate)"
        counts = self.state.results.confusion
        n_given = counts[i].sum()
        share = f" ({counts[i, j] / n_given:.1%} of {names[i]!r})" if n_given else ""
        return f"given {names[i]!r} → predicted {names[j]!r}: {int(counts[i, j]):,} examples{share}"

    def click_cell(self, i: int, j: int) -> None:
        """What a click on cell (given i, column j) does: filter to that pair (again: clear it)."""
        if self.mode == "noise":
            field, other = "given_suggested", "given_predicted"
        else:
            field, other = "given_predicted", "given_suggested"
        if getattr(self.state.filter, field) == (i, j):
            self.state.clear_filter(field)
        else:
            self.state.update_filter(**{field: (i, j), other: None})

    def _on_mouse_moved(self, scene_pos) -> None:
        pos = self._data_pos(self.plot, scene_pos)
        cell = self.cell_at(pos.x(), pos.y()) if pos is not None else None
        if cell is None:
            self._hover.hide()
            return
        i, j = cell
        self._hover.setRect(QRectF(j, i, 1, 1))
        self._hover.setPen(QPen(theme.plot_foreground(), 0))
        self._hover.show()
        text = self.cell_text(i, j)
        self.readout.setText(text)
        QToolTip.showText(QCursor.pos(), text, self.graphics)

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.LeftButton:
            return
        pos = self._data_pos(self.plot, event.scenePos())
        cell = self.cell_at(pos.x(), pos.y()) if pos is not None else None
        if cell is not None:
            self.click_cell(*cell)


class CellLabels(pg.GraphicsObject):
    """The numbers of a k x k heatmap, drawn in one paint call (a TextItem per cell is slow)."""

    def __init__(self):
        super().__init__()
        self.k, self.texts, self.light, self.color = 0, [], np.zeros(0, bool), QColor()

    def set_labels(self, k: int, texts: list[str], light: np.ndarray, color: QColor) -> None:
        self.prepareGeometryChange()
        self.k, self.texts, self.light, self.color = k, texts, light, QColor(color)
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.k, self.k)

    def paint(self, p, *_args) -> None:
        if not self.k:
            return
        tr = p.transform()
        cell = tr.mapRect(QRectF(0, 0, 1, 1))
        font = QFont(p.font())
        font.setPointSizeF(max(6.0, min(9.5, abs(cell.height()) / 3.2)))
        p.resetTransform()
        p.setFont(font)
        white = QColor(255, 255, 255)
        for n, text in enumerate(self.texts):
            i, j = divmod(n, self.k)
            center = tr.map(QPointF(j + 0.5, i + 0.5))
            p.setPen(white if self.light[n] else self.color)
            p.drawText(QRectF(center.x() - 60, center.y() - 20, 120, 40), Qt.AlignCenter, text)
        p.setTransform(tr)


def _short(name: str, n: int = 12) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"

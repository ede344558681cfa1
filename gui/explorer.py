"""The results page: overview, plots, the filterable examples table and the inspector,
all linked through one :class:`gui.state.ResultsState`."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.export import delimited_text
from labelaudit.core.table_filter import TableFilter, is_missing

from . import theme
from .inspector import InspectorPanel
from .overview import ClassesView, OverviewStrip
from .plots import ConfidencePlot, ConfusionPlot, ReliabilityPlot
from .results import DEFAULT_SORT
from .table_model import ExamplesModel

SEARCH_DELAY_MS = 250


class FilterBar(QWidget):
    """Search, flagged-only, class and confidence controls, plus a chip per active plot filter."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search text or id  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.flagged = QCheckBox("Flagged only")
        self.flagged.setToolTip("Show only the examples flagged as likely label errors")
        self.class_box = QComboBox()
        self.class_box.setToolTip("Show only examples with this given label")
        self.class_box.setMinimumContentsLength(10)
        self.class_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.conf_lo = self._spin(0.0)
        self.conf_hi = self._spin(1.0)
        self.clear_all = QPushButton("Clear filters")
        self.clear_all.setToolTip("Show every example (Ctrl+Shift+X)")
        self.count = QLabel()
        theme.set_muted(self.count)

        row1 = QHBoxLayout()
        row1.setContentsMargins(0, 0, 0, 0)
        row1.addWidget(self.search, 3)
        row1.addWidget(self.flagged)
        row1.addWidget(QLabel("Given"))
        row1.addWidget(self.class_box, 1)
        row2 = QHBoxLayout()
        row2.setContentsMargins(0, 0, 0, 0)
        row2.addWidget(QLabel("Confidence"))
        row2.addWidget(self.conf_lo)
        row2.addWidget(QLabel("–"))
        row2.addWidget(self.conf_hi)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)
        row2.addLayout(self.chips)
        row2.addStretch(1)
        row2.addWidget(self.count)
        row2.addWidget(self.clear_all)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 2)
        layout.setSpacing(4)
        layout.addLayout(row1)
        layout.addLayout(row2)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_search)
        self.flagged.toggled.connect(lambda on: state.update_filter(flagged_only=on))
        self.class_box.currentIndexChanged.connect(self._class_changed)
        self.conf_lo.editingFinished.connect(self._conf_changed)
        self.conf_hi.editingFinished.connect(self._conf_changed)
        self.clear_all.clicked.connect(self._clear)
        state.results_changed.connect(self._on_results)
        state.filter_changed.connect(self._sync)
        state.rows_changed.connect(self._update_count)
        theme.style(self)

    @staticmethod
    def _spin(value: float) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(0.0, 1.0)
        s.setDecimals(2)
        s.setSingleStep(0.05)
        s.setValue(value)
        s.setToolTip("Confidence (top-label probability) range to show")
        return s

    def apply_search(self) -> None:
        self._search_timer.stop()
        self.state.update_filter(text=self.search.text().strip())

    def _clear(self) -> None:
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self.state.clear_filter()

    def _class_changed(self, index: int) -> None:
        self.state.update_filter(given=self.class_box.itemData(index))

    def _conf_changed(self) -> None:
        lo, hi = self.conf_lo.value(), self.conf_hi.value()
        self.state.update_filter(confidence=None if (lo, hi) == (0.0, 1.0) else (min(lo, hi), max(lo, hi)))

    def _on_results(self, results) -> None:
        self.class_box.blockSignals(True)
        self.class_box.clear()
        self.class_box.addItem("All classes", None)
        if results is not None:
            for i, name in enumerate(results.class_names):
                self.class_box.addItem(name, i)
        self.class_box.blockSignals(False)
        self.setEnabled(results is not None)

    def _sync(self, flt: TableFilter) -> None:
        """Show the state's filter in the controls (without feeding back)."""
        for w in (self.flagged, self.class_box, self.conf_lo, self.conf_hi, self.search):
            w.blockSignals(True)
        self.flagged.setChecked(flt.flagged_only)
        self.class_box.setCurrentIndex(0 if flt.given is None else flt.given + 1)
        lo, hi = flt.confidence or (0.0, 1.0)
        self.conf_lo.setValue(lo)
        self.conf_hi.setValue(hi)
        if flt.text != self.search.text().strip() and not self._search_timer.isActive():
            self.search.setText(flt.text)
        for w in (self.flagged, self.class_box, self.conf_lo, self.conf_hi, self.search):
            w.blockSignals(False)
        while self.chips.count():
            w = self.chips.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for name, text in self.chip_texts(flt):
            chip = QPushButton(f"{text}  ✕")
            chip.setObjectName("chip")
            chip.setToolTip("Click to remove this filter")
            chip.setCursor(Qt.PointingHandCursor)
            chip.clicked.connect(lambda _c=False, n=name: self.state.clear_filter(n))
            self.chips.addWidget(chip)
        self.clear_all.setEnabled(not flt.is_empty())

    def chip_texts(self, flt: TableFilter) -> list[tuple[str, str]]:
        """(filter field, label) of the filters set from plots, which have no control of their own."""
        results = self.state.results
        if results is None:
            return []
        names = results.class_names
        out = []
        if flt.bin is not None:
            index, n_bins, strategy = flt.bin
            out.append(("bin", f"Bin {index + 1}/{n_bins}" + (" (equal mass)" if strategy == "equal_mass" else "")))
        if flt.given_predicted is not None:
            g, p = flt.given_predicted
            out.append(("given_predicted", f"{names[g]} → predicted {names[p]}"))
        if flt.given_suggested is not None:
            g, s = flt.given_suggested
            out.append(("given_suggested", f"{names[g]} → suggested {names[s]}"))
        if flt.annotator is not None:
            out.append(("annotator", f"Labelled by {flt.annotator}"))
        return out

    def _update_count(self, rows) -> None:
        table = self.state.table
        if table is None:
            self.count.clear()
            return
        self.count.setText(f"{len(rows):,} of {table.n:,} examples")


class NoticeBanner(QFrame):
    """Yellow strip with the run's notices (renormalised probabilities, in-sample model, ...)."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("noticeBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 8, 3)
        self.label = QLabel()
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        close = QPushButton("Dismiss")
        close.setFlat(True)
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        state.results_changed.connect(self.set_results)
        theme.style(self)
        self.hide()

    def set_results(self, results) -> None:
        notes = list(results.notices) if results is not None else []
        if results is not None and results.report.summary.get("in_sample"):
            notes.append("The model may have been trained on these labels (in-sample): label errors are underestimated.")
        self.label.setText("\n".join(notes))
        self.setVisible(bool(notes))


class ExplorerPage(QWidget):
    """Everything about one audit's results on one page."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.overview = OverviewStrip(state)
        self.banner = NoticeBanner(state)

        self.plots = QTabWidget()
        self.plots.setDocumentMode(True)
        self.reliability = ReliabilityPlot(state)
        self.confidence = ConfidencePlot(state)
        self.confusion = ConfusionPlot(state)
        self.classes = ClassesView(state)
        self.plots.addTab(self.reliability, "Reliability")
        self.plots.addTab(self.confidence, "Confidence")
        self.plots.addTab(self.confusion, "Confusion")
        self.plots.addTab(self.classes, "Classes")

        self.filter_bar = FilterBar(state)
        self.model = ExamplesModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 8)
        hh = self.table.horizontalHeader()
        hh.setSectionsMovable(True)
        hh.setHighlightSections(False)
        hh.setStretchLastSection(True)
        hh.setSortIndicatorShown(True)
        self.table.setSortingEnabled(True)
        center = QWidget()
        cv = QVBoxLayout(center)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.setSpacing(0)
        cv.addWidget(self.filter_bar)
        cv.addWidget(self.table, 1)

        self.inspector = InspectorPanel(state)

        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([420, 560, 300])
        self.splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.overview)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

        self.copy_action = QAction("Copy Row", self.table)
        self.copy_action.setShortcut(QKeySequence.Copy)
        self.copy_action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self.copy_current_row)
        self.table.addAction(self.copy_action)
        self.table.setContextMenuPolicy(Qt.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        self.model.sort_requested.connect(state.set_sort)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        state.results_changed.connect(self._on_results)
        state.rows_changed.connect(self._on_rows)
        state.current_changed.connect(self._on_state_current)

    def _on_results(self, results) -> None:
        self.model.set_results(results)
        if results is None:
            return
        hh = self.table.horizontalHeader()
        fm = self.fontMetrics()
        for i, name in enumerate(results.columns):
            kind = results.table.kind(name)
            if name == "is_label_issue":
                width = 30
            elif name == results.input_col:
                width = 320
            else:
                title = results.header(name)[0]
                if kind == "label":
                    samples = results.class_names[:50]
                elif kind == "text":
                    samples = [str(results.table.value(name, r) or "") for r in range(min(results.table.n, 20))]
                elif kind == "int":
                    samples = [str(results.table.n)]
                else:
                    samples = ["0.0000"]
                sample = max(samples or [""], key=len)
                # long class names are cut at 160 px (the tooltip and inspector show them whole), so the
                # text column stays on screen at 1280 px
                width = max(min(fm.horizontalAdvance(sample) + 16, 160), fm.horizontalAdvance(title) + 24)
            hh.resizeSection(i, width)
        # sort indicator without triggering a sort: the state already sorted by DEFAULT_SORT
        col = self.model.column_index(DEFAULT_SORT)
        hh.blockSignals(True)
        hh.setSortIndicator(col, Qt.AscendingOrder)
        hh.blockSignals(False)

    def _on_rows(self, rows) -> None:
        current = self.state.current_row
        self.model.set_rows(rows)
        if not len(rows):
            self.state.set_current(-1)
            return
        view_row = self.model.view_row_of(current) if current >= 0 else -1
        if view_row < 0:
            view_row = 0
        self._select_view_row(view_row)
        self.state.set_current(self.model.row_of(view_row))

    def _select_view_row(self, view_row: int) -> None:
        index = self.model.index(view_row, 0)
        sm = self.table.selectionModel()
        sm.blockSignals(True)
        sm.setCurrentIndex(index, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        sm.blockSignals(False)
        self.table.viewport().update()
        self.table.scrollTo(index, QAbstractItemView.EnsureVisible)

    def _on_current_row(self, current, _previous) -> None:
        if current.isValid():
            self.state.set_current(self.model.row_of(current.row()))

    def _on_state_current(self, row: int) -> None:
        """Another view selected an example: show it in the table if it is visible."""
        if row < 0 or not len(self.model.rows):
            return
        cur = self.table.selectionModel().currentIndex()
        if cur.isValid() and self.model.row_of(cur.row()) == row:
            return
        view_row = self.model.view_row_of(row)
        if view_row >= 0:
            self._select_view_row(view_row)

    def row_text(self, row: int) -> str:
        """The shown columns of dataset row ``row`` as two tab-separated lines (headers, values), safe to paste."""
        results = self.state.results
        view_row = self.model.view_row_of(row)
        headers, values = [], []
        for c, name in enumerate(self.model.columns):
            headers.append(results.header(name)[0])
            value = self.model.data(self.model.index(view_row, c), Qt.UserRole)
            if is_missing(name, value):
                value = None
            elif isinstance(value, (int, np.integer)) and results.table.kind(name) == "label":
                value = results.class_names[int(value)]
            values.append(value)
        return delimited_text([headers, values])

    def copy_current_row(self) -> None:
        row = self.state.current_row
        if row >= 0 and self.model.view_row_of(row) >= 0:
            QGuiApplication.clipboard().setText(self.row_text(row))

    def _context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        row = self.model.row_of(index.row())
        t, names = self.state.table, self.state.results.class_names
        given, suggested, predicted = (int(t.columns[c][row]) for c in ("given_label", "suggested_label", "predicted_label"))
        menu = QMenu(self.table)
        menu.addAction(self.copy_action)
        menu.addSeparator()
        menu.addAction(f"Show Only Given '{names[given]}'", lambda: self.state.update_filter(given=given))
        if suggested != given:
            menu.addAction(f"Show Only '{names[given]}' → Suggested '{names[suggested]}'",
                           lambda: self.state.update_filter(given_suggested=(given, suggested), given_predicted=None))
        menu.addAction(f"Show Only '{names[given]}' → Predicted '{names[predicted]}'",
                       lambda: self.state.update_filter(given_predicted=(given, predicted), given_suggested=None))
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def current_plot(self):
        """The plot shown in the plots tab (None for the Classes view)."""
        w = self.plots.currentWidget()
        return w if hasattr(w, "export") else None

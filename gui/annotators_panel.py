"""The Annotators tab: annotators ranked by CROWDLAB quality; a click filters the table to their rows.

It shows ``summary["annotators"]`` of a multi-annotator audit
(core.multiannotator); nothing is computed here. The tab is visible only for
runs that have annotators.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from . import theme

COLUMNS = (
    ("annotator", "Annotator", "The annotator's name (for labelerrors vote counts: an anonymous worker slot)."),
    ("quality", "Quality", "CROWDLAB annotator quality: how often their labels are right, judged against the "
     "consensus and the model (0-1)."),
    ("agreement", "Agreement", "Share of their labels equal to the consensus label."),
    ("n_labels", "Labels", "How many examples they labelled."),
    ("worst_class", "Worst class", "The class they label least accurately."),
)


class _Item(QTableWidgetItem):
    """A cell that sorts by its value."""

    def __init__(self, text: str, key):
        super().__init__(text)
        self.key = key

    def __lt__(self, other) -> bool:
        if isinstance(other, _Item) and type(self.key) is type(other.key):
            return self.key < other.key
        return super().__lt__(other)


class AnnotatorsPanel(QWidget):
    """The ranking table; ``window`` is the MainWindow (its ResultsState and tabs)."""

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window_ = window
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        theme.set_muted(self.summary)
        self.table = QTableWidget(0, len(COLUMNS))
        for i, (_key, title, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(i, item)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSortingEnabled(True)
        self.table.cellClicked.connect(self._clicked)
        hint = QLabel("Click an annotator to list the examples they labelled in the Explore tab.")
        theme.set_muted(hint)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint)

    def set_report(self, report) -> None:
        """Show the annotators of ``report`` (hides the tab when it has none)."""
        info = (report.summary.get("annotators") if report is not None else None) or {}
        records = info.get("annotators", [])
        tabs = self.window_.tabs
        index = tabs.indexOf(self)
        if index >= 0:
            tabs.setTabVisible(index, bool(records))
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(records))
        for r, rec in enumerate(records):
            for c, (key, _title, _tip) in enumerate(COLUMNS):
                value = rec.get(key)
                text = f"{value:.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)
                item = _Item(text, value)
                if not isinstance(value, str):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(1, Qt.DescendingOrder)
        if records:
            self.summary.setText(
                f"{info.get('n_annotators', len(records))} annotators ({info.get('kind', '')}). The CROWDLAB consensus "
                f"differs from the given (majority) label on {info.get('n_consensus_differs', 0):,} examples; "
                "best quality first."
            )
        else:
            self.summary.clear()

    def annotator_at(self, row: int) -> str:
        return self.table.item(row, 0).text()

    def _clicked(self, row: int, _column: int) -> None:
        window = self.window_
        window.state.update_filter(annotator=self.annotator_at(row))
        window.tabs.setCurrentWidget(window.explorer)

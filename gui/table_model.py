"""The examples table: a QAbstractTableModel over column arrays.

The model holds no Python object per cell: it keeps the
:class:`core.table_filter.ExampleTable` columns and the array of dataset rows
to show (``rows``, in display order) and formats a cell only when the view
asks for it. Sorting asks :class:`gui.state.ResultsState` for a new row order.
"""

from __future__ import annotations

import textwrap

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF

from labelaudit.core.table_filter import MINUS_ONE_IS_MISSING

from . import theme

_TEXT_CHARS = 240
_DISPLAY, _DECORATION, _TOOLTIP = int(Qt.DisplayRole.value), int(Qt.DecorationRole.value), int(Qt.ToolTipRole.value)
_FONT, _ALIGNMENT, _FOREGROUND = int(Qt.FontRole.value), int(Qt.TextAlignmentRole.value), int(Qt.ForegroundRole.value)
_USER = int(Qt.UserRole.value)
_ROLES = frozenset((_DISPLAY, _DECORATION, _TOOLTIP, _FONT, _ALIGNMENT, _FOREGROUND, _USER))
_RIGHT = int((Qt.AlignRight | Qt.AlignVCenter).value)
_ALIGN = {"int": _RIGHT, "float": _RIGHT, "bool": int(Qt.AlignCenter.value), "label": int((Qt.AlignLeft | Qt.AlignVCenter).value),
          "text": int((Qt.AlignLeft | Qt.AlignVCenter).value)}


def flag_icon(size: int = 14) -> QIcon:
    """A small red flag, drawn once."""
    pix = QPixmap(size * 2, size * 2)
    pix.setDevicePixelRatio(2.0)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(QColor(theme.FLAGGED))
    p.drawLine(3, 1, 3, size - 1)
    p.setBrush(QColor(theme.FLAGGED))
    p.setPen(Qt.NoPen)
    p.drawPolygon(QPolygonF([QPointF(3.5, 1.5), QPointF(size - 2, 4.5), QPointF(3.5, 8.5)]))
    p.end()
    return QIcon(pix)


class ExamplesModel(QAbstractTableModel):
    """Rows: the dataset rows in ``rows`` order; columns: ``results.columns``.

    sort_requested(column name, descending) is emitted when the view asks to sort.
    """

    sort_requested = Signal(object, bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.table = None
        self.columns: list[str] = []
        self.rows = np.zeros(0, dtype=np.int64)
        self._flag = flag_icon()
        self._bold = QFont()
        self._bold.setBold(True)
        self._suggest_brush = QBrush(QColor(theme.SUGGESTED))
        self._flag_brush = QBrush(QColor(theme.FLAGGED))

    # -- content --------------------------------------------------------------
    def set_results(self, results) -> None:
        self.beginResetModel()
        self.results = results
        self.table = results.table if results is not None else None
        self.columns = list(results.columns) if results is not None else []
        self.rows = np.zeros(0, dtype=np.int64)
        t = self.table
        # per column, precomputed once: kind, array, alignment (data() runs per visible cell and role)
        self._kinds = [t.kind(c) for c in self.columns] if t is not None else []
        self._arrays = [t.columns[c] for c in self.columns] if t is not None else []
        self._align = [_ALIGN[k] for k in self._kinds]
        self._names = list(t.class_names) if t is not None else []
        self._blank_minus_one = [c in MINUS_ONE_IS_MISSING for c in self.columns]
        self._flags = t.columns["is_label_issue"] if t is not None else None
        self._special = [
            {"is_label_issue": "flag", "suggested_label": "suggested", "given_label": "given"}.get(c, "")
            for c in self.columns
        ]
        self.endResetModel()

    def refresh_columns(self, names) -> None:
        """Re-read columns ``names`` from the table (after ExampleTable.set_column) and repaint them."""
        for name in names:
            c = self.column_index(name)
            if c >= 0 and self.table is not None:
                self._arrays[c] = self.table.columns[name]
                self._kinds[c] = self.table.kind(name)
                self.dataChanged.emit(self.index(0, c), self.index(max(len(self.rows) - 1, 0), c))

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_of(self, view_row: int) -> int:
        """Dataset row shown at table row ``view_row``."""
        return int(self.rows[view_row])

    def view_row_of(self, row: int) -> int:
        """Table row where dataset row ``row`` is shown, or -1."""
        hits = np.flatnonzero(self.rows == row)
        return int(hits[0]) if len(hits) else -1

    def column_index(self, name: str) -> int:
        return self.columns.index(name) if name in self.columns else -1

    # -- QAbstractTableModel --------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole):
        if orientation != Qt.Horizontal or self.results is None or section >= len(self.columns):
            return None
        name = self.columns[section]
        if role == _DISPLAY:
            return "" if name == "is_label_issue" else self.results.header(name)[0]
        if role == _TOOLTIP:
            title, tip = self.results.header(name)
            return f"<b>{title}</b><br>{tip}"
        if role == _DECORATION and name == "is_label_issue":
            return self._flag
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole):
        # Called for every visible cell and role on each repaint: keep it cheap.
        if role not in _ROLES or self.table is None:
            return None
        c = index.column()
        if role == _ALIGNMENT:
            return self._align[c]
        row = self.rows[index.row()]
        special = self._special[c]
        if role == _DISPLAY:
            return self._display(c, row)
        if role == _DECORATION:
            return self._flag if special == "flag" and self._flags[row] else None
        if role == _FOREGROUND:
            if special == "suggested" and self._flags[row]:
                return self._suggest_brush
            if special == "given" and self._flags[row]:
                return self._flag_brush
            return None
        if role == _FONT:
            return self._bold if special == "suggested" and self._flags[row] else None
        if role == _TOOLTIP:
            if self._kinds[c] == "text":
                value = self._arrays[c][int(row)].as_py()
                return None if value is None else _wrap(value[:1500])
            if special == "flag":
                return "Flagged as a likely label error" if self._flags[row] else "Not flagged"
            if self._kinds[c] == "label":  # a long class name is cut in a narrow column
                return self._display(c, row) or None
            return None
        # _USER: the raw value (tests, copy)
        return self.table.value(self.columns[c], int(row))

    def _display(self, c: int, row) -> str:
        kind = self._kinds[c]
        arr = self._arrays[c]
        if kind == "float":
            value = float(arr[row])
            return "" if value != value else f"{value:.4f}"
        if kind == "label":
            value = int(arr[row])
            return self._names[value] if 0 <= value < len(self._names) else ("" if value < 0 else str(value))
        if kind == "bool":
            return "" if self._special[c] == "flag" or not arr[row] else "yes"
        if kind == "int":
            value = int(arr[row])
            return "" if value == -1 and self._blank_minus_one[c] else str(value)
        value = arr[int(row)].as_py()
        if value is None:
            return ""
        if len(value) > _TEXT_CHARS:
            value = value[:_TEXT_CHARS] + "…"
        return value.replace("\r", " ").replace("\n", " ")

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        if 0 <= column < len(self.columns):
            self.sort_requested.emit(self.columns[column], order == Qt.DescendingOrder)


def _wrap(text: str, width: int = 90) -> str:
    return "\n".join(textwrap.fill(p, width) for p in text.splitlines() if p.strip())

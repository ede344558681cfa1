"""The one selection and filter state every results view links to.

:class:`ResultsState` holds the current :class:`gui.results.Results`, the
:class:`core.table_filter.TableFilter`, the sort column and the selected
example. Views never talk to each other: a plot click calls
:meth:`ResultsState.update_filter`, the table shows :attr:`rows`, the inspector
follows :attr:`current_row`. Sorting a large table by a column whose order is
not cached yet runs on the thread pool, so the window stays responsive.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from labelaudit.core.table_filter import TableFilter

from .worker import run_in_pool

#: Tables at least this long sort uncached columns, search text and compute new reliability bins off the
#: GUI thread.
ASYNC_SORT_ROWS = 200_000
#: Tables at least this long compute every filtered view off the GUI thread (a row mask over 10M rows
#: takes about 0.1 s of numpy).
ASYNC_VIEW_ROWS = 2_000_000


class ResultsState(QObject):
    """What one window's results views show now: the Results, filter, sort order, visible
    rows and the selected row, with a signal when any of them changes.

    Signals: results_changed(Results | None), filter_changed(TableFilter),
    rows_changed(np.ndarray: dataset rows in display order), current_changed(int:
    dataset row, -1 for none), busy(str: what is being computed, "" when done).
    """

    results_changed = Signal(object)
    filter_changed = Signal(object)
    rows_changed = Signal(object)
    current_changed = Signal(int)
    busy = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.results = None
        self.filter = TableFilter()
        self.sort: tuple[str | None, bool] = (None, False)
        self.rows = np.zeros(0, dtype=np.int64)
        self.current_row = -1
        self._generation = 0

    # -- what is shown --------------------------------------------------------
    @property
    def report(self):
        """The current AuditReport, or None."""
        return self.results.report if self.results is not None else None

    @property
    def table(self):
        return self.results.table if self.results is not None else None

    def set_results(self, results, *, sort: tuple[str | None, bool] = (None, False)) -> None:
        """Show new results (or None): the filter is cleared and the selection reset."""
        self.results = results
        self.filter = TableFilter()
        self.sort = sort
        self.current_row = -1
        self.current_changed.emit(-1)
        self.results_changed.emit(results)
        self.filter_changed.emit(self.filter)
        self._refresh()

    # -- filter ---------------------------------------------------------------
    def set_filter(self, flt: TableFilter) -> None:
        if flt == self.filter:
            return
        self.filter = flt
        self.filter_changed.emit(flt)
        self._refresh()

    def update_filter(self, **changes) -> None:
        """Change some fields of the filter, e.g. ``update_filter(flagged_only=True)``."""
        self.set_filter(replace(self.filter, **changes))

    def clear_filter(self, name: str | None = None) -> None:
        """Clear one field of the filter, or all of it."""
        self.set_filter(TableFilter() if name is None else self.filter.without(name))

    # -- sort -----------------------------------------------------------------
    def set_sort(self, column: str | None, descending: bool = False) -> None:
        if (column, descending) == self.sort:
            return
        self.sort = (column, descending)
        self._refresh()

    # -- selection ------------------------------------------------------------
    def set_current(self, row: int) -> None:
        """Select dataset row ``row`` (-1: none)."""
        row = int(row)
        if row == self.current_row:
            return
        self.current_row = row
        self.current_changed.emit(row)

    # -- computing the rows ---------------------------------------------------
    def _refresh(self) -> None:
        self._generation += 1
        table = self.table
        if table is None:
            self._set_rows(np.zeros(0, dtype=np.int64))
            return
        column, descending = self.sort
        flt, generation = self.filter, self._generation
        sorting = column is not None and not table.has_order(column, descending)
        slow = sorting or bool(flt.text) or (flt.bin is not None and not table.has_bins(*flt.bin[1:]))
        if (slow and table.n >= ASYNC_SORT_ROWS) or (not flt.is_empty() and table.n >= ASYNC_VIEW_ROWS):
            what = f"Sorting {table.n:,} examples by {self.results.header(column)[0]}" if sorting else \
                f"Filtering {table.n:,} examples"
            self.busy.emit(f"{what}…")

            def done(rows, generation=generation):
                if generation == self._generation:
                    self.busy.emit("")
                    self._set_rows(rows)

            run_in_pool(lambda: table.view(flt, column, descending), done, lambda *_: self.busy.emit(""), owner=self)
            return
        self._set_rows(table.view(flt, column, descending))

    def _set_rows(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.rows_changed.emit(rows)

"""The main window: menus, toolbar, the start page, the results tabs and the status bar.

Other parts of the app plug in as tabs with :meth:`MainWindow.add_tab`; they
follow the current AuditReport through :attr:`MainWindow.report_changed` and
share the selected example and table filter through :attr:`MainWindow.selection`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, fields
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QWidget,
)

from labelaudit.core.pipeline import AuditConfig
from labelaudit.core.results_open import is_results_folder
from labelaudit.core.table_filter import TableFilter

from . import theme
from .explorer import ExplorerPage
from .results import DEFAULT_SORT, prepare_results
from .setup_dialog import DATA_FILTER, AuditSetupDialog
from .start_page import StartPage
from .state import ResultsState
from .turns import later
from .exporting import Exports
from .worker import AuditThread, StallMeter, run_in_pool

log = logging.getLogger("labelaudit.gui")

MAX_RECENT = 8
PROJECT_SUFFIX = ".labelaudit"
OPEN_FILTER = ("Datasets and projects (*.csv *.tsv *.tab *.txt *.parquet *.pq *.jsonl *.ndjson *.npy *.labelaudit);;"
               "labelaudit projects (*.labelaudit);;" + DATA_FILTER)
#: Keep measuring event-loop stalls this long after the results are shown (their first paint counts).
STALL_TAIL_MS = 300


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def progress_text(event) -> str:
    """'Stage: done / total · rate/s · ETA m:ss' for a core.progress.ProgressEvent."""
    text = event.stage[:1].upper() + event.stage[1:]
    if event.total:
        text += f": {event.done:,} / {event.total:,}"
    if event.rate:
        text += f" · {event.rate:,.1f}/s" if event.rate < 10 else f" · {event.rate:,.0f}/s"
    if event.eta_s is not None and event.done < event.total:
        text += f" · ETA {_eta(event.eta_s)}"
    return text


def filter_from_json(saved) -> TableFilter:
    """A TableFilter from its JSON form (lists for tuples); fields that do not fit are left out."""
    flt = TableFilter()
    if not isinstance(saved, dict):
        return flt
    for f in fields(TableFilter):
        value = saved.get(f.name)
        if value is None:
            continue
        value = tuple(value) if isinstance(value, list) else value
        default = f.default
        if isinstance(default, (bool, str)) and not isinstance(value, type(default)):
            continue
        try:
            flt = TableFilter(**{**asdict(flt), f.name: value})
        except TypeError:
            continue
    return flt


class EscapeCancels(QObject):
    """While installed on the application, Esc in ``window`` (not in a menu or dialog) cancels its run.

    An application-wide filter sees the key before any widget or shortcut, so the first Esc
    cancels wherever the keyboard focus went (the menu bar after a menu was opened, a plot).
    """

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() not in (QEvent.ShortcutOverride, QEvent.KeyPress) or event.key() != Qt.Key_Escape:
            return False
        if event.modifiers() != Qt.NoModifier or not isinstance(obj, QWidget) or obj.window() is not self.window:
            return False
        if QApplication.activePopupWidget() is not None or QApplication.activeModalWidget() is not None:
            return False  # Esc closes the open menu or dialog first
        self.window.cancel_run()
        event.accept()
        return True


class MainWindow(QMainWindow):
    """The labelaudit window.

    report_changed(AuditReport | None): a run finished (or results were cleared).
    selection: the shared :class:`gui.state.ResultsState` (filter, sort, selected row).
    """

    report_changed = Signal(object)

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("labelaudit")
        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("labelaudit", "labelaudit")
        self.config: AuditConfig | None = None
        self.thread: AuditThread | None = None
        self.run_fn = None  # replaces core.pipeline.run_audit when set (tests)
        self.error_box: QMessageBox | None = None
        self.last_error: str | None = None
        self.setup_dialog: AuditSetupDialog | None = None
        self.last_stall_ms: float | None = None
        self.last_run_s: float | None = None
        self._run_started = 0.0
        self._cancelling = False
        self._busy_text: str | None = None
        self._opening: str | None = None  # the results folder the worker thread is opening

        self.selection = self.state = ResultsState(self)
        self.start_page = StartPage()
        self.explorer = ExplorerPage(self.state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.explorer, "Explore")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)
        self.stall = StallMeter(parent=self)
        self.escape_cancels = EscapeCancels(self)
        self.exports = Exports(self, self.set_status, self.show_error)

        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        self._make_statusbar()

        sp = self.start_page
        sp.open_requested.connect(self.open_dialog)
        sp.demo_requested.connect(self.start_demo)
        sp.project_requested.connect(lambda: self.projects.open_project())
        sp.results_requested.connect(self.open_results_dialog)
        sp.recent_requested.connect(self.open_recent)
        sp.run_requested.connect(self.start_run)
        sp.setup_requested.connect(lambda: self.show_setup(self.config))
        sp.cancel_requested.connect(self.cancel_run)
        self.state.busy.connect(self._on_busy)
        self.state.rows_changed.connect(self._update_actions)
        self.explorer.plots.currentChanged.connect(self._update_actions)
        self._add_lab_tabs()
        sp.show_idle(self.recent_items())
        self._update_actions()
        self.set_status("Open a dataset (Ctrl+O) or try the demo.")

    # -- building -------------------------------------------------------------
    def _action(self, text, slot, shortcut=None, tip=None) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip + (f" ({QKeySequence(shortcut).toString(QKeySequence.NativeText)})" if shortcut else ""))
        a.triggered.connect(slot)
        return a

    def _make_actions(self) -> None:
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.Open, "Open a dataset file or folder")
        self.open_folder_action = self._action("Open &Folder…", self.open_folder_dialog, None, "Open an image folder with one subfolder per class")
        self.open_results_action = self._action("Open Res&ults Folder…", self.open_results_dialog, None,
                                                "Open the folder that 'labelaudit audit --out' wrote, as the run it holds")
        self.demo_action = self._action("Open the &Demo", self.start_demo, None, "Audit scikit-learn's digits with 5% planted label errors")
        self.setup_action = self._action("&Settings…", lambda: self.show_setup(self.config), "Ctrl+,", "Change the data columns, model and options")
        self.run_action = self._action("&Run Audit", self.start_run, "Ctrl+R", "Run the audit")
        self.cancel_action = self._action("&Cancel", self.cancel_run, Qt.Key_Escape, "Stop the running audit")
        self.export_action = self._action("&Export Flagged as CSV…", lambda: self.export_flagged(), "Ctrl+E",
                                          "Write the flagged examples (as the CLI's flagged.csv)")
        self.export_view_action = self._action("Export Table &View as CSV…", lambda: self.export_view(), "Ctrl+Shift+E",
                                               "Write the rows the table shows now, in its order")
        self.save_outputs_action = self._action("&Save All Outputs…", lambda: self.save_outputs(), "Ctrl+S",
                                                "Write summary.json, examples.parquet, flagged.csv and pred_probs.npy to a folder")
        self.export_png_action = self._action("Export Plot as &PNG…", lambda: self.export_plot(fmt="png"), None, "Save the plot shown as a PNG image")
        self.export_svg_action = self._action("Export Plot as S&VG…", lambda: self.export_plot(fmt="svg"), None, "Save the plot shown as an SVG drawing")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.Quit)
        self.find_action = self._action("&Find…", self.focus_search, QKeySequence.Find, "Search the examples' text and ids")
        self.flagged_action = self._action("Show &Flagged Only", self.toggle_flagged, "Ctrl+Shift+F", "Show only the flagged examples")
        self.flagged_action.setCheckable(True)
        self.clear_filters_action = self._action("&Clear Filters", lambda: self.state.clear_filter(), "Ctrl+Shift+X", "Show every example")
        self.conventions_action = self._action("&Metric Conventions", self.show_conventions, None, "How each metric is computed")
        self.about_action = self._action("&About labelaudit", self.show_about)
        self.state.filter_changed.connect(lambda f: self.flagged_action.setChecked(f.flagged_only))

    def _make_menus(self) -> None:
        m = self.menuBar()
        f = self.file_menu = m.addMenu("&File")
        f.addActions([self.open_action, self.open_folder_action, self.open_results_action])
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        f.addAction(self.demo_action)
        f.addSeparator()
        f.addActions([self.setup_action, self.run_action, self.cancel_action])
        f.addSeparator()
        f.addActions([self.export_action, self.export_view_action, self.save_outputs_action])
        f.addActions([self.export_png_action, self.export_svg_action])
        f.addSeparator()
        f.addAction(self.quit_action)
        v = self.view_menu = m.addMenu("&View")
        v.addActions([self.find_action, self.flagged_action, self.clear_filters_action])
        h = m.addMenu("&Help")
        h.addActions([self.conventions_action, self.about_action])

    def _make_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        tb.addAction(self.open_action)
        tb.addAction(self.setup_action)
        tb.addSeparator()
        tb.addAction(self.run_action)
        self.run_button = tb.widgetForAction(self.run_action)
        if isinstance(self.run_button, QToolButton):
            self.run_button.setObjectName("runButton")
        tb.addAction(self.cancel_action)
        tb.addSeparator()
        tb.addAction(self.export_action)
        tb.addAction(self.save_outputs_action)
        self.data_label = QLabel()
        self.data_label.setContentsMargins(12, 0, 6, 0)
        theme.set_muted(self.data_label)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        tb.addWidget(spacer)
        tb.addWidget(self.data_label)
        theme.style(tb)

    def _make_statusbar(self) -> None:
        sb = self.statusBar()
        self.status_label = QLabel()
        self.status_label.setMinimumWidth(200)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setTextVisible(False)
        self.progress.hide()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.progress)

    def _add_lab_tabs(self) -> None:
        """The Calibration, Benchmark and Review tabs (the last via the project controller)."""
        from .benchmark_tab import BenchmarkTab
        from .calibration_tab import CalibrationTab
        from .project_controller import ProjectController

        self.calibration_tab = CalibrationTab()
        self.calibration_tab.recalibrated.connect(self.apply_recalibration)
        self.calibration_tab.busy.connect(self._on_busy)
        self.calibration_tab.failed.connect(self.show_error)
        self.add_tab(self.calibration_tab, "Calibration")
        self.benchmark_tab = BenchmarkTab()
        self.benchmark_tab.failed.connect(self.show_error)
        self.add_tab(self.benchmark_tab, "Benchmark")
        from .annotators_panel import AnnotatorsPanel

        self.annotators_tab = AnnotatorsPanel(self)
        self.add_tab(self.annotators_tab, "Annotators")
        self.annotators_tab.set_report(self.state.report)  # hidden until a run has annotators
        self.projects = ProjectController(self)

    def apply_recalibration(self, result) -> None:
        """Show a cross-fitted recalibration: the table gains its confidences, the overview its before/after."""
        report = self.state.report
        if report is None or len(result.pred_probs) != len(report.examples):
            return
        report.recalibration = result
        report.examples["confidence_recalibrated"] = result.pred_probs.max(axis=1)
        report.summary["recalibration"] = result.to_summary()
        self.set_status(f"Recalibrating the table with {result.method}…")

        def prepared(results) -> None:
            view = self.view_state()  # the same filter, sort, row and tab over the recalibrated table
            self.show_loaded(results, f"Recalibrated ({result.method}, cross-fitted): ECE {result.ece_before:.4f} → "
                                      f"{result.ece_after:.4f}, NLL {result.nll_before:.4f} → {result.nll_after:.4f}")
            self.apply_view_state(view)

        run_in_pool(lambda: prepare_results(report), prepared, self.show_error, owner=self)

    def show_loaded(self, results, message: str) -> None:
        """Show results prepared elsewhere (an opened project, a recalibration) without a run."""
        self.config = results.report.config
        self.stack.setCurrentWidget(self.tabs)
        self.state.set_results(results, sort=(DEFAULT_SORT, False))
        self.report_changed.emit(results.report)
        self.set_status(message)
        self._update_actions()

    # -- public API for tabs --------------------------------------------------
    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a results tab beside "Explore". If ``widget`` has ``set_report(report)``, it is
        called now and on every ``report_changed``. Returns the tab's index."""
        index = self.tabs.addTab(widget, title)
        set_report = getattr(widget, "set_report", None)
        if callable(set_report):
            self.report_changed.connect(set_report)
            if self.state.report is not None:
                set_report(self.state.report)
        return index

    def remove_tab(self, widget: QWidget) -> None:
        """Take a tab added with :meth:`add_tab` out again (and disconnect its ``set_report``)."""
        index = self.tabs.indexOf(widget)
        if index > 0:  # index 0 is Explore
            self.tabs.removeTab(index)
            set_report = getattr(widget, "set_report", None)
            if callable(set_report):
                try:
                    self.report_changed.disconnect(set_report)
                except (RuntimeError, TypeError):
                    pass

    @property
    def report(self):
        """The AuditReport shown now, or None."""
        return self.state.report

    def view_state(self) -> dict:
        """What a reopened project restores: {"filter", "sort": [column, descending], "row", "tab"} (JSON)."""
        def plain(v):  # JSON values: numpy scalars as Python numbers, tuples as lists
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            return v.item() if hasattr(v, "item") else v

        flt = {k: plain(v) for k, v in asdict(self.state.filter).items()}
        column, descending = self.state.sort
        return {"filter": flt, "sort": [column, bool(descending)], "row": int(self.state.current_row),
                "tab": self.tabs.tabText(self.tabs.currentIndex())}

    def apply_view_state(self, view: dict) -> None:
        """Restore a :meth:`view_state` on the results shown: filter, sort, selected row, tab.
        Parts that do not fit these results (a column or row that is not there) are skipped."""
        table = self.state.table
        if table is None or not isinstance(view, dict):
            return
        sort = view.get("sort")
        if isinstance(sort, list) and len(sort) == 2 and (sort[0] is None or sort[0] in table.columns):
            self.state.set_sort(sort[0], bool(sort[1]))
            col = self.explorer.model.column_index(sort[0]) if sort[0] else -1
            header = self.explorer.table.horizontalHeader()
            header.blockSignals(True)
            header.setSortIndicator(col, Qt.DescendingOrder if sort[1] else Qt.AscendingOrder)
            header.blockSignals(False)
        flt = filter_from_json(view.get("filter"))
        try:
            table.view(flt, None, False)
        except Exception:  # a class or bin these results do not have
            flt = TableFilter()
        self.state.set_filter(flt)
        row = view.get("row")
        if isinstance(row, int) and 0 <= row < table.n:
            self.state.set_current(row)
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == view.get("tab"):
                self.tabs.setCurrentIndex(i)
                break

    # -- status ---------------------------------------------------------------
    def set_status(self, text: str, tip: str | None = None) -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(tip or text)

    def _on_busy(self, text: str) -> None:
        """A short job on the results (a sort, a bootstrap) says what it does ("" when it ends); then
        the results summary comes back, unless a newer message replaced the busy one meanwhile.
        While an audit runs, its progress keeps the status bar."""
        if self.running:
            return
        if text:
            self._busy_text = text
            self.set_status(text)
            self.progress.setRange(0, 0)
            self.progress.show()
        else:
            self.progress.hide()
            if self.status_label.text() == self._busy_text:
                self.set_status(self._results_status())
            self._busy_text = None

    def _results_status(self) -> str:
        report = self.state.report
        if report is None:
            return ""
        s = report.summary
        return f"{s['n_examples']:,} examples · {s['n_label_issues']:,} flagged ({s['label_issue_rate']:.1%}) · model: {s['model']}"

    @property
    def running(self) -> bool:
        return self.thread is not None

    def _update_actions(self, *_):
        has = self.state.report is not None
        self.run_action.setEnabled(not self.running and self.config is not None and bool(self.config.data))
        self.cancel_action.setEnabled(self.running and not self._cancelling)
        for a in (self.open_action, self.open_folder_action, self.open_results_action, self.demo_action,
                  self.setup_action):
            a.setEnabled(not self.running)
        self.recent_menu.setEnabled(not self.running)
        for a in (self.export_action, self.export_view_action, self.save_outputs_action, self.find_action,
                  self.flagged_action, self.clear_filters_action):
            a.setEnabled(has)
        plot = has and self.stack.currentWidget() is self.tabs and self.explorer.current_plot() is not None
        self.export_png_action.setEnabled(bool(plot))
        self.export_svg_action.setEnabled(bool(plot))
        data = Path(self.config.data) if self.config and self.config.data else None
        if data is not None and data.name == "examples.parquet" and is_results_folder(data.parent):
            self.data_label.setText(f"{data.parent.name} (results folder)")
        else:
            self.data_label.setText(data.name if data is not None else "")
        self.data_label.setToolTip(str(data) if data is not None else "")

    # -- opening data ---------------------------------------------------------
    def open_dialog(self) -> None:
        start = str(Path(self.config.data).parent) if self.config and self.config.data else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open dataset or project", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", str(Path.home()))
        if path:
            self.open_path(path)

    def open_results_dialog(self) -> None:
        start = self.settings.value("results_dir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Open results folder (labelaudit audit --out)", start)
        if path:
            self.settings.setValue("results_dir", str(Path(path).parent))
            self.open_path(path)

    def open_path(self, path: str) -> None:
        """Open a project (``.labelaudit``) or a results folder (``labelaudit audit --out``) with its
        results, or the setup dialog on data at ``path`` (with the settings remembered from the last
        time it was opened)."""
        from labelaudit.core.results_folder import MANIFEST

        if Path(path).suffix.lower() == PROJECT_SUFFIX:
            self.projects.open_project(str(path))
            return
        if Path(path).name == MANIFEST:  # the manifest picked in File > Open: its folder
            path = str(Path(path).parent)
        if is_results_folder(path):
            self.open_results(str(path))
            return
        remembered = self._recent_config(path)
        self.show_setup(remembered or AuditConfig(data=str(path)))

    def open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.show_error(f"{path}: no such file or folder any more")
            self._forget_recent(path)
            return
        self.open_path(path)

    def show_setup(self, config: AuditConfig | None) -> AuditSetupDialog:
        """Show the 'Set up audit' dialog (window-modal, returns at once)."""
        dlg = AuditSetupDialog(config, self)
        self.setup_dialog = dlg

        def done(result: int) -> None:
            self.setup_dialog = None
            if result == AuditSetupDialog.Accepted:
                self.set_config(dlg.config())
                if dlg.run_requested:
                    self.start_run()
            dlg.deleteLater()

        dlg.finished.connect(done)
        dlg.open()
        return dlg

    def set_config(self, config: AuditConfig) -> None:
        """Use ``config`` for the next run (the start page shows it, ready to run)."""
        self.config = config
        if config.data:
            self._remember(config)
        if self.state.report is None and not self.running:
            self.start_page.show_ready(config)
            self.stack.setCurrentWidget(self.start_page)
            self.set_status("Ready: press Run (Ctrl+R) to audit.")
        self._update_actions()

    def start_demo(self) -> None:
        """Write the bundled demo (once) in the background, then run it."""
        if self.running:
            return
        self.set_status("Preparing the demo data (scikit-learn digits with 5% of labels flipped)…")
        self.progress.setRange(0, 0)
        self.progress.show()

        def made(config):
            self.progress.hide()
            self.set_config(config)
            self.start_run()

        def failed(reason, details):
            self.progress.hide()
            self.show_error(reason, details)

        from labelaudit.core.demo import make_demo

        run_in_pool(make_demo, made, failed, owner=self)

    def open_results(self, folder: str) -> bool:
        """Open the results folder ``labelaudit audit --out`` wrote (core.results_open) on the worker
        thread, with progress and Esc to cancel; the results are then kept in a project like a run's.
        A bad folder is one line in a dialog. Returns False if it cannot start (a run is going)."""
        if self.running:
            return False
        from labelaudit.core.results_open import open_results

        self._opening = str(folder)
        started = self._start_thread(None, lambda _config, ctx: open_results(folder, ctx),
                                     f"Opening the results in {Path(folder).name}…")
        if not started:
            self._opening = None
        return started

    # -- running --------------------------------------------------------------
    def start_run(self) -> bool:
        """Start the audit of ``self.config`` on the worker thread. Returns False if it cannot start."""
        if self.running or self.config is None or not self.config.data:
            return False
        config = self.config
        if getattr(config, "multi_label", False):
            return self._start_multilabel(config)
        self._opening = None
        if self.state.report is None:
            message = f"Auditing {Path(config.data).name}: loading the data…"
        else:  # the finished results stay on screen until the new run succeeds
            message = f"Running the audit again on {Path(config.data).name} (the results shown stay until it ends)…"
        return self._start_thread(config, self.run_fn, message)

    def _start_thread(self, config, run_fn, message: str) -> bool:
        """Run ``run_fn(config, ctx)`` (an audit, or the opening of a results folder) on the worker thread."""
        self._cancelling = False
        thread = AuditThread(config, run_fn=run_fn, parent=self)
        thread.progress.connect(self._on_progress)
        thread.notice.connect(self._on_notice)
        thread.finished_ok.connect(self._on_finished)
        thread.failed.connect(self._on_failed)
        thread.cancelled.connect(self._on_cancelled)
        thread.finished.connect(thread.deleteLater)
        self.thread = thread
        self._run_started = time.perf_counter()
        if self.state.report is None:
            self.start_page.show_running(config, message)
            self.stack.setCurrentWidget(self.start_page)
        self.set_status(message)
        self.progress.setRange(0, 0)
        self.progress.show()
        self._update_actions()
        QApplication.instance().installEventFilter(self.escape_cancels)
        self.stall.start()
        thread.start()
        return True

    def _start_multilabel(self, config) -> bool:
        """A multi-label audit (core.multilabel) on the thread pool, shown in the Multi-label tab."""
        from labelaudit.core.multilabel import run_multilabel_audit

        from .multilabel_tab import MultiLabelTab

        if getattr(self, "multilabel_tab", None) is None:
            self.multilabel_tab = MultiLabelTab()
            self.multilabel_tab.failed.connect(self.show_error)
            self.multilabel_tab.status.connect(self.set_status)
            self.add_tab(self.multilabel_tab, "Multi-label")
        self.set_status(f"Auditing {Path(config.data).name} (multi-label)…")

        def done(report):
            self.multilabel_report = report
            self.multilabel_tab.show_report(report)
            self.stack.setCurrentWidget(self.tabs)
            self.tabs.setCurrentWidget(self.multilabel_tab)
            self.multilabel_tab.setFocus()
            self.set_status(f"{report.summary['n_label_issues']:,} of {report.data.n:,} label sets flagged")

        run_in_pool(lambda: run_multilabel_audit(config), done, self.show_error, owner=self)
        return True

    def cancel_run(self) -> None:
        """Ask the running audit to stop; the window says 'Cancelled' once it has."""
        if not self.running or self._cancelling:
            return
        self._cancelling = True
        self.thread.cancel()
        self.start_page.cancel_button.setEnabled(False)
        self.set_status("Cancelling…")
        self._update_actions()

    def _on_progress(self, event) -> None:
        if self.thread is None or self._cancelling:
            return
        text = progress_text(event)
        self.set_status(text)
        self.start_page.set_progress(text, event.done, event.total)
        if event.total:
            self.progress.setRange(0, event.total)
            self.progress.setValue(min(event.done, event.total))
        else:
            self.progress.setRange(0, 0)

    def _on_notice(self, text: str) -> None:
        self.set_status(text)
        log.info("notice: %s", text)

    def _end_run(self) -> float:
        QApplication.instance().removeEventFilter(self.escape_cancels)
        thread, self.thread = self.thread, None
        if thread is not None:
            thread.wait(2000)
        self._cancelling = False
        self.progress.hide()
        self.last_run_s = time.perf_counter() - self._run_started
        return self.last_run_s

    def _on_finished(self, results) -> None:
        elapsed = self._end_run()
        # Two event-loop turns (page switch, then the data) so neither blocks the GUI thread long;
        # the plots, inspector and Review tab follow in turns of their own (gui.turns).
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(self.explorer)
        opened, self._opening = self._opening, None
        later(lambda: self._show_results(results, elapsed, opened), self)

    def _show_results(self, results, elapsed: float, opened: str | None = None) -> None:
        """Show a finished run's results, or those of the results folder ``opened``."""
        report = results.report
        if opened is not None:  # Run audits the folder's table with its predictions again
            self.config = report.config
            self._add_recent({"results": opened, "name": Path(opened).name})
        self.state.set_results(results, sort=(DEFAULT_SORT, False))
        self.report_changed.emit(report)
        s = report.summary
        what = f"Opened the results in {Path(opened).name}" if opened is not None else "Audit finished"
        text = (f"{what} in {elapsed:.1f} s: {s['n_label_issues']:,} of {s['n_examples']:,} examples flagged "
                f"({s['label_issue_rate']:.1%}) · model: {s['model']}")
        self.set_status(text)  # notices show in the Explore tab's strip
        self._update_actions()
        QTimer.singleShot(STALL_TAIL_MS, self, self._stop_stall_meter)

    def _stop_stall_meter(self) -> None:
        if self.running or not self.stall.running:
            return
        self.last_stall_ms = self.stall.stop()
        text = f"Longest GUI stall during the run: {self.last_stall_ms:.0f} ms (run {self.last_run_s or 0:.1f} s)"
        log.info(text)
        self.status_label.setToolTip(self.status_label.text() + "\n" + text)

    def _on_failed(self, reason: str, details: str) -> None:
        self._end_run()
        self._stop_stall_meter()
        opened, self._opening = self._opening, None
        if opened is not None:
            self._after_open_ended(f"Could not open {Path(opened).name}: {reason}")
        elif self.state.report is None:
            self.start_page.show_ready(self.config, f"<span style='color:{theme.WRONG}'>The audit failed: {reason}</span>")
            self.set_status(f"Failed: {reason}")
        else:
            self.set_status(f"Failed: {reason} · the results shown are from the previous run")
        self._update_actions()
        self.show_error(reason, details)

    def _on_cancelled(self) -> None:
        self._end_run()
        self._stop_stall_meter()
        opened, self._opening = self._opening, None
        if opened is not None:
            self._after_open_ended(f"Cancelled opening {Path(opened).name}")
        elif self.state.report is None:
            self.start_page.show_ready(self.config, "Cancelled. Nothing was kept from that run.")
            self.set_status("Cancelled")
        else:
            self.set_status("Cancelled · the results shown are from the previous run")
        self._update_actions()

    def _after_open_ended(self, status: str) -> None:
        """The page shown after opening a results folder failed or was cancelled: what was there before."""
        if self.state.report is None:
            if self.config is None:
                self.start_page.show_idle(self.recent_items())
            else:
                self.start_page.show_ready(self.config)
        self.set_status(status)

    # -- errors ---------------------------------------------------------------
    def show_error(self, reason: str, details: str = "") -> QMessageBox:
        """Show ``reason`` in a window-modal message box that does not block the caller."""
        self.last_error = reason
        box = QMessageBox(QMessageBox.Warning, "labelaudit", reason, QMessageBox.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        self.error_box = box
        box.finished.connect(lambda _r: setattr(self, "error_box", None) if self.error_box is box else None)
        box.open()
        return box

    # -- exporting ------------------------------------------------------------
    def _save_path(self, title: str, name: str, file_filter: str) -> str | None:
        folder = self.settings.value("export_dir", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(folder) / name), file_filter)
        if path:
            self.settings.setValue("export_dir", str(Path(path).parent))
        return path or None

    def export_flagged(self, path: str | None = None) -> int | None:
        """Write the flagged examples as the CLI's flagged.csv (core.export) in the background;
        returns the export's job (see gui.exporting), or None when nothing was started."""
        report = self.state.report
        if report is None:
            return None
        path = path or self._save_path("Export flagged examples", "flagged.csv", "CSV (*.csv)")
        if not path:
            return None
        from labelaudit.core.export import flagged_table, write_csv

        examples, names = report.examples.copy(deep=False), report.class_names  # as they are now

        def write():
            table = flagged_table(examples, names)
            return len(table), write_csv(table, path)

        return self.exports.start(path, "the flagged examples", write,
                                  lambda r: f"Wrote {r[0]:,} flagged examples to {r[1]}")

    def export_view(self, path: str | None = None) -> int | None:
        """Write the rows the table shows, in its order, with labels as class names (core.export), in the
        background; returns the export's job, or None. The rows are the view's when called."""
        report = self.state.report
        if report is None:
            return None
        path = path or self._save_path("Export table view", "examples_view.csv", "CSV (*.csv)")
        if not path:
            return None
        from labelaudit.core.export import with_class_names, write_csv

        # the view's rows array is replaced, never changed in place, when the view changes
        rows, examples, names = self.state.rows, report.examples.copy(deep=False), report.class_names

        def write():
            table = with_class_names(examples.iloc[rows], names)
            return len(table), write_csv(table, path)

        return self.exports.start(path, "the table view", write, lambda r: f"Wrote {r[0]:,} examples to {r[1]}")

    def save_outputs(self, folder: str | None = None) -> int | None:
        """Write the CLI's output files (core.export.write_outputs) to ``folder`` in the background;
        returns the export's job, or None."""
        report = self.state.report
        if report is None:
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save all outputs to folder", self.settings.value("export_dir", str(Path.home())))
            if not folder:
                return None
        import copy
        import dataclasses

        from labelaudit.core.export import write_outputs

        # A snapshot: a recalibration applied meanwhile (apply_recalibration changes the report in
        # place) must not give the folder a summary of one state beside examples of another.
        report = dataclasses.replace(report, examples=report.examples.copy(deep=False),
                                     summary=copy.deepcopy(report.summary))
        return self.exports.start(folder, "outputs", lambda: write_outputs(report, folder),
                                  lambda paths: f"Wrote {', '.join(p.name for p in paths.values())} to {folder}",
                                  cannot_write=None)

    def export_plot(self, path: str | None = None, fmt: str = "png") -> Path | None:
        """Save the plot shown in the Explore tab as PNG or SVG."""
        plot = self.explorer.current_plot()
        if plot is None or self.state.report is None:
            return None
        name = self.explorer.plots.tabText(self.explorer.plots.currentIndex()).lower()
        path = path or self._save_path(f"Export {name} plot", f"{name}.{fmt}", "SVG (*.svg)" if fmt == "svg" else "PNG (*.png)")
        if not path:
            return None
        out = plot.export(path)
        self.set_status(f"Saved the {name} plot to {out}")
        return out

    # -- view helpers ---------------------------------------------------------
    def focus_search(self) -> None:
        if self.state.report is None:
            return
        self.tabs.setCurrentWidget(self.explorer)
        self.explorer.filter_bar.search.setFocus()
        self.explorer.filter_bar.search.selectAll()

    def toggle_flagged(self, on: bool) -> None:
        self.state.update_filter(flagged_only=bool(on))

    def show_conventions(self) -> None:
        from labelaudit.core.calibration import METRIC_HELP

        text = "".join(f"<p><b>{k}</b>: {v}</p>" for k, v in METRIC_HELP.items() if k != "n")
        box = QMessageBox(QMessageBox.Information, "Metric conventions", text, QMessageBox.Ok, self)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def show_about(self) -> None:
        from labelaudit.core import __version__ as version

        QMessageBox.about(self, "About labelaudit", f"<b>labelaudit</b> {version}<br>Audit a classifier's confidence and a "
                          "dataset's labels: confident learning (cleanlab), calibration, review.")

    # -- recent files and projects -------------------------------------------
    def recent_items(self) -> list[tuple[str, str]]:
        """(path, title) of the recent data files and projects, newest first; a project's title
        names its dataset."""
        items = []
        for e in self._recent_entries():
            if e.get("project"):
                items.append((e["project"], f"{e.get('name') or Path(e['project']).stem} (project)"))
            elif e.get("results"):
                items.append((e["results"], f"{e.get('name') or Path(e['results']).name} (results folder)"))
            else:
                items.append((e["data"], Path(e["data"]).name))
        return items

    def recent_files(self) -> list[str]:
        """Paths of the recent data files and projects, newest first."""
        return [path for path, _title in self.recent_items()]

    def _recent_entries(self) -> list[dict]:
        raw = self.settings.value("recent", "[]")
        try:
            entries = json.loads(raw) if isinstance(raw, str) else []
        except json.JSONDecodeError:
            return []
        return [e for e in entries if isinstance(e, dict) and (e.get("data") or e.get("project") or e.get("results"))]

    @staticmethod
    def _entry_path(entry: dict) -> str:
        return str(Path(entry.get("project") or entry.get("results") or entry["data"]).resolve())

    def _recent_config(self, path: str) -> AuditConfig | None:
        key = str(Path(path).resolve())
        for e in self._recent_entries():
            if e.get("data") and not e.get("project") and self._entry_path(e) == key:
                return AuditConfig.from_dict(e)
        return None

    def _add_recent(self, entry: dict) -> None:
        key = self._entry_path(entry)
        entries = [e for e in self._recent_entries() if self._entry_path(e) != key]
        entries.insert(0, entry)
        self.settings.setValue("recent", json.dumps(entries[:MAX_RECENT]))
        self._show_recent()

    def _remember(self, config: AuditConfig) -> None:
        self._add_recent(config.to_dict())

    def remember_project(self, path, dataset_name: str) -> None:
        """List the project at ``path`` (named after its dataset) in Open Recent and on the start page."""
        self._add_recent({"project": str(path), "name": dataset_name})

    def _forget_recent(self, path: str) -> None:
        key = str(Path(path).resolve())
        self.settings.setValue("recent", json.dumps([e for e in self._recent_entries() if self._entry_path(e) != key]))
        self._show_recent()

    def _show_recent(self) -> None:
        if self.config is None and self.state.report is None and not self.running:
            self.start_page.show_idle(self.recent_items())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent_items()
        for path, title in items:
            a = self.recent_menu.addAction(f"{title}  ({Path(path).parent})")
            a.setToolTip(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_recent(p))
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- drag and drop, closing -----------------------------------------------
    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile() and not self.running:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            path = urls[0].toLocalFile()
            QTimer.singleShot(0, self, lambda: self.open_path(path))

    def closeEvent(self, event) -> None:
        if self.thread is not None:
            self.thread.cancel()
            if not self.thread.wait(5000):
                self.thread.outlive_parent()
        self.projects.close_project()  # writes the view it was left in
        super().closeEvent(event)

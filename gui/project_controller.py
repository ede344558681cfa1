"""The project beside the results: every run lives in a ``.labelaudit`` project.

Each finished run is saved at once into an autosaved project in the projects
folder (``core.paths.projects_dir()``) until the user saves it elsewhere
(File > Save Project As), so no review decision is ever held only in memory.
Projects are listed in Open Recent and on the start page under their dataset's
name, and each keeps the view (filter, sort, selected row, tab) it was left in.
The controller hosts the Review tab (:class:`gui.review_panel.ReviewPanel`),
fills the table's Decided and Decision columns from the project, and adds the
File menu's project actions: open, save as, import human validation, export
the cleanset and the decisions log. All computation is in ``core.project`` and
``core.cleanset``; project files are written, and exports run, off the GUI thread.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from labelaudit.core.paths import projects_dir

from .results import DECISION_COLUMNS, prepare_results
from .state import ASYNC_SORT_ROWS
from .turns import later
from .worker import run_in_pool

PROJECT_FILTER = "labelaudit projects (*.labelaudit);;All files (*)"
REVIEWS_FILTER = "Human validation (*.json *.csv);;All files (*)"
CLEANSET_FILTER = "CSV (*.csv);;Parquet (*.parquet)"
#: The project setting that holds the window's view (MainWindow.view_state).
VIEW_SETTING = "view"
#: Wait this long after the last change of the view before writing it to the project.
VIEW_SAVE_MS = 400


def autosave_path(report) -> Path:
    """Where a new run's project is autosaved: the projects folder, named after the data and the time."""
    stem = re.sub(r"[^\w.-]+", "_", Path(str(report.dataset.source)).stem) or "data"
    return projects_dir() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.labelaudit"


def dataset_name(report) -> str:
    """The name a project is listed under: its dataset's file or folder name."""
    return Path(str(report.dataset.source)).name or "data"


class ProjectController(QObject):
    """Keeps ``window``'s results in a project and hosts the Review tab.

    project_changed(Project | None) is emitted when the current project changes.
    """

    project_changed = Signal(object)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.project = None
        self.panel = None
        self._opened = None  # (project, report, review session, inputs) opened from a file, about to be shown
        self._report = None  # the report the current project holds
        self._links: list = []
        self._review_generation = 0  # _review_view's latest call
        self._decisions_generation = 0  # refresh_decisions' latest call (a slower earlier one must not win)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_SAVE_MS)
        self._view_timer.timeout.connect(self.save_view)
        self._make_actions()
        window.report_changed.connect(self._on_report)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.close_project)

    # -- menu -----------------------------------------------------------------
    def _make_actions(self) -> None:
        w = self.window
        self.new_action = w._action("&New Project…", w.open_dialog, QKeySequence.New,
                                    "Open a dataset to audit; the run's results and decisions go into a new project")
        self.open_action = w._action("Open &Project…", lambda: self.open_project(), "Ctrl+Shift+O",
                                     "Open a .labelaudit project: its results and every review decision")
        self.save_as_action = w._action("Save Project &As…", lambda: self.save_project_as(), "Ctrl+Shift+S",
                                        "Keep this project (results and decisions) under a name of your choice")
        self.import_action = w._action("&Import Human Validation…", lambda: self.import_validation(), None,
                                       "Add a labelerrors mturk.json or a row,label,verdict CSV as decisions by a named reviewer")
        self.cleanset_action = w._action("Export &Cleanset…", lambda: self.export_cleanset(), None,
                                         "The original table plus a corrected-label column (CSV or Parquet)")
        self.decisions_action = w._action("Export &Decisions Log…", lambda: self.export_decisions(), None,
                                          "Every review decision: reviewer, time, before, after, note (CSV)")
        self.review_action = w._action("&Review Flagged Examples", self.show_review, "Ctrl+Shift+R",
                                       "The Review tab: decide on the flagged examples by keyboard")
        w.view_menu.addSeparator()
        w.view_menu.addAction(self.review_action)
        menu = w.file_menu
        menu.insertActions(w.open_action, [self.new_action])
        menu.insertAction(w.demo_action, self.open_action)
        menu.insertSeparator(w.export_action)
        menu.insertActions(w.export_action, [self.save_as_action, self.import_action, self.cleanset_action,
                                             self.decisions_action])
        menu.insertSeparator(w.export_action)
        self._update_actions()

    def _update_actions(self) -> None:
        has = self.project is not None
        for a in (self.save_as_action, self.import_action, self.cleanset_action, self.decisions_action,
                  self.review_action):
            a.setEnabled(has)

    # -- following the window's results -----------------------------------------
    def _on_report(self, report) -> None:
        if report is not None and report is self._report:
            return  # the same results shown again (after a recalibration): keep project and panel
        self._view_timer.stop()  # the view now shown is the new results', not the project's
        self._report = report
        self._remove_panel()
        if report is None:
            self.close_project()
            return
        if self._opened is not None and self._opened[1] is report:
            project, _, session, inputs = self._opened
            self._opened = None
            self._attach(project, report, session=session, inputs=inputs)
            self.window.apply_view_state(project.setting(VIEW_SETTING))
            return
        self.close_project()
        path = autosave_path(report)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.window.set_status(f"Saving the results into the project {path.name}…")

        def create():
            from labelaudit.core.project import Project
            from labelaudit.core.review_session import ReviewSession

            project = Project.create_from_report(path, report, overwrite=True)
            project.effective_decisions()  # reads the stored labels once, here: not on the GUI thread when shown
            if report.config.reviews:  # --reviews: the human validation shows as its own reviewer
                project.import_reviews(report.config.reviews, reviewer=Path(report.config.reviews).stem)
            from .review_panel import example_inputs

            # the review session reads the decisions (pandas work) and the inputs resolve every path:
            # here, not on the GUI thread
            session = ReviewSession(project, report.examples, report.class_names, pred_probs=report.pred_probs)
            return project, session, example_inputs(report.examples, report.dataset)

        def attached():
            self.window.remember_project(path, dataset_name(report))
            self.window.set_status(f"Results kept in {path} (File > Save Project As… to keep it elsewhere)")

        def created(out):
            project, session, inputs = out
            if self.window.report is report:
                self._attach(project, report, staged=True, then=attached, session=session, inputs=inputs)
            else:  # another run finished meanwhile
                project.close()

        run_in_pool(create, created, self.window.show_error, owner=self.window)

    def _attach(self, project, report, *, staged: bool = False, then=None, session=None, inputs=None) -> None:
        """Show ``project`` (for ``report``) in a Review tab and the table's decision columns.

        staged: do it in four event-loop turns (build the panel; fill its queue; the table's
        decision columns; add the tab), so that right after a run no single turn holds the GUI thread for
        the whole of it (bench_gui_stall measured it as the longest stall). session, inputs: a
        core.review_session.ReviewSession and the panel's example inputs prepared off the GUI thread
        (else built here). ``then`` runs last;
        ``self.project`` and the tab appear together, at the end.
        """
        from .review_panel import ReviewPanel

        state = self.window.selection
        holder = {}

        def current() -> bool:
            if not staged or (self._report is report and self.window.report is report):
                return True
            panel = holder.pop("panel", None)
            if panel is not None:  # other results came meanwhile: drop what was built
                for signal, slot in holder.pop("links", []):
                    try:
                        signal.disconnect(slot)
                    except (RuntimeError, TypeError):
                        pass
                if self.panel is panel:
                    self.panel, self._links = None, []
                panel.deleteLater()
            project.close()
            return False

        def build():
            if current():
                holder["panel"] = ReviewPanel(project, report.examples, report.class_names,
                                              pred_probs=report.pred_probs, dataset=report.dataset, session=session,
                                              inputs=inputs)
                step(fill)

        def fill():
            if not current():
                return
            panel = holder["panel"]
            holder["links"] = [
                (state.rows_changed, self._review_view),
                (panel.currentRowChanged, state.set_current),
                (panel.decisionsChanged, self.refresh_decisions),
                (state.filter_changed, self._view_changed),
                (state.rows_changed, self._view_changed),
                (state.current_changed, self._view_changed),
                (self.window.tabs.currentChanged, self._view_changed),
            ]
            for signal, slot in holder["links"]:
                signal.connect(slot)
            self.panel, self._links = panel, holder["links"]  # _review_view reads it
            self._review_view(state.rows)
            step(decisions)

        def decisions():
            if not current():
                return
            self.project = project  # refresh_decisions reads it
            self.refresh_decisions()
            self.project = None
            step(show)

        def show():
            if not current():
                return
            self.project = project
            self.window.add_tab(holder["panel"], "Review")
            self._update_actions()
            self.project_changed.emit(project)
            if then is not None:
                then()

        def step(fn):
            if staged:  # owned by the window: a turn queued before it closed never runs after
                later(fn, self.window)
            else:
                fn()

        step(build)

    def _view_changed(self, *_) -> None:
        self._view_timer.start()

    def save_view(self) -> None:
        """Write the window's view (filter, sort, selected row, tab) into the project."""
        self._view_timer.stop()
        if self.project is not None and not self.project.read_only and self.window.report is self._report:
            try:
                self.project.set_setting(VIEW_SETTING, self.window.view_state())
            except Exception as err:  # a project on a vanished disk: the results stay on screen
                from .worker import one_line

                self.window.set_status(f"Could not save the view into the project: {one_line(err)}")

    def show_review(self) -> None:
        """Bring up the Review tab with the keyboard focus in it."""
        if self.panel is not None:
            self.window.tabs.setCurrentWidget(self.panel)
            self.panel.setFocus()

    def _review_view(self, rows) -> None:
        """Review the flagged rows of the table's current view, worst label quality first (ties in
        the view's order), from the top: the table's selected row does not move the review."""
        results, panel = self.window.selection.results, self.panel
        if panel is None or results is None:
            return
        table = results.table
        self._review_generation += 1
        generation = self._review_generation

        def queue() -> list[int]:
            shown = np.asarray(rows, dtype=np.int64)
            shown = shown[table.columns["is_label_issue"][shown]]
            return shown[np.argsort(table.columns["label_quality"][shown], kind="stable")].tolist()

        def apply(order) -> None:
            if generation == self._review_generation and self.panel is panel:
                panel.set_rows(order)

        if len(rows) >= ASYNC_SORT_ROWS:  # a big view: its flagged rows are picked and sorted on the thread pool
            run_in_pool(queue, apply, owner=self.window)
        else:
            apply(queue())

    def refresh_decisions(self, *_rows) -> None:
        """Copy the project's current decisions into the table's Decided and Decision columns.

        The decisions are read here (SQLite, one row per decided example); the two whole columns
        are built from them with numpy/pyarrow, on the thread pool for a table of
        ASYNC_SORT_ROWS rows or more so that a 10M-row table never holds the GUI thread."""
        results = self.window.selection.results
        if self.project is None or results is None:
            return
        from labelaudit.core.project import ACTIONS
        from labelaudit.core.table_filter import decision_arrays

        eff = self.project.effective_decisions()
        table = results.table
        self._decisions_generation += 1
        generation = self._decisions_generation

        def build():
            return decision_arrays(eff["row"].to_numpy(), eff["label"].to_numpy(), eff["action"].tolist(), table.n,
                                   ACTIONS)

        def apply(cols) -> None:
            if generation != self._decisions_generation or self.window.selection.results is not results:
                return  # newer decisions or other results came meanwhile
            table.set_column("decided_label", cols[0])
            table.set_column("decision", cols[1])
            self.window.explorer.model.refresh_columns(DECISION_COLUMNS)

        if table.n >= ASYNC_SORT_ROWS:
            run_in_pool(build, apply, owner=self.window)
        else:
            apply(build())

    def _remove_panel(self) -> None:
        for signal, slot in self._links:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        self._links = []
        if self.panel is not None:
            self.window.remove_tab(self.panel)
            self.panel.deleteLater()
            self.panel = None

    def close_project(self) -> None:
        if self.project is not None:
            if self._view_timer.isActive():
                self.save_view()
            self.project.close()
            self.project = None
            self.project_changed.emit(None)
        self._update_actions()

    # -- File menu actions ----------------------------------------------------
    def open_project(self, path: str | None = None) -> None:
        """Open a project and show its saved results and decisions (loaded off the GUI thread)."""
        if path is None:
            try:
                projects_dir().mkdir(parents=True, exist_ok=True)
            except OSError:
                pass
            path = self._ask_path("Open project", "", PROJECT_FILTER, folder=projects_dir())
            if not path:
                return
        if not Path(path).is_file():
            self.window.show_error(f"{path}: no such project file")
            self.window.set_status(f"Could not open {Path(path).name}")
            return
        self.window.set_status(f"Opening {Path(path).name}…")

        def load():
            from labelaudit.core.project import Project

            from labelaudit.core.review_session import ReviewSession

            from .review_panel import example_inputs

            project, report, status = Project.reopen(path)
            try:  # the review counts, session and inputs too: each reads the whole table (seconds at 10M rows)
                session = ReviewSession(project, report.examples, report.class_names, pred_probs=report.pred_probs)
                return (project, report, prepare_results(report), status, self._progress_text(project), session,
                        example_inputs(report.examples, report.dataset))
            except Exception:
                project.close()
                raise

        def loaded(result):
            project, report, results, status, progress, session, inputs = result
            self._opened = (project, report, session, inputs)
            read_only = f" · Read-only: {project.read_only}" if project.read_only else ""
            self.window.show_loaded(results, f"Opened {Path(path).name}: {progress}{read_only}")
            self.window.remember_project(path, dataset_name(report))
            if status in ("changed", "missing"):
                what = "has changed on disk" if status == "changed" else "is no longer where it was"
                self.window.show_error(
                    f"The dataset {report.dataset.source} {what} since this project was saved: "
                    "the results and decisions shown are the saved ones.")

        def failed(reason, details):
            self.window.set_status(f"Could not open {Path(path).name}")
            self.window.show_error(reason, details)

        run_in_pool(load, loaded, failed, owner=self.window)

    def save_project_as(self, path: str | None = None) -> Path | None:
        if self.project is None:
            return None
        if path is None:
            path = self._ask_path("Save project as", "audit.labelaudit", PROJECT_FILTER, save=True)
            if not path:
                return None
        path = Path(path)
        if path.suffix != ".labelaudit":
            path = path.with_suffix(path.suffix + ".labelaudit")
        try:
            self.project.save_as(path)
        except Exception as err:  # OutputError: disk full, no permission; the project stays where it was
            from .worker import one_line

            self.window.show_error(one_line(err))
            return None
        if self.panel is not None:
            self.panel.refresh()  # a read-only project's copy is writable: the Read-only line goes
        self.window.remember_project(path, dataset_name(self._report))
        self.window.set_status(f"Project saved as {path}; decisions are now written there as you make them.")
        return path

    def import_validation(self, path: str | None = None, reviewer: str | None = None) -> int | None:
        """Add human validation as decisions by ``reviewer``; returns how many were imported."""
        if self.project is None:
            return None
        if path is None:
            path = self._ask_path("Import human validation", "", REVIEWS_FILTER)
            if not path:
                return None
        if reviewer is None:
            reviewer, ok = QInputDialog.getText(self.window, "Reviewer", "Name these decisions by reviewer:",
                                                text="mturk")
            if not ok or not reviewer.strip():
                return None
        try:
            n = self.project.import_reviews(path, reviewer=reviewer.strip())
        except Exception as err:  # InputError names the file and entry
            from .worker import one_line

            self.window.show_error(one_line(err))
            return None
        self.refresh_decisions()
        if self.panel is not None:
            self.panel.refresh()
        counts = self.project.review_counts()["reviewers"].get(reviewer.strip(), {})
        self.window.set_status(
            f"Imported {n:,} decisions by {reviewer}: {counts.get('not_kept', 0):,} say the given label is wrong; "
            f"{counts.get('decided_flagged', 0):,} of them are on flagged examples.")
        return n

    def export_cleanset(self, path: str | None = None, drop_excluded: bool | None = None) -> int | None:
        """Write the project's cleanset (core.cleanset) to ``path`` in the background; returns the
        export's job (see gui.exporting), or None when nothing was started."""
        if self.project is None:
            return None
        if path is None:
            path = self._ask_path("Export cleanset", "cleanset.csv", CLEANSET_FILTER, save=True)
            if not path:
                return None
        if drop_excluded is None:
            answer = QMessageBox.question(
                self.window, "Excluded examples", "Drop the excluded examples from the cleanset?\n"
                "(No keeps them, marked in the decision column.)")
            drop_excluded = answer == QMessageBox.Yes
        from labelaudit.core.cleanset import export_cleanset

        return self._export(path, lambda project: export_cleanset(project, path, drop_excluded=drop_excluded),
                            "cleanset")

    def export_decisions(self, path: str | None = None) -> int | None:
        """Write the project's decisions log (core.cleanset) to ``path`` in the background; returns the
        export's job, or None."""
        if self.project is None:
            return None
        if path is None:
            path = self._ask_path("Export decisions log", "decisions.csv", "CSV (*.csv)", save=True)
            if not path:
                return None
        from labelaudit.core.cleanset import export_decisions

        return self._export(path, lambda project: export_decisions(project, path), "decisions log")

    def _export(self, path, write, what: str) -> int | None:
        """Run ``write(project)`` on the thread pool with the project file opened read-only there (its own
        SQLite connection, not the GUI's), so it sees every decision committed before this call."""
        source = self.project.path

        def work():
            from labelaudit.core.project import Project

            with Project.open(source, read_only=True) as project:
                return Path(write(project))

        return self.window.exports.start(path, f"the {what}", work, lambda written: f"Wrote the {what} to {written}",
                                         cannot_write=None)

    def _ask_path(self, title: str, name: str, file_filter: str, *, save: bool = False, folder: Path | None = None) -> str:
        """A file dialog starting in ``folder`` (default: the home folder), at ``name`` when saving;
        '' when cancelled."""
        folder = folder if folder is not None and folder.is_dir() else Path.home()
        ask = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = ask(self.window, title, str(folder / name), file_filter)
        return path

    @staticmethod
    def _progress_text(project) -> str:
        counts = project.review_counts()
        return f"reviewed {counts['reviewed_flagged']:,} / {counts['n_flagged']:,} flagged examples"

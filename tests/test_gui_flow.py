"""The app's flow (pytest-qt, offscreen): finished results are never lost (re-run, cancel,
error), projects open from everywhere and reopen where they were left, the review queue
starts at the worst example, Esc cancels at once, late background results never reach a
dead widget, first launch on Linux without the xcb libraries, errors said in words."""

import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from shiboken6 import isValid

from labelaudit.core.errors import InputError
from labelaudit.core.paths import projects_dir
from labelaudit.core.pipeline import AuditConfig, run_audit
from labelaudit.core.table_filter import TableFilter
from labelaudit.gui import app as gui_app
from labelaudit.gui import launch, setup_dialog, worker
from labelaudit.gui.main_window import MainWindow

CLASSES = ["billing", "shipping", "returns", "account"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """400 support tickets in 4 classes, 24 labels flipped, with out-of-sample-like probabilities."""
    folder = tmp_path_factory.mktemp("flow")
    rng = np.random.default_rng(11)
    n, k = 400, len(CLASSES)
    true = rng.integers(0, k, n)
    given = true.copy()
    flipped = rng.choice(n, 24, replace=False)
    given[flipped] = (true[flipped] + 1 + rng.integers(0, k - 1, 24)) % k
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 3.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    pd.DataFrame({"id": [f"Q{i:04d}" for i in range(n)], "text": [f"query {i} about {CLASSES[t]}" for i, t in enumerate(true)],
                  "label": [CLASSES[g] for g in given]}).to_csv(folder / "queries.csv", index=False)
    np.save(folder / "probs.npy", probs)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return AuditConfig(data=str(folder / "queries.csv"), pred_probs=str(folder / "probs.npy"),
                       classes=str(folder / "classes.txt"))


def run_to_results(qtbot, window, config):
    """Run ``config`` and wait until its results are shown and kept in the autosaved project."""
    window.set_config(config)
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None and not window.running, timeout=60_000)
    report = window.report
    qtbot.waitUntil(lambda: window.projects.project is not None and window.projects._report is report, timeout=10_000)
    return report


def gated_pipeline(gate: threading.Event, started: threading.Event, error: Exception | None = None):
    """A run_fn that reports progress until ``gate`` is set (or it is cancelled), then runs the real audit."""
    def run(config, ctx):
        with ctx.stage("scoring", 1000) as stage:
            started.set()
            while not gate.wait(0.01):
                stage.advance(0)
        if error is not None:
            raise error
        return run_audit(config, ctx)

    return run


def drop(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(300, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


def delivered(job: int) -> bool:
    """Whether the pool job's result has been handed out (or dropped) on the GUI thread."""
    return job not in worker._hub.relays


def test_a_late_pool_result_never_reaches_a_deleted_widget(qtbot):
    gate = threading.Event()
    owner = QWidget()  # not given to qtbot: this test deletes it
    calls = []
    job = worker.run_in_pool(lambda: gate.wait(10) and "late", calls.append, calls.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not isValid(owner), timeout=5_000)
    gate.set()
    qtbot.waitUntil(lambda: delivered(job), timeout=10_000)
    assert calls == []
    # the same call with a live owner delivers
    alive = QWidget()
    qtbot.addWidget(alive)
    job = worker.run_in_pool(lambda: 41 + 1, calls.append, owner=alive)
    qtbot.waitUntil(lambda: calls == [42], timeout=10_000)


def test_closing_the_setup_dialog_while_it_reads_drops_the_preview(qtbot, window, tmp_path, monkeypatch):
    gate, started = threading.Event(), threading.Event()
    real = setup_dialog.preview_data

    def slow_preview(path):
        started.set()
        gate.wait(10)
        return real(path)

    monkeypatch.setattr(setup_dialog, "preview_data", slow_preview)
    data = tmp_path / "t.csv"
    data.write_text("text,label\nhello,a\nworld,b\n")
    window.open_path(str(data))
    dlg = window.setup_dialog
    job = worker._hub.next_job
    qtbot.waitUntil(started.is_set, timeout=5_000)
    dlg.reject()
    qtbot.waitUntil(lambda: not isValid(dlg), timeout=5_000)  # the window deletes it once closed
    gate.set()
    qtbot.waitUntil(lambda: delivered(job), timeout=10_000)
    assert window.setup_dialog is None and window.error_box is None
    # the window goes on working: the next dialog reads its preview
    window.open_path(str(data))
    again = window.setup_dialog
    qtbot.waitUntil(lambda: again.previewed == str(data), timeout=10_000)
    assert again.role_boxes["label_col"].currentText() == "label"
    again.reject()


def test_xcb_check_names_the_packages_for_apt_and_dnf():
    present = {"libxcb-cursor.so.0"}

    def fake_load(name):
        if name not in present:
            raise OSError(f"{name}: cannot open shared object file")

    line = gui_app.missing_xcb_libraries(load=fake_load)
    assert "\n" not in line
    assert "apt install libxcb-icccm4 libxcb-keysyms1" in line and "dnf install xcb-util-wm xcb-util-keysyms" in line
    assert "libxcb-cursor0" not in line
    present.update({"libxcb-icccm.so.4", "libxcb-keysyms.so.1"})
    assert gui_app.missing_xcb_libraries(load=fake_load) is None
    # only the xcb platform on Linux needs them
    assert gui_app.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert gui_app.uses_xcb({"DISPLAY": ":0"}, "linux")
    assert not gui_app.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not gui_app.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not gui_app.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "darwin")


def test_first_launch_without_libxcb_cursor_exits_2_with_one_line(tmp_path):
    script = (
        "import ctypes, sys\n"
        "real = ctypes.CDLL\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'libxcb-cursor.so.0':\n"
        "        raise OSError(name + ': cannot open shared object file')\n"
        "    return real(name, *a, **k)\n"
        "ctypes.CDLL = fake\n"
        "from labelaudit.gui.launch import main\n"
        "sys.exit(main(['gui']))\n"
    )
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "sudo apt install libxcb-cursor0" in lines[0] and "sudo dnf install xcb-util-cursor" in lines[0]


@pytest.mark.parametrize("err, shown", [
    (MemoryError(), "Not enough memory for this step: try a smaller batch size, or close other programs."),
    (RecursionError("maximum recursion depth exceeded"), "The data is nested too deeply to process (maximum recursion depth exceeded)."),
    (FileNotFoundError(2, "No such file or directory", "/data/x.csv"), "/data/x.csv: No such file or directory"),
    (PermissionError(13, "Permission denied"), "Permission denied"),
])
def test_errors_are_said_in_words(err, shown):
    assert worker.one_line(err) == shown


def test_a_failed_background_job_shows_its_reason(qtbot, window):
    def boom():
        raise MemoryError

    worker.run_in_pool(boom, lambda _r: None, window.show_error, owner=window)
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert window.error_box.text().startswith("Not enough memory")
    window.error_box.done(0)


# -- 1. results are never lost ----------------------------------------------------------------

def test_a_rerun_keeps_the_results_until_it_succeeds_and_cancel_or_error_restores_them(qtbot, window, data):
    first = run_to_results(qtbot, window, data)
    model = window.explorer.model
    window.selection.update_filter(flagged_only=True)
    n_flagged = model.rowCount()
    assert 0 < n_flagged < 400

    # Ctrl+R, then cancel: the finished results never leave the screen
    gate, started = threading.Event(), threading.Event()
    window.run_fn = gated_pipeline(gate, started)
    window.run_action.trigger()
    qtbot.waitUntil(started.is_set, timeout=10_000)
    assert window.running and window.report is first
    assert window.stack.currentWidget() is window.tabs and model.rowCount() == n_flagged
    window.cancel_run()
    qtbot.waitUntil(lambda: not window.running, timeout=10_000)
    assert window.report is first and window.selection.filter.flagged_only and model.rowCount() == n_flagged
    assert window.status_label.text() == "Cancelled · the results shown are from the previous run"
    assert window.projects.project is not None and window.projects._report is first

    # a run that fails: a dialog with the reason, the results still there
    gate.set()
    window.run_fn = gated_pipeline(gate, threading.Event(), error=InputError("queries.csv: row 3 is empty"))
    window.start_run()
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert window.error_box.text() == "queries.csv: row 3 is empty"
    assert window.report is first and window.stack.currentWidget() is window.tabs and model.rowCount() == n_flagged
    window.error_box.done(0)

    # a run that succeeds replaces them
    window.run_fn = None
    window.start_run()
    qtbot.waitUntil(lambda: window.report is not first and window.report is not None, timeout=60_000)
    assert window.report.summary["n_examples"] == 400


def test_escape_cancels_on_the_first_press_after_a_menu_was_opened(qtbot, window, data):
    gate, started = threading.Event(), threading.Event()
    window.run_fn = gated_pipeline(gate, started)
    window.set_config(data)
    window.start_run()
    qtbot.waitUntil(started.is_set, timeout=10_000)
    window.activateWindow()
    # open the File menu from the menu bar, then close it: the menu bar keeps the keyboard
    QTest.keyClick(window, Qt.Key_F, Qt.AltModifier)
    qtbot.waitUntil(lambda: window.file_menu.isVisible(), timeout=3_000)
    QTest.keyClick(window.file_menu, Qt.Key_Escape)
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None, timeout=3_000)
    assert window.running and not window._cancelling
    target = QApplication.focusWidget() or window
    QTest.keyClick(target, Qt.Key_Escape)
    assert window._cancelling
    qtbot.waitUntil(lambda: not window.running, timeout=10_000)
    assert window.status_label.text() == "Cancelled"
    gate.set()


def test_projects_open_from_drop_recent_and_reopen_where_they_were_left(qtbot, window, data, tmp_path):
    report = run_to_results(qtbot, window, data)
    project_path = window.projects.project.path
    assert project_path.parent == projects_dir()
    state = window.selection
    # leave a view: flagged rows of one class, sorted by confidence (highest first), a row, the Review tab
    state.update_filter(flagged_only=True, given=np.int64(2))  # as a click on a plot gives it
    state.set_sort("confidence", True)
    shown = list(state.rows)
    assert len(shown) >= 2
    state.set_current(int(shown[1]))
    window.projects.show_review()
    assert window.tabs.currentWidget() is window.projects.panel
    view = window.view_state()
    qtbot.waitUntil(lambda: window.projects.project.setting("view") == view, timeout=5_000)
    window.close()

    # a new window lists the project under its dataset's name, beside the data file
    again = MainWindow(window.settings)
    qtbot.addWidget(again)
    titles = [again.start_page.recent.item(i).text() for i in range(again.start_page.recent.count())]
    assert titles[0].startswith("queries.csv (project)")
    assert str(project_path) in again.recent_files() and data.data in again.recent_files()
    # dropping the .labelaudit file opens the project (not the setup dialog) where it was left
    drop(again, project_path)
    qtbot.waitUntil(lambda: again.report is not None and again.projects.panel is not None, timeout=20_000)
    assert again.setup_dialog is None
    assert again.selection.filter == TableFilter(flagged_only=True, given=2)
    assert again.selection.sort == ("confidence", True)
    assert list(again.selection.rows) == shown
    assert again.selection.current_row == int(shown[1])
    assert again.tabs.currentWidget() is again.projects.panel
    assert again.report.summary["n_label_issues"] == report.summary["n_label_issues"]
    assert again.status_label.text().startswith(f"Opened {project_path.name}")

    # Open Recent opens it too; a project that is gone says so and leaves the list
    again.close()
    third = MainWindow(window.settings)
    qtbot.addWidget(third)
    third._fill_recent_menu()
    entry = next(a for a in third.recent_menu.actions() if a.text().startswith("queries.csv (project)"))
    entry.trigger()
    qtbot.waitUntil(lambda: third.report is not None, timeout=20_000)
    assert third.selection.filter.given == 2
    third.close()
    gone = tmp_path / "gone.labelaudit"
    fourth = MainWindow(window.settings)
    qtbot.addWidget(fourth)
    fourth.remember_project(gone, "old.csv")
    fourth.open_recent(str(gone))
    assert fourth.error_box is not None and str(gone) not in fourth.recent_files()


def test_open_project_starts_in_the_projects_folder_and_a_bad_file_does_not_hang_on_opening(qtbot, window, tmp_path,
                                                                                           monkeypatch):
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (asked.append(a[2]), ("", ""))[1]))
    window.projects.open_action.trigger()
    assert asked == [str(projects_dir() / "")]
    bad = tmp_path / "broken.labelaudit"
    bad.write_bytes(b"not a database at all" * 10)
    window.open_path(str(bad))
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert "broken.labelaudit" in window.error_box.text()
    assert window.status_label.text() == "Could not open broken.labelaudit"


def test_the_command_line_opens_a_project(monkeypatch, tmp_path, capsys):
    opened = []
    monkeypatch.setattr(gui_app, "run_gui", lambda config=None, **kw: opened.append(kw) or 0)
    project = tmp_path / "audit.labelaudit"
    project.write_bytes(b"")
    assert launch.main(["gui", str(project)]) == 0
    assert opened == [{"project": str(project)}]
    assert launch.main(["gui", str(tmp_path / "missing.labelaudit")]) == 2
    assert capsys.readouterr().err.strip() == f"labelaudit: error: {tmp_path / 'missing.labelaudit'}: no such project file"


# -- 5. flow --------------------------------------------------------------------------------------

def test_review_starts_at_the_worst_flagged_example_of_the_view(qtbot, window, data):
    report = run_to_results(qtbot, window, data)
    state, panel = window.selection, window.projects.panel
    quality = report.examples["label_quality"].to_numpy()
    flagged = report.examples["is_label_issue"].to_numpy(dtype=bool)
    # the table sorted by confidence and a row in the middle selected
    state.set_sort("confidence", True)
    state.set_current(int(state.rows[len(state.rows) // 2]))
    window.projects.show_review()
    queue = panel.session.queue
    assert sorted(queue) == sorted(np.flatnonzero(flagged).tolist())
    assert np.all(np.diff(quality[queue]) >= 0)
    assert panel.session.row == queue[0] == int(np.flatnonzero(flagged)[np.argmin(quality[flagged])])
    # a filtered view: only its flagged rows, worst first
    state.update_filter(given=1)
    in_view = [r for r in np.flatnonzero(flagged) if report.labels[r] == 1]
    assert sorted(panel.session.queue) == sorted(in_view)
    assert panel.session.row == min(in_view, key=lambda r: quality[r])


def test_clear_filters_clears_the_bin_caption(qtbot, window, data):
    run_to_results(qtbot, window, data)
    plot = window.explorer.reliability
    qtbot.waitUntil(lambda: plot.bins is not None, timeout=5_000)
    b = int(plot.bins["count"].idxmax())
    plot.click_bin(b)
    assert plot.readout.text().startswith(f"Bin {b + 1} of 15")
    window.clear_filters_action.trigger()
    assert window.selection.filter.is_empty()
    assert not plot.readout.text().startswith("Bin")

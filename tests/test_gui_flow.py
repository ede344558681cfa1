"""The app's flow (pytest-qt, offscreen): late background results never reach a dead widget,
first launch on Linux without the xcb libraries, errors said in words."""

import subprocess
import sys
import threading

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QWidget
from shiboken6 import isValid

from labelaudit.gui import app as gui_app
from labelaudit.gui import setup_dialog, worker
from labelaudit.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.running:
        w.cancel_run()
        qtbot.waitUntil(lambda: not w.running, timeout=10_000)


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

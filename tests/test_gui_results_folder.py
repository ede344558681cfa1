"""The window opens a results folder of ``labelaudit audit --out``: by menu, drop, Open Recent, the start
page and the command line; it is kept in a project so review works; a bad folder is a one-line dialog."""

import json
import shutil

import numpy as np
import pandas as pd
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from labelaudit.core import cli
from labelaudit.gui import app as gui_app, launch
from labelaudit.gui.main_window import MainWindow
from test_gui_app import text_data  # noqa: F401 (fixture)
from test_gui_flow import drop
from test_gui_project import review_tab


def audit_to(out, *args):
    assert cli.main(["audit", *map(str, args), "--out", str(out), "--quiet"]) == 0
    return out


def shown(qtbot, window):
    """Wait until the results and their project's Review tab are shown; returns the report."""
    qtbot.waitUntil(lambda: window.report is not None and review_tab(window) is not None, timeout=30_000)
    return window.report


def test_menu_opens_cifar10_results_with_reviews_and_recalibration(qtbot, window, tmp_path, labelerrors,
                                                                   monkeypatch):
    d = labelerrors / "cifar10"
    out = audit_to(tmp_path / "c10_audit", d / "labels.npy", "--classes", d / "classes.txt", "--pred-probs",
                   d / "pred_probs.npy", "--reviews", d / "mturk.json", "--recalibrate", "temperature")
    summary = json.loads((out / "summary.json").read_text())
    stored = pd.read_parquet(out / "examples.parquet")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    window.open_results_action.trigger()
    report = shown(qtbot, window)
    assert report.examples["is_label_issue"].tolist() == stored["is_label_issue"].tolist()
    assert report.summary["accuracy"] == summary["accuracy"] == 0.9294
    assert report.calibration["ece"] == summary["calibration"]["ece"]
    assert report.recalibration is not None and report.recalibration.method == "temperature"
    assert window.calibration_tab.report is report
    assert window.config.data == str(out / "examples.parquet")  # Run audits the folder's table again
    assert window.data_label.text() == "c10_audit (results folder)"  # named after the folder, not its table
    # kept in a project, so review works and survives
    project = window.projects.project
    assert project is not None and project.path.name.startswith("c10_audit-")
    panel = review_tab(window)
    worst = stored[stored["is_label_issue"]].sort_values("label_quality", kind="stable")["row"].tolist()
    assert panel.session.queue == worst
    project.decide(worst[0], "keep")
    assert project.decision(worst[0])["action"] == "keep"
    window.projects.save_view()
    path = project.path
    window.projects.close_project()
    other = MainWindow(QSettings(str(tmp_path / "other.ini"), QSettings.IniFormat))  # the project reopens
    qtbot.addWidget(other)
    other.projects.open_project(str(path))
    again = shown(qtbot, other)
    assert review_tab(other).session.project.decision(worst[0])["action"] == "keep"
    assert again.examples["is_label_issue"].tolist() == stored["is_label_issue"].tolist()
    assert again.summary == summary
    other.projects.close_project()
    # Open Recent lists the folder
    assert str(out) in window.recent_files()
    assert any(title == "c10_audit (results folder)" for _p, title in window.recent_items())


def test_drop_recent_and_start_page_open_text_results(qtbot, tmp_path, text_data, monkeypatch):  # noqa: F811
    out = audit_to(tmp_path / "tickets_audit", text_data["csv"], "--pred-probs", text_data["probs"],
                   "--classes", text_data["classes"])
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    drop(first, out)
    report = shown(qtbot, first)
    original = pd.read_csv(text_data["csv"])
    assert report.dataset.texts() == original["text"].tolist()
    row = int(np.flatnonzero(report.examples["is_label_issue"].to_numpy())[0])
    first.selection.set_current(row)
    qtbot.waitUntil(lambda: original["text"][row] in first.explorer.inspector.text.toPlainText(), timeout=5_000)
    first.projects.close_project()
    first.close()

    second = MainWindow(settings)  # a new window: its start page lists the folder
    qtbot.addWidget(second)
    second.show()
    items = [second.start_page.recent.item(i) for i in range(second.start_page.recent.count())]
    entry = next(i for i in items if i.text().startswith("tickets_audit (results folder)"))
    second.start_page.recent.itemClicked.emit(entry)
    again = shown(qtbot, second)
    assert again.examples["is_label_issue"].tolist() == report.examples["is_label_issue"].tolist()
    second.projects.close_project()

    third = MainWindow(settings)  # Open Recent in the menu
    qtbot.addWidget(third)
    third._fill_recent_menu()
    next(a for a in third.recent_menu.actions() if a.text().startswith("tickets_audit (results folder)")).trigger()
    shown(qtbot, third)
    third.projects.close_project()

    fourth = MainWindow(settings)  # the start page's button
    qtbot.addWidget(fourth)
    fourth.show()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(out)))
    fourth.start_page.results_button.click()
    shown(qtbot, fourth)
    fourth.projects.close_project()


def test_a_bad_folder_is_a_one_line_dialog_and_the_page_stays(qtbot, window, tmp_path, text_data):  # noqa: F811
    out = audit_to(tmp_path / "run", text_data["csv"], "--pred-probs", text_data["probs"],
                   "--classes", text_data["classes"])
    np.save(out / "pred_probs.npy", np.full((5, 3), 1 / 3))
    window.open_path(str(out))
    qtbot.waitUntil(lambda: window.error_box is not None and not window.running, timeout=20_000)
    assert "pred_probs.npy" in window.error_box.text() and "\n" not in window.error_box.text()
    assert window.report is None and window.start_page.idle.isVisible()
    assert window.status_label.text().startswith("Could not open run:")
    window.error_box.close()
    qtbot.waitUntil(lambda: window.error_box is None)
    shutil.rmtree(out)
    out.mkdir()
    (out / ".labelaudit-results.json").write_text(json.dumps({"format": "labelaudit-results", "kind": "benchmark",
                                                                "files": []}))
    drop(window, out)
    qtbot.waitUntil(lambda: window.error_box is not None and not window.running, timeout=20_000)
    assert "benchmark results folder" in window.error_box.text()


def test_the_command_line_opens_a_results_folder(monkeypatch, tmp_path, capsys, text_data):  # noqa: F811
    opened = []
    monkeypatch.setattr(gui_app, "run_gui", lambda config=None, **kw: opened.append(kw) or 0)
    out = audit_to(tmp_path / "run", text_data["csv"], "--pred-probs", text_data["probs"],
                   "--classes", text_data["classes"])
    capsys.readouterr()
    assert launch.main(["gui", str(out)]) == 0
    assert opened == [{"project": str(out)}]
    assert launch.main(["gui", str(out), "--run"]) == 2
    assert "a results folder opens with its results" in capsys.readouterr().err


def test_opening_shows_progress_and_esc_cancels_it(qtbot, window, tmp_path, text_data, monkeypatch):  # noqa: F811
    import threading

    from labelaudit.core import results_open

    out = audit_to(tmp_path / "run", text_data["csv"], "--pred-probs", text_data["probs"],
                   "--classes", text_data["classes"])
    real, release = results_open.open_results, threading.Event()

    def slow(folder, ctx):
        with ctx.stage("reading the results folder", 10) as stage:
            while not release.wait(0.01):
                stage.advance(0)
                ctx.check_cancelled()
        return real(folder, ctx)

    monkeypatch.setattr(results_open, "open_results", slow)
    assert window.open_results(str(out))
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Reading the results folder: 0 / 10"),
                    timeout=10_000)
    assert window.start_page.isVisible() and window.cancel_action.isEnabled()
    assert not window.open_results_action.isEnabled()
    window.cancel_run()
    qtbot.waitUntil(lambda: not window.running, timeout=10_000)
    assert window.status_label.text() == "Cancelled opening run" and window.report is None
    assert window.start_page.idle.isVisible()
    release.set()
    assert window.open_results(str(out))  # and again, to the end
    qtbot.waitUntil(lambda: window.report is not None, timeout=20_000)
    assert int(window.report.examples["is_label_issue"].sum()) == window.report.summary["n_label_issues"]

"""The Review tab under faults: a decision that cannot be stored is visibly not taken; a
read-only project says so; a damaged project is a dialog naming it."""

import sqlite3

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from helpers.project_factory import CLASSES, make_project  # noqa: E402
from labelaudit.core.project import Project  # noqa: E402
from labelaudit.gui.main_window import MainWindow  # noqa: E402
from labelaudit.gui.review_panel import ReviewPanel  # noqa: E402


def show_panel(qtbot, project, reviewer="ana"):
    examples, probs, _ = project.load_results()
    widget = ReviewPanel(project, examples, CLASSES, pred_probs=probs, reviewer=reviewer)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setFocus()
    return widget


def test_a_decision_that_cannot_be_stored_is_shown_and_not_taken(qtbot, tmp_path):
    project = make_project(tmp_path)
    panel = show_panel(qtbot, project)
    row = panel.session.row
    other = sqlite3.connect(project.path, isolation_level=None)  # another program holds the file
    other.execute("BEGIN EXCLUSIVE")
    project._conn.execute("PRAGMA busy_timeout = 50")
    qtbot.keyClick(panel, Qt.Key_K)
    qtbot.waitUntil(lambda: panel.error_label.isVisible())
    assert panel.error_label.text().startswith("Not stored: ")
    assert "locked by another program" in panel.error_label.text()
    assert panel.session.row == row  # still on the same example
    assert "Decided: <b>—</b>" in panel.decided_label.text()
    assert panel.progress_label.text() == "reviewed 0 / 120"
    other.execute("ROLLBACK")
    other.close()
    assert project.decision(row) is None

    qtbot.keyClick(panel, Qt.Key_K)  # the lock is gone: stored, the line goes away, next example
    qtbot.waitUntil(lambda: not panel.error_label.isVisible())
    assert project.decision(row)["action"] == "keep" and panel.session.row != row
    project.close()


def test_undo_of_a_row_decided_later_elsewhere_is_refused_in_words(qtbot, tmp_path):
    project = make_project(tmp_path)
    panel = show_panel(qtbot, project)
    row = panel.session.row
    qtbot.keyClick(panel, Qt.Key_X)
    with Project.open(project.path) as elsewhere:
        elsewhere.decide(row, "accept", reviewer="ben")
    qtbot.keyClick(panel, Qt.Key_Z, Qt.ControlModifier)
    qtbot.waitUntil(lambda: panel.error_label.isVisible())
    assert panel.error_label.text().startswith(f"Not undone: row {row} was decided later by ben")
    assert project.decision(row) == {"action": "accept", "label": project.decision(row)["label"], "note": None,
                                     "reviewer": "ben"}
    project.close()


def test_read_only_project_says_so_and_deciding_says_why_not(qtbot, tmp_path):
    make_project(tmp_path).close()
    project = Project.open(tmp_path / "audit.labelaudit", read_only=True)
    panel = show_panel(qtbot, project)
    assert panel.read_only_label.isVisible()
    assert panel.read_only_label.text().startswith("Read-only: opened read-only.")
    row = panel.session.row
    qtbot.keyClick(panel, Qt.Key_A)
    qtbot.waitUntil(lambda: panel.error_label.isVisible())
    assert "Not stored: " in panel.error_label.text() and "read-only" in panel.error_label.text()
    assert panel.session.row == row and project.decision(row) is None
    project.close()


def real_project(tmp_path):
    """A project made by a real (headless) audit of the factory's data and probabilities."""
    import numpy as np

    from labelaudit.core.pipeline import AuditConfig, run_audit

    make_project(tmp_path, name="synthetic.labelaudit").close()
    with Project.open(tmp_path / "synthetic.labelaudit") as synthetic:
        np.save(tmp_path / "probs.npy", synthetic.load_results()[1])
    report = run_audit(AuditConfig(data=str(tmp_path / "data.csv"), pred_probs=str(tmp_path / "probs.npy"),
                                   text_col="text", label_col="label", id_col="id"))
    Project.create_from_report(tmp_path / "audit.labelaudit", report).close()
    return tmp_path / "audit.labelaudit"


def make_window(qtbot, tmp_path):
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_window_opens_a_project_it_cannot_write_read_only(qtbot, tmp_path, monkeypatch):
    path = real_project(tmp_path)
    monkeypatch.setattr("labelaudit.core.project._read_only_reason", lambda path: "on read-only media")
    window = make_window(qtbot, tmp_path)
    window.projects.open_project(str(path))
    qtbot.waitUntil(lambda: window.projects.panel is not None, timeout=30_000)
    panel = window.projects.panel
    assert panel.read_only_label.text().startswith("Read-only: on read-only media.")
    assert window.projects.project.read_only == "on read-only media"
    out = tmp_path / "decisions.csv"
    assert window.projects.export_decisions(str(out)) is not None  # exports work
    qtbot.waitUntil(lambda: window.exports.pending == 0, timeout=10_000)
    assert out.exists() and window.last_error is None


@pytest.mark.parametrize("sql, params, reason", [
    ("UPDATE blobs SET data = ? WHERE name = 'pred_probs.npy'", (b"\x93NUMPY\x01\x00junk",),
     "the stored pred_probs.npy is unreadable"),
    ("INSERT INTO decisions(row, reviewer, action, label, note, trail_id, time)"
     " VALUES (3, 'ana', 'relabel', 17, NULL, 1, 't')", (), "a stored decision names a row outside"),
])
def test_window_shows_a_damaged_project_as_a_dialog(qtbot, tmp_path, sql, params, reason):
    path = real_project(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.execute("INSERT OR IGNORE INTO reviewers(name, kind) VALUES ('ana', 'person')")
    conn.commit()
    conn.close()
    window = make_window(qtbot, tmp_path)
    window.projects.open_project(str(path))
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=30_000)
    assert window.last_error.startswith(f"project damaged: {path}: {reason}")
    assert "internal error" not in window.last_error and "Error:" not in window.last_error
    assert window.projects.project is None

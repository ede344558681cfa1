"""The app keeps every run in a project: Review tab, decided labels in the table,
save/reopen, human-validation import, cleanset export, recalibration in the table."""

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QSettings, Qt

from labelaudit.gui.main_window import MainWindow
from test_gui_app import config_for, run_to_results, text_data  # noqa: F401 (fixture)


def make_window(qtbot, tmp_path, name="settings.ini"):
    w = MainWindow(QSettings(str(tmp_path / name), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def review_tab(window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    return window.tabs.widget(titles.index("Review")) if "Review" in titles else None


def test_review_in_the_app_survives_reopening(qtbot, tmp_path, text_data):  # noqa: F811
    window = make_window(qtbot, tmp_path)
    report = run_to_results(qtbot, window, config_for(text_data))
    qtbot.waitUntil(lambda: review_tab(window) is not None, timeout=20_000)
    projects = window.projects
    assert projects.project is not None and projects.project.path.suffix == ".labelaudit"

    panel = review_tab(window)
    qtbot.keyClick(window, Qt.Key_R, Qt.ControlModifier | Qt.ShiftModifier)  # View > Review Flagged Examples
    assert window.tabs.currentWidget() is panel and panel.hasFocus()
    flagged = report.examples.sort_values("label_quality", kind="stable")
    flagged = flagged[flagged["is_label_issue"]]["row"].tolist()
    assert panel.session.queue == flagged  # worst first, like the table
    for key in (Qt.Key_A, Qt.Key_K, Qt.Key_X):  # accept suggested, keep given, exclude
        qtbot.keyClick(panel, key)
    first, second, third = flagged[:3]
    suggested = report.examples.set_index("row")["suggested_label"]

    # the table's Decided / Decision columns show the decisions
    model = window.explorer.model
    dec_col, what_col = model.column_index("decided_label"), model.column_index("decision")
    assert dec_col > model.column_index("suggested_label") >= 0
    shown = {model.row_of(r): (model.index(r, dec_col).data(), model.index(r, what_col).data())
             for r in range(model.rowCount())}
    assert shown[first] == (report.class_names[suggested[first]], "accept")
    assert shown[second][1] == "keep" and shown[third] == ("", "exclude")  # no decided label: blank, never -1

    # save as, export the cleanset, then reopen in a new window
    saved = projects.save_project_as(str(tmp_path / "tickets"))
    assert saved.name == "tickets.labelaudit" and saved.exists()
    out, log = tmp_path / "clean.csv", tmp_path / "decisions.csv"
    assert projects.export_cleanset(str(out), drop_excluded=True) is not None
    assert projects.export_decisions(str(log)) is not None
    qtbot.waitUntil(lambda: window.exports.pending == 0, timeout=20_000)  # both written in the background
    clean = pd.read_csv(out)
    assert len(clean) == text_data["n"] - 1
    original = pd.read_csv(text_data["csv"])
    row = clean.set_index("id").loc[original["id"][first]]
    assert row["corrected_label"] == report.class_names[suggested[first]]
    decisions = pd.read_csv(log)
    assert decisions["action"].tolist() == ["accept", "keep", "exclude"]

    other = make_window(qtbot, tmp_path, "other.ini")
    other.projects.open_project(str(saved))
    qtbot.waitUntil(lambda: other.report is not None and review_tab(other) is not None, timeout=30_000)
    again = review_tab(other)
    assert again.session.project.decision(first)["action"] == "accept"
    assert str(again.session.progress()).startswith("reviewed 3 / ")
    m2 = other.explorer.model
    shown2 = {m2.row_of(r): m2.index(r, m2.column_index("decision")).data() for r in range(m2.rowCount())}
    assert shown2[first] == "accept" and shown2[third] == "exclude"
    assert other.config.data == str(text_data["csv"])


def test_import_validation_and_recalibrate(qtbot, tmp_path, text_data):  # noqa: F811
    window = make_window(qtbot, tmp_path)
    report = run_to_results(qtbot, window, config_for(text_data))
    qtbot.waitUntil(lambda: review_tab(window) is not None, timeout=20_000)
    rows = sorted(text_data["flipped"])[:4]
    pd.DataFrame({"row": rows, "label": ["billing"] * 4, "verdict": ["error"] * 4}).to_csv(
        tmp_path / "checks.csv", index=False)
    assert window.projects.import_validation(str(tmp_path / "checks.csv"), reviewer="alice") == 4
    assert "Imported 4 decisions by alice" in window.status_label.text()

    bad = tmp_path / "bad.csv"
    bad.write_text("row,label,verdict\n99999,billing,error\n")
    assert window.projects.import_validation(str(bad), reviewer="bob") is None
    assert "bad.csv" in window.last_error

    # recalibration from the Calibration tab reaches the table and the overview
    tab = window.calibration_tab
    tab.method_box.setCurrentIndex(tab.method_box.findData("temperature"))
    tab.apply()
    qtbot.waitUntil(lambda: "confidence_recalibrated" in window.explorer.model.columns, timeout=60_000)
    assert window.report is report and report.recalibration is not None
    col = window.explorer.model.column_index("confidence_recalibrated")
    r0 = window.explorer.model.row_of(0)
    shown = float(window.explorer.model.index(0, col).data())
    assert shown == pytest.approx(report.recalibration.pred_probs[r0].max(), abs=1e-4)
    assert "recalibrated (temperature" in window.explorer.overview.model_label.full_text
    assert review_tab(window) is not None  # the same results: the project and its Review tab stay


def test_reviews_option_becomes_a_reviewer_in_the_project(qtbot, tmp_path, labelerrors):
    from labelaudit.core.pipeline import AuditConfig

    folder = labelerrors / "mnist"
    window = make_window(qtbot, tmp_path)
    config = AuditConfig(data=str(folder / "labels.npy"), pred_probs=str(folder / "pred_probs.npy"),
                         classes=str(folder / "classes.txt"), reviews=str(folder / "mturk.json"))
    run_to_results(qtbot, window, config)
    qtbot.waitUntil(lambda: review_tab(window) is not None, timeout=30_000)
    counts = window.projects.project.review_counts()["reviewers"]["mturk"]
    assert counts["decided"] == 100 and counts["not_kept"] == 15  # the paper's 15 validated errors
    assert window.explorer.overview.cards["validated_found"].isVisible()

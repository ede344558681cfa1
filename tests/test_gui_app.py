"""The desktop app end to end (pytest-qt, offscreen): open -> run -> explore -> export,
cancel, errors, the setup dialog, drag and drop, recent files."""

import time

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtTest import QTest

from labelaudit.core.calibration import bin_assignments, reliability_bins
from labelaudit.core.errors import InputError
from labelaudit.core.export import flagged_table
from labelaudit.core.pipeline import AuditConfig, run_audit
from labelaudit.gui.main_window import MainWindow
from labelaudit.gui.setup_dialog import AuditSetupDialog

CLASSES = ["billing", "shipping", "returns"]
WORDS = {
    "billing": "invoice charged twice refund card payment",
    "shipping": "parcel delivery courier late tracking box",
    "returns": "return item exchange label warehouse faulty",
}


@pytest.fixture(scope="module")
def text_data(tmp_path_factory):
    """300 support tickets, 3 classes, 15 labels flipped on purpose; out-of-sample-like probabilities."""
    folder = tmp_path_factory.mktemp("tickets")
    rng = np.random.default_rng(3)
    n, k = 300, 3
    true = rng.integers(0, k, n)
    given = true.copy()
    flipped = rng.choice(n, 15, replace=False)
    given[flipped] = (true[flipped] + 1 + rng.integers(0, k - 1, 15)) % k
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    words = [WORDS[CLASSES[t]].split() for t in true]
    text = [" ".join(rng.choice(w, 5)) + f" ticket {i}" for i, w in enumerate(words)]
    text[7] = "=HYPERLINK(\"x\") needle in a haystack"
    df = pd.DataFrame({"id": [f"T{i:04d}" for i in range(n)], "text": text, "label": [CLASSES[g] for g in given]})
    df.to_csv(folder / "tickets.csv", index=False)
    np.save(folder / "probs.npy", probs)
    (folder / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return {"csv": folder / "tickets.csv", "probs": folder / "probs.npy", "classes": folder / "classes.txt",
            "flipped": set(flipped.tolist()), "n": n}


def config_for(data):
    return AuditConfig(data=str(data["csv"]), pred_probs=str(data["probs"]), classes=str(data["classes"]))


def run_to_results(qtbot, window, config):
    window.set_config(config)
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None, timeout=60_000)
    plot = window.explorer.reliability
    qtbot.waitUntil(lambda: plot.bins is not None, timeout=5_000)
    # the run is autosaved into a project in the background; its status line comes when it is attached
    qtbot.waitUntil(lambda: window.projects.project is not None, timeout=10_000)
    return window.report


def test_open_run_filter_by_bin_and_export(qtbot, window, text_data, tmp_path):
    reports = []
    window.report_changed.connect(reports.append)
    report = run_to_results(qtbot, window, config_for(text_data))
    assert reports[-1] is report
    model, state = window.explorer.model, window.selection
    assert model.rowCount() == text_data["n"]
    # sorted by label quality, worst first; the flipped labels dominate the top of the table
    quality = report.examples["label_quality"].to_numpy()
    shown = [model.row_of(r) for r in range(model.rowCount())]
    assert np.all(np.diff(quality[shown]) >= 0)
    flagged = set(np.flatnonzero(report.examples["is_label_issue"]).tolist())
    assert len(flagged & text_data["flipped"]) >= 12
    assert window.explorer.overview.cards["n_label_issues"].value.text().startswith(f"{len(flagged):,} (")

    # a real mouse click on a reliability bar filters the table to exactly that bin's rows
    plot = window.explorer.reliability
    bins = reliability_bins(report.pred_probs, report.labels, n_bins=15, strategy="equal_width")
    b = int(bins["count"].idxmax())
    scene_pos = plot.bin_scene_pos(b)
    pos = plot.graphics.mapFromScene(scene_pos)
    QTest.mouseClick(plot.graphics.viewport(), Qt.LeftButton, Qt.NoModifier, pos)
    qtbot.waitUntil(lambda: state.filter.bin == (b, 15, "equal_width"), timeout=3_000)
    in_bin = np.flatnonzero(bin_assignments(report.examples["confidence"].to_numpy(), n_bins=15) == b)
    assert model.rowCount() == bins["count"][b] == len(in_bin)
    assert sorted(model.row_of(r) for r in range(model.rowCount())) == in_bin.tolist()
    chips = window.explorer.filter_bar.chip_texts(state.filter)
    assert chips == [("bin", f"Bin {b + 1}/15")]

    # export the view (that bin) and the flagged examples
    view_csv, out = tmp_path / "view.csv", tmp_path / "flagged.csv"
    assert window.export_view(str(view_csv)) is not None
    qtbot.waitUntil(lambda: window.exports.pending == 0, timeout=10_000)  # written in the background
    assert len(pd.read_csv(view_csv)) == len(in_bin)
    assert window.export_flagged(str(out)) is not None
    qtbot.waitUntil(lambda: window.exports.pending == 0, timeout=10_000)
    got = pd.read_csv(out, keep_default_na=False)
    expected = flagged_table(report.examples, report.class_names)
    assert list(got.columns) == list(expected.columns)
    assert got["row"].tolist() == expected["row"].tolist()
    assert set(got["given_label"]) <= set(CLASSES)
    assert got["label_quality"].is_monotonic_increasing
    if 7 in flagged:  # the formula-like ticket is neutralised on export
        assert got.loc[got["row"] == 7, "text"].iloc[0].startswith("'=")
    assert "Wrote" in window.status_label.text()

    # plots export as PNG and SVG
    png = window.export_plot(str(tmp_path / "reliability.png"), fmt="png")
    svg = window.export_plot(str(tmp_path / "reliability.svg"), fmt="svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()

    # clicking the same bin again clears that filter
    plot.click_bin(b)
    assert state.filter.bin is None and model.rowCount() == text_data["n"]


def test_linked_views_filters_sort_and_inspector(qtbot, window, text_data):
    report = run_to_results(qtbot, window, config_for(text_data))
    ex = window.explorer
    model, state = ex.model, window.selection
    ex_df = report.examples

    # confusion cell click -> given -> predicted pair
    ex.plots.setCurrentWidget(ex.confusion)
    qtbot.waitUntil(lambda: ex.confusion.values is not None, timeout=3_000)
    ex.confusion.click_cell(0, 1)
    expected = np.flatnonzero((ex_df.given_label == 0) & (ex_df.predicted_label == 1))
    assert sorted(state.rows.tolist()) == expected.tolist() and model.rowCount() == len(expected)
    assert state.filter.given_predicted == (0, 1)

    # flagged only + text search, combined with the pair filter cleared
    state.clear_filter()
    ex.filter_bar.flagged.setChecked(True)
    assert model.rowCount() == int(ex_df.is_label_issue.sum())
    ex.filter_bar.flagged.setChecked(False)
    qtbot.keyClicks(ex.filter_bar.search, "NEEDLE")
    ex.filter_bar.apply_search()
    assert [model.row_of(r) for r in range(model.rowCount())] == [7]

    # the inspector follows the selection: text, labels, why
    assert state.current_row == 7
    qtbot.waitUntil(lambda: "needle in a haystack" in ex.inspector.text.toPlainText(), timeout=2_000)
    assert ex.inspector.given.text().count(CLASSES[report.labels[7]]) == 1
    state.clear_filter()
    assert ex.filter_bar.search.text() == ""

    # sort by confidence, descending, through the model like a header click
    col = model.column_index("confidence")
    model.sort(col, Qt.DescendingOrder)
    conf = ex_df["confidence"].to_numpy()[[model.row_of(r) for r in range(model.rowCount())]]
    assert np.all(np.diff(conf) <= 0)

    # selecting a flagged row shows why it was flagged
    first_flagged = int(np.flatnonzero(ex_df.is_label_issue)[0])
    state.set_current(first_flagged)
    qtbot.waitUntil(lambda: ex.inspector.verdict.text() == "Likely label error", timeout=2_000)
    assert "Label quality" in ex.inspector.why.text()
    cur = ex.table.selectionModel().currentIndex()
    assert model.row_of(cur.row()) == first_flagged
    # Ctrl+C on the table copies the row: headers, then values with class names
    ex.table.setFocus()
    ex.copy_action.trigger()
    headers, values = QGuiApplication.clipboard().text().split("\n")
    copied = dict(zip(headers.split("\t"), values.split("\t")))
    assert copied["Row"] == str(first_flagged)
    assert copied["Given"] == CLASSES[report.labels[first_flagged]]

    # the class view filters by given label
    ex.plots.setCurrentWidget(ex.classes)
    row = next(r for r in range(ex.classes.per_class.rowCount()) if ex.classes.per_class.item(r, 0).text() == "returns")
    ex.classes._class_clicked(row, 0)
    assert state.filter.given == 2
    assert model.rowCount() == int((ex_df.given_label == 2).sum())


def test_added_tabs_follow_the_report(qtbot, window, text_data):
    from PySide6.QtWidgets import QWidget

    class Tab(QWidget):
        def __init__(self):
            super().__init__()
            self.reports = []

        def set_report(self, report):
            self.reports.append(report)

    early = Tab()
    built_in = window.tabs.count()
    assert [window.tabs.tabText(i) for i in range(built_in)] == ["Explore", "Calibration", "Benchmark", "Annotators"]
    assert window.add_tab(early, "Early") == built_in
    report = run_to_results(qtbot, window, config_for(text_data))
    late = Tab()
    window.add_tab(late, "Late")
    assert early.reports == [report] and late.reports == [report]
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[0] == "Explore" and titles.index("Early") < titles.index("Late")
    window.remove_tab(early)
    window.start_run()  # a re-run: the tabs keep the finished results until the new ones arrive
    qtbot.waitUntil(lambda: window.report is not report, timeout=60_000)
    assert early.reports == [report] and late.reports == [report, window.report]


def test_big_tables_sort_uncached_columns_off_the_gui_thread(qtbot, window, text_data, monkeypatch):
    from labelaudit.gui import state as gui_state

    report = run_to_results(qtbot, window, config_for(text_data))
    monkeypatch.setattr(gui_state, "ASYNC_SORT_ROWS", 10)  # treat this table as big
    busy = []
    window.selection.busy.connect(busy.append)
    model = window.explorer.model
    col = model.column_index("text")
    model.sort(col, Qt.AscendingOrder)
    assert busy and busy[0].startswith("Sorting 300 examples by Text")
    qtbot.waitUntil(lambda: busy[-1] == "", timeout=10_000)
    texts = [report.examples["text"][model.row_of(r)] for r in range(model.rowCount())]
    assert texts == sorted(texts)
    assert "flagged" in window.status_label.text()  # back to the results summary


def test_cancel_mid_run_shows_no_result(qtbot, window, text_data):
    started = []

    def slow_pipeline(config, ctx):
        with ctx.stage("scoring", 500) as stage:
            for _ in range(500):
                started.append(1)
                time.sleep(0.01)
                stage.advance(1)
        return run_audit(config, ctx)

    reports = []
    window.report_changed.connect(reports.append)
    window.run_fn = slow_pipeline
    window.set_config(config_for(text_data))
    window.start_run()
    qtbot.waitUntil(lambda: "ETA" in window.status_label.text(), timeout=10_000)
    assert window.status_label.text().startswith("Scoring:")  # 'Scoring: 12 / 500 · 95/s · ETA 0:05'
    assert window.cancel_action.isEnabled()
    assert window.cancel_action.shortcut() == QKeySequence(Qt.Key_Escape)
    window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window.running, timeout=10_000)
    assert window.status_label.text() == "Cancelled"
    assert len(started) < 500
    assert window.report is None and all(r is None for r in reports)
    assert window.stack.currentWidget() is window.start_page
    assert window.error_box is None
    assert window.run_action.isEnabled()


@pytest.mark.parametrize(
    "error, shown",
    [
        (InputError("tickets.csv: column 'label': row 12 is empty"), "tickets.csv: column 'label': row 12 is empty"),
        (RuntimeError("CUDA out of memory\nTried to allocate 2 GiB"), "RuntimeError: CUDA out of memory"),
    ],
)
def test_worker_error_becomes_a_dialog_and_the_window_still_works(qtbot, window, text_data, error, shown):
    def broken(config, ctx):
        raise error

    window.run_fn = broken
    window.set_config(config_for(text_data))
    window.start_run()
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert window.error_box.text() == shown
    assert not window.running
    assert window.status_label.text() == f"Failed: {shown}"
    window.error_box.done(0)
    # the same window runs the real pipeline afterwards
    window.run_fn = None
    report = run_to_results(qtbot, window, config_for(text_data))
    assert report.summary["n_examples"] == text_data["n"]


def test_missing_file_reports_the_pipelines_reason(qtbot, window, tmp_path):
    window.set_config(AuditConfig(data=str(tmp_path / "nope.csv")))
    window.start_run()
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=10_000)
    assert window.error_box.text() == f"{tmp_path / 'nope.csv'}: no such file or folder"


def test_setup_dialog_detects_columns_and_builds_the_config(qtbot, text_data):
    dlg = AuditSetupDialog(AuditConfig(data=str(text_data["csv"])))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.previewed == str(text_data["csv"]), timeout=10_000)
    assert dlg.preview_model.rowCount() == 30
    assert dlg.role_boxes["label_col"].currentText() == "label"
    assert dlg.role_boxes["text_col"].currentText() == "text"
    assert dlg.role_boxes["id_col"].currentText() == "id"
    assert "300 rows" in dlg.note.text()
    dlg.model_radios["predictions"].setChecked(True)
    assert dlg.problem() == "Choose the predictions file, or pick another model."
    dlg.pred_path.set_path(str(text_data["probs"]))
    dlg.logits.setChecked(True)
    dlg.classes.set_path(str(text_data["classes"]))
    assert dlg.problem() is None
    c = dlg.config()
    assert (c.label_col, c.text_col, c.id_col, c.image_col) == ("label", "text", "id", None)
    assert c.logits == str(text_data["probs"]) and c.pred_probs is None and c.model is None
    dlg.model_radios["llm"].setChecked(True)
    assert dlg.config().model == "llm" and dlg.config().logits is None


def test_setup_dialog_shows_a_bad_file_reason(qtbot, tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    dlg = AuditSetupDialog(AuditConfig(data=str(bad)))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.previewed == str(bad), timeout=10_000)
    assert "the file is empty" in dlg.note.text()


def test_drop_opens_setup_and_recent_files_remember_settings(qtbot, window, text_data, tmp_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text_data["csv"]))])
    event = QDropEvent(QPointF(300, 300), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.setup_dialog is not None, timeout=3_000)
    dlg = window.setup_dialog
    assert dlg.data_path.path() == str(text_data["csv"])
    qtbot.waitUntil(lambda: dlg.previewed == str(text_data["csv"]), timeout=10_000)
    dlg.model_radios["predictions"].setChecked(True)
    dlg.pred_path.set_path(str(text_data["probs"]))
    dlg.save_button.click()
    assert window.config.pred_probs == str(text_data["probs"]) and window.config.label_col == "label"
    assert window.recent_files() == [str(text_data["csv"])]
    assert window.run_action.isEnabled()

    again = MainWindow(window.settings)
    qtbot.addWidget(again)
    assert again.start_page.recent.count() == 1
    again.open_path(str(text_data["csv"]))
    assert again.setup_dialog.config().pred_probs == str(text_data["probs"])
    again.setup_dialog.reject()


def test_demo_finds_the_planted_errors(qtbot, window, tmp_path, monkeypatch):
    pytest.importorskip("labelaudit.core.scoring.registry")
    monkeypatch.setenv("LABELAUDIT_CACHE", str(tmp_path / "cache"))
    window.start_demo()
    qtbot.waitUntil(lambda: window.report is not None, timeout=120_000)
    report = window.report
    assert report.summary["n_examples"] == 1797
    planted = report.dataset.table["planted_error"].to_numpy(dtype=bool)
    flagged = report.examples["is_label_issue"].to_numpy(dtype=bool)
    assert (planted & flagged).sum() >= 0.5 * planted.sum()
    assert "planted_error" in window.explorer.model.columns
    qtbot.waitUntil(lambda: not window.explorer.inspector.image.pixmap().isNull(), timeout=2_000)
    assert window.last_stall_ms is None or window.last_stall_ms >= 0

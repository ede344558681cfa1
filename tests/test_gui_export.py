"""Exports from the window run in the background (gui.exporting) and write what core writes, byte for
byte: the flagged examples, the table view (filtered and sorted, in view order, as it was when asked),
all outputs, the project's cleanset and decisions log. A failure is one line naming the file; a second
export to a file being written is refused; closing the window while one runs drops its late result."""

import json
import threading

import numpy as np
import pandas as pd
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from shiboken6 import isValid

from labelaudit.core import export
from labelaudit.core.cleanset import export_cleanset, export_decisions
from labelaudit.gui import exporting
from labelaudit.gui.main_window import MainWindow
from test_gui_app import config_for, run_to_results, text_data  # noqa: F401 (fixture)


def wait_exports(qtbot, window, timeout=20_000):
    qtbot.waitUntil(lambda: window.exports.pending == 0, timeout=timeout)


def core_csv(table, path):
    return export.write_csv(table, path).read_bytes()


def blocked_writer(monkeypatch):
    """Make core's write_csv wait until the returned event is set (an export that is still running)."""
    gate, real = threading.Event(), export.write_csv

    def slow(data, path):
        gate.wait(20)
        return real(data, path)

    monkeypatch.setattr(export, "write_csv", slow)
    return gate


def test_window_exports_equal_core_files(qtbot, window, text_data, tmp_path):  # noqa: F811
    report = run_to_results(qtbot, window, config_for(text_data))
    names, examples = report.class_names, report.examples
    ref = tmp_path / "ref"
    ref.mkdir()

    # flagged examples: the status bar says what is written, then what was
    out = tmp_path / "flagged.csv"
    assert window.export_flagged(str(out)) is not None
    assert window.status_label.text() == f"Writing the flagged examples to {out}…"
    wait_exports(qtbot, window)
    table = export.flagged_table(examples, names)
    assert out.read_bytes() == core_csv(table, ref / "flagged.csv")
    assert window.status_label.text() == f"Wrote {len(table):,} flagged examples to {out}"

    # the table view, filtered and sorted: its rows in view order, as they were when it was asked for
    state = window.selection
    state.set_sort("confidence", True)
    state.update_filter(given=1)
    conf, given = examples["confidence"].to_numpy(), examples["given_label"].to_numpy()
    order = np.argsort(-conf, kind="stable")
    expected = order[given[order] == 1]
    qtbot.waitUntil(lambda: np.array_equal(state.rows, expected), timeout=5_000)
    view = tmp_path / "view.csv"
    assert window.export_view(str(view)) is not None
    state.clear_filter()  # a later change of the view does not change what is written
    wait_exports(qtbot, window)
    assert view.read_bytes() == core_csv(export.with_class_names(examples.iloc[expected], names), ref / "view.csv")
    assert window.status_label.text() == f"Wrote {len(expected):,} examples to {view}"

    # all outputs: the CLI's files
    folder = tmp_path / "outputs"
    assert window.save_outputs(str(folder)) is not None
    wait_exports(qtbot, window)
    written = export.write_outputs(report, ref / "outputs")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (ref / "outputs").iterdir())
    assert (folder / "flagged.csv").read_bytes() == written["flagged"].read_bytes()
    assert window.status_label.text().startswith("Wrote summary.json") and window.last_error is None

    # the project's cleanset and decisions log see a decision committed just before
    projects = window.projects
    row = int(table["row"].iloc[0])
    projects.project.decide(row, "exclude")
    clean, log = tmp_path / "clean.csv", tmp_path / "decisions.csv"
    assert projects.export_cleanset(str(clean), drop_excluded=False) is not None
    assert projects.export_decisions(str(log)) is not None
    wait_exports(qtbot, window)
    source = str(projects.project.path)
    assert clean.read_bytes() == export_cleanset(source, ref / "clean.csv").read_bytes()
    assert log.read_bytes() == export_decisions(source, ref / "decisions.csv").read_bytes()
    assert b'"exclude"' in clean.read_bytes() and b'"exclude"' in log.read_bytes()
    assert window.status_label.text() in (f"Wrote the cleanset to {clean}", f"Wrote the decisions log to {log}")
    assert window.last_error is None


def test_all_outputs_are_the_report_as_it_was_when_asked_for(qtbot, window, text_data, tmp_path,  # noqa: F811
                                                              monkeypatch):
    """A recalibration applied while Save All Outputs writes changes the report in place; the folder
    still holds one consistent set: the results as they were at the click, without the recalibration."""
    from labelaudit.core.recalibration import recalibrate

    report = run_to_results(qtbot, window, config_for(text_data))
    gate = threading.Event()
    real = export.write_outputs
    monkeypatch.setattr(export, "write_outputs", lambda rep, out: (gate.wait(20), real(rep, out))[1])
    folder = tmp_path / "outputs"
    assert window.save_outputs(str(folder)) is not None
    window.apply_recalibration(recalibrate(report.pred_probs, report.labels, "temperature", folds=2))
    assert report.recalibration is not None and "recalibration" in report.summary
    gate.set()
    wait_exports(qtbot, window)
    qtbot.waitUntil(lambda: "confidence_recalibrated" in window.explorer.model.columns, timeout=30_000)
    assert "pred_probs_recalibrated.npy" not in {p.name for p in folder.iterdir()}
    assert "recalibration" not in json.loads((folder / "summary.json").read_text())
    assert "confidence_recalibrated" not in pd.read_parquet(folder / "examples.parquet").columns
    assert window.last_error is None


def test_a_failed_export_is_one_line_naming_the_file_and_the_window_stays_usable(qtbot, window, text_data,  # noqa: F811
                                                                                 tmp_path):
    report = run_to_results(qtbot, window, config_for(text_data))
    bad = tmp_path / "no such folder" / "flagged.csv"
    assert window.export_view(str(bad)) is not None
    wait_exports(qtbot, window)
    assert window.last_error == f"{bad}: cannot write the file (No such file or directory)"
    assert window.error_box is not None and window.error_box.isVisible()
    window.error_box.accept()

    bad_clean = tmp_path / "no such folder" / "clean.csv"
    assert window.projects.export_cleanset(str(bad_clean), drop_excluded=True) is not None
    wait_exports(qtbot, window)
    assert window.last_error.startswith(f"{bad_clean}: ") and "\n" not in window.last_error
    window.error_box.accept()

    # the window goes on: the table filters and the next export is written
    window.selection.update_filter(flagged_only=True)
    flagged = int(report.examples["is_label_issue"].sum())
    qtbot.waitUntil(lambda: window.explorer.model.rowCount() == flagged, timeout=5_000)
    good = tmp_path / "view.csv"
    window.export_view(str(good))
    wait_exports(qtbot, window)
    assert good.exists() and window.status_label.text() == f"Wrote {flagged:,} examples to {good}"


def test_a_second_export_to_a_file_being_written_is_refused(qtbot, window, text_data, tmp_path,  # noqa: F811
                                                            monkeypatch):
    report = run_to_results(qtbot, window, config_for(text_data))
    gate = blocked_writer(monkeypatch)
    out = tmp_path / "out.csv"
    assert window.export_view(str(out)) is not None
    assert window.export_flagged(str(out)) is None
    assert window.status_label.text() == f"Still writing {out}: export again when it is done"
    gate.set()
    wait_exports(qtbot, window)
    assert out.read_bytes() == core_csv(export.with_class_names(report.examples.iloc[window.selection.rows],
                                                                report.class_names), tmp_path / "ref.csv")
    assert window.export_flagged(str(out)) is not None  # once written, it can be written again
    wait_exports(qtbot, window)
    assert window.last_error is None


def test_closing_the_window_while_an_export_runs_drops_the_late_result(qtbot, tmp_path, text_data,  # noqa: F811
                                                                       monkeypatch):
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    window.show()
    qtbot.waitExposed(window)
    run_to_results(qtbot, window, config_for(text_data))
    gate = blocked_writer(monkeypatch)
    out = tmp_path / "flagged.csv"
    assert window.export_flagged(str(out)) is not None
    window.close()
    window.deleteLater()
    qtbot.waitUntil(lambda: not isValid(window), timeout=5_000)
    gate.set()
    assert exporting.wait_for_writes(20)
    for _ in range(5):  # deliver the late result: to nobody
        QApplication.processEvents()
        qtbot.wait(20)
    assert out.exists()  # the file was still written whole

"""A run big enough for the out-of-core audit opens in the window the way a 10M-row one does: the table
holds every row, sorts and filters to the right rows, and the review columns fill in, with the
big-table paths (background sort, decision columns and review queue built on the thread pool) forced
on a few thousand rows by lowering their thresholds."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from labelaudit.core import audit_stream
from labelaudit.core.pipeline import AuditConfig, run_audit
from labelaudit.core.table_filter import decision_arrays, strings_from_codes
from labelaudit.gui import project_controller, state

N, K = 6000, 3


@pytest.fixture
def big_paths(monkeypatch):
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 1000)
    monkeypatch.setattr(audit_stream, "CHUNK_VALUES", 3000)  # many chunks
    monkeypatch.setattr(state, "ASYNC_SORT_ROWS", 1000)
    monkeypatch.setattr(state, "ASYNC_VIEW_ROWS", 1000)
    monkeypatch.setattr(project_controller, "ASYNC_SORT_ROWS", 1000)


def _files(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, K, N)
    probs = rng.dirichlet(np.full(K, 0.7), N)
    probs[np.arange(N), labels] += 0.5  # mostly agreeing with the labels, some flagged
    probs /= probs.sum(1, keepdims=True)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    (tmp_path / "classes.txt").write_text("neg\nneu\npos\n")
    return AuditConfig(data=str(tmp_path / "labels.npy"), pred_probs=str(tmp_path / "p.npy"),
                       classes=str(tmp_path / "classes.txt"))


def _shown(model, column):
    c = model.column_index(column)
    return [model.index(r, c).data() for r in range(model.rowCount())]


def test_streamed_run_opens_sorts_filters_and_shows_decisions(qtbot, window, tmp_path, big_paths, monkeypatch):
    config = _files(tmp_path)
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 10**12)
    expected = run_audit(config).examples  # the in-memory path, for comparison
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 1000)

    window.set_config(config)
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None and window.projects.project is not None, timeout=60_000)
    assert isinstance(window.report, audit_stream.StreamedReport)
    model, sel = window.explorer.model, window.selection
    assert model.rowCount() == N
    quality = expected["label_quality"].to_numpy()
    np.testing.assert_array_equal(sel.rows, np.argsort(quality, kind="stable"))  # worst label quality first
    assert _shown(model, "row")[:5] == [str(r) for r in np.argsort(quality, kind="stable")[:5]]

    # sort by confidence, highest first, from the header: on the thread pool at this size
    model.sort(model.column_index("confidence"), Qt.DescendingOrder)
    by_conf = np.argsort(-expected["confidence"].to_numpy(), kind="stable")
    qtbot.waitUntil(lambda: np.array_equal(sel.rows, by_conf), timeout=10_000)

    # flagged only, then a given class: the rows in the current order
    flagged = expected["is_label_issue"].to_numpy()
    assert 0 < flagged.sum() < N
    sel.update_filter(flagged_only=True)
    qtbot.waitUntil(lambda: np.array_equal(sel.rows, by_conf[flagged[by_conf]]), timeout=10_000)
    assert model.rowCount() == flagged.sum()
    sel.update_filter(given=2)
    keep = flagged & (expected["given_label"].to_numpy() == 2)
    qtbot.waitUntil(lambda: np.array_equal(sel.rows, by_conf[keep[by_conf]]), timeout=10_000)
    assert set(_shown(model, "given_label")) == {"pos"}

    # equal-mass bins of the reliability diagram (computed on the thread pool), then a bin as a filter
    plot = window.explorer.reliability
    plot.strategy_box.setCurrentIndex(plot.strategy_box.findData("equal_mass"))
    qtbot.waitUntil(lambda: plot.refresh() or (plot.bins is not None and plot.strategy == "equal_mass"), timeout=10_000)
    assert plot.bins["count"].sum() == N
    assert plot.bins["count"].max() - plot.bins["count"].min() <= 1  # equal mass

    # a review decision reaches the table's Decision column (built on the thread pool at this size)
    panel = window.projects.panel
    view = by_conf[keep[by_conf]]
    queue = view[np.argsort(quality[view], kind="stable")].tolist()  # the view's flagged rows, worst first
    qtbot.waitUntil(lambda: panel.session.queue == queue, timeout=10_000)
    row = panel.session.row
    panel.decide("keep")
    view_row = model.view_row_of(row)
    assert view_row >= 0
    decision = model.column_index("decision")
    qtbot.waitUntil(lambda: model.index(view_row, decision).data() == "keep", timeout=10_000)
    assert sum(v == "keep" for v in _shown(model, "decision")) == 1


def test_decision_columns_from_the_decided_rows_only():
    label, decision = decision_arrays([4, 1], [2, -1], ["relabel", "exclude"], 6,
                                      ("keep", "accept", "relabel", "exclude"))
    assert label.tolist() == [-1, -1, -1, -1, 2, -1]
    assert decision.to_pylist() == [None, "exclude", None, None, "relabel", None]
    assert strings_from_codes(np.array([1, -1, 0]), ["a", "b"]).to_pylist() == ["b", None, "a"]


def test_the_streamed_runs_project_reopens_with_its_rows_and_decisions(qtbot, window, tmp_path, big_paths):
    from PySide6.QtCore import QSettings

    from labelaudit.gui.main_window import MainWindow

    window.set_config(_files(tmp_path))
    assert window.start_run()
    qtbot.waitUntil(lambda: window.projects.project is not None and bool(window.projects.panel.session.queue),
                    timeout=60_000)
    panel = window.projects.panel
    row = panel.session.row
    panel.decide("exclude")
    flagged = int(window.report.examples["is_label_issue"].sum())

    other = MainWindow(QSettings(str(tmp_path / "other.ini"), QSettings.IniFormat))
    qtbot.addWidget(other)
    other.show()
    other.projects.open_project(str(window.projects.project.path))
    qtbot.waitUntil(lambda: other.projects.project is not None, timeout=60_000)
    try:
        model = other.explorer.model
        assert model.rowCount() == N
        decision = model.column_index("decision")
        qtbot.waitUntil(lambda: model.index(model.view_row_of(row), decision).data() == "exclude", timeout=10_000)
        again = other.projects.panel
        qtbot.waitUntil(lambda: len(again.session.queue) == flagged, timeout=10_000)
        assert again.session.project.decision(row)["action"] == "exclude"
    finally:
        other.projects.close_project()

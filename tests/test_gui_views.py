"""The results views tell the truth and stay usable: inspector verdicts, blank "none" values,
outlier direction, calibration intervals, corrections by count, a 100-class confusion view,
and the explorer at 1280x800."""

import csv

import numpy as np
import pandas as pd
import pyqtgraph as pg
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from labelaudit.core.audit import issue_state  # noqa: E402
from labelaudit.core.calibration_estimators import calibration_table, debiased_ece_with_se, smooth_ece  # noqa: E402
from labelaudit.core.export import with_class_names, write_csv  # noqa: E402
from labelaudit.core.pipeline import AuditConfig, run_audit  # noqa: E402
from labelaudit.core.table_filter import ExampleTable, TableFilter, blank_missing, pair_counts, top_pairs  # noqa: E402
from labelaudit.gui.explorer import ExplorerPage  # noqa: E402
from labelaudit.gui.overview import ClassesView  # noqa: E402
from labelaudit.gui.results import prepare_results  # noqa: E402
from labelaudit.gui.state import ResultsState  # noqa: E402

K = 100


def _dataset(folder, n, k, seed, text=True):
    """n examples of k classes, 8% of labels flipped; probabilities peaked on the true class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    given = true.copy()
    flip = rng.random(n) < 0.08
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    # each class is confused mostly with its neighbour, so a few confusions stand out
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 3.5
    logits[np.arange(n), (true + 1) % k] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    names = [f"intent_{i:03d}" for i in range(k)]
    df = pd.DataFrame({"label": [names[g] for g in given]})
    if text:
        df.insert(0, "text", [f"customer query number {i} about {names[t]} and a fairly long sentence" for i, t in
                              enumerate(true)])
    df.to_csv(folder / "data.csv", index=False)
    np.save(folder / "probs.npy", probs)
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    config = AuditConfig(data=str(folder / "data.csv"), pred_probs=str(folder / "probs.npy"),
                         classes=str(folder / "classes.txt"))
    return prepare_results(run_audit(config))


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A 100-class text dataset of 3,000 rows, audited from saved probabilities."""
    return _dataset(tmp_path_factory.mktemp("many"), 3000, K, seed=5)


@pytest.fixture
def page(qtbot, many):
    state = ResultsState()
    page = ExplorerPage(state)
    qtbot.addWidget(page)
    page.resize(1280, 760)
    page.show()
    qtbot.waitExposed(page)
    state.set_results(many)
    qtbot.waitUntil(lambda: page.model.rowCount() == many.table.n)
    return page


# -- §2: every label on screen is true ---------------------------------------------------------

def test_issue_state_says_why_a_low_quality_label_was_not_flagged():
    state, reason = issue_state(flagged=False, given=4, predicted=7, given_prob=0.0, class_threshold=0.8,
                                n_flagged_in_class=3, given_name="cat")
    assert state == "low_quality"
    assert "Not flagged" in reason and "0.000" in reason and "'cat'" in reason and "3 here" in reason
    other = issue_state(flagged=False, given=4, predicted=7, given_prob=0.0, class_threshold=0.8,
                        n_flagged_in_class=3, method={"description": "flagged by the 10 examples with the lowest "
                                                                     "normalized margin (--num-issues)"})
    assert other[0] == "low_quality" and "the 10 examples with the lowest normalized margin" in other[1]
    state, reason = issue_state(flagged=False, given=4, predicted=4, given_prob=0.3, class_threshold=0.8,
                                n_flagged_in_class=3, given_name="cat")
    assert state == "low_quality" and "top class is still 'cat'" in reason
    assert issue_state(flagged=True, given=4, predicted=7, given_prob=0.0, class_threshold=0.8,
                       n_flagged_in_class=3)[0] == "flagged"
    assert issue_state(flagged=False, given=4, predicted=4, given_prob=0.9, class_threshold=0.8,
                       n_flagged_in_class=3)[0] == "fine"


def test_inspector_shows_three_verdicts(qtbot, page, many):
    inspector = page.inspector
    states = {}
    for row in range(many.table.n):
        states.setdefault(inspector.verdict_of(many, row)[0], row)
    assert set(states) == {"flagged", "low_quality", "fine"}
    expected = {"flagged": "Likely label error", "low_quality": "Low label quality, not flagged",
                "fine": "Label looks fine"}
    for state, row in states.items():
        page.state.set_current(row)
        qtbot.waitUntil(lambda r=row: inspector.title.text().startswith(f"Row {r}"))
        assert inspector.verdict.text() == expected[state]
        p_given = float(many.table.columns["given_label_prob"][row])
        if state == "low_quality":
            assert "Not flagged although the model's probability of its label" in inspector.why.text()
            assert p_given < many.class_thresholds[int(many.table.columns["given_label"][row])]


def test_minus_one_is_blank_in_table_inspector_copy_and_csv(qtbot, page, many, tmp_path):
    # no reviewer decided anything: the Decided column is blank, never "-1" or a class named by index -1
    col = page.model.column_index("decided_label")
    assert col >= 0
    assert {page.model.data(page.model.index(r, col)) for r in range(20)} == {""}
    assert "-1" not in page.row_text(page.model.row_of(0)).split("\n")[1].split("\t")
    row = page.model.row_of(0)
    page.state.set_current(row)
    qtbot.waitUntil(lambda: page.inspector.title.text().startswith(f"Row {row}"))
    details = page.inspector.details
    values = {details.itemAt(i, details.ItemRole.LabelRole).widget().text():
              details.itemAt(i, details.ItemRole.FieldRole).widget().text() for i in range(details.rowCount())}
    assert values.get("Decided") == "" and "-1" not in values.values()

    df = pd.DataFrame({"row": [0, 1, 2], "given_label": [0, 1, 0], "near_duplicate_set": [-1, 4, 4],
                       "decided_label": [-1, -1, 1], "outlier_score": [0.9, 0.1, 0.5]})
    blank = blank_missing(df)
    assert blank["near_duplicate_set"].isna().tolist() == [True, False, False]
    out = write_csv(with_class_names(df, ["a", "b"]), tmp_path / "view.csv")
    lines = list(csv.reader(out.read_text().splitlines()))
    assert lines[1] == ["0", "a", "", "", "0.9"]
    assert lines[2] == ["1", "b", "4", "", "0.1"]
    table = ExampleTable.from_frame(df, ["a", "b"])
    assert table.value("near_duplicate_set", 0) == -1  # the engine keeps its code; only what a user sees is blank


def test_outlier_score_direction_is_labelled(many):
    title, tip = many.header("outlier_score")
    assert "low = unusual" in title
    assert "higher" not in tip


def test_corrections_are_sorted_by_count(qtbot, many):
    state = ResultsState()
    view = ClassesView(state)
    qtbot.addWidget(view)
    view.show()
    state.set_results(many)
    qtbot.waitUntil(lambda: view.corrections.rowCount() > 3)
    counts = [int(view.corrections.item(r, 2).text().replace(",", "")) for r in range(view.corrections.rowCount())]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == int(many.report.audit.top_corrections["count"].max())


def test_smooth_ece_interval_contains_its_estimate_and_debiased_has_a_sign():
    rng = np.random.default_rng(0)
    # a well-calibrated model: smooth ECE is small and biased upward, its resamples sit above it
    c = rng.uniform(0.5, 1.0, 4000)
    y = (rng.uniform(size=4000) < c).astype(int)
    p = np.stack([c, 1 - c], axis=1)
    labels = np.where(y == 1, 0, 1)
    out = smooth_ece(p, labels, n_boot=60, seed=0)
    assert out["low"] <= out["value"] <= out["high"]
    assert out["method"] == "normal-approximation bootstrap"
    assert out["high"] - out["value"] == pytest.approx(1.959964 * out["se"], rel=1e-4)
    deb = debiased_ece_with_se(p, labels, n_boot=60)
    assert deb["se"] > 0
    assert deb["about_zero"] == (abs(deb["value"]) < deb["se"])
    rows = {r["key"]: r for r in calibration_table(p, labels, n_boot=30)}
    assert rows["debiased_ece"]["se"] is not None and rows["ece"]["se"] is None
    assert "normal-approximation bootstrap" in rows["smooth_ece"]["convention"]
    # an overconfident model: the debiased ECE is clearly positive, not "about 0"
    wrong = (rng.uniform(size=4000) < c - 0.15).astype(int)
    deb = debiased_ece_with_se(p, np.where(wrong == 1, 0, 1), n_boot=30)
    assert deb["value"] > 0.1 and not deb["about_zero"]


def test_calibration_cell_text_shows_sign_or_about_zero():
    from labelaudit.gui.calibration_tab import _cell, fitted_words

    assert _cell({"value": -0.0021, "se": 0.004, "about_zero": True}).startswith("about 0  (-0.0021 ± 0.0040")
    assert _cell({"value": 0.05, "se": 0.004, "about_zero": False}).startswith("+0.0500")
    assert _cell({"value": 0.0134, "interval": (0.009, 0.0178)}) == "0.0134  [0.0090, 0.0178]"
    result = type("R", (), {"method": "temperature", "details": {"temperature": 1.8734}})()
    assert fitted_words(result) == "T = 1.873"


# -- §4: a confusion view that works at 100 classes ---------------------------------------------

def test_top_pairs_largest_off_diagonal_first():
    counts = np.array([[50, 3, 7], [1, 40, 0], [7, 2, 30]])
    top = top_pairs(counts)
    assert list(zip(top["given"], top["other"], top["count"])) == [(0, 2, 7), (2, 0, 7), (0, 1, 3), (2, 1, 2),
                                                                   (1, 0, 1)]
    assert len(top_pairs(counts, 2)) == 2


def test_confusion_at_100_classes_hover_click_and_top_list(qtbot, page, many, request):
    page.plots.setCurrentWidget(page.confusion)
    plot = page.confusion
    qtbot.waitUntil(lambda: plot.values is not None)
    qtbot.waitUntil(lambda: plot.top_list.rowCount() > 0)
    counts = pair_counts(many.table.columns["given_label"], many.table.columns["predicted_label"], K)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    shown = [int(plot.top_list.item(r, 2).text().replace(",", "")) for r in range(plot.top_list.rowCount())]
    assert shown == sorted(shown, reverse=True) and shown[0] == off.max()
    # a click on the first pair filters the table to exactly those rows
    g, p = plot.top_list.item(0, 0).data(Qt.UserRole)
    plot.top_list.cellClicked.emit(0, 0)
    assert page.state.filter == TableFilter(given_predicted=(g, p))
    qtbot.waitUntil(lambda: page.model.rowCount() == off.max())
    page.state.clear_filter()

    # real mouse clicks on cells of a 100 x 100 heatmap land on the cell under the pointer
    vb = plot.plot.getViewBox()
    view = plot.graphics
    pg.setConfigOptions(mouseRateLimit=0)  # take every move (pyqtgraph drops those faster than 100 Hz)
    request.addfinalizer(lambda: pg.setConfigOptions(mouseRateLimit=100))
    for i, j in [(3, 4), (0, 0), (50, 51), (98, 99), (99, 0), (g, p)]:
        scene = vb.mapViewToScene(pg_point(j + 0.5, i + 0.5))
        pos = view.mapFromScene(scene)
        expected = f"given {many.class_names[i]!r} → predicted {many.class_names[j]!r}: {counts[i, j]:,} examples"
        _hover(view.viewport(), pos)
        assert plot.readout.text().startswith(expected)
        QTest.mouseClick(view.viewport(), Qt.LeftButton, Qt.NoModifier, pos)
        assert page.state.filter.given_predicted == (i, j)
        page.state.clear_filter()


def _hover(widget, pos):
    """A mouse move with no button pressed (QTest.mouseMove does not reach the scene offscreen)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    local = QPointF(pos)
    event = QMouseEvent(QMouseEvent.Type.MouseMove, local, QPointF(widget.mapToGlobal(pos)), Qt.NoButton,
                        Qt.NoButton, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def pg_point(x, y):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


# -- §3: fits 1280x800 -------------------------------------------------------------------------

def test_explorer_at_1280x800_shows_text_and_an_unclipped_badge(qtbot, page, many):
    table = page.table
    text_col = page.model.column_index(many.input_col)
    assert text_col >= 0
    left = table.columnViewportPosition(text_col)
    assert 0 <= left < table.viewport().width() - 120, "the text column starts off-screen"
    inspector = page.inspector
    low = next(r for r in range(many.table.n) if inspector.verdict_of(many, r)[0] == "low_quality")
    page.state.set_current(low)  # the longest badge
    qtbot.waitUntil(lambda: inspector.verdict.text() == "Low label quality, not flagged")
    badge = inspector.verdict
    right = badge.mapTo(inspector.viewport(), QPoint(badge.width(), 0)).x()
    assert right <= inspector.viewport().width()
    assert badge.width() >= badge.sizeHint().width()
    bars = inspector.bars
    assert bars.mapTo(inspector.viewport(), QPoint(bars.width(), 0)).x() <= inspector.viewport().width()
    label_w, bar_w, value_w = bars.columns()
    assert label_w + bar_w + 4 + value_w <= bars.width()  # the probability values are drawn inside the widget
    assert bars.fontMetrics().horizontalAdvance("1.000") <= value_w


def test_slope_chart_labels_of_close_values_do_not_overlap():
    from labelaudit.gui.benchmark_tab import spread

    gap = 0.01
    placed = spread([0.80, 0.950, 0.951, 0.952], gap)
    assert placed[0] == 0.80  # far from the others: stays at its value
    assert all(b - a >= gap - 1e-12 for a, b in zip(placed, placed[1:]))
    assert sum(placed[1:]) / 3 == pytest.approx(0.951)  # the crowded three stay centred on their values
    assert spread([1.0, 2.0, 3.0], 0.5) == [1.0, 2.0, 3.0]

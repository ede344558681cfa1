"""Results arrive in event-loop turns (gui.turns): queued calls run in order, one per turn, never
into a deleted widget; after a run the visible plot and the inspector show it, and a plot on a
hidden tab draws when its tab is shown."""

from PySide6.QtCore import QObject, QTimer
from shiboken6 import isValid

from labelaudit.gui.turns import later

from test_gui_flow import data, run_to_results  # noqa: F401  (the fixture and the helper)


def test_queued_calls_run_in_order_one_per_turn_and_skip_deleted_owners(qtbot):
    calls = []
    alive, doomed = QObject(), QObject()

    def first():
        calls.append("first")
        QTimer.singleShot(0, lambda: calls.append("the event loop"))  # Qt's own turn comes before the next call

    later(first, alive)
    later(lambda: calls.append("deleted owner"), doomed)
    later(lambda: calls.append("same key"), alive, key="k")
    later(lambda: calls.append("same key again"), alive, key="k")  # waits behind the first: not queued
    later(lambda: calls.append("last"), alive)
    doomed.deleteLater()
    qtbot.waitUntil(lambda: not isValid(doomed), timeout=5_000)
    qtbot.waitUntil(lambda: "last" in calls, timeout=5_000)
    assert calls == ["first", "the event loop", "same key", "last"]


def test_after_a_run_the_plot_and_inspector_show_it_and_a_hidden_plot_draws_when_shown(qtbot, window, data):  # noqa: F811
    report = run_to_results(qtbot, window, data)
    page = window.explorer
    reliability, confidence = page.reliability, page.confidence
    qtbot.waitUntil(lambda: reliability.view_stack.currentWidget() is reliability.graphics, timeout=10_000)
    assert reliability.plot.titleLabel.text.startswith("ECE ")
    row = window.selection.current_row
    qtbot.waitUntil(lambda: page.inspector.title.text().startswith(f"Row {row}"), timeout=10_000)

    # the Confidence tab was hidden during the run: nothing drawn yet, drawn once shown
    assert confidence.view_stack.currentWidget() is confidence.placeholder
    assert "correct" not in confidence.readout.text()
    page.plots.setCurrentWidget(confidence)
    qtbot.waitUntil(lambda: confidence.view_stack.currentWidget() is confidence.graphics, timeout=10_000)
    wrong = int((report.pred_probs.argmax(1) != report.labels).sum())
    assert confidence.readout.text().endswith(
        f"{report.summary['n_examples'] - wrong:,} correct · {wrong:,} incorrect (top-label prediction vs the given label)"
    )

"""Review mode by keyboard only: 100 flagged examples decided with key presses, then checked in the project."""

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from labelaudit.core.project import Project  # noqa: E402
from labelaudit.gui.review_panel import ReviewPanel  # noqa: E402
from helpers.project_factory import CLASSES, make_project  # noqa: E402


@pytest.fixture
def panel(qtbot, tmp_path):
    project = make_project(tmp_path)
    examples, probs, _ = project.load_results()
    widget = ReviewPanel(project, examples, CLASSES, pred_probs=probs, reviewer="ana")
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    widget.setFocus()
    yield widget, project, examples
    project.close()


def press(qtbot, key, modifier=Qt.NoModifier):
    """Send a key to whatever has keyboard focus, as a keyboard would."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has keyboard focus"
    qtbot.keyClick(target, key, modifier)


def type_text(qtbot, text):
    qtbot.keyClicks(QApplication.focusWidget(), text)


def test_review_100_flagged_examples_by_keyboard_only(panel, qtbot):
    widget, project, examples = panel
    queue = list(widget.session.queue)
    assert widget.progress_label.text() == "reviewed 0 / 120"
    emitted = []
    widget.decisionsChanged.connect(emitted.append)
    expected = {}
    for i, row in enumerate(queue[:100]):
        given, suggested = int(examples.given_label[row]), int(examples.suggested_label[row])
        kind = i % 7
        if kind == 0:
            press(qtbot, Qt.Key_K)
            expected[row] = ("keep", given)
        elif kind == 1:
            press(qtbot, Qt.Key_A)
            expected[row] = ("accept", suggested)
        elif kind == 2:
            press(qtbot, Qt.Key_X)
            expected[row] = ("exclude", -1)
        elif kind == 3:
            press(qtbot, Qt.Key_U)
            expected[row] = ("unsure", -1)
        elif kind == 4:  # digit: class 3 is "dog"
            press(qtbot, Qt.Key_3)
            expected[row] = (None, 2)
        elif kind == 5:  # type-ahead: "/" then a class name and Enter
            press(qtbot, Qt.Key_Slash)
            assert QApplication.focusWidget() is widget.class_edit
            type_text(qtbot, "fish")
            press(qtbot, Qt.Key_Return)
            assert QApplication.focusWidget() is widget
            expected[row] = (None, 3)
        else:  # a note, then keep
            press(qtbot, Qt.Key_N)
            assert QApplication.focusWidget() is widget.note_edit
            type_text(qtbot, f"checked {row}")
            press(qtbot, Qt.Key_Return)
            press(qtbot, Qt.Key_K)
            expected[row] = ("keep", given)
    assert widget.progress_label.text() == "reviewed 100 / 120 (14 need another look)"
    assert widget.session.row == queue[100]

    decisions = project.decisions(reviewer="ana").set_index("row")
    assert set(decisions.index) == set(queue[:100])
    for row, (action, label) in expected.items():
        assert decisions.loc[row, "label"] == label, row
        if action is not None:
            assert decisions.loc[row, "action"] == action
    assert decisions.loc[queue[6], "note"] == f"checked {queue[6]}"
    assert [r for rows in emitted for r in rows if rows].count(queue[0]) == 1

    # undo and redo from the keyboard
    press(qtbot, Qt.Key_Z, Qt.ControlModifier)
    assert widget.progress_label.text().startswith("reviewed 99 / 120")
    assert widget.session.row == queue[99] and emitted[-1] == [queue[99]]
    press(qtbot, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert widget.progress_label.text().startswith("reviewed 100 / 120")

    # the decisions are on disk: a fresh connection sees all 100
    with Project.open(project.path) as again:
        assert len(again.decisions(reviewer="ana")) == 100


def test_navigation_batch_accept_and_labels_shown(panel, qtbot):
    widget, project, examples = panel
    queue = widget.session.queue
    row = queue[0]
    assert f"Row {row}" in widget.header.text()
    assert CLASSES[examples.given_label[row]] in widget.given_label.text()
    assert CLASSES[examples.suggested_label[row]] in widget.suggested_label.text()
    assert widget.text_view.toPlainText() == examples.text[row]
    press(qtbot, Qt.Key_Down)
    press(qtbot, Qt.Key_Down)
    press(qtbot, Qt.Key_Up)
    assert widget.session.row == queue[1]
    press(qtbot, Qt.Key_X)  # exclude queue[1]
    assert "exclude" in project.decision(queue[1])["action"]
    press(qtbot, Qt.Key_Up)
    assert "exclude" in widget.decided_label.text()
    widget.batch_k.setValue(5)
    press(qtbot, Qt.Key_A, Qt.ShiftModifier)  # accept suggested for the top 5 of the view, skipping decided
    d = project.decisions().set_index("row")
    assert [d.loc[r, "action"] for r in queue[:5]] == ["accept", "exclude", "accept", "accept", "accept"]
    press(qtbot, Qt.Key_Z, Qt.ControlModifier)  # one undo takes back the whole batch
    assert list(project.decisions()["row"]) == [queue[1]]
    press(qtbot, Qt.Key_Home)
    assert widget.session.row == queue[0]
    # a filtered view: only rows given "cat"
    cats = [r for r in queue if examples.given_label[r] == 1]
    widget.set_rows(cats)
    assert widget.progress_label.text() == f"reviewed {int(queue[1] in cats)} / {len(cats)}"
    shown = widget.session.row
    assert shown in cats
    press(qtbot, Qt.Key_K)
    assert project.decision(shown)["action"] == "keep" and widget.session.row in cats


def test_digit_keys_follow_digit_class_names():
    from labelaudit.gui.review_panel import digit_classes

    assert digit_classes([str(i) for i in range(10)]) == {i: i for i in range(10)}  # MNIST: key 5 is class "5"
    assert digit_classes(["neg", "pos"]) == {1: 0, 2: 1}
    assert digit_classes([f"c{i}" for i in range(12)])[0] == 9 and len(digit_classes([f"c{i}" for i in range(12)])) == 10

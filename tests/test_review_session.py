"""Review session: worst-first queue, decisions move on, progress, batch accept, undo/redo, resume."""

import pytest

from labelaudit.core.errors import InputError
from labelaudit.core.project import Project
from labelaudit.core.review_session import ReviewSession, review_order
from helpers.project_factory import CLASSES, make_project


@pytest.fixture
def setup(tmp_path):
    project = make_project(tmp_path)
    examples, probs, _ = project.load_results()
    yield project, examples, probs
    project.close()


def session_for(project, examples, probs, **kw):
    return ReviewSession(project, examples, CLASSES, pred_probs=probs, reviewer="ana", **kw)


def test_queue_is_flagged_rows_worst_first(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    flagged = examples[examples.is_label_issue]
    assert len(s.queue) == 120 and set(s.queue) == set(flagged.row)
    quality = examples.set_index("row").label_quality
    assert list(quality[s.queue]) == sorted(quality[s.queue])
    assert s.row == s.queue[0]
    assert str(s.progress()) == "reviewed 0 / 120"


def test_decisions_advance_and_count_towards_progress(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    q = s.queue
    s.keep()
    s.accept()
    s.exclude()
    s.unsure()
    other = next(c for c in range(4) if c not in (s.given(q[4]), s.suggested(q[4])))
    s.relabel(CLASSES[other])
    assert s.row == q[5]
    d = project.decisions().set_index("row")
    assert [d.loc[r, "action"] for r in q[:5]] == ["keep", "accept", "exclude", "unsure", "relabel"]
    assert d.loc[q[1], "label"] == examples.suggested_label[q[1]] and d.loc[q[4], "label"] == other
    assert str(s.progress()) == "reviewed 5 / 120 (1 need another look)"
    s.note("look at the source")  # stays on the row
    assert s.row == q[5] and project.decision(q[5], reviewer="ana")["note"] == "look at the source"
    assert s.progress().reviewed == 5  # a note alone is not a decision


def test_accept_top_k_skips_decided_rows_and_undoes_as_one(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    q = s.queue
    s.exclude()
    changed = s.accept_top(10)
    assert changed == q[1:10]
    d = project.decisions().set_index("row")
    assert d.loc[q[0], "action"] == "exclude"
    assert all(d.loc[r, "label"] == examples.suggested_label[r] for r in q[1:10])
    assert s.progress().reviewed == 10
    assert sorted(s.undo()) == sorted(q[1:10])
    assert s.progress().reviewed == 1 and s.row == q[1]
    s.redo()
    assert s.progress().reviewed == 10


def test_undo_moves_back_to_the_undone_row(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    q = s.queue
    s.keep()
    s.keep()
    assert s.row == q[2]
    assert s.undo() == [q[1]] and s.row == q[1] and s.decision() is None
    assert s.redo() == [q[1]] and s.decision()["action"] == "keep"


def test_filtered_view_and_navigation(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    view = [r for r in s.queue if examples.given_label[r] == 0]
    s.set_queue(view)
    assert s.queue == view and s.progress().total == len(view)
    s.move(-5)
    assert s.row == view[0]
    s.move(10**6)
    assert s.row == view[-1]
    s.goto(view[2])
    assert s.row == view[2]
    with pytest.raises(InputError, match="not in the review queue"):
        s.goto(-1)
    assert review_order(examples, flagged_only=False)[:3] == list(
        examples.sort_values("label_quality").row[:3])


def test_top_k_probabilities(setup):
    project, examples, probs = setup
    s = session_for(project, examples, probs)
    top = s.top_k(s.row, 3)
    assert [c for c, _ in top][0] == probs[s.row].argmax()
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_reopened_session_resumes_at_first_undecided_row(tmp_path):
    project = make_project(tmp_path)
    examples, probs, _ = project.load_results()
    s = session_for(project, examples, probs)
    q = s.queue
    for _ in range(7):
        s.accept()
    project.close()
    with Project.open(tmp_path / "audit.labelaudit") as again:
        s2 = session_for(again, examples, probs)
        assert s2.row == q[7]
        assert str(s2.progress()) == "reviewed 7 / 120"

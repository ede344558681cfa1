"""The .labelaudit project file: decisions, undo/redo, reopening, dataset checks, bad files."""

import json
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.errors import InputError, ProjectDamaged
from labelaudit.core.project import SCHEMA_VERSION, Project
from helpers.project_factory import CLASSES, make_project


@pytest.fixture
def project(tmp_path):
    p = make_project(tmp_path)
    yield p
    p.close()


def flagged_rows(project):
    examples, _, _ = project.load_results()
    flagged = examples[examples["is_label_issue"]].sort_values("label_quality")
    return flagged["row"].tolist(), examples


def test_decisions_set_the_labels_a_reviewer_expects(project):
    rows, ex = flagged_rows(project)
    r0, r1, r2, r3, r4 = rows[:5]
    project.decide(r0, "keep", reviewer="ana")
    project.decide(r1, "accept", reviewer="ana")
    other = next(c for c in range(4) if c not in (ex.given_label[r2], ex.suggested_label[r2]))
    project.decide(r2, "relabel", label=CLASSES[other], reviewer="ana")
    project.decide(r3, "exclude", reviewer="ana", note="blurry")
    project.decide(r4, "unsure", reviewer="ana")
    d = project.decisions().set_index("row")
    assert d.loc[r0, "action"] == "keep" and d.loc[r0, "label"] == ex.given_label[r0]
    assert d.loc[r1, "action"] == "accept" and d.loc[r1, "label"] == ex.suggested_label[r1]
    assert d.loc[r2, "action"] == "relabel" and d.loc[r2, "label"] == other
    assert d.loc[r3, "action"] == "exclude" and d.loc[r3, "label"] == -1 and d.loc[r3, "note"] == "blurry"
    assert d.loc[r4, "action"] == "unsure" and d.loc[r4, "label"] == -1
    assert set(d["reviewer"]) == {"ana"}
    cols = project.decision_columns()
    assert len(cols) == 300 and cols.decision.notna().sum() == 5
    assert cols.decision[r2] == "relabel" and cols.decided_label[r2] == other and cols.decided_by[r2] == "ana"
    assert cols.decided_label[r3] == -1 and cols.decision[0 if 0 not in rows[:5] else rows[5]] is None


def test_relabel_to_given_or_suggested_is_stored_as_keep_or_accept(project):
    rows, ex = flagged_rows(project)
    project.decide(rows[0], "relabel", label=int(ex.given_label[rows[0]]))
    project.decide(rows[1], "relabel", label=CLASSES[ex.suggested_label[rows[1]]])
    assert project.decision(rows[0])["action"] == "keep"
    assert project.decision(rows[1])["action"] == "accept"


def test_note_survives_a_changed_decision_and_noop_is_not_recorded(project):
    row = flagged_rows(project)[0][0]
    project.decide(row, "note", note="check the source")
    project.decide(row, "keep")
    project.decide(row, "accept")
    assert project.decision(row)["note"] == "check the source"
    assert project.decide(row, "accept") is None
    assert len(project.trail()) == 3
    other = flagged_rows(project)[0][1]
    project.decide(other, "note", note="maybe")
    project.decide(other, "note", note="")
    assert project.decision(other, reviewer=project.decisions()["reviewer"][0]) is None
    assert len(project.decisions()) == 1


def test_undo_redo_append_to_the_trail_and_restore_state(project):
    rows, ex = flagged_rows(project)
    project.decide(rows[0], "keep")
    project.decide(rows[0], "exclude")
    assert project.undo() == [rows[0]]
    assert project.decision(rows[0])["action"] == "keep"
    assert project.undo() == [rows[0]]
    assert project.decision(rows[0]) is None
    assert project.undo() == []
    assert project.redo() == [rows[0]]
    assert project.decision(rows[0])["action"] == "keep"
    trail = project.trail()
    assert trail["action"].tolist() == ["keep", "exclude", "undo", "undo", "redo"]
    assert trail["before"][2]["action"] == "exclude" and trail["after"][2]["action"] == "keep"
    # a new decision after an undo drops the redo history
    project.undo()
    project.decide(rows[1], "accept")
    assert not project.can_redo and project.redo() == []


def test_batch_is_one_undo_step(project):
    rows, _ = flagged_rows(project)
    project.decide(rows[0], "exclude")
    step = project.decide_many(rows[:10], "accept", description="accept top 10")
    assert step is not None
    assert (project.decisions()["action"] == "accept").sum() == 10
    assert sorted(project.undo()) == sorted(rows[:10])
    d = project.decisions().set_index("row")
    assert len(d) == 1 and d.loc[rows[0], "action"] == "exclude"


def test_trail_is_append_only(project):
    project.decide(flagged_rows(project)[0][0], "keep")
    conn = sqlite3.connect(project.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE trail SET action = 'accept'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM trail")
    conn.close()


def test_reopen_restores_decisions_results_and_undo_history(tmp_path):
    project = make_project(tmp_path)
    rows, _ = flagged_rows(project)
    for r in rows[:5]:
        project.decide(r, "accept", reviewer="ana")
    project.decide(rows[5], "exclude", reviewer="ana", note="not a bird")
    project.undo()
    examples, probs, summary = project.load_results()
    before = project.decisions()
    project.set_setting("review.row", rows[5])
    project.close()

    with Project.open(tmp_path / "audit.labelaudit") as again:
        pd.testing.assert_frame_equal(again.decisions(), before)
        ex2, probs2, summary2 = again.load_results()
        pd.testing.assert_frame_equal(ex2, examples)
        np.testing.assert_array_equal(probs2, probs)
        assert summary2 == summary and again.class_names == CLASSES
        assert again.setting("review.row") == rows[5]
        assert again.can_redo
        assert again.redo() == [rows[5]]
        assert again.decision(rows[5])["note"] == "not a bird"
        assert again.undo() == [rows[5]] and again.undo() == [rows[4]]
        assert again.decision(rows[4]) is None


def test_file_is_sqlite_wal_with_schema_version(project):
    conn = sqlite3.connect(project.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert json.loads(conn.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])["text_col"] == "text"
    conn.close()


def test_dataset_change_move_and_relink(tmp_path):
    project = make_project(tmp_path / "a")
    assert project.dataset_status() == "ok" and not project.dataset_changed()
    data = tmp_path / "a" / "data.csv"
    data.write_text(data.read_text().replace("example 10 ", "example ten "))
    assert project.dataset_status() == "changed" and project.dataset_changed()
    project.relink_dataset(data)
    assert project.dataset_status() == "ok"
    project.close()
    # moving the folder that holds both the project and its data keeps the link
    shutil.move(tmp_path / "a", tmp_path / "b")
    with Project.open(tmp_path / "b" / "audit.labelaudit") as moved:
        assert moved.dataset_path == (tmp_path / "b" / "data.csv").resolve()
        assert moved.dataset_status() == "ok"
        assert moved.config["data"] == str((tmp_path / "b" / "data.csv").resolve())
        (tmp_path / "b" / "data.csv").unlink()
        assert moved.dataset_status() == "missing" and moved.dataset_changed()


def test_save_as_copies_everything_and_continues_in_the_copy(tmp_path):
    project = make_project(tmp_path)
    rows, _ = flagged_rows(project)
    project.decide(rows[0], "keep")
    project.save_as(tmp_path / "copy.labelaudit")
    project.decide(rows[1], "exclude")
    assert project.path == tmp_path / "copy.labelaudit"
    assert project.undo() == [rows[1]] and project.undo() == [rows[0]]
    project.redo()
    project.close()
    with Project.open(tmp_path / "audit.labelaudit") as old:
        assert old.decisions()["row"].tolist() == [rows[0]]
    with Project.open(tmp_path / "copy.labelaudit") as new:
        assert new.decisions()["row"].tolist() == [rows[0]]
        assert new.has_results and new.dataset_status() == "ok"


def test_bad_files_and_arguments_name_the_problem(tmp_path, project):
    with pytest.raises(InputError, match="nothing.labelaudit: no such project file"):
        Project.open(tmp_path / "nothing.labelaudit")
    junk = tmp_path / "junk.labelaudit"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="project damaged: .*junk.labelaudit: not a readable SQLite database"):
        Project.open(junk)
    other = tmp_path / "other.labelaudit"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(InputError, match="other.labelaudit: not a labelaudit project"):
        Project.open(other)
    with pytest.raises(InputError, match="already exists"):
        Project.create(project.path, {})
    with pytest.raises(InputError, match="missing.csv: no such file"):
        Project.create(tmp_path / "new.labelaudit", {"data": str(tmp_path / "missing.csv")})
    with pytest.raises(InputError, match="row 300 is out of range"):
        project.decide(300, "keep")
    with pytest.raises(InputError, match="unknown class 'horse'"):
        project.decide(0, "relabel", label="horse")
    with pytest.raises(InputError, match="unknown review action 'approve'"):
        project.decide(0, "approve")
    assert project.trail().empty


def test_truncated_project_is_reported_as_damaged(tmp_path):
    project = make_project(tmp_path)
    project.close()
    path = tmp_path / "audit.labelaudit"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ProjectDamaged, match="project damaged: .*audit.labelaudit: "):
        Project.open(path)


def mnist_project(tmp_path, labelerrors):
    """A project over the labelerrors MNIST test set (labels, classes, the released pred_probs)."""
    from labelaudit.core.pipeline import AuditConfig

    d = labelerrors / "mnist"
    given = np.load(d / "labels.npy").astype(np.int64)
    probs = np.load(d / "pred_probs.npy")
    n = len(given)
    quality = probs[np.arange(n), given]
    flagged = np.zeros(n, dtype=bool)
    flagged[np.argsort(quality)[:100]] = True
    examples = pd.DataFrame({"row": np.arange(n), "id": np.arange(n), "given_label": given,
                             "predicted_label": probs.argmax(1), "suggested_label": probs.argmax(1),
                             "label_quality": quality, "is_label_issue": flagged})
    names = (d / "classes.txt").read_text().split()
    config = AuditConfig(data=str(d / "labels.npy"), classes=str(d / "classes.txt"),
                         pred_probs=str(d / "pred_probs.npy")).to_dict()
    project = Project.create(tmp_path / "mnist.labelaudit", config)
    project.save_results(examples, probs, {"class_names": names})
    return project


def test_mturk_import_is_a_separate_reviewer_counted_in_the_overview(tmp_path, labelerrors):
    project = mnist_project(tmp_path, labelerrors)
    assert project.import_reviews(labelerrors / "mnist" / "mturk.json", reviewer="mturk") == 100
    counts = project.review_counts()
    mturk = counts["reviewers"]["mturk"]
    # the paper's Table 1: 100 MNIST examples shown to workers, 15 validated label errors
    assert mturk["kind"] == "import" and mturk["decided"] == 100 and mturk["not_kept"] == 15
    assert counts["reviewed"] == 100 and counts["n_flagged"] == 100
    d = project.decisions(reviewer="mturk").set_index("row")
    assert d.loc[247, "action"] == "keep" and d.loc[247, "label"] == 4
    assert d.loc[247, "note"] == "mturk: given 5, guessed 0, other 0"
    # a person's decision counts over the imported one; both stay visible
    project.decide(247, "exclude", reviewer="ana")
    assert project.decision(247)["action"] == "exclude"
    assert set(project.row_decisions(247)) == {"mturk", "ana"}
    counts = project.review_counts()
    assert counts["reviewed"] == 100 and counts["actions"]["exclude"] == 1
    assert counts["reviewers"]["ana"] == {"kind": "person", "decided": 1, "decided_flagged": int(
        247 in project.load_results()[0].query("is_label_issue").row.values), "not_kept": 1}
    # the import is one undoable step; importing again changes nothing
    project.undo()
    assert project.import_reviews(labelerrors / "mnist" / "mturk.json", reviewer="mturk") == 0
    project.undo()
    assert project.decisions(reviewer="mturk").empty
    project.close()


def test_csv_verdicts_import(tmp_path):
    project = make_project(tmp_path)
    _, ex = flagged_rows(project)
    csv = tmp_path / "verdicts.csv"
    other = (ex.given_label[1] + 1) % 4
    csv.write_text(f"row,label,verdict\n0,,ok\n1,{CLASSES[other]},error\n2,,unsure\n")
    assert project.import_reviews(csv, reviewer="lab") == 3
    d = project.decisions(reviewer="lab").set_index("row")
    assert d.loc[0, "action"] == "keep" and d.loc[0, "label"] == ex.given_label[0]
    assert d.loc[1, "label"] == other and d.loc[1, "action"] in ("relabel", "accept")
    assert d.loc[2, "action"] == "unsure"
    bad = tmp_path / "bad.csv"
    bad.write_text("row,label,verdict\n900,,ok\n")
    with pytest.raises(InputError, match="bad.csv"):
        project.import_reviews(bad)
    project.close()


def test_load_report_restores_the_saved_run_and_says_when_the_data_is_gone(tmp_path):
    project = make_project(tmp_path)
    examples, probs, summary = project.load_results()
    report = project.load_report()
    pd.testing.assert_frame_equal(report.examples, examples)
    np.testing.assert_array_equal(report.pred_probs, probs)
    assert report.summary == summary and report.class_names == CLASSES and report.dataset.n == 300
    assert report.notices == []
    (tmp_path / "data.csv").unlink()
    report = project.load_report()
    assert report.dataset.n == 300 and report.dataset.texts()[10] == examples.text[10]
    assert any("data.csv: the dataset is missing" in n for n in report.notices)
    project.close()


def test_reopen_is_one_call_with_the_saved_run_and_the_dataset_status(tmp_path):
    make_project(tmp_path).close()
    path = next(tmp_path.glob("*.labelaudit"))
    (tmp_path / "data.csv").write_text((tmp_path / "data.csv").read_text() + "\n")
    project, report, status = Project.reopen(path)
    try:
        assert status == "changed" and report.dataset.n == 300 and report.class_names == CLASSES
        assert any("data.csv: the dataset is changed" in n for n in report.notices)
    finally:
        project.close()

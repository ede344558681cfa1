"""A .labelaudit file under faults: copied alone mid-session, killed, shared by two windows,
read-only, damaged, full or locked, and exports that would overwrite what they came from."""

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.killed_child import run_until_killed
from helpers.project_factory import make_project
from labelaudit.core import cli
from labelaudit.core.cleanset import export_cleanset, export_project
from labelaudit.core.errors import HistoryConflict, InputError, OutputError, ProjectDamaged
from labelaudit.core.project import Project

KILL_WORKER = Path(__file__).parent / "helpers" / "kill_worker.py"


def copy_alone(path: Path, dest: Path) -> Path:
    """Copy only the main file, as a user mailing it would (no -wal, no -shm)."""
    shutil.copyfile(path, dest)
    assert not Path(f"{dest}-wal").exists()
    return dest


def flagged_rows(project, n=None):
    examples, _, _ = project.load_results()
    rows = examples["row"][examples["is_label_issue"]].tolist()
    return rows if n is None else rows[:n]


def test_a_copy_of_the_file_alone_has_every_decision_while_the_project_is_open(tmp_path):
    project = make_project(tmp_path)
    rows = flagged_rows(project, 42)
    for i, row in enumerate(rows):
        project.decide(row, ("keep", "accept", "exclude")[i % 3], reviewer="ana")
    project.decide(rows[0], "note", note="looked twice", reviewer="ana")
    assert Path(f"{project.path}-wal").exists()  # the app is still open, in WAL mode
    copy = copy_alone(project.path, tmp_path / "mailed.labelaudit")
    with Project.open(copy) as mailed:
        assert mailed.decisions().set_index("row")["action"].to_dict() == \
            project.decisions().set_index("row")["action"].to_dict()
        assert len(mailed.decisions()) == 42
        assert mailed.decision(rows[0])["note"] == "looked twice"
    project.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_copy_taken_after_a_kill_has_every_acknowledged_decision(tmp_path):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    reported = [line.split(" ", 3) for line in run_until_killed([str(KILL_WORKER), str(path), "7"], 1.0)]
    assert reported, "the child acknowledged no decision before it was killed"
    copy = copy_alone(path, tmp_path / "copy.labelaudit")
    with Project.open(copy) as project:
        trail = project.trail().set_index("id")
        for entry, row, reviewer, state in reported:
            assert int(entry) in trail.index, f"acknowledged trail entry {entry} is not in the copied file"
            assert trail.at[int(entry), "after"] == json.loads(state)


def test_undo_refuses_to_revert_a_later_decision_from_another_window(tmp_path):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    first, second = Project.open(path), Project.open(path)
    row, other_row = flagged_rows(first, 2)
    first.decide(row, "keep", reviewer="ana")
    second.decide(row, "exclude", reviewer="ben")  # later, in the other window
    with pytest.raises(HistoryConflict, match=f"row {row} was decided later by ben"):
        first.undo()
    assert first.decision(row) == {"action": "exclude", "label": None, "note": None, "reviewer": "ben"}
    assert first.decision(row, reviewer="ana")["action"] == "keep"  # nothing was changed by the refusal
    # the same person in two windows: the later one is protected too
    first.decide(other_row, "accept", reviewer="ana")
    second.decide(other_row, "unsure", reviewer="ana")
    with pytest.raises(HistoryConflict, match=f"row {other_row} was decided later by ana"):
        first.undo()
    assert second.decision(other_row)["action"] == "unsure"
    # a step whose rows nobody touched since still undoes, in the window that made it
    second.undo()
    assert second.decision(other_row)["action"] == "accept"
    first.close()
    second.close()


def test_undo_refuses_after_another_process_decided_the_row(tmp_path):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    mine = Project.open(path)
    row = flagged_rows(mine, 1)[0]
    mine.decide(row, "accept", reviewer="ana")
    other = ("import sys; from labelaudit.core.project import Project\n"
             "with Project.open(sys.argv[1]) as p: p.decide(int(sys.argv[2]), 'exclude', reviewer='ben')")
    subprocess.run([sys.executable, "-c", other, str(path), str(row)], check=True, timeout=120)
    with pytest.raises(HistoryConflict, match=f"row {row} was decided later by ben"):
        mine.undo()
    assert mine.decision(row)["action"] == "exclude" and mine.decision(row, reviewer="ana")["action"] == "accept"
    mine.close()


def test_redo_refuses_too(tmp_path):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    first, second = Project.open(path), Project.open(path)
    row = flagged_rows(first, 1)[0]
    first.decide(row, "keep", reviewer="ana")
    first.undo()
    second.decide(row, "exclude", reviewer="ana")
    with pytest.raises(HistoryConflict, match=f"row {row} was decided later"):
        first.redo()
    assert first.decision(row)["action"] == "exclude"
    first.close()
    second.close()


def test_read_only_project_shows_and_exports_but_does_not_decide(tmp_path):
    project = make_project(tmp_path)
    row = flagged_rows(project, 1)[0]
    project.decide(row, "exclude", reviewer="ana")
    project.close()
    path = tmp_path / "audit.labelaudit"
    before = path.read_bytes()
    with Project.open(path, read_only=True) as ro:
        assert ro.read_only == "opened read-only"
        assert ro.decision(row)["action"] == "exclude"
        assert ro.review_counts()["reviewed"] == 1
        with pytest.raises(OutputError, match="read-only"):
            ro.decide(row, "keep", reviewer="ana")
        with pytest.raises(OutputError, match="read-only"):
            ro.undo()
        out = export_cleanset(ro, tmp_path / "clean.csv")
        assert "exclude" in out.read_text()
        ro.save_as(tmp_path / "mine.labelaudit")  # a writable copy
        assert ro.read_only is None
        ro.decide(row, "keep", reviewer="ana")
    assert path.read_bytes() == before


def test_a_file_without_write_permission_opens_read_only(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    project.close()
    path = tmp_path / "audit.labelaudit"
    if os.geteuid() != 0:  # a real chmod where it means something (root may write anyway)
        path.chmod(0o444)
    else:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == path and mode & os.W_OK
                            else real_access(p, mode, **kw))
    with Project.open(path) as ro:
        assert ro.read_only == "no permission to write the file"
        with pytest.raises(OutputError, match="read-only \\(no permission to write the file\\)"):
            ro.decide(0, "keep")
        assert len(ro.load_results()[0]) == 300
    path.chmod(0o644)


def damage(path: Path, sql: str, *params) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def npy_header_claiming(shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 64


@pytest.mark.parametrize("how, reason", [
    ("garbage pred_probs", "the stored pred_probs.npy is unreadable"),
    ("huge header", "the stored pred_probs.npy is unreadable"),
    ("wrong shape", "the stored pred_probs.npy has shape"),
    ("garbage examples", "the stored examples table is unreadable"),
    ("labels out of range", "the stored given.npy is not 300 class indices"),
    ("bad json", "the stored class_names is not valid JSON"),
    ("names not a list", "the stored class_names is not a list"),
    ("bad trail", "the stored audit trail is not valid JSON"),
    ("decision out of range", "a stored decision names a row outside 0..299 or a class outside 0..3"),
    ("missing table", "the table trail is missing"),
    ("not sqlite", "not a readable SQLite database"),
])
def test_damaged_project_is_exit_2_project_damaged(tmp_path, capsys, how, reason):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    blob = "UPDATE blobs SET data = ? WHERE name = ?"
    if how == "garbage pred_probs":
        damage(path, blob, b"\x93NUMPY garbage", "pred_probs.npy")
    elif how == "huge header":
        damage(path, blob, npy_header_claiming((10**12, 10**6)), "pred_probs.npy")
    elif how == "wrong shape":
        buf = io.BytesIO()
        np.save(buf, np.ones((3, 2)))
        damage(path, blob, buf.getvalue(), "pred_probs.npy")
    elif how == "garbage examples":
        damage(path, blob, b"PAR1 not parquet", "examples.parquet")
    elif how == "labels out of range":
        buf = io.BytesIO()
        np.save(buf, np.full(300, 99, dtype=np.int64))
        damage(path, blob, buf.getvalue(), "given.npy")
    elif how == "bad json":
        damage(path, "UPDATE meta SET value = '[not json' WHERE key = 'class_names'")
    elif how == "names not a list":
        damage(path, "UPDATE meta SET value = '{\"a\": 1}' WHERE key = 'class_names'")
    elif how == "bad trail":
        damage(path, "INSERT INTO trail(step, time, reviewer, row, action, before, after, note)"
                     " VALUES (1, 't', 'ana', 3, 'keep', NULL, '{broken', NULL)")
    elif how == "decision out of range":
        damage(path, "INSERT INTO decisions(row, reviewer, action, label, note, trail_id, time)"
                     " VALUES (3, 'ana', 'relabel', 17, NULL, 1, 't')")
        damage(path, "INSERT INTO reviewers(name, kind) VALUES ('ana', 'person')")
    elif how == "missing table":
        damage(path, "DROP TABLE trail")
    else:
        path.write_bytes(b"row,label\n1,cat\n" * 200)

    def load():
        with Project.open(path) as project:
            project.load_results()
            project.decision_columns()
            project.trail()

    with pytest.raises(ProjectDamaged, match=f"project damaged: .*audit.labelaudit: {reason}"):
        load()
    code = cli.main(["export", str(path), "--cleanset", str(tmp_path / "c.csv"), "--decisions", str(tmp_path / "d.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "project damaged:" in err[0] and "internal error" not in err[0]


def test_a_full_disk_stores_nothing_and_says_so(tmp_path):
    project = make_project(tmp_path)
    row = flagged_rows(project, 1)[0]
    project.decide(row, "keep", reviewer="ana")
    pages = project._conn.execute("PRAGMA page_count").fetchone()[0]
    project._conn.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
    with pytest.raises(OutputError, match="audit.labelaudit: the disk is full"):
        project.decide(row, "exclude", note="x" * 200_000, reviewer="ana")
    assert project.decision(row) == {"action": "keep", "label": project.decision(row)["label"], "note": None,
                                     "reviewer": "ana"}
    assert len(project.trail()) == 1
    project.undo()  # the history is intact: the undo is of the stored keep
    assert project.decision(row) is None
    project.close()


def test_a_locked_project_stores_nothing_and_says_so(tmp_path):
    project = make_project(tmp_path)
    row = flagged_rows(project, 1)[0]
    other = sqlite3.connect(project.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    project._conn.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(OutputError, match="locked by another program"):
        project.decide(row, "keep", reviewer="ana")
    other.execute("ROLLBACK")
    other.close()
    assert project.decision(row) is None and not project.can_undo
    project.decide(row, "keep", reviewer="ana")
    assert project.decision(row)["action"] == "keep"
    project.close()


def test_export_refuses_one_path_twice_the_dataset_and_the_project(tmp_path, capsys):
    project = make_project(tmp_path)
    project.decide(flagged_rows(project, 1)[0], "exclude", reviewer="ana")
    project.close()
    path, data = tmp_path / "audit.labelaudit", tmp_path / "data.csv"
    keep = {p: p.read_bytes() for p in (path, data)}
    same = tmp_path / "out.csv"
    cases = [
        (["--cleanset", str(same), "--decisions", str(tmp_path / "." / "out.csv")], "name the same file"),
        (["--cleanset", str(data)], "is the project's dataset"),
        (["--decisions", str(data)], "is the project's dataset"),
        (["--cleanset", str(tmp_path / "ok.csv"), "--decisions", str(data)], "is the project's dataset"),
    ]
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    cases.append((["--cleanset", str(link)], "is the project's dataset"))
    for argv, message in cases:
        code = cli.main(["export", str(path), *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], (argv, err)
    assert not same.exists() and not (tmp_path / "ok.csv").exists()  # nothing written before the refusal
    parquet_project = tmp_path / "p.parquet"
    shutil.copyfile(path, parquet_project)  # a project named like an output: still refused
    with pytest.raises(InputError, match="is the project file itself"):
        export_project(parquet_project, cleanset=parquet_project)
    assert {p: p.read_bytes() for p in (path, data)} == keep
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("row,label,verdict\n3,cat,error\n")
    Project.create(tmp_path / "r.labelaudit", {"data": str(data), "reviews": str(reviews)}, data).close()
    with pytest.raises(InputError, match="is the project's reviews file"):
        export_project(tmp_path / "r.labelaudit", decisions=reviews)
    assert reviews.read_text() == "row,label,verdict\n3,cat,error\n"

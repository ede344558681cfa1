"""--out holds one consistent run: after kill -9, a full disk or a rerun, never a mix of two runs."""

import errno
import json
import random
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.killed_child import run_until_killed
from helpers.results_worker import fake_report
from labelaudit.core import cli
from labelaudit.core.errors import InputError, OutputError
from labelaudit.core.export import write_outputs
from labelaudit.core.results_folder import MANIFEST, read_manifest, replace_results

WORKER = Path(__file__).parent / "helpers" / "results_worker.py"
ROUNDS = 8


def assert_one_run(out: Path) -> int:
    """The folder is exactly one complete run; returns its number of rows."""
    manifest = read_manifest(out)
    assert manifest is not None, f"{out} has no manifest: {sorted(p.name for p in out.iterdir())}"
    present = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    assert present == manifest["files"]
    summary = json.loads((out / "summary.json").read_text())
    n = summary["n_examples"]
    assert len(pd.read_parquet(out / "examples.parquet")) == n
    assert np.load(out / "pred_probs.npy").shape == (n, summary["n_classes"])
    assert len(pd.read_csv(out / "flagged.csv")) == summary["n_label_issues"]
    assert ("pred_probs_recalibrated.npy" in present) == ("recalibration" in summary)
    return n


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_while_writing_leaves_one_complete_run(tmp_path):
    out = tmp_path / "out"
    rng = random.Random(99)
    completed = 0
    for round_ in range(ROUNDS):
        lines = run_until_killed([str(WORKER), str(out), str(round_)], rng.uniform(0.05, 1.5))
        wrote = [int(line.split()[1]) for line in lines]
        completed += len(wrote)
        if out.exists():
            n = assert_one_run(out)
            if wrote:  # the folder holds the last acknowledged run or a later complete one
                assert n in {20_000 + 7_000 * i + round_ for i in range(4)}
    assert completed, "no run finished before its kill"
    # the next run replaces the set and clears what the killed runs left beside it
    write_outputs(fake_report(1_000, False, 0), out)
    assert assert_one_run(out) == 1_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_files_of_an_earlier_run_do_not_survive(tmp_path):
    out = tmp_path / "out"
    write_outputs(fake_report(500, True, 1), out)
    assert (out / "pred_probs_recalibrated.npy").exists()
    paths = write_outputs(fake_report(400, False, 2), out)
    assert assert_one_run(out) == 400
    assert not (out / "pred_probs_recalibrated.npy").exists()
    assert set(paths) == {"summary", "examples", "flagged", "pred_probs"}
    assert all(p.parent == out and p.is_file() for p in paths.values())


def test_symlink_inside_out_is_not_written_through(tmp_path):
    out = tmp_path / "out"
    write_outputs(fake_report(300, False, 1), out)
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    (out / "summary.json").unlink()
    (out / "summary.json").symlink_to(victim)
    write_outputs(fake_report(200, False, 2), out)
    assert victim.read_text() == "keep me"
    assert not (out / "summary.json").is_symlink()
    assert assert_one_run(out) == 200


def test_full_disk_keeps_the_earlier_results(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    write_outputs(fake_report(300, True, 1), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OutputError, match="No space left on device"):
        write_outputs(fake_report(200, False, 2), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the half-written folder is gone

    # through the command: exit 1, one line naming the folder
    labels = tmp_path / "labels.npy"
    monkeypatch.undo()
    np.save(labels, np.array([0, 1, 0, 1, 0, 1, 1, 0]))
    np.save(tmp_path / "probs.npy", np.tile([[0.7, 0.3], [0.2, 0.8]], (4, 1)))
    monkeypatch.setattr(np, "save", full)
    code = cli.main(["audit", str(labels), "--pred-probs", str(tmp_path / "probs.npy"), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and str(out) in err[0] and "No space left" in err[0] and "internal error" not in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_refuses_to_replace_a_folder_that_holds_no_results(tmp_path, capsys):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("years of work")
    with pytest.raises(InputError, match="not empty"):
        replace_results(mine, lambda folder: (folder / "a.txt").write_text("x"))
    assert (mine / "chapter1.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]

    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 1, 0, 1]))
    np.save(tmp_path / "probs.npy", np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]))
    code = cli.main(["audit", str(labels), "--pred-probs", str(tmp_path / "probs.npy"), "--out", str(mine), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(mine) in err[0]
    assert sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]


def test_a_results_folder_holding_other_files_is_refused(tmp_path):
    out = tmp_path / "out"
    write_outputs(fake_report(300, False, 1), out)
    (out / "my_notes.txt").write_text("mine")
    (out / ".git").mkdir()
    with pytest.raises(InputError, match="not part of its labelaudit results \\(.git, my_notes.txt\\)"):
        write_outputs(fake_report(200, False, 2), out)
    assert (out / "my_notes.txt").read_text() == "mine" and assert_one_run_but(out, {".git", "my_notes.txt"}) == 300
    (out / "my_notes.txt").unlink()
    (out / ".git").rmdir()
    (out / ".~lock.flagged.csv#").write_text("flagged.csv open in LibreOffice")  # an editor's lock file
    write_outputs(fake_report(200, False, 2), out)
    assert assert_one_run(out) == 200


def assert_one_run_but(out: Path, extra: set) -> int:
    for name in extra:
        shutil.move(out / name, out.parent / name)
    n = assert_one_run(out)
    for name in extra:
        shutil.move(out.parent / name, out / name)
    return n


def test_empty_or_missing_folder_is_used_and_a_file_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    written = replace_results(empty, lambda folder: (folder / "a.txt").write_text("x"))
    assert written == {"a.txt": empty / "a.txt"} and read_manifest(empty)["files"] == ["a.txt"]
    nested = tmp_path / "new" / "deeper"
    replace_results(nested, lambda folder: (folder / "b.txt").write_text("y"))
    assert (nested / "b.txt").read_text() == "y"
    a_file = tmp_path / "file.txt"
    a_file.write_text("z")
    with pytest.raises(InputError, match="not a folder"):
        replace_results(a_file, lambda folder: None)
    assert a_file.read_text() == "z"


def test_benchmark_out_is_a_results_folder(labelerrors, tmp_path, capsys):
    folder = labelerrors / "mnist"
    out = tmp_path / "bench"
    out.mkdir()
    (out / "stale.csv").write_text("from someone else")
    argv = ["benchmark", "--labels", str(folder / "labels.npy"), "--model", f"m={folder / 'pred_probs.npy'}",
            "--reviews", str(folder / "mturk.json"), "--out", str(out)]
    assert cli.main(argv) == 2  # not a results folder: refused, untouched
    assert "holds no labelaudit results" in capsys.readouterr().err
    assert (out / "stale.csv").read_text() == "from someone else"
    (out / "stale.csv").unlink()
    assert cli.main(argv) == 0
    assert read_manifest(out)["files"] == ["benchmark.csv", "benchmark.json"]
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "benchmark.csv", "benchmark.json"]
    capsys.readouterr()

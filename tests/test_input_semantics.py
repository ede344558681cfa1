"""What odd but well-formed inputs mean: nested labels, JSONL line ends, blank texts, one class,
and Python warnings that must reach the user as notices, never as warnings on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from input_errors import error

from labelaudit.core.cli import main
from labelaudit.core.data import load_dataset
from labelaudit.core.progress import RunContext


def audit(capsys, *argv) -> tuple[int, str]:
    code = main(["audit", *map(str, argv), "--quiet"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("label, says", [
    (["x", "y"], "is a list, not one class (for several classes per example use --multi-label, "
                 "in the window 'Several classes per example')"),
    ({"x": 1}, "is an object, not a class")])
def test_list_or_dict_labels_are_bad_input(tmp_path, capsys, label, says):
    data = tmp_path / "d.jsonl"
    rows = [{"text": f"t{i}", "label": "xy"[i % 2]} for i in range(4)] + [{"text": "t4", "label": label}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    np.save(tmp_path / "p.npy", np.full((5, 2), 0.5))
    code, err = audit(capsys, data, "--pred-probs", tmp_path / "p.npy", "--out", tmp_path / "o")
    assert code == 2
    assert err.strip().splitlines() == [f"labelaudit: error: {data}: row 4: the label in column 'label' {says}"]


def test_parquet_list_labels_are_bad_input(tmp_path):
    data = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [["x"], ["y"], ["x", "y"]]}).to_parquet(data)
    assert "row 0: the label in column 'label' is a list" in error(load_dataset, data)


def test_jsonl_lines_end_at_newline_only(tmp_path):
    """U+2028, U+2029, U+0085, form feed and CR inside a JSON string are text, not line ends."""
    texts = ["one\u2028two", "three\u2029four", "five\x85six", "seven\x0ceight", "nine\rten", "plain"]
    data = tmp_path / "d.jsonl"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"text": t, "label": i % 2}, ensure_ascii=False) + "\n")
    ds = load_dataset(data)
    assert ds.n == len(texts)
    assert ds.texts() == texts


@pytest.mark.parametrize("blank", ["", "   "])
def test_every_text_blank_is_no_text_to_score(tmp_path, capsys, blank):
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": [blank] * 6, "label": ["a", "b"] * 3}).to_csv(data, index=False)
    code, err = audit(capsys, data, "--out", tmp_path / "o")
    assert code == 2
    assert err.strip().splitlines() == [f"labelaudit: error: {data}: every text in column 'text' is blank; "
                                        "no text to score"]


def test_a_probe_on_one_class_needs_two(tmp_path, capsys):
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"some words {i}" for i in range(6)], "label": ["a"] * 6}).to_csv(data, index=False)
    code, err = audit(capsys, data, "--out", tmp_path / "o")
    assert code == 2
    assert "every row is labelled 'a'; the probe needs at least two classes" in err
    assert len(err.strip().splitlines()) == 1


def test_pred_probs_with_one_class_keep_metrics_and_say_so(tmp_path, capsys):
    np.save(tmp_path / "l.npy", np.zeros(20, dtype=np.int64))
    probs = np.tile([0.8, 0.2], (20, 1))
    probs[:3] = [0.3, 0.7]
    np.save(tmp_path / "p.npy", probs)
    (tmp_path / "c.txt").write_text("a\nb\n")
    code, err = audit(capsys, tmp_path / "l.npy", "--classes", tmp_path / "c.txt", "--pred-probs", tmp_path / "p.npy",
                      "--out", tmp_path / "o")
    assert code == 0, err
    assert "Only class 'a' occurs" in err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(17 / 20)


def test_warnings_become_notices_of_the_run(capsys):
    ctx = RunContext()
    with ctx.warnings_as_notices():
        for _ in range(3):
            warnings.warn("something odd", UserWarning)
        np.log(np.zeros(1))  # numpy's RuntimeWarning: divide by zero
    assert ctx.notices[0] == "something odd (UserWarning)"
    assert len(ctx.notices) == 2 and "divide by zero" in ctx.notices[1]
    assert capsys.readouterr().err == ""


def test_no_python_warning_reaches_stderr_in_a_successful_run(tmp_path):
    """A palette PNG with byte transparency makes Pillow warn on conversion: the CLI says it as a note."""
    from PIL import Image

    folder = tmp_path / "images"
    for c, name in enumerate(("cat", "dog")):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8), 30 * i + 100 * c, dtype=np.uint8)).save(folder / name / f"{i}.png")
    odd = Image.new("P", (8, 8))
    odd.putpalette([0, 0, 0, 255, 255, 255, 9, 9, 9] * 85)
    odd.save(folder / "dog" / "odd.png", transparency=bytes([0, 128, 255]))
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.run([sys.executable, "-m", "labelaudit.core.cli", "audit", str(folder), "--out",
                           str(tmp_path / "o"), "--quiet", "--folds", "2"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(line.startswith("note: Palette images with Transparency") for line in lines), proc.stderr
    assert all(line.startswith("note: ") for line in lines), proc.stderr

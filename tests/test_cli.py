"""End-to-end runs of `labelaudit audit` on the released labelerrors sets, and bad input through the CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main

PAPER = {"mnist": (100, 15), "cifar10": (275, 54), "imdb": (1310, 725)}


def independent_ece(probs, labels, n_bins=15):
    """Top-label ECE, 15 equal-width bins closed on the right, written out longhand."""
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        in_bin = (conf > lo) & (conf <= hi) if b else (conf >= 0) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return total


def validated_rows(folder):
    entries = json.loads((folder / "mturk.json").read_text())
    if isinstance(entries, dict):
        entries = next(v for v in entries.values() if isinstance(v, list))
    names = None
    if (folder / "index_to_filename.json").exists():
        names = json.loads((folder / "index_to_filename.json").read_text())
        index = {n: i for i, n in enumerate(names)}
    rows = []
    for e in entries:
        if e["mturk"]["given"] < 3:
            rid = e["id"]
            rows.append(index[rid.split("/", 1)[1] + ".txt"] if names else int(rid))
    return set(rows)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb"])
def test_audit_labelerrors_matches_independent_computation(name, labelerrors, tmp_path, capsys):
    folder = labelerrors / name
    out = tmp_path / "out"
    code = main([
        "audit", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
        "--pred-probs", str(folder / "pred_probs.npy"), "--reviews", str(folder / "mturk.json"),
        "--out", str(out), "--quiet",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    examples = pd.read_parquet(out / "examples.parquet")
    flagged = pd.read_csv(out / "flagged.csv", dtype={c: str for c in ("given_label", "suggested_label")})
    probs = np.load(out / "pred_probs.npy")

    labels = np.load(folder / "labels.npy").astype(int)
    raw = np.load(folder / "pred_probs.npy")
    expect = np.clip(raw, 0, 1)
    expect = expect / expect.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, expect, atol=1e-12)
    assert np.allclose(probs.sum(1), 1)

    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    issues = find_label_issues(labels, expect)
    assert summary["n_examples"] == len(labels) == len(examples)
    assert summary["n_label_issues"] == int(issues.sum()) == len(flagged)
    assert {"mnist": 15, "cifar10": 284, "imdb": 1309}[name] == summary["n_label_issues"]
    np.testing.assert_array_equal(examples["is_label_issue"].to_numpy(), issues)
    np.testing.assert_allclose(examples["label_quality"], get_label_quality_scores(labels, expect), rtol=1e-9)
    assert summary["accuracy"] == pytest.approx((expect.argmax(1) == labels).mean())
    assert summary["calibration"]["ece"] == pytest.approx(independent_ece(expect, labels), abs=1e-9)

    validated = validated_rows(folder)
    assert len(validated) == PAPER[name][1]
    assert summary["n_validated_errors"] == PAPER[name][1]
    assert summary["validated_found"] == len(validated & set(np.flatnonzero(issues)))
    assert "note:" in captured.err or name == "mnist"  # renormalisation is announced

    # flagged.csv: worst label quality first, labels as class names
    classes = (folder / "classes.txt").read_text().splitlines()
    assert flagged["label_quality"].is_monotonic_increasing
    assert set(flagged["given_label"]) <= set(classes)
    first = flagged.iloc[0]
    assert first["given_label"] == classes[labels[first["row"]]]


def test_audit_prints_summary_and_writes_files(labelerrors, tmp_path, capsys):
    folder = labelerrors / "mnist"
    code = main(["audit", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
                 "--pred-probs", str(folder / "pred_probs.npy"), "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "10,000 examples, 10 classes" in out and "15 likely label issues" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".labelaudit-results.json", "examples.parquet", "flagged.csv", "pred_probs.npy", "summary.json"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc"):
        assert isinstance(summary["calibration"][key], float)
    assert {"model", "device", "timings_s"} <= set(summary)


@pytest.fixture
def small_set(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    probs = rng.dirichlet(np.ones(3), 60)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    pd.DataFrame({"text": [f"t{i}" for i in range(60)], "label": np.array(["a", "b", "c"])[labels]}).to_csv(
        tmp_path / "data.csv", index=False)
    return tmp_path


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("make_bad, expected", [
    (lambda d: np.save(d / "p.npy", np.full((60, 3), np.nan)), "p.npy"),
    (lambda d: np.save(d / "p.npy", np.ones((59, 3)) / 3), "p.npy"),
    (lambda d: np.save(d / "p.npy", np.ones((60, 4)) / 4), "p.npy"),
    (lambda d: np.save(d / "p.npy", np.full((60, 3), 0.5)), "p.npy"),
    (lambda d: (d / "p.npy").write_bytes(b"not an npy file"), "p.npy"),
])
def test_bad_predictions_exit_2_with_one_line(small_set, capsys, make_bad, expected):
    make_bad(small_set)
    code, err = run_cli(capsys, "audit", str(small_set / "data.csv"), "--pred-probs", str(small_set / "p.npy"),
                        "--out", str(small_set / "out"), "--quiet")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err
    assert not (small_set / "out").exists()


def test_bad_data_exit_2(small_set, capsys):
    cases = [
        (["audit", str(small_set / "missing.csv"), "--pred-probs", str(small_set / "probs.npy")], "missing.csv"),
        (["audit", str(small_set / "data.csv"), "--label-col", "nope", "--pred-probs", str(small_set / "probs.npy")],
         "nope"),
        (["audit", str(small_set / "data.csv"), "--pred-probs", str(small_set / "probs.npy"),
          "--logits", str(small_set / "probs.npy")], "--logits"),
    ]
    for argv, expected in cases:
        code, err = run_cli(capsys, *argv, "--quiet")
        assert code == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_string_labels_and_logits(small_set, tmp_path, capsys):
    logits = np.log(np.load(small_set / "probs.npy")) * 2.0
    np.save(small_set / "logits.npy", logits)
    code, err = run_cli(capsys, "audit", str(small_set / "data.csv"), "--logits", str(small_set / "logits.npy"),
                        "--out", str(tmp_path / "o"), "--quiet")
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["class_names"] == ["a", "b", "c"]
    saved = np.load(tmp_path / "o" / "pred_probs.npy")
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(saved, e / e.sum(1, keepdims=True), rtol=1e-10)
    ex = pd.read_parquet(tmp_path / "o" / "examples.parquet")
    assert list(ex["text"][:2]) == ["t0", "t1"]
    assert str(ex["given_class"].iloc[0]) in {"a", "b", "c"}


def test_flagged_csv_neutralises_formulas(tmp_path, capsys):
    n = 40
    labels = np.array([0, 1] * (n // 2))
    probs = np.where(np.eye(2)[labels] > 0, 0.9, 0.1)
    probs[:4] = probs[:4, ::-1]  # four confident disagreements -> flagged
    texts = ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)"] + [f"ok {i}" for i in range(n - 4)]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    np.save(tmp_path / "p.npy", probs)
    code, err = run_cli(capsys, "audit", str(tmp_path / "d.csv"), "--pred-probs", str(tmp_path / "p.npy"),
                        "--out", str(tmp_path / "o"), "--quiet")
    assert code == 0, err
    flagged = pd.read_csv(tmp_path / "o" / "flagged.csv")
    assert len(flagged) >= 4
    for cell in flagged["text"]:
        assert not str(cell).startswith(("=", "+", "-", "@"))
    assert "'=HYPERLINK(\"http://x\")" in set(flagged["text"])


def test_entry_point_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "labelaudit.core.cli", "audit", str(tmp_path / "nothing.csv"), "--pred-probs", "x.npy"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "nothing.csv" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "labelaudit.gui.launch", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for cmd in ("audit", "gui", "demo", "benchmark", "export"):
        assert cmd in proc.stdout

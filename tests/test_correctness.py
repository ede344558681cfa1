"""The cross-fitted correctness model (core.correctness) beside raw confidence."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main
from labelaudit.core.correctness import correctness_model, scores


@pytest.fixture(scope="module")
def cifar(labelerrors):
    p = np.load(labelerrors / "cifar10" / "pred_probs.npy")
    return p / p.sum(axis=1, keepdims=True), np.load(labelerrors / "cifar10" / "labels.npy")


def test_on_cifar10_it_recalibrates_but_ranks_like_raw_confidence(cifar):
    p, y = cifar
    r = correctness_model(p, y)
    assert r["raw"]["auroc"] == pytest.approx(0.9243, abs=1e-4)
    assert r["model"]["brier"] < r["raw"]["brier"] and r["model"]["ece"] < r["raw"]["ece"] / 2
    assert abs(r["model"]["auroc"] - r["raw"]["auroc"]) < 0.005 and r["beats_raw"]["auroc"] == "same"
    assert r["beats_raw"]["ece"] == "better"
    assert r["raw"]["accuracy_at_coverage"]["1.0"] == pytest.approx(np.mean(p.argmax(1) == y))


def test_other_models_answers_separate_right_from_wrong():
    """A model whose confidence says nothing, and a second model that agrees with it exactly when it is right."""
    rng = np.random.default_rng(0)
    n, k = 2000, 4
    y = rng.integers(k, size=n)
    right = rng.random(n) < 0.6
    answer = np.where(right, y, (y + rng.integers(1, k, size=n)) % k)
    p = np.full((n, k), 0.1)
    p[np.arange(n), answer] = 0.7
    p += rng.uniform(0, 0.01, size=p.shape)
    p /= p.sum(1, keepdims=True)
    other = np.full((n, k), 0.05)
    other[np.arange(n), np.where(rng.random(n) < 0.9, y, answer)] = 0.85
    alone = correctness_model(p, y)
    helped = correctness_model(p, y, others={"other": other})
    assert alone["raw"]["auroc"] < 0.55 and alone["model"]["auroc"] < 0.6
    assert helped["model"]["auroc"] > 0.85 and helped["beats_raw"]["auroc"] == "better"
    assert "other: agrees" in helped["features"]


def test_too_few_wrong_answers_fits_nothing_and_says_why():
    p = np.eye(3)[np.arange(30) % 3] * 0.9 + 0.1 / 3
    y = np.arange(30) % 3
    y[0] = 1
    r = correctness_model(p, y)
    assert r["model"] is None and "1 wrong" in r["reason"]


def test_scores_accuracy_at_coverage_and_ece():
    s = np.array([0.9, 0.8, 0.7, 0.6])
    c = np.array([1, 1, 0, 1])
    out = scores(s, c)
    assert out["accuracy_at_coverage"]["0.5"] == 1.0 and out["accuracy_at_coverage"]["1.0"] == 0.75
    assert out["brier"] == pytest.approx(np.mean((s - c) ** 2))
    assert out["auroc"] == pytest.approx(2 / 3)


def test_audit_correctness_option(labelerrors, tmp_path, capsys):
    folder = labelerrors / "cifar10"
    out = tmp_path / "out"
    assert main(["audit", str(folder / "labels.npy"), "--pred-probs", str(folder / "pred_probs.npy"),
                 "--classes", str(folder / "classes.txt"), "--correctness", "--out", str(out), "--quiet"]) == 0
    assert "correctness model (cross-fitted) vs raw confidence: AUROC 0.9243" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["correctness"]["beats_raw"]["brier"] == "better"
    examples = pd.read_parquet(out / "examples.parquet")
    assert examples["p_correct"].between(0, 1).all()


def test_permute_options_needs_a_model(labelerrors, tmp_path, capsys):
    folder = labelerrors / "cifar10"
    assert main(["audit", str(folder / "labels.npy"), "--pred-probs", str(folder / "pred_probs.npy"),
                 "--permute-options", "3", "--out", str(tmp_path / "o")]) == 2
    assert "--permute-options re-scores" in capsys.readouterr().err

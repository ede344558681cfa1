"""LLM self-knowledge report (core.selfknowledge): P(True) judged as a forecast of correctness."""

import json

import numpy as np
import pytest

from labelaudit.core.errors import InputError
from labelaudit.core.selfknowledge import coverage_curve, self_knowledge_report


def test_small_case_by_hand():
    p = np.array([0.9, 0.8, 0.3, 0.1])
    correct = np.array([True, False, True, False])
    r = self_knowledge_report(p, correct, n_bins=2)
    assert r["n"] == 4 and r["accuracy"] == 0.5
    # equal-mass bins {0.1, 0.3}: mean 0.2, accuracy 0.5; {0.8, 0.9}: mean 0.85, accuracy 0.5
    assert r["ece"] == pytest.approx(0.5 * 0.3 + 0.5 * 0.35)
    assert r["brier"] == pytest.approx((0.01 + 0.64 + 0.49 + 0.01) / 4)
    assert r["auroc"] == pytest.approx(0.75)  # pairs (right, wrong): .9>.8, .9>.1, .3<.8, .3>.1
    assert [b["count"] for b in r["reliability"]] == [2, 2]
    assert r["reliability"][1]["mean_p_true"] == pytest.approx(0.85)
    assert r["reliability"][0]["lower"] == 0.1 and r["reliability"][0]["upper"] == 0.3
    json.dumps(r)


def test_low_p_true_on_wrong_answers_is_calibrated_not_top_label():
    """P(True) = 0.1 on questions answered right 1 time in 10 is perfect; a top-label view would call it 0.9 vs 0.1."""
    p = np.full(100, 0.1)
    correct = np.zeros(100, dtype=bool)
    correct[::10] = True
    r = self_knowledge_report(p, correct)
    assert r["ece"] == pytest.approx(0.0, abs=1e-12)
    assert r["auroc"] == pytest.approx(0.5)  # a constant says nothing about which answers are right
    for b in r["reliability"]:
        assert b["wilson_low"] <= b["accuracy"] <= b["wilson_high"]


def test_calibrated_and_overconfident_forecasters():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 2, 20000)
    correct = rng.uniform(size=20000) < p
    good = self_knowledge_report(p, correct)
    assert good["ece"] < 0.02
    assert good["brier"] == pytest.approx(np.mean(p * (1 - p)), abs=0.01)  # Brier of a calibrated forecast
    from sklearn.metrics import roc_auc_score

    assert good["auroc"] == pytest.approx(roc_auc_score(correct, p))
    over = self_knowledge_report(np.clip(p + 0.2, 0, 1), correct)
    assert over["ece"] == pytest.approx(0.2, abs=0.03)
    assert over["brier"] > good["brier"]
    assert sum(b["count"] for b in good["reliability"]) == 20000 and good["n_bins"] == 10


def test_coverage_curve_answers_only_above_threshold():
    p = np.array([0.2, 0.4, 0.4, 0.6, 0.9])
    correct = np.array([False, False, True, True, True])
    curve = coverage_curve(p, correct, thresholds=[0.0, 0.4, 0.5, 0.95])
    assert [c["n_answered"] for c in curve] == [5, 2, 2, 0]  # p > 0.4 excludes both 0.4s
    assert [c["coverage"] for c in curve] == [1.0, 0.4, 0.4, 0.0]
    assert [c["accuracy"] for c in curve] == [0.6, 1.0, 1.0, None]
    default = self_knowledge_report(p, correct)["coverage"]
    assert default[0]["threshold"] == 0.0 and default[0]["coverage"] == 1.0
    covs = [c["coverage"] for c in default]
    assert covs == sorted(covs, reverse=True)


def test_informative_p_true_raises_accuracy_as_coverage_falls():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=5000)
    correct = rng.uniform(size=5000) < p
    curve = self_knowledge_report(p, correct)["coverage"]
    assert curve[-1]["accuracy"] > curve[0]["accuracy"] + 0.3


def test_bad_input():
    with pytest.raises(InputError, match="p_true has 3 values but correct has 2"):
        self_knowledge_report([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        self_knowledge_report([0.1, np.nan], [True, False])
    with pytest.raises(InputError, match="at least one"):
        self_knowledge_report([], [])
    assert self_knowledge_report([0.3, 0.7], [True, True])["auroc"] is None

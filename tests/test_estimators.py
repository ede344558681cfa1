"""Calibration-error estimators (core.calibration_estimators) against hand computations."""

import numpy as np
import pytest

from labelaudit.core.calibration import calibration_metrics
from labelaudit.core.calibration_estimators import (
    PRESETS,
    calibration_table,
    classwise_ece,
    debiased_ece,
    l2_ece,
    smooth_ece,
)
from labelaudit.core.errors import InputError


def _binary(conf, correct):
    """Two-class pred_probs whose top label has confidence ``conf`` and labels making it right or wrong."""
    conf = np.asarray(conf, dtype=float)
    p = np.stack([conf, 1 - conf], axis=1)
    labels = np.where(np.asarray(correct, dtype=bool), 0, 1)
    return p, labels


def test_debiased_ece_by_hand():
    # two equal-mass bins of four: conf 0.9 with 1 of 4 right, conf 0.95 with 4 of 4 right
    p, y = _binary([0.9] * 4 + [0.95] * 4, [0, 0, 0, 1, 1, 1, 1, 1])
    # bin 1: (0.25 - 0.9)^2 - 0.25 * 0.75 / 3 = 0.4225 - 0.0625; bin 2: (1 - 0.95)^2 - 0
    assert debiased_ece(p, y, n_bins=2) == pytest.approx(np.sqrt(0.5 * 0.36 + 0.5 * 0.0025))
    assert l2_ece(p, y, n_bins=2) == pytest.approx(np.sqrt(0.5 * 0.4225 + 0.5 * 0.0025))


def test_debiased_ece_clips_at_zero():
    # gaps smaller than the sampling noise: the debiased square is negative, reported as 0
    p, y = _binary([0.6] * 3 + [0.9] * 3, [1, 0, 1, 1, 1, 1])
    assert debiased_ece(p, y, n_bins=2) == 0.0
    assert l2_ece(p, y, n_bins=2) == pytest.approx(np.sqrt(0.5 * (2 / 3 - 0.6) ** 2 + 0.5 * 0.01))


def test_debiased_ece_removes_small_sample_bias():
    """Perfectly calibrated data: the plug-in L2 ECE sits well above 0, the debiased one near 0."""
    plug, debiased = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        c = rng.uniform(0, 1, 500)
        y = (rng.uniform(size=500) < c).astype(int)  # P(label 1) = c exactly
        p = np.stack([1 - c, c], axis=1)
        plug.append(l2_ece(p, y))
        debiased.append(debiased_ece(p, y))
    assert np.mean(plug) > 0.05
    assert np.mean(debiased) < 0.02
    assert np.mean(debiased) < 0.3 * np.mean(plug)


def test_debiased_ece_tracks_a_real_gap():
    """A model that is 10 points overconfident everywhere: the debiased L2 ECE finds 0.10."""
    rng = np.random.default_rng(0)
    c = rng.uniform(0.6, 1.0, 20000)
    correct = rng.uniform(size=20000) < c - 0.1
    p, y = _binary(c, correct)
    assert debiased_ece(p, y) == pytest.approx(0.10, abs=0.01)


def test_classwise_ece_by_hand():
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    y = np.array([0, 0, 1, 1])
    # class 0: bins (0, .5]: p .3 .1, hits 1 -> |1 - .4|; (.5, 1]: p .8 .6, hits 1 -> |1 - 1.4|; (0.6 + 0.4) / 4
    assert classwise_ece(p, y, n_bins=2) == pytest.approx(0.25)
    three = np.array([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]])
    # one bin: class 0 |1 - 1.4|, class 1 |1 - 0.4|, class 2 |0 - 0.2|, each over n = 2
    assert classwise_ece(three, np.array([0, 1]), n_bins=1) == pytest.approx((0.2 + 0.3 + 0.1) / 3)


def test_smooth_ece_is_relplot_with_an_interval():
    import relplot

    rng = np.random.default_rng(1)
    c = rng.uniform(0.5, 1.0, 3000)
    p, y = _binary(c, rng.uniform(size=3000) < c**2)
    out = smooth_ece(p, y, n_boot=50, seed=0)
    assert out["value"] == pytest.approx(relplot.smECE(c, (p.argmax(axis=1) == y).astype(float)))
    assert out["low"] <= out["value"] <= out["high"]
    assert 0 < out["high"] - out["low"] < 0.05
    assert smooth_ece(p, y, n_boot=50, seed=0) == out
    none = smooth_ece(p, y, n_boot=0)
    assert none["low"] is None and none["value"] == out["value"]


def test_smooth_ece_small_when_calibrated():
    rng = np.random.default_rng(2)
    c = rng.uniform(0.5, 1.0, 20000)
    p, y = _binary(c, rng.uniform(size=20000) < c)
    assert smooth_ece(p, y, n_boot=0)["value"] < 0.015


def test_presets():
    assert PRESETS["guo2017"]["n_bins"] == 15 and PRESETS["guo2017"]["strategy"] == "equal_width"
    assert PRESETS["kadavath2022"]["n_bins"] == 10 and PRESETS["kadavath2022"]["strategy"] == "equal_mass"
    for preset in PRESETS.values():
        assert preset["label"] and preset["description"]


@pytest.fixture(scope="module")
def cifar(labelerrors):
    p = np.load(labelerrors / "cifar10" / "pred_probs.npy")
    return p / p.sum(axis=1, keepdims=True), np.load(labelerrors / "cifar10" / "labels.npy").astype(np.int64)


def test_calibration_table_guo_matches_design_conventions(cifar):
    p, y = cifar
    rows = {r["key"]: r for r in calibration_table(p, y, "guo2017", n_boot=20)}
    assert list(rows) == ["ece", "mce", "debiased_ece", "smooth_ece", "classwise_ece", "brier", "nll", "accuracy"]
    m = calibration_metrics(p, y)
    for key in ("ece", "mce", "brier", "nll", "accuracy"):
        assert rows[key]["value"] == pytest.approx(m[key], abs=1e-12), key
    assert rows["ece"]["value"] == pytest.approx(0.0326, abs=1e-4)
    low, high = rows["smooth_ece"]["interval"]
    assert low <= rows["smooth_ece"]["value"] <= high
    assert rows["debiased_ece"]["value"] == pytest.approx(debiased_ece(p, y, n_bins=15))
    for r in rows.values():
        assert r["name"] and r["convention"]
    assert "15 equal-width bins" in rows["ece"]["convention"]


def test_calibration_table_kadavath_uses_ten_equal_mass_bins(cifar):
    p, y = cifar
    rows = {r["key"]: r for r in calibration_table(p, y, "kadavath2022", n_boot=0)}
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    order = np.argsort(conf, kind="stable")
    gaps = [abs(correct[b].mean() - conf[b].mean()) for b in np.array_split(order, 10)]
    sizes = [len(b) for b in np.array_split(order, 10)]
    assert rows["ece"]["value"] == pytest.approx(np.dot(sizes, gaps) / len(y), abs=1e-12)
    assert rows["mce"]["value"] == pytest.approx(max(gaps), abs=1e-12)
    assert "10 equal-mass bins" in rows["ece"]["convention"]
    assert rows["smooth_ece"]["interval"] is None


def test_bad_input():
    with pytest.raises(InputError, match="labels"):
        smooth_ece(np.full((3, 2), 0.5), np.array([0, 1, 2]))
    with pytest.raises(InputError, match="labels"):
        classwise_ece(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match="unknown preset"):
        calibration_table(np.full((3, 2), 0.5), np.array([0, 1, 1]), "nope")

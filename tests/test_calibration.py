"""Calibration metrics and reliability bins: hand-computed cases and real data."""

import json
import math

import numpy as np
import pytest

from labelaudit.core.calibration import (
    METRIC_HELP,
    bin_assignments,
    calibration_metrics,
    ece_from_bins,
    reliability_bins,
)
from labelaudit.core.errors import InputError

# Four examples, binary: confidences 0.95 (correct), 0.85 (wrong), 0.75 (correct), 0.55 (correct).
HAND_P = np.array([[0.95, 0.05], [0.15, 0.85], [0.25, 0.75], [0.55, 0.45]])
HAND_Y = np.array([0, 0, 1, 0])


def test_hand_case_every_metric():
    m = calibration_metrics(HAND_P, HAND_Y)
    # each example sits alone in its bin (14, 12, 11, 8): ECE = mean |correct - conf|
    assert m["ece"] == pytest.approx((0.05 + 0.85 + 0.25 + 0.45) / 4)
    assert m["ece_equal_mass"] == pytest.approx(0.4)  # 4 examples, 15 bins: one per bin as well
    assert m["mce"] == pytest.approx(0.85)
    # Brier: 2*0.05^2, 0.85^2 + 0.85^2, 2*0.25^2, 2*0.45^2
    assert m["brier"] == pytest.approx((0.005 + 1.445 + 0.125 + 0.405) / 4)
    assert m["nll"] == pytest.approx(-(math.log(0.95) + math.log(0.15) + math.log(0.75) + math.log(0.55)) / 4)
    # correct {0.95, 0.75, 0.55} vs wrong {0.85}: only 0.95 ranks above the wrong one
    assert m["auroc"] == pytest.approx(1 / 3)
    assert m["accuracy"] == 0.75
    assert m["mean_confidence"] == pytest.approx(0.775)
    assert m["n"] == 4 and m["n_bins"] == 15
    json.dumps(m)  # plain Python values
    assert all(type(m[key]) is float for key in ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc", "accuracy"))


def test_metric_help_covers_every_metric():
    m = calibration_metrics(HAND_P, HAND_Y)
    assert set(m) <= set(METRIC_HELP)
    assert "closed on the right" in METRIC_HELP["ece"] and "1e-12" in METRIC_HELP["nll"]


def test_bins_are_closed_on_the_right():
    edges = [0.0, 1 / 15, 2 / 15, 2 / 15 + 1e-12, 14 / 15, 1.0]
    assert bin_assignments(np.array(edges)).tolist() == [0, 0, 1, 2, 13, 14]
    # a top-label confidence of exactly 2/15 (seven classes tied at 2/15) falls in bin 1, (1/15, 2/15]
    row = np.array([2 / 15] * 7 + [1 / 45] * 3)
    bins = reliability_bins(row[None, :], np.array([0]))
    assert bins["count"].tolist() == [0, 1] + [0] * 13
    assert bins.loc[1, "lower"] == pytest.approx(1 / 15) and bins.loc[1, "upper"] == pytest.approx(2 / 15)
    m = calibration_metrics(row[None, :], np.array([0]))  # argmax on a tie is the first column: correct
    assert m["accuracy"] == 1.0 and m["ece"] == pytest.approx(13 / 15)


@pytest.mark.parametrize("n_bins", [1, 3, 10, 15, 49])
def test_equal_width_bins_at_and_beside_every_edge_of_a_big_array(n_bins):
    """Big arrays are binned arithmetically; the bins are still edges[i] < c <= edges[i + 1] for the
    linspace edges, also one ulp either side of each edge and of i / n_bins."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    marks = np.concatenate([edges, np.arange(n_bins + 1) / n_bins])
    c = np.concatenate([np.random.default_rng(n_bins).random(5000), marks, np.nextafter(marks, 2), np.nextafter(marks, -1),
                        [0.0, 1.0, 5e-324]])
    want = np.clip(np.searchsorted(edges, c, side="left") - 1, 0, n_bins - 1)
    np.testing.assert_array_equal(bin_assignments(c, n_bins=n_bins), want)
    np.testing.assert_array_equal(bin_assignments(c.astype(np.float32), n_bins=n_bins),
                                  np.clip(np.searchsorted(edges, c.astype(np.float32).astype(np.float64)) - 1, 0, n_bins - 1))


def test_reliability_bins_empty_bins_and_wilson():
    # bin 12 ((0.8, 0.867]) holds four examples at 0.85, three of them correct
    p = np.array([[0.85, 0.15]] * 4)
    y = np.array([0, 0, 0, 1])
    bins = reliability_bins(p, y)
    assert list(bins.columns) == [
        "bin", "lower", "upper", "count", "mean_confidence", "accuracy", "gap", "wilson_low", "wilson_high"
    ]
    b = bins.loc[12]
    assert b["count"] == 4 and b["accuracy"] == 0.75 and b["mean_confidence"] == pytest.approx(0.85)
    assert b["gap"] == pytest.approx(0.10)
    assert b["wilson_low"] == pytest.approx(0.30064, abs=1e-5)  # Wilson 95% for 3/4
    assert b["wilson_high"] == pytest.approx(0.95441, abs=1e-5)
    empty = bins.drop(index=12)
    assert (empty["count"] == 0).all()
    assert empty[["mean_confidence", "accuracy", "gap", "wilson_low", "wilson_high"]].isna().all().all()
    assert np.allclose(bins["lower"], np.arange(15) / 15) and np.allclose(bins["upper"], np.arange(1, 16) / 15)


def test_wilson_all_wrong_bin():
    bins = reliability_bins(np.array([[0.3, 0.7]] * 10), np.zeros(10, dtype=int))
    b = bins.loc[10]  # 0.7 is in (0.667, 0.733]
    assert b["accuracy"] == 0.0 and b["wilson_low"] == 0.0
    assert b["wilson_high"] == pytest.approx(0.27753, abs=1e-5)


def test_equal_mass_ties_keep_row_order():
    # confidences 0.6, 0.6, 0.6, 0.9 with correct 1, 0, 1, 1; two bins of two.
    # stable order puts rows 0, 1 in bin 0 and rows 2, 3 in bin 1.
    p = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.9, 0.1]])
    y = np.array([0, 1, 0, 0])
    assert bin_assignments(p.max(1), n_bins=2, strategy="equal_mass").tolist() == [0, 0, 1, 1]
    m = calibration_metrics(p, y, n_bins=2)
    assert m["ece_equal_mass"] == pytest.approx((2 * 0.1 + 2 * 0.25) / 4)
    bins = reliability_bins(p, y, n_bins=2, strategy="equal_mass")
    assert bins["count"].tolist() == [2, 2]
    assert bins["lower"].tolist() == [0.6, 0.6] and bins["upper"].tolist() == [0.6, 0.9]
    assert bins["accuracy"].tolist() == [0.5, 1.0]


def test_equal_mass_sizes_and_empty_bins():
    conf = np.linspace(0.05, 0.95, 17)[::-1]  # 17 examples, 15 bins: the first 2 bins hold 2
    bins = bin_assignments(conf, strategy="equal_mass")
    assert np.bincount(bins).tolist() == [2, 2] + [1] * 13
    assert bins[-1] == 0 and bins[0] == 14  # the lowest confidence is in the first bin
    few = reliability_bins(HAND_P, HAND_Y, strategy="equal_mass")  # 4 examples, 15 bins
    assert few["count"].tolist() == [1] * 4 + [0] * 11
    assert few.loc[4:, ["lower", "upper", "accuracy"]].isna().all().all()
    assert few["upper"].iloc[:4].tolist() == [0.55, 0.75, 0.85, 0.95]


def test_one_class_all_correct_all_wrong_and_empty():
    one = calibration_metrics(np.ones((5, 1)), np.zeros(5, dtype=int))
    assert one["ece"] == 0.0 and one["brier"] == 0.0 and one["nll"] == 0.0 and one["accuracy"] == 1.0
    assert one["auroc"] is None
    right = calibration_metrics(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]))
    assert right["auroc"] is None and right["accuracy"] == 1.0 and right["ece"] == pytest.approx(0.15)
    wrong = calibration_metrics(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 0]))
    assert wrong["auroc"] is None and wrong["accuracy"] == 0.0 and wrong["ece"] == pytest.approx(0.85)
    assert wrong["brier"] == pytest.approx((2 * 0.81 + 2 * 0.64) / 2)  # worst-ish; 2 is the maximum
    certain_wrong = calibration_metrics(np.array([[1.0, 0.0]]), np.array([1]))
    assert certain_wrong["brier"] == 2.0 and certain_wrong["nll"] == pytest.approx(-math.log(1e-12))
    empty = calibration_metrics(np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert empty["n"] == 0 and empty["ece"] is None and empty["auroc"] is None


def test_matches_reference_implementations_on_random_data():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for trial in range(20):
        n, k = int(rng.integers(20, 400)), int(rng.integers(2, 6))
        p = rng.dirichlet(np.ones(k), n)
        if trial % 2:
            p = np.round(p, 1)  # many ties in confidence
        y = rng.integers(0, k, n)
        m = calibration_metrics(p, y)
        conf, correct = p.max(1), p.argmax(1) == y
        ece = mce = 0.0
        for i in range(15):
            sel = (conf > i / 15) & (conf <= (i + 1) / 15) if i else conf <= 1 / 15
            if sel.any():
                gap = abs(correct[sel].mean() - conf[sel].mean())
                ece += sel.mean() * gap
                mce = max(mce, gap)
        chunks = np.array_split(np.argsort(conf, kind="stable"), 15)
        ece_mass = sum(len(c) / n * abs(correct[c].mean() - conf[c].mean()) for c in chunks if len(c))
        assert m["ece"] == pytest.approx(ece) and m["mce"] == pytest.approx(mce)
        assert m["ece_equal_mass"] == pytest.approx(ece_mass)
        assert m["brier"] == pytest.approx(((p - np.eye(k)[y]) ** 2).sum(1).mean())
        assert m["auroc"] == pytest.approx(roc_auc_score(correct, conf))
        bins = reliability_bins(p, y, strategy="equal_mass")
        assert (bins["count"] * bins["gap"]).sum() / n == pytest.approx(m["ece_equal_mass"])


def test_bad_input_names_the_row():
    with pytest.raises(InputError, match="row 1 has label 2"):
        calibration_metrics(HAND_P, np.array([0, 2, 1, 0]))
    with pytest.raises(InputError, match="labels"):
        calibration_metrics(HAND_P, np.array([0, 1]))
    with pytest.raises(ValueError, match="strategy"):
        reliability_bins(HAND_P, HAND_Y, strategy="quantile")


def test_labelerrors_cifar10_numbers(labelerrors):
    p = np.load(labelerrors / "cifar10" / "pred_probs.npy")
    p = p / p.sum(1, keepdims=True)
    y = np.load(labelerrors / "cifar10" / "labels.npy")
    m = calibration_metrics(p, y)
    assert m["n"] == 10_000 and m["accuracy"] == pytest.approx(0.9294)
    assert m["ece"] == pytest.approx(0.03259, abs=1e-5)  # overconfident: mean confidence 0.961
    assert m["mean_confidence"] == pytest.approx(0.96147, abs=1e-5)
    assert m["auroc"] == pytest.approx(0.92435, abs=1e-5)
    bins = reliability_bins(p, y)
    assert bins["count"].sum() == 10_000
    assert (bins["count"] * bins["gap"]).sum() / 10_000 == pytest.approx(m["ece"])


def test_ece_from_bins_is_the_metric_ece_and_zero_without_rows():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=500)
    labels = rng.integers(0, 4, size=500)
    bins = reliability_bins(probs, labels, n_bins=15)
    assert ece_from_bins(bins) == pytest.approx(calibration_metrics(probs, labels)["ece"], abs=1e-12)
    assert ece_from_bins(reliability_bins(np.zeros((0, 3)), np.zeros(0, int))) == 0.0


def test_equal_mass_bin_assignments_are_the_stable_sort_split_with_ties_at_the_boundaries():
    from labelaudit.core.calibration import bin_assignments

    rng = np.random.default_rng(5)
    cases = [rng.choice([0.2, 0.5, 0.5, 0.9, 1.0], 1000), np.round(rng.random(997), 2), rng.random(10), np.zeros(0),
             np.full(50, 0.7), rng.beta(8, 1.5, 5000).astype(np.float32).astype(np.float64),  # float32 ties near 1
             np.concatenate([np.ones(300), rng.random(300) * 1e-300]), np.array([np.inf, 0.5, -np.inf, 0.5, 1.0])]
    for conf, n_bins in zip(cases, (15, 7, 15, 3, 4, 15, 10, 3)):
        n = len(conf)
        expected = np.empty(n, dtype=np.int64)
        expected[np.argsort(conf, kind="stable")] = np.concatenate(
            [np.full(len(part), b) for b, part in enumerate(np.array_split(np.arange(n), n_bins))])
        np.testing.assert_array_equal(bin_assignments(conf, n_bins=n_bins, strategy="equal_mass"), expected)

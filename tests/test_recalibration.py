"""Cross-fitted recalibration (core.recalibration) on real and synthetic miscalibrated models."""

import json

import numpy as np
import pytest

from labelaudit.core.calibration import calibration_metrics
from labelaudit.core.errors import Cancelled, InputError
from labelaudit.core.progress import RunContext
from labelaudit.core.recalibration import apply_temperature, recalibrate


def _normalise(p):
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def cifar_sharpened(labelerrors):
    """Real CIFAR-10 test-set probabilities raised to the power 3: an overconfident model."""
    p = _normalise(np.load(labelerrors / "cifar10" / "pred_probs.npy"))
    y = np.load(labelerrors / "cifar10" / "labels.npy").astype(np.int64)
    return _normalise(p**3), y


@pytest.fixture(scope="module")
def overfit_probe():
    """An unregularised logistic regression fitted on 300 rows of a noisy 4-class task."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(
        n_samples=5300, n_features=40, n_informative=10, n_classes=4, n_clusters_per_class=1,
        flip_y=0.05, class_sep=0.8, random_state=0,
    )
    clf = LogisticRegression(C=1e4, max_iter=5000).fit(X[:300], y[:300])
    return clf.predict_proba(X[300:]), y[300:], clf.decision_function(X[300:])


@pytest.mark.parametrize("probe", ["cifar_sharpened", "overfit_probe"])
def test_temperature_halves_ece_lowers_nll_keeps_predictions(probe, request):
    p, y = request.getfixturevalue(probe)[:2]
    r = recalibrate(p, y, "temperature", folds=5, seed=0)
    assert r.method == "temperature"
    assert r.ece_after < 0.5 * r.ece_before
    assert r.nll_after < r.nll_before
    np.testing.assert_array_equal(r.pred_probs.argmax(axis=1), p.argmax(axis=1))
    assert r.details["accuracy_after"] == r.details["accuracy_before"]
    np.testing.assert_allclose(r.pred_probs.sum(axis=1), 1.0, atol=1e-9)
    # an overconfident model is softened: every fold's temperature is above 1
    assert len(r.details["fold_temperatures"]) == 5
    assert min(r.details["fold_temperatures"]) > 1.5
    # the reported numbers are those of the returned probabilities
    after = calibration_metrics(r.pred_probs, y)
    assert r.ece_after == pytest.approx(after["ece"]) and r.nll_after == pytest.approx(after["nll"])


def test_cifar_numbers(cifar_sharpened):
    p, y = cifar_sharpened
    r = recalibrate(p, y, "temperature")
    # p**3 of a model whose own best temperature is about 1.47: the fitted one is about 3 * 1.47
    assert r.details["temperature"] == pytest.approx(4.40, abs=0.05)
    assert r.ece_before == pytest.approx(0.0590, abs=5e-4)
    assert r.ece_after < 0.012
    assert r.nll_before == pytest.approx(0.617, abs=1e-3)
    assert r.nll_after == pytest.approx(0.220, abs=2e-3)


def test_matches_independent_cross_fit(cifar_sharpened):
    """Each row's probabilities come from a temperature fitted on the other folds only."""
    from sklearn.model_selection import StratifiedKFold

    p, y = cifar_sharpened
    r = recalibrate(p, y, "temperature", folds=4, seed=3)
    logp = np.log(p)
    grid = np.exp(np.linspace(np.log(4.0), np.log(4.8), 161))
    splits = StratifiedKFold(n_splits=4, shuffle=True, random_state=3).split(np.zeros(len(y)), y)
    for (train, test), t_fit in zip(splits, r.details["fold_temperatures"]):
        nll = [-np.log(apply_temperature(logp[train], t)[np.arange(len(train)), y[train]]).mean() for t in grid]
        t_grid = grid[int(np.argmin(nll))]
        assert t_fit == pytest.approx(t_grid, rel=2e-3)
        np.testing.assert_allclose(r.pred_probs[test], apply_temperature(logp[test], t_fit), atol=1e-12)


def test_logits_give_the_same_fit_as_probabilities(overfit_probe):
    p, y, logits = overfit_probe
    from_probs = recalibrate(p, y, "temperature")
    from_logits = recalibrate(p, y, "temperature", logits=logits)
    assert from_logits.details["fit_on"] == "logits" and from_probs.details["fit_on"] == "log-probabilities"
    np.testing.assert_allclose(from_logits.pred_probs, from_probs.pred_probs, atol=1e-4)


@pytest.mark.parametrize("method", ["isotonic", "histogram"])
def test_isotonic_and_histogram_lower_ece(method, cifar_sharpened, overfit_probe):
    for p, y in (cifar_sharpened, overfit_probe[:2]):
        r = recalibrate(p, y, method)
        assert r.method == method
        assert r.ece_after < 0.5 * r.ece_before
        np.testing.assert_allclose(r.pred_probs.sum(axis=1), 1.0, atol=1e-9)
        assert np.isfinite(r.nll_after) and r.pred_probs.min() > 0
        assert abs(r.details["accuracy_after"] - r.details["accuracy_before"]) < 0.01


def test_auto_picks_lowest_cross_fitted_nll(overfit_probe):
    p, y = overfit_probe[:2]
    r = recalibrate(p, y, "auto", seed=1)
    cands = r.details["candidates"]
    assert set(cands) == {"temperature", "isotonic", "histogram"}
    assert r.method == min(cands, key=lambda m: cands[m]["nll"])
    assert r.nll_after == pytest.approx(cands[r.method]["nll"])
    single = recalibrate(p, y, r.method, seed=1)
    np.testing.assert_allclose(r.pred_probs, single.pred_probs)
    summary = r.to_summary()
    assert summary["requested"] == "auto" and summary["method"] == r.method
    json.dumps(summary)


def test_summary_has_design_keys(cifar_sharpened):
    p, y = cifar_sharpened
    s = recalibrate(p, y, "temperature").to_summary()
    for key in ("method", "ece_before", "ece_after", "nll_before", "nll_after", "temperature"):
        assert key in s
    assert s["cross_fitted"] is True and s["folds"] == 5
    json.dumps(s)


def test_seed_changes_folds_not_conclusion(cifar_sharpened):
    p, y = cifar_sharpened
    a = recalibrate(p, y, "temperature", seed=0)
    b = recalibrate(p, y, "temperature", seed=0)
    c = recalibrate(p, y, "temperature", seed=7)
    np.testing.assert_array_equal(a.pred_probs, b.pred_probs)
    assert a.details["fold_temperatures"] != c.details["fold_temperatures"]
    assert c.ece_after < 0.5 * c.ece_before


def test_rare_class_falls_back_to_plain_kfold():
    rng = np.random.default_rng(0)
    p = _normalise(rng.dirichlet(np.ones(3) * 0.3, size=200) ** 2)
    y = p.argmax(axis=1)
    y[:2] = 2
    y[2:] = np.where(y[2:] == 2, 0, y[2:])  # class 2 has only two rows
    r = recalibrate(p, y, "isotonic", folds=5)
    assert r.details["splitter"] == "kfold"
    assert np.isfinite(r.nll_after)


def test_bad_input_is_one_line_input_error():
    p = np.full((20, 2), 0.5)
    y = np.zeros(20, dtype=int)
    with pytest.raises(InputError, match="unknown recalibration method 'platt'"):
        recalibrate(p, y, "platt")
    with pytest.raises(InputError, match="at least 10 examples"):
        recalibrate(p[:6], y[:6], "temperature")
    with pytest.raises(InputError, match=r"labels must be integers in \[0, 1\]"):
        recalibrate(p, y + 2, "temperature")
    with pytest.raises(InputError, match="labels has shape"):
        recalibrate(p, y[:5], "temperature")
    with pytest.raises(InputError, match="logits have shape"):
        recalibrate(p, y, "temperature", logits=np.zeros((20, 3)))


def test_cancel_stops_the_fit(cifar_sharpened):
    p, y = cifar_sharpened
    events = []
    ctx = RunContext(on_progress=events.append)
    ctx.cancel()
    with pytest.raises(Cancelled):
        recalibrate(p, y, "temperature", ctx=ctx)
    ctx = RunContext(on_progress=events.append)
    recalibrate(p, y, "histogram", ctx=ctx)
    assert events[-1].stage == "recalibrate" and events[-1].done == events[-1].total == 5

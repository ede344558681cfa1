"""Post-hoc recalibration of predicted probabilities, fitted with K-fold cross-fitting.

:func:`recalibrate` fits one map from a model's probabilities to better
calibrated ones and reports calibration before and after. Every "after"
number is out-of-sample: the rows are split into K folds (stratified by label
when every class has at least K rows), the map is fitted on K-1 folds and
applied to the held-out one, so each row's recalibrated probabilities come
from a map that never saw its label.

Methods
-------
temperature
    One scalar T; probabilities become softmax(z / T), where z are the
    logits when given, else the log-probabilities (the same thing:
    softmax(log softmax(z) / T) == softmax(z / T)). T minimises the mean
    negative log-likelihood over log T in [log 0.01, log 100] with
    scipy.optimize.minimize_scalar (bounded Brent). The fit is written here
    because scikit-learn has no temperature scaling; NLL is convex in 1/T, so
    it is unimodal in log T and a 1-D bounded search finds the optimum.
    Dividing by T > 0 keeps each row's order, so the predicted class and the
    accuracy never change.
isotonic
    One-vs-rest (Zadrozny & Elkan 2002): for each class c, a
    sklearn.isotonic.IsotonicRegression from p[:, c] to 1[label == c]; the k
    outputs are renormalised to sum to one. The predicted class may change.
histogram
    Histogram binning (Zadrozny & Elkan 2001), per class: p[:, c] falls into
    one of ``n_bins`` equal-width bins (the bins of core.calibration) and is
    replaced by the fraction of rows in that bin whose label is c; rows are
    renormalised. Written here because scikit-learn only calibrates fitted
    estimators (CalibratedClassifierCV), not arrays of probabilities. An
    empty training bin maps to its midpoint.
auto
    Runs all three on the same folds and keeps the one with the lowest
    cross-fitted NLL.

Isotonic and histogram outputs of exactly 0 are raised to ``0.5 / n_fit``
(half an example among the fitting rows) before renormalising, so one
surprising held-out label does not make the NLL infinite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .progress import RunContext

METHODS = ("temperature", "isotonic", "histogram")
LOG_T_BOUNDS = (float(np.log(0.01)), float(np.log(100.0)))
HISTOGRAM_BINS = 15


@dataclass
class RecalibrationResult:
    """A cross-fitted recalibration.

    method: the method applied ("temperature", "isotonic" or "histogram"; for a
    request of "auto", the one it chose). pred_probs: (n, k) out-of-sample
    recalibrated probabilities, rows summing to 1. ece_*: top-label ECE, 15
    equal-width bins (design.md); nll_*: mean -log p[label]; "after" values are
    computed on the cross-fitted pred_probs. details: what was fitted (per-fold
    temperatures, the candidates' cross-fitted NLL for auto, the fold scheme).
    """

    method: str
    pred_probs: np.ndarray
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    details: dict = field(default_factory=dict)

    def to_summary(self) -> dict:
        """JSON-ready dict for summary.json["recalibration"]."""
        d = self.details
        out = {
            "method": self.method,
            "requested": d.get("requested", self.method),
            "ece_before": float(self.ece_before),
            "ece_after": float(self.ece_after),
            "nll_before": float(self.nll_before),
            "nll_after": float(self.nll_after),
            "accuracy_before": d["accuracy_before"],
            "accuracy_after": d["accuracy_after"],
            "folds": d["folds"],
            "cross_fitted": True,
        }
        if self.method == "temperature":
            out["temperature"] = d["temperature"]
            out["fold_temperatures"] = d["fold_temperatures"]
        if "candidates" in d:
            out["candidates"] = d["candidates"]
        return out


def recalibrate(
    pred_probs: np.ndarray,
    labels: np.ndarray,
    method: str,
    *,
    folds: int = 5,
    seed: int = 0,
    logits: np.ndarray | None = None,
    ctx: RunContext | None = None,
) -> RecalibrationResult:
    """Fit ``method`` with ``folds``-fold cross-fitting and report before/after.

    pred_probs: (n, k) probabilities (rows sum to 1); labels: (n,) ints in
    [0, k); method: "temperature", "isotonic", "histogram" or "auto";
    logits: optional (n, k) logits that temperature scaling uses instead of
    log(pred_probs); seed: fold shuffling; ctx: progress ("recalibrate",
    one unit per fold and method) and cancel.
    Returns a RecalibrationResult. Raises InputError for bad shapes, labels
    or method, or fewer than 2 * folds rows.
    """
    from .calibration import calibration_metrics

    ctx = ctx or RunContext()
    p, y = _check(pred_probs, labels, method, folds, logits)
    splits, splitter = _folds(y, folds, seed)
    methods = METHODS if method == "auto" else (method,)
    before = calibration_metrics(p, y)

    candidates, fitted = {}, {}
    with ctx.stage("recalibrate", len(methods) * folds) as stage:
        for m in methods:
            if m == "temperature":
                # log-probabilities are logits up to a per-row constant, which softmax ignores
                scores = np.log(np.maximum(p, np.finfo(np.float64).tiny)) if logits is None else logits
                probs, info = _cross_fit_temperature(scores, y, splits, stage)
                info["fit_on"] = "log-probabilities" if logits is None else "logits"
            else:
                probs, info = _cross_fit_binary_maps(m, p, y, splits, stage)
            after = calibration_metrics(probs, y)
            fitted[m] = (probs, info, after)
            candidates[m] = {"nll": float(after["nll"]), "ece": float(after["ece"])}
    chosen = min(candidates, key=lambda m: candidates[m]["nll"]) if method == "auto" else method
    probs, info, after = fitted[chosen]

    details = {
        "requested": method,
        "folds": int(folds),
        "splitter": splitter,
        "seed": int(seed),
        "accuracy_before": float(before["accuracy"]),
        "accuracy_after": float(after["accuracy"]),
        **info,
    }
    if method == "auto":
        details["candidates"] = candidates
    return RecalibrationResult(
        method=chosen,
        pred_probs=probs,
        ece_before=float(before["ece"]),
        ece_after=float(after["ece"]),
        nll_before=float(before["nll"]),
        nll_after=float(after["nll"]),
        details=details,
    )


def apply_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(scores / temperature) row-wise; scores: (n, k) logits or log-probabilities."""
    d = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(d / temperature)
    return e / e.sum(axis=1, keepdims=True)


def _check(pred_probs, labels, method, folds, logits):
    if method not in (*METHODS, "auto"):
        raise InputError(f"unknown recalibration method {method!r} (choose temperature, isotonic, histogram or auto)")
    p = np.asarray(pred_probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InputError(f"pred_probs must be an (n, k) array with k >= 2 (got shape {p.shape})")
    if y.shape != (p.shape[0],):
        raise InputError(f"labels has shape {y.shape} but pred_probs has {p.shape[0]} rows")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[1]):
        raise InputError(f"labels must be integers in [0, {p.shape[1] - 1}]")
    if folds < 2:
        raise InputError(f"recalibration needs at least 2 folds (got {folds})")
    if p.shape[0] < 2 * folds:
        raise InputError(
            f"recalibration with {folds}-fold cross-fitting needs at least {2 * folds} examples (got {p.shape[0]})"
        )
    if logits is not None:
        z = np.asarray(logits)
        if z.shape != p.shape:
            raise InputError(f"logits have shape {z.shape} but pred_probs have {p.shape}")
        if not np.isfinite(z).all():
            raise InputError("logits contain NaN or infinite values")
    return p, y.astype(np.int64)


def _folds(y: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    counts = np.bincount(y)
    if counts[counts > 0].min() >= folds:
        splitter, name = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed), "stratified"
    else:
        splitter, name = KFold(n_splits=folds, shuffle=True, random_state=seed), "kfold"
    return list(splitter.split(np.zeros(len(y)), y)), name


def _cross_fit_temperature(scores, y, splits, stage):
    """Cross-fitted temperature scaling of (n, k) logits or log-probabilities."""
    scores = np.asarray(scores, dtype=np.float64)
    d = (scores - scores.max(axis=1, keepdims=True)).astype(np.float32)
    dy = d[np.arange(len(y)), y]
    out = np.empty(scores.shape, dtype=np.float64)
    temperatures = []
    for train, test in splits:
        t = float(np.exp(_fit_log_temperature(d[train], dy[train])))
        temperatures.append(t)
        out[test] = apply_temperature(scores[test], t)
        stage.advance(1)
    full = float(np.exp(_fit_log_temperature(d, dy)))
    return out, {"fold_temperatures": temperatures, "temperature": full}


def _cross_fit_binary_maps(method, p, y, splits, stage):
    """Cross-fitted isotonic or histogram maps, one per class."""
    out = np.empty_like(p)
    bins = None
    if method == "histogram":
        from .calibration import bin_assignments

        offsets = np.arange(p.shape[1]) * HISTOGRAM_BINS
        bins = bin_assignments(p.ravel(), n_bins=HISTOGRAM_BINS, strategy="equal_width").reshape(p.shape) + offsets
    pieces = []
    for train, test in splits:
        if method == "isotonic":
            out[test], fold_pieces = _isotonic(p[train], y[train], p[test])
            pieces += fold_pieces
        else:
            out[test] = _histogram(bins[train], y[train], bins[test], HISTOGRAM_BINS)
        stage.advance(1)
    if method == "isotonic":
        return out, {"scheme": "one-vs-rest isotonic regression per class, renormalised",
                     "median_pieces": float(np.median(pieces))}
    return out, {"scheme": "per-class histogram binning (equal-width bins), renormalised", "n_bins": HISTOGRAM_BINS}


def _fit_log_temperature(d: np.ndarray, dy: np.ndarray) -> float:
    """log T minimising the mean NLL of softmax(d / T).

    d: (n, k) float32 row-max-shifted scores; dy: d[label]. One NLL evaluation
    is a multiply, an exp and a row sum over d in place (float32 halves the
    memory traffic; the mean is accumulated in float64).
    """
    from scipy.optimize import minimize_scalar

    buf = np.empty_like(d)
    ones = np.ones(d.shape[1], dtype=d.dtype)
    mean_dy = float(dy.mean(dtype=np.float64))

    def nll(log_t: float) -> float:
        beta = np.exp(-log_t)
        np.multiply(d, beta, out=buf)
        np.exp(buf, out=buf)
        return float(np.log(buf @ ones).mean(dtype=np.float64) - beta * mean_dy)

    res = minimize_scalar(nll, bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4})
    return float(res.x)


def _renormalise(q: np.ndarray, n_fit: int) -> np.ndarray:
    q = np.maximum(q, 0.5 / n_fit)
    return q / q.sum(axis=1, keepdims=True)


def _isotonic(p_fit, y_fit, p_apply):
    """Per-class isotonic maps fitted on p_fit, applied to p_apply; also the number of
    constant pieces of each class's map (the steps of its fitted step function)."""
    from sklearn.isotonic import IsotonicRegression

    q = np.empty_like(p_apply)
    pieces = []
    for c in range(p_fit.shape[1]):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(p_fit[:, c], (y_fit == c).astype(np.float64))
        q[:, c] = iso.predict(p_apply[:, c])
        pieces.append(int(len(np.unique(iso.y_thresholds_))))
    return _renormalise(q, len(y_fit)), pieces


def _histogram(bins_fit, y_fit, bins_apply, n_bins):
    """Bin frequencies of each class; bins_*: (n, k) bin index + class * n_bins."""
    k = bins_fit.shape[1]
    hits = np.zeros(bins_fit.shape)
    hits[np.arange(len(y_fit)), y_fit] = 1.0
    count = np.bincount(bins_fit.ravel(), minlength=k * n_bins)
    pos = np.bincount(bins_fit.ravel(), weights=hits.ravel(), minlength=k * n_bins)
    midpoints = np.tile((np.arange(n_bins) + 0.5) / n_bins, k)
    freq = np.where(count > 0, pos / np.maximum(count, 1), midpoints)
    return _renormalise(freq[bins_apply], len(y_fit))

"""Calibration-error estimators beyond the plug-in binned ECE, and the paper presets.

The plug-in ECE of core.calibration is biased upward on small samples (bin
noise alone makes |accuracy - confidence| positive) and depends on the binning.
This module adds, each labelled with its convention:

- :func:`debiased_ece`: the debiased estimator of the L2 calibration error of
  Kumar, Liang & Ma (2019), "Verified Uncertainty Calibration" (NeurIPS),
  on top-label confidence with equal-mass bins. With B bins, n_b examples in
  bin b, mean confidence c_b and accuracy a_b::

      E^2 = sum_b (n_b / n) * [ (a_b - c_b)^2 - a_b (1 - a_b) / (n_b - 1) ]

  (bins with n_b < 2 add 0). The subtracted term is the unbiased estimate of
  Var(a_b), the part of (a_b - c_b)^2 that sampling noise adds. The function
  returns sqrt(max(E^2, 0)), an estimate of the L2 (root-mean-square) ECE,
  not of the L1 ECE that ``ece`` reports; :func:`l2_ece` is the plug-in L2
  value with the same bins.
- :func:`smooth_ece`: the smooth ECE of Blasiok & Nakkiran (2023), "Smooth ECE:
  Principled Reliability Diagrams via Kernel Smoothing", computed by the
  ``relplot`` package (``relplot.smECE``, its automatic bandwidth), with a
  bootstrap interval.
- :func:`classwise_ece`: the mean over classes of the binned ECE of p[:, j]
  against 1[label == j] (Kull et al. 2019, "Beyond temperature scaling").
- :data:`PRESETS`: the bin conventions of two papers, one click away in the GUI.

:func:`calibration_table` collects these (and plug-in ECE, MCE, Brier, NLL)
into rows for the GUI's metric table and reports.
"""

from __future__ import annotations

import numpy as np

from .validation import check_label_indices

PRESETS = {
    "guo2017": {
        "label": "Guo et al. 2017",
        "n_bins": 15,
        "strategy": "equal_width",
        "description": "15 equal-width confidence bins over [0, 1], as in Guo et al. 2017, "
        "'On Calibration of Modern Neural Networks' (ICML)",
    },
    "kadavath2022": {
        "label": "Kadavath et al. 2022",
        "n_bins": 10,
        "strategy": "equal_mass",
        "description": "10 bins of equal count, as in Kadavath et al. 2022, "
        "'Language Models (Mostly) Know What They Know'",
    },
}


def _bin_words(n_bins: int, strategy: str) -> str:
    return f"{n_bins} {strategy.replace('_', '-')} bins"


def l2_ece(pred_probs, labels, *, n_bins: int = 15, strategy: str = "equal_mass", debias: bool = False,
           signed: bool = False) -> float | None:
    """Top-label L2 calibration error, sqrt(sum_b (n_b/n) (a_b - c_b)^2), plug-in or debiased.

    pred_probs: (n, k); labels: (n,) ints. Bins as core.calibration.reliability_bins.
    debias=True subtracts a_b (1 - a_b) / (n_b - 1) per bin (Kumar et al. 2019)
    and clips the sum at 0 before the square root; with signed=True it keeps
    the sign instead, sign(E^2) sqrt(|E^2|): negative when the sampling noise
    removed exceeds the observed gaps. None when n = 0.
    """
    from .calibration import reliability_bins

    bins = reliability_bins(pred_probs, labels, n_bins=n_bins, strategy=strategy)
    counts = bins["count"].to_numpy(dtype=np.float64)
    n = counts.sum()
    if n == 0:
        return None
    used = counts > (1 if debias else 0)
    a = bins["accuracy"].to_numpy()[used]
    c = bins["mean_confidence"].to_numpy()[used]
    terms = (a - c) ** 2
    if debias:
        terms = terms - a * (1 - a) / (counts[used] - 1)
    square = float(np.dot(counts[used] / n, terms))
    if signed:
        return float(np.sign(square) * np.sqrt(abs(square)))
    return float(np.sqrt(max(square, 0.0)))


def debiased_ece(pred_probs, labels, *, n_bins: int = 15, strategy: str = "equal_mass",
                 signed: bool = False) -> float | None:
    """Kumar et al. (2019) debiased estimate of the top-label L2 ECE (equal-mass bins by default).

    See the module docstring for the formula and :func:`l2_ece` for ``signed``; None when n = 0.
    """
    return l2_ece(pred_probs, labels, n_bins=n_bins, strategy=strategy, debias=True, signed=signed)


def _bootstrap(statistic, p, y, n_boot: int, seed: int) -> np.ndarray:
    """``statistic(p[idx], y[idx])`` over ``n_boot`` paired resamples with replacement."""
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        stats[i] = statistic(p[idx], y[idx])
    return stats


def normal_interval(value: float, boot: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(low, high, se): the normal-approximation bootstrap interval value -/+ z * se, se the
    standard deviation of the bootstrap statistics ``boot``; low is clipped at 0 (errors are
    not negative). Unlike a percentile interval of a biased statistic, it always contains value."""
    from statistics import NormalDist

    se = float(np.std(boot, ddof=1)) if len(boot) > 1 else 0.0
    z = NormalDist().inv_cdf(0.5 + level / 2)
    return max(value - z * se, 0.0), value + z * se, se


def _top_label(pred_probs, labels):
    """(p float64, labels int64, top-label confidence, correct as 0/1 floats), or InputError."""
    y, p = check_label_indices(labels, pred_probs)
    p = p.astype(np.float64, copy=False)
    predicted = p.argmax(axis=1)
    confidence = p[np.arange(len(y)), predicted]
    return p, y, confidence, (predicted == y).astype(np.float64)


def smooth_ece(pred_probs, labels, *, n_boot: int = 100, level: float = 0.95, seed: int = 0) -> dict:
    """Smooth ECE of top-label confidence (relplot.smECE) with a bootstrap interval.

    Returns {"value", "low", "high", "se", "sigma", "n_boot", "level", "method"}:
    value and the kernel bandwidth sigma that relplot chose on the data; se the
    standard deviation of smECE over ``n_boot`` paired resamples at that same
    bandwidth (relplot.smECE_sigma; re-choosing it per resample costs ten times
    more); low/high the normal-approximation interval around value
    (:func:`normal_interval`). A percentile interval would not do: smECE is
    biased upward, so its resamples sit above it and their percentiles can miss
    the estimate. low/high/se are None when n_boot is 0 and everything is
    None when n = 0.
    """
    import relplot

    _, _, f, y = _top_label(pred_probs, labels)
    out = {"value": None, "low": None, "high": None, "se": None, "sigma": None, "n_boot": int(n_boot),
           "level": level, "method": "normal-approximation bootstrap"}
    if len(f) == 0:
        return out
    value, sigma = relplot.smECE(f, y, return_width=True)
    out.update(value=float(value), sigma=float(sigma))
    if n_boot > 0:
        boot = _bootstrap(lambda fb, yb: relplot.smECE_sigma(fb, yb, sigma), f, y, n_boot, seed)
        low, high, se = normal_interval(float(value), boot, level)
        out.update(low=low, high=high, se=se)
    return out


def debiased_ece_with_se(pred_probs, labels, *, n_bins: int = 15, n_boot: int = 100, seed: int = 0) -> dict:
    """The signed debiased L2 ECE (:func:`debiased_ece`, ``signed=True``) and its bootstrap
    standard error over ``n_boot`` paired resamples: {"value", "se", "about_zero"}.

    about_zero is True when |value| < se: the data cannot tell the calibration
    error from 0. se and about_zero are None when n_boot is 0; all None when n = 0.
    """
    value = debiased_ece(pred_probs, labels, n_bins=n_bins, signed=True)
    out = {"value": value, "se": None, "about_zero": None}
    if value is None or n_boot <= 0:
        return out
    p, y, _, _ = _top_label(pred_probs, labels)
    boot = _bootstrap(lambda pb, yb: debiased_ece(pb, yb, n_bins=n_bins, signed=True), p, y, n_boot, seed)
    se = float(np.std(boot, ddof=1)) if n_boot > 1 else 0.0
    out.update(se=se, about_zero=bool(abs(value) < se))
    return out


def classwise_ece(pred_probs, labels, *, n_bins: int = 15, strategy: str = "equal_width") -> float | None:
    """Mean over classes j of the binned ECE of p[:, j] against 1[label == j] (Kull et al. 2019).

    Each class's column is binned on its own (core.calibration.bin_assignments);
    ECE_j = sum_b (n_b/n) |freq_b - mean p_b|. None when n = 0.
    """
    from .calibration import bin_assignments

    p, y, _, _ = _top_label(pred_probs, labels)
    n, k = p.shape
    if n == 0:
        return None
    eces = np.empty(k)
    for j in range(k):
        b = bin_assignments(p[:, j], n_bins=n_bins, strategy=strategy)
        prob_sum = np.bincount(b, weights=p[:, j], minlength=n_bins)
        hit_sum = np.bincount(b, weights=(y == j).astype(np.float64), minlength=n_bins)
        eces[j] = np.abs(hit_sum - prob_sum).sum() / n
    return float(eces.mean())


def calibration_table(pred_probs, labels, preset: str = "guo2017", *, n_boot: int = 100, seed: int = 0) -> list[dict]:
    """Rows for a metric table: [{"key", "name", "value", "interval", "se", "about_zero", "convention"}, ...].

    preset: a key of PRESETS; it sets the bins of the plug-in ECE, MCE,
    debiased ECE (always equal-mass, as Kumar et al.) and classwise ECE.
    interval is (low, high) for the smooth ECE and None elsewhere; values are
    floats or None (undefined, e.g. no examples). The debiased ECE is signed
    and carries its bootstrap standard error ``se`` and ``about_zero``
    (|value| < se); other rows have se and about_zero None.
    """
    from .calibration import METRIC_HELP, calibration_metrics, reliability_bins

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    n_bins, strategy = cfg["n_bins"], cfg["strategy"]
    words = _bin_words(n_bins, strategy)
    metrics = calibration_metrics(pred_probs, labels, n_bins=n_bins)
    bins = reliability_bins(pred_probs, labels, n_bins=n_bins, strategy=strategy)
    counts = bins["count"].to_numpy()
    gaps = bins["gap"].to_numpy()
    nonempty = counts > 0
    ece = float(np.dot(counts[nonempty], gaps[nonempty]) / counts.sum()) if nonempty.any() else None
    mce = float(gaps[nonempty].max()) if nonempty.any() else None
    smooth = smooth_ece(pred_probs, labels, n_boot=n_boot, seed=seed)
    interval = (smooth["low"], smooth["high"]) if smooth["low"] is not None else None
    sigma = f"{smooth['sigma']:.3g}" if smooth["sigma"] is not None else "n/a"
    debiased = debiased_ece_with_se(pred_probs, labels, n_bins=n_bins, n_boot=n_boot, seed=seed)
    rows = [
        {
            "key": "ece",
            "name": "ECE (plug-in)",
            "value": ece,
            "interval": None,
            "convention": f"Top-label expected calibration error, {words} ({cfg['label']}): each bin's "
            "|accuracy - mean confidence| weighted by its share of examples. Biased upward on small samples.",
        },
        {
            "key": "mce",
            "name": "MCE",
            "value": mce,
            "interval": None,
            "convention": f"Maximum calibration error: the largest |accuracy - mean confidence| over the non-empty "
            f"bins ({words}).",
        },
        {
            "key": "debiased_ece",
            "name": "Debiased L2 ECE (Kumar 2019)",
            "value": debiased["value"],
            "interval": None,
            "se": debiased["se"],
            "about_zero": debiased["about_zero"],
            "convention": f"Kumar, Liang & Ma 2019: sqrt of sum_b w_b[(a_b - c_b)^2 - a_b(1 - a_b)/(n_b - 1)] over "
            f"{n_bins} equal-mass bins; estimates the root-mean-square (L2) calibration error with the sampling "
            "noise removed, so compare it with other L2 values, not with the L1 ECE above. Signed: negative when "
            "the removed noise exceeds the observed gaps; 'about 0' when |value| is below its bootstrap standard "
            f"error ({n_boot} resamples).",
        },
        {
            "key": "smooth_ece",
            "name": "Smooth ECE (Blasiok 2023)",
            "value": smooth["value"],
            "interval": interval,
            "convention": "Blasiok & Nakkiran 2023, computed by relplot.smECE: kernel-smoothed reliability curve, "
            f"bandwidth chosen automatically (here {sigma}); no bins. Interval: {int(100 * smooth['level'])}% "
            f"{smooth['method']} (estimate ± z × the standard deviation over {smooth['n_boot']} resamples at that "
            "bandwidth).",
        },
        {
            "key": "classwise_ece",
            "name": "Classwise ECE (Kull 2019)",
            "value": classwise_ece(pred_probs, labels, n_bins=n_bins, strategy=strategy),
            "interval": None,
            "convention": f"Kull et al. 2019: mean over classes of the ECE of each class's probability against "
            f"whether the label is that class, {words} per class.",
        },
        {"key": "brier", "name": "Brier", "value": metrics["brier"], "interval": None,
         "convention": METRIC_HELP["brier"]},
        {"key": "nll", "name": "NLL", "value": metrics["nll"], "interval": None, "convention": METRIC_HELP["nll"]},
        {"key": "accuracy", "name": "Accuracy", "value": metrics["accuracy"], "interval": None,
         "convention": METRIC_HELP["accuracy"]},
    ]
    for row in rows:
        row.setdefault("se", None)
        row.setdefault("about_zero", None)
    return rows

"""Does a language model know when it is right? P(True) / P(IK) against correctness.

Kadavath et al. (2022), "Language Models (Mostly) Know What They Know", ask a
model for the probability that its own answer is true (P(True)) or that it
knows the answer (P(IK)). Here that probability is judged as a binary
forecast of ``correct`` (whether the answer was right): the reliability
diagram bins P(True) itself, not a top-label confidence max(p, 1 - p), so a
P(True) of 0.2 on a wrong answer counts as a good forecast.

All numbers are plain Python values, ready for summary.json.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def self_knowledge_report(p_true, correct, *, n_bins: int = 10) -> dict:
    """Calibration and discrimination of P(True) (or P(IK)) as a forecast of correctness.

    p_true: (n,) probabilities in [0, 1]; correct: (n,) bools (or 0/1).
    Returns {"n", "accuracy" (share correct), "mean_p_true", "auroc" (P(True)
    as a score for correct vs wrong, ties count half; None when all are correct
    or all wrong), "brier" (mean (p - correct)^2), "ece" (sum over ``n_bins``
    equal-mass bins of share * |accuracy - mean P(True)|, the Kadavath 2022
    convention), "n_bins", "reliability": [{"bin", "lower", "upper", "count",
    "mean_p_true", "accuracy", "wilson_low", "wilson_high"}, ...] (lower/upper:
    the smallest and largest P(True) in the bin), "coverage": [{"threshold",
    "coverage", "accuracy", "n_answered"}, ...]} where answering only when
    P(True) > threshold covers that share of the questions with that accuracy
    (None when nothing is answered); thresholds are 0 and the 2%, 4%, ... 98%
    quantiles of P(True).
    Raises InputError for mismatched lengths, values outside [0, 1] or NaN.
    """
    from scipy.stats import binomtest

    from .calibration import bin_assignments

    p = np.asarray(p_true, dtype=np.float64).ravel()
    c = np.asarray(correct).ravel()
    if len(p) != len(c):
        raise InputError(f"p_true has {len(p)} values but correct has {len(c)}")
    if len(p) == 0:
        raise InputError("self-knowledge needs at least one answered question")
    if not np.all((p >= 0) & (p <= 1)):
        raise InputError("p_true must hold probabilities in [0, 1] (found NaN or a value outside)")
    c = c.astype(bool)
    n = len(p)

    bins = bin_assignments(p, n_bins=n_bins, strategy="equal_mass")
    counts = np.bincount(bins, minlength=n_bins)
    p_sum = np.bincount(bins, weights=p, minlength=n_bins)
    hits = np.bincount(bins, weights=c.astype(np.float64), minlength=n_bins)
    reliability = []
    for b in np.flatnonzero(counts):
        in_bin = p[bins == b]
        wilson = binomtest(int(hits[b]), int(counts[b])).proportion_ci(0.95, method="wilson")
        reliability.append({
            "bin": int(b),
            "lower": float(in_bin.min()),
            "upper": float(in_bin.max()),
            "count": int(counts[b]),
            "mean_p_true": float(p_sum[b] / counts[b]),
            "accuracy": float(hits[b] / counts[b]),
            "wilson_low": float(wilson.low),
            "wilson_high": float(wilson.high),
        })

    return {
        "n": int(n),
        "accuracy": float(c.mean()),
        "mean_p_true": float(p.mean()),
        "auroc": _auroc(p, c),
        "brier": float(np.mean((p - c) ** 2)),
        "ece": float(np.abs(hits - p_sum).sum() / n),
        "n_bins": int(n_bins),
        "reliability": reliability,
        "coverage": coverage_curve(p, c),
    }


def coverage_curve(p_true, correct, thresholds=None) -> list[dict]:
    """Accuracy when answering only where P(True) > t, for each threshold t.

    thresholds: default 0 and the 2%, 4%, ..., 98% quantiles of p_true (duplicates removed).
    Returns [{"threshold", "coverage", "accuracy" (None when nothing is answered),
    "n_answered"}, ...] in increasing threshold order.
    """
    p = np.asarray(p_true, dtype=np.float64)
    c = np.asarray(correct, dtype=bool)
    if thresholds is None:
        thresholds = np.concatenate([[0.0], np.quantile(p, np.linspace(0.02, 0.98, 49))])
    thresholds = np.unique(np.asarray(thresholds, dtype=np.float64))
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    correct_above = np.concatenate([np.cumsum(c[order][::-1])[::-1], [0]])  # correct among sorted[i:]
    out = []
    for t in thresholds:
        first = int(np.searchsorted(sorted_p, t, side="right"))  # rows with p > t start here
        answered = len(p) - first
        out.append({
            "threshold": float(t),
            "coverage": answered / len(p),
            "accuracy": float(correct_above[first] / answered) if answered else None,
            "n_answered": answered,
        })
    return out


def _auroc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Mann-Whitney AUROC of ``score`` for ``positive``, ties counted half; None for one class."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))

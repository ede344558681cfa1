"""A correctness model beside raw confidence ("Generalized Correctness Models").

:func:`correctness_model` predicts "is the model's top answer right on this
example" from signals the model already gives, cross-fitted (scikit-learn
``StratifiedKFold``; each example's P(correct) comes from a logistic regression
fitted on the other folds), and reports it beside the raw confidence:

- features: the model's confidence (top-1 probability), the second probability,
  margin (top-1 - top-2), entropy, log-odds of the confidence; per other model
  (multi-model benchmarks) its probability on this model's answer and whether
  its own answer agrees; optional embeddings (reduced inside each fold to at
  most 32 principal components and one per 20 training rows, so small sets do
  not drown the model in dimensions; none below 20 rows).
- scores, for raw confidence and for P(correct): ``auroc`` (separating right
  from wrong), ``brier`` (mean squared error of the score as a probability of
  being right), ``ece`` (15 equal-width bins of that binary probability), and
  ``accuracy_at_coverage`` (accuracy on the most confident share of examples,
  at 10%, 20%, ..., 100%) with ``aurc`` (area under the risk-coverage curve,
  lower is better).

``beats_raw`` says, per score, "better", "same" (within 0.001) or "worse"
than raw confidence: on a single model's own signals the correctness model is
mostly a recalibration (Brier and ECE improve, AUROC stays); the other models'
answers are what can move AUROC.
"""

from __future__ import annotations

import numpy as np

COVERAGES = tuple(np.round(np.arange(0.1, 1.01, 0.1), 2))


def features(pred_probs, *, others=None, predicted=None) -> tuple[np.ndarray, list[str]]:
    """(n, f) feature matrix and names from one model's (n, k) probabilities and other models' (dict of (n, k))."""
    p = np.asarray(pred_probs, dtype=np.float64)
    top = np.sort(p, axis=1)[:, ::-1]
    p1, p2 = top[:, 0], (top[:, 1] if p.shape[1] > 1 else np.zeros(len(p)))
    eps = 1e-12
    entropy = -(p * np.log(np.clip(p, eps, 1))).sum(axis=1)
    cols = [p1, p2, p1 - p2, entropy, np.log(np.clip(p1, eps, 1)) - np.log(np.clip(1 - p1, eps, 1))]
    names = ["confidence", "second_prob", "margin", "entropy", "confidence_logit"]
    answer = p.argmax(axis=1) if predicted is None else predicted
    rows = np.arange(len(p))
    for name, q in (others or {}).items():
        q = np.asarray(q, dtype=np.float64)
        cols += [q[rows, answer], (q.argmax(axis=1) == answer).astype(np.float64)]
        names += [f"{name}: p(this answer)", f"{name}: agrees"]
    return np.column_stack(cols), names


def correctness_model(pred_probs, labels, *, others=None, embeddings=None, folds: int = 5, seed: int = 0) -> dict:
    """Cross-fitted P(correct) and its scores beside raw confidence (module docstring).

    pred_probs: (n, k); labels: (n,) the labels correctness is judged against;
    others: name -> (n, k) other models' probabilities on the same rows;
    embeddings: (n, d) or None. Returns {"n", "folds", "features", "raw", "model",
    "beats_raw", "p_correct"} (p_correct: (n,) array; the rest plain values).
    With fewer than ``2 * folds`` right or wrong answers no model is fitted
    ("model": None, "reason": why).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    p = np.asarray(pred_probs, dtype=np.float64)
    y = np.asarray(labels)
    correct = (p.argmax(axis=1) == y).astype(np.int64)
    X, names = features(p, others=others)
    raw = scores(p.max(axis=1), correct)
    out = {"n": int(len(y)), "folds": int(folds), "features": names, "raw": raw}
    n_right = int(correct.sum())
    if min(n_right, len(y) - n_right) < 2 * folds:
        return {**out, "model": None, "beats_raw": None, "p_correct": None,
                "reason": f"{n_right} right and {len(y) - n_right} wrong answers: too few of one kind to fit"}
    emb = None if embeddings is None else np.asarray(embeddings, dtype=np.float64)
    p_correct = np.empty(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, correct):
        Xtr, Xte = X[train], X[test]
        n_pc = 0 if emb is None else min(32, emb.shape[1], len(train) // 20)
        if n_pc:
            pca = PCA(n_components=n_pc, random_state=seed).fit(emb[train])
            Xtr = np.hstack([Xtr, pca.transform(emb[train])])
            Xte = np.hstack([Xte, pca.transform(emb[test])])
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        clf.fit(Xtr, correct[train])
        p_correct[test] = clf.predict_proba(Xte)[:, 1]
    model = scores(p_correct, correct)
    beats = {k: _compare(model[k], raw[k], higher_is_better=k == "auroc")
             for k in ("auroc", "brier", "ece", "aurc") if model[k] is not None and raw[k] is not None}
    if emb is not None and min(32, emb.shape[1], len(y) * (folds - 1) // folds // 20):
        out["features"] = names + [f"embedding PCs (up to {min(32, emb.shape[1])})"]
    return {**out, "model": model, "beats_raw": beats, "p_correct": p_correct}


def scores(score, correct) -> dict:
    """AUROC, Brier, ECE (15 bins) and accuracy at coverage of ``score`` as a probability of ``correct``."""
    from sklearn.metrics import roc_auc_score

    s = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
    c = np.asarray(correct, dtype=np.float64)
    n = len(c)
    auroc = float(roc_auc_score(c, s)) if 0 < c.sum() < n else None
    bins = np.clip(np.ceil(s * 15).astype(int) - 1, 0, 14)
    counts = np.bincount(bins, minlength=15)
    gap = np.abs(np.bincount(bins, weights=c, minlength=15) - np.bincount(bins, weights=s, minlength=15))
    order = np.argsort(-s, kind="stable")
    cum_acc = np.cumsum(c[order]) / np.arange(1, n + 1)
    at = {f"{cov:.1f}": float(cum_acc[max(int(round(cov * n)), 1) - 1]) for cov in COVERAGES}
    return {
        "auroc": auroc,
        "brier": float(np.mean((s - c) ** 2)),
        "ece": float(gap.sum() / n) if counts.sum() else None,
        "aurc": float(np.mean(1 - cum_acc)),
        "accuracy_at_coverage": at,
    }


def _compare(new: float, old: float, *, higher_is_better: bool, tol: float = 1e-3) -> str:
    gain = (new - old) if higher_is_better else (old - new)
    return "better" if gain > tol else ("worse" if gain < -tol else "same")


def describe(result: dict) -> str:
    """One line: raw confidence against P(correct) on AUROC, Brier and ECE."""
    raw, model = result["raw"], result.get("model")
    if not model:
        return f"correctness model: not fitted ({result.get('reason', '')})"
    parts = [f"{k.upper() if k != 'brier' else 'Brier'} {raw[k]:.4f} -> {model[k]:.4f} ({result['beats_raw'][k]})"
             for k in ("auroc", "brier", "ece") if raw[k] is not None and model[k] is not None]
    return "correctness model (cross-fitted) vs raw confidence: " + ", ".join(parts)


def summary(result: dict) -> dict:
    """``result`` without the per-example array, for JSON files."""
    return {k: v for k, v in result.items() if k != "p_correct"}

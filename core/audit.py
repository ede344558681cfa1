"""Label audit by confident learning (cleanlab 2.9).

:func:`run_label_audit` takes the given labels and out-of-sample ``pred_probs``
and returns an :class:`AuditResult`: per-example label quality, issue flags and
suggested labels, and the class-level picture (confident joint, noise matrix,
issues per class, overlapping classes, most frequent corrections).

By default the flags are exactly those of ``cleanlab.filter.find_label_issues(labels,
pred_probs)`` with its defaults (``filter_by="prune_by_noise_rate"``,
``frac_noise=1``, ``min_examples_per_class=1``). The audit computes the same
steps itself with cleanlab's own building blocks, so that the confident joint
is computed once and nothing copies the whole ``pred_probs`` matrix: the
per-class pruning runs on one class's rows at a time and the final
"model agrees with the given label" check only on the candidate rows. A test
asserts the equality with ``find_label_issues`` on the released labelerrors data.
Any other method (``filter_by``, ``rank_by``, ``num_issues``, ``frac_noise``,
or the labelerrors-2021 recipe) goes through core.detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .detection import LABELERRORS_2021, DetectionMethod, flag_issues, quality_scores
from .errors import InputError
from .validation import check_label_indices
from .progress import RunContext


@dataclass
class AuditResult:
    """What confident learning found for one set of labels and pred_probs: per-example
    flags and class-level noise. One part of an AuditReport (AuditReport.audit).

    examples: one row per example, in row order, columns ``row``,
      ``given_label``, ``predicted_label`` (argmax of pred_probs),
      ``suggested_label`` (the predicted label for flagged examples, the given
      label otherwise), ``confidence`` (max prob), ``given_label_prob``,
      ``label_quality`` (cleanlab self-confidence = p[given], lower = more
      likely wrong), ``is_label_issue`` and ``class_threshold`` (cleanlab's
      confident threshold of the given class: the mean p[j] among examples
      labelled j).
    confident_joint: (k, k) calibrated confident joint counts, rows given label,
      columns true label.
    noise_matrix: (k, k) P(given = i | true = j), as
      ``cleanlab.count.estimate_py_and_noise_matrices_from_probabilities`` estimates it.
    issues_per_class: ``class``, ``class_name``, ``n_examples``,
      ``n_label_issues``, ``issue_rate`` (NaN for a class with no examples),
      ``threshold`` (the class's confident threshold; 2.0 when the class has no
      examples, so nothing can be counted into it).
    overlapping_classes: ``class_a``, ``class_b``, ``class_a_name``,
      ``class_b_name``, ``n_overlap``, ``joint_probability``: symmetric pairs
      from ``cleanlab.dataset.find_overlapping_classes``, largest first.
    top_corrections: ``given``, ``suggested``, ``given_name``,
      ``suggested_name``, ``count``: given -> suggested pairs among flagged
      examples, most frequent first (ties by given, then suggested).
    detection: the method and its parameters (``filter_by``, ``rank_by`` resolved,
      ``num_issues``, ``frac_noise``, ``description``; ``n_estimated`` for labelerrors-2021).
    """

    examples: pd.DataFrame
    confident_joint: np.ndarray
    noise_matrix: np.ndarray
    issues_per_class: pd.DataFrame
    overlapping_classes: pd.DataFrame
    top_corrections: pd.DataFrame
    detection: dict = field(default_factory=dict)


def _check_inputs(labels, pred_probs) -> tuple[np.ndarray, np.ndarray]:
    labels, pred_probs = check_label_indices(labels, pred_probs)
    if len(labels) == 0:
        raise InputError("labels: no examples to audit")
    return labels, pred_probs


def _class_rows(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """Row indices of each class, ascending (the rows of ``labels == j``)."""
    small = labels.astype(np.min_scalar_type(max(k - 1, 0)), copy=False)
    order = np.argsort(small, kind="stable")  # radix sort for <= 16-bit labels
    bounds = np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=k))])
    return [order[bounds[j] : bounds[j + 1]] for j in range(k)]


def _confident_thresholds(given_prob: np.ndarray, rows: list[np.ndarray]) -> np.ndarray:
    """cleanlab.count.get_confident_thresholds, from the rows of each class.

    ``given_prob[rows[j]]`` holds exactly ``pred_probs[:, j][labels == j]`` in the
    same order, so the means are bit-identical to cleanlab's.
    """
    from cleanlab.internal.constants import CONFIDENT_THRESHOLDS_LOWER_BOUND

    big_value = 2  # cleanlab's threshold for a class absent from labels
    thresholds = [np.mean(given_prob[r]) if len(r) else big_value for r in rows]
    return np.clip(thresholds, a_min=CONFIDENT_THRESHOLDS_LOWER_BOUND, a_max=None)


def _confident_counts(labels, pred_probs, predicted, thresholds) -> np.ndarray:
    """The uncalibrated confident joint as cleanlab 1.0 counts it (no diagonal clipping), by a bincount.

    Row = given label, column = the example's one class at or above its
    threshold - 1e-6, or its argmax when several are; examples with none are not counted.
    """
    k = pred_probs.shape[1]
    confident = pred_probs >= thresholds - 1e-6
    n_confident = confident.sum(axis=1)
    any_confident = n_confident > 0
    true_guess = np.where(n_confident > 1, predicted, confident.argmax(axis=1))
    del confident
    pairs = labels[any_confident] * k + true_guess[any_confident]
    return np.bincount(pairs, minlength=k * k).reshape(k, k)


def _calibrated(raw_joint: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """cleanlab.count.compute_confident_joint (calibrated) from the raw counts."""
    from cleanlab.count import calibrate_confident_joint

    joint = raw_joint.copy()
    np.fill_diagonal(joint, joint.diagonal().clip(min=1))
    return calibrate_confident_joint(joint, labels)


def _largest(neg_margin: np.ndarray, m: int) -> np.ndarray:
    """Mask of ``np.argsort(neg_margin)[:m]``: cleanlab's pick of the m largest margins.

    A partition finds the cut in O(n); only when tied values straddle the cut
    (so which of them make the first m depends on the sort) does it run
    the same argsort as cleanlab, which makes the choice identical.
    """
    if m >= len(neg_margin):
        return np.ones(len(neg_margin), dtype=bool)
    cut = neg_margin[np.argpartition(neg_margin, m - 1)[m - 1]]
    mask = neg_margin <= cut
    if np.count_nonzero(mask) != m:
        mask[:] = False
        mask[np.argsort(neg_margin)[:m]] = True
    return mask


def _prune_by_noise_rate(labels, pred_probs, confident_joint, rows, ctx) -> np.ndarray:
    """The flags of cleanlab.filter.find_label_issues with its defaults.

    Per given class g (its rows only) and true class t != g, flag the
    ``prune_counts[t, g]`` examples with the largest margin p[t] - p[g], as
    cleanlab.filter._prune_by_count does; then unflag the examples whose argmax
    (with p[given] raised by 1e-6) is the given label (cleanlab.count._reduce_issues).
    """
    from cleanlab.count import _reduce_issues
    from cleanlab.filter import _keep_at_least_n_per_class

    k = pred_probs.shape[1]
    prune_counts = _keep_at_least_n_per_class(prune_count_matrix=confident_joint.T, n=1, frac_noise=1.0)
    is_issue = np.zeros(len(labels), dtype=bool)
    with _stage(ctx, "finding label issues", k) as stage:
        for g, r in enumerate(rows):
            if len(r) > 1:  # cleanlab never flags a class with a single example
                sub = pred_probs[r]
                mask = np.zeros(len(r), dtype=bool)
                for t in range(k):
                    if t != g and prune_counts[t, g] > 0:
                        mask |= _largest(-(sub[:, t] - sub[:, g]), int(prune_counts[t, g]))
                is_issue[r[mask]] = True
            stage.advance(1)
    candidates = np.flatnonzero(is_issue)
    agrees = _reduce_issues(pred_probs=pred_probs[candidates], labels=labels[candidates])
    is_issue[candidates[agrees]] = False
    return is_issue


def run_label_audit(
    labels, pred_probs, *, ctx: RunContext | None = None, class_names=None, method: "DetectionMethod | None" = None,
    stored_probs=None,
) -> AuditResult:
    """Flag likely label errors with confident learning.

    labels: (n,) integer given labels in [0, k). pred_probs: (n, k) out-of-sample
    predicted probabilities, rows summing to 1 (float64 or float32).
    class_names: k names for the name columns (default "0".."k-1").
    ctx: progress ("confident joint", "finding label issues", "summaries") and cancel.
    method: the core.detection.DetectionMethod (default: cleanlab's defaults).
    stored_probs: the probabilities as stored before renormalisation (same shape);
    the labelerrors-2021 recipe counts and ranks on them, as cleanlab 1.0 did.

    Returns an :class:`AuditResult`. With the default method ``is_label_issue`` equals
    ``cleanlab.filter.find_label_issues(labels, pred_probs)`` with defaults;
    otherwise it is core.detection.flag_issues's mask. ``label_quality`` is
    cleanlab's score named by ``method.rank`` (self-confidence by default).
    ``suggested_label`` of a flagged example is the argmax of its pred_probs
    (the class the model believes); unflagged examples keep their given label.
    Classes present in pred_probs but absent from labels get threshold 2.0, so
    no example is counted into them; with a single class present in labels
    nothing can be flagged. Raises InputError on mismatched or invalid inputs.
    """
    labels, pred_probs = _check_inputs(labels, pred_probs)
    n, k = pred_probs.shape
    if class_names is None:
        class_names = [str(j) for j in range(k)]
    class_names = [str(c) for c in class_names]
    if len(class_names) != k:
        raise InputError(f"class names: {len(class_names)} names but pred_probs has {k} columns")

    with _stage(ctx, "confident joint", 3) as stage:
        rows = _class_rows(labels, k)
        if ctx is not None:
            _notice_small_classes(ctx, rows, class_names)
        given_prob = pred_probs[np.arange(n), labels]
        predicted = pred_probs.argmax(axis=1)
        confidence = pred_probs[np.arange(n), predicted]
        stage.advance(1)
        thresholds = _confident_thresholds(given_prob, rows)
        stage.advance(1)
        raw_joint = _confident_counts(labels, pred_probs, predicted, thresholds)
        confident_joint = _calibrated(raw_joint, labels)
        stage.advance(1)

    method = method or DetectionMethod()
    if method.rank == "self_confidence":
        from cleanlab.rank import get_self_confidence_for_each_label

        label_quality = get_self_confidence_for_each_label(labels, pred_probs)
    else:
        label_quality = quality_scores(labels, pred_probs, method.rank)
    if method.is_default:
        is_issue = _prune_by_noise_rate(labels, pred_probs, confident_joint, rows, ctx)
        detection = {}
    else:
        probs_for_flags, joint_for_flags = pred_probs, raw_joint
        if method.filter_by == LABELERRORS_2021 and stored_probs is not None:
            probs_for_flags = np.asarray(stored_probs, dtype=np.float64)
            stored_given = probs_for_flags[np.arange(n), labels]
            joint_for_flags = _confident_counts(labels, probs_for_flags, probs_for_flags.argmax(axis=1),
                                                _confident_thresholds(stored_given, rows))
        with _stage(ctx, "finding label issues", 1) as stage:
            is_issue, detection = flag_issues(
                labels, probs_for_flags, method, scores=label_quality, confident_joint=confident_joint,
                raw_joint=joint_for_flags,
            )
            stage.advance(1)

    with _stage(ctx, "summaries", 2) as stage:
        from cleanlab.count import estimate_latent

        # as cleanlab.count.estimate_py_and_noise_matrices_from_probabilities (defaults)
        _, noise_matrix, _ = estimate_latent(confident_joint, labels, py_method="cnt", converge_latent_estimates=True)
        suggested = np.where(is_issue, predicted, labels)
        examples = pd.DataFrame(
            {
                "row": np.arange(n, dtype=np.int64),
                "given_label": labels.copy(),
                "predicted_label": predicted.astype(np.int64, copy=False),
                "suggested_label": suggested.astype(np.int64, copy=False),
                "confidence": confidence.astype(np.float64, copy=False),
                "given_label_prob": given_prob.astype(np.float64, copy=False),
                "label_quality": label_quality.astype(np.float64, copy=False),
                "is_label_issue": is_issue,
                "class_threshold": thresholds[labels].astype(np.float64, copy=False),
            },
            copy=False,  # the columns are fresh arrays; skip pandas' block consolidation copy
        )
        stage.advance(1)
        n_per_class = np.array([len(r) for r in rows], dtype=np.int64)
        issues = np.bincount(labels[is_issue], minlength=k)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(n_per_class > 0, issues / np.maximum(n_per_class, 1), np.nan)
        issues_per_class = pd.DataFrame(
            {
                "class": np.arange(k, dtype=np.int64),
                "class_name": class_names,
                "n_examples": n_per_class,
                "n_label_issues": issues.astype(np.int64),
                "issue_rate": rate,
                "threshold": np.asarray(thresholds, dtype=np.float64),
            }
        )
        result = AuditResult(
            examples=examples,
            confident_joint=confident_joint,
            noise_matrix=noise_matrix,
            issues_per_class=issues_per_class,
            overlapping_classes=_overlapping_classes(confident_joint, class_names),
            top_corrections=_top_corrections(labels[is_issue], predicted[is_issue], class_names),
            detection={**method.to_dict(), "rank_by": method.rank, "description": method.describe(), **detection},
        )
        stage.advance(1)
    return result


#: The inspector's verdict of an example: state -> headline.
ISSUE_STATES = {
    "flagged": "Likely label error",
    "low_quality": "Low label quality, not flagged",
    "fine": "Label looks fine",
}


def issue_state(*, flagged: bool, given: int, predicted: int, given_prob: float, class_threshold: float,
                n_flagged_in_class: int, given_name: str = "", method: dict | None = None) -> tuple[str, str]:
    """What is known about one example's label: (state, reason).

    state is a key of :data:`ISSUE_STATES`: "flagged" when the detection
    method flags it; "low_quality" when it is not flagged but the model's
    probability of its given label (``given_prob``) is below the confident
    threshold of its class; "fine" otherwise. reason says in words why; for
    "low_quality", why the example was not flagged: the model's top class is
    the given label (confident learning keeps those), or (cleanlab's default
    prune_by_noise_rate) the class had fewer estimated errors than
    low-probability examples and this one's margin was not among the largest.
    method: AuditResult.detection; a non-default method is named in the reason.
    """
    g = given_name or str(given)
    below = not math.isnan(class_threshold) and given_prob < class_threshold
    if flagged:
        return "flagged", "Confident learning counts this example among the likely label errors of its class."
    if not below:
        why = (f"the model's probability of its label, {given_prob:.3f}, is at or above the threshold of class "
               f"{g!r} ({class_threshold:.3f})") if not math.isnan(class_threshold) else f"p = {given_prob:.3f}"
        return "fine", f"Not flagged: {why}."
    low = (f"Not flagged although the model's probability of its label, {given_prob:.3f}, is below the threshold "
           f"of class {g!r} ({class_threshold:.3f})")
    if predicted == given:
        return "low_quality", (f"{low}: the model's top class is still {g!r}, and confident learning never flags "
                               "an example whose prediction agrees with its label.")
    description = (method or {}).get("description", "")
    if method and description and not description.startswith("flagged by prune_by_noise_rate; ranked by self"):
        return "low_quality", f"{low}: the detection method ({description}) did not select it. Worth a look."
    return "low_quality", (
        f"{low}: confident learning flags only as many examples of {g!r} as its estimated noise rate implies "
        f"({n_flagged_in_class:,} here), those with the largest margin over the given label, and this one was not "
        "among them. Worth a look.")


def _notice_small_classes(ctx: RunContext, rows: list[np.ndarray], class_names: list[str]) -> None:
    present = [j for j, r in enumerate(rows) if len(r)]
    if len(present) == 1:
        ctx.notice(
            f"Only class {class_names[present[0]]!r} occurs in the labels: confident learning cannot flag label errors."
        )
        return
    single = [class_names[j] for j, r in enumerate(rows) if len(r) == 1]
    if single:
        shown = ", ".join(repr(name) for name in single[:5]) + (", ..." if len(single) > 5 else "")
        ctx.notice(f"{len(single)} class(es) with a single example ({shown}): their labels cannot be flagged.")


def _overlapping_classes(confident_joint: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    columns = ["class_a", "class_b", "class_a_name", "class_b_name", "n_overlap", "joint_probability"]
    if len(confident_joint) < 2:
        dtypes = [np.int64, np.int64, object, object, np.int64, np.float64]
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in zip(columns, dtypes)})
    from cleanlab.dataset import find_overlapping_classes

    df = find_overlapping_classes(confident_joint=confident_joint)
    a = df["Class Index A"].to_numpy(dtype=np.int64)
    b = df["Class Index B"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "class_a": a,
            "class_b": b,
            "class_a_name": [class_names[i] for i in a],
            "class_b_name": [class_names[i] for i in b],
            "n_overlap": df["Num Overlapping Examples"].to_numpy(dtype=np.int64),
            "joint_probability": df["Joint Probability"].to_numpy(dtype=np.float64),
        }
    )


def _top_corrections(given: np.ndarray, suggested: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    k = len(class_names)
    counts = np.bincount(given * k + suggested, minlength=k * k)
    pairs = np.flatnonzero(counts)
    pairs = pairs[np.lexsort((pairs, -counts[pairs]))]  # count desc, then given, suggested
    g, s = pairs // k, pairs % k
    return pd.DataFrame(
        {
            "given": g.astype(np.int64),
            "suggested": s.astype(np.int64),
            "given_name": [class_names[i] for i in g],
            "suggested_name": [class_names[i] for i in s],
            "count": counts[pairs].astype(np.int64),
        }
    )


def _stage(ctx: RunContext | None, name: str, total: int):
    return ctx.stage(name, total) if ctx is not None else _NoStage()


class _NoStage:
    """Stand-in for a progress stage when no RunContext is given."""

    def __enter__(self) -> "_NoStage":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

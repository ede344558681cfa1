"""Label audit by confident learning: planted flips, edge cases, and the labelerrors release."""

import warnings

import numpy as np
import pytest

from labelaudit.core.audit import run_label_audit
from labelaudit.core.errors import Cancelled, InputError
from labelaudit.core.progress import RunContext
from labelaudit.core.verdicts import load_reviews

EXAMPLE_COLUMNS = [
    "row",
    "given_label",
    "predicted_label",
    "suggested_label",
    "confidence",
    "given_label_prob",
    "label_quality",
    "is_label_issue",
    "class_threshold",
]


def _planted(n=3000, k=4, flip=0.05, seed=0):
    """Well-separated pred_probs for true classes; ``flip`` of the labels moved to another class."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 4.0
    p = np.exp(logits)
    p /= p.sum(1, keepdims=True)
    flipped = rng.random(n) < flip
    labels = true.copy()
    labels[flipped] = (true[flipped] + rng.integers(1, k, flipped.sum())) % k
    return labels, p, true, flipped


def _cleanlab_flags(labels, p):
    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find_label_issues(labels, p, n_jobs=1)


def _load(labelerrors, name):
    p = np.load(labelerrors / name / "pred_probs.npy")
    p = np.clip(p, 0, 1)  # imdb has entries slightly above 1
    p = p / p.sum(1, keepdims=True)
    labels = np.load(labelerrors / name / "labels.npy")
    classes = (labelerrors / name / "classes.txt").read_text().splitlines()
    return labels, p, classes


def test_planted_flips_are_found_with_their_true_class():
    labels, p, true, flipped = _planted()
    result = run_label_audit(labels, p, class_names=["a", "b", "c", "d"])
    ex = result.examples
    assert list(ex.columns) == EXAMPLE_COLUMNS
    assert ex["row"].tolist() == list(range(len(labels)))
    flags = ex["is_label_issue"].to_numpy()
    assert (flags & flipped).sum() >= 0.9 * flipped.sum()  # most planted flips are flagged
    assert (flags & ~flipped).sum() <= 0.02 * (~flipped).sum()  # few clean examples are
    caught = flags & flipped
    assert (ex["suggested_label"].to_numpy()[caught] == true[caught]).mean() >= 0.95
    assert (ex["suggested_label"][~ex["is_label_issue"]] == ex["given_label"][~ex["is_label_issue"]]).all()
    assert np.array_equal(flags, _cleanlab_flags(labels, p))
    assert result.issues_per_class["n_label_issues"].sum() == flags.sum()
    assert result.top_corrections["count"].sum() == flags.sum()
    counts = result.top_corrections["count"].tolist()
    assert counts == sorted(counts, reverse=True)
    assert result.confident_joint.sum() == len(labels)
    assert np.allclose(result.noise_matrix.sum(axis=0), 1.0)


def test_pieces_match_cleanlab(labelerrors):
    from cleanlab.count import (
        compute_confident_joint,
        estimate_py_and_noise_matrices_from_probabilities,
        get_confident_thresholds,
    )
    from cleanlab.dataset import find_overlapping_classes
    from cleanlab.rank import get_label_quality_scores

    labels, p, classes = _load(labelerrors, "cifar10")
    result = run_label_audit(labels, p, class_names=classes)
    ex = result.examples
    assert np.array_equal(result.confident_joint, compute_confident_joint(labels, p))
    _, noise_matrix, _, _ = estimate_py_and_noise_matrices_from_probabilities(labels, p)
    assert np.allclose(result.noise_matrix, noise_matrix)
    assert np.array_equal(ex["label_quality"], get_label_quality_scores(labels, p))
    assert np.array_equal(ex["class_threshold"], get_confident_thresholds(labels, p)[labels])
    overlap = find_overlapping_classes(labels, p)
    assert result.overlapping_classes["n_overlap"].tolist() == overlap["Num Overlapping Examples"].tolist()
    top = result.overlapping_classes.iloc[0]
    assert {top["class_a_name"], top["class_b_name"]} == {"cat", "dog"} and top["n_overlap"] == 73
    first = result.top_corrections.iloc[0]
    assert (first["given_name"], first["suggested_name"], first["count"]) == ("cat", "dog", 40)


@pytest.mark.parametrize(
    "name, n_flagged, n_reviewed, n_validated",
    [("mnist", 15, 15, 7), ("cifar10", 284, 240, 49), ("imdb", 1309, 1307, 725)],
)
def test_labelerrors_flags_equal_cleanlab_and_overlap_mturk(labelerrors, name, n_flagged, n_reviewed, n_validated):
    labels, p, classes = _load(labelerrors, name)
    result = run_label_audit(labels, p, class_names=classes)
    flags = result.examples["is_label_issue"].to_numpy()
    assert flags.sum() == n_flagged  # README: cleanlab 2.9 defaults flag 15 / 284 / 1,309
    assert np.array_equal(flags, _cleanlab_flags(labels, p))
    reviews = load_reviews(labelerrors / name / "mturk.json", n_examples=len(labels), class_names=classes)
    flagged_rows = set(np.flatnonzero(flags))
    assert len(flagged_rows & set(reviews["row"])) == n_reviewed
    assert len(flagged_rows & set(reviews["row"][reviews["is_validated_error"]])) == n_validated


def test_float32_and_tiny_inputs_match_cleanlab():
    rng = np.random.default_rng(7)
    for trial in range(80):
        n, k = int(rng.integers(3, 400)), int(rng.integers(2, 6))
        p = rng.dirichlet(np.ones(k), n)
        if trial % 2:
            p = np.round(p, 1)
            p /= p.sum(1, keepdims=True)  # ties in the margins straddle cleanlab's cut
        if trial % 3 == 0:
            p = p.astype(np.float32)
        labels = rng.integers(0, k, n)
        labels[: k - 1] = np.arange(k - 1)  # at least two classes present, cleanlab rejects fewer
        if trial % 4 == 0:
            labels[labels == k - 1] = 0  # a class with no examples
        flags = run_label_audit(labels, p).examples["is_label_issue"].to_numpy()
        assert np.array_equal(flags, _cleanlab_flags(labels, p)), trial


def test_class_with_no_examples_and_single_class():
    labels, p, _, _ = _planted(n=500, k=4, seed=1)
    labels[labels == 3] = 0
    result = run_label_audit(labels, p)
    per_class = result.issues_per_class.set_index("class")
    assert per_class.loc[3, "n_examples"] == 0 and np.isnan(per_class.loc[3, "issue_rate"])
    assert per_class.loc[3, "threshold"] == 2.0  # nothing can be counted into an absent class
    assert result.examples["is_label_issue"].sum() > 0

    notices = []
    ctx = RunContext(on_notice=notices.append)
    one = run_label_audit(np.full(50, 2), p[:50, :3] / p[:50, :3].sum(1, keepdims=True), ctx=ctx)
    assert not one.examples["is_label_issue"].any()
    assert len(one.examples) == 50 and "cannot flag" in notices[0]

    labels[0] = 3  # class 3 now has one example, which cleanlab never flags
    ctx = RunContext()
    run_label_audit(labels, p, ctx=ctx, class_names=["a", "b", "c", "d"])
    assert ctx.notices == ["1 class(es) with a single example ('d'): their labels cannot be flagged."]


def test_tiny_n_and_one_column():
    one_row = run_label_audit(np.array([1]), np.array([[0.9, 0.1]]))
    assert one_row.examples["suggested_label"].tolist() == [1] and not one_row.examples["is_label_issue"].any()
    single = run_label_audit(np.zeros(3, dtype=int), np.ones((3, 1)))
    assert single.confident_joint.tolist() == [[3]] and single.overlapping_classes.empty
    assert single.top_corrections.empty


def test_progress_and_cancel():
    labels, p, _, _ = _planted(n=300)
    events = []
    run_label_audit(labels, p, ctx=RunContext(on_progress=events.append, min_interval_s=0))
    assert [e.stage for e in events if e.done == e.total][-3:] == [
        "confident joint",
        "finding label issues",
        "summaries",
    ]
    ctx = RunContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        run_label_audit(labels, p, ctx=ctx)


def test_bad_inputs():
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(InputError, match="row 1 has label 5"):
        run_label_audit(np.array([0, 5]), p)
    with pytest.raises(InputError, match="3 labels but pred_probs has 2 rows"):
        run_label_audit(np.array([0, 1, 1]), p)
    with pytest.raises(InputError, match="class names"):
        run_label_audit(np.array([0, 1]), p, class_names=["a"])

"""--filter-by labelerrors-2021 reproduces the candidate sets of "Pervasive Label Errors in Test Sets" (Table 1)."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.audit import run_label_audit
from labelaudit.core.cli import main
from labelaudit.core.detection import DetectionMethod
from labelaudit.core.verdicts import load_reviews


def _load(labelerrors, name):
    p = np.clip(np.load(labelerrors / name / "pred_probs.npy").astype(np.float64), 0, 1)
    p /= p.sum(1, keepdims=True)
    labels = np.load(labelerrors / name / "labels.npy").astype(np.int64)
    return labels, p, (labelerrors / name / "classes.txt").read_text().splitlines()


def _mturk_rows(labelerrors, name, n, classes):
    reviews = load_reviews(labelerrors / name / "mturk.json", n_examples=n, class_names=classes)
    return set(reviews["row"].tolist()), int(reviews["is_validated_error"].sum())


@pytest.mark.parametrize("name, n_paper", [("cifar10", 275), ("imdb", 1310)])
def test_recipe_flags_exactly_the_papers_candidates(labelerrors, tmp_path, capsys, name, n_paper):
    folder = labelerrors / name
    out = tmp_path / "out"
    code = main(["audit", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
                 "--pred-probs", str(folder / "pred_probs.npy"), "--reviews", str(folder / "mturk.json"),
                 "--filter-by", "labelerrors-2021", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    examples = pd.read_parquet(out / "examples.parquet")
    summary = json.loads((out / "summary.json").read_text())
    classes = (folder / "classes.txt").read_text().splitlines()
    candidates, n_validated = _mturk_rows(labelerrors, name, len(examples), classes)
    flagged = set(examples["row"][examples["is_label_issue"]].tolist())
    assert len(flagged) == n_paper == summary["detection"]["n_estimated"]
    assert flagged == candidates
    assert summary["validated_found"] == n_validated  # every validated error is among the flags
    assert summary["detection"]["rank_by"] == "normalized_margin"


def test_cifar100_float16_within_two_of_the_paper(labelerrors):
    from labelaudit.core.pipeline import AuditConfig, run_audit

    folder = labelerrors / "cifar100"
    report = run_audit(AuditConfig(data=str(folder / "labels.npy"), classes=str(folder / "classes.txt"),
                                   pred_probs=str(folder / "pred_probs.npy"), filter_by="labelerrors-2021"))
    flagged = set(np.flatnonzero(report.examples["is_label_issue"]).tolist())
    candidates, _ = _mturk_rows(labelerrors, "cifar100", report.dataset.n, report.class_names)
    assert abs(len(flagged) - 2235) <= 2
    assert flagged <= candidates  # the float16 copy drops borderline candidates, adds none
    # the recipe counts on the stored values, as cleanlab 1.0 did; renormalised rows drop one more
    labels, p, classes = _load(labelerrors, "cifar100")
    renormalised = run_label_audit(labels, p, class_names=classes, method=DetectionMethod("labelerrors-2021"))
    assert len(flagged) == renormalised.examples["is_label_issue"].sum() + 1


def test_mnist_published_set_is_the_100_lowest_margins(labelerrors):
    labels, p, classes = _load(labelerrors, "mnist")
    method = DetectionMethod(rank_by="normalized_margin", num_issues=100)
    flags = run_label_audit(labels, p, class_names=classes, method=method).examples["is_label_issue"]
    candidates, _ = _mturk_rows(labelerrors, "mnist", len(labels), classes)
    assert set(np.flatnonzero(flags).tolist()) == candidates


def test_uncalibrated_joint_is_cleanlabs(labelerrors):
    """The recipe's count comes from cleanlab's confident joint without calibration (no diagonal is 0 here)."""
    from cleanlab.count import compute_confident_joint

    labels, p, classes = _load(labelerrors, "cifar10")
    raw = compute_confident_joint(labels, p, calibrate=False)
    result = run_label_audit(labels, p, class_names=classes, method=DetectionMethod("labelerrors-2021"))
    assert result.detection["n_estimated"] == int(len(labels) * (1 - raw.trace() / raw.sum()))


def _cleanlab_1_0_candidates(s, psx):
    """The paper's candidates as cleanlab v1.0 made them (latent_estimation.compute_confident_joint with
    calibrate=False, then the lowest normalized margins), ported line by line from the v1.0 tag."""
    from sklearn.metrics import confusion_matrix

    n, k = psx.shape
    thresholds = np.asarray([np.mean(psx[:, j][s == j]) for j in range(k)])
    psx_bool = psx >= thresholds - 1e-6
    num_confident_bins = psx_bool.sum(axis=1)
    at_least_one_confident = num_confident_bins > 0
    guess = np.where(num_confident_bins > 1, psx.argmax(axis=1), psx_bool.argmax(axis=1))
    joint = confusion_matrix(guess[at_least_one_confident], s[at_least_one_confident]).T
    count = int(n * (1 - joint.trace() / joint.sum()))
    others = psx.copy()
    others[np.arange(n), s] = -np.inf
    margin = psx[np.arange(n), s] - others.max(axis=1)
    return set(np.argsort(margin, kind="stable")[:count].tolist()), joint


def test_recipe_equals_cleanlab_1_0_on_a_set_it_never_saw(tmp_path, capsys):
    """An unseen set of many classes (as ImageNet or Caltech-256 would be), float32 like the released files,
    with classes whose every example is mislabelled (0s on the joint's diagonal, which cleanlab 2 clips to 1
    and cleanlab 1.0 did not, changing the count): the flags are cleanlab 1.0's, example for example."""
    rng = np.random.default_rng(11)
    n, k = 6000, 200
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += rng.uniform(0.5, 6, n)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    given = true.copy()
    flip = rng.random(n) < 0.08
    given[flip] = rng.integers(0, k, flip.sum())
    gone = np.arange(7, 27)  # classes 7-26 lose all their examples to 107-126 and keep the few flipped into
    given[np.isin(true, gone)] = true[np.isin(true, gone)] + 100  # them, which the model knows well: none given them is guessed them
    spare = rng.permutation(np.flatnonzero(~np.isin(true, gone) & ~np.isin(given, gone)))[: 3 * len(gone)]
    given[spare] = np.repeat(gone, 3)  # at least 3 in each
    into = np.flatnonzero(np.isin(given, gone))
    logits[into, true[into]] += 8
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    np.save(tmp_path / "labels.npy", given.astype(np.uint16))
    np.save(tmp_path / "pred_probs.npy", p)
    expected, joint = _cleanlab_1_0_candidates(given, p)
    clipped = joint.copy()  # cleanlab 2's joint: the diagonal at least 1
    np.fill_diagonal(clipped, clipped.diagonal().clip(min=1))
    assert (np.diag(joint) == 0).sum() == 20 and len(expected) != int(n * (1 - clipped.trace() / clipped.sum()))
    out = tmp_path / "out"
    assert main(["audit", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "pred_probs.npy"),
                 "--filter-by", "labelerrors-2021", "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    examples = pd.read_parquet(out / "examples.parquet")
    assert set(examples["row"][examples["is_label_issue"]].tolist()) == expected
    assert json.loads((out / "summary.json").read_text())["detection"]["n_estimated"] == len(expected)

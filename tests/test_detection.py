"""The detection method: cleanlab's filter_by / rank_by / num_issues / frac_noise through the audit, CLI and project."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.audit import run_label_audit
from labelaudit.core.cli import main
from labelaudit.core.detection import CLEANLAB_FILTERS, RANK_BY, DetectionMethod
from labelaudit.core.errors import InputError
from labelaudit.core.pipeline import AuditConfig, run_audit
from labelaudit.core.project import Project
from labelaudit.core.review_session import review_order


def _load(labelerrors, name):
    p = np.clip(np.load(labelerrors / name / "pred_probs.npy").astype(np.float64), 0, 1)
    p /= p.sum(1, keepdims=True)
    labels = np.load(labelerrors / name / "labels.npy").astype(np.int64)
    return labels, p, (labelerrors / name / "classes.txt").read_text().splitlines()


def _audit_args(folder, out, *extra):
    return ["audit", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
            "--pred-probs", str(folder / "pred_probs.npy"), "--out", str(out), "--quiet", *extra]


@pytest.mark.parametrize("filter_by, frac_noise", [(f, 1.0) for f in CLEANLAB_FILTERS]
                         + [("prune_by_noise_rate", 0.5), ("both", 0.3)])
def test_each_filter_equals_cleanlab(labelerrors, filter_by, frac_noise):
    from cleanlab.filter import find_label_issues

    labels, p, classes = _load(labelerrors, "cifar10")
    method = DetectionMethod(filter_by=filter_by, frac_noise=frac_noise)
    flags = run_label_audit(labels, p, class_names=classes, method=method).examples["is_label_issue"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = find_label_issues(labels, p, filter_by=filter_by, frac_noise=frac_noise, n_jobs=1)
    assert np.array_equal(flags, expected)
    assert flags.any()


@pytest.mark.parametrize("rank_by", RANK_BY)
def test_rank_by_sets_label_quality_and_the_worst_first_order(labelerrors, rank_by):
    from cleanlab.rank import get_label_quality_scores

    labels, p, classes = _load(labelerrors, "cifar10")
    result = run_label_audit(labels, p, class_names=classes, method=DetectionMethod(rank_by=rank_by))
    ex = result.examples
    scores = get_label_quality_scores(labels, p, method=rank_by)
    assert np.allclose(ex["label_quality"], scores)
    queue = review_order(ex)
    flagged = np.flatnonzero(ex["is_label_issue"])
    assert queue == [int(r) for r in flagged[np.argsort(scores[flagged], kind="stable")]]
    assert result.detection["rank_by"] == rank_by


def test_num_issues_flags_exactly_the_n_lowest(labelerrors):
    from cleanlab.rank import get_normalized_margin_for_each_label

    labels, p, classes = _load(labelerrors, "cifar10")
    method = DetectionMethod(rank_by="normalized_margin", num_issues=37)
    flags = run_label_audit(labels, p, class_names=classes, method=method).examples["is_label_issue"].to_numpy()
    margin = get_normalized_margin_for_each_label(labels, p)
    assert flags.sum() == 37
    assert margin[flags].max() <= margin[~flags].min()
    none = run_label_audit(labels, p, method=DetectionMethod(num_issues=0)).examples["is_label_issue"]
    assert not none.any()


@pytest.mark.parametrize("extra, words", [
    (["--filter-by", "confident_learning", "--frac-noise", "0.5"], "--frac-noise applies to"),
    (["--filter-by", "both", "--num-issues", "10"], "--num-issues"),
    (["--num-issues", "10001"], "more than the 10,000 examples"),
])
def test_bad_detection_options_exit_2_with_one_line(labelerrors, tmp_path, capsys, extra, words):
    code = main(_audit_args(labelerrors / "cifar10", tmp_path / "out", *extra))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_cli_records_the_method_and_sorts_by_it(labelerrors, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(_audit_args(labelerrors / "cifar10", out, "--filter-by", "low_self_confidence",
                            "--rank-by", "confidence_weighted_entropy"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "summary.json").read_text())
    det = summary["detection"]
    assert (det["filter_by"], det["rank_by"], det["num_issues"], det["frac_noise"]) == (
        "low_self_confidence", "confidence_weighted_entropy", None, 1.0)
    assert "low_self_confidence" in det["description"] and det["description"] in captured.out
    examples = pd.read_parquet(out / "examples.parquet")
    flagged = pd.read_csv(out / "flagged.csv")
    assert summary["n_label_issues"] == len(flagged) == int(examples["is_label_issue"].sum())
    assert flagged["label_quality"].is_monotonic_increasing


def test_default_summary_names_cleanlab_defaults(labelerrors):
    labels, p, classes = _load(labelerrors, "mnist")
    det = run_label_audit(labels, p, class_names=classes).detection
    assert (det["filter_by"], det["rank_by"], det["num_issues"], det["frac_noise"]) == (
        "prune_by_noise_rate", "self_confidence", None, 1.0)


def test_project_keeps_the_method(labelerrors, tmp_path):
    folder = labelerrors / "cifar10"
    config = AuditConfig(data=str(folder / "labels.npy"), classes=str(folder / "classes.txt"),
                         pred_probs=str(folder / "pred_probs.npy"), filter_by="labelerrors-2021")
    report = run_audit(config)
    path = tmp_path / "a.labelaudit"
    Project.create_from_report(path, report).close()
    with Project.open(path) as project:
        assert project.config["filter_by"] == "labelerrors-2021"
        again = project.load_report()
    assert again.audit.detection["filter_by"] == "labelerrors-2021"
    assert np.array_equal(again.audit.examples["is_label_issue"], report.examples["is_label_issue"])
    assert again.summary["detection"]["n_estimated"] == report.summary["n_label_issues"]


def test_method_from_an_old_config_is_the_default():
    method = DetectionMethod.from_config(AuditConfig.from_dict({"data": "x.csv"}))
    assert method.is_default and method.rank == "self_confidence"
    with pytest.raises(InputError, match="--rank-by"):
        DetectionMethod(rank_by="margin")

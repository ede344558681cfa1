"""Several labels per example: 'a|b' strings, JSON lists, 0/1 columns; cleanlab multi-label flags; per-class calibration."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.calibration import calibration_metrics
from labelaudit.core.cli import main

CLASSES = ["news", "sports", "tech", "weather"]


@pytest.fixture
def planted(tmp_path):
    """300 examples with true label sets, per-class probabilities near the truth, 20 corrupted label sets."""
    rng = np.random.default_rng(5)
    n, k = 300, len(CLASSES)
    true = rng.random((n, k)) < 0.35
    true[np.arange(n), rng.integers(0, k, n)] = True  # at least one label each
    logits = np.where(true, 3.0, -3.0) + rng.normal(0, 1.0, (n, k))
    probs = 1 / (1 + np.exp(-logits))
    given = true.copy()
    corrupted = rng.choice(n, 20, replace=False)
    for i in corrupted:  # drop a true class or add a false one
        c = rng.integers(0, k)
        given[i, c] = not given[i, c]
    names = [[CLASSES[c] for c in np.flatnonzero(r)] for r in given]
    text = [f"story {i}" for i in range(n)]
    pd.DataFrame({"id": range(n), "text": text, "labels": ["|".join(x) for x in names]}).to_csv(
        tmp_path / "pipes.csv", index=False)
    pd.DataFrame({"id": range(n), "text": text, "labels": [json.dumps(x) for x in names]}).to_csv(
        tmp_path / "json.csv", index=False)
    onehot = pd.DataFrame(given.astype(int), columns=CLASSES)
    onehot.insert(0, "text", text)
    onehot.insert(0, "id", range(n))
    onehot.to_csv(tmp_path / "onehot.csv", index=False)
    np.save(tmp_path / "probs.npy", probs)
    np.save(tmp_path / "logits.npy", logits)
    return {"dir": tmp_path, "given": given, "true": true, "probs": probs, "corrupted": set(corrupted.tolist())}


def _audit(capsys, d, data, out, *extra):
    code = main(["audit", str(d / data), "--multi-label", "--pred-probs", str(d / "probs.npy"), "--out",
                 str(d / out), "--quiet", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pipes_json_and_onehot_give_the_same_flags(planted, capsys):
    from cleanlab.multilabel_classification.filter import find_label_issues

    d = planted["dir"]
    flags = {}
    for data in ("pipes.csv", "json.csv", "onehot.csv"):
        code, out, err = _audit(capsys, d, data, data + "_out")
        assert code == 0, err
        ex = pd.read_parquet(d / (data + "_out") / "examples.parquet")
        flags[data] = ex["is_label_issue"].to_numpy()
    assert np.array_equal(flags["pipes.csv"], flags["json.csv"]) and np.array_equal(flags["pipes.csv"], flags["onehot.csv"])
    given_sets = [np.flatnonzero(r).tolist() for r in planted["given"]]
    assert np.array_equal(flags["pipes.csv"], find_label_issues(given_sets, planted["probs"], n_jobs=1))
    found = set(np.flatnonzero(flags["pipes.csv"]).tolist())
    assert len(found & planted["corrupted"]) >= 0.8 * len(planted["corrupted"])
    assert "multi-label" in out and "per-class ECE" in out


def test_outputs_per_class_calibration_and_suggested_sets(planted, capsys):
    d = planted["dir"]
    assert _audit(capsys, d, "pipes.csv", "out")[0] == 0
    summary = json.loads((d / "out" / "summary.json").read_text())
    ex = pd.read_parquet(d / "out" / "examples.parquet")
    flagged = pd.read_csv(d / "out" / "flagged.csv", keep_default_na=False)
    assert summary["multi_label"] is True and summary["n_classes"] == 4 and summary["class_names"] == CLASSES
    assert summary["n_label_issues"] == len(flagged) == int(ex["is_label_issue"].sum())
    assert flagged["label_quality"].is_monotonic_increasing
    probs, given = planted["probs"], planted["given"]
    per_class = {c["class_name"]: c for c in summary["calibration_per_class"]}
    for k, name in enumerate(CLASSES):
        expected = calibration_metrics(np.column_stack([1 - probs[:, k], probs[:, k]]), given[:, k].astype(int))
        assert per_class[name]["ece"] == pytest.approx(expected["ece"])
        assert per_class[name]["n_positive"] == int(given[:, k].sum())
    assert summary["calibration"]["ece"] == pytest.approx(np.mean([c["ece"] for c in per_class.values()]))
    predicted = ["|".join(CLASSES[c] for c in np.flatnonzero(r >= 0.5)) for r in probs]
    assert ex["predicted_labels"].tolist() == predicted
    f = ex["is_label_issue"].to_numpy()
    assert (ex["suggested_labels"][f] == ex["predicted_labels"][f]).all()
    assert (ex["suggested_labels"][~f] == ex["given_labels"][~f]).all()
    assert summary["accuracy"] == pytest.approx(np.mean([(given[i] == (probs[i] >= 0.5)).all() for i in range(300)]))


def test_logits_num_issues_and_rank_by(planted, capsys):
    d = planted["dir"]
    code, _, err = _audit(capsys, d, "pipes.csv", "out", "--num-issues", "7", "--rank-by", "normalized_margin")
    assert code == 0, err
    ex = pd.read_parquet(d / "out" / "examples.parquet")
    assert ex["is_label_issue"].sum() == 7
    assert ex["label_quality"][ex["is_label_issue"]].max() <= ex["label_quality"][~ex["is_label_issue"]].min()
    code = main(["audit", str(d / "pipes.csv"), "--multi-label", "--logits", str(d / "logits.npy"),
                 "--out", str(d / "lg"), "--quiet"])
    assert code == 0
    assert np.allclose(np.load(d / "lg" / "pred_probs.npy"), planted["probs"])


@pytest.mark.parametrize("make, extra, words", [
    (lambda d: pd.DataFrame({"text": ["a", "b"], "labels": ["news|opera", "news"]}).to_csv(d / "bad.csv", index=False),
     ["--classes", "classes.txt"], "row 0: label 'opera'"),
    (lambda d: pd.DataFrame({"text": ["a", "b"], "labels": ['["news"', "news"]}).to_csv(d / "bad.csv", index=False),
     [], "row 0: column 'labels'"),
    (lambda d: pd.DataFrame({"text": ["a", "b"], "labels": ["news", "tech"]}).to_csv(d / "bad.csv", index=False),
     ["--filter-by", "labelerrors-2021"], "single-label recipe"),
])
def test_bad_multilabel_input_exits_2(planted, capsys, make, extra, words):
    d = planted["dir"]
    (d / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    make(d)
    np.save(d / "p2.npy", np.full((2, 4), 0.5))
    code = main(["audit", str(d / "bad.csv"), "--multi-label", "--pred-probs", str(d / "p2.npy"), "--out",
                 str(d / "o"), "--quiet", *[str(d / e) if e.endswith(".txt") else e for e in extra]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1


def test_multilabel_needs_per_class_probabilities(planted, capsys):
    d = planted["dir"]
    np.save(d / "wide.npy", np.full((300, 3), 0.5))
    code = main(["audit", str(d / "pipes.csv"), "--multi-label", "--pred-probs", str(d / "wide.npy"),
                 "--out", str(d / "o"), "--quiet"])
    assert code == 2 and "shape (300, 3)" in capsys.readouterr().err
    code = main(["audit", str(d / "pipes.csv"), "--multi-label", "--out", str(d / "o"), "--quiet"])
    assert code == 2 and "--multi-label needs --pred-probs" in capsys.readouterr().err


def test_review_toggles_classes_survives_reopening_and_writes_the_cleanset(planted, tmp_path):
    from labelaudit.core.multilabel import MultiLabelReview, run_multilabel_audit
    from labelaudit.core.pipeline import AuditConfig

    d = planted["dir"]
    report = run_multilabel_audit(AuditConfig(data=str(d / "pipes.csv"), pred_probs=str(d / "probs.npy"),
                                              multi_label=True))
    review = MultiLabelReview(tmp_path / "decisions.jsonl", report)
    ex = report.examples.set_index("row")
    assert review.queue == ex[ex["is_label_issue"]].sort_values("label_quality", kind="stable").index.tolist()
    first, second, third = review.queue[:3]
    given = [g for g in ex.loc[first, "given_labels"].split("|") if g]
    review.toggle(first, 0)  # news flips
    review.toggle(first, 3)  # weather flips
    review.toggle(first, 3)  # and back
    review.accept(second)
    review.keep(third)
    with pytest.raises(Exception, match="class 9 does not exist"):
        review.toggle(first, 8)

    again = MultiLabelReview(tmp_path / "decisions.jsonl", report)  # read back from disk
    expected_first = sorted((set(given) ^ {"news"}), key=CLASSES.index)
    assert [CLASSES[c] for c in again.current(first)] == expected_first
    clean = again.cleanset()
    assert clean.loc[first, "corrected_labels"] == "|".join(expected_first)
    assert clean.loc[second, "corrected_labels"] == ex.loc[second, "suggested_labels"]
    assert clean.loc[third, "corrected_labels"] == ex.loc[third, "given_labels"]
    assert (clean.loc[first, "decision"], clean.loc[second, "decision"], clean.loc[third, "decision"]) == (
        "edit", "accept", "keep")
    untouched = [r for r in range(300) if r not in (first, second, third)]
    assert (clean.loc[untouched, "corrected_labels"] == clean.loc[untouched, "given_labels"]).all()
    assert clean.loc[untouched, "decision"].isna().all()

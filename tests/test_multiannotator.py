"""Several annotators per example: long and wide tables, labelerrors vote counts, CROWDLAB consensus."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main
from labelaudit.core.multiannotator import annotator_rows
from labelaudit.core.verdicts import load_reviews

CLASSES = ["bird", "cat", "dog"]
ACCURACY = {"ann": 0.95, "ben": 0.9, "cat_lover": 0.55, "dan": 0.4}


@pytest.fixture
def annotated(tmp_path):
    """A long table of four annotators of planted accuracy, its wide form, model probabilities, class names."""
    rng = np.random.default_rng(3)
    n = 200
    true = rng.integers(0, 3, n)
    rows = []
    for i in range(n):
        for name, acc in ACCURACY.items():
            if name == "ann" or rng.random() < 0.75:
                label = true[i] if rng.random() < acc else (true[i] + rng.integers(1, 3)) % 3
                rows.append((f"ex{i:03d}", name, CLASSES[label], f"text number {i}"))
    long = pd.DataFrame(rows, columns=["id", "annotator", "label", "text"])
    long.to_csv(tmp_path / "long.csv", index=False)
    wide = long.pivot(index="id", columns="annotator", values="label").reset_index()
    wide.insert(1, "text", [f"text number {int(i[2:])}" for i in wide["id"]])
    wide.to_csv(tmp_path / "wide.csv", index=False)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), true] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.save(tmp_path / "probs.npy", probs)
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return {"dir": tmp_path, "true": true, "n": n}


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _audit(d, data, out, *extra):
    return ["audit", str(d / data), "--pred-probs", str(d / "probs.npy"), "--classes", str(d / "classes.txt"),
            "--out", str(out), "--quiet", *extra]


def test_long_table_consensus_and_annotator_ranking(annotated, capsys):
    d = annotated["dir"]
    code, out, err = _run(_audit(d, "long.csv", d / "out"), capsys)
    assert code == 0, err
    assert "annotator column" in err and "--annotators long" in err  # found without the option, and said so
    summary = json.loads((d / "out" / "summary.json").read_text())
    ann = summary["annotators"]
    assert ann["kind"] == "long" and ann["n_annotators"] == 4
    ranked = [a["annotator"] for a in ann["annotators"]]
    assert set(ranked[:2]) == {"ann", "ben"} and ranked[-1] == "dan"
    assert {a["annotator"]: a["n_labels"] for a in ann["annotators"]}["ann"] == annotated["n"]
    ex = pd.read_parquet(d / "out" / "examples.parquet")
    assert len(ex) == annotated["n"] and ex["id"].tolist()[:2] == ["ex000", "ex001"]
    true = annotated["true"]
    assert (ex["consensus_label"].to_numpy() == true).mean() >= 0.9
    assert (ex["consensus_label"].to_numpy() == true).mean() > (ex["given_label"].to_numpy() == true).mean()
    assert ex["consensus_quality"].between(0, 1).all() and ex["n_annotations"].min() >= 1
    long = pd.read_csv(d / "long.csv")
    first = long[long["id"] == "ex000"]
    assert ex["annotator_labels"][0] == "; ".join(f"{a}={lab}" for a, lab in sorted(zip(first["annotator"], first["label"])))
    assert len(annotator_rows(ex, "ann")) == annotated["n"]
    assert set(annotator_rows(ex, "dan")) == {int(i[2:]) for i in long["id"][long["annotator"] == "dan"]}
    assert "CROWDLAB consensus differs" in out


def test_wide_table_gives_the_same_consensus(annotated, capsys):
    d = annotated["dir"]
    assert _run(_audit(d, "long.csv", d / "long_out", "--annotators", "long"), capsys)[0] == 0
    code, _, err = _run(_audit(d, "wide.csv", d / "wide_out", "--annotators", "wide"), capsys)
    assert code == 0, err
    long = pd.read_parquet(d / "long_out" / "examples.parquet")
    wide = pd.read_parquet(d / "wide_out" / "examples.parquet")
    assert wide["id"].tolist() == long["id"].tolist()
    assert np.array_equal(wide["consensus_label"], long["consensus_label"])
    assert np.allclose(wide["consensus_quality"], long["consensus_quality"])


def test_labelerrors_vote_counts_as_annotators(labelerrors, tmp_path, capsys):
    folder = labelerrors / "cifar10"
    out = tmp_path / "out"
    code, _, err = _run(["audit", str(folder / "labels.npy"), "--classes", str(folder / "classes.txt"),
                         "--pred-probs", str(folder / "pred_probs.npy"), "--reviews", str(folder / "mturk.json"),
                         "--annotators", "votes", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    ann = json.loads((out / "summary.json").read_text())["annotators"]
    assert ann["kind"] == "votes" and {a["annotator"] for a in ann["annotators"]} >= {"given", "mturk_1"}
    ex = pd.read_parquet(out / "examples.parquet").set_index("row")
    classes = (folder / "classes.txt").read_text().splitlines()
    reviews = load_reviews(folder / "mturk.json", n_examples=len(ex), class_names=classes)
    unreviewed = ~ex.index.isin(reviews["row"])
    assert (ex["consensus_label"][unreviewed] == ex["given_label"][unreviewed]).all()
    decided = reviews[reviews["corrected_label"] >= 0]
    agree = ex.loc[decided["row"], "consensus_label"].to_numpy() == decided["corrected_label"].to_numpy()
    assert agree.mean() >= 0.9  # the workers' majority mostly becomes the consensus
    assert ex.loc[decided["row"], "n_annotations"].min() >= 4


@pytest.mark.parametrize("make, extra, words", [
    (lambda d: pd.concat([pd.read_csv(d / "long.csv")] * 2).to_csv(d / "bad.csv", index=False), ["--annotators", "long"],
     "labels id"),
    (lambda d: pd.read_csv(d / "long.csv").drop(columns=["id"]).to_csv(d / "bad.csv", index=False),
     ["--annotators", "long"], "needs an id column"),
    (lambda d: pd.read_csv(d / "wide.csv")[["id", "text", "ann"]].to_csv(d / "bad.csv", index=False),
     ["--annotators", "wide"], "at least two annotator columns"),
    (lambda d: pd.read_csv(d / "long.csv").replace({"annotator": {"dan": "dan=x"}}).to_csv(d / "bad.csv", index=False),
     ["--annotators", "long"], "annotator name 'dan=x'"),
])
def test_bad_annotation_tables_exit_2_naming_the_file(annotated, capsys, make, extra, words):
    d = annotated["dir"]
    make(d)
    code, _, err = _run(_audit(d, "bad.csv", d / "out", *extra), capsys)
    assert code == 2 and words in err and "bad.csv" in err and len(err.strip().splitlines()) == 1


def test_votes_need_a_reviews_file(labelerrors, tmp_path, capsys):
    folder = labelerrors / "mnist"
    code, _, err = _run(["audit", str(folder / "labels.npy"), "--pred-probs", str(folder / "pred_probs.npy"),
                         "--annotators", "votes", "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "--annotators votes needs --reviews" in err


def test_cleanset_can_use_the_consensus(annotated, capsys):
    from labelaudit.core.pipeline import AuditConfig, run_audit
    from labelaudit.core.project import Project

    d = annotated["dir"]
    config = AuditConfig(data=str(d / "long.csv"), pred_probs=str(d / "probs.npy"), classes=str(d / "classes.txt"),
                         annotators="long")
    report = run_audit(config)
    path = d / "p.labelaudit"
    with Project.create_from_report(path, report) as project:
        project.decide(0, "exclude")
    assert _run(["export", str(path), "--cleanset", str(d / "clean.csv"), "--use-consensus"], capsys)[0] == 0
    clean = pd.read_csv(d / "clean.csv")
    consensus = np.asarray(CLASSES, dtype=object)[report.examples["consensus_label"].to_numpy()]
    assert pd.isna(clean["corrected_label"][0])
    assert clean["corrected_label"][1:].tolist() == consensus[1:].tolist()
    assert (clean["corrected_label"][1:] != clean["given_label"][1:]).any()


def test_use_consensus_without_annotators_exits_2(labelerrors, tmp_path, capsys):
    from labelaudit.core.pipeline import AuditConfig, run_audit
    from labelaudit.core.project import Project

    folder = labelerrors / "mnist"
    report = run_audit(AuditConfig(data=str(folder / "labels.npy"), pred_probs=str(folder / "pred_probs.npy")))
    Project.create_from_report(tmp_path / "p.labelaudit", report).close()
    code, _, err = _run(["export", str(tmp_path / "p.labelaudit"), "--cleanset", str(tmp_path / "c.csv"),
                         "--use-consensus"], capsys)
    assert code == 2 and "no consensus labels" in err


def test_project_reopens_with_its_consensus_when_the_table_is_gone(annotated):
    from labelaudit.core.pipeline import AuditConfig, run_audit
    from labelaudit.core.project import Project

    d = annotated["dir"]
    config = AuditConfig(data=str(d / "long.csv"), pred_probs=str(d / "probs.npy"), classes=str(d / "classes.txt"),
                         annotators="long")
    report = run_audit(config)
    Project.create_from_report(d / "p.labelaudit", report).close()
    with Project.open(d / "p.labelaudit") as project:
        again = project.load_report()  # the table is there: consensus recomputed, the same
        assert np.array_equal(again.examples["consensus_label"], report.examples["consensus_label"])
    (d / "long.csv").unlink()
    with Project.open(d / "p.labelaudit") as project:
        stored = project.load_report()  # the table is gone: the stored copy and its consensus
    assert any("missing" in n for n in stored.notices)
    assert np.array_equal(stored.examples["consensus_label"], report.examples["consensus_label"])
    assert stored.summary["annotators"]["annotators"] == report.summary["annotators"]["annotators"]

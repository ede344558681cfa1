"""Benchmark review (core.model_comparison) on the real CIFAR-10 test set and its human validation."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.model_comparison import COLUMNS, run_benchmark
from labelaudit.core.errors import InputError


def _normalise(p):
    return p / p.sum(axis=1, keepdims=True)


def _independent_corrected(mturk_path, given):
    """The paper's rule straight from mturk.json: >= 3 of 5 guessed relabels, >= 3 given keeps, else drop."""
    corrected = given.copy()
    for entry in json.loads(mturk_path.read_text()):
        votes = entry["mturk"]
        row = int(entry["id"])
        if votes["guessed"] >= 3:
            corrected[row] = entry["our_guessed_label"]
        elif votes["given"] >= 3:
            corrected[row] = entry["given_original_label"]
        else:
            corrected[row] = -1
    return corrected


def _ece15(p, y):
    conf, correct = p.max(axis=1), p.argmax(axis=1) == y
    total = 0.0
    for lo, hi in zip(np.linspace(0, 1, 16)[:-1], np.linspace(0, 1, 16)[1:]):
        inside = (conf > lo) & (conf <= hi) if lo > 0 else (conf <= hi)
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - conf[inside].mean())
    return total / len(y)


@pytest.fixture(scope="module")
def cifar_models(labelerrors, tmp_path_factory):
    """Four 'models' derived from the released CIFAR-10 probabilities, saved as .npy files."""
    folder = labelerrors / "cifar10"
    p = _normalise(np.load(folder / "pred_probs.npy"))
    given = np.load(folder / "labels.npy").astype(np.int64)
    reviewed = np.array([int(e["id"]) for e in json.loads((folder / "mturk.json").read_text())])
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("models")

    # A model that memorised the test labels where the reviewers looked (all 275 rows, where the released
    # model disagrees with the given label) and is 240 rows worse elsewhere: +35 rows on the original
    # labels; on the corrected ones its memorised rows gain only 221 - 18 = 203, so it ends 37 rows behind.
    memoriser = p.copy()
    memoriser[reviewed] = np.eye(10)[given[reviewed]] * 0.9 + 0.01
    others = np.setdiff1d(np.flatnonzero(p.argmax(axis=1) == given), reviewed)
    swap = rng.choice(others, 240, replace=False)
    memoriser[swap] = memoriser[swap][:, ::-1]  # its top class moves elsewhere
    models = {
        "released": p,
        "overconfident": _normalise(p**3),
        "mixed-uniform": 0.7 * p + 0.03,
        "memoriser": _normalise(memoriser),
    }
    paths = {}
    for name, arr in models.items():
        paths[name] = str(out / f"{name}.npy")
        np.save(paths[name], arr)
    return folder, given, models, paths


def test_numbers_match_an_independent_computation(cifar_models, tmp_path):
    folder, given, models, paths = cifar_models
    table = run_benchmark(folder / "labels.npy", paths, classes=folder / "classes.txt",
                          reviews=folder / "mturk.json", out=tmp_path)
    assert list(table.columns) == COLUMNS
    corrected = _independent_corrected(folder / "mturk.json", given)
    kept = corrected >= 0
    assert kept.sum() == 10000 - 36 and (corrected[kept] != given[kept]).sum() == 18
    by_name = table.set_index("model")
    for name, p in models.items():
        row = by_name.loc[name]
        assert row["accuracy_original"] == pytest.approx((p.argmax(1) == given).mean(), abs=1e-12)
        assert row["accuracy_corrected"] == pytest.approx((p[kept].argmax(1) == corrected[kept]).mean(), abs=1e-12)
        assert row["ece_original"] == pytest.approx(_ece15(p, given), abs=1e-9)
        assert row["ece_corrected"] == pytest.approx(_ece15(p[kept], corrected[kept]), abs=1e-9)
        assert row["n_original"] == 10000 and row["n_corrected"] == 9964
    # the released model's known numbers
    assert by_name.loc["released", "accuracy_original"] == pytest.approx(0.9294)
    # sharpening and mixing keep the argmax: same accuracy, so the same rank, but worse or better ECE
    assert by_name.loc["overconfident", "rank_original"] == by_name.loc["released", "rank_original"]
    assert by_name.loc["overconfident", "ece_original"] > by_name.loc["released", "ece_original"]


def test_ranking_changes_on_corrected_labels(cifar_models, tmp_path):
    """The paper's finding: a model fitted to the noisy labels wins on the original test set and loses on the corrected one."""
    folder, _, _, paths = cifar_models
    table = run_benchmark(folder / "labels.npy", paths, classes=folder / "classes.txt",
                          reviews=folder / "mturk.json", out=tmp_path).set_index("model")
    assert table.loc["memoriser", "rank_original"] == 1
    assert table.loc["memoriser", "rank_corrected"] > table.loc["released", "rank_corrected"]
    assert table.loc["memoriser", "rank_change"] < 0 and table.loc["released", "rank_change"] > 0
    assert (table["rank_change"] == table["rank_original"] - table["rank_corrected"]).all()


def test_files(cifar_models, tmp_path):
    folder, _, _, paths = cifar_models
    table = run_benchmark(folder / "labels.npy", paths, classes=folder / "classes.txt",
                          reviews=folder / "mturk.json", out=tmp_path / "bench")
    csv = pd.read_csv(tmp_path / "bench" / "benchmark.csv")
    assert list(csv["model"]) == list(table["model"])
    np.testing.assert_allclose(csv["accuracy_corrected"], table["accuracy_corrected"])
    doc = json.loads((tmp_path / "bench" / "benchmark.json").read_text())
    assert doc["n_examples"] == 10000 and doc["n_corrected_rows"] == 9964
    assert doc["corrections"]["n_reviewed"] == 275
    assert doc["corrections"]["n_relabelled"] == 18 and doc["corrections"]["n_dropped"] == 36
    assert [m["model"] for m in doc["models"]] == list(table["model"])
    assert "15 equal-width" in doc["conventions"]["ece"]


def test_project_decisions_as_corrections(labelerrors, tmp_path, cifar_models):
    """Corrections from a project's review: imported mturk votes give the same table as the votes file."""
    from labelaudit.core.data import load_dataset
    from labelaudit.core.pipeline import AuditConfig, audit_arrays
    from labelaudit.core.project import Project

    folder, given, models, paths = cifar_models
    dataset = load_dataset(folder / "labels.npy", classes=folder / "classes.txt")
    report = audit_arrays(dataset, models["released"], config=AuditConfig(data=str(folder / "labels.npy"),
                                                                          classes=str(folder / "classes.txt"),
                                                                          pred_probs=paths["released"]))
    project_path = tmp_path / "cifar.labelaudit"
    with Project.create_from_report(project_path, report) as project:
        project.import_reviews(folder / "mturk.json")
    from_project = run_benchmark(folder / "labels.npy", paths, classes=folder / "classes.txt",
                                 project=project_path, out=tmp_path / "p")
    from_votes = run_benchmark(folder / "labels.npy", paths, classes=folder / "classes.txt",
                               reviews=folder / "mturk.json")
    pd.testing.assert_frame_equal(from_project, from_votes)

    with Project.open(project_path) as project:
        project.decide(0, "exclude", reviewer="alice")
        project.decide(1, "relabel", label=(given[1] + 1) % 10, reviewer="alice")
    table = run_benchmark(folder / "labels.npy", {"released": paths["released"]}, classes=folder / "classes.txt",
                          project=project_path)
    assert table.loc[0, "n_corrected"] == 9963
    doc = json.loads((tmp_path / "p" / "benchmark.json").read_text())
    assert doc["corrections"]["source"] == "project"


def test_bad_input(cifar_models, tmp_path):
    folder, _, _, paths = cifar_models
    labels, classes = folder / "labels.npy", folder / "classes.txt"
    with pytest.raises(InputError, match="exactly one of --reviews FILE or --project FILE"):
        run_benchmark(labels, paths, classes=classes, out=tmp_path)
    with pytest.raises(InputError, match="at least one model"):
        run_benchmark(labels, {}, classes=classes, reviews=folder / "mturk.json")
    short = tmp_path / "short.npy"
    np.save(short, np.full((10, 10), 0.1))
    with pytest.raises(InputError, match="short.npy"):
        run_benchmark(labels, {"short": str(short)}, classes=classes, reviews=folder / "mturk.json")
    with pytest.raises(InputError, match="mturk.json"):  # MNIST's votes: their given labels are not CIFAR-10's
        run_benchmark(labels, paths, classes=classes, reviews=folder.parent / "mnist" / "mturk.json")

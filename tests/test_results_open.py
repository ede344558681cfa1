"""A results folder (``labelaudit audit --out DIR``) opens as the run it holds: the same flags, label
quality and numbers; a bad folder is one line naming the file."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from labelaudit.core import audit_stream, cli
from labelaudit.core.errors import InputError
from labelaudit.core.progress import RunContext
from labelaudit.core.results_folder import MANIFEST
from labelaudit.core.results_open import is_results_folder, open_results
from test_gui_app import text_data  # noqa: F401 (fixture)


def audit_to(out, *args) -> dict:
    assert cli.main(["audit", *map(str, args), "--out", str(out), "--quiet"]) == 0
    return json.loads((out / "summary.json").read_text())


def assert_same_run(report, out) -> None:
    """The report shows exactly the folder's run."""
    stored = pd.read_parquet(out / "examples.parquet")
    summary = json.loads((out / "summary.json").read_text())
    ex = report.examples
    assert ex["is_label_issue"].tolist() == stored["is_label_issue"].tolist()
    np.testing.assert_array_equal(ex["label_quality"].to_numpy(), stored["label_quality"].to_numpy())
    np.testing.assert_array_equal(report.labels, stored["given_label"].to_numpy())
    assert report.summary == summary
    assert report.class_names == summary["class_names"]
    assert report.calibration["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-12)
    assert report.calibration["ece"] == pytest.approx(summary["calibration"]["ece"], abs=1e-12)
    flagged = pd.read_csv(out / "flagged.csv")
    assert sorted(ex.loc[ex["is_label_issue"], "row"]) == sorted(flagged["row"])


def test_cifar10_with_reviews_and_recalibration_opens_as_audited(tmp_path, labelerrors):
    d, out = labelerrors / "cifar10", tmp_path / "c10"
    summary = audit_to(out, d / "labels.npy", "--classes", d / "classes.txt", "--pred-probs", d / "pred_probs.npy",
                       "--reviews", d / "mturk.json", "--recalibrate", "temperature")
    shutil.move(out, tmp_path / "laptop")  # viewed elsewhere: the folder moved, the data is not beside it
    out = tmp_path / "laptop"
    assert is_results_folder(out)
    report = open_results(out)
    assert_same_run(report, out)
    assert report.summary["n_label_issues"] == summary["n_label_issues"] == 284
    assert report.summary["validated_found"] == 49
    assert int(report.examples["is_validated_error"].sum()) == 54  # the review columns stay
    assert report.audit.examples["is_label_issue"].tolist() == report.examples["is_label_issue"].tolist()
    recal = report.recalibration
    assert recal is not None and recal.method == "temperature"
    np.testing.assert_array_equal(recal.pred_probs, np.load(out / "pred_probs_recalibrated.npy"))
    assert recal.to_summary() == summary["recalibration"]
    assert report.config.pred_probs == str(out / "pred_probs.npy") and report.notices == []
    assert "given_class" not in report.examples.columns  # the indices, as a run's report holds them


def test_text_csv_keeps_text_ids_and_detection(tmp_path, text_data):  # noqa: F811
    out = tmp_path / "tickets_audit"
    audit_to(out, text_data["csv"], "--pred-probs", text_data["probs"], "--classes", text_data["classes"],
             "--num-issues", 12)
    report = open_results(out)
    assert_same_run(report, out)
    assert int(report.examples["is_label_issue"].sum()) == 12
    assert report.config.num_issues == 12
    original = pd.read_csv(text_data["csv"])
    assert report.dataset.texts() == original["text"].tolist()  # the inspector has the text
    assert report.examples["id"].tolist() == original["id"].tolist()
    assert report.dataset.text_col == "text" and report.recalibration is None


def test_relative_images_that_are_gone_give_a_notice(tmp_path):
    data = tmp_path / "imgs"
    data.mkdir()
    n = 60
    rng = np.random.default_rng(0)
    for i in range(n):
        (data / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    labels = rng.integers(0, 2, n)
    pd.DataFrame({"image": [f"{i}.png" for i in range(n)], "label": labels}).to_csv(data / "t.csv", index=False)
    probs = np.full((n, 2), 0.2)
    probs[np.arange(n), labels] = 0.8
    np.save(data / "p.npy", probs)
    out = tmp_path / "out"
    audit_to(out, data / "t.csv", "--pred-probs", data / "p.npy")
    assert open_results(out).notices == []  # the images are where the table said
    shutil.rmtree(data)
    ctx = RunContext()
    report = open_results(out, ctx)
    assert any("0.png: image not found" in t for t in report.notices)
    assert report.dataset.image_col == "image" and len(report.examples) == n


def test_out_of_core_run_opens_out_of_core(tmp_path, monkeypatch):
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 1000)
    rng = np.random.default_rng(1)
    n, k = 5000, 4
    labels = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n)
    probs[np.arange(n), labels] += 2
    probs /= probs.sum(1, keepdims=True)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "probs.npy", probs)
    out = tmp_path / "big"
    summary = audit_to(out, tmp_path / "labels.npy", "--pred-probs", tmp_path / "probs.npy")
    assert "out_of_core" in summary
    report = open_results(out)
    assert type(report).__name__ == "StreamedReport"
    assert isinstance(report.pred_probs, np.memmap)
    assert_same_run(report, out)


def write_min_folder(tmp_path):
    d = tmp_path / "run"
    labels = np.array([0, 1, 0, 1, 1, 0])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.8, 0.2]])
    np.save(tmp_path / "l.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    audit_to(d, tmp_path / "l.npy", "--pred-probs", tmp_path / "p.npy")
    return d


@pytest.mark.parametrize("damage, names", [
    ("no_manifest", [MANIFEST]),
    ("missing_file", ["flagged.csv"]),
    ("bad_parquet", ["examples.parquet"]),
    ("bad_npy", ["pred_probs.npy"]),
    ("rows", ["pred_probs.npy", "examples.parquet"]),
    ("bad_summary", ["summary.json"]),
    ("multi_label", ["summary.json", "multi-label"]),
])
def test_bad_folders_are_one_line_naming_the_file(tmp_path, damage, names):
    d = write_min_folder(tmp_path)
    if damage == "no_manifest":
        (d / MANIFEST).unlink()
    elif damage == "missing_file":
        (d / "flagged.csv").unlink()
    elif damage == "bad_parquet":
        (d / "examples.parquet").write_bytes(b"PAR1 not really")
    elif damage == "bad_npy":
        data = (d / "pred_probs.npy").read_bytes()
        (d / "pred_probs.npy").write_bytes(data[:-20])
    elif damage == "rows":
        np.save(d / "pred_probs.npy", np.full((5, 2), 0.5))
    elif damage == "bad_summary":
        (d / "summary.json").write_text("{not json")
    elif damage == "multi_label":
        summary = json.loads((d / "summary.json").read_text())
        (d / "summary.json").write_text(json.dumps({**summary, "multi_label": True}))
    with pytest.raises(InputError) as err:
        open_results(d)
    message = str(err.value)
    assert "\n" not in message
    assert all(name in message for name in names), message


def test_not_a_folder_and_a_benchmark_folder(tmp_path, labelerrors):
    with pytest.raises(InputError, match="not a labelaudit results folder"):
        open_results(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        open_results(tmp_path / "nowhere")
    d = labelerrors / "cifar10"
    out = tmp_path / "bench"
    assert cli.main(["benchmark", "--labels", str(d / "labels.npy"), "--classes", str(d / "classes.txt"),
                     "--model", f"m={d / 'pred_probs.npy'}", "--reviews", str(d / "mturk.json"),
                     "--out", str(out)]) == 0
    assert is_results_folder(out)
    with pytest.raises(InputError, match="a benchmark results folder.*Benchmark tab"):
        open_results(out)

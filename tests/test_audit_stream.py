"""Out-of-core audit: the same flags, numbers and files as the in-memory path, chunk by chunk."""

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core import audit_stream
from labelaudit.core.calibration import StreamingCalibration, calibration_metrics
from labelaudit.core.cli import main
from labelaudit.core.errors import Cancelled
from labelaudit.core.pipeline import AuditConfig, run_audit
from labelaudit.core.progress import RunContext

SUMMARY_KEYS = ("n_examples", "n_classes", "n_label_issues", "accuracy")


def _synthetic(n, k, seed=0, flip=0.08, dtype=np.float32):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    alpha = np.full((n, k), 0.5)
    alpha[np.arange(n), true] = 3.0
    g = rng.gamma(alpha)
    p = (g / g.sum(1, keepdims=True)).astype(dtype)
    labels = true.copy()
    f = rng.random(n) < flip
    labels[f] = (true[f] + rng.integers(1, k, f.sum())) % k
    return labels, p


@pytest.fixture
def small_chunks(monkeypatch):
    """Stream from 1,000 rows on, in chunks of 20,000 values, so a few hundred thousand rows take many chunks
    (and examples.parquet row groups of 3 chunks)."""
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 1000)
    monkeypatch.setattr(audit_stream, "CHUNK_VALUES", 20_000)
    monkeypatch.setattr(audit_stream, "ROW_GROUP_VALUES", 60_000)


def _run_both(tmp_path, monkeypatch, labels, probs, *, logits=False, **config):
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    key = "logits" if logits else "pred_probs"
    cfg = AuditConfig(data=str(tmp_path / "labels.npy"), **{key: str(tmp_path / "p.npy")}, **config)
    assert audit_stream.wants_streaming(cfg)
    streamed = run_audit(cfg, RunContext())
    assert isinstance(streamed, audit_stream.StreamedReport)
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 10**12)
    in_memory = run_audit(cfg, RunContext())
    assert not isinstance(in_memory, audit_stream.StreamedReport)
    return streamed, in_memory


def test_streamed_flags_equal_in_memory_on_300k_float32_rows(tmp_path, monkeypatch, small_chunks):
    labels, probs = _synthetic(300_000, 4)  # float32: rows miss 1 by rounding, so every row is renormalised
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs)
    assert len(streamed.streamed.ranges) > 50
    a, b = streamed.examples, in_memory.examples
    assert a["is_label_issue"].sum() > 10_000
    assert list(a.columns) == list(b.columns)
    np.testing.assert_array_equal(a["is_label_issue"], b["is_label_issue"])
    for col in ("given_label", "predicted_label", "suggested_label", "confidence", "label_quality"):
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    np.testing.assert_allclose(a["class_threshold"], b["class_threshold"], rtol=1e-12)
    np.testing.assert_array_equal(streamed.audit.confident_joint, in_memory.audit.confident_joint)
    np.testing.assert_allclose(streamed.audit.noise_matrix, in_memory.audit.noise_matrix, rtol=1e-12)
    pd.testing.assert_frame_equal(streamed.audit.top_corrections, in_memory.audit.top_corrections)
    pd.testing.assert_frame_equal(streamed.audit.issues_per_class, in_memory.audit.issues_per_class,
                                  check_exact=False, rtol=1e-12)
    for key in SUMMARY_KEYS:
        assert streamed.summary[key] == pytest.approx(in_memory.summary[key], rel=1e-12), key
    for key, value in in_memory.summary["calibration"].items():
        assert streamed.summary["calibration"][key] == pytest.approx(value, abs=1e-6), key
    # every row is renormalised, quietly: missing 1 by float32 rounding is not news (issue 10)
    assert not any("renormalised" in note for note in streamed.notices + in_memory.notices)
    assert streamed.summary["detection"] == in_memory.summary["detection"]


def test_values_slightly_outside_0_1_are_clipped_as_in_memory(tmp_path, monkeypatch, small_chunks):
    labels, probs = _synthetic(60_000, 3, seed=3, dtype=np.float64)
    probs[5] = [-5e-7, 0.4, 0.6]  # within the tolerances: clipped to [0, 1], then renormalised
    probs[40_000] = [0.0, 0.0, 1 + 5e-4]
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs)
    a, b = streamed.examples, in_memory.examples
    for col in ("is_label_issue", "predicted_label", "confidence", "label_quality"):
        np.testing.assert_array_equal(a[col], b[col], err_msg=col)
    assert a["label_quality"].min() >= 0 and a["confidence"].max() <= 1
    assert streamed.summary["n_label_issues"] == in_memory.summary["n_label_issues"] > 0


@pytest.mark.parametrize("quantised", [False, True])
def test_streamed_flags_equal_in_memory_at_many_classes(tmp_path, monkeypatch, small_chunks, quantised):
    """120 classes (14,280 class pairs, each pruned streamed), merged many times; quantised
    probabilities put tied margins at the pairs' cuts, which must be broken as cleanlab does."""
    monkeypatch.setattr(audit_stream._PairTops, "FLUSH_MIN", 5_000)
    monkeypatch.setattr(audit_stream._PairTops, "FLUSH_MAX", 5_000)
    labels, probs = _synthetic(40_000, 120, seed=3, flip=0.2, dtype=np.float64)
    if quantised:
        probs = np.round(probs * 32) / 32 + 1e-3
        probs /= probs.sum(1, keepdims=True)
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs)
    a, b = streamed.examples["is_label_issue"], in_memory.examples["is_label_issue"]
    assert len(streamed.streamed.ranges) >= 9
    assert b.sum() > 2_000
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(streamed.audit.top_corrections, in_memory.audit.top_corrections)


def test_gui_results_from_a_streamed_run(tmp_path, monkeypatch, small_chunks):
    from labelaudit.gui.results import prepare_results

    labels, probs = _synthetic(30_000, 3)
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs)
    a, b = prepare_results(streamed), prepare_results(in_memory)
    assert a.columns == b.columns
    np.testing.assert_array_equal(a.confusion, b.confusion)
    pd.testing.assert_frame_equal(a.reliability, b.reliability, check_exact=False, rtol=1e-6)


def test_streamed_logits_and_labelerrors_cifar10_equal_in_memory(tmp_path, monkeypatch, small_chunks, labelerrors):
    labels = np.load(labelerrors / "cifar10" / "labels.npy")
    probs = np.load(labelerrors / "cifar10" / "pred_probs.npy")
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, np.log(np.clip(probs, 1e-12, None)), logits=True)
    np.testing.assert_array_equal(streamed.examples["is_label_issue"], in_memory.examples["is_label_issue"])
    assert streamed.summary["n_label_issues"] == in_memory.summary["n_label_issues"] > 0


def test_labelerrors_mnist_with_reviews_and_class_names(tmp_path, monkeypatch, small_chunks, labelerrors):
    d = labelerrors / "mnist"
    labels, probs = np.load(d / "labels.npy"), np.load(d / "pred_probs.npy")
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs, classes=str(d / "classes.txt"),
                                    reviews=str(d / "mturk.json"))
    np.testing.assert_array_equal(streamed.examples["is_label_issue"], in_memory.examples["is_label_issue"])
    for key in ("reviewed_flagged", "validated_found", "n_validated_errors"):
        assert streamed.summary[key] == in_memory.summary[key], key
    assert streamed.class_names == in_memory.class_names


def test_cli_writes_the_same_files(tmp_path, monkeypatch, small_chunks):
    labels, probs = _synthetic(60_000, 3, seed=1, dtype=np.float64)
    np.save(tmp_path / "labels.npy", labels + 1)  # values 1..3: classes named by value
    np.save(tmp_path / "p.npy", probs)
    outs = {}
    for name, min_rows in (("streamed", 1000), ("memory", 10**12)):
        monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", min_rows)
        outs[name] = tmp_path / name
        code = main(["audit", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "p.npy"),
                     "--out", str(outs[name]), "--quiet"])
        assert code == 0
    a, b = (pd.read_parquet(outs[x] / "examples.parquet") for x in ("streamed", "memory"))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    import pyarrow.parquet as pq

    groups = pq.read_metadata(outs["streamed"] / "examples.parquet")
    chunk = 20_000 // 3  # rows: row groups gather chunks up to 60,000 values (20,000 rows) or more
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [4 * chunk, 4 * chunk, 60_000 - 8 * chunk]
    fa, fb = (pd.read_csv(outs[x] / "flagged.csv") for x in ("streamed", "memory"))
    pd.testing.assert_frame_equal(fa, fb)
    monkeypatch.setattr(audit_stream, "FLAGGED_PART_ROWS", 10)  # flagged.csv written in parts: the same bytes
    monkeypatch.setattr(audit_stream, "STREAM_MIN_ROWS", 1000)
    assert main(["audit", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "p.npy"),
                 "--out", str(tmp_path / "parts"), "--quiet"]) == 0
    assert (tmp_path / "parts" / "flagged.csv").read_bytes() == (outs["streamed"] / "flagged.csv").read_bytes()
    assert set(fa["given_label"].astype(str)) <= {"1", "2", "3"}
    sa, sb = (json.loads((outs[x] / "summary.json").read_text()) for x in ("streamed", "memory"))
    assert sa["n_label_issues"] == sb["n_label_issues"] > 0
    assert sa["class_names"] == sb["class_names"] == ["1", "2", "3"]
    np.testing.assert_array_equal(np.load(outs["streamed"] / "pred_probs.npy"), probs)


def test_bad_row_is_named_with_its_file_row(tmp_path, small_chunks, capsys):
    labels, probs = _synthetic(50_000, 3, dtype=np.float64)
    probs[43_210, 1] = -0.5
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    code = main(["audit", str(tmp_path / "labels.npy"), "--pred-probs", str(tmp_path / "p.npy"),
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "row 43210, column 1 is -0.5" in err and "Traceback" not in err


def test_cancel_stops_between_chunks(tmp_path, small_chunks):
    labels, probs = _synthetic(100_000, 3)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    events = []

    def on_progress(ev):
        events.append(ev)
        if ev.stage == "confident joint" and ev.done >= 3:
            ctx.cancel()

    ctx = RunContext(on_progress=on_progress, min_interval_s=0)
    with pytest.raises(Cancelled):
        run_audit(AuditConfig(data=str(tmp_path / "labels.npy"), pred_probs=str(tmp_path / "p.npy")), ctx)
    stages = [ev.stage for ev in events]
    assert "checking predictions" in stages and "finding label issues" not in stages
    done = [ev.done for ev in events if ev.stage == "checking predictions"]
    assert done == sorted(done) and len(done) > 10


def test_npy_label_encoding_matches_load_dataset(tmp_path):
    from labelaudit.core.data import load_dataset

    cases = [np.array([0, 2, 2, 5], dtype=np.int16), np.array([-1, 1, 1, -1]), np.array([3.0, 1.0, 3.0]),
             np.array([10**12, 7, 10**12, -3])]  # sparse values: np.unique instead of a bincount
    for i, raw in enumerate(cases):
        path = tmp_path / f"l{i}.npy"
        np.save(path, raw)
        codes, names = audit_stream.encode_npy_labels(path)
        ds = load_dataset(path)
        assert names == ds.class_names
        np.testing.assert_array_equal(codes, ds.labels)
    (tmp_path / "classes.txt").write_text("10\n20\n")
    np.save(tmp_path / "v.npy", np.array([20, 10, 30]))
    codes, names = audit_stream.encode_npy_labels(tmp_path / "v.npy", ["30", "20", "10"], "classes.txt")
    assert codes.tolist() == [1, 2, 0] and names == ["30", "20", "10"]
    with pytest.raises(Exception, match="row 2: label 30"):
        audit_stream.encode_npy_labels(tmp_path / "v.npy", ["10", "20"], "classes.txt")
    np.save(tmp_path / "w.npy", np.array([0, 1, 5000]))
    with pytest.raises(Exception, match="row 2: label 5,000 .* would make"):
        audit_stream.encode_npy_labels(tmp_path / "w.npy")


def test_streaming_calibration_equals_calibration_metrics():
    labels, probs = _synthetic(200_003, 5, seed=3)
    expected = calibration_metrics(probs, labels)
    cal = StreamingCalibration(len(labels))
    for s in range(0, len(labels), 7_777):
        cal.update(probs[s: s + 7_777].astype(np.float64), labels[s: s + 7_777])
    got = cal.result()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_other_detection_methods_stay_in_memory(tmp_path, small_chunks):
    labels, probs = _synthetic(5000, 3)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "p.npy", probs)
    base = dict(data=str(tmp_path / "labels.npy"), pred_probs=str(tmp_path / "p.npy"))
    assert audit_stream.wants_streaming(AuditConfig(**base))
    assert not audit_stream.wants_streaming(AuditConfig(**base, filter_by="labelerrors-2021"))
    assert not audit_stream.wants_streaming(AuditConfig(**base, rank_by="normalized_margin"))
    assert not audit_stream.wants_streaming(AuditConfig(**base, recalibrate="temperature"))
    assert not audit_stream.wants_streaming(AuditConfig(**base, correctness=True))


def test_streamed_outputs_with_a_recalibration_applied_later(tmp_path, monkeypatch, small_chunks):
    from types import SimpleNamespace

    from labelaudit.core.export import write_outputs

    labels, probs = _synthetic(20_000, 3, dtype=np.float64)
    streamed, _ = _run_both(tmp_path, monkeypatch, labels, probs)
    recalibrated = np.full_like(probs, 1 / 3)
    streamed.recalibration = SimpleNamespace(pred_probs=recalibrated)  # as the GUI's Calibration tab sets it
    paths = write_outputs(streamed, tmp_path / "out")
    np.testing.assert_array_equal(np.load(paths["pred_probs_recalibrated"]), recalibrated)
    assert len(pd.read_parquet(paths["examples"])) == 20_000


def test_reopened_streamed_project_shows_what_the_run_showed(tmp_path, monkeypatch, small_chunks):
    from labelaudit.core.project import Project
    from labelaudit.gui.results import prepare_results

    labels, probs = _synthetic(30_000, 3, dtype=np.float64)
    streamed, in_memory = _run_both(tmp_path, monkeypatch, labels, probs)
    Project.create_from_report(tmp_path / "run.labelaudit", streamed).close()
    project, report, status = Project.reopen(tmp_path / "run.labelaudit")
    try:
        assert status == "ok" and isinstance(report, audit_stream.StreamedReport)  # recomputed out of core
        assert report.summary == streamed.summary and report.notices == []
        np.testing.assert_array_equal(report.streamed.flagged_rows, streamed.streamed.flagged_rows)
        pd.testing.assert_frame_equal(report.examples, streamed.examples, check_dtype=False)
        for key in ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc", "accuracy"):
            # sums taken in whichever order the chunk threads finish: equal to the last bits, as two runs are
            assert report.calibration[key] == pytest.approx(streamed.calibration[key], rel=1e-12)
        for run in (streamed, in_memory):
            pd.testing.assert_frame_equal(report.audit.issues_per_class, run.audit.issues_per_class)
            pd.testing.assert_frame_equal(report.audit.top_corrections, run.audit.top_corrections)
            np.testing.assert_array_equal(report.audit.confident_joint, run.audit.confident_joint)
        a, b = prepare_results(report), prepare_results(streamed)
        np.testing.assert_array_equal(a.confusion, b.confusion)
        pd.testing.assert_frame_equal(a.reliability, b.reliability, check_exact=False, rtol=1e-12)
    finally:
        project.close()

"""Scoring on Ray (--cluster): same probabilities as a local run, a dead worker retried, errors in words.

The Ray tests share one local cluster of 2 CPU workers (no dashboard), shut down at the end.
"""

import sys

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main
from labelaudit.core.data import load_dataset
from labelaudit.core.errors import Cancelled, InputError
from labelaudit.core.progress import RunContext
from labelaudit.core.scoring import cluster
from labelaudit.core.scoring.cluster import ClusterSpec, parse_cluster

WORDS = "goal match team coach recipe oven flour sugar stock market bank loan the a with very".split()


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 14)))) for _ in range(n)]


@pytest.fixture(scope="module")
def text_csv(tmp_path_factory):
    texts = _texts(120)
    labels = [("sports", "cooking", "finance")[i % 3] for i in range(len(texts))]
    path = tmp_path_factory.mktemp("cluster") / "texts.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ray_local():
    pytest.importorskip("ray")
    spec = ClusterSpec("local", workers=2)
    cluster.connect(spec)
    yield spec
    cluster.shutdown()


def test_parse_cluster():
    assert parse_cluster("auto") == ClusterSpec("auto")
    assert parse_cluster("local") == ClusterSpec("local")
    assert parse_cluster("local:3") == ClusterSpec("local", workers=3)
    assert parse_cluster("ray://head.example:10001") == ClusterSpec("client", address="ray://head.example:10001")
    for bad in ("remote", "local:0", "ray://nohost", "local:x"):
        with pytest.raises(InputError, match="--cluster"):
            parse_cluster(bad)


def test_without_ray_cluster_is_exit_2_naming_the_extra(text_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(["audit", str(text_csv), "--cluster", "local:2", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "pip install labelaudit[cluster]" in err and "Traceback" not in err


def test_cluster_with_pred_probs_or_llm_is_exit_2(text_csv, tmp_path, capsys):
    pytest.importorskip("ray")
    probs = tmp_path / "p.npy"
    np.save(probs, np.full((120, 3), 1 / 3))
    assert main(["audit", str(text_csv), "--pred-probs", str(probs), "--cluster", "local",
                 "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "nothing to score" in capsys.readouterr().err


def test_probe_audit_on_ray_gives_the_local_probabilities(text_csv, ray_local, tmp_path, monkeypatch):
    from labelaudit.core.pipeline import AuditConfig, run_audit
    from labelaudit.core.scoring.probe import EmbeddingProbeScorer

    monkeypatch.setenv("LABELAUDIT_CACHE", str(tmp_path / "cache"))  # no cached embeddings from other tests
    events = []
    ctx = RunContext(on_progress=events.append, min_interval_s=0)
    report = run_audit(AuditConfig(data=str(text_csv), cluster="local:2", device="cpu", batch_size=16), ctx)
    dataset = load_dataset(text_csv, text_col="text", label_col="label")
    local = EmbeddingProbeScorer(device="cpu", cache=False).score(dataset, RunContext())
    np.testing.assert_allclose(report.score.embeddings, local.embeddings, atol=1e-5)
    np.testing.assert_allclose(report.pred_probs, local.pred_probs, atol=1e-5)
    assert report.summary["device"] == "Ray local:2"
    done = [ev.done for ev in events if ev.stage == "embedding (Ray)"]
    assert done[-1] == len(dataset.texts()) and len(done) > 2  # progress arrives batch by batch


def test_hf_classifier_on_ray_gives_the_local_probabilities(tmp_path, text_csv, ray_local):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from labelaudit.core.scoring.hf_classifier import HFClassifierScorer

    folder = tmp_path / "clf"
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    torch.manual_seed(0)
    labels = ["sports", "cooking", "finance"]
    cfg = transformers.BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=64, num_labels=3,
                                  id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    transformers.BertForSequenceClassification(cfg).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    dataset = load_dataset(text_csv, text_col="text", label_col="label")
    local = HFClassifierScorer(folder, device="cpu").score(dataset, RunContext())
    remote = HFClassifierScorer(folder, device="cpu", batch_size=8, cluster=ray_local).score(dataset, RunContext())
    np.testing.assert_allclose(remote.pred_probs, local.pred_probs, atol=1e-5)
    np.testing.assert_allclose(remote.embeddings, local.embeddings, atol=1e-5)


class _DiesOnce:
    """A worker function that kills its process on its first batch (once, marked on disk), else squares."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __call__(self):
        import os

        def fn(xs):
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os._exit(1)  # the actor process dies mid-run
            return (np.asarray(xs, dtype=np.float64) ** 2,)

        return fn


def test_a_killed_worker_is_retried_and_the_result_is_unchanged(ray_local, tmp_path):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test module is not importable on workers
    marker = tmp_path / "died"
    (out,) = cluster.ray_map(list(range(300)), _DiesOnce(marker), ray_local, ctx=RunContext(), stage="squares",
                             batch_size=32)
    assert marker.exists()  # a worker did die
    np.testing.assert_array_equal(out, np.arange(300, dtype=np.float64) ** 2)


def test_cancel_stops_a_ray_run(ray_local):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ctx = RunContext(min_interval_s=0)

    def on_progress(ev):
        if ev.done > 0:
            ctx.cancel()

    ctx.on_progress = on_progress
    with pytest.raises(Cancelled):
        cluster.ray_map(list(range(2000)), _Square(), ray_local, ctx=ctx, stage="squares", batch_size=10)


class _Square:
    def __call__(self):
        return lambda xs: (np.asarray(xs, dtype=np.float64) ** 2,)


def test_setup_dialog_run_on_choice(qtbot, text_csv):
    from labelaudit.core.pipeline import AuditConfig
    from labelaudit.gui.setup_dialog import AuditSetupDialog

    dlg = AuditSetupDialog(AuditConfig(data=str(text_csv), cluster="local:2"))
    qtbot.addWidget(dlg)
    assert dlg.cluster.currentText() == "local:2"
    assert dlg.config().cluster == "local:2"
    dlg.cluster.setCurrentText("ray://head:10001")
    assert dlg.config().cluster == "ray://head:10001"
    dlg.cluster.setCurrentText("somewhere")
    assert "--cluster 'somewhere'" in dlg.problem()
    dlg.cluster.setCurrentText("this machine")
    assert dlg.config().cluster is None

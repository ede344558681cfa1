"""Scoring mechanics on tiny randomly initialised BERT folders: batching, out-of-memory
retry, cancel, progress, the embedding cache, HF classifier folders, --model routing,
fold bookkeeping and the Datalab outlier/near-duplicate checks."""

import sys
import types

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from labelaudit.core.data import load_dataset  # noqa: E402
from labelaudit.core.errors import Cancelled, InputError  # noqa: E402
from labelaudit.core.progress import RunContext  # noqa: E402
from labelaudit.core.scoring import make_scorer  # noqa: E402
from labelaudit.core.scoring import probe as probe_mod  # noqa: E402
from labelaudit.core.data_issues import find_data_issues  # noqa: E402
from labelaudit.core.scoring.device import dtype_for, pad_batch, pick_device, run_batches  # noqa: E402
from labelaudit.core.scoring.hf_classifier import HFClassifierScorer  # noqa: E402
from labelaudit.core.scoring.probe import EmbeddingProbeScorer, PixelProbeScorer, TextEncoder, cross_val_probs  # noqa: E402

WORDS = ["red", "green", "blue", "cat", "dog", "fish", "run", "jump", "sit", "big", "small", "fast", "slow"]


def _tiny_config(**kw):
    return transformers.BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, max_position_embeddings=64, **kw)


def _save_tokenizer(folder):
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    transformers.BertModel(_tiny_config()).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def _classifier_folder(base, labels):
    folder = base / ("clf-" + "-".join(labels))
    torch.manual_seed(1)
    cfg = _tiny_config(num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={name: i for i, name in enumerate(labels)})
    transformers.BertForSequenceClassification(cfg).save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 30)))) for _ in range(n)]


def _text_dataset(tmp_path, n=40, classes=("a", "b")):
    texts = _texts(n)
    labels = [classes[i % len(classes)] for i in range(n)]
    path = tmp_path / "texts.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return load_dataset(path, text_col="text", label_col="label", classes=list(classes))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LABELAUDIT_CACHE", str(folder))
    return folder / "embeddings"


def _count_forward(model):
    calls = []
    model.register_forward_hook(lambda mod, args, out: calls.append(1))
    return calls


# ----------------------------------------------------------------------------- device and batching


def test_pick_device_and_dtype():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    assert dtype_for(torch.device("cpu")) == torch.float32
    with pytest.raises(InputError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cuda: no CUDA GPU"):
            pick_device("cuda")


def test_pad_batch_pads_to_longest():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory"),
                                   RuntimeError("MPS backend out of memory")])
def test_oom_halves_the_batch_and_retries_the_same_rows(error):
    lengths = np.arange(37) % 11
    sizes = []

    def run(idx):
        sizes.append(len(idx))
        if len(idx) > 5:
            raise error
        return np.stack([idx * 2, idx + lengths[idx]], axis=1)

    out = run_batches(lengths, run, ctx=RunContext(), stage="s", batch_size=16)
    assert sizes[:3] == [16, 8, 4]  # halved twice, then kept
    assert set(sizes[3:]) <= {4, 1, 2, 3}
    np.testing.assert_array_equal(out[:, 0], np.arange(37) * 2)
    np.testing.assert_array_equal(out[:, 1], np.arange(37) + lengths)


def test_oom_at_batch_size_one_is_a_clear_error():
    def run(idx):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(InputError, match="out of memory .* even at batch size 1"):
        run_batches([3, 2, 1], run, ctx=RunContext(), stage="s", batch_size=4)


def test_other_errors_are_not_retried():
    calls = []

    def run(idx):
        calls.append(len(idx))
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_batches([1, 2, 3], run, ctx=RunContext(), stage="s", batch_size=2)
    assert calls == [2]


def test_tuple_outputs_come_back_in_input_order():
    lengths = [1, 5, 3, 5, 2]
    emb, n = run_batches(lengths, lambda idx: (idx[:, None] * np.ones((1, 3)), np.asarray(lengths)[idx]),
                         ctx=RunContext(), stage="s", batch_size=2)
    assert emb[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert n.tolist() == lengths


def test_encoder_oom_retry_gives_the_same_embeddings(tiny_bert):
    texts = _texts(23)
    enc = TextEncoder(tiny_bert, device="cpu")
    expected = enc.encode(texts, RunContext(), batch_size=8)
    original = enc.model.forward
    seen = []

    def fake_forward(*args, **kwargs):
        seen.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(*args, **kwargs)

    enc.model.forward = fake_forward
    got = enc.encode(texts, RunContext(), batch_size=8)
    assert seen[:3] == [8, 4, 2] and max(seen[3:]) == 2
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_progress_is_monotone_and_ends_at_total(tiny_bert):
    events = []
    ctx = RunContext(on_progress=events.append, min_interval_s=0)
    TextEncoder(tiny_bert, device="cpu").encode(_texts(50), ctx, batch_size=8)
    done = [e.done for e in events if e.stage == "embedding"]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 50
    assert {e.total for e in events if e.stage == "embedding"} == {50}
    assert len(done) >= 7  # one event per batch of 8


def test_cancel_mid_run_stops_and_leaves_nothing(tiny_bert, tmp_path, cache):
    dataset = _text_dataset(tmp_path, n=60)
    scorer = EmbeddingProbeScorer(tiny_bert, device="cpu", batch_size=8)
    calls = _count_forward(probe_mod.get_encoder(tiny_bert, device="cpu").model)
    ctx = RunContext(min_interval_s=0)
    ctx.on_progress = lambda e: ctx.cancel() if e.stage == "embedding" and e.done >= 16 else None
    with pytest.raises(Cancelled):
        scorer.score(dataset, ctx)
    assert len(calls) == 2  # stopped right after the batch that crossed the line
    assert not cache.exists() or not list(cache.glob("*.npy"))  # no partial embeddings cached


# ----------------------------------------------------------------------------- cache


def test_second_run_reads_the_cache_and_skips_the_model(tiny_bert, tmp_path, cache):
    dataset = _text_dataset(tmp_path)
    calls = _count_forward(probe_mod.get_encoder(tiny_bert, device="cpu").model)
    first = EmbeddingProbeScorer(tiny_bert, device="cpu").score(dataset, RunContext())
    n_first = len(calls)
    assert n_first > 0 and len(list(cache.glob("*.npy"))) == 1
    second = EmbeddingProbeScorer(tiny_bert, device="cpu").score(dataset, RunContext())
    assert len(calls) == n_first  # no forward pass
    assert "embed_cache_read" in second.timings_s and "embed" not in second.timings_s
    np.testing.assert_array_equal(first.embeddings, second.embeddings)
    np.testing.assert_array_equal(first.pred_probs, second.pred_probs)

    other = _text_dataset(tmp_path, n=41)  # different texts: a miss
    EmbeddingProbeScorer(tiny_bert, device="cpu").score(other, RunContext())
    assert len(calls) > n_first and len(list(cache.glob("*.npy"))) == 2


def test_probe_result_fields(tiny_bert, tmp_path, cache):
    dataset = _text_dataset(tmp_path, n=30, classes=("x", "y", "z"))
    result = EmbeddingProbeScorer(tiny_bert, device="cpu", folds=3).score(dataset, RunContext())
    assert result.pred_probs.shape == (30, 3) and result.pred_probs.dtype == np.float64
    np.testing.assert_allclose(result.pred_probs.sum(1), 1.0)
    assert result.embeddings.shape == (30, 16) and result.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-5)
    assert result.device == "cpu" and not result.in_sample
    assert "3-fold logistic regression" in result.model
    assert {"load_model", "embed", "probe"} <= set(result.timings_s)


# ----------------------------------------------------------------------------- HF classifier


def test_classifier_folder_gives_softmax_mapped_by_name_with_in_sample_notice(tmp_path):
    folder = _classifier_folder(tmp_path, ["NEG", "pos"])
    dataset = _text_dataset(tmp_path, n=12, classes=("pos", "neg"))  # the other order, other case
    scorer = make_scorer(str(folder), dataset=dataset, device="cpu")
    assert isinstance(scorer, HFClassifierScorer)
    notices = []
    result = scorer.score(dataset, RunContext(on_notice=notices.append))
    model = transformers.BertForSequenceClassification.from_pretrained(folder).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        logits = model(**tok(dataset.texts(), padding=True, return_tensors="pt")).logits
    expected = torch.softmax(logits, -1).numpy()[:, [1, 0]]
    np.testing.assert_allclose(result.pred_probs, expected, atol=1e-5)
    assert result.in_sample
    assert any("in-sample predictions understate label errors" in n for n in notices)
    assert result.embeddings.shape == (12, 16)


def test_classifier_with_generic_labels_uses_order_and_says_so(tmp_path):
    folder = _classifier_folder(tmp_path, ["LABEL_0", "LABEL_1"])
    dataset = _text_dataset(tmp_path, n=6, classes=("a", "b"))
    notices = []
    result = make_scorer(str(folder), dataset=dataset, device="cpu").score(dataset, RunContext(on_notice=notices.append))
    assert result.pred_probs.shape == (6, 2)
    assert any("generic" in n and "class order" in n for n in notices)


def test_classifier_labels_that_do_not_match_are_an_input_error(tmp_path):
    folder = _classifier_folder(tmp_path, ["spam", "ham", "eggs"])
    dataset = _text_dataset(tmp_path, n=6, classes=("a", "b"))
    with pytest.raises(InputError, match="do not match the dataset's classes"):
        make_scorer(str(folder), dataset=dataset, device="cpu").score(dataset, RunContext())


def test_image_classifier_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "vit"
    cfg = transformers.ViTConfig(image_size=8, patch_size=4, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32, num_labels=2,
                                 id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    torch.manual_seed(0)
    transformers.ViTForImageClassification(cfg).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(folder)
    for name in ("cat", "dog"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((12, 10, 3), 30 * i, np.uint8)).save(tmp_path / "imgs" / name / f"{i}.png")
    dataset = load_dataset(tmp_path / "imgs")
    scorer = make_scorer(str(folder), dataset=dataset, device="cpu")
    assert isinstance(scorer, HFClassifierScorer) and scorer.kind == "image"
    result = scorer.score(dataset, RunContext())
    assert result.pred_probs.shape == (6, 2) and result.in_sample
    np.testing.assert_allclose(result.pred_probs.sum(1), 1.0)
    assert result.embeddings.shape == (6, 16)


# ----------------------------------------------------------------------------- --model routing


def test_not_a_model_folder(tmp_path):
    dataset = _text_dataset(tmp_path, n=6)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"empty: not a model folder \(no config.json\)"):
        make_scorer(str(empty), dataset=dataset)
    with pytest.raises(InputError, match="not 'probe', 'llm' or an existing model folder"):
        make_scorer(str(tmp_path / "missing"), dataset=dataset)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text('{"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}')
    with pytest.raises(InputError, match="unsupported model"):
        make_scorer(str(odd), dataset=dataset)
    (odd / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="config.json: not valid JSON"):
        make_scorer(str(odd), dataset=dataset)


def test_routing(tiny_bert, tmp_path, monkeypatch):
    made = []

    class FakeLLM:
        def __init__(self, model_path=None, *, device="auto", batch_size=None, folds=5, seed=0, **options):
            made.append((model_path, device, options))

    monkeypatch.setitem(sys.modules, "labelaudit.core.scoring.llm", types.SimpleNamespace(LLMScorer=FakeLLM))
    dataset = _text_dataset(tmp_path, n=6)
    assert isinstance(make_scorer(None, dataset=dataset), EmbeddingProbeScorer)
    assert isinstance(make_scorer(str(tiny_bert), dataset=dataset, quantize=True), EmbeddingProbeScorer)
    assert isinstance(make_scorer("llm", dataset=dataset, device="cpu"), FakeLLM)
    causal = tmp_path / "causal"
    causal.mkdir()
    (causal / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    make_scorer(str(causal), dataset=dataset, quantize=False)
    gguf = tmp_path / "gguf"
    gguf.mkdir()
    (gguf / "model.Q8_0.gguf").write_bytes(b"GGUF")
    make_scorer(str(gguf), dataset=dataset)
    assert [m[0] for m in made] == [None, causal, gguf]
    assert made[1][2] == {"quantize": False}


def test_probe_needs_text_or_images(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"label": [0, 1, 0, 1]}).to_csv(path, index=False)
    dataset = load_dataset(path, label_col="label")
    with pytest.raises(InputError, match="needs a text or image column"):
        make_scorer("probe", dataset=dataset)


def test_unreadable_image_names_row_and_path(tmp_path):
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    (tmp_path / "imgs" / "2.png").write_bytes(b"not a png")
    path = tmp_path / "images.csv"
    pd.DataFrame({"image": [f"imgs/{i}.png" for i in range(3)], "label": [0, 1, 0]}).to_csv(path, index=False)
    dataset = load_dataset(path, image_col="image", label_col="label")
    scorer = make_scorer(None, dataset=dataset)
    assert isinstance(scorer, PixelProbeScorer)
    with pytest.raises(InputError, match=r"row 2: cannot read image .*2\.png"):
        scorer.score(dataset, RunContext())


# ----------------------------------------------------------------------------- folds


def test_folds_give_every_class_a_column_and_say_when_one_was_missing():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 20 + [1] * 20 + [2])  # class 2 has one row: plain K-fold
    x = rng.normal(size=(41, 4)) + labels[:, None]
    notices = []
    probs = cross_val_probs(x, labels, 4, folds=5, seed=0, ctx=RunContext(on_notice=notices.append),
                            class_names=["a", "b", "c", "unused"])
    assert probs.shape == (41, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert (probs > 0).all()
    assert probs[40, 2] <= 1e-3  # its own fold never saw class c
    assert probs[:, 3].max() <= 1e-3  # a class with no rows at all
    assert len(notices) == 1 and "c had no training rows" in notices[0]
    again = cross_val_probs(x, labels, 4, folds=5, seed=0, ctx=RunContext(), class_names=None)
    np.testing.assert_array_equal(probs, again)  # seeded


def test_too_few_rows_for_folds():
    with pytest.raises(InputError, match="at least 2 examples"):
        cross_val_probs(np.zeros((1, 2)), np.array([0]), 2, folds=5, seed=0, ctx=RunContext())


# ----------------------------------------------------------------------------- data issues


def test_outliers_and_near_duplicate_sets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8)) * 0.1 + 1.0
    x[7] = x[3] + 1e-6
    x[150] = x[3]
    x[9] = x[200] + 1e-6
    x[42] = -5.0  # far from everything
    issues, counts = find_data_issues(x, np.zeros(300, int))
    assert list(issues.columns) == ["outlier_score", "is_outlier", "near_duplicate_set"]
    assert issues.loc[42, "is_outlier"] and issues["outlier_score"].idxmin() == 42
    sets = issues["near_duplicate_set"]
    assert sets[3] == sets[7] == sets[150] == 0 and sets[9] == sets[200] == 1
    assert (sets == -1).sum() == 295
    assert counts == {"n_outliers": int(issues["is_outlier"].sum()), "n_near_duplicates": 5, "n_near_duplicate_sets": 2}


def test_data_issues_on_tiny_input():
    issues, counts = find_data_issues(np.ones((2, 3)), np.array([0, 1]))
    assert issues["near_duplicate_set"].tolist() == [-1, -1] and counts["n_outliers"] == 0

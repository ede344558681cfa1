"""Causal-LM scorer: packed scoring equals the naive loop, modes, progress, cancel, and the real SmolLM2.

Mechanics run on a tiny randomly initialised Llama saved with the real SmolLM2
tokenizer; correctness checks use the bundled SmolLM2-135M-Instruct (loaded once).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.data import Dataset, load_dataset
from labelaudit.core.errors import Cancelled, InputError
from labelaudit.core.progress import RunContext
from labelaudit.core.scoring import llm, llm_loading, llm_options
from labelaudit.core.scoring.llm import LLMScorer


@pytest.fixture(scope="module")
def smollm(tmp_path_factory):
    """(model, tokenizer) of the bundled SmolLM2, loaded once (cached in core.scoring.llm_loading).

    Its dequantised copy (540 MB) goes to a pytest temporary folder, which pytest rotates; the
    process-wide model cache starts empty for this module, so the copy is made here.
    """
    import torch

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABELAUDIT_CACHE", str(tmp_path_factory.mktemp("llm_cache")))
        mp.setattr(llm_loading, "_MODELS", {})  # load here, even if an earlier test file loaded it
        model, tok, name = llm_loading.load_causal_lm(None, device=torch.device("cpu"), dtype=torch.float32)
        assert name == "SmolLM2-135M-Instruct (GGUF)"
        yield model, tok


@pytest.fixture(scope="module")
def tiny(smollm, tmp_path_factory):
    """A folder with a 2-layer random Llama that shares SmolLM2's tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    _, tok = smollm
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=True)
    folder = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _dataset(tmp_path, frame: pd.DataFrame, name="data.csv", **kw) -> Dataset:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return load_dataset(path, **kw)


def _tiny_model(folder):
    import torch

    return llm_loading.load_causal_lm(folder, device=torch.device("cpu"), dtype=torch.float32)


TEXTS = ["short one", "a somewhat longer text about the stock market and interest rates today",
         "goal!", "the striker scored twice and the team won the league", "rain", "new phone released",
         "x " * 40, "talks between the two governments"]


def test_packed_scores_equal_the_naive_loop(tiny):
    import torch

    model, tok, _ = _tiny_model(tiny)
    prompts = [f"Text: {t}\nCategory:" for t in TEXTS]
    # ragged: rows with 2..4 options of 1..4 tokens
    options = [[" World", " Sports", " Business and money", " Sci/Tech"][: 2 + i % 3] for i in range(len(prompts))]
    p_ids, o_ids = llm_options.encode_options(tok, prompts, options)
    naive = llm_options.naive_option_logprobs(model, p_ids, o_ids, device=torch.device("cpu"))
    for batch_size in (None, 3):
        packed, n_tok, hidden = llm_options.option_logprobs(model, p_ids, o_ids, device=torch.device("cpu"),
                                                    ctx=RunContext(), batch_size=batch_size)
        assert np.array_equal(np.isnan(packed), np.isnan(naive))
        np.testing.assert_allclose(packed, naive, atol=1e-4, equal_nan=True)
        np.testing.assert_allclose(llm_options.options_to_probs(packed, n_tok), llm_options.options_to_probs(naive, n_tok),
                                   atol=1e-4)
        assert hidden.shape == (len(prompts), 32) and hidden.dtype == np.float32
    assert n_tok[2, 2] == len(tok(" and money", add_special_tokens=False)["input_ids"]) + 1


def test_out_of_memory_halves_the_batch_and_keeps_the_numbers(tiny, monkeypatch):
    import torch

    model, tok, _ = _tiny_model(tiny)
    p_ids, o_ids = llm_options.encode_options(tok, [f"Text: {t}\nCategory:" for t in TEXTS], [[" World", " Sports"]] * 8)
    cpu = torch.device("cpu")
    expected, _, _ = llm_options.option_logprobs(model, p_ids, o_ids, device=cpu, ctx=RunContext(), batch_size=8)
    real, sizes = llm_options._packed_forward, []

    def fake(model, prompts, options, device):
        sizes.append(len(prompts))
        if len(prompts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, prompts, options, device)

    monkeypatch.setattr(llm_options, "_packed_forward", fake)
    events = []
    got, _, _ = llm_options.option_logprobs(model, p_ids, o_ids, device=cpu, ctx=RunContext(on_progress=events.append,
                                    min_interval_s=0), batch_size=8)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) == {2}
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [e.done for e in events] == [0, 2, 4, 6, 8]
    monkeypatch.setattr(llm_options, "_packed_forward", lambda *a: (_ for _ in ()).throw(RuntimeError("out of memory")))
    with pytest.raises(InputError, match=r"out of memory on cpu even for one row \(row \d+"):
        llm_options.option_logprobs(model, p_ids[:1], o_ids[:1], device=cpu, ctx=RunContext())


def test_options_to_probs_softmax_missing_options_and_length_normalisation():
    logprob = np.array([[-1.0, -3.0, np.nan], [-2.0, -2.0, -4.0]])
    n_tok = np.array([[1, 3, 0], [1, 2, 4]])
    p = llm_options.options_to_probs(logprob, n_tok)
    np.testing.assert_allclose(p[0], [1 / (1 + np.exp(-2)), np.exp(-2) / (1 + np.exp(-2)), 0.0])
    np.testing.assert_allclose(p[1, 0], p[1, 1])
    q = llm_options.options_to_probs(logprob, n_tok, length_normalize=True)  # means: -1, -1, . | -2, -1, -1
    np.testing.assert_allclose(q[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(q[1], np.exp([-2, -1, -1]) / np.exp([-2, -1, -1]).sum())


def test_classes_mode_progress_is_monotone_and_complete(tiny, tmp_path):
    ds = _dataset(tmp_path, pd.DataFrame({"text": TEXTS, "label": ["World", "Sports"] * 4}))
    events = []
    ctx = RunContext(on_progress=events.append, min_interval_s=0)
    res = LLMScorer(tiny, device="cpu", batch_size=2).score(ds, ctx)
    assert res.pred_probs.shape == (8, 2) and np.allclose(res.pred_probs.sum(1), 1)
    assert res.embeddings.shape == (8, 32) and res.extra["mode"] == "classes"
    assert res.model == tiny.name and res.device == "cpu" and res.in_sample is False
    done = [e.done for e in events if e.stage == "scoring"]
    assert done == sorted(done) and done[-1] == events[-1].total == 8
    assert res.extra["llm_correct"].shape == (8,) and len(res.extra["content_free_probs"]) == 2


def test_cancel_mid_run_raises_promptly(tiny, tmp_path):
    ds = _dataset(tmp_path, pd.DataFrame({"text": TEXTS * 4, "label": ["World", "Sports"] * 16}))
    ctx = RunContext(min_interval_s=0)
    seen = []

    def on_progress(event):
        seen.append(event.done)
        if event.done > 0:
            ctx.cancel()

    ctx.on_progress = on_progress
    with pytest.raises(Cancelled):
        LLMScorer(tiny, device="cpu", batch_size=2).score(ds, ctx)
    assert max(seen) == 2  # stopped right after the first batch


@pytest.mark.parametrize("layout", ["json", "pipes", "columns", "letters"])
def test_multiple_choice_layouts_and_answers(tiny, tmp_path, layout):
    opts = [["Paris", "Banana", "Ocean"], ["Cat", "Cow", "Fish"], ["Green", "Red", "Blue"], ["1", "2", "3"]]
    frame = pd.DataFrame({"question": ["Capital of France?", "Says moo?", "Sky colour?", "One plus one?"]})
    if layout == "json":
        frame["options"], frame["label"] = [json.dumps(o) for o in opts], [0, 1, 2, 1]
    elif layout == "pipes":
        frame["choices"], frame["label"] = [" | ".join(o) for o in opts], [1, 2, 3, 2]  # 1-based (3 occurs)
    else:
        names = ["option_a", "option_b", "option_c"] if layout == "columns" else ["A", "B", "C"]
        for j, c in enumerate(names):
            frame[c] = [o[j] for o in opts]
        frame["label"] = ["A", "B", "C", "B"]
    ds = _dataset(tmp_path, frame)
    res = LLMScorer(tiny, device="cpu").score(ds, RunContext())
    assert res.extra["mode"] == "multiple_choice"
    assert res.pred_probs.shape == (4, 3) and np.allclose(res.pred_probs.sum(1), 1)
    # the labelled answers are options 0, 1, 2, 1 in every layout
    expected = res.pred_probs.argmax(1) == np.array([0, 1, 2, 1])
    assert np.array_equal(res.extra["llm_correct"], expected)


def test_permute_options_averages_the_orders_and_reports_position_bias(tiny, tmp_path):
    frame = pd.DataFrame({"question": [f"Question {i}?" for i in range(6)],
                          "options": ["alpha|beta|gamma|delta"] * 5 + ["yes|no"], "answer": list("ABCDAB")})
    ds = _dataset(tmp_path, frame, label_col="answer")
    res = LLMScorer(tiny, device="cpu", permute_options=3).score(ds, RunContext())
    bias = res.extra["position_bias"]
    assert bias["orders"] == 3 and 0.0 <= bias["conflict_rate"] <= 1.0
    # 5 rows x 3 orders + the 2-option row x 2 orders: each (row, order) counted once by its right answer's position
    assert sum(v["n"] for v in bias["accuracy_by_gold_position"].values()) == 5 * 3 + 2
    assert abs(sum(bias["pick_share_by_position"]) - 1) < 1e-9
    assert res.pred_probs.shape == (6, 4) and res.embeddings.shape == (6, 32)
    assert res.pred_probs[5, 2:].sum() == 0 and np.allclose(res.pred_probs.sum(1), 1)
    # the balanced probabilities are the mean over orders: order 0 alone is the plain listed-prompt score
    single = LLMScorer(tiny, device="cpu", prompt="Question: {question}\n{options}\nAnswer:").score(ds, RunContext())
    assert bias["single_order"]["accuracy"] == pytest.approx(np.mean(single.pred_probs.argmax(1) == [0, 1, 2, 3, 0, 1]))


def test_position_report_by_hand():
    # two rows, two options, two orders; row 0 always picks shown position A (pure position bias)
    per_order = np.array([[[0.9, 0.1], [0.2, 0.8]],   # order 0: row 0 shows (opt0, opt1); picks opt0
                          [[0.1, 0.9], [0.3, 0.7]]])  # order 1: row 0 shows (opt1, opt0); picks opt1 = shown A
    report = llm.position_report(per_order, np.array([2, 2]), np.array([0, 1]))
    assert report["conflict_rate"] == 0.5  # row 0 changes its answer with the order, row 1 does not
    # right answer shown at A: row 0 order 0 (picked), row 1 order 1 (picked); at B: row 0 order 1 (missed), row 1 order 0
    assert report["accuracy_by_gold_position"] == {"A": {"accuracy": 1.0, "n": 2}, "B": {"accuracy": 0.5, "n": 2}}
    assert report["pick_share_by_position"] == [0.75, 0.25]
    assert report["position_mass"] == pytest.approx([(0.9 + 0.2 + 0.9 + 0.7) / 4, (0.1 + 0.8 + 0.1 + 0.3) / 4])
    assert report["single_order"]["accuracy"] == 1.0 and report["balanced"]["accuracy"] == 1.0
    assert report["balanced"]["ece"] == pytest.approx(abs(1 - 0.5) / 2 + abs(1 - 0.75) / 2)


def test_p_true_columns_follow_class_order(tiny, tmp_path):
    frame = pd.DataFrame({"question": ["Capital of France?"] * 4, "proposed_answer": ["Paris", "Rome"] * 2,
                          "label": ["yes", "no", "yes", "no"]})
    ds = _dataset(tmp_path, frame)
    assert ds.class_names == ["no", "yes"]
    res = LLMScorer(tiny, device="cpu").score(ds, RunContext())
    assert res.extra["mode"] == "p_true"
    np.testing.assert_allclose(res.pred_probs[:, 1], res.extra["p_true"])
    assert list(res.extra["llm_correct"]) == [True, False, True, False]


def test_user_mistakes_name_the_row_or_column(tiny, tmp_path):
    bad_options = pd.DataFrame({"question": ["q1", "q2"], "options": ['["a", "b"]', "only one"], "label": [0, 1]})
    with pytest.raises(InputError, match=r"row 1: column 'options' needs at least 2"):
        LLMScorer(tiny, device="cpu").score(_dataset(tmp_path, bad_options), RunContext())
    not_bool = pd.DataFrame({"question": ["q1", "q2"], "proposed_answer": ["a", "b"], "label": ["cat", "dog"]})
    with pytest.raises(InputError, match="label column 'label': must say whether the proposed answer is correct"):
        LLMScorer(tiny, device="cpu").score(_dataset(tmp_path, not_bool, "b.csv"), RunContext())
    with pytest.raises(InputError, match="not a causal language model folder"):
        llm_loading.resolve_causal_lm(tmp_path)
    with pytest.raises(InputError, match=r"must use \{text\}"):
        LLMScorer(tiny, device="cpu", prompt="Category of {question}:").score(
            _dataset(tmp_path, pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}), "c.csv"), RunContext())


# ----------------------------------------------------------------------------- the real SmolLM2


def test_dequantised_cache_holds_the_same_model(smollm):
    import torch

    model, tok = smollm
    folder, gguf, _ = llm_loading.resolve_causal_lm(None)
    cached = llm_loading.gguf_cache_dir(folder, gguf)
    assert (cached / "model.safetensors").is_file() and not list(cached.parent.glob(".partial-*"))
    model2, tok2 = llm_loading._load_folder(cached, torch.float32)
    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\nAnswer: Paris ✓"
    assert tok2(text)["input_ids"] == tok(text)["input_ids"] and tok2.chat_template == tok.chat_template
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.inference_mode():
        assert torch.equal(model(input_ids=ids).logits, model2(input_ids=ids).logits)


def test_smollm_puts_the_obvious_option_first(smollm, tmp_path):
    frame = pd.DataFrame({
        "question": ["What is the capital of France?", "What do bees make?", "What is the opposite of hot?"],
        "option_a": ["Paris", "Honey", "Tall"], "option_b": ["Banana", "Glass", "Cold"], "label": ["A", "A", "B"]})
    res = LLMScorer(device="cpu").score(_dataset(tmp_path, frame), RunContext())
    assert res.model == "SmolLM2-135M-Instruct (GGUF)"
    assert list(res.pred_probs.argmax(1)) == [0, 0, 1]
    assert res.extra["llm_correct"].all()


def test_smollm_sentiment_zero_shot(smollm, tmp_path):
    texts = ["I loved this movie, it was wonderful.", "The script is lazy and the jokes fall flat.",
             "An inspiring and uplifting experience.", "I hated this movie, it was awful."]
    ds = _dataset(tmp_path, pd.DataFrame({"text": texts, "label": ["positive", "negative", "positive", "negative"]}))
    notices = []
    res = LLMScorer(device="cpu").score(ds, RunContext(on_notice=notices.append))
    assert list(res.pred_probs.argmax(1)) == [1, 0, 1, 0]
    assert any("P(IK) skipped" in n for n in notices)  # all four right: nothing to learn


def test_smollm_p_true_and_p_ik(smollm, tmp_path):
    frame = pd.DataFrame({
        "question": ["Who wrote Hamlet?"] * 2 + ["How many legs does a dog have?"] * 2
        + ["What is the capital of Japan?"] * 2,
        "answer": ["William Shakespeare", "Albert Einstein", "Four", "Ten", "Tokyo", "London"],
        "is_correct": [True, False] * 3})
    ds = _dataset(tmp_path, frame, label_col="is_correct")
    res = LLMScorer(device="cpu", folds=2).score(ds, RunContext())
    p_true = res.extra["p_true"]
    assert p_true[0] > p_true[1]  # Shakespeare over Einstein (the 135M model is near chance on most)
    assert res.extra["p_ik"].shape == (6,) and ((res.extra["p_ik"] >= 0) & (res.extra["p_ik"] <= 1)).all()
    assert res.embeddings.shape == (6, 576) and res.embeddings.dtype == np.float32


def test_smollm_permuted_orders_end_to_end(smollm, tmp_path, capsys):
    """audit --model llm --permute-options 2 on four questions: position bias and balanced scores in summary.json."""
    from labelaudit.core.cli import main

    frame = pd.DataFrame({
        "question": ["What is the capital of France?", "What do bees make?", "What is the opposite of hot?",
                     "How many legs does a dog have?"],
        "options": ["Paris|Banana|Glass", "Honey|Glass|Rocks", "Tall|Cold|Blue", "Two|Four|Nine"],
        "label": ["A", "A", "B", "B"]})
    frame.to_csv(tmp_path / "mc.csv", index=False)
    out = tmp_path / "out"
    assert main(["audit", str(tmp_path / "mc.csv"), "--model", "llm", "--device", "cpu", "--permute-options", "2",
                 "--folds", "2", "--out", str(out), "--quiet"]) == 0
    assert "position bias over 2 orders: conflict rate" in capsys.readouterr().out
    bias = json.loads((out / "summary.json").read_text())["position_bias"]
    assert sum(v["n"] for v in bias["accuracy_by_gold_position"].values()) == 8
    assert set(bias["balanced"]) == {"accuracy", "ece"} and set(bias["single_order"]) == {"accuracy", "ece"}

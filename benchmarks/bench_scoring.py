"""Throughput of the probe's embedding path against sentence-transformers and a HF pipeline.

One process, the same texts (default 1,000 synthetic short texts of 5-60 words on
four topics, seeded) and the same model folder (default: the bundled
all-MiniLM-L6-v2), on the same device:

  (i)   engine    core.scoring.probe.TextEncoder.encode (batched tokenizer, longest-first
                  batches with dynamic padding, inference_mode; no cache)
  (ii)  st        sentence_transformers.SentenceTransformer(folder).encode(texts)
  (iii) pipeline  transformers pipeline("feature-extraction") called one text at a time,
                  mean-pooled and normalised
  (iv)  --int8    the engine with int8 dynamic quantisation (CPU only): its speed, and the
                  share of predicted labels (5-fold logistic-regression probe on the topics)
                  that agree with the exact engine

Each method is warmed up once, then the methods run interleaved for --rounds rounds;
the table shows the median examples/s (and the best), ratios use the medians. Model
loading is not timed. Then, if benchmarks/bench_llm.py is present, its
run_llm_benchmark() prints the LLM section.

Targets on the 2-core CPU: engine >= 1.0x st and >= 1.6x pipeline; int8 >= 99%
agreement and >= 1.5x st.

    python benchmarks/bench_scoring.py [--n 1000] [--rounds 3] [--device auto] [--int8] [--batch-size N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


TOPICS = {
    "sport": "match goal team coach striker league season referee stadium keeper final tournament".split(),
    "food": "recipe oven flour butter garlic sauce dinner simmer bake onion pepper dessert".split(),
    "money": "stock market bank loan interest investor shares bond profit inflation budget price".split(),
    "tech": "laptop software server network update bug release keyboard battery screen app code".split(),
}
FILLER = ("the a and with of today really very this that we they it was is on in for my our "
          "after before about again still never always maybe quite rather").split()
TEMPLATES = [
    "{a} {b} and {c} were the talk of {f} {g} week",
    "I think the {a} was {f} {b} but the {c} {g}",
    "Yesterday {f} {a} {g} {b} {c}",
    "Why does every {a} need a {b}",
]


def synthetic_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """n texts of 5-60 words, each on one of len(TOPICS) topics (few topic words among filler and a
    distractor topic, so the probe task is not trivial), and their topic index; seeded."""
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    texts, labels = [], rng.integers(0, len(names), n)
    for y in labels:
        vocab = TOPICS[names[y]]
        length = int(rng.integers(5, 61))
        other = TOPICS[names[int(rng.integers(len(names)))]]  # a distractor topic, often another one
        head = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(
            a=vocab[int(rng.integers(len(vocab)))],
            **{k: other[int(rng.integers(len(other)))] for k in "bc"},
            **{k: FILLER[int(rng.integers(len(FILLER)))] for k in "fg"},
        ).split()
        words = head + [
            vocab[int(rng.integers(len(vocab)))] if rng.random() < 0.08 else FILLER[int(rng.integers(len(FILLER)))]
            for _ in range(max(length - len(head), 0))
        ]
        texts.append(" ".join(words[:length]).capitalize() + ".")
    return texts, labels


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--model", default=None, help="embedding-model folder (default: bundled all-MiniLM-L6-v2)")
    ap.add_argument("--int8", action="store_true", help="also time int8 dynamic quantisation and its agreement")
    ap.add_argument("--no-llm", action="store_true", help="skip the LLM section")
    args = ap.parse_args(argv)

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from labelaudit.core.progress import RunContext
    from labelaudit.core.scoring.device import device_label, pick_device
    from labelaudit.core.scoring.probe import TextEncoder, bundled_model_folder, cross_val_probs

    hf_logging.disable_progress_bar()
    folder = Path(args.model) if args.model else bundled_model_folder()
    device = pick_device(args.device)
    texts, topics = synthetic_texts(args.n)
    words = [len(t.split()) for t in texts]
    print(f"device: {device_label(device)}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs")
    print(f"model: {folder}")
    print(f"texts: {len(texts)} synthetic, {min(words)}-{max(words)} words (mean {np.mean(words):.1f}); "
          f"{args.rounds} interleaved rounds after one warm-up each")

    ctx = RunContext()
    engine = TextEncoder(folder, device=args.device)
    st = SentenceTransformer(str(folder), device=str(device))
    pipe = pipeline("feature-extraction", model=str(folder), device=device)
    max_len = engine.max_length

    def run_engine():
        return engine.encode(texts, ctx, batch_size=args.batch_size)

    def run_st():
        return st.encode(texts, convert_to_numpy=True, show_progress_bar=False)

    def run_pipeline():
        out = np.empty((len(texts), engine.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            h = np.asarray(pipe(t, truncation=True, max_length=max_len)[0], dtype=np.float32)
            v = h.mean(axis=0)
            out[i] = v / np.linalg.norm(v)
        return out

    methods = {"engine": run_engine, "sentence-transformers": run_st, "pipeline (1 text/call)": run_pipeline}
    if args.int8:
        if device.type != "cpu":
            print("int8: skipped (dynamic quantisation runs on CPU only)")
        else:
            engine8 = TextEncoder(folder, device="cpu", quantize=True)
            methods["engine --int8"] = lambda: engine8.encode(texts, ctx, batch_size=args.batch_size)

    outputs, rates = {}, {name: [] for name in methods}
    for name, fn in methods.items():  # warm-up
        if name.startswith("pipeline"):
            [pipe(t) for t in texts[:16]]
        else:
            fn()
    for _ in range(args.rounds):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            outputs[name] = fn()
            rates[name].append(len(texts) / (time.perf_counter() - t0))

    med = {name: statistics.median(r) for name, r in rates.items()}
    print(f"\n{'method':<26}{'median ex/s':>12}{'best ex/s':>11}{'engine / this':>15}  cosine to engine (min)")
    for name in methods:
        cos = float((outputs[name] * outputs["engine"]).sum(1).min())
        print(f"{name:<26}{med[name]:>12.1f}{max(rates[name]):>11.1f}{med['engine'] / med[name]:>14.2f}x  {cos:.6f}")
    print(f"\nengine vs sentence-transformers: {med['engine'] / med['sentence-transformers']:.2f}x (target >= 1.0x)")
    print(f"engine vs pipeline, one text per call: {med['engine'] / med['pipeline (1 text/call)']:.2f}x (target >= 1.6x)")
    if "engine --int8" in methods:
        kw = dict(folds=5, seed=0, ctx=ctx)
        exact = cross_val_probs(outputs["engine"], topics, len(TOPICS), **kw).argmax(1)
        fast = cross_val_probs(outputs["engine --int8"], topics, len(TOPICS), **kw).argmax(1)
        print(f"int8 vs sentence-transformers: {med['engine --int8'] / med['sentence-transformers']:.2f}x "
              f"(target >= 1.5x); predicted labels agreeing with the exact engine: {np.mean(exact == fast):.2%} "
              f"(target >= 99%); probe accuracy exact {np.mean(exact == topics):.2%}, int8 {np.mean(fast == topics):.2%}")

    if not args.no_llm:
        try:
            from bench_llm import run_llm_benchmark
        except ModuleNotFoundError as err:
            if err.name != "bench_llm":
                raise
            print("\nLLM section: benchmarks/bench_llm.py not present, skipped")
        else:
            print()
            run_llm_benchmark(device=args.device)


if __name__ == "__main__":
    main()

"""Time and memory of the lm-eval benchmark review on MMLU-sized files.

Writes --models models' samples files of one task with --questions 4-option
questions each (5-shot prompts, as lm-eval v0.4.11 writes them, through
tests/helpers/lm_eval_writer.py), then times core.lm_eval_benchmark's whole
review (read, align, probabilities, flags, calibration, correctness model,
files) and prints the wall time and the peak resident memory of this process.

    python benchmarks/bench_lm_eval.py [--questions 14042] [--models 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
from lm_eval_writer import make_samples, write_samples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=14042)
    parser.add_argument("--models", type=int, default=3)
    args = parser.parse_args()
    from labelaudit.core.lm_eval_benchmark import run_lm_eval_benchmark

    rng = np.random.default_rng(0)
    shots = "The following are multiple choice questions (with answers).\n\n" + (
        "Example question?\nA. x\nB. y\nC. z\nD. w\nAnswer: A\n\n" * 5)
    docs = [{"question": shots + f"Question {i}?", "choices": ["A", "B", "C", "D"], "answer": int(rng.integers(4))}
            for i in range(args.questions)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for m in range(args.models):
            lls = []
            for d in docs:
                ll = -rng.gamma(2.0, 1.0, 4)
                ll[d["answer"]] += (m + 1) * rng.random()
                lls.append(ll - ll.max() - 0.1)
            write_samples(root / "runs" / f"model-{m}", "mmlu", make_samples(docs, lls, version="0.4.11"),
                          version="0.4.11")
        size = sum(f.stat().st_size for f in (root / "runs").rglob("*.jsonl"))
        t0 = time.perf_counter()
        review = run_lm_eval_benchmark(lm_eval_dir=root / "runs", out=root / "out")["mmlu"]
        elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.models} models x {args.questions:,} questions ({size / 1e6:.0f} MB of samples files): "
          f"review {elapsed:.1f} s, {int(review.questions['is_flagged'].sum()):,} keys flagged, "
          f"peak RSS {peak_mb:.0f} MB (including writing the files)")


if __name__ == "__main__":
    main()

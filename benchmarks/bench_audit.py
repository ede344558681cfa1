"""Time and memory of the whole label + calibration audit against cleanlab alone.

Synthetic data: N x K pred_probs (default 1,000,000 x 10), each row a Dirichlet
draw peaked on its true class (alpha 4 on the true class, 0.4 elsewhere), and
5% of the labels moved to another class; seeded. The whole audit is
run_label_audit + calibration_metrics + reliability_bins (equal_width and
equal_mass); the peer is cleanlab.filter.find_label_issues(labels, pred_probs)
with its defaults, in the same process. Prints the best and median wall time
of --repeats runs, CPU time, the ratio, and peak RSS (ru_maxrss) against the
pred_probs bytes, both as the whole process and as the increase over the
baseline measured just before the array is created (Python, numpy, pandas,
cleanlab and sklearn already imported and warmed up).

Targets: whole audit <= 3 s on the 2-core development machine, peak RSS
<= 3x the pred_probs bytes.

    python benchmarks/bench_audit.py [--n 1000000] [--k 10] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np


from labelaudit.core.audit import run_label_audit  # noqa: E402
from labelaudit.core.calibration import calibration_metrics, reliability_bins  # noqa: E402

MB = 1024 * 1024


def peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def synthetic(n: int, k: int, seed: int, flip: float = 0.05, chunk: int = 50_000):
    """(labels, pred_probs, flipped): built chunk by chunk so generation adds no large temporaries."""
    rng = np.random.default_rng(seed)
    pred_probs = np.empty((n, k), dtype=np.float64)
    labels = np.empty(n, dtype=np.int64)
    flipped = np.empty(n, dtype=bool)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        true = rng.integers(0, k, m)
        alpha = np.full((m, k), 0.4)
        alpha[np.arange(m), true] = 4.0
        g = rng.gamma(alpha)
        pred_probs[start : start + m] = g / g.sum(1, keepdims=True)
        f = rng.random(m) < flip
        given = true.copy()
        given[f] = (true[f] + rng.integers(1, k, f.sum())) % k
        labels[start : start + m], flipped[start : start + m] = given, f
    return labels, pred_probs, flipped


def whole_audit(labels, pred_probs) -> tuple[dict, object]:
    times = {}
    t = time.perf_counter()
    audit = run_label_audit(labels, pred_probs)
    times["run_label_audit"] = time.perf_counter() - t
    t = time.perf_counter()
    calibration_metrics(pred_probs, labels)
    times["calibration_metrics"] = time.perf_counter() - t
    for strategy in ("equal_width", "equal_mass"):
        t = time.perf_counter()
        reliability_bins(pred_probs, labels, strategy=strategy)
        times[f"reliability_bins[{strategy}]"] = time.perf_counter() - t
    return times, audit


def cleanlab_alone(labels, pred_probs):
    from cleanlab.filter import find_label_issues

    return find_label_issues(labels, pred_probs)


def timed(fn, repeats):
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # warm up: lazy imports (cleanlab, sklearn, pandas internals) happen here, not in the timings
    w_labels, w_probs, _ = synthetic(2000, args.k, 1)
    whole_audit(w_labels, w_probs)
    cleanlab_alone(w_labels, w_probs)
    del w_labels, w_probs
    baseline = peak_rss()

    labels, pred_probs, flipped = synthetic(args.n, args.k, args.seed)
    nbytes = pred_probs.nbytes
    after_data = peak_rss()

    walls, cpus, _ = timed(lambda: whole_audit(labels, pred_probs)[0], args.repeats)
    steps, audit = whole_audit(labels, pred_probs)
    audit_peak = peak_rss()
    flags = audit.examples["is_label_issue"].to_numpy()
    del audit

    c_walls, c_cpus, c_flags = timed(lambda: cleanlab_alone(labels, pred_probs), args.repeats)
    cleanlab_peak = peak_rss()

    print(f"labelaudit bench_audit: {args.n:,} x {args.k} pred_probs (float64, {nbytes / MB:.0f} MiB), seed {args.seed}")
    print(f"cpu cores: {os.cpu_count()}, load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"flags identical to cleanlab.filter.find_label_issues: {bool(np.array_equal(flags, c_flags))}")
    print(f"flagged {int(flags.sum()):,}; planted flips {int(flipped.sum()):,}, of them flagged {int((flags & flipped).sum()):,}")
    best, med = min(walls), statistics.median(walls)
    c_best, c_med = min(c_walls), statistics.median(c_walls)
    print(f"whole audit   wall best {best:.2f} s, median {med:.2f} s, cpu best {min(cpus):.2f} s  (target <= 3 s)")
    print("  last run: " + ", ".join(f"{name} {t:.2f} s" for name, t in steps.items()))
    print(f"cleanlab find_label_issues alone (defaults)   wall best {c_best:.2f} s, median {c_med:.2f} s, "
          f"cpu (this process) best {min(c_cpus):.2f} s")
    print(f"ratio whole audit / cleanlab alone: best {best / c_best:.2f}, median {med / c_med:.2f}")
    print(f"peak RSS baseline (imports, before the array) {baseline / MB:.0f} MiB; after creating it {after_data / MB:.0f} MiB")
    print(f"peak RSS after the whole audit {audit_peak / MB:.0f} MiB = {audit_peak / nbytes:.2f}x pred_probs bytes; "
          f"increase over baseline {(audit_peak - baseline) / MB:.0f} MiB = {(audit_peak - baseline) / nbytes:.2f}x  "
          f"(target <= 3x)")
    print(f"  of which the audit's own working memory and results (over the peak after creating the data): "
          f"{(audit_peak - after_data) / MB:.0f} MiB = {(audit_peak - after_data) / nbytes:.2f}x")
    print(f"peak RSS after cleanlab alone {cleanlab_peak / MB:.0f} MiB; increase over baseline "
          f"{(cleanlab_peak - baseline) / MB:.0f} MiB = {(cleanlab_peak - baseline) / nbytes:.2f}x")


if __name__ == "__main__":
    main()

"""Time and memory of the whole label + calibration audit against cleanlab alone,
and of the out-of-core CLI run on big prediction files.

From --rows 2,000,000 on (core.audit_stream.STREAM_MIN_ROWS) the script writes
labels.npy and a float32 pred_probs.npy of that shape to --dir (chunk by chunk),
then times what ``labelaudit audit labels.npy --pred-probs pred_probs.npy --out
DIR`` does (run_audit + write_outputs, in this process) and prints met / not met
for the targets of issue 12: 10M x 3 in <= 1 GiB and <= 8 s; 50M x 10 in <= 1.5
GiB. Memory is the peak of anonymous resident memory (RssAnon in
/proc/self/status, sampled every 5 ms by a thread) over its value just before
the run: a memory map's file pages count in RSS but are the page cache, not the
process's memory, so ru_maxrss would count the whole file. The files are
deleted afterwards unless --keep.

Below that size it measures the in-memory audit:

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

    python benchmarks/bench_audit.py [--rows 1000000] [--classes 10] [--repeats 3] [--seed 0]
    python benchmarks/bench_audit.py --rows 10000000 --classes 3 [--dir /tmp]
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
    parser.add_argument("--rows", "--n", dest="n", type=int, default=1_000_000)
    parser.add_argument("--classes", "--k", dest="k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", default=None, help="folder for the big files (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the big files")
    parser.add_argument("--in-memory", action="store_true",
                        help="big files through the in-memory path instead (for comparison)")
    parser.add_argument("--files", nargs=2, metavar=("LABELS", "PRED_PROBS"),
                        help="audit these .npy files (of --rows x --classes) instead of writing new ones")
    args = parser.parse_args()
    from labelaudit.core.audit_stream import STREAM_MIN_ROWS

    if args.n >= STREAM_MIN_ROWS:
        out_of_core(args)
        return

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


def rss_anon() -> int:
    """Anonymous resident memory of this process now, in bytes (Linux /proc/self/status)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status (Linux only)")


class PeakSampler:
    """Samples RssAnon every ``interval_s`` on a thread; ``peak`` is the largest value seen."""

    def __init__(self, interval_s: float = 0.005):
        import threading

        self.interval_s, self.peak = interval_s, rss_anon()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_anon())

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_anon())


def write_big_files(folder, n: int, k: int, seed: int, chunk: int = 1_000_000) -> tuple[str, str]:
    """labels.npy (int64) and pred_probs.npy (float32) of the synthetic data, written chunk by chunk."""
    from pathlib import Path

    folder = Path(folder)
    probs = np.lib.format.open_memmap(folder / "pred_probs.npy", mode="w+", dtype=np.float32, shape=(n, k))
    labels = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.int64, shape=(n,))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        lab, p, _ = synthetic(m, k, seed + start, chunk=m)
        probs[start: start + m] = p
        labels[start: start + m] = lab
    probs.flush()
    labels.flush()
    del probs, labels
    return str(folder / "labels.npy"), str(folder / "pred_probs.npy")


TARGETS = {(10_000_000, 3): (1.0, 8.0), (50_000_000, 10): (1.5, None)}  # (GiB, seconds) per (rows, classes)


def out_of_core(args) -> None:
    import shutil
    import tempfile

    from labelaudit.core.export import write_outputs
    from labelaudit.core.pipeline import AuditConfig, run_audit
    from labelaudit.core.progress import RunContext

    folder = tempfile.mkdtemp(prefix="bench_audit_", dir=args.dir)
    try:
        print(f"free disk in {folder}: {shutil.disk_usage(folder).free / 2**30:.1f} GiB")
        t = time.perf_counter()
        if args.files:
            labels_path, probs_path = args.files
        else:
            labels_path, probs_path = write_big_files(folder, args.n, args.k, args.seed)
        print(f"{'using' if args.files else 'wrote'} {args.n:,} x {args.k} float32 pred_probs ({os.path.getsize(probs_path) / MB:,.0f} MiB) and "
              f"int64 labels in {time.perf_counter() - t:.1f} s")
        # warm up imports (cleanlab, pyarrow, sklearn) on a small run of the same path
        small = os.path.join(folder, "small")
        os.mkdir(small)
        sl, sp = write_big_files(small, 5000, args.k, 1)
        import labelaudit.core.audit_stream as stream

        stream.STREAM_MIN_ROWS, saved = 1000, stream.STREAM_MIN_ROWS
        write_outputs(run_audit(AuditConfig(data=sl, pred_probs=sp), RunContext()), os.path.join(small, "out"))
        stream.STREAM_MIN_ROWS = saved

        if args.in_memory:
            stream.STREAM_MIN_ROWS = 10**15
        config = AuditConfig(data=labels_path, pred_probs=probs_path)
        out = os.path.join(folder, "out")
        base = rss_anon()
        with PeakSampler() as sampler:
            w, c = time.perf_counter(), time.process_time()
            report = run_audit(config, RunContext())
            t_audit, c_audit = time.perf_counter() - w, time.process_time() - c
            write_outputs(report, out)
            wall, cpu = time.perf_counter() - w, time.process_time() - c
        peak = sampler.peak - base
        s = report.summary
        how = ("in memory (--in-memory)" if args.in_memory else
               f"out of core, {s['out_of_core']['chunks']} chunks of {s['out_of_core']['chunk_rows']:,} rows")
        print(f"labelaudit bench_audit: {args.n:,} x {args.k}, seed {args.seed}, {how}")
        print(f"cpu cores: {os.cpu_count()}, load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"flagged {s['n_label_issues']:,}; ECE {s['calibration']['ece']:.4f}, AUROC {s['calibration']['auroc']:.4f}")
        print(f"wall {wall:.2f} s (audit {t_audit:.2f} s, writing the files {wall - t_audit:.2f} s), "
              f"cpu {cpu:.2f} s (audit {c_audit:.2f} s, writing {cpu - c_audit:.2f} s; all threads)")
        steps = {**s["timings_s"], **{k: round(v, 2) for k, v in getattr(report, "write_timings", {}).items()}}
        print("  steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
        print(f"peak anonymous memory over the baseline (RssAnon before the run: {base / MB:.0f} MiB): {peak / MB:,.0f} MiB")
        sizes = {name: os.path.getsize(os.path.join(out, name)) / MB for name in sorted(os.listdir(out))}
        print("files: " + ", ".join(f"{name} {size:,.0f} MiB" for name, size in sizes.items()))
        target = TARGETS.get((args.n, args.k))
        if target:
            gib, secs = target
            ok_mem = peak <= gib * 2**30
            print(f"target memory <= {gib} GiB: {'met' if ok_mem else 'NOT met'} ({peak / 2**30:.2f} GiB)")
            if secs is not None:
                print(f"target time <= {secs:.0f} s: {'met' if wall <= secs else 'NOT met'} ({wall:.2f} s)")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

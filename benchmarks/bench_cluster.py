"""Throughput of the probe's sentence embeddings on this machine vs on a local Ray cluster.

Encodes --texts synthetic sentences (default 20,000, 4-24 words from a topic vocabulary,
seeded) with the bundled all-MiniLM-L6-v2 on the CPU, first in this process
(core.scoring.probe.TextEncoder, all cores), then through ``--cluster local:N`` for each
N in --workers (core.scoring.cluster: Ray Data map_batches over N actors, one model copy
each, one CPU slot each). Prints for each: wall time, texts/s, the startup time until the
first batch came back (actor processes, imports, model load), the steady rate after it,
the steady rate per worker, and the largest difference to the local embeddings.

On this 2-core machine no speed-up is expected: Ray's workers share the same two cores
that the local run already uses, and pay for process startup and data transfer. What
carries over to a cluster is the per-worker steady rate; the README's "Scaling out"
section projects throughput from it.

    python benchmarks/bench_cluster.py [--texts 20000] [--workers 1 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from labelaudit.core.progress import RunContext
from labelaudit.core.scoring import cluster
from labelaudit.core.scoring.probe import TextEncoder, bundled_model_folder

WORDS = ("goal match team coach player league score season recipe oven flour sugar butter bake dinner sauce "
         "stock market bank loan interest rate investor profit the a and with of today really very this that").split()


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 25)))) for _ in range(n)]


class Timer:
    """Progress listener: when the first batch of a stage came back."""

    def __init__(self):
        self.start = time.perf_counter()
        self.first = None

    def __call__(self, ev) -> None:
        if ev.done > 0 and self.first is None:
            self.first = (time.perf_counter() - self.start, ev.done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    data = texts(args.texts)
    folder = bundled_model_folder()
    print(f"labelaudit bench_cluster: {len(data):,} texts, all-MiniLM-L6-v2 on CPU, batch size {args.batch_size}")
    print(f"cpu cores: {os.cpu_count()}, load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")

    t = time.perf_counter()
    encoder = TextEncoder(folder, device="cpu")
    load = time.perf_counter() - t
    t = time.perf_counter()
    local = encoder.encode(data, RunContext(), batch_size=args.batch_size)
    wall = time.perf_counter() - t
    local_rate = len(data) / wall
    print(f"local (this process, all cores): model load {load:.1f} s, encode {wall:.1f} s = {local_rate:,.0f} texts/s")

    for n in args.workers:
        spec = cluster.ClusterSpec("local", workers=n)
        t = time.perf_counter()
        cluster.connect(spec)
        start_ray = time.perf_counter() - t
        timer = Timer()
        factory = cluster.TextEncoderFactory(folder, device="cpu", batch_size=args.batch_size)
        t = time.perf_counter()
        emb = cluster.encode_texts(data, factory, spec, ctx=RunContext(on_progress=timer, min_interval_s=0),
                                   batch_size=args.batch_size)
        wall = time.perf_counter() - t
        first_s, first_rows = timer.first or (wall, len(data))
        steady = (len(data) - first_rows) / max(wall - first_s, 1e-9)
        diff = float(np.abs(emb - local).max())
        print(f"Ray local:{n}: start Ray {start_ray:.1f} s; encode {wall:.1f} s = {len(data) / wall:,.0f} texts/s "
              f"({len(data) / wall / local_rate:.2f}x local); first batch back after {first_s:.1f} s; steady "
              f"{steady:,.0f} texts/s = {steady / n:,.0f} per worker; max |emb - local| {diff:.1e}")
        cluster.shutdown()
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

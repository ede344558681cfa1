"""Scoring on a Ray cluster: the expensive forward passes as Ray Data ``map_batches`` over an actor pool.

``--cluster auto|local[:N]|ray://HOST:PORT`` runs the model part of a scorer on Ray:
the probe's sentence embeddings and an HF classifier's forward passes. Each actor
loads the model once (one actor per GPU, or per CPU slot when the cluster has no
GPU) and receives batches of inputs streamed from the driver through Ray's object
store, so the inputs need not be on the workers' disks; the model folder (and
labelaudit itself) must be installed at the same path on every worker. The K-fold
probe fit and the audit stay on the driver. A worker that dies is restarted and
its batch retried (Ray Data's actor pools default ``max_restarts`` and
``max_task_retries`` to -1), so the result is unchanged. Progress counts the rows that came back; cancel stops between batches.

``parse_cluster(text)`` -> ClusterSpec; ``ray_map(inputs, factory, spec, ctx=...)``
-> the factory's outputs for every input, in input order. Ray is an optional extra
(``pip install labelaudit[cluster]``), imported here only.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from ..progress import RunContext

INSTALL_HINT = "pip install labelaudit[cluster]"
BLOCK_ROWS = 1024  # inputs per Ray Data block sent from the driver


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``kind`` "auto" (an existing cluster, else a local one), "local" (a
    new local cluster of ``workers`` CPU slots, default all cores) or "client" (``address``
    ray://HOST:PORT)."""

    kind: str
    workers: int | None = None
    address: str | None = None

    def __str__(self) -> str:
        if self.kind == "client":
            return self.address or ""
        return f"local:{self.workers}" if self.kind == "local" and self.workers else self.kind


def parse_cluster(text: str) -> ClusterSpec:
    """``auto``, ``local``, ``local:N`` or ``ray://HOST:PORT`` -> ClusterSpec; InputError otherwise."""
    value = str(text).strip()
    if value == "auto":
        return ClusterSpec("auto")
    m = re.fullmatch(r"local(?::(\d+))?", value)
    if m:
        workers = int(m.group(1)) if m.group(1) else None
        if workers is not None and workers < 1:
            raise InputError(f"--cluster {value}: the number of local workers must be at least 1")
        return ClusterSpec("local", workers=workers)
    if re.fullmatch(r"ray://[^\s:/]+:\d+", value):
        return ClusterSpec("client", address=value)
    raise InputError(f"--cluster {value!r}: expected auto, local, local:N or ray://HOST:PORT")


def require_ray():
    """The ``ray`` module with Ray Data, or InputError saying what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise InputError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


_LOCK = threading.Lock()
_STARTED: list[ClusterSpec] = []  # the spec this process started Ray with (shut down at exit)


def connect(spec: ClusterSpec):
    """Start or join the cluster of ``spec`` once per process (a later, different spec restarts it)."""
    ray = require_ray()
    with _LOCK:
        if ray.is_initialized():
            if _STARTED and _STARTED[0] == spec:
                return ray
            ray.shutdown()
            _STARTED.clear()
        # a local cluster's workers do the run's scoring: at Ray's default niceness (15) any other busy
        # process on the machine starves them, where the same scoring in-process would share the CPU
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                      _system_config={"worker_niceness": 0})
        try:
            if spec.kind == "client":
                ray.init(address=spec.address, log_to_driver=False)
            elif spec.kind == "local":
                ray.init(address="local", num_cpus=spec.workers or os.cpu_count() or 1, **kwargs)
            else:  # auto: the running cluster (RAY_ADDRESS, or one started here with `ray start`), else a local one
                try:
                    ray.init(address="auto", log_to_driver=False)
                except ConnectionError:
                    ray.init(address="local", **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise InputError(f"--cluster {spec}: cannot start or reach the Ray cluster ({err})") from None
        ray.data.DataContext.get_current().enable_progress_bars = False  # progress goes through ctx
        if not _STARTED:
            atexit.register(shutdown)
        _STARTED[:] = [spec]
    return ray


def shutdown() -> None:
    """Leave (or stop, for a local one) the cluster this process joined; safe to call twice."""
    with _LOCK:
        if _STARTED:
            import ray

            ray.shutdown()
            _STARTED.clear()


def pool_size(ray, spec: ClusterSpec) -> tuple[int, float]:
    """(actors, GPUs per actor): one actor per GPU, else one per CPU slot (``local:N``: N)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, 1.0
    if spec.kind == "local" and spec.workers:
        return spec.workers, 0.0
    return max(1, int(resources.get("CPU", 1))), 0.0


class _Actor:
    """One model copy: ``factory()`` builds ``fn(list of inputs) -> tuple of (b, ...) arrays``."""

    def __init__(self, factory: Callable):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        self.fn = factory()

    def __call__(self, batch: dict) -> dict:
        outputs = self.fn(list(batch["x"]))
        return {"i": batch["i"], **{f"out{j}": np.asarray(o) for j, o in enumerate(outputs)}}


def ray_map(inputs: Sequence, factory: Callable, spec: ClusterSpec, *, ctx: "RunContext", stage: str,
            batch_size: int = 64, lengths: Sequence[int] | None = None) -> tuple[np.ndarray, ...]:
    """Run ``factory()``'s function over ``inputs`` on the cluster; outputs in input order.

    factory: a picklable callable, run once per actor, returning ``fn(list) -> tuple of
    arrays`` with one row per input. lengths: when given, inputs are sent shortest first,
    so each block pads to similar lengths (as the local path's length-sorted batches do).
    Progress: ``ctx.stage(stage, n)`` advances as batches come back; Cancelled between
    batches after ``ctx.cancel()``.
    """
    import pandas as pd

    ray = connect(spec)
    n = len(inputs)
    actors, gpus = pool_size(ray, spec)
    order = np.argsort(np.asarray(lengths), kind="stable") if lengths is not None else np.arange(n)
    frame = pd.DataFrame({"i": order.astype(np.int64), "x": [inputs[j] for j in order]})
    # blocks small enough that every actor gets several (progress, balance), at most BLOCK_ROWS
    rows = int(min(BLOCK_ROWS, max(batch_size, -(-n // (4 * actors)))))
    blocks = [frame.iloc[s: s + rows] for s in range(0, n, rows)]
    # Ray Data's actor pools restart a dead actor and retry its batch (max_restarts and
    # max_task_retries default to -1 there), so a lost worker does not change the result.
    ds = ray.data.from_pandas(blocks).map_batches(
        _Actor,
        fn_constructor_args=(factory,),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=0 if gpus else 1,
        num_gpus=gpus or None,
    )
    results: list[tuple[np.ndarray, tuple]] = []
    with ctx.stage(stage, n) as st:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            keys = sorted(k for k in batch if k.startswith("out"))
            results.append((batch["i"], tuple(batch[k] for k in keys)))
            st.advance(len(batch["i"]))  # raises Cancelled: the iterator is dropped, Ray stops the pipeline
    order = np.concatenate([i for i, _ in results]) if results else np.empty(0, dtype=np.int64)
    if len(order) != n or not np.array_equal(np.sort(order), np.arange(n)):
        raise RuntimeError(f"Ray returned {len(order)} rows for {n} inputs")
    outputs = []
    for j in range(len(results[0][1]) if results else 0):
        stacked = np.concatenate([outs[j] for _, outs in results])
        out = np.empty_like(stacked)
        out[order] = stacked
        outputs.append(out)
    return tuple(outputs)


# ----------------------------------------------------------------------------- the models


class TextEncoderFactory:
    """Builds, on a worker, the probe's sentence-embedding function (core.scoring.probe.TextEncoder)."""

    def __init__(self, folder, *, device: str = "auto", max_length=None, quantize: bool = False,
                 trust_remote_code: bool = False, batch_size: int | None = None):
        self.kwargs = dict(device=device, max_length=max_length, quantize=quantize,
                           trust_remote_code=trust_remote_code)
        self.folder, self.batch_size = str(folder), batch_size

    def __call__(self):
        from ..progress import RunContext
        from .probe import TextEncoder

        encoder = TextEncoder(self.folder, **self.kwargs)
        return lambda texts: (encoder.encode(texts, RunContext(), batch_size=self.batch_size),)


class ClassifierFactory:
    """Builds, on a worker, an HF text classifier's (probabilities, pooled hidden states) function."""

    def __init__(self, folder, *, device: str = "auto", batch_size: int | None = None,
                 trust_remote_code: bool = False, max_length=None):
        self.folder = str(folder)
        self.kwargs = dict(device=device, batch_size=batch_size, trust_remote_code=trust_remote_code,
                           max_length=max_length)

    def __call__(self):
        from ..progress import RunContext
        from .hf_classifier import HFClassifierScorer

        scorer = HFClassifierScorer(self.folder, **self.kwargs)
        scorer._load()
        return lambda texts: scorer._run_text(texts, RunContext())


def encode_texts(texts: Sequence[str], factory: TextEncoderFactory, spec: ClusterSpec, *, ctx: "RunContext",
                 batch_size: int | None = None) -> np.ndarray:
    """(n, d) float32 sentence embeddings computed on the cluster."""
    (emb,) = ray_map(texts, factory, spec, ctx=ctx, stage="embedding (Ray)", batch_size=batch_size or 64,
                     lengths=[len(t) for t in texts])
    return np.asarray(emb, dtype=np.float32)

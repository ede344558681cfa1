"""The one small protocol every scoring back end follows.

A scorer takes a :class:`core.data.Dataset` and a :class:`core.progress.RunContext`,
reports progress per batch through ``ctx.stage``, stops with
:class:`core.errors.Cancelled` between batches when asked, and returns a
:class:`ScoreResult`. It may run in any thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from ..data import Dataset
    from ..progress import RunContext


@dataclass
class ScoreResult:
    """What a back end produced for a dataset.

    pred_probs: (n, k) float64 rows summing to 1, columns in dataset.class_names order.
    model: a human-readable model name; device: where it ran ("cpu", "cuda:0", ...).
    in_sample: True when the model may have seen these labels (an HF classifier),
      which makes confident learning understate label errors.
    embeddings: (n, d) float32 when the back end has them (for outlier/duplicate checks).
    extra: back-end specific arrays (e.g. "p_true", "p_ik", "llm_correct").
    timings_s: seconds per step.
    """

    pred_probs: np.ndarray
    model: str
    device: str
    in_sample: bool = False
    embeddings: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)


class Scorer(Protocol):
    """A model back end: ``score(dataset, ctx) -> ScoreResult``."""

    name: str

    def score(self, dataset: "Dataset", ctx: "RunContext") -> ScoreResult: ...


def make_scorer(
    model: str | None,
    *,
    dataset: "Dataset",
    device: str = "auto",
    batch_size: int | None = None,
    folds: int = 5,
    seed: int = 0,
    **options,
) -> Scorer:
    """Pick the back end for ``--model``.

    model: None or "probe" -> embedding probe (text) or pixel probe (images);
    "llm" -> the bundled SmolLM2 zero-shot scorer; a folder -> whatever model it holds
    (HF sequence/image classifier, embedding model for the probe, or causal LM).
    Raises InputError for an unknown name or a folder that holds no model.
    """
    from .registry import resolve_scorer

    return resolve_scorer(
        model, dataset=dataset, device=device, batch_size=batch_size, folds=folds, seed=seed, **options
    )

"""The one small protocol every scoring back end follows.

A scorer takes a :class:`core.data.Dataset` and a :class:`core.progress.RunContext`,
reports progress per batch through ``ctx.stage``, stops with
:class:`core.errors.Cancelled` between batches when asked, and returns a
:class:`ScoreResult`. It may run in any thread.

This module is the bottom of the scoring package: the back ends import it, and
:func:`core.scoring.registry.make_scorer` (above the back ends) picks one.
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
    """What one scorer produced for a dataset: the pipeline's input to the audit
    (probabilities, model, device, optional embeddings). Held by AuditReport.score.

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


"""Which examples to flag and how to rank them: the detection method.

A :class:`DetectionMethod` names cleanlab's choices (``filter_by``,
``rank_by``, ``num_issues``, ``frac_noise``) plus ``labelerrors-2021``, the
recipe of "Pervasive Label Errors in Test Sets Destabilize Machine Learning
Benchmarks" (Northcutt, Athalye, Mueller, 2021; cleanlab 1.0):

1. the confident joint *without* calibration (cleanlab 1.0's
   ``compute_confident_joint(calibrate=False)``: per-class threshold = mean
   self-confidence of the examples given that class; an example counts in
   row given label, column = its single class at or above threshold - 1e-6,
   or its argmax when several are; examples with none are not counted),
2. N = int(n * (1 - trace / sum)) of that joint,
3. flag the N examples with the lowest normalized margin
   (p[given] - max p[other]), ties by row.

:func:`flag_issues` turns a method into a boolean mask; :func:`quality_scores`
gives the per-example score the table and the review queue sort by (lower =
more likely wrong). The default method is cleanlab 2.9's
``find_label_issues`` defaults, which core.audit computes on its fast path.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:  # numpy is imported where used, so the CLI's option list starts without it
    import numpy as np

CLEANLAB_FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)
LABELERRORS_2021 = "labelerrors-2021"
FILTER_BY = CLEANLAB_FILTERS + (LABELERRORS_2021,)
RANK_BY = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
DEFAULT_FILTER_BY = "prune_by_noise_rate"
#: filters whose count cleanlab lets ``frac_noise`` scale
FRAC_NOISE_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both")
#: filters that pick the lowest-scored examples, so ``num_issues`` can replace their count
RANKING_FILTERS = (DEFAULT_FILTER_BY, "low_normalized_margin", "low_self_confidence", LABELERRORS_2021)

FILTER_HELP = {
    "prune_by_noise_rate": "cleanlab's default: per class pair, the examples with the largest margin towards the "
    "other class, as many as the calibrated confident joint's off-diagonal count",
    "prune_by_class": "per given class, the lowest self-confidence examples, as many as the confident joint's "
    "off-diagonal count of that class",
    "both": "flagged by both prune_by_noise_rate and prune_by_class (fewest flags)",
    "confident_learning": "the off-diagonal examples of the confident joint",
    "predicted_neq_given": "every example whose argmax differs from the given label (most flags)",
    "low_normalized_margin": "the lowest normalized margins, as many as cleanlab estimates are wrong",
    "low_self_confidence": "the lowest self-confidences, as many as cleanlab estimates are wrong",
    LABELERRORS_2021: "the paper's recipe (cleanlab 1.0): the lowest normalized margins, "
    "N = int(n * (1 - trace/sum)) of the uncalibrated confident joint",
}


@dataclass(frozen=True)
class DetectionMethod:
    """How to flag and rank; checks its values on creation (InputError naming the option).

    filter_by: one of FILTER_BY. rank_by: one of RANK_BY, or None for the
    filter's own measure (normalized margin for low_normalized_margin and
    labelerrors-2021, self-confidence otherwise). num_issues: flag exactly the
    N lowest-ranked examples instead of the filter's count (only with the
    ranking filters). frac_noise: cleanlab's fraction of the estimated count
    to flag, in (0, 1] (only with the prune_by_* filters).
    """

    filter_by: str = DEFAULT_FILTER_BY
    rank_by: str | None = None
    num_issues: int | None = None
    frac_noise: float = 1.0

    def __post_init__(self):
        if self.filter_by not in FILTER_BY:
            raise InputError(f"--filter-by must be one of {', '.join(FILTER_BY)} (got {self.filter_by!r})")
        if self.rank_by is not None and self.rank_by not in RANK_BY:
            raise InputError(f"--rank-by must be one of {', '.join(RANK_BY)} (got {self.rank_by!r})")
        if not 0.0 < float(self.frac_noise) <= 1.0:
            raise InputError(f"--frac-noise must be in (0, 1] (got {self.frac_noise})")
        if self.frac_noise != 1.0 and self.filter_by not in FRAC_NOISE_FILTERS:
            raise InputError(
                f"--frac-noise applies to --filter-by {', '.join(FRAC_NOISE_FILTERS)} only (got {self.filter_by})"
            )
        if self.num_issues is not None:
            if isinstance(self.num_issues, bool) or int(self.num_issues) != self.num_issues or self.num_issues < 0:
                raise InputError(f"--num-issues must be a whole number >= 0 (got {self.num_issues!r})")
            if self.filter_by not in RANKING_FILTERS or self.frac_noise != 1.0:
                raise InputError(
                    f"--num-issues flags the N lowest-ranked examples; it replaces the count of "
                    f"--filter-by {', '.join(RANKING_FILTERS)}, not of {self.filter_by}"
                    + (" with --frac-noise" if self.frac_noise != 1.0 else "")
                )

    @classmethod
    def from_config(cls, config) -> "DetectionMethod":
        """The method of an AuditConfig (or anything with the four attributes; missing ones take defaults)."""
        return cls(
            filter_by=getattr(config, "filter_by", None) or DEFAULT_FILTER_BY,
            rank_by=getattr(config, "rank_by", None) or None,
            num_issues=getattr(config, "num_issues", None),
            frac_noise=float(getattr(config, "frac_noise", None) or 1.0),
        )

    @property
    def rank(self) -> str:
        """The resolved ranking measure."""
        if self.rank_by:
            return self.rank_by
        return "normalized_margin" if self.filter_by in ("low_normalized_margin", LABELERRORS_2021) else "self_confidence"

    @property
    def is_default(self) -> bool:
        """cleanlab 2.9's find_label_issues defaults (core.audit's fast path)."""
        return self.filter_by == DEFAULT_FILTER_BY and self.num_issues is None and self.frac_noise == 1.0

    def describe(self) -> str:
        """One line for people: what is flagged and what ranks it."""
        rank = self.rank.replace("_", " ")
        if self.num_issues is not None:
            flag = f"the {self.num_issues:,} examples with the lowest {rank} (--num-issues)"
        else:
            flag = self.filter_by + (f" (frac_noise {self.frac_noise:g})" if self.frac_noise != 1.0 else "")
        return f"flagged by {flag}; ranked by {rank}"

    def to_dict(self) -> dict:
        return asdict(self)


def quality_scores(labels: np.ndarray, pred_probs: np.ndarray, rank_by: str) -> np.ndarray:
    """cleanlab.rank.get_label_quality_scores(labels, pred_probs, method=rank_by): (n,) in [0, 1], low = likely wrong."""
    import numpy as np
    from cleanlab.rank import get_label_quality_scores

    return np.asarray(get_label_quality_scores(labels, pred_probs, method=rank_by), dtype=np.float64)


def lowest(scores: np.ndarray, m: int) -> np.ndarray:
    """Mask of the ``m`` lowest scores, ties broken by row (a stable sort)."""
    import numpy as np

    mask = np.zeros(len(scores), dtype=bool)
    mask[np.argsort(scores, kind="stable")[: max(int(m), 0)]] = True
    return mask


def labelerrors_2021_count(raw_joint: np.ndarray, n: int) -> int:
    """The paper's number of errors: int(n * (1 - trace / sum)) of the uncalibrated confident joint."""
    total = raw_joint.sum()
    return int(n * (1.0 - raw_joint.trace() / total)) if total > 0 else 0


def stored_probabilities(config, shape) -> "np.ndarray | None":
    """The probabilities exactly as stored in ``config.pred_probs`` (no renormalisation), or None.

    cleanlab 1.0 counted and ranked the file's values as they were, so the
    labelerrors-2021 recipe does too (on CIFAR-100's float16 copy that is 2,234
    flags against 2,233 after renormalising; the paper has 2,235). None when the
    run has no predictions file, or it is not a plain (n, k) array of that shape.
    """
    import numpy as np

    from .data import read_npy
    from .predictions import _load_delimited, _load_parquet

    path = getattr(config, "pred_probs", None)
    if not path or getattr(config, "logits", None):
        return None
    p = Path(path)
    ext = p.suffix.lower()
    try:
        if ext == ".npy":
            arr = read_npy(p, str(p), "predictions")
        elif ext in (".csv", ".tsv", ".tab"):
            arr, _ = _load_delimited(p, str(p), "," if ext == ".csv" else "\t")
        elif ext in (".parquet", ".pq"):
            arr, _ = _load_parquet(p, str(p))
        else:
            return None
    except (InputError, OSError):
        return None
    arr = np.asarray(arr)
    if arr.shape != tuple(shape) or arr.dtype.kind not in "biuf":
        return None
    arr = np.asarray(arr, dtype=np.float64)
    return arr if np.isfinite(arr).all() else None


def flag_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    method: DetectionMethod,
    *,
    scores: np.ndarray,
    confident_joint: np.ndarray,
    raw_joint: np.ndarray,
) -> tuple[np.ndarray, dict]:
    """Flags for any method but the default (core.audit computes that one itself).

    labels (n,), pred_probs (n, k): checked inputs. scores: quality_scores for
    ``method.rank``. confident_joint: cleanlab's calibrated confident joint;
    raw_joint: the uncalibrated one (cleanlab 1.0's, no diagonal clipping).
    For labelerrors-2021, pred_probs and raw_joint may be those of the stored
    probabilities (:func:`stored_probabilities`).
    Returns (is_issue mask, extra summary fields: ``n_estimated`` for
    labelerrors-2021). InputError when num_issues exceeds n.
    """
    import numpy as np

    n = len(labels)
    if method.num_issues is not None:
        if method.num_issues > n:
            raise InputError(f"--num-issues {method.num_issues} is more than the {n:,} examples")
        return lowest(scores, method.num_issues), {}
    if method.filter_by == LABELERRORS_2021:
        from cleanlab.rank import get_normalized_margin_for_each_label

        count = labelerrors_2021_count(raw_joint, n)
        return lowest(get_normalized_margin_for_each_label(labels, pred_probs), count), {"n_estimated": count}
    from cleanlab.filter import find_label_issues

    kwargs = {} if method.filter_by == "confident_learning" else {"confident_joint": confident_joint}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab's notes on unused arguments; the options are checked above
        mask = find_label_issues(
            labels, pred_probs, filter_by=method.filter_by, frac_noise=method.frac_noise, n_jobs=1, **kwargs
        )
    return np.asarray(mask, dtype=bool), {}

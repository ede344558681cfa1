"""Model back ends that turn a dataset into out-of-sample class probabilities.

Every back end implements :class:`core.scoring.base.Scorer`; :func:`make_scorer`
(in :mod:`.registry`) picks one from the ``--model`` option.
"""

from .base import ScoreResult, Scorer
from .registry import make_scorer

__all__ = ["ScoreResult", "Scorer", "make_scorer"]

"""Review session: walk the flagged examples worst-first and record decisions in a Project.

Pure Python over a :class:`~core.project.Project` and the audit's examples table;
the GUI's review panel is a thin view over one :class:`ReviewSession`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .project import Project, default_reviewer


@dataclass(frozen=True)
class Progress:
    """``reviewed`` of the ``total`` rows in the queue have a decision by a person;
    ``unsure`` of those are marked "needs another look"."""

    reviewed: int
    total: int
    unsure: int

    def __str__(self) -> str:
        text = f"reviewed {self.reviewed} / {self.total}"
        return text + (f" ({self.unsure} need another look)" if self.unsure else "")


def review_order(examples: pd.DataFrame, flagged_only: bool = True) -> list[int]:
    """Rows worst label quality first (ties by row); only the flagged ones unless ``flagged_only`` is False."""
    view = examples[examples["is_label_issue"].to_numpy(dtype=bool)] if flagged_only else examples
    view = view.sort_values(["label_quality", "row"], kind="stable")
    return [int(r) for r in view["row"]]


class ReviewSession:
    """A cursor over a queue of rows plus the reviewer's decisions.

    examples: AuditReport.examples (row, given_label, suggested_label, label_quality,
    is_label_issue). pred_probs: (n, k) for :meth:`top_k`. queue: the rows to review in
    order (default: :func:`review_order`). Decisions act on the current row and move
    to the next one. The cursor starts at the first row nobody has decided yet.
    """

    def __init__(self, project: Project, examples: pd.DataFrame, class_names: list[str], *,
                 pred_probs: np.ndarray | None = None, reviewer: str | None = None,
                 queue: list[int] | None = None):
        self.project = project
        self.examples = examples.set_index("row", drop=False)
        self.class_names = list(class_names)
        self.pred_probs = pred_probs
        self.reviewer = reviewer or default_reviewer()
        self.queue: list[int] = list(queue) if queue is not None else review_order(examples)
        self.index = 0
        self._queue_set: tuple = (None, set())  # (the queue it was made of, its rows as a set), for progress()
        self.next_undecided()

    # ------------------------------------------------------------ navigation

    @property
    def row(self) -> int | None:
        """The current row, or None when the queue is empty."""
        return self.queue[self.index] if self.queue else None

    def move(self, step: int) -> int | None:
        """Move ``step`` places along the queue (clamped at both ends); returns the row."""
        if self.queue:
            self.index = min(max(self.index + step, 0), len(self.queue) - 1)
        return self.row

    def goto(self, row: int) -> None:
        """Make ``row`` current; InputError when it is not in the queue."""
        try:
            self.index = self.queue.index(int(row))
        except ValueError:
            raise InputError(f"row {row} is not in the review queue") from None

    def next_undecided(self) -> int | None:
        """Move to the first row from the current one on (wrapping) that no person decided; returns it."""
        decided = self._decided_rows()
        n = len(self.queue)
        for offset in range(n):
            i = (self.index + offset) % n
            if self.queue[i] not in decided:
                self.index = i
                break
        return self.row

    def set_queue(self, rows: list[int]) -> None:
        """Review ``rows`` (the current filtered view) in this order; stays on the current row if it is there."""
        current = self.row
        self.queue = np.asarray(rows, dtype=np.int64).tolist()  # Python ints, converted in C (queues of 1e5+ rows)
        self.index = self.queue.index(current) if current in self.queue else 0

    # ------------------------------------------------------------- decisions

    def keep(self) -> None:
        self.decide("keep")

    def accept(self) -> None:
        self.decide("accept")

    def exclude(self) -> None:
        self.decide("exclude")

    def unsure(self) -> None:
        self.decide("unsure")

    def relabel(self, label) -> None:
        """Decide class ``label`` (index or name) for the current row."""
        self.decide("relabel", label)

    def note(self, text: str) -> None:
        """Set the current row's note; stays on the row."""
        if self.row is not None:
            self.project.decide(self.row, "note", note=text, reviewer=self.reviewer)

    def decide(self, action: str, label=None) -> int | None:
        """Record ``action`` for the current row and move to the next; returns the row decided."""
        row = self.row
        if row is None:
            return None
        self.project.decide(row, action, label=label, reviewer=self.reviewer)
        self.move(1)
        return row

    def accept_top(self, k: int) -> list[int]:
        """Accept the suggested label for the first ``k`` rows of the queue that no person
        decided yet, as one undoable step. Returns the rows changed."""
        decided = self._decided_rows()
        rows = [r for r in self.queue[: max(int(k), 0)] if r not in decided]
        if rows:
            self.project.decide_many(rows, "accept", reviewer=self.reviewer,
                                     description=f"accept suggested for the top {k}")
        return rows

    def undo(self) -> list[int]:
        """Undo the latest step; the cursor goes to its earliest row in the queue. Returns the rows."""
        return self._after_history(self.project.undo())

    def redo(self) -> list[int]:
        """Redo the latest undone step; the cursor goes to its earliest row in the queue. Returns the rows."""
        return self._after_history(self.project.redo())

    # ----------------------------------------------------------------- views

    def progress(self) -> Progress:
        """How many queue rows a person has decided."""
        decided = self._decided_rows()
        unsure = self._decided_rows(action="unsure")
        if self._queue_set[0] is not self.queue:  # the queue is replaced, never changed in place: set it once
            self._queue_set = (self.queue, set(self.queue))
        in_queue = self._queue_set[1]
        return Progress(sum(r in in_queue for r in decided), len(in_queue), sum(r in in_queue for r in unsure))

    def decision(self, row: int | None = None) -> dict | None:
        """The decision that counts for ``row`` (default: the current row), see Project.decision."""
        row = self.row if row is None else row
        return None if row is None else self.project.decision(row)

    def given(self, row: int) -> int:
        return int(self.examples.at[row, "given_label"])

    def suggested(self, row: int) -> int:
        return int(self.examples.at[row, "suggested_label"])

    def top_k(self, row: int, k: int = 3) -> list[tuple[int, float]]:
        """The ``k`` most probable classes of ``row`` as (class index, probability), most probable first."""
        if self.pred_probs is None:
            return []
        probs = np.asarray(self.pred_probs[row])
        order = np.argsort(-probs, kind="stable")[:k]
        return [(int(c), float(probs[c])) for c in order]

    # ------------------------------------------------------------- internals

    def _decided_rows(self, action: str | None = None) -> set[int]:
        return self.project.decided_rows(kind="person", action=action)

    def _after_history(self, rows: list[int]) -> list[int]:
        positions = [self.queue.index(r) for r in rows if r in self.queue]
        if positions:
            self.index = min(positions)
        return rows

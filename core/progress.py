"""Progress reporting, notices and cancellation shared by every long step.

A :class:`RunContext` is handed down the pipeline. Long steps open a
:meth:`RunContext.stage`, call :meth:`Stage.advance` after each batch, and the
context forwards :class:`ProgressEvent` objects to whoever listens (a terminal
progress bar in the CLI, a Qt signal in the GUI). ``advance`` also raises
:class:`~core.errors.Cancelled` once :meth:`RunContext.cancel` was called, so
work stops between batches. Nothing here knows about Qt; it works from any thread.
"""

from __future__ import annotations

import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from .errors import Cancelled, plain_line


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: ``done`` of ``total`` units of ``stage``.

    ``rate`` is units per second and ``eta_s`` the seconds left at that rate.
    Both stay None until the rate is measured: over at least
    ``RunContext.rate_after_s`` of progress counted from the first unit done,
    so a slow first batch (loading, warm-up) does not inflate the estimate.
    """

    stage: str
    done: int
    total: int
    rate: float | None = None
    eta_s: float | None = None


class Stage:
    """A long step with a known amount of work; see :meth:`RunContext.stage`."""

    def __init__(self, ctx: "RunContext", name: str, total: int):
        self.ctx, self.name, self.total = ctx, name, max(int(total), 0)
        self.done = 0
        self._first: tuple[float, int] | None = None  # (time, done) when the first units were done
        self._last_emit = ctx.clock()
        self._emit(force=True)

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more units done; raise Cancelled if a cancel was requested."""
        self.done = min(self.done + int(n), self.total) if self.total else self.done + int(n)
        self._emit(force=self.done >= self.total)
        self.ctx.check_cancelled()

    def _emit(self, force: bool = False) -> None:
        now = self.ctx.clock()
        if self.done and self._first is None:
            self._first = (now, self.done)
        if not force and now - self._last_emit < self.ctx.min_interval_s:
            return
        self._last_emit = now
        rate = eta = None
        if self._first is not None:
            t0, d0 = self._first
            if now - t0 >= self.ctx.rate_after_s and self.done > d0:
                rate = (self.done - d0) / (now - t0)
                eta = (self.total - self.done) / rate
        self.ctx.emit(ProgressEvent(self.name, self.done, self.total, rate, eta))

    def __enter__(self) -> "Stage":
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None and self.done < self.total:
            self.done = self.total
            self._emit(force=True)


class RunContext:
    """Carries progress listeners, user notices and the cancel flag of one run.

    ``on_progress(event)`` receives :class:`ProgressEvent`; ``on_notice(text)``
    receives one-line messages a user should see (a renormalisation, an
    in-sample warning). Both may be called from a worker thread.
    ``min_interval_s``: the least time between two progress events of a stage;
    ``rate_after_s``: how long progress is measured before a rate and ETA are given;
    ``clock``: seconds as a float (tests pass a fake one).
    """

    def __init__(
        self,
        on_progress: Callable[[ProgressEvent], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        min_interval_s: float = 0.05,
        rate_after_s: float = 1.0,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.on_progress = on_progress
        self.on_notice = on_notice
        self.min_interval_s = min_interval_s
        self.rate_after_s = rate_after_s
        self.clock = clock
        self.notices: list[str] = []
        self._cancel = threading.Event()

    def stage(self, name: str, total: int) -> Stage:
        """Start a step of ``total`` units; use as a context manager."""
        self.check_cancelled()
        return Stage(self, name, total)

    def emit(self, event: ProgressEvent) -> None:
        if self.on_progress is not None:
            self.on_progress(event)

    def notice(self, text: str) -> None:
        """Tell the user something worth knowing that is not an error."""
        self.notices.append(text)
        if self.on_notice is not None:
            self.on_notice(text)

    def cancel(self) -> None:
        """Ask the run to stop at the next batch boundary (thread-safe)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Raise Cancelled if a cancel was requested."""
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    @contextmanager
    def warnings_as_notices(self):
        """Within the block, a Python warning (numpy, PIL, a library's deprecation) becomes one
        notice of this run, each distinct message once, instead of text on stderr."""
        seen: set[str] = set()

        def show(message, category, filename, lineno, file=None, line=None):
            text = plain_line(f"{message} ({category.__name__})")
            if text not in seen:
                seen.add(text)
                self.notice(text)

        with warnings.catch_warnings():
            warnings.showwarning = show
            yield self

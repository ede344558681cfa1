"""Background work: the audit run on a QThread, small jobs on the thread pool,
and a meter of how long the GUI thread stalls.

The audit thread calls :func:`core.pipeline.run_audit` with a
:class:`core.progress.RunContext` whose callbacks emit Qt signals; Qt queues
them to the GUI thread. After the run it also prepares the view arrays
(:func:`gui.results.prepare_results`), so the GUI thread only displays.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, QTimer, Signal

from labelaudit.core.errors import Cancelled, InputError
from labelaudit.core.progress import RunContext

log = logging.getLogger("labelaudit.gui")


def one_line(err: BaseException) -> str:
    """The reason a user sees: an InputError's message, else 'Type: message' (first line)."""
    if isinstance(err, InputError):
        return str(err)
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class AuditThread(QThread):
    """Runs one audit. Emits exactly one of finished(Results), failed(reason, details) or cancelled().

    progress(ProgressEvent) and notice(str) arrive while it runs. ``run_fn``
    replaces core.pipeline.run_audit (tests); ``prepare`` turns the report into
    what the views show (default: gui.results.prepare_results).
    """

    progress = Signal(object)
    notice = Signal(str)
    finished_ok = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, config, *, run_fn: Callable | None = None, prepare: Callable | None = None, parent=None):
        super().__init__(parent)
        self.config = config
        self.run_fn = run_fn
        self.prepare = prepare
        self.ctx = RunContext(on_progress=self.progress.emit, on_notice=self.notice.emit)
        self.elapsed_s = 0.0

    def cancel(self) -> None:
        """Ask the run to stop at its next batch (thread-safe, returns at once)."""
        self.ctx.cancel()

    def run(self) -> None:  # runs in the worker thread
        t0 = time.perf_counter()
        try:
            run_fn = self.run_fn
            if run_fn is None:
                from labelaudit.core.pipeline import run_audit as run_fn
            report = run_fn(self.config, self.ctx)
            self.ctx.check_cancelled()
            prepare = self.prepare
            if prepare is None:
                from .results import prepare_results as prepare
            results = prepare(report)
            self.ctx.check_cancelled()
        except Cancelled:
            self.elapsed_s = time.perf_counter() - t0
            self.cancelled.emit()
        except InputError as err:
            self.elapsed_s = time.perf_counter() - t0
            self.failed.emit(one_line(err), "")
        except Exception as err:  # anything else: one line for the dialog, the traceback as details
            self.elapsed_s = time.perf_counter() - t0
            details = traceback.format_exc()
            log.error("audit failed:\n%s", details)
            self.failed.emit(one_line(err), details)
        else:
            self.elapsed_s = time.perf_counter() - t0
            self.finished_ok.emit(results)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str, str)


class FunctionWorker(QRunnable):
    """Run ``fn()`` on the global thread pool; ``signals.done(result)`` or
    ``signals.failed(reason, details)`` arrive on the GUI thread."""

    _alive: set = set()

    def __init__(self, fn: Callable[[], object]):
        super().__init__()
        self.fn = fn
        self.signals = _Signals()
        self.setAutoDelete(False)

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as err:
            details = "" if isinstance(err, InputError) else traceback.format_exc()
            self.signals.failed.emit(one_line(err), details)
        else:
            self.signals.done.emit(result)


def run_in_pool(fn: Callable[[], object], on_done: Callable, on_failed: Callable | None = None, *,
                owner: QObject | None = None) -> FunctionWorker:
    """Start ``fn`` on the thread pool and call ``on_done(result)`` / ``on_failed(reason, details)``
    on the GUI thread when it ends. When ``owner`` (a widget) is deleted first, neither is called."""
    if owner is not None:
        on_done = _while_alive(owner, on_done)
        on_failed = _while_alive(owner, on_failed) if on_failed is not None else None
    worker = FunctionWorker(fn)
    FunctionWorker._alive.add(worker)  # kept until its result is delivered on the GUI thread

    def release(*_):
        FunctionWorker._alive.discard(worker)

    worker.signals.done.connect(on_done, Qt.QueuedConnection)
    worker.signals.done.connect(release, Qt.QueuedConnection)
    if on_failed is not None:
        worker.signals.failed.connect(on_failed, Qt.QueuedConnection)
    worker.signals.failed.connect(release, Qt.QueuedConnection)
    QThreadPool.globalInstance().start(worker)
    return worker


def _while_alive(owner: QObject, fn: Callable) -> Callable:
    """``fn`` that does nothing once ``owner``'s C++ object is gone."""
    from shiboken6 import isValid

    def call(*args):
        if isValid(owner):
            fn(*args)

    return call


class StallMeter(QObject):
    """Measures the longest time the GUI thread's event loop was blocked.

    A precise timer fires every ``interval_ms``; each tick records how much
    later than due it ran. ``max_ms`` is the longest such delay since start(),
    ``max_at_s`` when it ended (seconds after start()).
    """

    def __init__(self, interval_ms: int = 10, parent=None):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self.max_ms = 0.0
        self.max_at_s = 0.0
        self._start = self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.max_ms = 0.0
        self.max_at_s = 0.0
        self._start = self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> float:
        """Stop measuring; returns the longest stall in milliseconds."""
        if self._timer.isActive():
            self._tick()
            self._timer.stop()
        return self.max_ms

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def _tick(self) -> None:
        now = time.perf_counter()
        late = (now - self._last) * 1000.0 - self.interval_ms
        self._last = now
        if late > self.max_ms:
            self.max_ms = late
            self.max_at_s = now - self._start

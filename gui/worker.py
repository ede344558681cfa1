"""Background work: the audit run on a QThread, small jobs on the thread pool,
and a meter of how long the GUI thread stalls.

The audit thread calls :func:`core.pipeline.run_audit` with a
:class:`core.progress.RunContext` whose callbacks emit Qt signals; Qt queues
them to the GUI thread. After the run it also prepares the view arrays
(:func:`gui.results.prepare_results`), so the GUI thread only displays.
Pool jobs deliver their result through a relay owned by the widget that asked,
so a result that arrives after that widget was deleted is dropped.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, QThreadPool, QTimer, Signal
from shiboken6 import isValid

from labelaudit.core.errors import Cancelled, InputError, OutputError
from labelaudit.core.progress import RunContext

log = logging.getLogger("labelaudit.gui")


def one_line(err: BaseException) -> str:
    """The reason a user sees, in words: an InputError's or OutputError's message; out of memory, too
    deeply nested data and file-system errors said plainly; else 'Type: message' (first line)."""
    if isinstance(err, (InputError, OutputError)):
        return str(err)
    if isinstance(err, MemoryError):
        return "Not enough memory for this step: try a smaller batch size, or close other programs."
    if isinstance(err, RecursionError):
        return "The data is nested too deeply to process (maximum recursion depth exceeded)."
    if isinstance(err, OSError) and err.strerror:
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror}"
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


_orphans: set = set()


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

    def outlive_parent(self) -> None:
        """Keep this thread object alive after its parent is deleted (a run that did not stop in
        time); its signals then reach nobody, and it is freed when the process ends."""
        self.setParent(None)
        _orphans.add(self)

    def run(self) -> None:  # runs in the worker thread
        t0 = time.perf_counter()
        try:
            run_fn = self.run_fn
            if run_fn is None:
                from labelaudit.core.pipeline import run_audit as run_fn
            prepare = self.prepare
            if prepare is None:
                from .results import prepare_results as prepare
            with self.ctx.warnings_as_notices():
                report = run_fn(self.config, self.ctx)
                self.ctx.check_cancelled()
                results = prepare(report)
            self.ctx.check_cancelled()
        except Cancelled:
            self.elapsed_s = time.perf_counter() - t0
            self.cancelled.emit()
        except (InputError, OutputError) as err:
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


class _Hub(QObject):
    """Lives on the GUI thread; pool threads emit ``result(job, ok, payload)`` on it and Qt queues
    the call to the GUI thread, where the job's relay (if still alive) gets it."""

    result = Signal(int, bool, object)

    def __init__(self):
        super().__init__()
        self.relays: dict[int, _Relay] = {}
        self.next_job = 0
        self.result.connect(self._deliver, Qt.QueuedConnection)

    def _deliver(self, job: int, ok: bool, payload) -> None:
        relay = self.relays.pop(job, None)
        if relay is None or not isValid(relay):  # its owner was deleted: drop the late result
            return
        relay.deliver(ok, payload)


class _Relay(QObject):
    """Carries one job's callbacks; a child of the job's owner, so it dies with it."""

    def __init__(self, on_done: Callable, on_failed: Callable | None, owner: QObject | None):
        super().__init__(owner)
        self.on_done, self.on_failed = on_done, on_failed

    def deliver(self, ok: bool, payload) -> None:
        try:
            if ok:
                self.on_done(payload)
            elif self.on_failed is not None:
                self.on_failed(*payload)
        finally:
            if isValid(self):
                self.setParent(None)  # no longer the owner's child; Python frees it


_hub: _Hub | None = None


def run_in_pool(fn: Callable[[], object], on_done: Callable, on_failed: Callable | None = None, *,
                owner: QObject | None = None) -> int:
    """Start ``fn()`` on the global thread pool; call ``on_done(result)`` or ``on_failed(reason, details)``
    on the GUI thread when it ends. Call it from the GUI thread.

    ``owner`` (the widget the callbacks touch): the result travels through a relay object
    parented to it, so when the owner is deleted first, a late result is dropped instead of
    reaching a dead widget. Returns the job's number.
    """
    global _hub
    if _hub is None:
        _hub = _Hub()
    hub = _hub
    hub.next_job += 1
    job = hub.next_job
    hub.relays[job] = _Relay(on_done, on_failed, owner)

    def work() -> None:  # on a pool thread: touches no QObject but the hub's signal
        try:
            result = fn()
        except Exception as err:
            details = "" if isinstance(err, (InputError, OutputError)) else traceback.format_exc()
            hub.result.emit(job, False, (one_line(err), details))
        else:
            hub.result.emit(job, True, result)

    QThreadPool.globalInstance().start(work)
    return job


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

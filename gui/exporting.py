"""Exports off the GUI thread: files are written on the thread pool while the window stays live.

:meth:`Exports.start` says "Writing WHAT to PATH…" in the status bar, runs ``write()`` on the
thread pool (:func:`gui.worker.run_in_pool`, owned by the Exports object, so a result that arrives
after its window was deleted is dropped), then shows ``wrote(result)`` in the status bar, or the
error in one line. ``write`` must only read what the caller took on the GUI thread before (a
snapshot), so a later change of the view does not change what is written. One file is written by
one export at a time, across windows: a second export to a path being written is refused.
"""

from __future__ import annotations

import os
import threading
from typing import Callable

from PySide6.QtCore import QObject

from labelaudit.core.errors import OutputError

from .worker import run_in_pool

#: What an OSError of ``write`` says (as the window's exports always said); None: gui.worker.one_line.
CANNOT_WRITE = "{path}: cannot write the file ({reason})"

_writing: set[str] = set()  # the real paths being written now, by any window
_lock = threading.Condition()


def wait_for_writes(timeout_s: float) -> bool:
    """Block until no export is writing (at most ``timeout_s``); True when none is."""
    with _lock:
        return _lock.wait_for(lambda: not _writing, timeout_s)


class Exports(QObject):
    """Starts exports for a window. ``status(text)`` shows a line in its status bar, ``error(reason,
    details)`` a failure. ``pending``: exports started and not yet reported (tests wait on it)."""

    def __init__(self, parent: QObject, status: Callable[[str], None], error: Callable[[str, str], None]):
        super().__init__(parent)
        self.status, self.error = status, error
        self.pending = 0

    def start(self, path, what: str, write: Callable[[], object], wrote: Callable[[object], str], *,
              cannot_write: str | None = CANNOT_WRITE) -> int | None:
        """Write ``path`` with ``write()`` on the thread pool; returns the job's number, or None when
        ``path`` is being written already (said in the status bar). ``cannot_write``: the message of
        an OSError, formatted with path and reason (its strerror)."""
        key = os.path.realpath(path)
        with _lock:
            if key in _writing:
                self.status(f"Still writing {path}: export again when it is done")
                return None
            _writing.add(key)
        self.pending += 1
        self.status(f"Writing {what} to {path}…")

        def work():  # on a pool thread
            try:
                return write()
            except OSError as err:
                if cannot_write is None:
                    raise
                raise OutputError(cannot_write.format(path=path, reason=err.strerror)) from None
            finally:
                with _lock:
                    _writing.discard(key)
                    _lock.notify_all()

        def done(result) -> None:
            self.pending -= 1
            self.status(wrote(result))

        def failed(reason: str, details: str) -> None:
            self.pending -= 1
            self.error(reason, details)

        return run_in_pool(work, done, failed, owner=self)

"""Spread a burst of GUI-thread work over turns of the event loop.

``later(fn, owner, key=None)`` queues ``fn()`` to run on the GUI thread, one queued call per
turn, in order; each starts ``TURN_MS`` after the previous one ended, so Qt repaints what
that call changed, and handles input, before the next one runs. A run's results arriving
(the table, then the plots, the inspector and the Review tab) then costs several short
stalls instead of one long one (gui.worker.StallMeter measures them).

owner: the QObject ``fn`` touches; a call whose owner was deleted meanwhile is dropped.
key: while a call with the same key waits, another one is not queued (it would redo the same).

Qt has no such queue: a zero-time single shot is a posted event, and Qt may deliver the
events posted during a turn in that same turn, together with the repaints.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Hashable

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer
from shiboken6 import isValid

#: Pause between two queued calls: longer than the stall meter's tick, so a tick falls between them.
TURN_MS = 12


class _Turns(QObject):
    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.calls: deque = deque()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TURN_MS)
        self.timer.timeout.connect(self._run_one)

    def add(self, fn: Callable[[], object], owner: QObject | None, key: Hashable | None) -> None:
        if key is not None and any(k == key for _, _, k in self.calls):
            return
        self.calls.append((fn, owner, key))
        if not self.timer.isActive():
            self.timer.start()

    def _run_one(self) -> None:
        while self.calls:
            fn, owner, _ = self.calls.popleft()
            if owner is None or isValid(owner):
                try:
                    fn()
                finally:
                    if self.calls and isValid(self):
                        self.timer.start()
                return


_turns: _Turns | None = None


def later(fn: Callable[[], object], owner: QObject | None = None, key: Hashable | None = None) -> None:
    """Run ``fn()`` in a later event-loop turn, after the calls queued before it (see the module)."""
    global _turns
    if _turns is None or not isValid(_turns):
        _turns = _Turns(QCoreApplication.instance())
    _turns.add(fn, owner, key)


"""Guard against a PySide6 6.12.0 reference-count bug on Python < 3.12.

With PySide6/shiboken6 6.12.0 on Python 3.11, every call of a Qt method that
returns None (``widget.update()``, ``label.setText(...)``, ``QApplication.processEvents()``,
``QTimer.singleShot``...) drops one reference to ``None`` without taking one.
None is not immortal before Python 3.12, so after some thousands of such calls
the interpreter aborts with "Fatal Python error: none_dealloc". PySide6 6.11.3
does not have the bug; pinning it is the real fix. This module detects the leak
and, only where it occurs, raises None's reference count far out of reach, which
is what Python 3.12 does for every interpreter (immortal None).
"""

from __future__ import annotations

import ctypes
import sys


def protect_none() -> bool:
    """Make None effectively immortal if this PySide6 leaks references to it.

    Returns True when the leak was found (and guarded against), else False.
    """
    if sys.version_info >= (3, 12):
        return False  # None is immortal
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("")
    if before - sys.getrefcount(None) < 32:
        return False
    # PyObject starts with its Py_ssize_t reference count (CPython 3.11 layout).
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 60
    return True


LEAKS_NONE = protect_none()

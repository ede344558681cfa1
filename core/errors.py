"""Exceptions that carry a user-facing reason, and the boundary that maps resource failures onto them."""

from __future__ import annotations

import re
from contextlib import contextmanager

# Terminal escape sequences (colours, cursor moves, titles) that a library may put in its messages.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_MESSAGE = 600  # characters; a longer reason is cut with "..."


def plain_line(text) -> str:
    """``text`` as one plain line: escape sequences removed, control characters and runs of
    whitespace turned into single spaces, cut to MAX_MESSAGE characters."""
    line = " ".join(_CONTROL.sub(" ", _ESCAPES.sub("", str(text))).split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 3].rstrip() + "..."


class InputError(ValueError):
    """A user mistake (bad file, column, row, option).

    ``str(err)`` is one plain line (see :func:`plain_line`) that names the file,
    column or row. The CLI prints it without a traceback and exits with status 2;
    the GUI shows it in a dialog.
    """

    def __init__(self, message: str):
        super().__init__(plain_line(message))


class Cancelled(Exception):
    """The user asked the run to stop; nothing partial is presented as a result."""


class OutputError(Exception):
    """A file could not be written (disk full, no permission, locked, read-only media).

    ``str(err)`` is one line naming the file and the reason; what was there before is
    unchanged. The CLI prints it and exits with status 1; the GUI shows it as it is.
    """

    def __init__(self, message: str):
        super().__init__(plain_line(message))


class ProjectDamaged(InputError):
    """A ``.labelaudit`` file that is not SQLite, lacks tables or holds unreadable arrays."""

    def __init__(self, path, reason: str):
        super().__init__(f"project damaged: {path}: {reason}")


class HistoryConflict(InputError):
    """Undo or redo refused: a row of that step was decided later in another window or process."""


@contextmanager
def reading(source):
    """Loader boundary: MemoryError or RecursionError while reading ``source`` becomes an
    InputError naming it (a file that demands more memory or nesting than it can have is bad input)."""
    try:
        yield
    except MemoryError:
        raise InputError(f"{source}: needs more memory to read than is available; "
                         "the file is damaged or claims sizes it does not hold") from None
    except RecursionError:
        raise InputError(f"{source}: nested too deeply to read") from None

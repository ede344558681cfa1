"""Exceptions that carry a user-facing reason."""


class InputError(ValueError):
    """A user mistake (bad file, column, row, option).

    ``str(err)`` is one line that names the file, column or row. The CLI prints
    it without a traceback and exits with status 2; the GUI shows it in a dialog.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class Cancelled(Exception):
    """The user asked the run to stop; nothing partial is presented as a result."""


class OutputError(Exception):
    """A file could not be written (disk full, no permission, locked, read-only media).

    ``str(err)`` is one line naming the file and the reason; what was there before is
    unchanged. The CLI prints it and exits with status 1; the GUI shows it as it is.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ProjectDamaged(InputError):
    """A ``.labelaudit`` file that is not SQLite, lacks tables or holds unreadable arrays."""

    def __init__(self, path, reason: str):
        super().__init__(f"project damaged: {path}: {reason}")


class HistoryConflict(InputError):
    """Undo or redo refused: a row of that step was decided later in another window or process."""

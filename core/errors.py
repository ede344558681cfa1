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

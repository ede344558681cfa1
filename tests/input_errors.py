"""Assertion helper shared by the loader tests."""

import pytest

from labelaudit.core.errors import InputError


def error(fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting an InputError; return its message, checked to be one line."""
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg

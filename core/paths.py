"""Where labelaudit keeps files of its own."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """labelaudit's cache folder (not created here): $LABELAUDIT_CACHE, else ~/.cache/labelaudit."""
    root = os.environ.get("LABELAUDIT_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "labelaudit"

"""Where labelaudit keeps files of its own."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """labelaudit's cache folder (not created here): $LABELAUDIT_CACHE, else ~/.cache/labelaudit."""
    root = os.environ.get("LABELAUDIT_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "labelaudit"


def projects_dir() -> Path:
    """Where the app autosaves each run's project (not created here): ``cache_dir()/projects``."""
    return cache_dir() / "projects"

"""Shared fixtures: where the released labelerrors data lives, offline settings."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# autosaved projects, embeddings and the demo go to a throwaway cache, not the user's
os.environ.setdefault("LABELAUDIT_CACHE", tempfile.mkdtemp(prefix="labelaudit-test-cache-"))

REPO = Path(__file__).resolve().parents[1]


def _labelerrors_dir() -> Path:
    env = os.environ.get("LABELAUDIT_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for base in candidates:
        if (base / "data" / "labelerrors" / "README.md").exists():
            return base / "data" / "labelerrors"
    raise RuntimeError(
        "shared/data/labelerrors not found beside the repository; set LABELAUDIT_SHARED to the shared folder"
    )


@pytest.fixture(scope="session")
def labelerrors() -> Path:
    """Path to ../shared/data/labelerrors (mnist, cifar10, imdb folders)."""
    return _labelerrors_dir()


@pytest.fixture
def window(qtbot, tmp_path):
    """The app's MainWindow at 1280x800, shown, with its own settings file; afterwards a running
    audit is cancelled (waiting until it has stopped) and its project closed."""
    from PySide6.QtCore import QSettings

    from labelaudit.gui.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.running:
        w.cancel_run()
        qtbot.waitUntil(lambda: not w.running, timeout=10_000)
    if w.projects.project is not None:
        w.projects.close_project()


def pytest_sessionfinish(session, exitstatus):
    """Let background jobs of the GUI tests end before the interpreter tears Qt down."""
    import sys

    if "PySide6.QtCore" in sys.modules:
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(30_000)

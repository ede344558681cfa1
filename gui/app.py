"""Start the desktop app: ``run_gui()`` is what ``labelaudit``, ``labelaudit gui`` and ``labelaudit demo`` call."""

from __future__ import annotations

import logging
import os
import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from . import theme

WINDOW_SIZE = (1280, 800)


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once): high-DPI, system light/dark palette, icon, stylesheet."""
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else sys.argv[:1])
        app.setApplicationName("labelaudit")
        app.setOrganizationName("labelaudit")
        app.setApplicationDisplayName("labelaudit")
        app.setDesktopFileName("labelaudit")
        theme.apply_theme(app)
        app.styleHints().colorSchemeChanged.connect(lambda _scheme: theme.apply_theme(app))
    app.setWindowIcon(theme.app_icon())
    return app


#: Imported on the thread pool once the window shows, so that a run does not pay for
#: them: importing C extensions holds the GIL and would stall the GUI thread mid-run.
WARM_IMPORTS = ("core.pipeline", "core.data", "core.predictions", "core.audit", "core.calibration",
                "core.export", "cleanlab.filter", "sklearn.linear_model")


def warm_up() -> None:
    """Import what every run needs (call off the GUI thread)."""
    import importlib

    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def fit_to_screen(window) -> None:
    """Size the window to 1280x800, or the available screen area if that is smaller."""
    width, height = WINDOW_SIZE
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width, height = min(width, avail.width()), min(height, avail.height())
        window.resize(width, height)
        frame = window.frameGeometry()
        frame.moveCenter(avail.center())
        window.move(frame.topLeft())
    else:
        window.resize(width, height)


def run_gui(config=None, *, run: bool = False, demo: bool = False) -> int:
    """Open the labelaudit window and run the event loop; returns the exit status.

    config: an AuditConfig to load (the start page shows it ready to run);
    run: start the audit at once; demo: prepare the bundled demo and run it.
    """
    if os.environ.get("LABELAUDIT_DEBUG"):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    app = make_app()
    from .main_window import MainWindow

    window = MainWindow()
    fit_to_screen(window)
    window.show()
    from .worker import run_in_pool

    run_in_pool(warm_up, lambda _r: None)
    if demo:
        QTimer.singleShot(0, window.start_demo)
    elif config is not None:
        window.set_config(config)
        if run:
            QTimer.singleShot(0, window.start_run)
    return app.exec()

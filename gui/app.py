"""Start the desktop app: ``run_gui()`` is what ``labelaudit``, ``labelaudit gui`` and ``labelaudit demo`` call."""

from __future__ import annotations

import gc
import logging
import os
import sys

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from . import theme

WINDOW_SIZE = (1280, 800)

#: What Qt's xcb platform plugin loads at start that minimal Linux systems lack:
#: (soname, Debian/Ubuntu package, Fedora package).
XCB_LIBRARIES = (
    ("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    ("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
)


def uses_xcb(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will start on the xcb (X11) platform: Linux, and QT_QPA_PLATFORM names xcb,
    or is unset outside a Wayland session."""
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not environ.get("WAYLAND_DISPLAY")


def missing_xcb_libraries(load=None) -> str | None:
    """One line naming the packages to install when an xcb library Qt needs cannot be loaded, else None.

    ``load(soname)`` opens a shared library and raises OSError when it cannot (default ctypes.CDLL).
    Without the check, Qt aborts with a core dump when its xcb plugin fails to load.
    """
    if load is None:
        import ctypes

        load = ctypes.CDLL
    missing = []
    for soname, apt, dnf in XCB_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append((soname, apt, dnf))
    if not missing:
        return None
    return (f"the window system (Qt xcb) needs {', '.join(m[0] for m in missing)}: install "
            f"'sudo apt install {' '.join(m[1] for m in missing)}' (Debian/Ubuntu) or "
            f"'sudo dnf install {' '.join(m[2] for m in missing)}' (Fedora)")


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once): high-DPI, system light/dark palette, icon, stylesheet. Creating it also
    freezes the objects made so far (gc.freeze: Qt's, pyqtgraph's and the modules imported before) out of the
    garbage collector's scans: a full collection during a run's first imports held the GIL, and so the window,
    for 295-484 ms at load 6; 24-186 ms with them frozen (bench_gui_stall.py's "no warm-up" rows)."""
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
        gc.freeze()
    app.setWindowIcon(theme.app_icon())
    return app


#: What every run imports. Importing a C extension holds the GIL for up to a few hundred
#: milliseconds, which would stall the GUI thread if it happened mid-run: these are imported
#: on the thread pool as soon as the window shows, or behind a splash screen before it
#: shows when the app starts a run at once (``--run``, the demo).
WARM_IMPORTS = ("labelaudit.core.pipeline", "labelaudit.core.data", "labelaudit.core.predictions", "labelaudit.core.audit", "labelaudit.core.calibration",
                "labelaudit.core.export", "cleanlab.filter", "sklearn.linear_model",
                # the autosaved project, its parquet copy of the data and the Review tab: imported as the run ends otherwise
                "labelaudit.core.project", "pyarrow.parquet", "labelaudit.gui.review_panel",
                # imported by the run itself (found by diffing sys.modules around bench_gui_stall.py's runs)
                "labelaudit.core.audit_stream", "labelaudit.core.calibration_estimators",
                "labelaudit.core.multiannotator", "pyarrow.pandas_compat", "pandas.core.methods.to_dict",
                "pandas.core.arrays.arrow.extension_types")
#: Also needed by a model run (scoring, data-issue checks) and by the demo.
MODEL_IMPORTS = ("labelaudit.core.scoring.registry", "labelaudit.core.scoring.probe", "labelaudit.core.data_issues",
                 "cleanlab.datalab.internal.issue_manager.duplicate", "sklearn.model_selection",
                 "threadpoolctl", "PIL.Image")
TEXT_MODEL_IMPORTS = ("torch", "transformers", "transformers.modeling_utils", "accelerate",
                      "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto",
                      "transformers.models.bert.modeling_bert")
DEMO_IMPORTS = ("labelaudit.core.demo", "sklearn.datasets", "PIL.PngImagePlugin")


def warm_up(names=WARM_IMPORTS) -> None:
    """Import ``names`` (skipping any that are not installed) with the garbage collector paused, then move every
    object made so far out of its generations (gc.freeze): a full collection holds the GIL, and so the GUI
    thread, for as long as it scans; with the imported libraries frozen it scans only what the run made
    (bench_gui_stall.py --profile demo: a 119 ms full collection was most of a 141 ms stall). Paused, the
    imports on the pool as the window shows ran no full collection (37-74 ms each before, load 6)."""
    import importlib

    gc.disable()  # no collection while the imports hold the GIL: what they make is frozen below
    try:
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    finally:
        gc.freeze()
        gc.enable()


def imports_for(config, demo: bool) -> tuple[str, ...]:
    """The modules the run about to start will import."""
    if demo:
        return WARM_IMPORTS + MODEL_IMPORTS + DEMO_IMPORTS
    if config is not None and not (config.pred_probs or config.logits):
        return WARM_IMPORTS + MODEL_IMPORTS + TEXT_MODEL_IMPORTS
    return WARM_IMPORTS


def warm_up_behind_splash(app, names) -> None:
    """Import ``names`` while a splash screen with the icon says so."""
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QSplashScreen

    pix = QPixmap(str(theme.RESOURCES / "labelaudit.png"))
    splash = QSplashScreen(pix.scaled(192, 192, Qt.KeepAspectRatio, Qt.SmoothTransformation) if not pix.isNull() else pix)
    splash.showMessage("Loading the audit engine…", Qt.AlignBottom | Qt.AlignHCenter)
    splash.show()
    app.processEvents()
    warm_up(names)
    splash.close()


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


def run_gui(config=None, *, run: bool = False, demo: bool = False, project: str | None = None) -> int:
    """Open the labelaudit window and run the event loop; returns the exit status.

    config: an AuditConfig to load (the start page shows it ready to run);
    run: start the audit at once; demo: prepare the bundled demo and run it;
    project: a ``.labelaudit`` file to open with its results and decisions, or a results folder
    (``labelaudit audit --out``) to open with its results.
    """
    if os.environ.get("LABELAUDIT_DEBUG"):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if QApplication.instance() is None and uses_xcb():
        problem = missing_xcb_libraries() or (None if os.environ.get("DISPLAY") else
                                              "no X display to open the window on (DISPLAY is not set): run it in a "
                                              "desktop session, or use 'labelaudit audit' for a headless audit")
        if problem:
            from labelaudit.core.errors import InputError

            raise InputError(problem)
    app = make_app()
    starts_run = demo or (config is not None and run)
    if starts_run:
        warm_up_behind_splash(app, imports_for(config, demo))
    from .main_window import MainWindow

    window = MainWindow()
    fit_to_screen(window)
    window.show()
    if not starts_run:
        from .worker import run_in_pool

        # the window's objects live as long as the app: out of the collector's scans before the engine imports
        # on the pool (a full collection there held the GIL, so the new window, for 180-360 ms)
        gc.freeze()
        run_in_pool(warm_up, lambda _r: None)
    if demo:
        QTimer.singleShot(0, window.start_demo)
    elif project is not None:
        QTimer.singleShot(0, lambda: window.open_path(project))
    elif config is not None:
        window.set_config(config)
        if run:
            QTimer.singleShot(0, window.start_run)
    quit_ms = os.environ.get("LABELAUDIT_SMOKE_QUIT_MS")
    if quit_ms:  # packaging smoke runs (packaging/): report what loaded, then quit
        QTimer.singleShot(int(quit_ms), lambda: smoke_quit(app, window))
    code = app.exec()
    from .exporting import wait_for_writes

    wait_for_writes(60)  # an export still writing when the window closed finishes its file (not a stray temp file)
    return code


def smoke_quit(app: QApplication, window) -> None:
    """Print one line saying whether the window showed with its icon and stylesheet, then close it
    (which cancels a run in progress) and quit."""
    styled = sum(1 for w in window.findChildren(QWidget) if w.styleSheet())
    print(f"smoke: window shown={window.isVisible()} title={window.windowTitle()!r} "
          f"icon={not app.windowIcon().isNull()} stylesheet_chars={len(theme.stylesheet())} "
          f"styled_widgets={styled} resources={theme.RESOURCES}", flush=True)
    window.close()
    app.quit()

"""Look and feel: light/dark palette that follows the system, stylesheet, icon, plot colours."""

from __future__ import annotations

import functools
import os
import weakref
from importlib.resources import files
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QWidget

#: The package data folder (labelaudit.resources): the checkout's resources/ in an editable
#: install, site-packages in a wheel install, the bundle's folder in a standalone app.
RESOURCES = Path(str(files("labelaudit.resources")))

#: Colours shared by the plots and the table (readable on light and dark backgrounds).
ACCENT = "#3d6fe0"
CORRECT = "#2f9e58"
WRONG = "#d9482b"
FLAGGED = "#d9482b"
SUGGESTED = "#e07a1f"


def app_icon() -> QIcon:
    """The application icon (SVG, with the PNG as fallback)."""
    icon = QIcon()
    for name in ("labelaudit.svg", "labelaudit.png"):
        path = RESOURCES / name
        if path.exists():
            icon.addFile(str(path))
    return icon


def is_dark() -> bool:
    """True when the system asks for a dark colour scheme ($LABELAUDIT_THEME=dark|light overrides it)."""
    forced = os.environ.get("LABELAUDIT_THEME", "").lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def dark_palette() -> QPalette:
    """A neutral dark palette for the Fusion style."""
    p = QPalette()
    window, base, text = QColor(37, 39, 43), QColor(28, 30, 33), QColor(226, 228, 232)
    for group in (QPalette.Active, QPalette.Inactive):
        p.setColor(group, QPalette.Window, window)
        p.setColor(group, QPalette.WindowText, text)
        p.setColor(group, QPalette.Base, base)
        p.setColor(group, QPalette.AlternateBase, QColor(34, 36, 40))
        p.setColor(group, QPalette.ToolTipBase, QColor(50, 52, 58))
        p.setColor(group, QPalette.ToolTipText, text)
        p.setColor(group, QPalette.Text, text)
        p.setColor(group, QPalette.Button, QColor(48, 50, 56))
        p.setColor(group, QPalette.ButtonText, text)
        p.setColor(group, QPalette.BrightText, QColor(255, 90, 90))
        p.setColor(group, QPalette.Highlight, QColor(61, 111, 224))
        p.setColor(group, QPalette.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.Link, QColor(120, 160, 255))
        p.setColor(group, QPalette.PlaceholderText, QColor(150, 153, 160))
        p.setColor(group, QPalette.Light, QColor(70, 73, 80))
        p.setColor(group, QPalette.Midlight, QColor(58, 61, 67))
        p.setColor(group, QPalette.Mid, QColor(80, 83, 90))
        p.setColor(group, QPalette.Dark, QColor(20, 21, 24))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(120, 123, 130))
    p.setColor(QPalette.Disabled, QPalette.Base, base)
    p.setColor(QPalette.Disabled, QPalette.Window, window)
    p.setColor(QPalette.Disabled, QPalette.Button, QColor(44, 46, 51))
    return p


def light_palette() -> QPalette:
    """Fusion's light palette with this app's highlight colour."""
    p = QApplication.style().standardPalette()
    p.setColor(QPalette.Highlight, QColor(61, 111, 224))
    p.setColor(QPalette.HighlightedText, QColor(255, 255, 255))
    return p


#: Widgets whose look derives from the palette at the time it was set (re-applied on a scheme change).
_STYLED: "weakref.WeakSet[QWidget]" = weakref.WeakSet()
_MUTED: "weakref.WeakSet[QWidget]" = weakref.WeakSet()


def apply_theme(app: QApplication) -> None:
    """Fusion style, the palette of the system's colour scheme, plot colours; re-styles
    the widgets styled so far (the stylesheet resolves palette colours when applied)."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if is_dark() else light_palette())
    for w in list(_STYLED):
        w.setStyleSheet("")
        w.setStyleSheet(stylesheet())
    for w in list(_MUTED):
        set_muted(w)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, background=plot_background(), foreground=plot_foreground())


@functools.cache
def stylesheet() -> str:
    """resources/style.qss (empty if missing)."""
    qss = RESOURCES / "style.qss"
    return qss.read_text(encoding="utf-8") if qss.exists() else ""


def style(*widgets: QWidget) -> None:
    """Apply the app's stylesheet to these widgets and their children.

    Not set on the whole application: a stylesheet makes Qt draw every widget
    under it through QStyleSheetStyle, which doubles the cost of painting the
    examples table and the plots. Only the cards, bars and buttons it styles get it.
    """
    for w in widgets:
        w.setStyleSheet(stylesheet())
        _STYLED.add(w)


def color(value, alpha: int | None = None) -> QColor:
    """A QColor from a hex string or QColor, with ``alpha`` (0-255) when given."""
    c = QColor(value)
    if alpha is not None:
        c.setAlpha(alpha)
    return c


def plot_background() -> QColor:
    return QApplication.palette().color(QPalette.Base)


def plot_foreground() -> QColor:
    return QApplication.palette().color(QPalette.Text)


def muted_color() -> QColor:
    return QApplication.palette().color(QPalette.PlaceholderText)


def set_muted(widget: QWidget) -> None:
    """Draw a label's text in the palette's secondary (placeholder) colour."""
    pal = widget.palette()
    pal.setColor(QPalette.WindowText, muted_color())
    widget.setPalette(pal)
    _MUTED.add(widget)

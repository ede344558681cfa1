"""The one reliability-diagram drawer: every view that shows a reliability diagram draws it here.

A diagram is accuracy per confidence bin as bars, the gap to the bin's mean forecast
shaded, and the dashed diagonal of perfect calibration; empty bins are left out.

``draw_reliability(plot, bins, *, diagonal=True)`` -> list of the pyqtgraph items added to ``plot``
    plot: a PlotItem or PlotWidget; bins: a core.calibration.reliability_bins DataFrame or its records.
``bin_items(lower, upper, forecast, accuracy)`` -> [bars, gap] pyqtgraph items (not added anywhere)
``visible_edges(lower, upper)`` -> (lower, upper) with bins narrower than 0.006 widened about their middle
    (equal-mass bins of tied confidences), so they can be seen and clicked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt

from . import theme

MIN_WIDTH = 0.006


def visible_edges(lower, upper, min_width: float = MIN_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    width = upper - lower
    pad = np.where(width < min_width, (min_width - width) / 2, 0.0)
    return lower - pad, upper + pad


def nonempty_bins(bins) -> pd.DataFrame:
    """The bins with at least one example, as a DataFrame (records become one)."""
    frame = bins if isinstance(bins, pd.DataFrame) else pd.DataFrame(list(bins))
    if frame.empty:
        return frame
    return frame[frame["count"].to_numpy() > 0]


def diagonal_item() -> pg.PlotDataItem:
    return pg.PlotDataItem([0, 1], [0, 1], pen=pg.mkPen(theme.color(theme.plot_foreground(), 150), width=1,
                                                         style=Qt.DashLine))


def bin_items(lower, upper, forecast, accuracy) -> list:
    lower, upper = visible_edges(lower, upper)
    forecast, accuracy = np.asarray(forecast, float), np.asarray(accuracy, float)
    return [
        pg.BarGraphItem(x0=lower, x1=upper, height=accuracy, brush=theme.color(theme.ACCENT, 170),
                        pen=pg.mkPen(theme.color(theme.ACCENT), width=1)),
        pg.BarGraphItem(x0=lower, x1=upper, y0=np.minimum(accuracy, forecast), y1=np.maximum(accuracy, forecast),
                        brush=theme.color(theme.WRONG, 70), pen=pg.mkPen(theme.color(theme.WRONG, 150), width=1)),
    ]


def draw_reliability(plot, bins, *, diagonal: bool = True) -> list:
    b = nonempty_bins(bins)
    items = [diagonal_item()] if diagonal else []
    if len(b):
        items += bin_items(b["lower"], b["upper"], b["mean_confidence"], b["accuracy"])
    for item in items:
        plot.addItem(item)
    return items

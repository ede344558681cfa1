"""Regenerate the README screenshots (docs/screenshots/*.png) from the running app.

Runs the bundled demo (scikit-learn digits with 5% of the labels flipped) in
the real main window at 1280x800 and saves:

- main.png: the audit of the demo: overview, reliability diagram, the table
  sorted by label quality, and a flagged digit in the inspector;
- confusion.png: the given x predicted heatmap with one cell clicked, the
  table filtered to that pair;
- setup.png: the set-up dialog on the demo's labels.csv (preview, detected
  columns, model picker);
- dark.png: main.png's view after switching to the dark palette;
- review.png: the Review tab (keyboard review of the flagged examples);
- calibration.png: the Calibration tab after cross-fitted temperature scaling.

Needs a display: without one it re-runs itself under ``xvfb-run`` (apt-get
install xvfb). Usage: ``python scripts/screenshots.py [--out docs/screenshots]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wait_until(app, condition, timeout_s: float = 120.0) -> None:
    """Run the event loop until ``condition()`` is true."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(50)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError("the app did not reach the expected state in time")


def settle(app, ms: int = 600) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def shoot(out: Path) -> list[Path]:
    import numpy as np
    from PySide6.QtCore import QSettings

    from labelaudit.gui import theme
    from labelaudit.gui.app import fit_to_screen, make_app
    from labelaudit.gui.main_window import MainWindow
    from labelaudit.gui.setup_dialog import AuditSetupDialog

    app = make_app()
    settings_dir = Path(tempfile.mkdtemp(prefix="labelaudit-shots-"))
    window = MainWindow(QSettings(str(settings_dir / "settings.ini"), QSettings.IniFormat))
    window.resize(1280, 800)
    fit_to_screen(window)
    window.show()
    window.start_demo()
    wait_until(app, lambda: window.report is not None)
    ex = window.explorer
    settle(app)
    saved = []

    # main: a flagged planted error selected
    report = window.report
    planted = report.dataset.table["planted_error"].to_numpy(dtype=bool)
    flagged = report.examples["is_label_issue"].to_numpy(dtype=bool)
    rows = [int(r) for r in window.selection.rows if planted[r] and flagged[r]]
    if rows:
        window.selection.set_current(rows[2] if len(rows) > 2 else rows[0])
    settle(app)
    saved.append(out / "main.png")
    window.grab().save(str(saved[-1]))

    # confusion: click the largest off-diagonal cell
    ex.plots.setCurrentWidget(ex.confusion)
    settle(app)
    counts = np.array(ex.state.results.confusion, dtype=float)
    np.fill_diagonal(counts, -1)
    g, p = np.unravel_index(int(counts.argmax()), counts.shape)
    ex.confusion.click_cell(int(g), int(p))
    settle(app)
    saved.append(out / "confusion.png")
    window.grab().save(str(saved[-1]))

    # the same view in the dark palette (as when the system switches to dark mode)
    ex.plots.setCurrentWidget(ex.reliability)
    window.selection.clear_filter()
    if rows:
        window.selection.set_current(rows[2] if len(rows) > 2 else rows[0])
    os.environ["LABELAUDIT_THEME"] = "dark"
    theme.apply_theme(app)
    settle(app, 800)
    saved.append(out / "dark.png")
    window.grab().save(str(saved[-1]))
    os.environ.pop("LABELAUDIT_THEME")
    theme.apply_theme(app)
    settle(app)

    # review: the Review tab on the project every run is kept in
    def tab(title):
        titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        return window.tabs.widget(titles.index(title)) if title in titles else None

    wait_until(app, lambda: tab("Review") is not None, 60)
    window.tabs.setCurrentWidget(tab("Review"))
    settle(app)
    saved.append(out / "review.png")
    window.grab().save(str(saved[-1]))

    # calibration: cross-fitted temperature scaling, before and after
    cal = window.calibration_tab
    window.tabs.setCurrentWidget(cal)
    cal.method_box.setCurrentIndex(cal.method_box.findData("temperature"))
    cal.apply()
    wait_until(app, lambda: cal.after_rows is not None, 120)
    settle(app, 800)
    saved.append(out / "calibration.png")
    window.grab().save(str(saved[-1]))
    window.tabs.setCurrentWidget(window.explorer)

    # setup dialog on the demo data
    dlg = AuditSetupDialog(report.config, window)
    dlg.show()
    wait_until(app, lambda: dlg._preview is not None, 30)
    settle(app, 400)
    saved.append(out / "setup.png")
    dlg.grab().save(str(saved[-1]))
    dlg.reject()
    window.close()
    shutil.rmtree(settings_dir, ignore_errors=True)
    return saved


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate docs/screenshots/*.png from the demo.")
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            print("no display: install xvfb (apt-get install xvfb) or set DISPLAY", file=sys.stderr)
            return 2
        return subprocess.call([xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, __file__, *(argv or sys.argv[1:])])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in shoot(out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

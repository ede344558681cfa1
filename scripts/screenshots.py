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
install xvfb), or renders offscreen with ``QT_QPA_PLATFORM=offscreen``.
Usage: ``python scripts/screenshots.py [--out docs/screenshots]``.

``--check`` renders every page (Explore with each plot, Calibration,
Benchmark, Review) at 1280x800 and 1600x1000, light and dark, for a text
dataset (77 intents), an image dataset (the demo) and a predictions-only one
(CIFAR-100's released predictions, 100 classes), and lists what does not fit:
a label or button narrower than its text (its size hint, fontMetrics), a
wrapped label shorter than its lines, a header narrower than its title, the
text column off-screen. It saves each
view under ``--out`` (default: a temporary folder) and exits 1 if anything is clipped.
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
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen":  # offscreen has no real screen to fit
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


SIZES = ((1280, 800), (1600, 1000))


def clipped(root) -> list[str]:
    """What does not fit in the visible widgets under ``root``, one line each.

    A QLabel or button (not word-wrapped, not eliding on purpose) whose size hint, which Qt computes
    from fontMetrics and the style's padding, is wider than the widget; a table header section
    narrower than its title. Widgets inside a scroll area are measured against the area's viewport.
    """
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QHeaderView, QLabel, QStyle, QWidget

    out = []
    for w in root.findChildren(QWidget):
        if not w.isVisible() or w.width() <= 1:
            continue
        name = f"{type(w).__name__} {w.objectName() or ''}".strip()
        if isinstance(w, QLabel) and w.wordWrap() and w.text():
            need = w.heightForWidth(w.width())
            if need > w.height() + 1:
                out.append(f"{name} {w.text()[:60]!r}: wraps to {need} px high, has {w.height()}")
        elif isinstance(w, QLabel) and not w.wordWrap() and w.text():
            if w.pixmap() is not None and not w.pixmap().isNull():
                continue
            need = w.sizeHint().width()
            if need > w.width() + 1:
                out.append(f"{name} {w.text()[:60]!r}: needs {need} px, has {w.width()}")
        elif isinstance(w, QAbstractButton) and w.text():
            need = w.sizeHint().width()
            if need > w.width() + 1:
                out.append(f"{name} {w.text()[:60]!r}: needs {need} px, has {w.width()}")
        elif isinstance(w, QHeaderView) and w.orientation() == Qt.Horizontal and w.model() is not None:
            fm = w.fontMetrics()
            pad = 2 * w.style().pixelMetric(QStyle.PM_HeaderMargin, None, w)
            for i in range(w.count()):
                if w.isSectionHidden(i) or w.sectionSize(i) <= 0:
                    continue
                text = w.model().headerData(i, Qt.Horizontal)
                if not text:
                    continue
                need = fm.horizontalAdvance(str(text)) + pad
                if need > w.sectionSize(i) + 1:
                    out.append(f"header {str(text)!r}: needs {need} px, has {w.sectionSize(i)}")
        # a widget that sticks out of the window's right edge (not inside something that scrolls)
        parent, scrolled = w.parentWidget(), False
        while parent is not None and parent is not root:
            if isinstance(parent, QAbstractScrollArea):
                scrolled = True
                break
            parent = parent.parentWidget()
        if not scrolled and (isinstance(w, (QLabel, QAbstractButton))):
            right = w.mapTo(root, QPoint(w.width(), 0)).x()
            if right > root.width() + 1:
                out.append(f"{name} {getattr(w, 'text', lambda: '')()[:60]!r}: right edge {right} px beyond the "
                           f"window ({root.width()} px)")
    return out


def _check_datasets(folder: Path):
    """(title, AuditConfig or "demo") of the three kinds of data the check renders."""
    import numpy as np
    import pandas as pd

    from labelaudit.core.export import write_csv
    from labelaudit.core.pipeline import AuditConfig

    cases = []
    # text: 3,080 customer queries in 77 intents (synthetic probabilities, with 6% of labels flipped)
    rng = np.random.default_rng(7)
    n, k = 3080, 77
    intents = [f"{w}_{v}" for w in ("card", "transfer", "refund", "top_up", "exchange_rate", "pin", "account")
               for v in ("arrival", "not_working", "declined", "pending", "limits", "fee_charged", "failed",
                         "reverted", "verification", "cancelled", "lost_or_stolen")]
    true = rng.integers(0, k, n)
    given = true.copy()
    flip = rng.random(n) < 0.06
    given[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 4.0
    logits[np.arange(n), (true + 1) % k] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    text = [f"Hi, my {intents[t].replace('_', ' ')} problem again: I tried twice this week and the app still "
            f"shows nothing useful, what should I do next? (query {i})" for i, t in enumerate(true)]
    write_csv(pd.DataFrame({"text": text, "intent": [intents[g] for g in given]}), folder / "queries.csv")
    np.save(folder / "queries_probs.npy", probs)
    (folder / "intents.txt").write_text("\n".join(intents) + "\n")
    cases.append(("text", AuditConfig(data=str(folder / "queries.csv"), pred_probs=str(folder / "queries_probs.npy"),
                                      classes=str(folder / "intents.txt"))))
    cases.append(("image", "demo"))
    shared = REPO.parent / "shared" / "data" / "labelerrors" / "cifar100"
    if (shared / "pred_probs.npy").exists():
        cases.append(("predictions", AuditConfig(data=str(shared / "labels.npy"), pred_probs=str(shared / "pred_probs.npy"),
                                                 classes=str(shared / "classes.txt"))))
    return cases


def check(out: Path) -> int:
    """Render every page in every case; print what is clipped; 0 when nothing is."""
    from PySide6.QtCore import QSettings

    from labelaudit.gui import theme
    from labelaudit.gui.app import make_app
    from labelaudit.gui.main_window import MainWindow

    app = make_app()
    work = Path(tempfile.mkdtemp(prefix="labelaudit-check-"))
    out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for title, config in _check_datasets(work):
        window = MainWindow(QSettings(str(work / f"{title}.ini"), QSettings.IniFormat))
        window.resize(*SIZES[0])
        window.show()
        if config == "demo":
            window.start_demo()
        else:
            window.set_config(config)
            window.start_run()
        wait_until(app, lambda: window.report is not None, 300)
        ex = window.explorer
        flagged = [int(r) for r in window.selection.rows
                   if window.report.examples["is_label_issue"].to_numpy()[r]]
        if flagged:
            window.selection.set_current(flagged[0])
        wait_until(app, lambda: "Review" in [window.tabs.tabText(i) for i in range(window.tabs.count())], 60)
        # recalibrated, so the overview shows its before -> after line too
        cal = window.calibration_tab
        window.tabs.setCurrentWidget(cal)
        cal.method_box.setCurrentIndex(cal.method_box.findData("temperature"))
        cal.apply()
        wait_until(app, lambda: "recalibration" in window.report.summary and not cal.running, 300)
        titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        for dark in (False, True):
            os.environ["LABELAUDIT_THEME"] = "dark" if dark else "light"
            theme.apply_theme(app)
            for width, height in SIZES:
                window.resize(width, height)
                views = [("explore-" + ex.plots.tabText(i).lower(), window.explorer, i) for i in range(ex.plots.count())]
                views += [(t.lower(), window.tabs.widget(i), None) for i, t in enumerate(titles) if t != "Explore"]
                for name, page, plot_index in views:
                    window.tabs.setCurrentWidget(page)
                    if plot_index is not None:
                        ex.plots.setCurrentIndex(plot_index)
                    settle(app, 300)
                    where = f"{title} {width}x{height} {'dark' if dark else 'light'} {name}"
                    found = clipped(window)
                    if page is window.explorer and window.report.dataset.text_col:
                        col = ex.model.column_index(ex.state.results.input_col)
                        if col < 0 or ex.table.columnViewportPosition(col) > ex.table.viewport().width() - 100:
                            found.append("the text column is off-screen")
                    problems += [f"{where}: {p}" for p in found]
                    window.grab().save(str(out / f"{title}-{width}x{height}-{'dark' if dark else 'light'}-{name}.png"))
        os.environ.pop("LABELAUDIT_THEME", None)
        theme.apply_theme(app)
        window.close()
    shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print(p)
    print(f"{len(problems)} clipped or off-screen item(s); views saved in {out}")
    return 1 if problems else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate docs/screenshots/*.png from the demo.")
    ap.add_argument("--out", help="where to write (default docs/screenshots; with --check a temporary folder)")
    ap.add_argument("--check", action="store_true", help="render every page at 1280x800 and 1600x1000, light and "
                    "dark, for text, image and predictions-only data, and list what is clipped (exit 1 if any)")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            print("no display: install xvfb (apt-get install xvfb) or set DISPLAY", file=sys.stderr)
            return 2
        return subprocess.call([xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, __file__, *(argv or sys.argv[1:])])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.check:
        return check(Path(args.out or Path(tempfile.gettempdir()) / "labelaudit-check"))
    out = Path(args.out or REPO / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    for path in shoot(out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Multi-label tab: per-class calibration with a class picker, review keys that toggle a class, the cleanset."""

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt

from labelaudit.core.pipeline import AuditConfig
from test_gui_project import make_window
from test_multilabel import CLASSES, planted  # noqa: F401 (fixture)


def test_multilabel_run_calibration_and_review(qtbot, tmp_path, planted):  # noqa: F811
    d = planted["dir"]
    window = make_window(qtbot, tmp_path)
    window.set_config(AuditConfig(data=str(d / "pipes.csv"), pred_probs=str(d / "probs.npy"), multi_label=True))
    assert window.start_run()
    qtbot.waitUntil(lambda: getattr(window, "multilabel_report", None) is not None, timeout=60_000)
    tab, report = window.multilabel_tab, window.multilabel_report
    assert window.tabs.currentWidget() is tab
    assert tab.classes.rowCount() == 4 and tab.classes.item(2, 0).text() == "tech"
    assert tab.classes.item(2, 3).text() == f"{report.per_class['ece'][2]:.4f}"

    tab.picker.setCurrentIndex(3)  # weather's reliability diagram
    assert int(tab.bins_shown["count"].sum()) == 300
    positives = planted["given"][:, 3]
    conf = np.maximum(planted["probs"][:, 3], 1 - planted["probs"][:, 3])
    top = (conf > 14 / 15)
    assert int(tab.bins_shown["count"].iloc[-1]) == int(top.sum())
    assert tab.class_ece.text() == f"ECE {report.per_class['ece'][3]:.4f}"
    assert positives.sum() == report.per_class["n_positive"][3]

    queue = tab.review.queue
    first, second = queue[0], queue[1]
    before = set(tab.review.current(first))
    tab.setFocus()
    qtbot.keyClick(tab, Qt.Key_2)  # toggle "sports" on the first flagged example
    assert set(tab.review.current(first)) == before ^ {1}
    assert tab.queue.item(0, 3).text() == "|".join(CLASSES[c] for c in sorted(before ^ {1}))
    qtbot.keyClick(tab, Qt.Key_Down)
    qtbot.keyClick(tab, Qt.Key_A)  # accept the suggested set of the second
    assert tab.queue.currentRow() == 2
    out = tmp_path / "clean.csv"
    assert tab.export_cleanset(str(out)) is not None
    qtbot.waitUntil(lambda: tab.exports.pending == 0, timeout=10_000)  # written in the background
    assert window.status_label.text() == f"Wrote the cleanset to {out}"
    bad = tmp_path / "no such folder" / "clean.csv"
    tab.export_cleanset(str(bad))
    qtbot.waitUntil(lambda: tab.exports.pending == 0, timeout=10_000)
    assert window.last_error == f"{bad}: cannot write (No such file or directory)"
    clean = pd.read_csv(out, keep_default_na=False)
    assert clean["corrected_labels"][first] == "|".join(CLASSES[c] for c in sorted(before ^ {1}))
    assert clean["corrected_labels"][second] == report.examples["suggested_labels"][second]
    assert (clean["decision"][first], clean["decision"][second]) == ("edit", "accept")
    assert tab.review.path.exists() and len(tab.review.path.read_text().splitlines()) == 2

"""The Annotators tab ranks annotators, a click filters the table to their rows; the inspector lists each label."""

import pandas as pd
from PySide6.QtWidgets import QLabel

from labelaudit.core.pipeline import AuditConfig
from test_gui_project import make_window
from test_multiannotator import annotated  # noqa: F401 (fixture)


def _detail_texts(inspector):
    form = inspector.details
    return [form.itemAt(i).widget().text() for i in range(form.count())
            if isinstance(form.itemAt(i).widget(), QLabel)]


def test_annotators_tab_ranks_and_filters(qtbot, tmp_path, annotated):  # noqa: F811
    d = annotated["dir"]
    window = make_window(qtbot, tmp_path)
    tab = window.annotators_tab
    assert not window.tabs.isTabVisible(window.tabs.indexOf(tab))  # no run, no annotators
    window.set_config(AuditConfig(data=str(d / "long.csv"), pred_probs=str(d / "probs.npy"),
                                  classes=str(d / "classes.txt"), annotators="long"))
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None, timeout=60_000)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 4, timeout=10_000)
    assert window.tabs.isTabVisible(window.tabs.indexOf(tab))
    shown = [tab.annotator_at(r) for r in range(4)]
    ranked = [a["annotator"] for a in window.report.summary["annotators"]["annotators"]]
    assert shown == ranked and shown[-1] == "dan"

    model = window.explorer.model
    assert "consensus_label" in model.columns and "annotator_agreement" in model.columns
    long = pd.read_csv(d / "long.csv")
    dan_rows = {int(i[2:]) for i in long["id"][long["annotator"] == "dan"]}
    tab.table.cellClicked.emit(3, 0)
    assert window.tabs.currentWidget() is window.explorer
    qtbot.waitUntil(lambda: model.rowCount() == len(dan_rows), timeout=10_000)
    assert {model.row_of(r) for r in range(model.rowCount())} == dan_rows
    assert "Labelled by dan" in [text for _name, text in window.explorer.filter_bar.chip_texts(window.state.filter)]

    row = min(dan_rows)
    window.state.set_current(row)
    first = long[long["id"] == f"ex{row:03d}"].sort_values("annotator")
    expected = "\n".join(f"{a}={lab}" for a, lab in zip(first["annotator"], first["label"]))
    qtbot.waitUntil(lambda: expected in _detail_texts(window.explorer.inspector), timeout=5_000)
    window.state.clear_filter("annotator")
    qtbot.waitUntil(lambda: model.rowCount() == annotated["n"], timeout=5_000)

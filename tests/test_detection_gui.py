"""The detection method in the app: the setup dialog's row, the overview line, the table's order."""

from labelaudit.core.pipeline import AuditConfig
from labelaudit.gui.setup_dialog import AuditSetupDialog
from test_gui_project import make_window


def _config(labelerrors, **kw):
    folder = labelerrors / "cifar10"
    return AuditConfig(data=str(folder / "labels.npy"), classes=str(folder / "classes.txt"),
                       pred_probs=str(folder / "pred_probs.npy"), **kw)


def test_setup_dialog_shows_and_returns_the_method(qtbot, labelerrors):
    dlg = AuditSetupDialog(_config(labelerrors, filter_by="labelerrors-2021", rank_by="self_confidence"))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.preview_model.rowCount() > 0, timeout=10_000)  # the preview has come back
    row = dlg.detection
    assert row.filter_by.currentText() == "labelerrors-2021" and row.rank_by.currentText() == "self_confidence"
    c = dlg.config()
    assert (c.filter_by, c.rank_by, c.num_issues, c.frac_noise) == ("labelerrors-2021", "self_confidence", None, 1.0)
    row.filter_by.setCurrentIndex(row.filter_by.findData("confident_learning"))
    row.frac_noise.setValue(0.5)
    assert "--frac-noise applies to" in dlg.problem()
    row.filter_by.setCurrentIndex(row.filter_by.findData("prune_by_class"))
    assert dlg.problem() is None and dlg.config().frac_noise == 0.5
    row.frac_noise.setValue(1.0)
    row.filter_by.setCurrentIndex(row.filter_by.findData("prune_by_noise_rate"))
    row.num_issues.setValue(40)
    assert dlg.config().num_issues == 40
    row.annotators.setCurrentIndex(row.annotators.findData("wide"))
    row.multi_label.setChecked(True)
    c = dlg.config()
    assert (c.annotators, c.multi_label) == ("wide", True)
    again = AuditSetupDialog(c)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.preview_model.rowCount() > 0, timeout=10_000)
    assert again.detection.annotators.currentData() == "wide" and again.detection.multi_label.isChecked()


def test_run_with_a_method_shows_it_and_orders_the_table(qtbot, tmp_path, labelerrors):
    window = make_window(qtbot, tmp_path)
    window.set_config(_config(labelerrors, filter_by="labelerrors-2021"))
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None, timeout=60_000)
    report = window.report
    assert report.summary["n_label_issues"] == 275
    text = window.explorer.overview.model_label.full_text
    assert "labelerrors-2021" in text and "normalized margin" in text
    model = window.explorer.model
    qtbot.waitUntil(lambda: model.rowCount() == 10_000, timeout=10_000)
    worst = report.examples.sort_values(["label_quality", "row"], kind="stable")["row"].tolist()[:5]
    assert [model.row_of(r) for r in range(5)] == worst

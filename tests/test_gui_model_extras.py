"""The correctness model and position bias in the app: the setup dialog's switches (--correctness,
--permute-options K) and the Overview's lines with the numbers the run reported."""

import pandas as pd

from labelaudit.core.pipeline import AuditConfig
from labelaudit.gui.setup_dialog import AuditSetupDialog
from test_gui_project import make_window


def _mc_csv(tmp_path):
    frame = pd.DataFrame({
        "question": ["What is the capital of France?", "What do bees make?", "What is the opposite of hot?",
                     "How many legs does a dog have?"],
        "options": ["Paris|Banana|Glass", "Honey|Glass|Rocks", "Tall|Cold|Blue", "Two|Four|Nine"],
        "label": ["A", "A", "B", "B"]})
    frame.to_csv(tmp_path / "mc.csv", index=False)
    return tmp_path / "mc.csv"


def test_setup_dialog_switches_correctness_and_option_orders(qtbot, tmp_path):
    dlg = AuditSetupDialog(AuditConfig(data=str(_mc_csv(tmp_path)), model="llm", correctness=True, permute_options=3))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.preview_model.rowCount() > 0, timeout=10_000)
    assert dlg.correctness.isChecked() and dlg.permute.value() == 3 and dlg.permute.isEnabled()
    c = dlg.config()
    assert (c.correctness, c.permute_options, c.model) == (True, 3, "llm")
    dlg.correctness.setChecked(False)
    dlg.permute.setValue(1)
    assert dlg.permute.text() == "off"
    assert (dlg.config().correctness, dlg.config().permute_options) == (False, 1)
    dlg.permute.setValue(2)
    dlg.model_radios["probe"].setChecked(True)  # the probe cannot re-score options: the switch is off and ignored
    assert not dlg.permute.isEnabled() and dlg.config().permute_options == 1


def test_overview_shows_correctness_model_numbers(qtbot, tmp_path, labelerrors):
    folder = labelerrors / "cifar10"
    window = make_window(qtbot, tmp_path)
    overview = window.explorer.overview
    window.set_config(AuditConfig(data=str(folder / "labels.npy"), classes=str(folder / "classes.txt"),
                                  pred_probs=str(folder / "pred_probs.npy"), correctness=True))
    assert window.start_run()
    qtbot.waitUntil(lambda: window.report is not None, timeout=60_000)
    c = window.report.summary["correctness"]
    qtbot.waitUntil(lambda: "P(correct)" in overview.extras_label.full_text, timeout=10_000)
    text = overview.extras_label.full_text
    assert overview.extras_label.isVisible()
    for key, name in (("auroc", "AUROC"), ("brier", "Brier"), ("ece", "ECE")):
        assert f"{name} {c['raw'][key]:.4f} → {c['model'][key]:.4f} ({c['beats_raw'][key]})" in text
    assert "Position bias" not in text


def test_overview_shows_position_bias_of_an_llm_run(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path)
    overview = window.explorer.overview
    window.set_config(AuditConfig(data=str(_mc_csv(tmp_path)), model="llm", device="cpu", permute_options=2, folds=2))
    assert window.start_run()
    qtbot.waitUntil(lambda: bool(window.report is not None or window.last_error), timeout=240_000)
    assert not window.last_error
    b = window.report.summary["position_bias"]
    qtbot.waitUntil(lambda: "Position bias" in overview.extras_label.full_text, timeout=10_000)
    text = overview.extras_label.full_text
    assert f"over {b['orders']} option orders" in text and f"conflict rate {b['conflict_rate']:.1%}" in text
    assert (f"single order accuracy {b['single_order']['accuracy']:.4f} ECE {b['single_order']['ece']:.4f}, balanced "
            f"accuracy {b['balanced']['accuracy']:.4f} ECE {b['balanced']['ece']:.4f}") in text
    for letter, v in b["accuracy_by_gold_position"].items():
        if v["accuracy"] is not None:
            assert f"{letter} {v['accuracy']:.2f}" in text

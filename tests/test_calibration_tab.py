"""The calibration tab (gui.calibration_tab) offscreen: metrics, presets, Apply, self-knowledge."""

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from labelaudit.core.calibration_estimators import calibration_table  # noqa: E402
from labelaudit.core.pipeline import AuditConfig  # noqa: E402
from labelaudit.core.selfknowledge import self_knowledge_report  # noqa: E402
from labelaudit.gui.calibration_tab import CalibrationTab  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def cifar(labelerrors):
    p = np.load(labelerrors / "cifar10" / "pred_probs.npy")
    p = p / p.sum(axis=1, keepdims=True)
    p = p**3 / (p**3).sum(axis=1, keepdims=True)  # overconfident
    return p, np.load(labelerrors / "cifar10" / "labels.npy").astype(np.int64)


def _report(p, y, extra=None, recalibration=None):
    return SimpleNamespace(
        pred_probs=p,
        dataset=SimpleNamespace(labels=y, class_names=[str(i) for i in range(p.shape[1])]),
        config=AuditConfig(folds=5, seed=0),
        score=SimpleNamespace(extra=extra or {}),
        recalibration=recalibration,
    )


def _column(tab, col):
    return {tab.table.item(i, 0).data(256): tab.table.item(i, col).text() for i in range(tab.table.rowCount())}


def _wait_idle(qtbot, tab):
    qtbot.waitUntil(lambda: not tab.running, timeout=WAIT_MS)


def test_set_report_fills_the_before_column(qtbot, cifar):
    p, y = cifar
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.show()  # it computes once shown
    tab.set_report(_report(p, y))
    _wait_idle(qtbot, tab)
    before = _column(tab, 1)
    expected = {r["key"]: r for r in calibration_table(p, y, "guo2017")}
    assert before["ece"] == f"{expected['ece']['value']:.4f}" == "0.0590"
    assert before["nll"] == f"{expected['nll']['value']:.4f}"
    assert "[" in before["smooth_ece"]  # with its bootstrap interval
    assert _column(tab, 2)["ece"] == ""  # nothing applied yet
    row = [tab.table.item(i, 0).data(256) for i in range(tab.table.rowCount())].index("debiased_ece")
    assert "Kumar" in tab.table.item(row, 0).toolTip()
    assert tab.before_plot.items and not tab.after_plot.items
    assert not tab.sk_group.isVisibleTo(tab)

    tab.preset_buttons["kadavath2022"].click()
    _wait_idle(qtbot, tab)
    kadavath = {r["key"]: r for r in calibration_table(p, y, "kadavath2022", n_boot=0)}
    assert _column(tab, 1)["ece"] == f"{kadavath['ece']['value']:.4f}"
    assert "10 equal-mass" in tab.before_plot.getPlotItem().titleLabel.text


def test_apply_emits_the_result_and_fills_after(qtbot, cifar):
    p, y = cifar
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.show()  # it computes once shown
    tab.set_report(_report(p, y))
    tab.method_box.setCurrentIndex(tab.method_box.findData("temperature"))
    with qtbot.waitSignal(tab.recalibrated, timeout=WAIT_MS) as blocker:
        tab.apply_button.click()
    result = blocker.args[0]
    assert result.method == "temperature"
    assert result.ece_after < 0.5 * result.ece_before and result.nll_after < result.nll_before
    np.testing.assert_array_equal(result.pred_probs.argmax(1), p.argmax(1))
    _wait_idle(qtbot, tab)
    after = _column(tab, 2)
    assert after["ece"] == f"{result.ece_after:.4f}"
    assert after["accuracy"] == _column(tab, 1)["accuracy"]
    assert tab.after_plot.items
    assert "temperature" in tab.status.text() and "→" in tab.status.text()


def test_report_with_a_recalibration_shows_it(qtbot, cifar):
    from labelaudit.core.recalibration import recalibrate

    p, y = cifar
    result = recalibrate(p, y, "histogram")
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.show()  # it computes once shown
    tab.set_report(_report(p, y, recalibration=result))
    _wait_idle(qtbot, tab)
    assert tab.method_box.currentData() == "histogram"
    assert _column(tab, 2)["ece"] == f"{result.ece_after:.4f}"


def test_self_knowledge_section(qtbot):
    rng = np.random.default_rng(0)
    n = 400
    p = rng.dirichlet(np.ones(3), size=n)
    y = rng.integers(0, 3, n)
    p_true = rng.uniform(size=n)
    correct = rng.uniform(size=n) < p_true
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.show()  # it computes once shown
    tab.set_report(_report(p, y, extra={"p_true": p_true, "p_ik": 1 - p_true, "llm_correct": correct}))
    _wait_idle(qtbot, tab)
    assert tab.sk_group.isVisibleTo(tab)
    assert [tab.sk_key_box.itemText(i) for i in range(tab.sk_key_box.count())] == ["P(True)", "P(IK)"]
    rep = self_knowledge_report(p_true, correct)
    assert f"AUROC {rep['auroc']:.3f}" in tab.sk_summary.text()
    assert f"Brier {rep['brier']:.4f}" in tab.sk_summary.text()
    xs, ys = tab.coverage_curve.getData()
    assert xs[0] == 1.0 and ys[-1] > ys[0]
    tab.sk_key_box.setCurrentIndex(1)
    inverse = self_knowledge_report(1 - p_true, correct)
    assert f"AUROC {inverse['auroc']:.3f}" in tab.sk_summary.text()
    tab.set_report(None)
    assert tab.table.rowCount() == 0 and not tab.apply_button.isEnabled()


def test_real_audit_report(qtbot, labelerrors, cifar):
    """An AuditReport from the pipeline works as is."""
    from labelaudit.core.data import load_dataset
    from labelaudit.core.pipeline import audit_arrays

    p, _ = cifar
    folder = labelerrors / "cifar10"
    dataset = load_dataset(folder / "labels.npy", classes=folder / "classes.txt")
    report = audit_arrays(dataset, p, config=AuditConfig(data=str(folder / "labels.npy"), pred_probs="x.npy"))
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.show()  # it computes once shown
    tab.set_report(report)
    tab.method_box.setCurrentIndex(tab.method_box.findData("auto"))
    with qtbot.waitSignal(tab.recalibrated, timeout=WAIT_MS) as blocker:
        tab.apply()
    assert blocker.args[0].method == "temperature"
    assert blocker.args[0].details["requested"] == "auto"


def test_metrics_wait_until_the_tab_is_shown(qtbot, cifar):
    """The bootstrap does not compete with the window after every run: it starts when the tab shows."""
    p, y = cifar
    tab = CalibrationTab()
    qtbot.addWidget(tab)
    tab.set_report(_report(p, y))
    assert not tab.running and tab.table.rowCount() == 0
    tab.show()
    _wait_idle(qtbot, tab)
    before = _column(tab, 1)
    assert before["ece"] != "" and before["smooth_ece"] != ""

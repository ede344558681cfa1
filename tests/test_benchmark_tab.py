"""The benchmark tab (gui.benchmark_tab) offscreen on CIFAR-10 with its human validation."""

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from labelaudit.gui.benchmark_tab import BenchmarkTab  # noqa: E402

WAIT_MS = 60_000


@pytest.fixture
def cifar_inputs(labelerrors, tmp_path):
    folder = labelerrors / "cifar10"
    p = np.load(folder / "pred_probs.npy")
    p = p / p.sum(axis=1, keepdims=True)
    given = np.load(folder / "labels.npy").astype(np.int64)
    reviewed = np.array([int(e["id"]) for e in json.loads((folder / "mturk.json").read_text())])
    memoriser = p.copy()
    memoriser[reviewed] = np.eye(10)[given[reviewed]] * 0.9 + 0.01  # learned the noisy labels
    others = np.setdiff1d(np.flatnonzero(p.argmax(axis=1) == given), reviewed)
    swap = np.random.default_rng(0).choice(others, 240, replace=False)
    memoriser[swap] = memoriser[swap][:, ::-1]
    paths = {"released": str(folder / "pred_probs.npy")}
    for name, arr in (("memoriser", memoriser), ("overconfident", p**3)):
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], arr / arr.sum(axis=1, keepdims=True))
    return folder, paths


def test_run_fills_table_and_slope_chart(qtbot, cifar_inputs, tmp_path):
    folder, paths = cifar_inputs
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    tab.set_inputs(folder / "labels.npy", paths, classes=folder / "classes.txt", reviews=folder / "mturk.json",
                   out=tmp_path / "out")
    assert tab.model_paths() == paths
    with qtbot.waitSignal(tab.finished, timeout=WAIT_MS) as blocker:
        tab.run_button.click()
    table = blocker.args[0]
    assert tab.table.rowCount() == 3
    first = {tab.table.horizontalHeaderItem(j).text(): tab.table.item(0, j).text() for j in range(tab.table.columnCount())}
    assert first["Model"] == "memoriser" and first["Rank orig."] == "1"
    assert first["Δ rank"] == f"{int(table.loc[0, 'rank_change']):+d}" and first["Δ rank"].startswith("-")
    assert "Rank (original)" in tab.table.horizontalHeaderItem(6).toolTip()
    tab.resize(1260, 740)  # the tab's area in a 1280x800 window: every column fits, none is cut at the edge
    tab.show()
    qtbot.waitUntil(lambda: tab.table.isVisible() and tab.table.viewport().width() > 0)
    header = tab.table.horizontalHeader()
    assert header.length() <= tab.table.viewport().width()
    values = dict((name, (a, b)) for name, a, b in tab.chart_values())
    assert values["memoriser"] == (1.0, float(table.set_index("model").loc["memoriser", "rank_corrected"]))
    # a line per model; one label per distinct rank on each side, tied models named together
    labels = sorted(item.textItem.toPlainText() for item in tab.chart_items if hasattr(item, "textItem"))
    assert labels == ["1  overconfident, released", "3  memoriser", "memoriser  1", "overconfident, released  2"]
    assert len(tab.chart_items) == 3 + len(labels)
    assert "change rank" in tab.status.text()
    assert (tmp_path / "out" / "benchmark.csv").exists() and (tmp_path / "out" / "benchmark.json").exists()

    tab.chart_metric.setCurrentIndex(tab.chart_metric.findData("accuracy"))
    acc = {name: (a, b) for name, a, b in tab.chart_values()}
    assert acc["released"][0] == pytest.approx(0.9294)


def test_missing_inputs_and_bad_files_fail_with_a_reason(qtbot, cifar_inputs, tmp_path):
    folder, paths = cifar_inputs
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.failed, timeout=1000) as blocker:
        tab.run()
    assert blocker.args[0] == "Missing: labels, corrections, models"
    bad = tmp_path / "bad.npy"
    np.save(bad, np.full((5, 10), 0.1))
    tab.set_inputs(folder / "labels.npy", {"bad": str(bad)}, classes=folder / "classes.txt",
                   reviews=folder / "mturk.json")
    with qtbot.waitSignal(tab.failed, timeout=WAIT_MS) as blocker:
        tab.run()
    assert "bad.npy" in blocker.args[0] and tab.status.text().startswith("Failed:")
    assert tab.run_button.isEnabled()


LM_EVAL = __import__("pathlib").Path(__file__).parent / "data" / "lm_eval"


def test_tab_says_what_it_is_for(qtbot):
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    assert "ranking survive the label errors" in tab.purpose.text()
    assert tab.current_button.text() == "Use current audit"


def test_lm_eval_results_show_flagged_questions_and_calibration(qtbot, tmp_path):
    folders = {d.name: str(d) for d in sorted(LM_EVAL.iterdir()) if d.is_dir()}
    tab = BenchmarkTab()
    qtbot.addWidget(tab)
    tab.set_inputs(None, folders, lm_eval=True, out=tmp_path / "out")
    assert not tab.form.isRowVisible(1)  # no labels file: lm-eval brings its keys
    tab.run_button.click()
    qtbot.waitUntil(lambda: bool(tab.reviews) and not tab.running, timeout=WAIT_MS)
    assert [tab.task_box.itemData(i) for i in range(tab.task_box.count())] == ["mini_qa", "mini_sci"]
    assert tab.table.rowCount() == 3 and tab.table.item(0, 0).text() == "meta-llama__Llama-3.2-3B"
    view = tab.questions_view
    flagged = tab.current_review.questions["is_flagged"].sum()
    assert view.table.rowCount() == flagged
    assert view.table.item(0, 0).text() == "3" and view.table.item(0, 1).text() == "D"  # worst first: keyed 120
    html = view.details.toPlainText()
    assert "What is the boiling point" in html and "D. 120 ← key" in html and "B. 100 ← suggested" in html
    assert "3 of 3 models flag it" in html
    assert len(tab.calibration_view.titles) == 3 and all("ECE" in t for t in tab.calibration_view.titles)
    gcm = tab.calibration_view.correctness
    assert gcm.rowCount() == 3 and gcm.horizontalHeaderItem(2).text() == "AUROC P(correct)"
    first = tab.current_review.calibration[gcm.item(0, 0).text()]["correctness"]
    assert gcm.item(0, 2).text() == f"{first['model']['auroc']:.3f}"
    tab.task_box.setCurrentIndex(1)
    assert tab.questions_view.caption.text().startswith("mini_sci: ")
    assert gcm.item(0, 2).text() == "—" and "too few" in gcm.item(0, 2).toolTip()  # 12 questions: not fitted

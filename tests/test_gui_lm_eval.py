"""The lm-eval review in the app: flagged questions -> Review tab decisions -> re-ranked models."""

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

DATA = Path(__file__).parent / "data" / "lm_eval"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test autosaves into a cache of its own (set before the window is made)."""
    monkeypatch.setenv("LABELAUDIT_CACHE", str(tmp_path / "cache"))


def test_review_flagged_questions_then_rerank(qtbot, window, tmp_path):
    tab = window.benchmark_tab
    files = {d.name: str(next(d.glob("samples_mini_qa_*"))) for d in sorted(DATA.iterdir()) if d.is_dir()}
    tab.set_inputs(None, files, lm_eval=True, out=tmp_path / "out")
    tab.run()
    qtbot.waitUntil(lambda: bool(tab.reviews) and not tab.running, timeout=60_000)
    flagged = tab.current_review.questions
    flagged = flagged[flagged["is_flagged"]]

    tab.review_button.click()  # audits the questions in the window; the project holds the decisions
    qtbot.waitUntil(lambda: window.projects.project is not None and window.projects.panel is not None,
                    timeout=60_000)
    report = window.report
    assert len(report.examples) == 32 and report.examples["is_label_issue"].sum() == len(flagged)
    assert list(report.class_names) == ["A", "B", "C", "D"]
    project = window.projects.project
    project.decide_many(flagged["row"], "accept")  # reviewers accept the suggested keys

    before = tab.current_review.table.set_index("model")["accuracy_corrected"]
    tab.rerank_button.click()
    qtbot.waitUntil(lambda: not tab.running and tab.current_review.corrections["source"] == "project",
                    timeout=60_000)
    after = tab.current_review.table.set_index("model")
    assert (after["accuracy_corrected"] > before).all()
    assert tab.current_review.corrections["n_relabelled"] == len(flagged)

    # issue 10: the tab offers the current audit (dataset, predictions, review decisions) as its inputs
    tab.models.setRowCount(0)
    tab.use_current()
    assert tab.mode == "predictions" and tab.source_box.currentData() == "project"
    assert tab.source_edit.text() == str(project.path)
    assert len(tab.model_paths()) == 1 and Path(next(iter(tab.model_paths().values()))).exists()
    tab.run()
    qtbot.waitUntil(lambda: not tab.running and tab.results is not None and len(tab.results) == 1
                    and tab.results["n_corrected"].iloc[0] == 32, timeout=60_000)
    pooled = tab.results.iloc[0]
    assert pooled["accuracy_corrected"] > pooled["accuracy_original"]  # the accepted keys follow the models


def test_correctness_column_beside_confidence(qtbot, window, labelerrors):
    from labelaudit.core.pipeline import AuditConfig

    folder = labelerrors / "cifar10"
    window.set_config(AuditConfig(data=str(folder / "labels.npy"), pred_probs=str(folder / "pred_probs.npy"),
                                  classes=str(folder / "classes.txt"), correctness=True))
    window.start_run()
    qtbot.waitUntil(lambda: window.report is not None and not window.running, timeout=60_000)
    assert window.report.summary["correctness"]["beats_raw"]["ece"] == "better"
    results = window.state.results
    assert results.columns.index("p_correct") == results.columns.index("confidence") + 1
    assert results.header("p_correct")[0] == "P(correct)"

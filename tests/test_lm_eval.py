"""lm-evaluation-harness import (core.lm_eval) and benchmark review (core.lm_eval_benchmark).

Files are written as lm-eval itself writes them (tests/helpers/lm_eval_writer.py
mirrors its code for v0.4.0, v0.4.3, v0.4.5 and v0.4.11); tests/data/lm_eval
holds three models' real-format files of two tasks.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main
from labelaudit.core.lm_eval import load_task, model_files, read_samples
from labelaudit.core.lm_eval_benchmark import run_lm_eval_benchmark
from labelaudit.core.progress import RunContext
from input_errors import error

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from lm_eval_writer import VERSIONS, make_samples, write_samples  # noqa: E402

DATA = Path(__file__).parent / "data" / "lm_eval"
CHOICES = [["red", "green", "blue", "a very long yellow"], ["cat", "dog", "cow", "horse"], ["one", "two", "three"]]


def _docs(n, rng):
    docs = []
    for i in range(n):
        choices = CHOICES[i % 3]
        docs.append({"question": f"Question number {i}?", "choices": choices, "answer": int(rng.integers(len(choices)))})
    return docs


def _lls(docs, rng, skill):
    out = []
    for d in docs:
        length = np.array([len(c) for c in d["choices"]])
        lls = -rng.uniform(0.3, 1.5, size=len(length)) * length  # longer choices: lower log-likelihood
        lls[d["answer"]] += skill * rng.random()
        out.append(np.minimum(lls, -0.05))
    return out


def _file_means(path):
    text = Path(path).read_text()
    rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()]
    return np.mean([r["acc"] for r in rows]), np.mean([r["acc_norm"] for r in rows])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target_as_text", [False, True])
def test_accuracy_matches_lm_evals_own_acc_and_acc_norm(tmp_path, version, target_as_text):
    rng = np.random.default_rng([int(x) for x in version.split('.')] + [int(target_as_text)])
    docs = _docs(60, rng)
    models = {}
    for name, skill in (("small", 1.0), ("large", 6.0)):
        samples = make_samples(docs, _lls(docs, rng, skill), version=version, target_as_text=target_as_text)
        models[name] = write_samples(tmp_path / name, "toy", samples, version=version, model_args=f"pretrained={name}")
    out = tmp_path / "out"
    review = run_lm_eval_benchmark({k: str(v) for k, v in models.items()}, out=out)["toy"]
    doc = json.loads((out / "benchmark.json").read_text())
    for entry in doc["models"]:
        acc, acc_norm = _file_means(models[entry["model"]])
        assert entry["accuracy_original"] == pytest.approx(acc, abs=1e-12)
        assert entry["accuracy_norm_original"] == pytest.approx(acc_norm, abs=1e-12)
    # the length normalisation is exercised: some rows' acc and acc_norm differ
    loaded = [read_samples(p) for p in models.values()]
    assert any((s.acc != s.acc_norm).any() for s in loaded)
    assert list(review.questions["label"][:3]) == [("ABCD")[d["answer"]] for d in docs[:3]]


def test_probabilities_are_softmax_of_loglikelihoods(tmp_path):
    docs = [{"question": "Q?", "choices": ["yes", "no", "maybe"], "answer": 0}]
    lls = [np.array([-1.0, -2.0, -4.0])]
    path = write_samples(tmp_path, "t", make_samples(docs, lls, version="0.4.11"), version="0.4.11")
    task = load_task("t", {"m": path})
    expected = np.exp(lls[0]) / np.exp(lls[0]).sum()
    np.testing.assert_allclose(task.probs("m")[0], expected)
    normed = np.exp(lls[0] / [3, 2, 5]) / np.exp(lls[0] / [3, 2, 5]).sum()
    np.testing.assert_allclose(task.probs("m", norm=True)[0], normed)


def test_target_digit_that_is_also_a_choice_is_resolved_by_the_rows_acc(tmp_path):
    """v0.4.5+ writes str(target): '1' may be index 1 or the choice '1'; the row's acc decides."""
    docs = [{"question": "Smallest odd prime?", "choices": ["2", "3", "1", "5"], "answer": 1}]
    lls = [np.array([-3.0, -0.5, -2.0, -4.0])]  # the model picks "3" (index 1): acc = 1 for index 1
    path = write_samples(tmp_path, "t", make_samples(docs, lls, version="0.4.11"), version="0.4.11")
    assert read_samples(path).gold[0] == 1
    docs = [{"question": "Which is one?", "choices": ["2", "3", "1", "5"], "answer": "1"}]
    samples = make_samples(docs, lls, version="0.4.11")  # target is the text "1" (index 2), acc 0
    samples[0]["target"] = "1"
    path = write_samples(tmp_path / "b", "t", samples, version="0.4.11")
    assert read_samples(path).gold[0] == 2


@pytest.mark.parametrize("version", ["0.4.2", "0.4.11"])
def test_a_numeric_choice_key_that_lm_eval_read_as_an_index_counts_wrong_as_there(tmp_path, version):
    """lm-eval turns a template target that renders as digits ("56", a choice's text) into index 56, past
    the last choice: its acc is 0 for every model. accuracy_original keeps lm-eval's numbers; the choice
    with that text is the key for the corrected accuracy, and the rows are marked and said in a notice."""
    rng = np.random.default_rng(7)
    docs = [{"question": f"What is {a} + {b}?", "choices": [str(a + b + d) for d in (-2, 0, 3, 5)], "answer": 1}
            for a, b in zip(rng.integers(10, 60, 24), rng.integers(10, 60, 24))]
    docs += _docs(12, rng)  # ordinary keys beside them
    as_lm_eval = [{**d, "answer": int(d["choices"][d["answer"]])} if d["question"].startswith("What is") else d
                  for d in docs]
    models, means = {}, {}
    for name, skill in (("weak", 1.0), ("strong", 8.0)):
        samples = make_samples(as_lm_eval, _lls(docs, rng, skill), version=version)
        models[name] = write_samples(tmp_path / name, "sums", samples, version=version, model_args=f"pretrained={name}")
        means[name] = _file_means(models[name])
    notes = []
    review = run_lm_eval_benchmark({k: str(v) for k, v in models.items()}, out=tmp_path / "out",
                                   ctx=RunContext(on_notice=notes.append))["sums"]
    table = review.table.set_index("model")
    for name in models:
        assert table.loc[name, "accuracy_original"] == pytest.approx(means[name][0], abs=1e-12)
        assert table.loc[name, "accuracy_norm_original"] == pytest.approx(means[name][1], abs=1e-12)
    keys = np.array([d["answer"] for d in docs])
    picks = review.questions["strong choice"].map("ABCD".index).to_numpy()
    assert table.loc["strong", "accuracy_corrected"] == pytest.approx(np.mean(picks == keys))
    assert table.loc["strong", "accuracy_corrected"] > table.loc["strong", "accuracy_original"] + 0.3
    assert review.questions["lm_eval_key_missing"].tolist() == [True] * 24 + [False] * 12
    assert review.questions["key_text"][0] == docs[0]["choices"][1]
    assert len(notes) == 1 and notes[0].startswith("sums: 24 question(s) have a key that lm-eval read as a choice index")


def test_real_format_folder_of_three_models_and_two_tasks(tmp_path):
    out = tmp_path / "out"
    assert main(["benchmark", "--lm-eval-dir", str(DATA), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["mini_qa", "mini_sci"]
    doc = json.loads((out / "mini_qa" / "benchmark.json").read_text())
    assert {m["model"] for m in doc["models"]} == {"EleutherAI__pythia-160m", "EleutherAI__pythia-1b",
                                                    "meta-llama__Llama-3.2-3B"}
    for m in doc["models"]:
        acc, acc_norm = _file_means(next((DATA / m["model"]).glob("samples_mini_qa_*.jsonl")))
        assert m["accuracy_original"] == pytest.approx(acc) and m["lm_eval_acc"] == pytest.approx(acc)
        assert m["accuracy_norm_original"] == pytest.approx(acc_norm)
        assert set(doc["calibration"][m["model"]]) >= {"ece", "brier", "bins"}
    # the three planted wrong keys (doc_ids 3, 11, 25) are flagged, worst first, and every model agrees on one
    flagged = pd.read_csv(out / "mini_qa" / "flagged.csv")
    assert set(flagged["id"][:3]) == {3, 11, 25}
    assert flagged["label_quality"].is_monotonic_increasing
    assert flagged.loc[flagged["id"] == 3, "n_models_flagging"].item() == 3
    assert str(flagged.loc[flagged["id"] == 3, "suggested_text"].item()) == "100"  # boiling point: keyed 120
    sci = pd.read_parquet(out / "mini_sci" / "questions.parquet")
    assert sorted(sci["choices"].str.count("\n") + 1) == sorted([2, 3, 3, 4, 5, 3, 4, 5, 2, 4, 3, 4])


def test_model_folders_name_models_and_corrected_keys_rerank(tmp_path):
    """Reviewers accept the suggested key on the flagged questions: ranks are recomputed on the corrected keys."""
    folders = {d.name.split("__")[1]: str(d) for d in sorted(DATA.iterdir()) if d.is_dir()}
    first = run_lm_eval_benchmark(folders)["mini_qa"]
    flagged = first.questions[first.questions["is_flagged"]]
    reviews = tmp_path / "reviews.csv"
    pd.DataFrame({"row": flagged["row"], "verdict": "error", "label": flagged["suggested"]}).to_csv(reviews, index=False)
    only_qa = {m: str(next(Path(p).glob("samples_mini_qa_*"))) for m, p in folders.items()}
    again = run_lm_eval_benchmark(only_qa, reviews=reviews, out=tmp_path / "out")["mini_qa"]
    table = again.table.set_index("model")
    assert (table["accuracy_corrected"] > table["accuracy_original"]).all()
    assert again.corrections["n_relabelled"] == len(flagged)
    saved = pd.read_csv(tmp_path / "out" / "benchmark.csv")
    assert list(saved["accuracy_corrected"]) == pytest.approx(list(again.table["accuracy_corrected"]))


def test_questions_are_matched_by_doc_id_and_doc_hash(tmp_path):
    src = next((DATA / "EleutherAI__pythia-1b").glob("samples_mini_qa_*"))
    other = tmp_path / "b" / src.name
    other.parent.mkdir()
    lines = src.read_text().splitlines()
    row = json.loads(lines[4])
    row["doc_hash"] = "0" * 64
    lines[4] = json.dumps(row)
    other.write_text("\n".join(lines) + "\n")
    msg = error(run_lm_eval_benchmark, {"a": str(src), "b": str(other)})
    assert str(other) in msg and "row 5" in msg and "doc_hash" in msg
    other.write_text("\n".join(lines[:10]) + "\n")
    msg = error(run_lm_eval_benchmark, {"a": str(src), "b": str(other)})
    assert "row 11" in msg and "doc_id 10" in msg and str(src) in msg


def test_bad_files_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "samples_gen_2024-01-01T00-00-00.000000.jsonl"
    bad.write_text(json.dumps({"doc_id": 0, "doc": {}, "target": "x", "arguments": {"gen_args_0": {
        "arg_0": "Q:", "arg_1": {"until": ["\n"]}}}, "resps": [["x"]], "filtered_resps": ["x"]}) + "\n")
    assert main(["benchmark", "--lm-eval", f"m={bad}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "row 1" in err and "generate_until" in err
    assert main(["benchmark", "--lm-eval", f"m={tmp_path / 'missing.jsonl'}", "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    shutil.copy(next((DATA / "EleutherAI__pythia-1b").glob("samples_mini_sci_*")), broken)
    broken.write_text(broken.read_text() + "{not json\n")
    assert main(["benchmark", "--lm-eval", f"m={broken}", "--out", str(tmp_path / "o")]) == 2
    assert "line 13" in capsys.readouterr().err


def test_newest_run_of_a_task_in_a_model_folder_is_used(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(DATA / "EleutherAI__pythia-1b", folder)
    old = next(folder.glob("samples_mini_sci_*"))
    shutil.copy(old, folder / "samples_mini_sci_2023-01-01T00-00-00.000000.jsonl")
    files = model_files({"m": str(folder)})
    assert files["mini_sci"]["m"] == old


def test_multiple_input_rows_take_gold_from_acc(tmp_path):
    """winogrande-style rows: two contexts, one shared continuation; lm-eval logs that continuation as target."""
    rows = []
    for doc_id, (lls, acc) in enumerate((([-5.0, -2.0], 1.0), ([-5.0, -2.0], 0.0))):
        ctxs = ["The trophy didn't fit in the suitcase because the trophy", "... because the suitcase"]
        rows.append({"doc_id": doc_id, "doc": {}, "target": "is too big.",
                     "arguments": {f"gen_args_{i}": {"arg_0": c, "arg_1": " is too big."} for i, c in enumerate(ctxs)},
                     "resps": [[[str(x), "False"]] for x in lls], "filtered_resps": [[str(x), "False"] for x in lls],
                     "filter": "none", "metrics": ["acc"], "acc": acc})
    path = tmp_path / "samples_winogrande_2024-01-01T00-00-00.000000.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = read_samples(path)
    assert list(s.gold) == [1, 0]
    assert s.choices[0][0].startswith("The trophy")


def test_lm_eval_dir_holding_one_models_files_directly(tmp_path):
    shutil.copytree(DATA / "EleutherAI__pythia-1b", tmp_path / "run")
    files = model_files(None, tmp_path / "run")
    assert list(files) == ["mini_qa", "mini_sci"] and list(files["mini_qa"]) == ["run"]


def test_tasks_that_are_not_plain_multiple_choice_are_skipped_with_a_note(tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(DATA / "EleutherAI__pythia-1b", folder)
    gen = {"doc_id": 0, "doc": {"question": "2+2?"}, "target": "4", "arguments": {"gen_args_0": {
        "arg_0": "Q: 2+2?\nA:", "arg_1": {"until": ["\n"], "do_sample": False}}}, "resps": [["4"]],
        "filtered_resps": ["4"], "filter": "strict-match", "metrics": ["exact_match"], "exact_match": 1.0}
    (folder / "samples_gsm8k_2025-03-14T09-26-53.589793.jsonl").write_text(json.dumps(gen) + "\n")
    # a custom-metric task: acc is not "argmax is the key" (truthfulqa_mc2 logs a probability mass)
    mc2 = [json.loads(x) for x in next(folder.glob("samples_mini_sci_*")).read_text().splitlines()]
    mc2[0]["acc"] = 0.37
    (folder / "samples_truthfulqa_mc2_2025-03-14T09-26-53.589793.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in mc2))
    assert main(["benchmark", "--lm-eval", f"m={folder}", "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "skipped task gsm8k" in err and "generate_until" in err
    assert "skipped task truthfulqa_mc2" in err and "row 1" in err and "own metric" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mini_qa", "mini_sci"]


def test_v040_folders_name_tasks_from_their_results_json(tmp_path):
    """lm-eval v0.4.0-v0.4.2 wrote <model_args>_<task>.jsonl beside results.json (configs keyed by task)."""
    rng = np.random.default_rng(3)
    docs = _docs(20, rng)
    for name in ("org/small", "org/large"):
        folder = tmp_path / name.split("/")[1]
        for task in ("arc_easy", "hellaswag"):
            write_samples(folder, task, make_samples(docs, _lls(docs, rng, 3.0), version="0.4.0"), version="0.4.0",
                          model_args=f"pretrained={name},dtype=float16")
        (folder / "results.json").write_text(json.dumps({"results": {}, "configs": {"arc_easy": {}, "hellaswag": {}}}))
    files = model_files(None, tmp_path)
    assert list(files) == ["arc_easy", "hellaswag"] and sorted(files["hellaswag"]) == ["large", "small"]
    assert files["arc_easy"]["small"].name == "pretrained__org__small,dtype__float16_arc_easy.jsonl"
    review = run_lm_eval_benchmark(None, lm_eval_dir=tmp_path)["arc_easy"]
    acc, _ = _file_means(files["arc_easy"]["large"])
    assert review.table.set_index("model").loc["large", "accuracy_original"] == pytest.approx(acc)

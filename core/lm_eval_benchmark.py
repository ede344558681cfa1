"""Review an lm-evaluation-harness benchmark: several models' samples files of one or more tasks.

Per task (core.lm_eval reads and aligns the files) this computes, per model,
option probabilities (softmax of the log-likelihoods), accuracy as lm-eval's
``acc`` and ``acc_norm``, calibration (ECE, Brier, reliability bins); it flags
questions whose answer key looks wrong by confident learning
(core.audit.run_label_audit, as cleanlab) over the models' pooled
probabilities (their mean), counts how many models flag each question on their
own, and ranks the models on the given keys and on keys corrected by a review
(``reviews`` or ``project``: a project made by auditing ``questions.parquet``
with ``pred_probs_pooled.npy``; see README).

Files written to ``out`` (one task) or ``out/<task>`` (several):
``benchmark.csv`` / ``benchmark.json`` (core.model_comparison's table plus
``accuracy_norm_original``, ``accuracy_norm_corrected``, ``brier_original``,
``lm_eval_acc`` / ``lm_eval_acc_norm`` (the means of the files' own per-row
metrics), ``n_flagged_by_model``; and ``calibration`` per model, with ``correctness``: the
cross-fitted correctness model of core.correctness, fed the other models' answers,
beside raw confidence), ``questions.parquet``
(every question: ``id`` (doc_id), ``text`` (question and lettered choices),
``label`` (the key's letter), ``question``, ``choices``, ``key_text``,
``lm_eval_key_missing`` (lm-eval read the key as an index past the last choice),
``suggested``, ``label_quality`` (pooled probability of the key),
``is_flagged``, ``n_models_flagging`` and per model ``<model> choice`` /
``<model> p(choice)`` / ``<model> p(key)``), ``flagged.csv`` (the flagged
questions, worst first), ``classes.txt`` (the letters) and
``pred_probs_pooled.npy``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .lm_eval import LmEvalTask, load_task, model_files, question_text
from .progress import RunContext


@dataclass
class TaskReview:
    """One task's results: the benchmark table, the question table, per-model calibration, where written."""

    task: str
    table: pd.DataFrame
    questions: pd.DataFrame
    calibration: dict
    corrections: dict
    out: Path | None = None
    extra: dict = field(default_factory=dict)


def letters(k: int) -> list[str]:
    """Option names: A, B, C, ... (1, 2, 3, ... beyond 26 options)."""
    return list(string.ascii_uppercase[:k]) if k <= 26 else [str(i + 1) for i in range(k)]


def run_lm_eval_benchmark(models: dict[str, str] | None = None, *, lm_eval_dir=None, reviews=None, project=None,
                          out=None, ctx: RunContext | None = None) -> dict[str, TaskReview]:
    """Review each task found in ``models`` (NAME -> samples file or model folder) and ``lm_eval_dir``.

    reviews / project: corrected keys (at most one; only with a single task).
    out: where to write (None: nothing). Returns task -> :class:`TaskReview`.
    Raises InputError for unreadable or mismatched files (naming file and row).
    """
    ctx = ctx or RunContext()
    if reviews is not None and project is not None:
        raise InputError("pass at most one of --reviews FILE or --project FILE")
    tasks = model_files(models, lm_eval_dir)
    if (reviews is not None or project is not None) and len(tasks) > 1:
        raise InputError(f"{reviews or project}: corrections apply to one task, but the files hold "
                         f"{len(tasks)} ({', '.join(tasks)}); pass one task's files")
    loaded, skipped = {}, []
    with ctx.stage("lm-eval tasks", len(tasks)) as stage:
        for name, files in tasks.items():
            ctx.check_cancelled()
            try:
                loaded[name] = load_task(name, files)
            except InputError as err:
                if len(tasks) == 1:
                    raise
                skipped.append(err)  # a generate_until or custom-metric task beside multiple-choice ones
                ctx.notice(f"skipped task {name}: {err}")
            stage.advance(1)
    if not loaded:
        raise InputError(f"no multiple-choice task among {len(tasks)}: {skipped[0]}")
    results = {}
    for name, task in loaded.items():
        folder = None if out is None else (Path(out) if len(tasks) == 1 else Path(out) / _safe(name))
        results[name] = review_task(task, reviews=reviews, project=project, out=folder, ctx=ctx)
    return results


def review_task(task: LmEvalTask, *, reviews=None, project=None, out=None, ctx: RunContext | None = None) -> TaskReview:
    """Score, flag and rank the models of one task; write its files to ``out`` when given. Questions whose
    key lm-eval read as an index past the last choice (``task.key_missing``) count wrong in the original
    accuracies, as in lm-eval, and keep the choice with the key's text as their key (said in a notice)."""
    from .audit import run_label_audit
    from .model_comparison import corrected_labels, score_models
    from .calibration import calibration_metrics, reliability_bins
    from .correctness import correctness_model, summary as correctness_summary
    from .data import Dataset

    names = letters(task.k_max)
    gold = task.gold
    missing = task.key_missing if task.key_missing is not None else np.zeros(task.n, dtype=bool)
    if missing.any() and ctx is not None:
        first = int(np.flatnonzero(missing)[0])
        ctx.notice(f"{task.task}: {int(missing.sum()):,} question(s) have a key that lm-eval read as a choice index past "
                   f"the last choice (doc_id {int(task.doc_ids[first])}: {task.choices[first][gold[first]]!r}), so "
                   "lm-eval counts them wrong for every model, as accuracy_original does; the choice with that text "
                   "is their key here (accuracy_corrected, calibration, flags); column lm_eval_key_missing")
    probs = {m: task.probs(m) for m in task.models}
    pooled = np.mean(list(probs.values()), axis=0)
    questions = _question_table(task, names)
    questions["lm_eval_key_missing"] = missing
    dataset = Dataset(questions[["id", "text", "label"]], gold.copy(), names, f"{task.task} questions",
                      label_col="label", text_col="text", id_col="id")
    if reviews is None and project is None:
        corrected, corrections = gold.copy(), {"source": "none", "n_reviewed": 0, "n_relabelled": 0, "n_dropped": 0}
    else:
        corrected, corrections = corrected_labels(dataset, reviews=reviews, project=project)
        if not (corrected >= 0).any():
            raise InputError(f"{reviews or project}: every question is dropped; nothing left to score")

    pooled_audit = run_label_audit(gold, pooled, class_names=names).examples
    per_model_flags = {m: run_label_audit(gold, p, class_names=names).examples["is_label_issue"].to_numpy()
                       for m, p in probs.items()}
    questions = _add_flags(questions, task, names, probs, pooled_audit, per_model_flags)

    table = score_models(probs, gold, corrected, paths={m: str(s.path) for m, s in task.models.items()},
                         unscorable=missing)
    kept = corrected >= 0
    calibration, extra_cols = {}, []
    for m in table["model"]:
        s = task.models[m]
        norm_pred = np.argmax(s.loglik / s.lengths, axis=1)
        metrics = calibration_metrics(probs[m], gold)
        bins = reliability_bins(probs[m], gold)
        calibration[m] = {
            "ece": metrics["ece"], "brier": metrics["brier"], "nll": metrics["nll"], "auroc": metrics["auroc"],
            "accuracy": metrics["accuracy"], "mean_confidence": metrics["mean_confidence"],
            "bins": bins.to_dict(orient="records"),
            "correctness": correctness_summary(correctness_model(
                probs[m], gold, others={o: q for o, q in probs.items() if o != m})),
        }
        extra_cols.append({
            "accuracy_norm_original": float(np.mean((norm_pred == gold) & ~missing)),
            "accuracy_norm_corrected": float(np.mean(norm_pred[kept] == corrected[kept])),
            "brier_original": metrics["brier"],
            "lm_eval_acc": None if s.acc is None else float(np.nanmean(s.acc)),
            "lm_eval_acc_norm": None if s.acc_norm is None else float(np.nanmean(s.acc_norm)),
            "n_flagged_by_model": int(per_model_flags[m].sum()),
            "task": task.task,
        })
    table = pd.concat([table, pd.DataFrame(extra_cols)], axis=1)
    review = TaskReview(task=task.task, table=table, questions=questions, calibration=calibration,
                        corrections=corrections, out=None if out is None else Path(out))
    if out is not None:
        write_task(review, pooled)
    return review


def _question_table(task: LmEvalTask, names: list[str]) -> pd.DataFrame:
    questions = [question_text(p) for p in task.prompts]
    choices = ["\n".join(f"{names[j]}. {c}" for j, c in enumerate(cs)) for cs in task.choices]
    return pd.DataFrame({
        "row": np.arange(task.n, dtype=np.int64),
        "id": task.doc_ids,
        "text": [f"{q}\n{c}" for q, c in zip(questions, choices)],
        "label": [names[g] for g in task.gold],
        "question": questions,
        "choices": choices,
        "key_text": [cs[g] for cs, g in zip(task.choices, task.gold)],
    })


def _add_flags(questions, task, names, probs, pooled_audit, per_model_flags) -> pd.DataFrame:
    out = questions.copy()
    flagged = pooled_audit["is_label_issue"].to_numpy()
    out["suggested"] = [names[j] for j in pooled_audit["predicted_label"].to_numpy()]
    out["suggested_text"] = [cs[j] if j < len(cs) else "" for cs, j in
                             zip(task.choices, pooled_audit["predicted_label"].to_numpy())]
    out["label_quality"] = pooled_audit["label_quality"].to_numpy()
    out["is_flagged"] = flagged
    out["n_models_flagging"] = np.sum(list(per_model_flags.values()), axis=0).astype(np.int64)
    rows = np.arange(task.n)
    for m, p in probs.items():
        choice = p.argmax(axis=1)
        out[f"{m} choice"] = [names[j] for j in choice]
        out[f"{m} p(choice)"] = p[rows, choice]
        out[f"{m} p(key)"] = p[rows, task.gold]
    return out


def flagged_questions(questions: pd.DataFrame) -> pd.DataFrame:
    """The flagged questions, worst first (lowest pooled probability of the key)."""
    flagged = questions[questions["is_flagged"].to_numpy(dtype=bool)]
    return flagged.sort_values(["label_quality", "row"], kind="stable").reset_index(drop=True)


def write_task(review: TaskReview, pooled: np.ndarray) -> None:
    """Write one task's files into ``review.out`` (module docstring)."""
    from .model_comparison import write_benchmark

    folder = review.out
    n_classes = pooled.shape[1]
    write_benchmark(review.table, folder, labels=f"lm-eval task {review.task}", n_classes=n_classes,
                    corrections=review.corrections, extra={
                        "task": review.task,
                        "n_flagged": int(review.questions["is_flagged"].sum()),
                        "calibration": review.calibration,
                        "conventions_lm_eval": {
                            "accuracy_original": "mean of lm-eval's acc: argmax of the log-likelihoods is the key (a key "
                                                 "lm-eval read as an index past the last choice counts wrong)",
                            "accuracy_norm_original": "mean of lm-eval's acc_norm: argmax of log-likelihood / "
                                                      "choice length in characters",
                            "probabilities": "softmax of each question's log-likelihoods over its choices",
                            "flags": "confident learning (as cleanlab.filter.find_label_issues) on the models' "
                                     "mean probabilities; n_models_flagging: the same on each model's own",
                        },
                        **review.extra,
                    }, also=lambda f: _write_questions(f, review, pooled))


def _write_questions(folder: Path, review: TaskReview, pooled: np.ndarray) -> None:
    from .export import write_csv

    review.questions.to_parquet(folder / "questions.parquet", index=False)
    write_csv(flagged_questions(review.questions), folder / "flagged.csv")
    (folder / "classes.txt").write_text("\n".join(letters(pooled.shape[1])) + "\n", encoding="utf-8")
    np.save(folder / "pred_probs_pooled.npy", pooled)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("._") or "task"


def print_summary(results: dict[str, TaskReview]) -> None:
    """Print each task's table (accuracy, acc_norm, ECE, ranks) and where its files went."""
    cols = ["model", "accuracy_original", "accuracy_norm_original", "ece_original", "accuracy_corrected",
            "rank_original", "rank_corrected", "n_flagged_by_model"]
    for name, review in results.items():
        n = len(review.questions)
        print(f"{name}: {n} questions, {len(review.table)} models, "
              f"{int(review.questions['is_flagged'].sum())} keys flagged")
        print(review.table[cols].to_string(index=False))
        if review.out is not None:
            print(f"wrote benchmark.csv, benchmark.json, questions.parquet, flagged.csv to {review.out}")

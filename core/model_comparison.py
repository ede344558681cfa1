"""Benchmark review: rank several models on a test set's original and corrected labels.

Northcutt, Athalye & Mueller (2021), "Pervasive Label Errors in Test Sets
Destabilize Machine Learning Benchmarks", re-scored models after correcting
the test labels that human reviewers found wrong, and the ranking changed.
:func:`run_benchmark` does the same for any set of prediction files.

Corrected labels come from one of:

- human validation (``reviews``: a labelerrors ``mturk.json`` or a review CSV,
  read by :func:`core.verdicts.load_reviews`): a majority for the guessed label
  relabels the row, a majority for the given label keeps it, anything else
  drops it (the paper's rule);
- a project's review decisions (``project``: a ``.labelaudit`` file): keep,
  accept and relabel set the decided label; exclude and unsure drop the row
  (no agreed label, as for the votes above); rows without a decision keep the
  given label.

Rows nobody reviewed keep their given label. The "original" numbers use every
row and the given labels; the "corrected" numbers use the rows not dropped and
their corrected labels. Accuracy is top-label (argmax) accuracy; ECE is
core.calibration's ``ece`` (15 equal-width bins). Rank 1 is the most accurate
model; tied accuracies share the better rank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import RunContext

COLUMNS = [
    "model", "accuracy_original", "accuracy_corrected", "accuracy_change", "ece_original", "ece_corrected",
    "rank_original", "rank_corrected", "rank_change", "n_original", "n_corrected", "predictions",
]


def run_benchmark(
    labels_path,
    models: dict[str, str],
    *,
    classes=None,
    reviews=None,
    project=None,
    out=None,
    ctx: RunContext | None = None,
) -> pd.DataFrame:
    """Score each model on the original and the corrected labels; write benchmark.csv/.json to ``out``.

    labels_path: the given labels (a .npy of labels or a table, read by
    core.data.load_dataset with ``classes``); models: name -> pred_probs file
    (npy/csv/parquet, checked and near-misses renormalised by
    core.predictions); reviews or project: where corrected labels come from
    (exactly one); out: folder for the files (None: write nothing).
    Returns one row per model, best original accuracy first, with COLUMNS:
    rank_change = rank_original - rank_corrected (positive: moved up).
    Raises InputError for bad files, no models, or no or both label sources.
    """
    from .data import load_dataset
    from .predictions import load_predictions

    ctx = ctx or RunContext()
    if not models:
        raise InputError("benchmark needs at least one model: --model NAME=PRED_PROBS")
    if (reviews is None) == (project is None):
        raise InputError("benchmark needs corrected labels from exactly one of --reviews FILE or --project FILE")
    dataset = load_dataset(labels_path, classes=classes)
    given = dataset.labels
    corrected, corrections = corrected_labels(dataset, reviews=reviews, project=project)
    kept = corrected >= 0
    if not kept.any():
        raise InputError(f"{reviews or project}: every row is dropped; nothing left to score")

    probs = {}
    with ctx.stage("benchmark", len(models)) as stage:
        for name, path in models.items():
            probs[name] = load_predictions(path, n_examples=dataset.n, n_classes=dataset.n_classes, ctx=ctx)
            stage.advance(1)
    table = score_models(probs, given, corrected, paths={name: str(p) for name, p in models.items()})
    if out is not None:
        write_benchmark(table, out, labels=str(labels_path), n_classes=dataset.n_classes, corrections=corrections)
    return table


def score_models(probs: dict[str, np.ndarray], given: np.ndarray, corrected: np.ndarray, *, paths=None,
                 unscorable: np.ndarray | None = None) -> pd.DataFrame:
    """The benchmark table (COLUMNS) for each model's (n, k) probabilities on ``given`` and ``corrected`` labels.

    corrected: (n,) labels, -1 for dropped rows. unscorable: (n,) bool, rows the original scoring could not
    match to any answer (lm-eval's out-of-range keys): wrong for every model in ``accuracy_original``.
    Best original accuracy first.
    """
    from .calibration import calibration_metrics

    kept = corrected >= 0
    rows = []
    for name, p in probs.items():
        orig = calibration_metrics(p, given)
        corr = calibration_metrics(p[kept], corrected[kept])
        if unscorable is not None:
            orig["accuracy"] = float(np.mean((p.argmax(axis=1) == given) & ~unscorable))
        rows.append({
            "model": name,
            "accuracy_original": orig["accuracy"],
            "accuracy_corrected": corr["accuracy"],
            "accuracy_change": corr["accuracy"] - orig["accuracy"],
            "ece_original": orig["ece"],
            "ece_corrected": corr["ece"],
            "n_original": int(len(given)),
            "n_corrected": int(kept.sum()),
            "predictions": (paths or {}).get(name, ""),
        })
    table = pd.DataFrame(rows)
    table["rank_original"] = table["accuracy_original"].rank(ascending=False, method="min").astype(int)
    table["rank_corrected"] = table["accuracy_corrected"].rank(ascending=False, method="min").astype(int)
    table["rank_change"] = table["rank_original"] - table["rank_corrected"]
    return table[COLUMNS].sort_values(["rank_original", "model"], kind="stable").reset_index(drop=True)


def corrected_labels(dataset, *, reviews=None, project=None) -> tuple[np.ndarray, dict]:
    """(n,) corrected labels (-1 = dropped) and counts {"source", "n_reviewed", "n_relabelled", "n_dropped"}.

    dataset: the core.data.Dataset of the given labels; reviews / project: as
    in :func:`run_benchmark` (one of them).
    """
    given = dataset.labels
    corrected = given.copy()
    if reviews is not None:
        from .verdicts import load_reviews

        table = load_reviews(reviews, n_examples=dataset.n, class_names=dataset.class_names, labels=given)
        rows = table["row"].to_numpy()
        corrected[rows] = table["corrected_label"].to_numpy()
        source = {"source": "reviews", "path": str(reviews), "rule": "majority guessed relabels, majority given "
                  "keeps, anything else is dropped"}
    else:
        rows, decided = _project_decisions(project, dataset)
        corrected[rows] = decided
        source = {"source": "project", "path": str(project), "rule": "keep/accept/relabel set the decided label; "
                  "exclude and unsure drop the row"}
    return corrected, {
        **source,
        "n_reviewed": int(len(rows)),
        "n_relabelled": int(((corrected != given) & (corrected >= 0)).sum()),
        "n_dropped": int((corrected < 0).sum()),
    }


def _project_decisions(project_path, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a decision that counts, and their label (-1 for exclude/unsure)."""
    from .project import Project

    with Project.open(project_path) as project:
        if project.class_names and list(project.class_names) != list(dataset.class_names):
            raise InputError(
                f"{project_path}: the project's classes ({', '.join(map(str, project.class_names))}) differ from "
                f"those of {dataset.source} ({', '.join(map(str, dataset.class_names))}); pass --classes"
            )
        cols = project.decision_columns()
        if len(cols) != dataset.n:
            raise InputError(f"{project_path}: the project has {len(cols)} examples but {dataset.source} has {dataset.n}")
        if project.has_results:
            stored = project.load_results()[0]["given_label"].to_numpy()
            differ = np.flatnonzero(stored != dataset.labels)
            if len(differ):
                raise InputError(f"{project_path}: row {differ[0]}'s given label differs from {dataset.source}")
    decision = cols["decision"].to_numpy(dtype=object)
    rows = np.flatnonzero(pd.notna(decision))
    labels = np.where(np.isin(decision[rows], ["keep", "accept", "relabel"]), cols["decided_label"].to_numpy()[rows], -1)
    return rows, labels.astype(np.int64)


def write_benchmark(table: pd.DataFrame, out, *, labels: str, n_classes: int, corrections: dict,
                    extra: dict | None = None, also=None) -> dict[str, Path]:
    """Write ``benchmark.csv`` (the table) and ``benchmark.json`` (table plus provenance and ``extra``)
    as the results folder ``out``, replacing an earlier set as one unit (see core.results_folder).

    also: optional ``fn(folder)`` writing more files into the same set.
    """
    from .export import write_csv, write_json

    n_examples = int(table["n_original"].iloc[0]) if len(table) else 0
    doc = {
        "labels": labels,
        "n_examples": n_examples,
        "n_classes": int(n_classes),
        "n_corrected_rows": int(table["n_corrected"].iloc[0]) if len(table) else 0,
        "corrections": corrections,
        "conventions": {
            "accuracy": "top-label (argmax) accuracy",
            "ece": "top-label ECE, 15 equal-width bins over [0, 1], closed on the right",
            "rank": "1 = most accurate; ties share the better rank",
            "rank_change": "rank_original - rank_corrected (positive: moved up on corrected labels)",
            "original": "all rows, given labels",
            "corrected": "rows not dropped, corrected labels",
        },
        "models": table.to_dict(orient="records"),
        **(extra or {}),
    }
    from .results_folder import replace_results

    def write(folder: Path) -> None:
        write_csv(table, folder / "benchmark.csv")
        write_json(doc, folder / "benchmark.json")
        if also is not None:
            also(folder)

    written = replace_results(out, write, kind="benchmark")
    return {"csv": written["benchmark.csv"], "json": written["benchmark.json"]}

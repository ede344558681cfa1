"""A small text dataset on disk with audit results saved in a project, for the review tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labelaudit.core.pipeline import AuditConfig
from labelaudit.core.project import Project

CLASSES = ["bird", "cat", "dog", "fish"]
# Texts a spreadsheet would run as formulas if written raw to CSV.
FORMULA_TEXTS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tTAB"]


def write_dataset(folder: Path, n: int = 300, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Write ``folder/data.csv`` (id, text, label) and return (path, given label indices)."""
    rng = np.random.default_rng(seed)
    given = rng.integers(0, len(CLASSES), size=n)
    texts = [f"example {i} about a {CLASSES[g]}" for i, g in enumerate(given)]
    texts[: len(FORMULA_TEXTS)] = FORMULA_TEXTS
    path = folder / "data.csv"
    pd.DataFrame({"id": [f"ex{i:04d}" for i in range(n)], "text": texts,
                  "label": [CLASSES[g] for g in given]}).to_csv(path, index=False)
    return path, given


def audit_results(given: np.ndarray, n_flagged: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """Synthetic (examples, pred_probs, summary) shaped like an AuditReport's, with
    ``n_flagged`` rows whose model prefers another class flagged."""
    rng = np.random.default_rng(seed + 1)
    n, k = len(given), len(CLASSES)
    logits = rng.normal(0, 0.5, size=(n, k))
    logits[np.arange(n), given] += 3.0
    flagged = rng.choice(n, size=n_flagged, replace=False)
    other = (given[flagged] + rng.integers(1, k, size=n_flagged)) % k
    logits[flagged, other] += 6.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probs.argmax(axis=1)
    is_issue = np.zeros(n, dtype=bool)
    is_issue[flagged] = True
    examples = pd.DataFrame({
        "row": np.arange(n), "id": [f"ex{i:04d}" for i in range(n)], "given_label": given,
        "predicted_label": predicted, "suggested_label": np.where(is_issue, predicted, given),
        "confidence": probs.max(axis=1), "given_label_prob": probs[np.arange(n), given],
        "label_quality": probs[np.arange(n), given], "is_label_issue": is_issue,
        "class_threshold": np.full(n, 0.5),
    })
    summary = {"n_examples": n, "n_classes": k, "class_names": CLASSES, "n_label_issues": int(n_flagged),
               "columns": {"label": "label", "text": "text", "image": None, "id": "id"}}
    return examples, probs, summary


def make_project(folder: Path, n: int = 300, n_flagged: int = 120, name: str = "audit.labelaudit") -> Project:
    """Create ``folder/data.csv`` and ``folder/name`` holding synthetic audit results; returns the open Project."""
    folder.mkdir(parents=True, exist_ok=True)
    data, given = write_dataset(folder, n)
    examples, probs, summary = audit_results(given, n_flagged)
    examples["text"] = pd.read_csv(data)["text"].to_numpy()
    config = AuditConfig(data=str(data), text_col="text", label_col="label", id_col="id").to_dict()
    project = Project.create(folder / name, config, data)
    project.save_results(examples, probs, summary)
    return project

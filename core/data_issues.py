"""Data issues beyond labels: outliers and near-duplicates in embedding space.

``find_data_issues(embeddings, labels, pred_probs=None)`` -> (issues, counts)

The checks are cleanlab Datalab's own ``outlier`` and ``near_duplicate`` issue
managers with their default settings (k=10 nearest neighbours, cosine distance for
embeddings, the same thresholds), sharing one k-nearest-neighbour graph as
``Datalab.find_issues(features=embeddings, issue_types={"outlier": {}, "near_duplicate": {}})``
does. They are driven directly because the ``Datalab`` class itself needs the optional
``datasets`` package (``cleanlab[datalab]``), which this engine does not ship; the
numbers are the same. Only the embeddings decide these two checks; ``labels`` and
``pred_probs`` are accepted so the call matches the other audit steps and are checked
for length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

K_NEIGHBOURS = 10  # Datalab's default for both checks


class _Statistics:
    """The one thing the issue managers ask of a Datalab: ``get_info("statistics")``."""

    def __init__(self):
        self.statistics: dict = {}

    def get_info(self, name: str) -> dict:
        return self.statistics if name == "statistics" else {}


def find_data_issues(embeddings: np.ndarray, labels: np.ndarray, pred_probs: np.ndarray | None = None
                     ) -> tuple[pd.DataFrame, dict]:
    """Outlier and near-duplicate checks on (n, d) embeddings.

    Returns a DataFrame with one row per example, in row order:
    ``outlier_score`` (float in [0, 1], low = atypical), ``is_outlier`` (bool) and
    ``near_duplicate_set`` (int: rows that are near-duplicates of each other share an id
    0, 1, ...; -1 when the row has none), and counts
    ``{"n_outliers", "n_near_duplicates", "n_near_duplicate_sets"}``.
    Datasets with fewer than 3 rows get no flags.
    """
    from cleanlab.datalab.internal.issue_manager.duplicate import NearDuplicateIssueManager
    from cleanlab.datalab.internal.issue_manager.outlier import OutlierIssueManager
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    if len(labels) != n or (pred_probs is not None and len(pred_probs) != n):
        raise ValueError(f"find_data_issues: {n} embeddings but {len(labels)} labels")
    if n < 3:
        frame = pd.DataFrame({"outlier_score": np.ones(n), "is_outlier": np.zeros(n, bool),
                              "near_duplicate_set": np.full(n, -1, np.int64)})
        return frame, {"n_outliers": 0, "n_near_duplicates": 0, "n_near_duplicate_sets": 0}

    k = min(K_NEIGHBOURS, n - 1)
    lab = _Statistics()
    outliers = OutlierIssueManager(lab, k=k)
    outliers.find_issues(features=x)
    lab.statistics.update(outliers.info.get("statistics", {}))  # share the k-NN graph
    dups = NearDuplicateIssueManager(lab, k=k)
    dups.find_issues(features=x)

    # Near-duplicate sets are symmetric neighbour lists; connected rows form one set.
    rows = np.concatenate([np.full(len(s), i) for i, s in enumerate(dups.near_duplicate_sets)] + [np.zeros(0)])
    cols = np.concatenate([np.asarray(s) for s in dups.near_duplicate_sets] + [np.zeros(0)])
    graph = coo_matrix((np.ones(len(rows)), (rows.astype(np.int64), cols.astype(np.int64))), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    set_id = np.full(n, -1, dtype=np.int64)
    in_set = sizes[component] > 1
    n_sets = 0
    if in_set.any():  # number the sets 0, 1, ... in order of their first row
        comps = component[in_set]
        uniq, first = np.unique(comps, return_index=True)
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(uniq))
        set_id[in_set] = rank[np.searchsorted(uniq, comps)]
        n_sets = len(uniq)

    frame = pd.DataFrame({
        "outlier_score": outliers.issues["outlier_score"].to_numpy(dtype=np.float64),
        "is_outlier": outliers.issues["is_outlier_issue"].to_numpy(dtype=bool),
        "near_duplicate_set": set_id,
    })
    counts = {
        "n_outliers": int(frame["is_outlier"].sum()),
        "n_near_duplicates": int(in_set.sum()),
        "n_near_duplicate_sets": n_sets,
    }
    return frame, counts

"""Several annotators per example: consensus and annotator quality with CROWDLAB.

Three inputs (``--annotators``):

- ``long``: DATA is a table with one row per (example, annotator): an id column,
  an annotator column (``annotator``, ``annotator_id``, ``worker``,
  ``worker_id`` or ``rater``) and a label column, plus any input column
  (text, image), taken from the example's first row. It becomes one row per
  example (ids in order of first appearance) with one ``annotator:NAME``
  column per annotator. A long table is also recognised by its annotator
  column when ``--annotators`` is not given (the run says so).
- ``wide``: DATA has one row per example and one column per annotator: every
  column but the id, text and image columns (a missing cell = not labelled).
- ``votes``: the dataset as usual plus the vote counts of a labelerrors
  ``mturk.json`` (``--reviews``): the dataset's labels are annotator ``given``;
  the workers' votes for the given and the guessed label become the anonymous
  annotators ``mturk_1`` .. ``mturk_5`` (their quality is not one person's);
  votes for neither / both / neutral / off-topic carry no class.

For long and wide the given label of an example is the majority vote
(cleanlab.multiannotator.get_majority_vote_label). :func:`crowdlab` runs
cleanlab.multiannotator.get_label_quality_multiannotator with the model's
pred_probs and returns per-example consensus columns and per-annotator stats.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .data import Dataset

KINDS = ("long", "wide", "votes")
PREFIX = "annotator:"
ANNOTATOR_NAMES = ("annotator", "annotator_id", "annotator_name", "worker", "worker_id", "rater")
#: Per-example columns :func:`crowdlab` adds to the examples table.
EXAMPLE_COLUMNS = ("consensus_label", "consensus_quality", "annotator_agreement", "n_annotations", "annotator_labels")


def _annotator_column(columns) -> str | None:
    norm = {str(c).strip().lower().replace(" ", "_"): c for c in columns}
    return next((norm[n] for n in ANNOTATOR_NAMES if n in norm), None)


def looks_long(path) -> bool:
    """True when the table at ``path`` has an annotator column (read from its header only)."""
    p = Path(str(path))
    if not p.is_file():
        return False
    ext = p.suffix.lower()
    try:
        if ext in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            columns = pq.read_schema(p).names
        elif ext in (".jsonl", ".ndjson"):
            from .data import parse_json

            with open(p, encoding="utf-8") as f:
                first = parse_json(f.readline() or "{}", f"{p}: line 1")
            columns = list(first) if isinstance(first, dict) else []
        elif ext in (".csv", ".tsv", ".tab", ".txt"):
            with open(p, encoding="utf-8") as f:
                header = f.readline()
            columns = header.strip().split("\t" if "\t" in header else ",")
        else:
            return False
    except (OSError, ValueError):  # unreadable here: the loader will say why
        return False
    return _annotator_column([c.strip().strip('"') for c in columns]) is not None


def load_annotated_dataset(config) -> "Dataset":
    """The Dataset of a long or wide annotation table (module docstring); InputError naming file, column or row."""
    import numpy as np

    from .data import Dataset, _class_list, _encode_labels, detect_columns, read_table

    source = str(config.data)
    p = Path(source)
    if not p.exists():
        raise InputError(f"{source}: no such file or folder")
    if p.is_dir() or p.suffix.lower() == ".npy":
        raise InputError(f"{source}: --annotators {config.annotators} needs a table (csv, tsv, parquet, jsonl)")
    table = read_table(p)
    if config.annotators == "long":
        table, cols = _pivot_long(table, config, source)
    else:
        cols = detect_columns(table.assign(__label__=0), label_col="__label__", text_col=config.text_col,
                              image_col=config.image_col, id_col=config.id_col, source=source)
        roles = {cols[k] for k in ("text_col", "image_col", "id_col")} - {None}
        renamed = {c: f"{PREFIX}{c}" for c in table.columns if c not in roles}
        if len(renamed) < 2:
            raise InputError(f"{source}: --annotators wide needs at least two annotator columns "
                             f"(found {', '.join(map(repr, renamed)) or 'none'} beside the id/text/image columns)")
        table = table.rename(columns=renamed)
    ann = [c for c in table.columns if str(c).startswith(PREFIX)]
    odd = next((str(c)[len(PREFIX):] for c in ann if ";" in str(c) or "=" in str(c)[len(PREFIX):]), None)
    if odd is not None:
        raise InputError(f"{source}: annotator name {odd!r} contains ';' or '=' (they separate annotators and "
                         "labels in the annotator_labels column); rename it")
    values = table[ann].to_numpy(dtype=object).ravel()
    present = np.array([v is not None and v == v and str(v).strip() != "" for v in values], dtype=bool)
    import pandas as pd

    codes, names = _encode_labels(pd.Series(values[present]), source, "annotator labels",
                                  *_class_list(config.classes))
    matrix = np.full(values.shape, np.nan)
    matrix[present] = codes
    matrix = matrix.reshape(len(table), len(ann))
    empty = np.flatnonzero(np.isnan(matrix).all(axis=1))
    if len(empty):
        r = int(empty[0])
        where = f" (id {table[cols['id_col']].iloc[r]!r})" if cols.get("id_col") else ""
        raise InputError(f"{source}: row {r}{where}: no annotator labelled this example")
    from cleanlab.multiannotator import get_majority_vote_label

    majority = np.asarray(get_majority_vote_label(matrix), dtype=np.int64)
    table = table.copy()
    table["majority_label"] = np.asarray(names, dtype=object)[majority]
    root = p.resolve().parent
    return Dataset(table, majority, list(names), source, label_col="majority_label", text_col=cols.get("text_col"),
                   image_col=cols.get("image_col"), id_col=cols.get("id_col"), root=root)


def _pivot_long(table, config, source):
    """One row per id with an ``annotator:NAME`` column per annotator; (table, detected columns)."""
    from .data import detect_columns

    annot = _annotator_column(table.columns)
    if annot is None:
        raise InputError(f"{source}: --annotators long needs an annotator column "
                         f"({', '.join(ANNOTATOR_NAMES)}); columns: {', '.join(map(str, table.columns))}")
    cols = detect_columns(table.drop(columns=[annot]), label_col=config.label_col, text_col=config.text_col,
                          image_col=config.image_col, id_col=config.id_col, source=source)
    if cols["id_col"] is None or cols["label_col"] is None:
        missing = "an id column (--id-col)" if cols["id_col"] is None else "a label column (--label-col)"
        raise InputError(f"{source}: --annotators long needs {missing}")
    idc, lab = cols["id_col"], cols["label_col"]
    dup = table.duplicated([idc, annot], keep="first")
    if dup.any():
        r = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(f"{source}: row {r}: annotator {table[annot].iloc[r]!r} labels id "
                         f"{table[idc].iloc[r]!r} more than once")
    wide = table.pivot(index=idc, columns=annot, values=lab)
    order = table[idc].drop_duplicates()
    wide = wide.loc[order.to_numpy()]
    wide.columns = [f"{PREFIX}{a}" for a in wide.columns]
    keep = [c for c in (idc, cols["text_col"], cols["image_col"]) if c is not None]
    first = table.drop_duplicates(idc)[keep].reset_index(drop=True)
    out = first.join(wide.reset_index(drop=True))
    cols.pop("label_col")
    return out, cols


def annotation_matrix(dataset: "Dataset", config) -> tuple["np.ndarray", list[str]]:
    """(n, m) float class indices, NaN = not labelled, and the m annotator names, for ``config.annotators``."""
    import numpy as np
    import pandas as pd

    from .data import _encode_labels

    if config.annotators == "votes":
        return _vote_matrix(dataset, config)
    ann = [c for c in dataset.table.columns if str(c).startswith(PREFIX)]
    values = dataset.table[ann].to_numpy(dtype=object).ravel()
    present = np.array([v is not None and v == v and str(v).strip() != "" for v in values], dtype=bool)
    codes, _ = _encode_labels(pd.Series(values[present]), dataset.source, "annotator labels",
                              dataset.class_names, "the class list")
    matrix = np.full(values.shape, np.nan)
    matrix[present] = codes
    return matrix.reshape(dataset.n, len(ann)), [str(c)[len(PREFIX):] for c in ann]


def _vote_matrix(dataset: "Dataset", config):
    import numpy as np

    from .verdicts import load_reviews

    reviews = load_reviews(config.reviews, n_examples=dataset.n, class_names=dataset.class_names)
    if reviews.empty:
        raise InputError(f"{config.reviews}: no vote counts to use as annotators")
    width = int((reviews["n_given"] + np.where(reviews["guessed_label"] != reviews["given_label"],
                                               reviews["n_guessed"], 0)).max())
    matrix = np.full((dataset.n, 1 + max(width, 1)), np.nan)
    matrix[:, 0] = dataset.labels
    for rec in reviews.itertuples(index=False):
        votes = [rec.given_label] * rec.n_given
        if rec.guessed_label != rec.given_label and rec.guessed_label >= 0:
            votes += [rec.guessed_label] * rec.n_guessed
        matrix[rec.row, 1 : 1 + len(votes)] = votes
    used = ~np.isnan(matrix).all(axis=0)
    names = ["given"] + [f"mturk_{i}" for i in range(1, matrix.shape[1])]
    return matrix[:, used], [n for n, u in zip(names, used) if u]


def crowdlab(matrix: "np.ndarray", names: list[str], pred_probs: "np.ndarray", class_names: list[str]):
    """CROWDLAB consensus and annotator quality.

    matrix: (n, m) float class indices (NaN = not labelled; every row at least
    one label, at least two annotators). Returns (per_example DataFrame with
    EXAMPLE_COLUMNS in row order, annotators DataFrame with ``annotator``,
    ``quality``, ``agreement``, ``n_labels``, ``worst_class`` (a class name),
    best quality first). InputError when cleanlab cannot use the annotations.
    """
    import numpy as np
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator

    labels = pd.DataFrame(matrix, columns=names)
    try:
        result = get_label_quality_multiannotator(labels, pred_probs, verbose=False)
    except ValueError as err:  # cleanlab's check of the annotations (single annotator, empty rows)
        raise InputError(f"annotations: {' '.join(str(err).split())}") from None
    quality = result["label_quality"]
    cls = np.asarray(class_names, dtype=object)
    shown = []
    for row in matrix:
        shown.append("; ".join(f"{a}={cls[int(v)]}" for a, v in zip(names, row) if v == v))
    per_example = pd.DataFrame({
        "consensus_label": quality["consensus_label"].to_numpy(dtype=np.int64),
        "consensus_quality": quality["consensus_quality_score"].to_numpy(dtype=np.float64),
        "annotator_agreement": quality["annotator_agreement"].to_numpy(dtype=np.float64),
        "n_annotations": quality["num_annotations"].to_numpy(dtype=np.int64),
        "annotator_labels": shown,
    })
    stats = result["annotator_stats"]
    annotators = pd.DataFrame({
        "annotator": [str(a) for a in stats.index],
        "quality": stats["annotator_quality"].to_numpy(dtype=np.float64),
        "agreement": stats["agreement_with_consensus"].to_numpy(dtype=np.float64),
        "n_labels": stats["num_examples_labeled"].to_numpy(dtype=np.int64),
        "worst_class": [str(cls[int(c)]) for c in stats["worst_class"]],
    }).sort_values(["quality", "annotator"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return per_example, annotators


def available(dataset: "Dataset", config) -> bool:
    """Whether the annotations of ``config.annotators`` are at hand: annotator columns in the table, or a votes file.

    False when a saved project is reopened without them (its stored consensus columns then stand).
    """
    if config.annotators == "votes":
        return bool(config.reviews)
    return any(str(c).startswith(PREFIX) for c in dataset.table.columns)


def add_consensus(examples: "pd.DataFrame", dataset: "Dataset", config, pred_probs: "np.ndarray") -> dict:
    """Add EXAMPLE_COLUMNS to ``examples`` (in place); return summary.json's ``annotators`` entry.

    The entry: ``kind``, ``n_annotators``, ``n_consensus_differs`` (consensus !=
    given label) and ``annotators`` (the per-annotator records of :func:`crowdlab`).
    """
    import numpy as np

    matrix, names = annotation_matrix(dataset, config)
    per_example, annotators = crowdlab(matrix, names, pred_probs, dataset.class_names)
    for col in EXAMPLE_COLUMNS:
        examples[col] = per_example[col].to_numpy()
    differs = per_example["consensus_label"].to_numpy() != np.asarray(dataset.labels)
    return {
        "kind": config.annotators,
        "n_annotators": len(names),
        "n_consensus_differs": int(differs.sum()),
        "annotators": annotators.to_dict(orient="records"),
    }


def annotator_rows(examples: "pd.DataFrame", annotator: str) -> "np.ndarray":
    """Rows an annotator labelled, from the examples table's ``annotator_labels`` column."""
    import numpy as np

    key = f"{annotator}="
    labels = examples["annotator_labels"].astype(str)
    hit = labels.map(lambda s: any(part.startswith(key) for part in s.split("; ")))
    return examples["row"].to_numpy()[hit.to_numpy(dtype=bool)] if len(examples) else np.array([], dtype=np.int64)

"""Human verdicts on given labels: labelerrors ``mturk.json`` files and review CSVs.

:func:`load_reviews` returns one row per reviewed example with the columns
``row``, ``given_label``, ``guessed_label``, ``n_given``, ``n_guessed``,
``n_other``, ``is_validated_error``, ``corrected_label`` (labels are class
indices; -1 = none / unknown).

mturk.json (the labelerrors release): a list of entries with ``id`` (the row
index; for imdb a file name such as ``test/neg/10003_3``, looked up in
``index_to_filename.json`` beside the file), ``given_original_label`` and
``our_guessed_label`` (class indices or class names) and ``mturk``: the votes of
five workers. The schema is recognised by the vote keys of the whole file:

- ``given/guessed`` (MNIST, CIFAR, ImageNet, Caltech-256, QuickDraw, 20news:
  ``given``, ``guessed``, ``neither``, ``both``; IMDB: ``given``, ``guessed``,
  ``neutral``, ``off-topic``): ``n_given`` and ``n_guessed`` are those counts,
  the rest is ``n_other``;
- ``sentiment`` (Amazon: ``positive``, ``negative``, ``neutral``,
  ``off-topic``): a worker chose the given label when they voted for its
  sentiment (the key naming the given class, case-insensitively); ``n_guessed``
  counts votes for the guessed class; ``n_other`` the remaining votes.

Any other set of keys (or AudioSet's multi-label lists) is refused with an
InputError naming the file. The paper's rule: an example is a validated label
error when fewer than 3 workers chose the given label (``n_given < 3``).
``corrected_label`` is the class at least 3 workers chose (the guessed label, or
under ``sentiment`` any class), else the given label when at least 3 chose
that, else -1 (no majority: drop the example when re-scoring). A few MNIST
entries have the guessed label equal to the given one (the same votes are then
counted under both keys); they are kept as they are.

Review CSV: columns ``row`` (0-based row index), ``verdict`` and optionally
``label`` and ``given_label`` (header names are case-insensitive). Verdicts,
case-insensitive: ``error`` (also ``wrong``, ``mislabeled``, ``mislabelled``,
``incorrect``), ``ok`` (also ``correct``, ``keep``), ``unsure`` (also
``skip``, ``unknown`` or empty). ``label`` is the label the reviewer believes
is right (name or index; may be empty). One reviewer counts as one vote:
error with a label -> ``n_guessed`` 1 and ``corrected_label`` = that label;
error without one -> ``n_other`` 1, corrected -1; ok -> ``n_given`` 1,
corrected = the given label; unsure -> ``n_other`` 1, corrected -1.
``is_validated_error`` is ``verdict == error``. The given label comes from
``labels`` when passed, else from a ``given_label`` column, else from
``label`` on ok rows, else it is -1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

COLUMNS = [
    "row",
    "given_label",
    "guessed_label",
    "n_given",
    "n_guessed",
    "n_other",
    "is_validated_error",
    "corrected_label",
]
VALIDATED_MAX_GIVEN = 2  # validated error: fewer than 3 of 5 workers chose the given label
MAJORITY = 3
VERDICTS = {
    "error": "error",
    "wrong": "error",
    "mislabeled": "error",
    "mislabelled": "error",
    "incorrect": "error",
    "ok": "ok",
    "correct": "ok",
    "keep": "ok",
    "unsure": "unsure",
    "skip": "unsure",
    "unknown": "unsure",
    "": "unsure",
}


def load_reviews(path, *, n_examples: int, class_names=None, labels=None) -> pd.DataFrame:
    """Read human verdicts from a labelerrors ``mturk.json`` or a review CSV.

    path: .json (mturk format) or .csv/.tsv (row, verdict[, label, given_label]).
    n_examples: rows in the dataset (every row must be in [0, n_examples)).
    class_names: maps label names to indices (names must match exactly, or
      case-insensitively when that is unambiguous); integer labels and digit
      strings are used as indices.
    labels: optional (n_examples,) given labels of the dataset: the given
      label of CSV reviews; for mturk.json each entry's given label must match.
    Returns the COLUMNS DataFrame sorted by row (formats: module docstring).
    Raises InputError naming the file and the entry or row for bad input,
    including a row reviewed twice.
    """
    if isinstance(n_examples, bool) or int(n_examples) != n_examples or n_examples < 0:
        raise ValueError(f"n_examples must be a non-negative integer, got {n_examples!r}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: reviews file not found")
    labeler = _LabelMapper(path, class_names)
    suffix = path.suffix.lower()
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != n_examples:
            raise InputError(f"{path}: {len(labels)} given labels for a dataset of {n_examples} rows")
    if suffix == ".json":
        records = _read_mturk(path, n_examples, labeler, labels)
    elif suffix in (".csv", ".tsv"):
        records = _read_csv(path, n_examples, labeler, labels)
    else:
        raise InputError(f"{path}: reviews must be a labelerrors mturk .json or a .csv with row,label,verdict")
    df = pd.DataFrame(records, columns=COLUMNS)
    dup = df["row"].duplicated()
    if dup.any():
        raise InputError(f"{path}: row {int(df['row'][dup].iloc[0])} is reviewed more than once")
    df = df.astype(
        {
            "row": np.int64,
            "given_label": np.int64,
            "guessed_label": np.int64,
            "n_given": np.int64,
            "n_guessed": np.int64,
            "n_other": np.int64,
            "is_validated_error": bool,
            "corrected_label": np.int64,
        }
    )
    return df.sort_values("row", kind="stable").reset_index(drop=True)


class _LabelMapper:
    """Turns a label cell (int, digit string or class name) into a class index."""

    def __init__(self, path: Path, class_names):
        self.path = path
        self.names = [str(c) for c in class_names] if class_names is not None else None
        self.exact = {name: i for i, name in enumerate(self.names or [])}
        folded: dict[str, list[int]] = {}
        for i, name in enumerate(self.names or []):
            folded.setdefault(name.strip().casefold(), []).append(i)
        self.folded = {key: idx[0] for key, idx in folded.items() if len(idx) == 1}

    def __call__(self, value, where: str) -> int:
        if isinstance(value, bool):
            raise InputError(f"{self.path}: {where}: label {value!r} is not a class index or name")
        if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
            index = int(value)
        elif isinstance(value, str) and value in self.exact:
            return self.exact[value]
        elif isinstance(value, str) and value.strip().casefold() in self.folded:
            return self.folded[value.strip().casefold()]
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            index = int(value.strip())
        elif isinstance(value, str) and self.names is None:
            raise InputError(f"{self.path}: {where}: label {value!r} is a name but no class names were given")
        else:
            raise InputError(f"{self.path}: {where}: unknown label {value!r}")
        if index < 0 or (self.names is not None and index >= len(self.names)):
            n = len(self.names) if self.names is not None else "the"
            raise InputError(f"{self.path}: {where}: label {index} is outside the {n} classes")
        return index


def _check_row(path: Path, row: int, n_examples: int, where: str) -> int:
    if row < 0 or row >= n_examples:
        raise InputError(f"{path}: {where}: row {row} is outside the dataset's {n_examples} rows")
    return row


def _read_json(path: Path):
    from .data import read_json  # bounded nesting, errors naming the file

    return read_json(path)


def _filename_index(path: Path):
    """Row lookup for file-name ids from index_to_filename.json beside ``path`` (None if absent)."""
    mapping = path.with_name("index_to_filename.json")
    if not mapping.is_file():
        return None
    names = _read_json(mapping)
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise InputError(f"{mapping}: expected a JSON list of file names")
    index: dict[str, int] = {}
    for i, name in enumerate(names):  # first occurrence wins, like list.index
        index.setdefault(name, i)
        index.setdefault(name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name, i)
    return index


def _row_of_id(path: Path, value, n_examples: int, files, where: str) -> int:
    """An mturk ``id``: an int row, a digit string, or a file name looked up in index_to_filename.json.

    A file name matches the first listed name equal to it or to a trailing part
    of it (``test/neg/10003_3`` -> ``neg/10003_3.txt``), with or without extension.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return _check_row(path, int(value), n_examples, where)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}: {where}: id {value!r} is not a row index or file name")
    if value.strip().isdigit():
        return _check_row(path, int(value.strip()), n_examples, where)
    if files is None:
        raise InputError(
            f"{path}: {where}: id {value!r} is a file name but index_to_filename.json is not beside the file"
        )
    parts = value.strip().strip("/").split("/")
    for i in range(len(parts)):
        tail = "/".join(parts[i:])
        if tail in files:
            return _check_row(path, files[tail], n_examples, where)
    raise InputError(f"{path}: {where}: id {value!r} is not in index_to_filename.json")


def _count(path: Path, votes: dict, key: str, where: str) -> int:
    value = votes.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{path}: {where}: mturk count {key!r} must be a non-negative integer, got {value!r}")
    return value


GIVEN_GUESSED = "given/guessed"
SENTIMENT = "sentiment"
#: The labelerrors mturk.json schemas, by the vote keys each allows.
SCHEMAS = (
    (GIVEN_GUESSED, frozenset({"given", "guessed", "neither", "both"})),  # images, 20news
    (GIVEN_GUESSED, frozenset({"given", "guessed", "neutral", "off-topic"})),  # imdb
    (SENTIMENT, frozenset({"positive", "negative", "neutral", "off-topic"})),  # amazon
)


def mturk_schema(path: Path, entries: list) -> str:
    """The schema of a list of mturk entries, from the union of their vote keys (module docstring).

    Entries without a vote object count as given/guessed (their own check names
    what is missing). InputError naming the file for AudioSet's multi-label
    entries or vote keys that fit no schema.
    """
    if any(isinstance(e, dict) and "given_original_labels" in e for e in entries):
        raise InputError(
            f"{path}: multi-label validation (given_original_labels lists, as AudioSet's) cannot review a "
            "single-label audit"
        )
    keys = set()
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("mturk"), dict):
            keys.update(e["mturk"])
    if not keys:
        return GIVEN_GUESSED
    for name, allowed in SCHEMAS:
        if keys <= allowed and (name != GIVEN_GUESSED or "given" in keys):
            return name
    known = "; ".join("/".join(sorted(allowed)) for _, allowed in SCHEMAS)
    raise InputError(
        f"{path}: mturk vote keys {', '.join(sorted(map(str, keys)))} fit no labelerrors schema (known: {known})"
    )


def _sentiment_votes(path: Path, votes: dict, labeler: _LabelMapper, given: int, guessed: int, where: str):
    """(n_given, n_guessed, n_other, class with >= 3 votes or -1) for votes keyed by class name."""
    per_class: dict[int, int] = {}
    total = 0
    for key in votes:
        count = _count(path, votes, key, where)
        total += count
        if key != "off-topic":
            cls = labeler(key, f"{where}: vote key {key!r}")
            per_class[cls] = per_class.get(cls, 0) + count
    n_given, n_guessed = per_class.get(given, 0), per_class.get(guessed, 0)
    n_other = total - n_given - (n_guessed if guessed != given else 0)
    majority = [c for c, n in per_class.items() if n >= MAJORITY and c != given]
    return n_given, n_guessed, n_other, majority[0] if len(majority) == 1 else -1


def _read_mturk(path: Path, n_examples: int, labeler: _LabelMapper, labels) -> list[tuple]:
    entries = _read_json(path)
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a JSON list of mturk entries")
    schema = mturk_schema(path, entries)
    files = None
    if any(isinstance(e, dict) and isinstance(e.get("id"), str) and not e["id"].strip().isdigit() for e in entries):
        files = _filename_index(path)
    records = []
    for i, entry in enumerate(entries):
        where = f"entry {i}"
        if not isinstance(entry, dict):
            raise InputError(f"{path}: {where}: expected an object")
        missing = [key for key in ("id", "given_original_label", "our_guessed_label", "mturk") if key not in entry]
        if missing:
            raise InputError(f"{path}: {where}: missing {', '.join(missing)}")
        where = f"entry {i} (id {entry['id']!r})"
        row = _row_of_id(path, entry["id"], n_examples, files, where)
        given = labeler(entry["given_original_label"], where)
        guessed = labeler(entry["our_guessed_label"], where)
        if labels is not None and int(labels[row]) != given:
            raise InputError(
                f"{path}: {where}: given label {given} differs from the dataset's label {int(labels[row])} "
                f"at row {row}; is this the reviews file of this dataset?"
            )
        votes = entry["mturk"]
        if not isinstance(votes, dict):
            raise InputError(f"{path}: {where}: mturk must be an object of vote counts")
        if schema == SENTIMENT:
            n_given, n_guessed, n_other, voted = _sentiment_votes(path, votes, labeler, given, guessed, where)
        else:
            n_given = _count(path, votes, "given", where)
            n_guessed = _count(path, votes, "guessed", where)
            n_other = sum(_count(path, votes, key, where) for key in votes if key not in ("given", "guessed"))
            voted = guessed if n_guessed >= MAJORITY else -1
        if voted >= 0:
            corrected = voted
        elif n_given >= MAJORITY:
            corrected = given
        else:
            corrected = -1
        records.append(
            (row, given, guessed, n_given, n_guessed, n_other, n_given <= VALIDATED_MAX_GIVEN, corrected)
        )
    return records


def _read_csv(path: Path, n_examples: int, labeler: _LabelMapper, labels) -> list[tuple]:
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot read the CSV: {str(err).strip()}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    for col in ("row", "verdict"):
        if col not in df.columns:
            raise InputError(f"{path}: missing column {col!r} (need row, verdict and optionally label)")
    records = []
    for i, rec in enumerate(df.to_dict("records")):
        where = f"line {i + 2}"
        cell = rec["row"].strip()
        if not cell.lstrip("-").isdigit():
            raise InputError(f"{path}: {where}: row {cell!r} is not an integer row index")
        row = _check_row(path, int(cell), n_examples, where)
        verdict = VERDICTS.get(rec["verdict"].strip().lower())
        if verdict is None:
            raise InputError(f"{path}: {where}: unknown verdict {rec['verdict']!r} (use error, ok or unsure)")
        label_cell = rec.get("label", "").strip()
        label = labeler(label_cell, where) if label_cell else -1
        if labels is not None:
            given = int(labels[row])
        elif rec.get("given_label", "").strip():
            given = labeler(rec["given_label"].strip(), where)
        else:
            given = label if verdict == "ok" else -1
        if verdict == "error":
            counts, corrected = ((0, 1, 0) if label >= 0 else (0, 0, 1)), label
        elif verdict == "ok":
            if label >= 0 and given >= 0 and label != given:
                raise InputError(f"{path}: {where}: verdict ok but label {label} differs from the given label {given}")
            counts, corrected = (1, 0, 0), given
        else:
            counts, corrected = (0, 0, 1), -1
        guessed = label if verdict == "error" else -1
        records.append((row, given, guessed, *counts, verdict == "error", corrected))
    return records

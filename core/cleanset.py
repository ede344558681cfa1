"""Export a project's review: the cleaned dataset and the decisions log.

The cleanset is the original table, read again from the project's dataset, with
three columns added (a name already in the table gets a ``labelaudit_`` prefix):

* ``given_label``: the given label as a class name;
* ``corrected_label``: the class name the review decided (keep -> given,
  accept -> suggested, relabel -> the chosen class), the given label (or with
  ``use_consensus`` the annotators' consensus) for rows without a decision or
  marked unsure, empty for excluded rows;
* ``decision``: keep, accept, relabel, exclude or unsure; empty when undecided.

The decision that counts is the latest one by a person, else an imported one
(see :mod:`core.project`). Excluded rows are kept and marked, or dropped with
``drop_excluded``. The format follows the extension: ``.csv`` (cells that a
spreadsheet would run as a formula are neutralised) or ``.parquet`` (raw values).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, OutputError
from .export import write_csv
from .project import Project

FORMATS = (".csv", ".parquet")


def export_project(project_path, cleanset=None, decisions=None, drop_excluded: bool = False,
                   use_consensus: bool = False) -> dict[str, Path]:
    """Write the cleanset and/or the decisions log of the project at ``project_path``.

    Returns {"cleanset": path, "decisions": path} for the files written. InputError when
    neither output is given, both are one file, an output would overwrite the project or
    its dataset, the project is missing or damaged, or the dataset changed. Exporting
    works from a read-only project (read-only media, no permission).
    """
    if cleanset is None and decisions is None:
        raise InputError("nothing to export: pass --cleanset FILE and/or --decisions FILE")
    for out in (cleanset, decisions):
        if out is not None:
            _check_output(out)
    if cleanset is not None and decisions is not None and _same_file(cleanset, decisions):
        raise InputError(f"{decisions}: --cleanset and --decisions name the same file; give two different files")
    written: dict[str, Path] = {}
    with _open(project_path) as project:
        for out in (cleanset, decisions):  # both checked before either is written
            if out is not None:
                _check_output(out, project)
        if cleanset is not None:
            written["cleanset"] = export_cleanset(project, cleanset, drop_excluded=drop_excluded,
                                                  use_consensus=use_consensus)
        if decisions is not None:
            written["decisions"] = export_decisions(project, decisions)
    return written


def cleanset_table(project: Project, *, drop_excluded: bool = False, use_consensus: bool = False) -> pd.DataFrame:
    """The original table plus given_label, corrected_label and decision (see the module docstring).

    use_consensus: undecided rows take the annotators' consensus label (CROWDLAB,
    core.multiannotator) instead of the given label; InputError when the project has none.
    """
    from .pipeline import AuditConfig, load_dataset_for

    status = project.dataset_status()
    if status in ("missing", "none"):
        raise InputError(f"{project.dataset_path or project.path}: the project's dataset is not found; "
                         "open the project in the app and point it at the data")
    if status == "changed":
        raise InputError(f"{project.dataset_path}: the dataset changed since the project was saved "
                         "(content hash differs), so rows may no longer match the decisions")
    dataset = load_dataset_for(AuditConfig.from_dict(project.config))
    examples, _, _ = project.load_results()
    given = examples["given_label"].to_numpy(dtype=np.int64)
    if dataset.n != len(given):
        raise InputError(f"{project.dataset_path}: has {dataset.n} rows but the project audited {len(given)}")
    names = project.class_names

    corrected = given.copy()  # class indices, -1 for none
    if use_consensus:
        if "consensus_label" not in examples.columns:
            raise InputError(f"{project.path}: the project has no consensus labels; audit with --annotators "
                             "long|wide|votes first")
        corrected = examples["consensus_label"].to_numpy(dtype=np.int64).copy()
    eff = project.effective_decisions()
    rows, actions, labels = eff["row"].to_numpy(), eff["action"].to_numpy(dtype=object), eff["label"].to_numpy()
    kinds = sorted(set(actions.tolist()))
    decision = np.full(len(given), -1, dtype=np.int64)  # index into kinds, -1 for undecided
    decision[rows] = np.searchsorted(kinds, actions)
    has_label = labels >= 0
    corrected[rows[has_label]] = labels[has_label]
    excluded = np.zeros(len(given), dtype=bool)
    excluded[rows[actions == "exclude"]] = True
    corrected[excluded] = -1

    table = dataset.table.copy()
    for col, values in (("given_label", _text(names, given)), ("corrected_label", _text(names, corrected)),
                        ("decision", _text(kinds, decision))):
        table[f"labelaudit_{col}" if col in dataset.table.columns else col] = values
    if drop_excluded:
        table = table[~excluded]
    return table


def _text(words: list[str], codes: np.ndarray):
    """``words[codes]`` (-1: missing) as the column pandas makes of that object array, built in Arrow:
    a million Python strings held the GIL for 50-80 ms converting (a stall of the window exporting)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = codes < 0
    inferred = pd.Series(np.array(["x"], dtype=object)).dtype  # str (Arrow), or object where pandas keeps objects
    if missing.all() or inferred == object:
        values = np.full(len(codes), None, dtype=object)
        values[~missing] = np.asarray(words, dtype=object)[codes[~missing]]
        return values if not missing.all() else pd.array(values, dtype=object)  # all missing: object, as inferred
    return pd.array(pc.take(pa.array(words, pa.large_string()), pa.array(codes, mask=missing)), dtype=inferred)


def export_cleanset(project, out_path, *, drop_excluded: bool = False, use_consensus: bool = False) -> Path:
    """Write :func:`cleanset_table` of ``project`` (a Project or a project path) to ``out_path``."""
    with _open(project) as p:
        out = _check_output(out_path, p)
        return _write(cleanset_table(p, drop_excluded=drop_excluded, use_consensus=use_consensus), out)


def decisions_log(project: Project) -> pd.DataFrame:
    """The audit trail with labels as class names.

    Columns: entry, time (UTC ISO), reviewer, row, example_id, action, before_decision,
    before_label, after_decision, after_label, note. ``before``/``after`` are the row's
    decision by that reviewer before and after the entry (empty when none).
    """
    trail = project.trail()
    examples, _, _ = project.load_results()
    names = project.class_names
    ids = examples["id"].to_numpy() if "id" in examples.columns else examples["row"].to_numpy()

    def part(states, key):
        out = []
        for s in states:
            value = None if s is None else s[key]
            out.append(names[value] if key == "label" and value is not None else value)
        return out

    return pd.DataFrame({
        "entry": trail["id"].to_numpy(),
        "time": trail["time"].to_numpy(),
        "reviewer": trail["reviewer"].to_numpy(),
        "row": trail["row"].to_numpy(),
        "example_id": ids[trail["row"].to_numpy(dtype=np.int64)] if len(trail) else [],
        "action": trail["action"].to_numpy(),
        "before_decision": part(trail["before"], "action"),
        "before_label": part(trail["before"], "label"),
        "after_decision": part(trail["after"], "action"),
        "after_label": part(trail["after"], "label"),
        "note": trail["note"].to_numpy(),
    })


def export_decisions(project, out_path) -> Path:
    """Write :func:`decisions_log` of ``project`` (a Project or a project path) to ``out_path``."""
    with _open(project) as p:
        out = _check_output(out_path, p)
        return _write(decisions_log(p), out)


class _open:
    """``with _open(project_or_path) as project``: opens (and closes) a path, passes a Project through."""

    def __init__(self, project):
        self.given = project

    def __enter__(self) -> Project:
        self.project = self.given if isinstance(self.given, Project) else Project.open(self.given)
        return self.project

    def __exit__(self, *exc) -> None:
        if self.project is not self.given:
            self.project.close()


def _check_output(path, project: Project | None = None) -> Path:
    """``path`` as a Path; InputError for an unknown format, a missing folder, or (given the
    project) a path that is the project file or would overwrite or change its dataset."""
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise InputError(f"{out}: unknown output format {out.suffix or '(no extension)'!r}; use .csv or .parquet")
    if not out.parent.is_dir():
        raise InputError(f"{out}: the folder {out.parent} does not exist")
    if project is not None:
        for suffix in ("", "-wal", "-shm"):
            if _same_file(out, f"{project.path}{suffix}"):
                raise InputError(f"{out}: is the project file itself; choose another name for the export")
        data = project.dataset_path
        if data is not None and data.is_dir() and _inside(out, data):
            raise InputError(f"{out}: is inside the project's dataset folder {data}; writing there would "
                             "change the dataset; choose another folder")
        if data is not None and _same_file(out, data):
            raise InputError(f"{out}: is the project's dataset; writing there would overwrite it; "
                             "choose another name")
        for key in ("reviews", "classes", "pred_probs", "logits"):  # the run's other input files
            source = project.config.get(key)
            if source and _same_file(out, source):
                raise InputError(f"{out}: is the project's {key.replace('_', ' ')} file; writing there would "
                                 "overwrite it; choose another name")
    return out


def _same_file(a, b) -> bool:
    """True when ``a`` and ``b`` name one file (after symlinks, or as hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _inside(path, folder) -> bool:
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(path)).parents


def _write(df: pd.DataFrame, out: Path) -> Path:
    """Write ``df`` by the extension, into a file beside ``out`` moved into place (a failed write
    leaves an earlier file as it was). InputError for no permission, OutputError for a full disk."""
    try:
        if out.suffix.lower() != ".parquet":
            return write_csv(df, out)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            df.to_parquet(tmp, index=False)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR):
            raise InputError(f"{out}: cannot write ({reason})") from None
        raise OutputError(f"{out}: cannot write ({reason}); nothing was replaced") from None

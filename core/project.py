"""The ``.labelaudit`` project file: one SQLite database that never loses a decision.

A project holds the dataset reference (path and SHA-256 of its content), the
run's settings (``AuditConfig.to_dict()``), the audit's scores and every review
decision. Scores live in the same file as blobs (``examples`` as Parquet bytes,
``pred_probs`` as ``.npy`` bytes, loaded with ``allow_pickle=False``), so a
project is a single file that can be copied, mailed or "saved as".

Durability: the database runs in WAL mode with ``synchronous=FULL`` and every
decision is written in its own transaction before :meth:`Project.decide`
returns, so a crash or ``kill -9`` loses nothing that was committed. After each
committed write a full WAL checkpoint copies it into the main file, so the
``.labelaudit`` file alone (copied or mailed without its ``-wal``/``-shm``, while
the app is open or after a crash) holds every acknowledged decision.

Faults: a write that cannot be stored (disk full, locked, read-only) raises
:class:`~core.errors.OutputError` and changes nothing. A file that cannot be
written (read-only media, no permission, or ``open(..., read_only=True)``) opens
read-only: it shows and exports, and writing says why it cannot
(:attr:`Project.read_only`). A file that is not SQLite, lacks tables or holds
unreadable arrays raises :class:`~core.errors.ProjectDamaged`. Undo and redo
refuse (:class:`~core.errors.HistoryConflict`) when another window or process
decided one of the step's rows later.

Schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`):

* ``meta(key, value)``: JSON values: format, created, config, dataset_path,
  dataset_relpath, dataset_sha256, class_names, summary, settings.*
* ``blobs(name, data)``: examples.parquet, pred_probs.npy, given.npy, suggested.npy
* ``steps(id, time, reviewer, kind, target, description)``: one per user
  action; kind ``do`` (a decision, a batch, an import), ``undo`` or ``redo``
  (target = the step undone or redone). Replaying the steps in id order gives
  the undo and redo stacks, so they survive reopening.
* ``trail(id, step, time, reviewer, row, action, before, after, note)``: the
  append-only audit trail (triggers reject UPDATE and DELETE). ``before`` and
  ``after`` are the JSON state ``{"action", "label", "note"}`` of the
  (row, reviewer) decision, or null for none; ``action`` is what was done
  (keep, accept, relabel, exclude, unsure, note, undo, redo).
* ``decisions(row, reviewer, action, label, note, trail_id, time)``: the
  current state per (row, reviewer), updated in the same transaction as the
  trail entry that sets it.
* ``reviewers(name, kind, source)``: kind ``person`` (decided in the app) or
  ``import`` (human validation read from a file, e.g. ``mturk``).

The decision that counts for a row (export, the table's decided column) is the
latest one by a person; rows no person decided take the latest imported one.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import sqlite3
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import HistoryConflict, InputError, OutputError, ProjectDamaged

if TYPE_CHECKING:  # pandas is imported where it is used, so that opening a project to decide stays light
    import pandas as pd

    from .pipeline import AuditReport

SCHEMA_VERSION = 1
SUFFIX = ".labelaudit"
FORMAT = "labelaudit-project"
DECISION_ACTIONS = ("keep", "accept", "relabel", "exclude", "unsure")
ACTIONS = DECISION_ACTIONS + ("note",)

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs(name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE reviewers(name TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK(kind IN ('person', 'import')), source TEXT);
CREATE TABLE steps(
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, reviewer TEXT NOT NULL,
    kind TEXT NOT NULL CHECK(kind IN ('do', 'undo', 'redo')), target INTEGER, description TEXT);
CREATE TABLE trail(
    id INTEGER PRIMARY KEY AUTOINCREMENT, step INTEGER NOT NULL REFERENCES steps(id), time TEXT NOT NULL,
    reviewer TEXT NOT NULL, row INTEGER NOT NULL, action TEXT NOT NULL, before TEXT, after TEXT, note TEXT);
CREATE INDEX trail_step ON trail(step);
CREATE TRIGGER trail_no_update BEFORE UPDATE ON trail BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER trail_no_delete BEFORE DELETE ON trail BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE decisions(
    row INTEGER NOT NULL, reviewer TEXT NOT NULL, action TEXT, label INTEGER, note TEXT,
    trail_id INTEGER NOT NULL, time TEXT NOT NULL, PRIMARY KEY(row, reviewer));
"""
TABLES = ("meta", "blobs", "reviewers", "steps", "trail", "decisions")


def default_reviewer() -> str:
    """The OS user name, or ``"reviewer"`` when it cannot be found."""
    try:
        return getpass.getuser() or "reviewer"
    except Exception:  # getpass raises various errors when no user name is set
        return "reviewer"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def content_hash(path: str | Path) -> str:
    """SHA-256 hex digest of a file, or of a folder's relative file names and contents."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode("utf-8") + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _npy_parts(arr: np.ndarray) -> list:
    """The bytes of ``arr`` saved as .npy (what np.save writes), as [header, the array's own memory]: np.save
    into a BytesIO regrows and copies the buffer holding the GIL (0.1-0.3 s per step at 10M rows)."""
    arr = np.ascontiguousarray(arr)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(arr))
    return [head.getvalue(), memoryview(arr.reshape(-1)).cast("B")]


#: Bytes written per piece of a stored blob (see _put_blob).
BLOB_PIECE = 8 << 20
#: Bytes read per piece (see Project._blob): reading 8 MiB held the GIL for about 24 ms (bench_gui_export).
BLOB_READ_PIECE = 2 << 20


def _put_blob(conn, name: str, parts) -> None:
    """Store the concatenated ``parts`` (bytes or buffers) as blob ``name``, written in BLOB_PIECE pieces through
    SQLite's incremental blob I/O: binding a whole 10M-row table (hundreds of MB) copies it in one call that
    holds the GIL for a third of a second, which stalls the GUI thread; a piece holds it for milliseconds."""
    views = [memoryview(part).cast("B") for part in parts]
    size = sum(len(v) for v in views)
    cur = conn.execute("INSERT OR REPLACE INTO blobs(name, data) VALUES (?, zeroblob(?))", (name, size))
    if not size:
        return
    with conn.blobopen("blobs", "data", cur.lastrowid) as blob:
        for view in views:
            for start in range(0, len(view), BLOB_PIECE):
                blob.write(view[start: start + BLOB_PIECE])


def _flagged_of(examples) -> np.ndarray:
    """The flagged rows of an examples table."""
    return examples["row"].to_numpy()[examples["is_label_issue"].to_numpy(dtype=bool)]


def _npy_load(data, path, name: str) -> np.ndarray:
    """The array stored as ``name``, over ``data``'s memory (bytes or _blob's uint8 array: no copy);
    ProjectDamaged when the bytes are not a plain .npy whose header matches its size (checked before anything
    is allocated)."""
    view = memoryview(data).cast("B")
    buf = io.BytesIO(view[: 1 << 20])  # the header (a .npy labelaudit writes has one of a few hundred bytes)
    try:
        fmt = np.lib.format
        version = fmt.read_magic(buf)
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f".npy format version {version} is not one labelaudit writes")
        shape, fortran, dtype = read_header(buf)
        count = int(np.prod(shape, dtype=np.uint64))
        if dtype.hasobject or count * dtype.itemsize != len(view) - buf.tell():
            raise ValueError("its header does not match its size")
        return np.frombuffer(view, dtype=dtype, count=count, offset=buf.tell()).reshape(
            shape, order="F" if fortran else "C")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError) as err:
        raise ProjectDamaged(path, f"the stored {name} is unreadable ({' '.join(str(err).split())[:200]})") from None


class Project:
    """An open ``.labelaudit`` file. Use :meth:`create` or :meth:`open`; :meth:`close` when done.

    One thread at a time: a worker thread may call :meth:`load_report` while the GUI
    thread waits, but two threads must not use one Project at once.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, read_only: str | None = None):
        self.path = path
        self._conn = conn
        #: why this project cannot be written (e.g. "no permission to write the file"), or None
        self.read_only: str | None = read_only
        self._given: np.ndarray | None = None
        self._suggested: np.ndarray | None = None
        self._flagged: np.ndarray | None = None
        self._undo: list[int] = []
        self._redo: list[int] = []
        self._known_steps: set[int] = set()  # steps this instance read at open or wrote itself
        self._replay_steps()

    # ---------------------------------------------------------------- files

    @classmethod
    def create(cls, path, config: dict, dataset_path=None, *, overwrite: bool = False) -> "Project":
        """Create a new project at ``path`` for the run described by ``config``.

        config: ``AuditConfig.to_dict()``. dataset_path: the data file or folder
        (default ``config["data"]``); its content hash is recorded. Raises InputError
        when ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        data = dataset_path if dataset_path is not None else config.get("data")
        if data and not Path(data).exists():
            raise InputError(f"{data}: no such file or folder")
        if path.exists():
            if not overwrite:
                raise InputError(f"{path}: a file with that name already exists")
            _remove_db(path)
        conn = _connect(path)
        try:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            with _transaction(conn, path):
                _set_meta(conn, "format", FORMAT)
                _set_meta(conn, "created", _now())
                _set_meta(conn, "config", dict(config))
        except sqlite3.Error as err:
            conn.close()
            _remove_db(path)
            raise OutputError(f"cannot write {path}: {_reason(err)}") from None
        except BaseException:
            conn.close()
            raise
        project = cls(path, conn)
        if data:
            project.relink_dataset(data)
        return project

    @classmethod
    def create_from_report(cls, path, report, *, overwrite: bool = False) -> "Project":
        """Create a project holding an AuditReport's settings and scores."""
        project = cls.create(path, report.config.to_dict(), report.config.data, overwrite=overwrite)
        project.save_results(report.examples, report.pred_probs, report.summary, report.class_names)
        return project

    @classmethod
    def open(cls, path, *, read_only: bool = False) -> "Project":
        """Open an existing project.

        The project opens read-only (see :attr:`read_only`) when ``read_only`` is set or
        the file cannot be written (read-only media, no permission). InputError naming the
        file when it is missing or not a project; ProjectDamaged when it is damaged.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: no such project file")
        reason = "opened read-only" if read_only else _read_only_reason(path)
        try:
            return cls(path, *_open_checked(path, reason))
        except _CannotWrite:  # SQLite could not write beside the file after all: open it read-only
            return cls(path, *_open_checked(path, "the file or its folder cannot be written"))

    def save_as(self, path) -> None:
        """Copy the whole project to ``path`` (replacing it) and continue working there.

        Works from a read-only project too (the copy is writable). OutputError when the
        copy cannot be written; the project stays where it was."""
        path = Path(path)
        if path.resolve() == self.path.resolve():
            return
        if path.exists():
            _remove_db(path)
        try:
            dst = _connect(path)
            try:
                self._conn.backup(dst)
                dst.execute("PRAGMA wal_checkpoint(FULL)")
            finally:
                dst.close()
            new = _connect(path)
        except (sqlite3.Error, InputError) as err:
            _remove_db(path)
            raise OutputError(f"cannot write {path}: {_reason(err)}") from None
        old, self._conn = self._conn, new
        old.close()
        self.path = path
        self.read_only = None
        self._known_steps = {r[0] for r in self._conn.execute("SELECT id FROM steps")}
        relpath = _relpath(self.dataset_path, path) if self.dataset_path else None
        with self._tx():
            _set_meta(self._conn, "dataset_relpath", relpath)

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close it."""
        if self._conn is None:
            return
        try:
            if not self.read_only:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # every commit was already checkpointed; another process may be reading
        finally:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------- dataset, settings

    @property
    def config(self) -> dict:
        """The run's settings (``AuditConfig.to_dict()``), ``data`` pointing at the resolved dataset."""
        config = dict(self._meta_of("config", dict, {}))
        if self.dataset_path is not None:
            config["data"] = str(self.dataset_path)
        return config

    @property
    def dataset_path(self) -> Path | None:
        """The dataset: the recorded absolute path, else the same relative place beside the project."""
        stored = self._meta("dataset_path")
        if stored is None:
            return None
        absolute = Path(stored)
        relpath = self._meta("dataset_relpath")
        if not absolute.exists() and relpath is not None:
            beside = (self.path.parent / relpath).resolve()
            if beside.exists():
                return beside
        return absolute

    @property
    def dataset_hash(self) -> str | None:
        return self._meta("dataset_sha256")

    def dataset_status(self) -> str:
        """``"ok"``, ``"changed"`` (content hash differs), ``"missing"`` or ``"none"`` (no dataset recorded)."""
        path = self.dataset_path
        if path is None:
            return "none"
        if not path.exists():
            return "missing"
        return "ok" if content_hash(path) == self.dataset_hash else "changed"

    def dataset_changed(self) -> bool:
        """True when the dataset is missing or its content differs from when it was recorded."""
        return self.dataset_status() in ("changed", "missing")

    def relink_dataset(self, path) -> None:
        """Record ``path`` as the dataset and its current content hash (after a move or an intended edit)."""
        p = Path(path)
        if not p.exists():
            raise InputError(f"{path}: no such file or folder")
        digest = content_hash(p)
        with self._tx():
            _set_meta(self._conn, "dataset_path", str(p.resolve()))
            _set_meta(self._conn, "dataset_relpath", _relpath(p.resolve(), self.path))
            _set_meta(self._conn, "dataset_sha256", digest)

    def setting(self, key: str, default: Any = None) -> Any:
        """A value the app stored with :meth:`set_setting` (e.g. the review position)."""
        return self._meta(f"settings.{key}", default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key``."""
        with self._tx():
            _set_meta(self._conn, f"settings.{key}", value)

    # ---------------------------------------------------------------- results

    def save_results(self, examples: "pd.DataFrame", pred_probs: np.ndarray, summary: dict,
                     class_names: list[str] | None = None) -> None:
        """Store the audit's per-example table, probabilities, summary and class names.

        examples: AuditReport.examples (needs ``given_label`` and ``suggested_label``).
        class_names default to ``summary["class_names"]``.
        """
        from .export import _json_safe

        names = list(class_names if class_names is not None else summary["class_names"])
        buf = io.BytesIO()
        examples.to_parquet(buf, index=False)
        given = examples["given_label"].to_numpy(dtype=np.int64)
        suggested = examples["suggested_label"].to_numpy(dtype=np.int64)
        blobs = {
            "examples.parquet": [buf.getbuffer()],
            "pred_probs.npy": _npy_parts(np.asarray(pred_probs, dtype=np.float64)),
            "given.npy": _npy_parts(given),
            "suggested.npy": _npy_parts(suggested),
        }
        with self._tx():
            for name, data in blobs.items():
                _put_blob(self._conn, name, data)
            _set_meta(self._conn, "class_names", [str(n) for n in names])
            _set_meta(self._conn, "summary", _json_safe(summary))
        # what was just stored, kept: reading it back (hundreds of MB at 10M rows) would cost seconds
        self._given, self._suggested = given, suggested
        self._flagged = _flagged_of(examples)

    @property
    def has_results(self) -> bool:
        return self._conn.execute("SELECT 1 FROM blobs WHERE name = 'examples.parquet'").fetchone() is not None

    @property
    def class_names(self) -> list[str]:
        names = self._meta_of("class_names", list, [])
        if not all(isinstance(n, str) for n in names):
            raise ProjectDamaged(self.path, "the stored class_names are not a list of names")
        return list(names)

    @property
    def summary(self) -> dict:
        return dict(self._meta_of("summary", dict, {}))

    def load_results(self) -> tuple["pd.DataFrame", np.ndarray, dict]:
        """(examples, pred_probs, summary) exactly as saved; InputError when the project has none."""
        import pandas as pd

        data = self._blob("examples.parquet")
        if data is None:
            raise InputError(f"{self.path}: the project holds no audit results yet")
        try:
            import pyarrow as pa

            examples = pd.read_parquet(pa.BufferReader(data))  # over the blob's memory, no copy
        except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise ProjectDamaged(self.path, f"the stored examples table is unreadable ({_short(err)})") from None
        missing = [c for c in ("row", "given_label", "suggested_label", "label_quality", "is_label_issue")
                   if c not in examples.columns]
        if missing:
            raise ProjectDamaged(self.path, f"the stored examples table lacks {', '.join(missing)}")
        blob = self._blob("pred_probs.npy")
        if blob is None:
            raise ProjectDamaged(self.path, "the stored pred_probs.npy is missing")
        probs = _npy_load(blob, self.path, "pred_probs.npy")
        k = len(self.class_names)
        if probs.ndim != 2 or probs.shape != (len(examples), k) or probs.dtype.kind != "f":
            raise ProjectDamaged(self.path, f"the stored pred_probs.npy has shape {probs.shape} ({probs.dtype}), "
                                            f"expected ({len(examples)}, {k}) floats")
        if not np.array_equal(examples["row"].to_numpy(), np.arange(len(examples))):
            raise ProjectDamaged(self.path, "the stored examples table's rows are not 0..n-1 in order")
        self._flagged = _flagged_of(examples)  # review_counts needs it: not another read of the table
        return examples, probs, self.summary

    def load_report(self, ctx=None):
        """Rebuild the AuditReport of the saved run without scoring again.

        The audit and calibration are recomputed from the stored probabilities;
        ``examples`` and ``summary`` are the stored ones. When the dataset is missing
        or changed, the report's dataset is rebuilt from the stored table and a
        notice says so (in ``report.notices`` and through ``ctx``).
        """
        from .data import Dataset
        from .pipeline import AuditConfig, load_dataset_for, report_from_saved
        from .progress import RunContext

        ctx = ctx or RunContext()
        examples, pred_probs, summary = self.load_results()
        config = AuditConfig.from_dict(self.config)
        status = self.dataset_status()
        if status == "ok":
            dataset = load_dataset_for(config)
        else:
            ctx.notice(f"{self.dataset_path}: the dataset is {status} since the project was saved; "
                       "showing the stored copy of the audited columns")
            cols = summary.get("columns", {})
            dataset = Dataset(examples, examples["given_label"].to_numpy(dtype=np.int64), self.class_names,
                              str(self.dataset_path), label_col="given_label", text_col=cols.get("text"),
                              image_col=cols.get("image"), id_col="id" if "id" in examples.columns else None,
                              root=self.dataset_path.parent if self.dataset_path else None)
        return report_from_saved(dataset, pred_probs, examples, summary, config, source=str(self.path), ctx=ctx)

    @classmethod
    def reopen(cls, path, ctx=None) -> "tuple[Project, AuditReport, str]":
        """Open a project with its saved run: ``(project, report, dataset status)``.

        What opening a project file takes, in one call: :meth:`open`, :meth:`load_report`
        and a read of the decisions (so damaged decisions raise now, not later while they
        are shown). The project is closed again when any of it fails.
        """
        project = cls.open(path)
        try:
            report = project.load_report(ctx)
            project.effective_decisions()  # checked, rows in range (not decision_columns: 10M-row object arrays)
            return project, report, project.dataset_status()
        except BaseException:
            project.close()
            raise

    # --------------------------------------------------------------- decisions

    def decide(self, row: int, action: str, label=None, note: str | None = None,
               reviewer: str | None = None) -> int | None:
        """Record one decision about ``row`` and commit it before returning.

        action: keep (the given label), accept (the suggested label), relabel
        (``label``: a class index or name), exclude, unsure ("needs another look")
        or note (sets ``note``, leaves the decision as it is). A relabel to the
        given or the suggested class is stored as keep or accept. ``note`` given
        with a decision replaces the row's note; otherwise the note is kept.
        Returns the trail id, or None when the state did not change.
        """
        step = self.decide_many([row], action, label=label, note=note, reviewer=reviewer,
                                description=f"{action} row {row}")
        if step is None:
            return None
        return self._conn.execute("SELECT MAX(id) FROM trail WHERE step = ?", (step,)).fetchone()[0]

    def decide_many(self, rows, action: str, label=None, note: str | None = None,
                    reviewer: str | None = None, description: str | None = None) -> int | None:
        """Apply one action to many rows as one undoable step in one transaction.

        Returns the step id, or None when no row changed.
        """
        reviewer = reviewer or default_reviewer()
        changes = [(int(r), self._new_state(int(r), action, label, note, reviewer)) for r in rows]
        return self._apply_step(changes, reviewer, "person", None, description or f"{action} {len(changes)} rows",
                                entry_action=action)

    def import_reviews(self, path, *, reviewer: str = "mturk") -> int:
        """Read human validation (labelerrors ``mturk.json`` or a row,label,verdict CSV) as decisions.

        Each reviewed row becomes a decision by ``reviewer`` (kind ``import``): the
        majority kept the given label -> keep; the majority chose another label ->
        relabel to it (accept when it is the suggested label); no agreed label (or a
        CSV "error" without a label, or "unsure") -> unsure. The vote counts go in the
        note. One undoable step; returns the number of rows that changed.
        """
        from .verdicts import load_reviews

        given, suggested = self._labels()
        reviews = load_reviews(path, n_examples=len(given), class_names=self.class_names, labels=given)
        changes = []
        for rec in reviews.itertuples(index=False):
            row, corrected = int(rec.row), int(rec.corrected_label)
            note = f"{reviewer}: given {rec.n_given}, guessed {rec.n_guessed}, other {rec.n_other}"
            if corrected == given[row]:
                action = "keep"
            elif corrected >= 0:
                action = "accept" if corrected == suggested[row] else "relabel"
            else:
                action = "unsure"
            state = {"action": action, "label": corrected if corrected >= 0 else None, "note": note}
            changes.append((row, state))
        step = self._apply_step(changes, reviewer, "import", str(path), f"import {Path(path).name} as {reviewer}",
                                entry_action=None)
        if step is None:
            return 0
        return self._conn.execute("SELECT COUNT(*) FROM trail WHERE step = ?", (step,)).fetchone()[0]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> list[int]:
        """Undo the latest step (a decision, a batch or an import) by appending trail entries
        that restore the earlier state. Returns the rows affected ([] when there is nothing to undo).
        HistoryConflict (nothing changes) when another window or process decided one of the
        step's rows after it."""
        if not self._undo:
            return []
        target = self._undo[-1]
        self._restore(target, "undo")
        return self._step_rows(target)

    def redo(self) -> list[int]:
        """Redo the latest undone step; returns the rows affected ([] when there is nothing to redo).
        HistoryConflict as for :meth:`undo`."""
        if not self._redo:
            return []
        target = self._redo[-1]
        self._restore(target, "redo")
        return self._step_rows(target)

    def decision(self, row: int, reviewer: str | None = None) -> dict | None:
        """The current decision state ``{"action", "label", "note", "reviewer"}`` of ``row``.

        With ``reviewer`` that reviewer's, else the one that counts (see the module docstring).
        None when there is none.
        """
        if reviewer is not None:
            rec = self._conn.execute(
                "SELECT action, label, note, reviewer FROM decisions WHERE row = ? AND reviewer = ?",
                (int(row), reviewer)).fetchone()
        else:
            rec = self._conn.execute(
                "SELECT d.action, d.label, d.note, d.reviewer FROM decisions d JOIN reviewers r ON r.name = d.reviewer"
                " WHERE d.row = ? AND d.action IS NOT NULL ORDER BY r.kind = 'person' DESC, d.trail_id DESC LIMIT 1",
                (int(row),)).fetchone()
        if rec is None:
            return None
        return {"action": rec[0], "label": rec[1], "note": rec[2], "reviewer": rec[3]}

    def row_decisions(self, row: int) -> dict[str, dict]:
        """Every reviewer's current state for ``row``: reviewer -> {"action", "label", "note", "kind"}."""
        recs = self._conn.execute(
            "SELECT d.reviewer, d.action, d.label, d.note, r.kind FROM decisions d JOIN reviewers r"
            " ON r.name = d.reviewer WHERE d.row = ? ORDER BY d.trail_id", (int(row),)).fetchall()
        return {r[0]: {"action": r[1], "label": r[2], "note": r[3], "kind": r[4]} for r in recs}

    def decisions(self, reviewer: str | None = None, kind: str | None = None) -> "pd.DataFrame":
        """Current decisions, one row per (row, reviewer): row, reviewer, kind, action, label, note, time.

        ``label`` is the decided class index (-1 for exclude, unsure and note-only rows);
        ``action`` is None for a row that only has a note. Sorted by row.
        """
        query = ("SELECT d.row, d.reviewer, r.kind, d.action, d.label, d.note, d.time FROM decisions d"
                 " JOIN reviewers r ON r.name = d.reviewer WHERE 1=1")
        params: list = []
        if reviewer is not None:
            query += " AND d.reviewer = ?"
            params.append(reviewer)
        if kind is not None:
            query += " AND r.kind = ?"
            params.append(kind)
        return self._checked(_decision_frame(self._conn.execute(query + " ORDER BY d.row, d.trail_id", params).fetchall()))

    def decided_rows(self, kind: str | None = None, action: str | None = None) -> set[int]:
        """Rows with a decision (not only a note) by a reviewer of ``kind`` (person, import), or with
        ``action``; one query, no DataFrame, for the Review tab's progress on every key press."""
        query = ("SELECT DISTINCT d.row FROM decisions d JOIN reviewers r ON r.name = d.reviewer"
                 " WHERE d.action IS NOT NULL")
        params: list = []
        if kind is not None:
            query += " AND r.kind = ?"
            params.append(kind)
        if action is not None:
            query += " AND d.action = ?"
            params.append(action)
        return {r[0] for r in self._conn.execute(query, params)}

    def effective_decisions(self) -> "pd.DataFrame":
        """The decision that counts for each decided row (latest by a person, else latest imported).

        Columns: row, reviewer, kind, action, label (-1 when none), note, time; sorted by row.
        """
        recs = self._conn.execute(
            "SELECT d.row, d.reviewer, r.kind, d.action, d.label, d.note, d.time FROM decisions d"
            " JOIN reviewers r ON r.name = d.reviewer WHERE d.action IS NOT NULL"
            " ORDER BY d.row, r.kind = 'person', d.trail_id").fetchall()
        return self._checked(_decision_frame(recs)).drop_duplicates("row", keep="last").reset_index(drop=True)

    def decision_columns(self) -> "pd.DataFrame":
        """One row per example in row order, for the results table: ``decision`` (the action
        that counts, None when undecided), ``decided_label`` (class index, -1 when none),
        ``decided_by`` (reviewer or None)."""
        import pandas as pd

        n = self._n_examples()
        decision = np.full(n, None, dtype=object)
        decided_by = np.full(n, None, dtype=object)
        label = np.full(n, -1, dtype=np.int64)
        eff = self.effective_decisions()
        rows = eff["row"].to_numpy()
        decision[rows] = eff["action"].to_numpy(dtype=object)
        decided_by[rows] = eff["reviewer"].to_numpy(dtype=object)
        label[rows] = eff["label"].to_numpy()
        return pd.DataFrame({"decision": pd.Series(decision, dtype=object), "decided_label": label,
                             "decided_by": pd.Series(decided_by, dtype=object)})

    def trail(self) -> "pd.DataFrame":
        """The audit trail in order: id, step, time, reviewer, row, action, before, after, note
        (before/after as dicts or None)."""
        recs = self._conn.execute(
            "SELECT id, step, time, reviewer, row, action, before, after, note FROM trail ORDER BY id").fetchall()
        cols = ["id", "step", "time", "reviewer", "row", "action", "before", "after", "note"]
        df = _frame(recs, cols, text=("before", "after", "note"))
        for col in ("before", "after"):
            df[col] = df[col].map(lambda v: None if v is None else _json(v, self.path, "audit trail"))
        return df

    def review_counts(self) -> dict:
        """Counts for the overview.

        Returns {"n_examples", "n_flagged", "reviewed" (rows with a decision that counts),
        "reviewed_flagged", "actions": {action: rows} over the decisions that count,
        "reviewers": {name: {"kind", "decided", "decided_flagged", "not_kept"}}} where
        ``not_kept`` counts decisions other than keep (for an import such as mturk: the
        validated label errors).
        """
        flagged = self._flagged_rows()
        eff = self.effective_decisions()
        per = self.decisions()
        per = per[per["action"].notna()]
        reviewers = {}
        for name, grp in per.groupby("reviewer", sort=True):
            reviewers[name] = {
                "kind": grp["kind"].iloc[0],
                "decided": int(len(grp)),
                "decided_flagged": int(grp["row"].isin(flagged).sum()),
                "not_kept": int((grp["action"] != "keep").sum()),
            }
        return {
            "n_examples": self._n_examples(),
            "n_flagged": int(len(flagged)),
            "reviewed": int(len(eff)),
            "reviewed_flagged": int(eff["row"].isin(flagged).sum()),
            "actions": {a: int((eff["action"] == a).sum()) for a in DECISION_ACTIONS},
            "reviewers": reviewers,
        }

    # -------------------------------------------------------------- internals

    def _meta(self, key: str, default: Any = None) -> Any:
        rec = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if rec is None else _json(rec[0], self.path, key)

    def _meta_of(self, key: str, kind: type, default: Any) -> Any:
        """``_meta(key)`` checked to be a ``kind`` (dict, list); ProjectDamaged otherwise."""
        value = self._meta(key, default)
        if not isinstance(value, kind):
            raise ProjectDamaged(self.path, f"the stored {key} is not a {kind.__name__}")
        return value

    def _checked(self, df: "pd.DataFrame") -> "pd.DataFrame":
        """``df`` (a decision frame) when its rows and labels fit the examples and classes; else ProjectDamaged."""
        n, k = self._n_examples(), len(self.class_names)
        rows, labels = df["row"].to_numpy(), df["label"].to_numpy()
        if len(df) and (rows.min() < 0 or rows.max() >= n or labels.min() < -1 or labels.max() >= k):
            raise ProjectDamaged(self.path, f"a stored decision names a row outside 0..{n - 1} "
                                            f"or a class outside 0..{k - 1}")
        return df

    def _tx(self) -> "_transaction":
        """``with self._tx():`` one transaction; OutputError when it cannot be stored."""
        if self.read_only:
            raise OutputError(f"cannot write {self.path}: the project is read-only ({self.read_only})")
        return _transaction(self._conn, self.path)

    def _blob(self, name: str) -> np.ndarray | None:
        """The stored blob ``name`` as uint8 bytes (None when absent), read in BLOB_READ_PIECE pieces through SQLite's
        incremental blob I/O into an uninitialised array: one fetch of a 10M-row table, or zero-filling a
        bytearray for it, holds the GIL for about 0.35 s (a GUI stall)."""
        rec = self._conn.execute("SELECT rowid, length(CAST(data AS BLOB)) FROM blobs WHERE name = ?",
                                 (name,)).fetchone()
        if rec is None:
            return None
        out = np.empty(rec[1], dtype=np.uint8)
        view = memoryview(out)
        with self._conn.blobopen("blobs", "data", rec[0], readonly=True) as blob:
            for start in range(0, len(out), BLOB_READ_PIECE):
                view[start: start + BLOB_READ_PIECE] = blob.read(BLOB_READ_PIECE)
        return out

    def _labels(self) -> tuple[np.ndarray, np.ndarray]:
        if self._given is None:
            given, suggested = self._blob("given.npy"), self._blob("suggested.npy")
            if given is None or suggested is None:
                raise InputError(f"{self.path}: the project holds no audit results yet")
            given = _npy_load(given, self.path, "given.npy")
            suggested = _npy_load(suggested, self.path, "suggested.npy")
            k = len(self.class_names)
            for name, arr in (("given.npy", given), ("suggested.npy", suggested)):
                if arr.ndim != 1 or len(arr) != len(given) or arr.dtype.kind not in "iu" or (
                        len(arr) and (arr.min() < 0 or arr.max() >= k)):
                    raise ProjectDamaged(self.path, f"the stored {name} is not {len(given)} class indices "
                                                    f"in 0..{k - 1}")
            self._given, self._suggested = given, suggested
        return self._given, self._suggested

    def _n_examples(self) -> int:
        return int(len(self._labels()[0]))

    def _flagged_rows(self) -> np.ndarray:
        if self._flagged is None:
            self.load_results()  # sets it
        return self._flagged

    def _class_index(self, label) -> int:
        names = self.class_names
        if isinstance(label, str) and not label.lstrip("-").isdigit():
            if label not in names:
                raise InputError(f"unknown class {label!r} (classes: {', '.join(names[:20])})")
            return names.index(label)
        idx = int(label)
        if not 0 <= idx < len(names):
            raise InputError(f"class index {idx} is out of range (0..{len(names) - 1})")
        return idx

    def _state(self, row: int, reviewer: str) -> dict | None:
        rec = self._conn.execute(
            "SELECT action, label, note FROM decisions WHERE row = ? AND reviewer = ?", (row, reviewer)).fetchone()
        return None if rec is None else {"action": rec[0], "label": rec[1], "note": rec[2]}

    def _new_state(self, row: int, action: str, label, note, reviewer: str) -> dict:
        given, suggested = self._labels()
        if not 0 <= row < len(given):
            raise InputError(f"row {row} is out of range (0..{len(given) - 1})")
        if action not in ACTIONS:
            raise InputError(f"unknown review action {action!r} (one of {', '.join(ACTIONS)})")
        before = self._state(row, reviewer) or {"action": None, "label": None, "note": None}
        if action == "note":
            return {**before, "note": note or None}
        if action == "relabel":
            if label is None:
                raise InputError(f"row {row}: relabel needs a class")
            value = self._class_index(label)
            action = "keep" if value == given[row] else "accept" if value == suggested[row] else "relabel"
        else:
            value = {"keep": given[row], "accept": suggested[row]}.get(action)
        return {"action": action, "label": None if value is None else int(value),
                "note": before["note"] if note is None else (note or None)}

    def _apply_step(self, changes, reviewer, kind, source, description, *, entry_action) -> int | None:
        """Write one 'do' step: for each (row, new state) that differs, a trail entry and the new state.

        The entry's action is ``entry_action`` (else the new state's); its note is the new
        note when the note changed."""
        conn = self._conn
        with self._tx():
            entries = []
            for row, after in changes:
                before = self._state(row, reviewer)
                if after["action"] is None and after["note"] is None:  # a cleared note on an undecided row
                    after = None
                if before == after:
                    continue
                entries.append((row, before, after))
            if not entries:
                return None
            conn.execute("INSERT OR IGNORE INTO reviewers(name, kind, source) VALUES (?, ?, ?)",
                         (reviewer, kind, source))
            step = self._insert_step(reviewer, "do", None, description)
            for row, before, after in entries:
                note = (after or {}).get("note")
                note = note if note != (before or {}).get("note") else None
                self._write(step, reviewer, row, entry_action or after["action"], before, after, note)
        self._undo.append(step)
        self._redo.clear()
        return step

    def _restore(self, target: int, kind: str) -> None:
        """Append an undo or redo step that puts back the before (undo) or after (redo) states of ``target``."""
        recs = self._conn.execute(
            "SELECT reviewer, row, before, after FROM trail WHERE step = ? ORDER BY id", (target,)).fetchall()
        with self._tx():
            self._check_no_later_decision(target, kind)
            step = self._insert_step(recs[0][0] if recs else default_reviewer(), kind, target,
                                     f"{kind} step {target}")
            for reviewer, row, before, after in (reversed(recs) if kind == "undo" else recs):
                saved = before if kind == "undo" else after
                state = None if saved is None else json.loads(saved)
                self._write(step, reviewer, row, kind, self._state(row, reviewer), state, None)
        if kind == "undo":
            self._redo.append(self._undo.pop())
        else:
            self._undo.append(self._redo.pop())

    def _check_no_later_decision(self, target: int, kind: str) -> None:
        """HistoryConflict when a step this instance does not know (another window or process)
        wrote one of ``target``'s rows after it: undoing or redoing would overwrite that."""
        rows = set(self._step_rows(target))
        first = self._conn.execute("SELECT MIN(id) FROM trail WHERE step = ?", (target,)).fetchone()[0]
        if first is None:
            return
        for step, row, reviewer, time in self._conn.execute(
                "SELECT step, row, reviewer, time FROM trail WHERE id > ? ORDER BY id DESC", (first,)):
            if row in rows and step not in self._known_steps:
                raise HistoryConflict(
                    f"row {row} was decided later by {reviewer} at {time[:19].replace('T', ' ')} UTC (in another "
                    f"window or process); {kind}ing step {target} would overwrite that decision")

    def _insert_step(self, reviewer: str, kind: str, target: int | None, description: str) -> int:
        cur = self._conn.execute("INSERT INTO steps(time, reviewer, kind, target, description) VALUES (?, ?, ?, ?, ?)",
                                 (_now(), reviewer, kind, target, description))
        self._known_steps.add(cur.lastrowid)
        return cur.lastrowid

    def _write(self, step, reviewer, row, action, before, after, note) -> None:
        now = _now()
        cur = self._conn.execute(
            "INSERT INTO trail(step, time, reviewer, row, action, before, after, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (step, now, reviewer, row, action, None if before is None else json.dumps(before),
             None if after is None else json.dumps(after), note))
        if after is None:
            self._conn.execute("DELETE FROM decisions WHERE row = ? AND reviewer = ?", (row, reviewer))
        else:
            self._conn.execute(
                "INSERT OR REPLACE INTO decisions(row, reviewer, action, label, note, trail_id, time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (row, reviewer, after["action"], after["label"], after["note"], cur.lastrowid, now))

    def _step_rows(self, step: int) -> list[int]:
        return [r[0] for r in self._conn.execute(
            "SELECT DISTINCT row FROM trail WHERE step = ? ORDER BY row", (step,)).fetchall()]

    def _replay_steps(self) -> None:
        """Rebuild the undo and redo stacks from the steps table."""
        for step, kind in self._conn.execute("SELECT id, kind FROM steps ORDER BY id"):
            self._known_steps.add(step)
            if kind == "do":
                self._undo.append(step)
                self._redo.clear()
            elif kind == "undo":
                self._redo.append(self._undo.pop())
            else:
                self._undo.append(self._redo.pop())


class _transaction:
    """``with _transaction(conn, path):`` BEGIN IMMEDIATE ... COMMIT, then a full WAL checkpoint
    so the main file alone holds the commit. ROLLBACK on error; an SQLite error (disk full,
    locked, read-only) becomes OutputError naming ``path``."""

    def __init__(self, conn: sqlite3.Connection, path=None):
        self.conn, self.path = conn, path

    def __enter__(self):
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise OutputError(f"cannot write {self.path}: {_reason(err)}") from None

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._rollback()
                raise OutputError(f"cannot write {self.path}: {_reason(err)}") from None
            try:
                self.conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            except sqlite3.Error:
                pass  # committed in the WAL; the next write's checkpoint copies it into the main file
            return False
        self._rollback()
        if isinstance(exc, sqlite3.OperationalError):
            raise OutputError(f"cannot write {self.path}: {_reason(exc)}") from None
        return False

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite already rolled back (e.g. after SQLITE_FULL)


def _reason(err: BaseException) -> str:
    """SQLite's reason for a failed write, in words a user acts on."""
    text = str(err)
    if "full" in text:
        return "the disk is full"
    if "locked" in text or "busy" in text:
        return "the project is locked by another program; try again"
    if "readonly" in text or "read-only" in text:
        return "the file is read-only"
    return _short(err)


def _short(err: BaseException) -> str:
    return " ".join(str(err).split())[:200] or type(err).__name__


def _json(text: str, path, key: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ProjectDamaged(path, f"the stored {key} is not valid JSON") from None


def _read_only_reason(path: Path) -> str | None:
    """Why ``path`` cannot be written (read-only media, no permission), or None when it can."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "on read-only media"
    except (OSError, AttributeError):  # no statvfs on Windows
        pass
    if not os.access(path, os.W_OK):
        return "no permission to write the file"
    if not os.access(path.resolve().parent, os.W_OK | os.X_OK):
        return "no permission to write in its folder"
    return None


class _CannotWrite(Exception):
    """SQLite could not open a project for writing although the checks said it could."""


def _open_checked(path: Path, reason: str | None) -> tuple[sqlite3.Connection, str | None]:
    """(connection, read-only reason) for a verified project file (see :meth:`Project.open`)."""
    conn = None
    try:
        conn = _connect_read_only(path) if reason else _connect(path, configure=False)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ProjectDamaged(path, f"SQLite integrity check failed ({_short(check)})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise InputError(f"{path}: not a labelaudit project (an SQLite file without labelaudit's tables)")
        fmt = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if not fmt or _json(fmt[0], path, "format") != FORMAT:
            raise InputError(f"{path}: not a labelaudit project")
        if version > SCHEMA_VERSION:
            raise InputError(f"{path}: made by a newer labelaudit (project schema {version}); update labelaudit")
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise ProjectDamaged(path, f"the table{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                                       f"{'are' if len(missing) > 1 else 'is'} missing")
        if not reason:
            _configure(conn)
        return conn, reason
    except sqlite3.DatabaseError as err:
        if conn is not None:
            conn.close()
        text = str(err)
        if "locked" in text or "busy" in text:
            raise InputError(f"{path}: the project is locked by another program; try again") from None
        if not reason and ("readonly" in text or "unable to open" in text):
            raise _CannotWrite() from None
        raise ProjectDamaged(path, f"not a readable SQLite database ({_short(err)})") from None
    except BaseException:
        if conn is not None:
            conn.close()
        raise


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; ``immutable`` where SQLite cannot create its -shm file (read-only media)."""
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
    return sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def _connect(path: Path, *, configure: bool = True) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode; with ``configure``, switch to WAL and synchronous=FULL."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=10, check_same_thread=False)
    except sqlite3.OperationalError as err:
        raise InputError(f"{path}: cannot open the project file ({err})") from None
    if configure:
        _configure(conn)
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")


def _frame(recs: list[tuple], cols: list[str], text=()) -> "pd.DataFrame":
    """DataFrame of query results; ``text`` columns keep None (not NaN) for missing values."""
    import pandas as pd

    df = pd.DataFrame(recs, columns=cols)
    for col in text:
        df[col] = pd.Series([r[cols.index(col)] for r in recs], dtype=object)
    return df


def _decision_frame(recs: list[tuple]) -> "pd.DataFrame":
    cols = ["row", "reviewer", "kind", "action", "label", "note", "time"]
    df = _frame(recs, cols, text=("action", "note"))
    df["label"] = df["label"].fillna(-1).astype("int64")
    df["row"] = df["row"].astype("int64")
    return df


def _set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))


def _remove_db(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


def _relpath(target: Path, project: Path) -> str | None:
    try:
        return os.path.relpath(target, project.resolve().parent)
    except ValueError:  # another drive on Windows
        return None

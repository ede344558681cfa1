"""Review mode: one flagged example at a time, decided with one key.

A thin Qt view over :class:`core.review_session.ReviewSession`; every decision is
committed to the project file before the view moves on. A decision, undo or
redo that cannot be stored (disk full, locked, read-only, a later decision from
another window) is not taken: the view stays on the row and a red line says why.
A read-only project says so above the example. Keys (shown in the panel's legend):

    K keep given · A accept suggested · X exclude · U unsure (needs another look)
    digits pick a class: 1-9, 0 for the first ten classes, or the digit itself when
    the classes are named 0..9 (MNIST, the demo) · / or L type a class name (Enter) · N write a note (Enter)
    Down/Right next · Up/Left previous · Home first undecided
    Shift+A accept suggested for the top K rows of the view
    Ctrl+Z undo · Ctrl+Shift+Z or Ctrl+Y redo · Esc back from a text field
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCompleter,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.errors import InputError, OutputError
from labelaudit.core.project import Project
from labelaudit.core.review_session import ReviewSession

from .worker import one_line

log = logging.getLogger("labelaudit.gui")

LEGEND = (
    "<b>K</b> keep given · <b>A</b> accept suggested · <b>X</b> exclude · <b>U</b> unsure · "
    "<b>0</b>–<b>9</b> class (keys below) · <b>/</b> or <b>L</b> type a class · <b>N</b> note · "
    "<b>↓</b>/<b>→</b> next · <b>↑</b>/<b>←</b> previous · <b>Home</b> first undecided · "
    "<b>Shift+A</b> accept top K · <b>Ctrl+Z</b> undo · <b>Ctrl+Shift+Z</b> redo"
)
ACTION_KEYS = {Qt.Key_K: "keep", Qt.Key_A: "accept", Qt.Key_X: "exclude", Qt.Key_U: "unsure"}
IMAGE_SIDE = 280


class ReviewPanel(QWidget):
    """Keyboard-first review of the flagged examples of one project.

    project: the open Project; examples: AuditReport.examples; class_names; pred_probs
    (for the top-k list); dataset: the AuditReport's Dataset (for texts and image
    paths; without it the panel shows the examples' ``text``/``image`` column);
    session: a core.review_session.ReviewSession over the same project, if one was built already;
    inputs: :func:`example_inputs`, if computed already (both are built off the GUI thread
    after a run).
    Signals: ``decisionsChanged(list)`` with the rows whose decision changed,
    ``currentRowChanged(int)`` when another example is shown.
    """

    decisionsChanged = Signal(list)
    currentRowChanged = Signal(int)

    def __init__(self, project: Project, examples: pd.DataFrame, class_names: list[str], *,
                 pred_probs: np.ndarray | None = None, dataset=None, reviewer: str | None = None,
                 session: ReviewSession | None = None, inputs: tuple[str, list] | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        # a session may come ready-made from a worker thread (it reads the decisions: pandas work)
        self.session = session or ReviewSession(project, examples, class_names, pred_probs=pred_probs,
                                                reviewer=reviewer)
        self.class_names = list(class_names)
        self.digit_classes = digit_classes(self.class_names)
        self._inputs = inputs if inputs is not None else example_inputs(examples, dataset)
        self._ids = examples["id"].to_numpy() if "id" in examples.columns else None
        # label quality by dataset row, looked up when shown: no index (hash table) over millions of rows here
        self._rows_col = examples["row"].to_numpy()
        self._quality_col = examples["label_quality"].to_numpy()
        self._shown_row: int | None = None
        self.setFocusPolicy(Qt.StrongFocus)
        self._build()
        self.refresh()

    def _quality(self, row: int) -> float:
        """Label quality of dataset row ``row`` (the table's rows are 0..n-1 in order; else searched)."""
        at = row if 0 <= row < len(self._rows_col) and self._rows_col[row] == row else np.flatnonzero(self._rows_col == row)[0]
        return float(self._quality_col[at])

    # ------------------------------------------------------------ public API

    def set_rows(self, rows: list[int]) -> None:
        """Review ``rows`` in this order (the main table's current filtered, sorted view)."""
        self.session.set_queue(rows)
        self.refresh()

    def show_row(self, row: int) -> None:
        """Show ``row`` when it is in the review queue (e.g. the row selected in the main table)."""
        if row in self.session.queue:
            self.session.goto(row)
            self.refresh()

    def decide(self, action: str, label=None) -> None:
        """Record ``action`` for the shown example and show the next one (stay, saying why, when
        it cannot be stored)."""
        row = self._attempt("Not stored", lambda: self.session.decide(action, label))
        if row is not None:
            self._changed([row])

    def accept_top(self) -> None:
        """Accept the suggested label for the top K (the spin box) undecided rows of the queue."""
        rows = self._attempt("Not stored", lambda: self.session.accept_top(self.batch_k.value()))
        if rows:
            self._changed(rows)

    def undo(self) -> None:
        rows = self._attempt("Not undone", self.session.undo)
        if rows is not None:
            self._changed(rows, always=True)

    def redo(self) -> None:
        rows = self._attempt("Not redone", self.session.redo)
        if rows is not None:
            self._changed(rows, always=True)

    def refresh(self) -> None:
        """Redraw the shown example, its labels and the progress."""
        s = self.session
        reason = s.project.read_only
        self.read_only_label.setVisible(bool(reason))
        self.read_only_label.setText(f"Read-only: {reason}. Decisions cannot be stored here; "
                                     "File > Save Project As… makes a copy you can decide in." if reason else "")
        progress = s.progress()
        self.progress_label.setText(str(progress))
        self.progress_bar.setRange(0, max(progress.total, 1))
        self.progress_bar.setValue(progress.reviewed)
        self.undo_button.setEnabled(s.project.can_undo)
        self.redo_button.setEnabled(s.project.can_redo)
        row = s.row
        if row is None:
            self.header.setText("Nothing to review: no flagged example in this view.")
            self.text_view.hide()
            self.image_view.hide()
            for label in (self.given_label, self.suggested_label, self.decided_label, self.others_label,
                          self.topk_label, self.note_label):
                label.clear()
            return
        ident = "" if self._ids is None else f" · id {html.escape(str(self._ids[row]))}"
        self.header.setText(f"<b>Row {row}</b>{ident} · label quality {self._quality(row):.3f} · "
                            f"{s.index + 1} of {len(s.queue)} in this view")
        self._show_input(row)
        given, suggested = s.given(row), s.suggested(row)
        self.given_label.setText(f"Given: <b>{self._name(given)}</b>")
        self.suggested_label.setText(f"Suggested: <b>{self._name(suggested)}</b>")
        mine = s.project.decision(row, reviewer=s.reviewer)
        self.decided_label.setText(f"Decided: <b>{_describe(mine, self.class_names)}</b>")
        others = [f"{html.escape(name)}: {_describe(d, self.class_names)}"
                  for name, d in s.project.row_decisions(row).items() if name != s.reviewer]
        self.others_label.setText("<br>".join(others))
        note = (mine or {}).get("note")
        self.note_label.setText(f"Note: {html.escape(note)}" if note else "")
        self.topk_label.setText("<br>".join(
            f"{self._key_hint(c)}{self._name(c)}: {p:.3f}" for c, p in s.top_k(row, min(5, len(self.class_names)))))
        if row != self._shown_row:
            self._shown_row = row
            self.currentRowChanged.emit(row)

    # -------------------------------------------------------------- keyboard

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        key, mods = event.key(), event.modifiers()
        ctrl = bool(mods & Qt.ControlModifier)
        shift = bool(mods & Qt.ShiftModifier)
        if event.matches(QKeySequence.Redo) or (ctrl and key == Qt.Key_Y) or (ctrl and shift and key == Qt.Key_Z):
            self.redo()
        elif event.matches(QKeySequence.Undo) or (ctrl and key == Qt.Key_Z):
            self.undo()
        elif ctrl or mods & Qt.AltModifier:
            super().keyPressEvent(event)
        elif key == Qt.Key_A and shift:
            self.accept_top()
        elif key in ACTION_KEYS:
            self.decide(ACTION_KEYS[key])
        elif Qt.Key_0 <= key <= Qt.Key_9 and key - Qt.Key_0 in self.digit_classes:
            self.decide("relabel", self.digit_classes[key - Qt.Key_0])
        elif key in (Qt.Key_Slash, Qt.Key_L):
            self.class_edit.setFocus()
        elif key == Qt.Key_N:
            self.note_edit.setText((self.session.decision() or {}).get("note") or "")
            self.note_edit.setFocus()
        elif key in (Qt.Key_Down, Qt.Key_Right):
            self._move(1)
        elif key in (Qt.Key_Up, Qt.Key_Left):
            self._move(-1)
        elif key == Qt.Key_Home:
            self.session.next_undecided()
            self.refresh()
        else:
            super().keyPressEvent(event)

    # ------------------------------------------------------------- internals

    def _build(self) -> None:
        self.read_only_label = QLabel()
        self.read_only_label.setWordWrap(True)
        self.read_only_label.setTextFormat(Qt.PlainText)
        self.read_only_label.setStyleSheet("color: #b36b00; font-weight: bold")
        self.error_label = QLabel()  # "Not stored: ..." after a write that failed; cleared by the next one
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.PlainText)
        self.error_label.setStyleSheet("color: #d9482b; font-weight: bold")
        self.error_label.hide()
        self.progress_label = QLabel()
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(8)
        self.header = QLabel()
        self.header.setTextFormat(Qt.RichText)
        self.text_view = QTextBrowser()
        self.text_view.setFocusPolicy(Qt.NoFocus)
        font = self.text_view.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.text_view.setFont(font)
        self.image_view = QLabel()
        self.image_view.setAlignment(Qt.AlignCenter)
        self.image_view.setMinimumSize(IMAGE_SIDE, IMAGE_SIDE)
        self.image_view.setFrameShape(QFrame.StyledPanel)

        self.given_label, self.suggested_label, self.decided_label = QLabel(), QLabel(), QLabel()
        self.others_label, self.topk_label, self.note_label = QLabel(), QLabel(), QLabel()
        for label in (self.others_label, self.note_label):
            label.setWordWrap(True)
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("type a class, Enter (/ or L)")
        completer = QCompleter(QStringListModel(self.class_names, self), self)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setFilterMode(Qt.MatchContains)
        self.class_edit.setCompleter(completer)
        self.class_edit.returnPressed.connect(self._class_entered)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("note, Enter to save (N)")
        self.note_edit.returnPressed.connect(self._note_entered)
        for edit in (self.class_edit, self.note_edit):
            edit.setFocusPolicy(Qt.ClickFocus)
            edit.installEventFilter(self)

        self.batch_k = QSpinBox()
        self.batch_k.setRange(1, 100000)
        self.batch_k.setValue(10)
        self.batch_k.setFocusPolicy(Qt.ClickFocus)
        self.batch_k.setPrefix("K = ")
        batch = QPushButton("Accept suggested for top K")
        batch.setToolTip("Accept the suggested label for the first K undecided rows of this view (Shift+A); one undo")
        batch.clicked.connect(self.accept_top)
        self.undo_button, self.redo_button = QPushButton("Undo"), QPushButton("Redo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        decide_buttons = []
        for name, key, action in (("Keep", "K", "keep"), ("Accept", "A", "accept"),
                                  ("Exclude", "X", "exclude"), ("Unsure", "U", "unsure")):
            button = QPushButton(f"{name} ({key})")
            button.clicked.connect(lambda _=False, a=action: self.decide(a))
            decide_buttons.append(button)
        history_buttons = [batch, self.undo_button, self.redo_button]
        for button in decide_buttons + history_buttons:
            button.setFocusPolicy(Qt.NoFocus)

        side = QGridLayout()
        for i, w in enumerate((self.given_label, self.suggested_label, self.decided_label, self.others_label,
                               QLabel("<b>Model's top classes</b>"), self.topk_label, self.note_label)):
            side.addWidget(w, i, 0, 1, 2)
        side.addWidget(QLabel("Class:"), 7, 0)
        side.addWidget(self.class_edit, 7, 1)
        side.addWidget(QLabel("Note:"), 8, 0)
        side.addWidget(self.note_edit, 8, 1)
        side.setRowStretch(9, 1)
        middle = QHBoxLayout()
        view = QVBoxLayout()
        view.addWidget(self.text_view, 1)
        view.addWidget(self.image_view, 1)
        middle.addLayout(view, 3)
        middle.addLayout(side, 2)
        actions = QHBoxLayout()
        for button in decide_buttons:
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.batch_k)
        for button in history_buttons:
            actions.addWidget(button)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        legend.setTextFormat(Qt.RichText)
        keys = {c: d for d, c in self.digit_classes.items()}
        classes = QLabel(" · ".join(f"<b>{keys[c]}</b> {html.escape(self.class_names[c])}" for c in sorted(keys)))
        classes.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.progress_label)
        top.addWidget(self.progress_bar, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.read_only_label)
        layout.addLayout(top)
        layout.addWidget(self.header)
        layout.addWidget(self.error_label)
        layout.addLayout(middle, 1)
        layout.addLayout(actions)
        layout.addWidget(classes)
        layout.addWidget(legend)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Escape and obj in (
                self.class_edit, self.note_edit):
            obj.clear()
            self.setFocus()
            return True
        return super().eventFilter(obj, event)

    def _class_entered(self) -> None:
        text = self.class_edit.text().strip()
        index = _match_class(text, self.class_names)
        if index is None:
            self.class_edit.setStyleSheet("color: #d9482b")
            return
        self.class_edit.setStyleSheet("")
        self.class_edit.clear()
        self.setFocus()
        self.decide("relabel", index)

    def _note_entered(self) -> None:
        row = self.session.row
        text = self.note_edit.text().strip()
        if self._attempt("Note not stored", lambda: self.session.note(text) or True) is None:
            return  # keep the typed note in the field
        self.note_edit.clear()
        self.setFocus()
        if row is not None:
            self._changed([row])

    def _attempt(self, what: str, write: Callable):
        """``write()``'s result; on failure None, with the reason in the red line (nothing was taken)."""
        try:
            result = write()
        except Exception as err:  # a bug too is shown here rather than only in a terminal
            if not isinstance(err, (InputError, OutputError)):
                log.exception("review write failed")
            self.error_label.setText(f"{what}: {one_line(err)}")
            self.error_label.show()
            self.refresh()
            return None
        self.error_label.hide()
        self.error_label.clear()
        return result

    def _move(self, step: int) -> None:
        self.session.move(step)
        self.refresh()

    def _changed(self, rows: list[int], always: bool = False) -> None:
        self.refresh()
        if rows or always:
            self.decisionsChanged.emit(list(rows))

    def _name(self, index: int | None) -> str:
        return "—" if index is None or index < 0 else html.escape(self.class_names[index])

    def _key_hint(self, index: int) -> str:
        keys = [d for d, c in self.digit_classes.items() if c == index]
        # classes named "0".."9" are their own keys: "[4] 4" would say the class twice
        return f"[{keys[0]}] " if keys and str(keys[0]) != self.class_names[index] else ""

    def _show_input(self, row: int) -> None:
        kind, values = self._inputs
        if kind == "image":
            pixmap = QPixmap(str(values[row]))
            self.text_view.hide()
            self.image_view.show()
            if pixmap.isNull():
                self.image_view.setText(f"cannot read {html.escape(str(values[row]))}")
                return
            small = max(pixmap.width(), pixmap.height()) < IMAGE_SIDE // 2
            mode = Qt.FastTransformation if small else Qt.SmoothTransformation  # keep small images crisp
            self.image_view.setPixmap(pixmap.scaled(IMAGE_SIDE, IMAGE_SIDE, Qt.KeepAspectRatio, mode))
        else:
            self.image_view.hide()
            self.text_view.show()
            self.text_view.setPlainText(str(values[row]) if kind == "text" else
                                        "This dataset has no text or image column to show.")


def example_inputs(examples: pd.DataFrame, dataset) -> tuple[str, list]:
    """("text", texts) or ("image", paths) or ("none", []) for the examples (no Qt: any thread)."""
    if dataset is not None and getattr(dataset, "image_col", None):
        return "image", dataset.image_paths()
    if dataset is not None and getattr(dataset, "text_col", None):
        return "text", dataset.texts()
    for kind in ("text", "image"):
        if kind in examples.columns:
            values = examples[kind].tolist()
            return kind, [Path(v) for v in values] if kind == "image" else values
    return "none", []


def _match_class(text: str, names: list[str]) -> int | None:
    """Index of the class named ``text``: exact, else case-insensitive, else the one name it is a prefix of."""
    if text in names:
        return names.index(text)
    folded = [n.casefold() for n in names]
    if text.casefold() in folded:
        return folded.index(text.casefold())
    starts = [i for i, n in enumerate(folded) if text and n.startswith(text.casefold())]
    return starts[0] if len(starts) == 1 else None


def _describe(decision: dict | None, names: list[str]) -> str:
    if decision is None or decision.get("action") is None:
        return "—"
    label = decision.get("label")
    return decision["action"] if label is None else f"{decision['action']} → {html.escape(names[label])}"


def digit_classes(names: list[str]) -> dict[int, int]:
    """Digit key -> class index: the digit itself when the classes are named "0".."k-1"
    (k <= 10), else 1..9, 0 for the first ten classes."""
    if len(names) <= 10 and names == [str(i) for i in range(len(names))]:
        return {i: i for i in range(len(names))}
    return {(i + 1) % 10: i for i in range(min(len(names), 10))}

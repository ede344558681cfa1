"""The inspector: one example in full, and why it was flagged."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QImageReader, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.audit import ISSUE_STATES, issue_state
from labelaudit.core.table_filter import is_missing

from . import theme
from .turns import later

TOP_K = 5
_VERDICT_STYLE = {"flagged": "verdictFlagged", "low_quality": "verdictLow", "fine": "verdictOk"}
UPDATE_DELAY_MS = 20


class ProbabilityBars(QWidget):
    """Horizontal bars of the top-k class probabilities; the given and suggested labels are marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[tuple[str, float, str]] = []  # (class name, probability, role: "given"/"suggested"/"")
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)

    def set_items(self, items) -> None:
        self.items = list(items)
        self.updateGeometry()
        self.update()

    def _row_height(self) -> int:
        return QFontMetrics(self.font()).height() + 8

    def sizeHint(self) -> QSize:
        return QSize(240, max(1, len(self.items)) * self._row_height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.sizeHint().height())

    def columns(self) -> tuple[int, int, int]:
        """(label width, bar width, value width) in pixels: label, bar, 4 px, value fill the widget."""
        fm = QFontMetrics(self.font())
        label_w = min(max((fm.horizontalAdvance(n) for n, _, _ in self.items), default=40) + 8, self.width() // 3)
        value_w = fm.horizontalAdvance("0.000") + 6
        return label_w, max(self.width() - label_w - value_w - 4, 20), value_w

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        fm = QFontMetrics(self.font())
        h = self._row_height()
        label_w, bar_w, value_w = self.columns()
        text_color = self.palette().color(QPalette.Text)
        track = self.palette().color(QPalette.Midlight)
        for i, (name, prob, role) in enumerate(self.items):
            y = i * h + 2
            p.setPen(text_color)
            p.drawText(QRectF(0, y, label_w - 6, h), Qt.AlignRight | Qt.AlignVCenter, fm.elidedText(name, Qt.ElideRight, label_w - 6))
            bar = QRectF(label_w, y + 4, bar_w, h - 8)
            p.setPen(Qt.NoPen)
            p.setBrush(track)
            p.drawRoundedRect(bar, 3, 3)
            color = QColor(theme.FLAGGED if role == "given" else theme.SUGGESTED if role == "suggested" else theme.ACCENT)
            p.setBrush(color)
            p.drawRoundedRect(QRectF(bar.x(), bar.y(), max(bar.width() * prob, 2), bar.height()), 3, 3)
            if role:
                p.setPen(QPen(color, 1.5))
                p.setBrush(Qt.NoBrush)
                p.drawRoundedRect(bar.adjusted(-1, -1, 1, 1), 3, 3)
            p.setPen(text_color)
            p.drawText(QRectF(label_w + bar_w + 4, y, value_w, h), Qt.AlignLeft | Qt.AlignVCenter, f"{prob:.3f}")
        p.end()


class InspectorPanel(QScrollArea):
    """Shows the selected example of the results state."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setMinimumWidth(260)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)

        self.title = QLabel("No example selected")
        self.title.setObjectName("sectionTitle")
        self.title.setWordWrap(True)
        # the verdict badge on its own line: beside the title it was clipped in a narrow inspector
        self.verdict = QLabel()
        self.verdict.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)
        layout.addWidget(self.title)
        layout.addWidget(self.verdict, 0, Qt.AlignLeft)

        self.image = QLabel()
        self.image.setAlignment(Qt.AlignCenter)
        self.image.setMinimumHeight(160)
        self.image.setFrameShape(QFrame.StyledPanel)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMinimumHeight(90)
        self.text.setMaximumHeight(200)
        self.no_input = QLabel("This dataset has no text or image column: only the labels and probabilities are known.")
        self.no_input.setWordWrap(True)
        theme.set_muted(self.no_input)
        layout.addWidget(self.image)
        layout.addWidget(self.text)
        layout.addWidget(self.no_input)

        self.labels = QFormLayout()
        self.labels.setLabelAlignment(Qt.AlignRight)
        self.labels.setHorizontalSpacing(10)
        self.given, self.suggested, self.predicted = QLabel(), QLabel(), QLabel()
        for w in (self.given, self.suggested, self.predicted):
            w.setTextFormat(Qt.RichText)
            w.setWordWrap(True)  # a long class name wraps instead of pushing p = ... out of view
        self.labels.addRow("Given", self.given)
        self.labels.addRow("Suggested", self.suggested)
        self.labels.addRow("Predicted", self.predicted)
        layout.addLayout(self.labels)

        why_title = QLabel("Why")
        why_title.setObjectName("sectionTitle")
        layout.addWidget(why_title)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setTextFormat(Qt.RichText)
        layout.addWidget(self.why)

        probs_title = QLabel(f"Top {TOP_K} class probabilities")
        probs_title.setObjectName("sectionTitle")
        layout.addWidget(probs_title)
        self.bars = ProbabilityBars()
        layout.addWidget(self.bars)

        self.details_title = QLabel("Details")
        self.details_title.setObjectName("sectionTitle")
        layout.addWidget(self.details_title)
        self.details = QFormLayout()
        self.details.setLabelAlignment(Qt.AlignRight)
        layout.addLayout(self.details)
        layout.addStretch(1)
        self.setWidget(body)
        self._body = body
        theme.style(body)
        # Selection changes are coalesced and shown a moment later: holding an arrow key in the
        # table, or a run's results arriving, then costs one inspector update, painted on its own.
        self._pending = -1
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(UPDATE_DELAY_MS)
        self._timer.timeout.connect(lambda: later(lambda: self.show_row(self._pending), self, key=(id(self), "show")))
        state.current_changed.connect(self._schedule)
        self.show_row(-1)

    def _schedule(self, row: int) -> None:
        self._pending = row
        self._timer.start()

    def show_row(self, row: int) -> None:
        results = self.state.results
        self._body.setEnabled(results is not None and row >= 0)
        if results is None or row < 0:
            self.title.setText("No example selected")
            self.verdict.clear()
            self.verdict.setObjectName("")
            self.image.hide()
            self.no_input.hide()
            self.text.setPlainText("Select a row in the table to see the example here.")
            self.text.show()
            for w in (self.given, self.suggested, self.predicted, self.why):
                w.clear()
            self.bars.set_items([])
            self._set_details([])
            return
        t = results.table
        names = results.class_names
        col = t.columns
        given, suggested, predicted = (int(col[c][row]) for c in ("given_label", "suggested_label", "predicted_label"))
        probs = np.asarray(results.report.pred_probs[row], dtype=float)
        flagged = bool(col["is_label_issue"][row])
        ident = t.value("id", row) if "id" in col else row
        self.title.setText(f"Row {row}" + (f" · id {ident}" if results.report.dataset.id_col else ""))
        state, reason = self.verdict_of(results, row)
        self.verdict.setText(ISSUE_STATES[state])
        self.verdict.setToolTip(reason)
        self.verdict.setObjectName(_VERDICT_STYLE[state])
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)

        self._show_input(results, row)
        self.given.setText(f"<b>{_esc(names[given])}</b> &nbsp;p = {probs[given]:.3f}")
        same = suggested == given
        self.suggested.setText(
            f"<span style='color:{theme.SUGGESTED}'><b>{_esc(names[suggested])}</b></span> &nbsp;p = {probs[suggested]:.3f}"
            if not same else f"{_esc(names[suggested])} (keep the given label)"
        )
        self.predicted.setText(f"{_esc(names[predicted])} &nbsp;p = {probs[predicted]:.3f}")
        why = self._why(results, row, given, suggested, predicted, probs, flagged)
        if state == "low_quality":
            why = f"<b>{_esc(ISSUE_STATES[state])}.</b> {_esc(reason)}<br>{why}"
        self.why.setText(why)
        top = np.argsort(-probs, kind="stable")[:TOP_K]
        if given not in top:
            top = np.append(top[: TOP_K - 1], given)
        self.bars.set_items(
            (names[c], float(probs[c]), "given" if c == given and flagged else "suggested" if c == suggested and flagged else "")
            for c in top
        )
        shown = {"row", "id", "given_label", "suggested_label", "predicted_label", "is_label_issue", results.input_col}
        rows = []
        for name in results.columns:
            if name in shown:
                continue
            value = t.value(name, row)
            if is_missing(name, value):
                value = ""
            elif t.kind(name) == "label":
                value = names[int(value)]
            elif isinstance(value, float):
                value = "—" if math.isnan(value) else f"{value:.4f}"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            elif name == "annotator_labels":
                value = str(value).replace("; ", "\n")  # one annotator per line
            rows.append((results.header(name)[0], "" if value is None else str(value)))
        self._set_details(rows)

    @staticmethod
    def verdict_of(results, row: int) -> tuple[str, str]:
        """(state, reason) of dataset row ``row`` (core.audit.issue_state)."""
        col = results.table.columns
        given = int(col["given_label"][row])
        flags = col["is_label_issue"]
        return issue_state(
            flagged=bool(flags[row]), given=given, predicted=int(col["predicted_label"][row]),
            given_prob=float(col["given_label_prob"][row]), method=results.report.audit.detection,
            class_threshold=float(results.class_thresholds[given]) if given < len(results.class_thresholds) else math.nan,
            n_flagged_in_class=int(results.flagged_per_class[given]), given_name=results.class_names[given],
        )

    def _show_input(self, results, row: int) -> None:
        self.no_input.setVisible(results.input_col is None)
        if results.input_col is None:
            self.image.hide()
            self.text.hide()
        elif results.is_image:
            self.text.hide()
            path = results.image_path(row)
            pix = QPixmap()
            if path is not None:
                reader = QImageReader(str(path))
                img = reader.read()
                if not img.isNull():
                    pix = QPixmap.fromImage(img)
            if pix.isNull():
                self.image.setText(f"Cannot read the image\n{path}")
            else:
                side = 180
                small = max(pix.width(), pix.height()) < 64  # e.g. 8x8 digits: keep the pixels crisp
                mode = Qt.FastTransformation if small else Qt.SmoothTransformation
                self.image.setPixmap(pix.scaled(side, side, Qt.KeepAspectRatio, mode))
                self.image.setToolTip(str(path))
            self.image.show()
        else:
            self.image.hide()
            value = results.table.value(results.input_col, row) if results.input_col else None
            self.text.setPlainText("" if value is None else str(value))
            self.text.show()

    @staticmethod
    def _why(results, row, given, suggested, predicted, probs, flagged) -> str:
        names = results.class_names
        t = results.table.columns
        # self-confidence p[given] is what the class threshold compares with, whatever --rank-by ranks by
        quality = float(t["given_label_prob"][row] if "given_label_prob" in t else t["label_quality"][row])
        threshold = float(t["class_threshold"][row]) if "class_threshold" in t else float("nan")
        g = f"<b>{_esc(names[given])}</b>"
        th = "" if math.isnan(threshold) else f" the threshold of class {g} ({threshold:.3f}: the mean probability of {g} among examples labelled {g})"
        if flagged:
            s = f"<b>{_esc(names[suggested])}</b>"
            sug_th = results.class_thresholds[suggested] if suggested < len(results.class_thresholds) else float("nan")
            parts = [f"Label quality {quality:.3f} (the model's probability of the given label {g})"]
            if not math.isnan(threshold):
                parts.append(("is below" if quality < threshold else "is not below") + th)
            text = " ".join(parts) + "."
            confident = "" if math.isnan(sug_th) else (
                f" That is {'at or above' if probs[suggested] >= sug_th else 'below'} the threshold of {s} ({sug_th:.3f})."
            )
            text += f" The model puts p = {probs[suggested]:.3f} on {s}.{confident}"
            text += " Confident learning counts this example among the likely label errors of class " + g + "."
            return text
        if predicted != given:
            p = f"<b>{_esc(names[predicted])}</b>"
            pred_th = results.class_thresholds[predicted] if predicted < len(results.class_thresholds) else float("nan")
            below = "" if math.isnan(pred_th) or probs[predicted] >= pred_th else (
                f", below the threshold of {p} ({pred_th:.3f})"
            )
            return (
                f"The model predicts {p} (p = {probs[predicted]:.3f}{below}), but confident learning did not count "
                f"this example among the label errors of {g} (label quality {quality:.3f}"
                + ("" if math.isnan(threshold) else f", threshold of {g} {threshold:.3f}") + ")."
            )
        return f"The model agrees with the given label {g} (label quality {quality:.3f})."

    def _set_details(self, rows) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        for name, value in rows:
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
            self.details.addRow(name, label)
        self.details_title.setVisible(bool(rows))


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""Views of an lm-eval benchmark review (core.lm_eval_benchmark.TaskReview).

QuestionsView: the flagged questions, worst first (lowest pooled probability
of the key), and for the selected one its question, choices, key, suggested
answer and each model's choice and probabilities. CalibrationView: one
reliability diagram per model, side by side, titled with its ECE and Brier,
and a table of how well raw confidence and the cross-fitted correctness model
(core.correctness) tell right answers from wrong ones.
Both only display what core computed.
"""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from . import reliability, theme

COLUMNS = (
    ("doc_id", "id"), ("Key", "label"), ("Suggested", "suggested"), ("P(key), pooled", "label_quality"),
    ("Models flagging", "n_models_flagging"), ("Question", "question"),
)


class QuestionsView(QWidget):
    """Flagged questions of one task (table) and the selected question's details."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.questions = None
        self.flagged = None
        self.models: list[str] = []
        self.caption = QLabel("Run an lm-eval benchmark to see the questions whose answer key looks wrong.")
        self.caption.setWordWrap(True)
        theme.set_muted(self.caption)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([t for t, _ in COLUMNS])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.currentCellChanged.connect(lambda row, *_: self.show_question(row))
        self.details = QTextBrowser()
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.details)
        split.setSizes([560, 440])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(split, 1)

    def set_review(self, review) -> None:
        """Show ``review`` (a TaskReview): its flagged questions, worst first."""
        from labelaudit.core.lm_eval_benchmark import flagged_questions

        self.questions = review.questions
        self.flagged = flagged_questions(review.questions)
        self.models = list(review.table["model"])
        n = len(review.questions)
        self.caption.setText(
            f"{review.task}: {len(self.flagged):,} of {n:,} answer keys look wrong (confident learning on the "
            f"{len(self.models)} models' mean probabilities), worst first. Select one to see every model's answer.")
        self.table.setRowCount(len(self.flagged))
        for i, rec in enumerate(self.flagged.to_dict(orient="records")):
            for j, (_, key) in enumerate(COLUMNS):
                value = rec[key]
                text = f"{value:.3f}" if key == "label_quality" else str(value).replace("\n", " ")
                item = QTableWidgetItem(text)
                if key in ("id", "label_quality", "n_models_flagging"):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        if len(self.flagged):
            self.table.setCurrentCell(0, 0)
        else:
            self.details.clear()

    def show_question(self, row: int) -> None:
        """Details of the ``row``-th flagged question."""
        if self.flagged is None or not 0 <= row < len(self.flagged):
            return
        rec = self.flagged.iloc[row]
        key, suggested = rec["label"], rec["suggested"]
        lines = []
        for line in str(rec["choices"]).split("\n"):
            letter = line.split(".", 1)[0]
            mark = " ← key" if letter == key else (" ← suggested" if letter == suggested else "")
            lines.append(f"{html.escape(line)}<b>{mark}</b>")
        rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td align='center'>{rec[f'{m} choice']}</td>"
            f"<td align='right'>{rec[f'{m} p(choice)']:.3f}</td><td align='right'>{rec[f'{m} p(key)']:.3f}</td></tr>"
            for m in self.models)
        self.details.setHtml(
            f"<p><b>doc_id {rec['id']}</b> · key {key} · suggested {suggested} · "
            f"{int(rec['n_models_flagging'])} of {len(self.models)} models flag it on their own</p>"
            f"<p>{html.escape(str(rec['question']))}</p><p>{'<br>'.join(lines)}</p>"
            "<table cellspacing='6'><tr><th align='left'>Model</th><th>Choice</th><th>P(choice)</th>"
            f"<th>P(key)</th></tr>{rows}</table>")


CORRECTNESS_COLUMNS = (
    ("AUROC raw", "raw", "auroc"), ("AUROC P(correct)", "model", "auroc"),
    ("Brier raw", "raw", "brier"), ("Brier P(correct)", "model", "brier"),
    ("ECE raw", "raw", "ece"), ("ECE P(correct)", "model", "ece"),
    ("Acc. @50% raw", "raw", "0.5"), ("Acc. @50% P(correct)", "model", "0.5"),
)


def _correctness_cell(result: dict, side: str, key: str) -> str:
    part = result.get(side)
    if not part:
        return "—"
    value = part["accuracy_at_coverage"].get(key) if key == "0.5" else part.get(key)
    return "—" if value is None else f"{value:.3f}"


class CalibrationView(QWidget):
    """One reliability diagram per model, side by side (accuracy against confidence per bin)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(theme.plot_background())
        self.plots.setMinimumHeight(110)
        self.titles: list[str] = []
        self.correctness = QTableWidget(0, len(CORRECTNESS_COLUMNS) + 1)
        self.correctness.setHorizontalHeaderLabels(["Model"] + [t for t, _, _ in CORRECTNESS_COLUMNS])
        self.correctness.verticalHeader().hide()
        self.correctness.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.correctness.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.correctness.setMinimumHeight(60)
        self.correctness.setToolTip(
            "Is the model's answer right? Raw: its confidence; P(correct): a logistic regression on its confidence, "
            "margin, entropy and the other models' answers, cross-fitted (5 folds). AUROC: higher is better; Brier, "
            "ECE: lower is better; accuracy on the half it is most sure of.")
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.correctness)
        split.setSizes([300, 120])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

    def set_calibration(self, calibration: dict) -> None:
        """calibration: model -> {"ece", "brier", "bins": [reliability bin records]} (core.lm_eval_benchmark)."""
        self.plots.clear()
        self.titles = []
        for col, (model, cal) in enumerate(calibration.items()):
            title = f"{model}\nECE {cal['ece']:.3f} · Brier {cal['brier']:.3f}"
            self.titles.append(title)
            plot = self.plots.addPlot(row=0, col=col, title=html.escape(title).replace("\n", "<br>"))
            plot.setMouseEnabled(x=False, y=False)
            plot.setMenuEnabled(False)
            plot.hideButtons()
            plot.setXRange(0, 1, padding=0.02)
            plot.setYRange(0, 1, padding=0.02)
            plot.setLabel("bottom", "confidence")
            if col == 0:
                plot.setLabel("left", "accuracy")
            reliability.draw_reliability(plot, cal["bins"])
        self.correctness.setRowCount(len(calibration))
        for i, (model, cal) in enumerate(calibration.items()):
            result = cal.get("correctness") or {}
            self.correctness.setItem(i, 0, QTableWidgetItem(model))
            for j, (_, side, key) in enumerate(CORRECTNESS_COLUMNS, 1):
                item = QTableWidgetItem(_correctness_cell(result, side, key))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if result.get("reason"):
                    item.setToolTip(f"No correctness model: {result['reason']}")
                self.correctness.setItem(i, j, item)

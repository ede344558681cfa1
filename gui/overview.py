"""The overview strip (counts and calibration metrics) and the per-class view."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.calibration import METRIC_HELP

from . import theme

COUNT_HELP = {
    "n_examples": "Examples in the dataset.",
    "n_classes": "Classes in the label set.",
    "n_label_issues": "Examples flagged as likely label errors by the detection method shown on the right (default: "
    "cleanlab.filter.find_label_issues with its defaults); the share of all examples in brackets.",
    "validated_found": "Flagged examples that human reviewers confirmed as label errors (from --reviews), of all "
    "confirmed errors.",
}


class MetricCard(QFrame):
    """A number with its name under it and the convention in a tooltip."""

    def __init__(self, name: str, help_text: str, sample: str = "0.0000", parent=None):
        super().__init__(parent)
        self.setObjectName("metricCard")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 4)
        layout.setSpacing(0)
        self.value = QLabel("—")
        self.value.setObjectName("metricValue")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setWeight(QFont.DemiBold)
        self.value.setFont(font)
        self.name = QLabel(name)
        self.name.setObjectName("metricName")
        theme.set_muted(self.name)
        layout.addWidget(self.value)
        layout.addWidget(self.name)
        self.setToolTip(f"<b>{name}</b><br>{help_text}")
        # wide enough for typical values from the start, so results rarely re-layout the window
        width = max(QFontMetrics(font).horizontalAdvance(sample), self.name.fontMetrics().horizontalAdvance(name))
        self.setMinimumWidth(width + 22)

    def set_value(self, text: str) -> None:
        self.value.setText(text)


class OverviewStrip(QWidget):
    """One row of cards: counts, accuracy, issue rate, ECE, MCE, Brier, NLL, AUROC."""

    CARDS = (
        ("n_examples", "Examples", COUNT_HELP["n_examples"]),
        ("n_classes", "Classes", COUNT_HELP["n_classes"]),
        ("n_label_issues", "Flagged", COUNT_HELP["n_label_issues"]),
        ("accuracy", "Accuracy", METRIC_HELP["accuracy"]),
        ("ece", "ECE", METRIC_HELP["ece"]),
        ("mce", "MCE", METRIC_HELP["mce"]),
        ("brier", "Brier", METRIC_HELP["brier"]),
        ("nll", "NLL", METRIC_HELP["nll"]),
        ("auroc", "AUROC", METRIC_HELP["auroc"]),
        ("validated_found", "Validated found", COUNT_HELP["validated_found"]),
    )

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 2)
        outer.setSpacing(2)
        layout = QHBoxLayout()
        layout.setSpacing(6)
        outer.addLayout(layout)
        self.cards: dict[str, MetricCard] = {}
        samples = {"n_examples": "100,000", "n_classes": "100", "n_label_issues": "9,999 (9.9%)",
                   "validated_found": "999 / 999"}
        for key, name, help_text in self.CARDS:
            card = MetricCard(name, help_text, samples.get(key, "0.0000"))
            self.cards[key] = card
            layout.addWidget(card)
        self.model_label = WrappedLabel()
        self.model_label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.model_label.setMinimumWidth(120)
        self.model_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        theme.set_muted(self.model_label)
        layout.addWidget(self.model_label, 1)
        self.extras_label = WrappedLabel()  # position bias and the correctness model, when the run made them
        self.extras_label.setTextFormat(Qt.PlainText)
        self.extras_label.setToolTip(
            "Position bias (--permute-options K): the questions scored under K cyclic orders of their options; "
            "balanced = probabilities averaged over the orders.\nP(correct) (--correctness): a cross-fitted model of "
            "whether the prediction is right, against the raw top-label confidence; better / same / worse by 0.001.")
        outer.addWidget(self.extras_label)
        state.results_changed.connect(self.set_results)
        theme.style(self)
        self.set_results(None)

    def set_results(self, results) -> None:
        if results is None:
            for card in self.cards.values():
                card.set_value("—")
            self.cards["validated_found"].hide()
            self.model_label.clear()
            self.extras_label.clear()
            self.extras_label.hide()
            return
        s = results.report.summary
        cal = s.get("calibration", {})
        self.cards["n_examples"].set_value(f"{s['n_examples']:,}")
        self.cards["n_classes"].set_value(f"{s['n_classes']:,}")
        self.cards["n_label_issues"].set_value(f"{s['n_label_issues']:,} ({s['label_issue_rate']:.1%})")
        self.cards["accuracy"].set_value(_num(s.get("accuracy")))
        for key in ("ece", "mce", "brier", "nll", "auroc"):
            self.cards[key].set_value(_num(cal.get(key)))
        if "validated_found" in s:
            self.cards["validated_found"].set_value(f"{s['validated_found']:,} / {s.get('n_validated_errors', 0):,}")
            self.cards["validated_found"].show()
        else:
            self.cards["validated_found"].hide()
        secs = sum(v for k, v in s.get("timings_s", {}).items() if not k.startswith("score_"))
        device = s.get("device", "")
        second = (f"on {device} · " if device not in ("", "none") else "") + f"{secs:.1f} s"
        recal = s.get("recalibration")
        if recal:
            second = (f"recalibrated ({recal['method']}, out-of-sample): ECE {_num(recal['ece_before'])} → "
                      f"{_num(recal['ece_after'])}, NLL {_num(recal['nll_before'])} → {_num(recal['nll_after'])}")
        detection = s.get("detection", {}).get("description", "")
        self.model_label.setText("\n".join(line for line in (s.get("model", ""), detection, second) if line))
        self.model_label.setToolTip(f"Data: {s.get('data', '')}\nModel: {s.get('model', '')}\nDevice: {s.get('device', '')}"
                                    + (f"\nDetection: {detection}" if detection else ""))
        extras = extra_lines(s)
        self.extras_label.setText("\n".join(extras))
        self.extras_label.setVisible(bool(extras))


def extra_lines(summary: dict) -> list[str]:
    """The summary's position bias (--permute-options) and correctness model (--correctness) as one line each."""
    lines = []
    b = summary.get("position_bias")
    if b:
        by = ", ".join(f"{p} {v['accuracy']:.2f}" for p, v in b["accuracy_by_gold_position"].items()
                       if v["accuracy"] is not None)
        lines.append(f"Position bias over {b['orders']} option orders: accuracy by position of the right answer {by}; "
                     f"conflict rate {b['conflict_rate']:.1%}; single order accuracy "
                     f"{_num(b['single_order']['accuracy'])} ECE {_num(b['single_order']['ece'])}, balanced "
                     f"accuracy {_num(b['balanced']['accuracy'])} ECE {_num(b['balanced']['ece'])}")
    c = summary.get("correctness")
    if c:
        if not c.get("model"):
            lines.append(f"Correctness model: not fitted ({c.get('reason', '')})")
        else:
            parts = [f"{name} {_num(c['raw'][k])} → {_num(c['model'][k])} ({c['beats_raw'].get(k, 'n/a')})"
                     for k, name in (("auroc", "AUROC"), ("brier", "Brier"), ("ece", "ECE"))
                     if c["raw"].get(k) is not None and c["model"].get(k) is not None]
            lines.append("P(correct), cross-fitted, vs raw confidence: " + ", ".join(parts))
    return lines


class WrappedLabel(QLabel):
    """A word-wrapped label (lines break between words, never inside one) that keeps its text in ``full_text``."""

    full_text = ""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:
        self.full_text = text
        super().setText(text)


class _Item(QTableWidgetItem):
    """A table cell that sorts by its value, not its formatted text."""

    key = None

    def __lt__(self, other) -> bool:
        if isinstance(other, _Item) and isinstance(self.key, (int, float)) and isinstance(other.key, (int, float)):
            return self.key < other.key
        return self.text().casefold() < other.text().casefold()


def _num(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class ClassesView(QWidget):
    """Issues per class and the most frequent given -> suggested corrections; a click filters the table."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.per_class = self._table(["Class", "Examples", "Flagged", "Rate"])
        self.corrections = self._table(["Given", "Suggested", "Count"])
        split = QSplitter(Qt.Vertical)
        for title, table in (("Issues per class (click: filter by given label)", self.per_class),
                             ("Most frequent corrections (click: filter the pair)", self.corrections)):
            box = QWidget()
            v = QVBoxLayout(box)
            v.setContentsMargins(4, 4, 4, 0)
            label = QLabel(title)
            theme.set_muted(label)
            v.addWidget(label)
            v.addWidget(table)
            split.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.per_class.cellClicked.connect(self._class_clicked)
        self.corrections.cellClicked.connect(self._correction_clicked)
        self._pending = False
        state.results_changed.connect(self._on_results)

    def _on_results(self, results) -> None:
        """Fill the tables now if visible, else when first shown."""
        self._pending = True
        if self.isVisible():
            self.showEvent(None)

    def showEvent(self, event) -> None:
        if event is not None:
            super().showEvent(event)
        if self._pending:
            self._pending = False
            self.set_results(self.state.results)

    @staticmethod
    def _table(headers) -> QTableWidget:
        t = QTableWidget(0, len(headers))
        t.setHorizontalHeaderLabels(headers)
        t.verticalHeader().hide()
        t.setEditTriggers(QAbstractItemView.NoEditTriggers)
        t.setSelectionBehavior(QAbstractItemView.SelectRows)
        t.setSelectionMode(QAbstractItemView.SingleSelection)
        t.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        t.verticalHeader().setDefaultSectionSize(24)
        t.setSortingEnabled(True)
        return t

    def set_results(self, results) -> None:
        for t in (self.per_class, self.corrections):
            t.setSortingEnabled(False)
            t.setRowCount(0)
        if results is None:
            return
        audit = results.report.audit
        ipc = audit.issues_per_class
        names = results.class_names
        self.per_class.setRowCount(len(ipc))
        for r, rec in enumerate(ipc.to_dict("records")):
            cls, rate = int(rec["class"]), float(rec["issue_rate"])
            self._set(self.per_class, r, 0, names[cls], data=cls)
            self._set(self.per_class, r, 1, int(rec["n_examples"]))
            self._set(self.per_class, r, 2, int(rec["n_label_issues"]))
            self._set(self.per_class, r, 3, 0.0 if rate != rate else rate, fmt="{:.1%}")
        top = audit.top_corrections
        self.corrections.setRowCount(len(top))
        for r, rec in enumerate(top.to_dict("records")):
            given, suggested = int(rec["given"]), int(rec["suggested"])
            self._set(self.corrections, r, 0, names[given], data=(given, suggested))
            self._set(self.corrections, r, 1, names[suggested])
            self._set(self.corrections, r, 2, int(rec["count"]))
        for t in (self.per_class, self.corrections):
            t.setSortingEnabled(True)
        self.per_class.sortItems(2, Qt.DescendingOrder)
        self.corrections.sortItems(2, Qt.DescendingOrder)  # most frequent first (core's order; stable for ties)

    @staticmethod
    def _set(table, r, c, value, data=None, fmt=None):
        item = _Item(fmt.format(value) if fmt else str(value) if not isinstance(value, int) else f"{value:,}")
        item.key = value
        if isinstance(value, (int, float)):
            item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
        if data is not None:
            item.setData(Qt.UserRole, data)
        table.setItem(r, c, item)

    def _class_clicked(self, row: int, _col: int) -> None:
        cls = self.per_class.item(row, 0).data(Qt.UserRole)
        if self.state.filter.given == cls:
            self.state.clear_filter("given")
        else:
            self.state.update_filter(given=cls)

    def _correction_clicked(self, row: int, _col: int) -> None:
        pair = self.corrections.item(row, 0).data(Qt.UserRole)
        if self.state.filter.given_suggested == pair:
            self.state.clear_filter("given_suggested")
        else:
            self.state.update_filter(given_suggested=pair, given_predicted=None)

"""The setup dialog's "Label errors" row: the detection method of core.detection.

Inputs mirroring ``--filter-by``, ``--rank-by``, ``--num-issues``,
``--frac-noise``, ``--annotators`` and ``--multi-label``; :meth:`DetectionRow.apply_to` writes them into an
AuditConfig and :meth:`problem` gives core's one-line reason when they clash.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QLabel, QSpinBox, QWidget

from labelaudit.core.detection import DEFAULT_FILTER_BY, FILTER_BY, FILTER_HELP, RANK_BY, DetectionMethod
from labelaudit.core.errors import InputError


class DetectionRow(QWidget):
    """Filter, ranking, "flag exactly N" (0 = the filter's own count), frac_noise, annotators, multi-label."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter_by = QComboBox()
        for i, name in enumerate(FILTER_BY):
            self.filter_by.addItem(name, name)
            self.filter_by.setItemData(i, FILTER_HELP[name], Qt.ToolTipRole)
        self.rank_by = QComboBox()
        self.rank_by.addItem("(the filter's)", None)
        for name in RANK_BY:
            self.rank_by.addItem(name, name)
        self.num_issues = QSpinBox()
        self.num_issues.setRange(0, 2_000_000_000)
        self.num_issues.setSpecialValueText("estimate")
        self.frac_noise = QDoubleSpinBox()
        self.frac_noise.setRange(0.01, 1.0)
        self.frac_noise.setSingleStep(0.05)
        self.frac_noise.setDecimals(2)
        self.annotators = QComboBox()
        self.annotators.addItem("one label each", None)
        for kind, title in (("long", "long table"), ("wide", "column per annotator"), ("votes", "review votes")):
            self.annotators.addItem(title, kind)
        self.multi_label = QCheckBox("Several classes per example")
        self.multi_label.setToolTip("Multi-label data: 'a|b', JSON lists or one 0/1 column per class, with per-class "
                                    "probabilities in the predictions file (--multi-label)")
        layout = QGridLayout(self)  # two rows of three, so the dialog fits a 1280 px screen
        layout.setContentsMargins(0, 0, 0, 0)
        for i, (title, w, tip) in enumerate((
            ("Flag by", self.filter_by, "Which examples are flagged (--filter-by); labelerrors-2021 reproduces the "
             "candidate sets of 'Pervasive Label Errors in Test Sets'"),
            ("Rank by", self.rank_by, "The label-quality score that orders the table and the review queue (--rank-by)"),
            ("Flag exactly", self.num_issues, "Flag exactly this many of the lowest-ranked examples instead of the "
             "filter's estimate (--num-issues)"),
            ("Frac. noise", self.frac_noise, "Flag this fraction of the estimated count (--frac-noise; prune_by_* "
             "and both only)"),
            ("Annotators", self.annotators, "Several annotators per example: consensus and annotator quality "
             "(CROWDLAB, --annotators)"),
        )):
            label = QLabel(title)
            label.setToolTip(tip)
            w.setToolTip(tip)
            layout.addWidget(label, i // 3, 2 * (i % 3))
            layout.addWidget(w, i // 3, 2 * (i % 3) + 1)
        layout.addWidget(self.multi_label, 1, 4, 1, 2)
        layout.setColumnStretch(6, 1)
        self.filter_by.currentIndexChanged.connect(self._update_help)
        self.set_config(None)

    def _update_help(self) -> None:
        self.filter_by.setToolTip(FILTER_HELP[self.filter_by.currentData()])

    def set_config(self, c) -> None:
        """Show the method of AuditConfig ``c`` (defaults when None)."""
        m = DetectionMethod.from_config(c) if c is not None else DetectionMethod()
        self.filter_by.setCurrentIndex(max(self.filter_by.findData(m.filter_by), 0))
        self.rank_by.setCurrentIndex(max(self.rank_by.findData(m.rank_by), 0) if m.rank_by else 0)
        self.num_issues.setValue(m.num_issues or 0)
        self.frac_noise.setValue(m.frac_noise)
        self.annotators.setCurrentIndex(max(self.annotators.findData(getattr(c, "annotators", None)), 0)
                                        if c is not None and getattr(c, "annotators", None) else 0)
        self.multi_label.setChecked(bool(getattr(c, "multi_label", False)))

    def apply_to(self, c) -> None:
        """Write the row's values into AuditConfig ``c``."""
        c.filter_by = self.filter_by.currentData() or DEFAULT_FILTER_BY
        c.rank_by = self.rank_by.currentData()
        c.num_issues = self.num_issues.value() or None
        c.frac_noise = round(self.frac_noise.value(), 4)
        c.annotators = self.annotators.currentData()
        c.multi_label = self.multi_label.isChecked()

    def problem(self, c) -> str | None:
        """core's one-line reason when the chosen options clash, else None."""
        try:
            DetectionMethod.from_config(c)
        except InputError as err:
            return str(err)
        return None

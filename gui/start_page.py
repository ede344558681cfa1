"""The page shown before there are results: open data or the demo, the run's setup and progress."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import theme


def describe_config(config) -> str:
    """One line per setting a user cares about, as HTML."""
    if config is None or not config.data:
        return ""
    if config.pred_probs or config.logits:
        model = f"predictions file {Path(config.pred_probs or config.logits).name}" + (" (logits)" if config.logits else "")
    elif config.model in (None, "probe"):
        model = "bundled probe"
    elif config.model == "llm":
        model = "bundled LLM (SmolLM2-135M)"
    else:
        model = f"model folder {config.model}"
    cols = ", ".join(f"{k}: {v}" for k, v in (("label", config.label_col), ("text", config.text_col),
                                                ("image", config.image_col), ("id", config.id_col)) if v)
    lines = [f"<b>Data</b> {config.data}", f"<b>Columns</b> {cols or 'detected automatically'}", f"<b>Model</b> {model}"]
    if config.classes:
        lines.append(f"<b>Classes</b> {config.classes if isinstance(config.classes, str) else ', '.join(config.classes)}")
    if config.reviews:
        lines.append(f"<b>Reviews</b> {config.reviews}")
    return "<br>".join(lines)


class StartPage(QWidget):
    """Welcome card (open, demo, recent data and projects), the setup ready to run, and progress while it runs."""

    open_requested = Signal()
    project_requested = Signal()
    results_requested = Signal()
    demo_requested = Signal()
    recent_requested = Signal(str)
    run_requested = Signal()
    setup_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        card = QFrame()
        card.setObjectName("startCard")
        card.setMaximumWidth(720)
        v = QVBoxLayout(card)
        v.setContentsMargins(32, 26, 32, 26)
        v.setSpacing(10)

        head = QHBoxLayout()
        logo = QLabel()
        pix = QPixmap(str(theme.RESOURCES / "labelaudit.png"))
        if not pix.isNull():
            logo.setPixmap(pix.scaled(64, 64, Qt.KeepAspectRatio, Qt.SmoothTransformation))
        title_box = QVBoxLayout()
        title = QLabel("labelaudit")
        title.setObjectName("startTitle")
        subtitle = QLabel("Find the label errors in a dataset and check how well a model's confidence is calibrated.")
        subtitle.setWordWrap(True)
        theme.set_muted(subtitle)
        title_box.addWidget(title)
        title_box.addWidget(subtitle)
        head.addWidget(logo)
        head.addLayout(title_box, 1)
        v.addLayout(head)

        # idle: open or demo
        self.idle = QWidget()
        iv = QVBoxLayout(self.idle)
        iv.setContentsMargins(0, 8, 0, 0)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open dataset…")
        self.open_button.setObjectName("primary")
        self.project_button = QPushButton("Open project…")
        self.project_button.setToolTip("A saved or autosaved .labelaudit project: its results and review decisions")
        self.results_button = QPushButton("Open results folder…")
        self.results_button.setToolTip("The folder 'labelaudit audit --out' wrote (on a server, say): its run, to "
                                       "explore and review here")
        self.demo_button = QPushButton("Try the demo")
        self.demo_button.setToolTip("scikit-learn's digits with 5% of the labels flipped on purpose; watch the audit find them")
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.project_button)
        buttons.addWidget(self.results_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        iv.addLayout(buttons)
        hint = QLabel("Or drop a table (csv, tsv, parquet, jsonl), a .npy of labels, an image folder, a "
                      ".labelaudit project or a results folder of 'labelaudit audit --out' anywhere on this window. Every run is kept as a project: the recent "
                      "ones are listed here.")
        hint.setWordWrap(True)
        theme.set_muted(hint)
        iv.addWidget(hint)
        self.recent_title = QLabel("Recent")
        self.recent_title.setObjectName("sectionTitle")
        self.recent = QListWidget()
        self.recent.setMaximumHeight(150)
        iv.addWidget(self.recent_title)
        iv.addWidget(self.recent)
        v.addWidget(self.idle)

        # ready / running: the setup, Run or progress
        self.ready = QWidget()
        rv = QVBoxLayout(self.ready)
        rv.setContentsMargins(0, 8, 0, 0)
        self.setup_text = QLabel()
        self.setup_text.setWordWrap(True)
        self.setup_text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        rv.addWidget(self.setup_text)
        self.message = QLabel()
        self.message.setWordWrap(True)
        rv.addWidget(self.message)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        rv.addWidget(self.progress)
        rb = QHBoxLayout()
        self.run_button = QPushButton("Run audit")
        self.run_button.setObjectName("primary")
        self.change_button = QPushButton("Change settings…")
        self.cancel_button = QPushButton("Cancel")
        self.other_button = QPushButton("Open other data…")
        rb.addWidget(self.run_button)
        rb.addWidget(self.cancel_button)
        rb.addWidget(self.change_button)
        rb.addStretch(1)
        rb.addWidget(self.other_button)
        rv.addLayout(rb)
        v.addWidget(self.ready)

        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        self.open_button.clicked.connect(self.open_requested)
        self.project_button.clicked.connect(self.project_requested)
        self.results_button.clicked.connect(self.results_requested)
        self.other_button.clicked.connect(self.open_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        self.run_button.clicked.connect(self.run_requested)
        self.change_button.clicked.connect(self.setup_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.recent.itemActivated.connect(lambda item: self.recent_requested.emit(item.data(Qt.UserRole)))
        self.recent.itemClicked.connect(lambda item: self.recent_requested.emit(item.data(Qt.UserRole)))
        theme.style(self)
        self.show_idle([])

    def show_idle(self, recent: list[tuple[str, str]]) -> None:
        """The welcome card listing ``recent`` (path, title) data files and projects."""
        self.recent.clear()
        for path, title in recent:
            item = QListWidgetItem(f"{title}    —    {Path(path).parent}")
            item.setData(Qt.UserRole, path)
            item.setToolTip(path)
            self.recent.addItem(item)
        self.recent_title.setVisible(bool(recent))
        self.recent.setVisible(bool(recent))
        self.idle.show()
        self.ready.hide()

    def show_ready(self, config, message: str = "") -> None:
        self.setup_text.setText(describe_config(config))
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.progress.hide()
        self.cancel_button.hide()
        for b in (self.run_button, self.change_button, self.other_button):
            b.show()
        self.idle.hide()
        self.ready.show()

    def show_running(self, config, message: str) -> None:
        self.setup_text.setText(describe_config(config))
        self.message.setText(message)
        self.message.show()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        for b in (self.run_button, self.change_button, self.other_button):
            b.hide()
        self.idle.hide()
        self.ready.show()

    def set_progress(self, text: str, done: int, total: int) -> None:
        self.message.setText(text)
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)

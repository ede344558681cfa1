"""The 'Set up audit' dialog: data file, column mapping with a preview, model, options.

It reads the data file on the thread pool (core.data.read_table), proposes
the columns core.data.detect_columns finds, and returns an
:class:`core.pipeline.AuditConfig`. Nothing is computed here that the CLI
would not compute the same way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from labelaudit.core.errors import InputError
from labelaudit.core.pipeline import RECALIBRATION_METHODS, AuditConfig

from . import theme
from .detection_row import DetectionRow
from .worker import run_in_pool

PREVIEW_ROWS = 30
DATA_FILTER = "Datasets (*.csv *.tsv *.tab *.txt *.parquet *.pq *.jsonl *.ndjson *.npy);;All files (*)"
PRED_FILTER = "Predictions (*.npy *.csv *.parquet *.pq);;All files (*)"
NONE = "(none)"
ROLES = (("label_col", "Label"), ("text_col", "Text"), ("image_col", "Image"), ("id_col", "ID"))
MODELS = (
    ("probe", "Bundled probe", "Text: MiniLM sentence embeddings + a cross-validated logistic regression. "
     "Images: a cross-validated probe on the pixels. Runs on CPU in seconds to minutes."),
    ("llm", "Bundled LLM (SmolLM2-135M, zero-shot)", "Asks the bundled small language model to pick a class "
     "for each text; slow on CPU, no training on your labels."),
    ("folder", "Model folder", "A folder with a Hugging Face classifier, an embedding model (used for the probe) or "
     "a causal LM."),
    ("predictions", "Predictions file", "Out-of-sample class probabilities (or logits) you already have: .npy, .csv "
     "or .parquet with one row per example and one column per class."),
)


def preview_data(path: str) -> dict:
    """What the dialog shows for ``path``: {"frame": first rows, "columns": detected, "n": rows, "note": text}.

    Runs in a worker thread. Tables are read with core.data.read_table; a .npy
    of labels or an image folder is summarised. Raises InputError for unreadable data.
    """
    from labelaudit.core.data import IMAGE_EXTENSIONS, check_npy_header, detect_columns, read_table

    p = Path(path)
    if p.is_dir():
        classes = sorted(d.name for d in p.iterdir() if d.is_dir())
        n = sum(1 for d in p.iterdir() if d.is_dir() for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        note = f"Image folder: {n:,} images in {len(classes)} class folders ({', '.join(classes[:8])}{'…' if len(classes) > 8 else ''})"
        return {"frame": None, "columns": {}, "n": n, "note": note, "kind": "folder"}
    if p.suffix.lower() == ".npy":
        check_npy_header(p, str(path), "labels")  # pickled or truncated files: InputError naming them
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
        import pandas as pd

        frame = pd.DataFrame({"label": np.asarray(arr[:PREVIEW_ROWS])})
        return {"frame": frame, "columns": {}, "n": int(arr.shape[0]), "note": f"Labels array: {arr.shape[0]:,} labels", "kind": "npy"}
    df = read_table(p)
    note = ""
    try:
        cols = detect_columns(df, source=str(path))
    except InputError as err:  # ambiguous label column: the user picks it here
        cols, note = {}, str(err)
    return {"frame": df.head(PREVIEW_ROWS), "columns": cols, "n": len(df), "note": note, "kind": "table"}


#: The "Run on" choice that scores on this machine (no --cluster).
THIS_MACHINE = "this machine"

class PathField(QWidget):
    """A line edit with a Browse… button."""

    changed = Signal(str)

    def __init__(self, caption: str, file_filter: str | None = None, folder: bool = False, placeholder: str = "", parent=None):
        super().__init__(parent)
        self.caption, self.file_filter, self.folder = caption, file_filter, folder
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)
        self.edit.editingFinished.connect(lambda: self.changed.emit(self.path()))

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str | None) -> None:
        self.edit.setText(path or "")

    def browse(self) -> None:
        start = self.path() or str(Path.home())
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.caption, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter or "All files (*)")
        if path:
            self.set_path(path)
            self.changed.emit(path)


class AuditSetupDialog(QDialog):
    """Pick the data, its columns, the model and the options; ``config()`` returns the AuditConfig.

    ``run_requested`` is True when the dialog was closed with "Run audit".
    ``previewed`` is the path whose preview (or reason it cannot be read) is shown, None while
    reading; ``preview_ready`` fires when it is set.
    """

    preview_ready = Signal()

    def __init__(self, config: AuditConfig | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Set up audit")
        self.resize(940, 660)
        self.run_requested = False
        self._base = config or AuditConfig()
        self._preview: dict | None = None
        self._loading = None
        self._closed = False
        self.previewed: str | None = None

        # -- data -------------------------------------------------------------
        self.data_path = PathField("Open dataset", DATA_FILTER, placeholder="csv, tsv, parquet, jsonl, .npy of labels")
        folder_btn = QPushButton("Folder…")
        folder_btn.setToolTip("An image folder with one subfolder per class")
        folder_btn.clicked.connect(self._browse_folder)
        self.data_path.layout().addWidget(folder_btn)
        self.preview = QTableView()
        self.preview.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.preview.verticalHeader().setDefaultSectionSize(22)
        self.preview.setWordWrap(False)
        self.preview_model = QStandardItemModel(self)
        self.preview.setModel(self.preview_model)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.role_boxes: dict[str, QComboBox] = {}
        roles = QGridLayout()
        for i, (key, title) in enumerate(ROLES):
            box = QComboBox()
            box.setMinimumContentsLength(12)
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            self.role_boxes[key] = box
            roles.addWidget(QLabel(title), 0, i)
            roles.addWidget(box, 1, i)
        self.classes = PathField("Class names file", "Text files (*.txt);;All files (*)",
                                 placeholder="optional: one class name per line, in label-index order")
        data_box = QGroupBox("Data")
        dv = QVBoxLayout(data_box)
        dv.addWidget(self.data_path)
        dv.addWidget(self.preview, 1)
        dv.addWidget(self.note)
        dv.addLayout(roles)
        cf = QFormLayout()
        cf.addRow("Class names", self.classes)
        dv.addLayout(cf)

        # -- model ------------------------------------------------------------
        model_box = QGroupBox("Model")
        mv = QGridLayout(model_box)
        self.model_group = QButtonGroup(self)
        self.model_radios: dict[str, QRadioButton] = {}
        for i, (key, title, tip) in enumerate(MODELS):
            radio = QRadioButton(title)
            radio.setToolTip(tip)
            self.model_group.addButton(radio, i)
            self.model_radios[key] = radio
        self.model_folder = PathField("Model folder", folder=True, placeholder="folder with config.json and weights")
        self.pred_path = PathField("Predictions file", PRED_FILTER, placeholder="pred_probs.npy / .csv / .parquet")
        self.logits = QCheckBox("holds logits")
        self.logits.setToolTip("The file holds logits; they are turned into probabilities with a softmax")
        mv.addWidget(self.model_radios["llm"], 1, 0, 1, 3)
        mv.addWidget(self.model_radios["folder"], 2, 0)
        mv.addWidget(self.model_folder, 2, 1, 1, 2)
        mv.addWidget(self.model_radios["predictions"], 3, 0)
        mv.addWidget(self.pred_path, 3, 1)
        mv.addWidget(self.logits, 3, 2)
        mv.setColumnStretch(1, 1)
        self.model_help = QLabel()
        self.model_help.setWordWrap(True)
        theme.set_muted(self.model_help)
        mv.addWidget(self.model_help, 4, 0, 1, 3)
        self.correctness = QCheckBox("Correctness model")
        self.correctness.setToolTip("--correctness: a cross-fitted predictor of whether the model is right on each "
                                    "example (from its confidence, margin, entropy and embeddings), reported beside "
                                    "raw confidence: AUROC, Brier, ECE")
        self.permute = QSpinBox()
        self.permute.setRange(1, 10)
        self.permute.setSpecialValueText("off")
        self.permute.setToolTip("--permute-options K: score each multiple-choice question under K cyclic orders of "
                                "its options (causal LM only) and report position bias: accuracy by the position "
                                "of the right answer, conflict rate, balanced vs single-order accuracy and ECE")
        permute_label = QLabel("Option orders (position bias)")
        permute_label.setToolTip(self.permute.toolTip())
        extras = QHBoxLayout()  # on the probe's line, at the right: the dialog stays as tall as it was
        extras.addWidget(self.model_radios["probe"])
        extras.addStretch(1)
        extras.addWidget(self.correctness)
        extras.addSpacing(16)
        extras.addWidget(permute_label)
        extras.addWidget(self.permute)
        mv.addLayout(extras, 0, 0, 1, 3)

        # -- options ----------------------------------------------------------
        opt_box = QGroupBox("Options")
        ov = QHBoxLayout(opt_box)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda", "mps"])
        self.folds = QSpinBox()
        self.folds.setRange(2, 20)
        self.batch = QSpinBox()
        self.batch.setRange(0, 4096)
        self.batch.setSpecialValueText("auto")
        self.cluster = QComboBox()  # where the model's forward passes run: here, or on Ray (--cluster)
        self.cluster.setEditable(True)
        self.cluster.addItems([THIS_MACHINE, "local", "local:2", "auto"])
        self.cluster.lineEdit().setPlaceholderText("ray://HOST:PORT")
        self.recal = QComboBox()
        self.recal.addItem("none", None)
        for m in RECALIBRATION_METHODS:
            self.recal.addItem(m, m)
        self.reviews = PathField("Human reviews", "Reviews (*.json *.csv);;All files (*)", placeholder="optional: mturk.json or CSV")
        for title, w, tip in (
            ("Device", self.device, "Where models run: auto picks a GPU when there is one"),
            ("Folds", self.folds, "Cross-validation folds for the probe and recalibration"),
            ("Batch", self.batch, "Batch size for model inference (auto: chosen per model and device)"),
            ("Run on", self.cluster, "Where the model runs: this machine, or Ray (--cluster): 'local[:N]' starts a "
             "local Ray cluster of N workers, 'auto' joins the running one, or type ray://HOST:PORT. One model copy "
             "per GPU or CPU slot; needs pip install labelaudit[cluster]"),
            ("Recalibrate", self.recal, "Fit a recalibration with cross-fitting and report ECE/NLL before and after"),
        ):
            label = QLabel(title)
            label.setToolTip(tip)
            w.setToolTip(tip)
            ov.addWidget(label)
            ov.addWidget(w)
        ov.addWidget(QLabel("Reviews"))
        ov.addWidget(self.reviews, 1)
        self.detection = DetectionRow()
        det_box = QGroupBox("Label errors")
        QVBoxLayout(det_box).addWidget(self.detection)

        # -- buttons ----------------------------------------------------------
        self.buttons = QDialogButtonBox()
        self.run_button = self.buttons.addButton("Run audit", QDialogButtonBox.AcceptRole)
        self.run_button.setObjectName("primary")
        self.run_button.setDefault(True)
        self.save_button = self.buttons.addButton("Use these settings", QDialogButtonBox.ApplyRole)
        self.buttons.addButton(QDialogButtonBox.Cancel)
        self.run_button.clicked.connect(self._run)
        self.save_button.clicked.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        theme.style(self.buttons)

        layout = QVBoxLayout(self)
        layout.addWidget(data_box, 1)
        layout.addWidget(model_box)
        layout.addWidget(opt_box)
        layout.addWidget(det_box)
        layout.addWidget(self.buttons)

        self.data_path.changed.connect(self.load_preview)
        self.model_group.idToggled.connect(self._model_changed)
        self.pred_path.changed.connect(lambda p: p and self.model_radios["predictions"].setChecked(True))
        self.model_folder.changed.connect(lambda p: p and self.model_radios["folder"].setChecked(True))
        self._apply_config(self._base)

    # -- config in and out ----------------------------------------------------
    def _apply_config(self, c: AuditConfig) -> None:
        self.data_path.set_path(c.data)
        self.classes.set_path(c.classes if isinstance(c.classes, str) else None)
        if c.pred_probs or c.logits:
            self.model_radios["predictions"].setChecked(True)
            self.pred_path.set_path(c.pred_probs or c.logits)
            self.logits.setChecked(bool(c.logits))
        elif c.model and c.model not in ("probe", "llm"):
            self.model_radios["folder"].setChecked(True)
            self.model_folder.set_path(c.model)
        else:
            self.model_radios[c.model or "probe"].setChecked(True)
        self.device.setCurrentText(c.device or "auto")
        self.folds.setValue(c.folds)
        self.batch.setValue(c.batch_size or 0)
        self.cluster.setCurrentText(c.cluster or THIS_MACHINE)
        self.recal.setCurrentIndex(max(self.recal.findData(c.recalibrate), 0))
        self.reviews.set_path(c.reviews)
        self.correctness.setChecked(bool(c.correctness))
        self.permute.setValue(max(int(c.permute_options or 1), 1))
        self.detection.set_config(c)
        self._model_changed()
        if c.data:
            self.load_preview(c.data)
        else:
            self._fill_roles([], {})

    def config(self) -> AuditConfig:
        """The AuditConfig the dialog describes (fields it does not show are kept from the input)."""
        c = AuditConfig.from_dict(self._base.to_dict())
        c.data = self.data_path.path() or None
        for key, _title in ROLES:
            box = self.role_boxes[key]
            setattr(c, key, box.currentData() if box.currentIndex() > 0 else None)
        c.classes = self.classes.path() or (self._base.classes if not isinstance(self._base.classes, str) else None)
        c.model = c.pred_probs = c.logits = None
        key = self.model_key()
        if key == "predictions":
            path = self.pred_path.path() or None
            if self.logits.isChecked():
                c.logits = path
            else:
                c.pred_probs = path
        elif key == "folder":
            c.model = self.model_folder.path() or None
        else:
            c.model = key
        c.device = self.device.currentText()
        c.folds = self.folds.value()
        c.batch_size = self.batch.value() or None
        cluster = self.cluster.currentText().strip()
        c.cluster = None if key == "predictions" or cluster in ("", THIS_MACHINE) else cluster
        c.recalibrate = self.recal.currentData()
        c.reviews = self.reviews.path() or None
        c.correctness = self.correctness.isChecked()
        c.permute_options = self.permute.value() if self.permute.isEnabled() else 1
        self.detection.apply_to(c)
        return c

    def model_key(self) -> str:
        return MODELS[max(self.model_group.checkedId(), 0)][0]

    def problem(self) -> str | None:
        """Why the settings cannot run yet (one line), or None."""
        c = self.config()
        if not c.data:
            return "Choose a dataset file or folder."
        key = self.model_key()
        if key == "predictions" and not (c.pred_probs or c.logits):
            return "Choose the predictions file, or pick another model."
        if c.cluster:
            from labelaudit.core.errors import InputError
            from labelaudit.core.scoring.cluster import parse_cluster

            try:
                parse_cluster(c.cluster)
            except InputError as err:
                return str(err)
        if key == "folder" and not c.model:
            return "Choose the model folder, or pick another model."
        if self._preview and self._preview.get("kind") == "table" and self.role_boxes["label_col"].currentIndex() <= 0:
            return "Choose the label column."
        return self.detection.problem(c)

    # -- preview --------------------------------------------------------------
    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self.data_path.path() or str(Path.home()))
        if path:
            self.data_path.set_path(path)
            self.load_preview(path)

    def load_preview(self, path: str) -> None:
        """Read ``path`` in the background and show its first rows and detected columns."""
        if not path or self._closed:  # (a line edit losing focus as the dialog closes lands here)
            return
        self.note.setText(f"Reading {Path(path).name}…")
        self.preview_model.clear()
        self._preview = None
        self._loading = path
        self.previewed = None
        run_in_pool(lambda: preview_data(path), lambda r, p=path: self._show_preview(p, r),
                    lambda reason, _d, p=path: self._preview_failed(p, reason), owner=self)

    def _preview_failed(self, path: str, reason: str) -> None:
        if path != self._loading:
            return
        self.note.setText(f"<span style='color:{theme.WRONG}'>{reason}</span>")
        self._fill_roles([], {})
        self.previewed = path
        self.preview_ready.emit()

    def _show_preview(self, path: str, result: dict) -> None:
        if path != self._loading:
            return
        self._preview = result
        frame = result["frame"]
        columns = [] if frame is None else [str(c) for c in frame.columns]
        if frame is not None:
            self.preview_model.setHorizontalHeaderLabels(columns)
            for r in range(len(frame)):
                items = []
                for value in frame.iloc[r].tolist():
                    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
                    item = QStandardItem(text[:200])
                    item.setToolTip(text[:1000])
                    items.append(item)
                self.preview_model.appendRow(items)
            for i in range(len(columns)):
                self.preview.setColumnWidth(i, 160)
        detected = result["columns"] if result["kind"] == "table" else {}
        overrides = {k: getattr(self._base, k) for k, _ in ROLES if getattr(self._base, k) and path == self._base.data}
        self._fill_roles(columns if result["kind"] == "table" else [], {**detected, **overrides})
        shown = f"showing the first {min(PREVIEW_ROWS, result['n'])} of {result['n']:,} rows" if frame is not None else ""
        note = result["note"] or ", ".join(
            f"{title.lower()}: {detected.get(key)!s}" for key, title in ROLES if detected.get(key)
        )
        self.note.setText("  ·  ".join(t for t in (shown, ("Detected " + note) if note and not result["note"] else note) if t))
        self.previewed = path
        self.preview_ready.emit()

    def _fill_roles(self, columns: list[str], chosen: dict) -> None:
        for key, _title in ROLES:
            box = self.role_boxes[key]
            box.blockSignals(True)
            box.clear()
            box.addItem(NONE, None)
            for c in columns:
                box.addItem(c, c)
            if chosen.get(key) in columns:
                box.setCurrentIndex(columns.index(chosen[key]) + 1)
            box.setEnabled(bool(columns))
            box.blockSignals(False)

    def _model_changed(self, *_):
        key = self.model_key()
        self.model_help.setText(next(tip for k, _t, tip in MODELS if k == key))
        self.model_folder.setEnabled(key == "folder")
        self.pred_path.setEnabled(key == "predictions")
        self.logits.setEnabled(key == "predictions")
        self.permute.setEnabled(key in ("llm", "folder"))  # a causal LM re-scores the questions

    # -- closing --------------------------------------------------------------
    def done(self, result: int) -> None:
        self._closed = True  # a preview still being read is dropped when it arrives
        self._loading = None
        super().done(result)

    def _check(self) -> bool:
        problem = self.problem()
        if problem:
            self.note.setText(f"<span style='color:{theme.WRONG}'>{problem}</span>")
            return False
        return True

    def _run(self) -> None:
        if self._check():
            self.run_requested = True
            self.accept()

    def _save(self) -> None:
        if self._check():
            self.run_requested = False
            self.accept()

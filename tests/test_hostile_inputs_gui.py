"""In the app, a hostile file is a dialog that names the file and says what is wrong in words."""

from __future__ import annotations

import numpy as np
import pytest

from labelaudit.core.pipeline import AuditConfig


def _deep_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": ' + "[" * 50_000 + "]" * 50_000 + "}\n")
    return AuditConfig(data=str(path), pred_probs=str(tmp_path / "p.npy")), path, "nested more than 100 levels"


def _truncated_npy(tmp_path):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 1]))
    path = tmp_path / "p.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    return AuditConfig(data=str(labels), pred_probs=str(path)), path, "truncated or damaged"


@pytest.mark.parametrize("make", [_deep_jsonl, _truncated_npy])
def test_a_hostile_file_is_a_dialog_in_words(qtbot, window, tmp_path, make):
    np.save(tmp_path / "p.npy", np.full((2, 2), 0.5))
    config, path, words = make(tmp_path)
    window.set_config(config)
    window.start_run()
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=20_000)
    text = window.error_box.text()
    assert text.startswith(f"{path}: ") and words in text
    assert "\n" not in text and "MemoryError" not in text and "RecursionError" not in text

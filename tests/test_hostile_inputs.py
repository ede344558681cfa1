"""Small hostile files cannot demand unbounded memory or recursion: each is exit 2 with one
plain line naming the file and saying what is wrong.

The audits that could allocate by a number read from the file run in a subprocess
whose address space is capped (MEMORY_CAP), so a regression fails the test instead
of exhausting the machine; the message must give the reason the loader found, not a
generic out-of-memory line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelaudit.core.cli import main

MEMORY_CAP = 3 * 1024**3  # bytes of address space for a capped audit


def capped_audit(*argv) -> tuple[int, str]:
    """Run ``labelaudit audit ARGV`` in a subprocess with at most MEMORY_CAP of address space."""
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))
        from labelaudit.core.cli import main
        sys.exit(main(["audit", *{list(map(str, argv))!r}, "--quiet"]))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    return proc.returncode, proc.stderr


def assert_bad_input(code: int, err: str, path: Path, *words: str) -> None:
    """Exit 2, one plain line that names ``path`` and contains ``words``."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert str(path) in line, line
    assert not any(ch in line for ch in "\x1b\r\t"), repr(line)
    for word in words:
        assert word in line, line
    assert "MemoryError" not in line and "RecursionError" not in line and "internal error" not in line


def audit(capsys, *argv) -> tuple[int, str]:
    code = main(["audit", *map(str, argv), "--quiet"])
    return code, capsys.readouterr().err


@pytest.fixture
def probs(tmp_path) -> Path:
    """Uniform predictions for 6 rows of 2 classes."""
    path = tmp_path / "p.npy"
    np.save(path, np.full((6, 2), 0.5))
    return path


# ----------------------------------------------------------------------------- sizes read from the file


def test_a_huge_label_id_is_refused_before_the_class_list_is_built(tmp_path, probs):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(5)) + "t5,1000000000\n")
    code, err = capped_audit(data, "--pred-probs", probs, "--out", tmp_path / "o")
    assert_bad_input(code, err, data, "row 5", "1,000,000,000", "classes")


def test_a_huge_label_id_in_a_label_array(tmp_path, probs):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 1, 0, 1, 0, 10**9], dtype=np.int64))
    code, err = capped_audit(labels, "--pred-probs", probs, "--out", tmp_path / "o")
    assert_bad_input(code, err, labels, "row 5", "classes")


def npy_claiming(path: Path, shape: tuple, descr: str = "<f8") -> Path:
    """A small .npy whose header announces ``shape`` but holds 64 bytes of data."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": descr, "fortran_order": False, "shape": shape})
        fh.write(b"\0" * 64)
    assert path.stat().st_size < 1000
    return path


def test_an_npy_header_claiming_a_huge_shape_is_refused(tmp_path):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 1] * 3))
    bomb = npy_claiming(tmp_path / "p.npy", (10**6, 10**6))
    code, err = capped_audit(labels, "--pred-probs", bomb, "--out", tmp_path / "o")
    assert_bad_input(code, err, bomb, "(1000000, 1000000)", "truncated")


def test_a_label_npy_claiming_a_huge_shape_is_refused(tmp_path, probs):
    bomb = npy_claiming(tmp_path / "labels.npy", (10**11,), "<i8")
    code, err = capped_audit(bomb, "--pred-probs", probs, "--out", tmp_path / "o")
    assert_bad_input(code, err, bomb, "truncated")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _rewrite_footer(good: Path, bad: Path, old_value: int, new_value: int) -> Path:
    """Copy ``good`` to ``bad`` with every i64 Thrift field equal to ``old_value`` in the footer set to ``new_value``."""
    data = good.read_bytes()
    size = int.from_bytes(data[-8:-4], "little")
    meta = data[-8 - size:-8]
    old, new = b"\x16" + _varint(2 * old_value), b"\x16" + _varint(2 * new_value)  # i64 field, zigzag varint
    assert meta.count(old) >= 1
    meta = meta.replace(old, new)
    bad.write_bytes(data[:-8 - size] + meta + len(meta).to_bytes(4, "little") + b"PAR1")
    return bad


def test_parquet_metadata_claiming_huge_row_counts_is_refused(tmp_path):
    """A Parquet footer rewritten to claim 10^12 rows (the i64 row counts in the Thrift footer)."""
    good = tmp_path / "good.parquet"
    pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "label": np.arange(1000) % 2}).to_parquet(good)
    bomb = _rewrite_footer(good, tmp_path / "d.parquet", 1000, 10**12)
    code, err = capped_audit(bomb, "--out", tmp_path / "o")
    assert_bad_input(code, err, bomb, "1,000,000,000,000 rows")


def test_parquet_metadata_claiming_a_huge_decompressed_size_is_refused(tmp_path):
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pd.DataFrame({"text": [f"t{i}" for i in range(1000)], "label": np.arange(1000) % 2}).to_parquet(good)
    unpacked = pq.read_metadata(good).row_group(0).total_byte_size
    bomb = _rewrite_footer(good, tmp_path / "d.parquet", unpacked, 10**13)
    code, err = capped_audit(bomb, "--out", tmp_path / "o")
    assert_bad_input(code, err, bomb, "decompression bomb")


# ----------------------------------------------------------------------------- nesting


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_deeply_nested_jsonl_line(tmp_path, capsys, probs):
    data = tmp_path / "d.jsonl"
    rows = [json.dumps({"text": f"t{i}", "label": i % 2}) for i in range(5)]
    rows.append('{"text": "t5", "label": 1, "extra": ' + nested(200_000) + "}")
    data.write_text("\n".join(rows) + "\n")
    code, err = audit(capsys, data, "--pred-probs", probs, "--out", tmp_path / "o")
    assert_bad_input(code, err, data, "line 6", "nested")


def test_a_deeply_nested_mturk_json(tmp_path, capsys, probs):
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([0, 1] * 3))
    reviews = tmp_path / "mturk.json"
    reviews.write_text(nested(100_000))
    code, err = audit(capsys, labels, "--pred-probs", probs, "--reviews", reviews, "--out", tmp_path / "o")
    assert_bad_input(code, err, reviews, "nested")


def test_a_deeply_nested_model_config(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"some words {i},{i % 2}\n" for i in range(6)))
    model = tmp_path / "model"
    model.mkdir()
    config = model / "config.json"
    config.write_text('{"architectures": ["BertForSequenceClassification"], "x": ' + nested(100_000) + "}")
    code, err = audit(capsys, data, "--model", model, "--out", tmp_path / "o")
    assert_bad_input(code, err, config, "nested")


# ----------------------------------------------------------------------------- images and model weights


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height (1-bit grey) and whose data is one empty block."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 100_000])  # Pillow warns above 89 M pixels, refuses above twice that
def test_an_image_decompression_bomb(tmp_path, capsys, side):
    from PIL import Image

    folder = tmp_path / "images"
    for name in ("cat", "dog"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 40 * i).save(folder / name / f"{i}.png")
    bomb = folder / "dog" / "3.png"
    bomb.write_bytes(png_header(side, side))
    code, err = audit(capsys, folder, "--out", tmp_path / "o")
    assert_bad_input(code, err, bomb, "decompression bomb")


def test_a_pickled_pytorch_model_bin_is_one_plain_line(tmp_path, capsys):
    import torch

    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"a b {i},{'ab'[i % 2]}\n" for i in range(6)))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 8,
        "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 8, "vocab_size": 16,
        "id2label": {"0": "a", "1": "b"}, "label2id": {"a": 0, "b": 1}}))
    (model / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]))
    torch.save({"weight": Path("not/a/tensor")}, model / "pytorch_model.bin")  # a pickled Python object
    code, err = audit(capsys, data, "--model", model, "--out", tmp_path / "o")
    assert_bad_input(code, err, model, "pickled")


def test_a_model_config_claiming_a_huge_vocabulary(tmp_path):
    """config.json says 10^11 tokens, the weights hold 16: refused by the shapes, nothing that size built."""
    from transformers import BertConfig, BertForSequenceClassification

    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"a b {i},{'ab'[i % 2]}\n" for i in range(6)))
    model = tmp_path / "model"
    config = BertConfig(hidden_size=8, num_attention_heads=2, num_hidden_layers=1, intermediate_size=8, vocab_size=16,
                        id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    BertForSequenceClassification(config).save_pretrained(model)
    (model / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]))
    raw = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**raw, "vocab_size": 10**11}))
    code, err = capped_audit(data, "--model", model, "--out", tmp_path / "o")
    assert_bad_input(code, err, model, "do not match config.json", "word_embeddings")


def test_the_setup_dialog_preview_says_what_is_wrong_with_a_hostile_file(tmp_path):
    """The GUI's preview reads through the same bounded loaders: InputError naming the file."""
    from input_errors import error

    from labelaudit.gui.setup_dialog import preview_data

    bomb = npy_claiming(tmp_path / "labels.npy", (10**11,), "<i8")
    assert "truncated" in error(preview_data, str(bomb))
    deep = tmp_path / "d.jsonl"
    deep.write_text('{"text": "a", "label": ' + nested(100_000) + "}\n")
    assert error(preview_data, str(deep)).startswith(f"{deep}: line 1: JSON nested more than 100 levels")


def test_every_json_reader_bounds_nesting(tmp_path):
    """lm-eval samples (array or JSON lines) and multi-label cells: deep nesting is bad input, not a crash."""
    from input_errors import error

    from labelaudit.core.lm_eval import read_records
    from labelaudit.core.multilabel import parse_label_sets

    as_array = tmp_path / "samples_a.json"
    as_array.write_text("[" + nested(100_000) + "]")
    assert "nested more than 100 levels" in error(read_records, as_array)
    as_lines = tmp_path / "samples_b.jsonl"
    as_lines.write_text('{"doc_id": 0}\n' + nested(100_000) + "\n")
    assert error(read_records, as_lines).startswith(f"{as_lines}: line 2: JSON nested more than 100 levels")
    cells = pd.Series(['["a", "b"]', "a", nested(100_000)], name="labels")
    assert "row 2: column 'labels'" in error(parse_label_sets, cells, "d.csv")


def test_library_messages_reach_the_user_as_one_plain_line(monkeypatch, capsys):
    """Escape codes and line breaks from a library's message never reach the terminal; out of memory is said in words."""
    import labelaudit.core.cli as cli

    def colourful(args):
        raise RuntimeError("\x1b[1mbold\x1b[0m first\nsecond\r\x07")

    monkeypatch.setitem(cli.COMMANDS, "audit", colourful)
    assert cli.main(["audit", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert err == "labelaudit: internal error: RuntimeError: bold first second (set LABELAUDIT_DEBUG=1 for a traceback)\n"

    def exhausted(args):
        raise MemoryError()

    monkeypatch.setitem(cli.COMMANDS, "audit", exhausted)
    assert cli.main(["audit", "x.csv"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("labelaudit: error: not enough memory") and "MemoryError" not in err

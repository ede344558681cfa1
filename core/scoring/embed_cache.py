"""On-disk cache of embeddings, keyed by model identity and input content.

A re-run on the same data with the same model loads the ``.npy`` instead of
running the model. Files live in ``$LABELAUDIT_CACHE/embeddings`` when that
variable is set, else ``~/.cache/labelaudit/embeddings``; they are read with
``allow_pickle=False`` and written atomically (a crash leaves no half file).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..paths import cache_dir as labelaudit_cache

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")


def cache_dir() -> Path:
    """The embeddings cache folder (not created here)."""
    return labelaudit_cache() / "embeddings"


def model_fingerprint(folder: str | Path) -> str:
    """sha256 hex of a model folder's identity: config/tokenizer file contents plus
    the name, size and mtime of every weight file (weights are not read)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.suffix in _WEIGHT_SUFFIXES:
            st = path.stat()
            h.update(f"W {rel} {st.st_size} {st.st_mtime_ns}\n".encode())
        elif path.suffix in (".json", ".txt", ".model") and path.stat().st_size < 4_000_000:
            h.update(f"F {rel}\n".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(model_id: str, items: Iterable[str | bytes], **params) -> str:
    """sha256 hex over a model fingerprint, every input (length-prefixed, in order)
    and the keyword parameters (e.g. max_length, quantize)."""
    h = hashlib.sha256()
    h.update(model_id.encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for item in items:
        data = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else bytes(item)
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def load(key: str, n_rows: int, folder: Path | None = None) -> np.ndarray | None:
    """The cached (n_rows, d) array for ``key``, or None when absent or unusable."""
    path = (folder or cache_dir()) / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if arr.ndim != 2 or arr.shape[0] != n_rows or not np.isfinite(arr).all():
        return None
    return arr


def save(key: str, arr: np.ndarray, folder: Path | None = None) -> Path | None:
    """Write ``arr`` for ``key``; returns the path, or None when the folder is not writable."""
    folder = folder or cache_dir()
    path = folder / f"{key}.npy"
    tmp = folder / f".{key}.{os.getpid()}.tmp.npy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(tmp, np.ascontiguousarray(arr), allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return path

"""Helpers the Hugging Face back ends share (the embedding probe and the HF classifier)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import _ESCAPES, InputError, plain_line

if TYPE_CHECKING:
    import torch


def hf_load_kwargs(folder: Path, dtype: "torch.dtype", trust_remote_code: bool = False) -> dict:
    """Keyword arguments for ``from_pretrained`` on a local folder: offline, the given dtype,
    safetensors when the folder has them, no remote code unless asked."""
    import transformers

    key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    kwargs = {key: dtype, "local_files_only": True, "trust_remote_code": bool(trust_remote_code)}
    if any(folder.glob("*.safetensors")):
        kwargs["use_safetensors"] = True
    return kwargs


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty),
    for a one-line InputError that wraps a library's multi-line error."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@contextmanager
def loading_model(folder, what: str):
    """Around ``from_pretrained`` calls on a user's model ``folder`` (``what``: "classifier", ...).

    transformers' progress bars are turned off for the process (the run has its own progress).
    transformers' own log lines during the load (its multi-line, coloured LOAD REPORT of
    missing, unexpected or mismatched weights) are collected instead of printed; after a
    successful load each becomes one plain warning (a notice of the run). Any exception
    becomes the one-line InputError of :func:`load_failure`.
    """
    import logging

    from transformers.utils import logging as hf_logging

    collected: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            collected.append(record.getMessage())

    hf_logging.disable_progress_bar()  # no per-load bars (GGUF dequantising, shards) in the CLI or the app's log
    root = hf_logging.get_logger()
    saved, propagate = root.handlers[:], root.propagate
    root.handlers, root.propagate = [_Collect(logging.WARNING)], False
    try:
        yield
    except Exception as err:  # noqa: BLE001 - any failure to load a user's model folder is bad input
        raise load_failure(folder, what, err, collected) from None
    finally:
        root.handlers, root.propagate = saved, propagate
    for text in collected:
        warnings.warn(f"{folder}: {report_summary(text)}", UserWarning, stacklevel=3)


def report_summary(text: str) -> str:
    """transformers' LOAD REPORT table -> "MISSING a, b; MISMATCH c (ckpt ... vs model ...)"; other
    log text -> one plain line."""
    by_status: dict[str, list[str]] = {}
    for line in _ESCAPES.sub("", text).splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) >= 2 and cells[1] in ("MISSING", "UNEXPECTED", "MISMATCH"):
            detail = f" ({cells[2]})" if cells[1] == "MISMATCH" and len(cells) > 2 and cells[2] else ""
            by_status.setdefault(cells[1], []).append(cells[0] + detail)
    if not by_status:
        return plain_line(text)
    words = {"MISSING": "weights not in the checkpoint (initialised at random)",
             "UNEXPECTED": "checkpoint weights the model does not use", "MISMATCH": "weights of another shape"}
    return plain_line("; ".join(f"{words[k]}: {', '.join(v[:5])}" + (f", ... ({len(v)} in all)" if len(v) > 5 else "")
                                for k, v in by_status.items()))


def load_failure(folder, what: str, err: BaseException, report: list[str] | None = None) -> InputError:
    """The one-line InputError for a model folder that ``from_pretrained`` could not load.

    A pickled ``pytorch_model.bin`` (refused by torch's ``weights_only`` loader) is said
    in words instead of torch's long, coloured explanation; weights whose shapes differ
    from ``config.json`` name them (from the collected ``report``); anything else is
    "cannot load the WHAT (first line of the library's message)".
    """
    import pickle

    if isinstance(err, pickle.UnpicklingError) or "weights only load failed" in str(err).lower():
        return InputError(f"{folder}: the weights file holds pickled Python objects, which are not loaded "
                          f"for safety; use a safetensors copy of the model")
    if isinstance(err, MemoryError):
        return InputError(f"{folder}: the {what} needs more memory than is available")
    if isinstance(err, RecursionError):
        return InputError(f"{folder}: a file of the {what} is nested too deeply to read")
    if "ignore_mismatched_sizes" in str(err) or "size mismatch" in str(err):
        details = "; ".join(report_summary(t) for t in report or []) or first_line(err)
        return InputError(f"{folder}: the weights do not match config.json ({details})")
    return InputError(f"{folder}: cannot load the {what} ({first_line(err)})")

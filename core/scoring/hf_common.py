"""Helpers the Hugging Face back ends share (the embedding probe and the HF classifier)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import torch


def hf_load_kwargs(folder: Path, dtype: "torch.dtype", trust_remote_code: bool = False) -> dict:
    """Keyword arguments for ``from_pretrained`` on a local folder: offline, the given dtype,
    safetensors when the folder has them, no remote code unless asked."""
    import transformers

    transformers.utils.logging.disable_progress_bar()  # no per-load bars in the CLI or the app's log
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


def load_failure(folder, what: str, err: BaseException) -> InputError:
    """The one-line InputError for a model folder that ``from_pretrained`` could not load.

    A pickled ``pytorch_model.bin`` (refused by torch's ``weights_only`` loader) is said
    in words instead of torch's long, coloured explanation; anything else is
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
    return InputError(f"{folder}: cannot load the {what} ({first_line(err)})")

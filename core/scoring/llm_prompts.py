"""Prompt templates of the causal-LM scorer (:mod:`core.scoring.llm`).

Each mode has a template with named fields and the continuations scored after
it; each continuation starts with a space (``" positive"``), so its tokens are
the ones the model would write next.

* classes: ``CLASS_PROMPT`` = ``"Text: {text}\nThis text is about"`` (a custom
  template may also use ``{classes}``, the class names joined by ", ");
  continuations ``" " + class name``; then contextual calibration (Zhao et al.
  2021): each class probability is divided by its mean probability when the
  text is one of ``CONTENT_FREE`` ("N/A", "", "[MASK]"), and rows renormalised.
* multiple choice: ``MC_CLOZE_PROMPT`` = ``"Question: {question}\nAnswer:"``,
  or ``MC_LISTED_PROMPT`` that also lists the options (``{options}``: one
  ``"A. option"`` line each); continuations ``" " + option text``.
* P(True): ``PTRUE_PROMPT`` (Kadavath et al. 2022) with ``{question}`` and
  ``{answer}``; continuations ``" (A)"`` (True) and ``" (B)"`` (False).

Why these, measured with ``python benchmarks/bench_llm.py --prompts`` on small
hand-written sets (sentiment 40 texts / 4 news topics 40 / 4 emotions 24) with
the bundled SmolLM2-135M-Instruct, accuracy without -> with calibration:

  "Text: ...\nWhich category fits best: a, b, ...?\nAnswer:"  0.50/0.25/0.38 -> 0.48/0.35/0.25
  the same in the chat template                                0.60/0.25/0.42 -> 0.72/0.35/0.54
  "Text: ...\nCategory:"                                         0.88/0.65/0.83 -> 0.97/0.75/0.79
  "Text: ..." in the chat template, "Category:" opening the reply  0.97/0.68/0.92 -> 0.97/0.82/0.92
  "Text: ...\nThis text is about" (default)                      0.55/0.62/0.79 -> 0.97/0.78/0.96

Naming the classes in the prompt leaves this small model near chance (it tends
to copy one listed name). With calibration the default ties the chat-template
variant (mean 0.90 vs 0.91; also on the topics renamed "world news", "sports",
"business", "science and technology": 0.88 vs 0.90) while the chat template's
system turn roughly doubles the tokens of a short text, so prompts are plain
text unless ``chat=True`` (then all but the last line of the prompt form the
user turn and the last line opens the assistant turn). Multiple choice: cloze
0.70 against 0.30 with the options listed (0.27 scoring the letters). P(True)
with the Kadavath prompt is near chance on this model (AUROC 0.52; 0.48 in the
chat template).
"""

from __future__ import annotations

import string

from ..errors import InputError

CLASS_PROMPT = "Text: {text}\nThis text is about"
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
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("chat=True: this model's tokenizer has no chat template")
    body, _, cue = text.rpartition("\n")
    head = tokenizer.apply_chat_template(
        [{"role": "user", "content": body}], add_generation_prompt=True, tokenize=False
    )
    return head + cue

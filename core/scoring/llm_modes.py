"""Which causal-LM mode a dataset's columns call for, and reading its rows for that mode.

``detect_llm_mode(dataset)`` -> (mode, columns); the other functions turn the table's
cells into questions, options and answer positions for :mod:`core.scoring.llm`, raising
InputError that names the file, row and column of a bad cell.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..data import json_cell
from ..errors import InputError

if TYPE_CHECKING:
    from ..data import Dataset
    from ..progress import RunContext

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


def cell_text(v) -> str:
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
                items = json_cell(text)
            except ValueError:
                raise InputError(f"{source}: row {row}: column {col!r} starts with '[' "
                                 "but is not a JSON list") from None
            if not isinstance(items, list):
                raise InputError(f"{source}: row {row}: column {col!r} is not a JSON list")
        else:
            items = text.split("|")
    items = [cell_text(x) for x in items]
    if len(items) < 2 or any(not x for x in items):
        raise InputError(f"{source}: row {row}: column {col!r} needs at least 2 non-empty options "
                         f"(a JSON list or text separated by '|')")
    return items


def mc_rows(dataset: "Dataset", cols: dict) -> tuple[list[str], list[list[str]], list]:
    """(questions, options per row, option column names or None)."""
    table, source = dataset.table, dataset.source
    questions = [cell_text(v) for v in table[cols["question"]]]
    if cols["options"] is not None:
        col = cols["options"]
        options = [_parse_options_cell(v, source, r, col) for r, v in enumerate(table[col])]
        return questions, options, None
    option_cols = cols["option_cols"]
    values = table[option_cols].to_numpy(dtype=object)
    options = []
    for r, vals in enumerate(values):
        texts = [cell_text(v) for v in vals]
        k = len(texts)
        while k and not texts[k - 1]:
            k -= 1
        if k < 2 or not all(texts[:k]):
            gap = next((option_cols[i] for i in range(k) if not texts[i]), option_cols[min(k, 1)])
            raise InputError(f"{source}: row {r}: option column {gap!r} is empty (need at least 2 options, "
                             "filled from the first column on)")
        options.append(texts[:k])
    return questions, options, option_cols


def answer_positions(dataset: "Dataset", option_cols, k_max: int, ctx: "RunContext") -> np.ndarray:
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


def true_false_columns(dataset: "Dataset") -> tuple[int, int]:
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

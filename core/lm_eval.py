"""Read EleutherAI lm-evaluation-harness ``--log_samples`` files of multiple-choice tasks.

What lm-eval writes (read from its code, v0.4.0 to v0.4.13; v0.4.13 also run, its files read back):

- v0.4.3 and later (``EvaluationTracker.save_results_samples``): one folder per
  model (``model_name_sanitized``) holding ``samples_<task>_<date>.jsonl``, one
  JSON object a line: ``doc_id``, ``doc``, ``target``, ``arguments`` as
  ``{"gen_args_0": {"arg_0": context, "arg_1": delimiter + choice}, ...}``,
  ``resps`` (per request ``[[loglikelihood, is_greedy]]``) and ``filtered_resps``
  (per request ``[loglikelihood, is_greedy]``), both turned into strings by
  ``sanitize_list``; ``doc_hash``, ``prompt_hash``, ``target_hash`` (sha256);
  from v0.4.5 ``target`` is ``str(target)``; from v0.4.8 or so ``filter`` and
  ``metrics`` (the names of the per-row metrics); then the metrics themselves
  (``acc``, ``acc_norm``, ...).
- v0.4.0 to v0.4.2 (``__main__``): ``<model_args>_<task>.jsonl`` holding one
  indented JSON array; ``arguments`` a list of ``[context, continuation]``;
  numbers and booleans raw; no hashes, ``filter`` or ``metrics``.

Either content (JSON lines or one JSON array) is read from a ``.jsonl`` or
``.json`` file. lm-eval scores a multiple-choice row as ``acc`` = argmax of the
log-likelihoods equals the gold index and ``acc_norm`` = the same after dividing
each log-likelihood by its choice's length in characters; ``target`` is the gold
index or the gold choice's text (``str(index)`` in newer files, disambiguated
here against the row's own ``acc``). lm-eval turns a template target that renders
as digits into an index, so a choice's text such as ``"56"`` among 4 choices
becomes index 56, which its ``process_results`` sets to -100: no choice is the
key and ``acc`` is 0 for every model. Such a row keeps the choice with that text
as its key here, marked ``key_missing`` (lm-eval could not score it), unless the
row's ``acc`` shows lm-eval matched the text. A task with ``acc_mutual_info`` logs the
unconditional requests after the conditional ones: they are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl?$")


@dataclass
class ModelSamples:
    """One model's rows of one task, ordered by ``doc_id``.

    loglik: (n, k_max) float64, -inf where a question has fewer choices;
    lengths: (n, k_max) choice lengths in characters (1 where absent);
    acc / acc_norm: the file's own per-row metrics (None when not logged).
    """

    model: str
    task: str
    path: Path
    doc_ids: np.ndarray
    doc_hashes: list
    prompts: list[str]
    choices: list[list[str]]
    gold: np.ndarray
    loglik: np.ndarray
    lengths: np.ndarray
    acc: np.ndarray | None
    acc_norm: np.ndarray | None
    line_of: dict = field(default_factory=dict)
    key_missing: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.doc_ids)


@dataclass
class LmEvalTask:
    """One task's questions and every model's log-likelihoods on them (rows aligned)."""

    task: str
    doc_ids: np.ndarray
    prompts: list[str]
    choices: list[list[str]]
    gold: np.ndarray
    models: dict[str, ModelSamples]
    key_missing: np.ndarray | None = None  # (n,) bool: lm-eval read the key as an index past the last choice

    @property
    def n(self) -> int:
        return len(self.doc_ids)

    @property
    def n_choices(self) -> np.ndarray:
        return np.array([len(c) for c in self.choices])

    @property
    def k_max(self) -> int:
        return int(self.n_choices.max())

    def probs(self, model: str, *, norm: bool = False) -> np.ndarray:
        """(n, k_max) option probabilities: softmax of the log-likelihoods (``norm``: divided by length, as acc_norm)."""
        return option_probs(self.models[model].loglik, self.models[model].lengths if norm else None)


def option_probs(loglik: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Softmax over each row's options of ``loglik`` (or ``loglik / lengths``); absent options (-inf) get 0."""
    from scipy.special import softmax

    scores = loglik if lengths is None else loglik / lengths
    return softmax(scores, axis=1)


def question_text(prompt: str) -> str:
    """The question without its few-shot examples: the prompt after the last blank line."""
    return prompt.rsplit("\n\n", 1)[-1].strip()


# ---------------------------------------------------------------- reading one file

def read_records(path) -> list[dict]:
    """The rows of a samples file: JSON lines or one JSON array; InputError naming the line otherwise."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"{p}: cannot read ({err.strerror})") from None
    if not text.strip():
        raise InputError(f"{p}: the file is empty")
    from .data import parse_json  # bounded nesting

    if text.lstrip().startswith("["):
        rows = parse_json(text, str(p))
    else:
        rows = []
        for number, line in enumerate(text.split("\n"), 1):  # JSONL: U+2028 etc. inside a string are text
            if line.strip():
                rows.append(parse_json(line, f"{p}: line {number}"))
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InputError(f"{p}: row {i}: expected a JSON object per sample")
    return rows


def _requests(row: dict, where: str) -> list[tuple[str, str]]:
    args = row.get("arguments")
    if isinstance(args, dict):  # v0.4.3+: {"gen_args_0": {"arg_0": ctx, "arg_1": cont}}
        keys = sorted(args, key=lambda k: int(k.rsplit("_", 1)[-1]) if k.rsplit("_", 1)[-1].isdigit() else 0)
        args = [[args[k].get(f"arg_{j}") for j in range(len(args[k]))] for k in keys if isinstance(args[k], dict)]
    if not isinstance(args, list) or not args:
        raise InputError(f"{where}: no 'arguments' (each choice's context and continuation)")
    out = []
    for a in args:
        if not isinstance(a, list) or len(a) < 2 or not isinstance(a[0], str) or not isinstance(a[1], str):
            raise InputError(f"{where}: its requests are not (context, continuation) pairs: not a multiple-choice "
                             "log-likelihood task (generate_until tasks cannot be reviewed here)")
        out.append((a[0], a[1]))
    return out


def _loglik(entry, where: str) -> float:
    while isinstance(entry, list) and entry and isinstance(entry[0], list):
        entry = entry[0]  # resps nest each request's responses one level deeper than filtered_resps
    value = entry[0] if isinstance(entry, list) and entry else entry
    try:
        ll = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: response {value!r} is not a log-likelihood (a generate_until task?)") from None
    if np.isnan(ll) or ll == np.inf:
        raise InputError(f"{where}: log-likelihood {value!r} is not a finite number")
    return ll


def _metric(row: dict, name: str):
    value = row.get(name)
    try:
        return float(value) if value is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _gold(target, choices: list[str], lls: np.ndarray, acc: float, where: str) -> tuple[int, bool]:
    """(gold index, key_missing) from ``target``: an index, the choice's text, or ``str(index)``; key_missing
    when lm-eval read a choice's digits as an index past the last choice (see module docstring)."""
    if isinstance(target, list):
        raise InputError(f"{where}: several gold answers (a list target) are not supported")
    if isinstance(target, bool) or target is None:
        raise InputError(f"{where}: target {target!r} is neither a choice index nor a choice's text")
    if isinstance(target, float) and target.is_integer():
        target = int(target)
    text = str(target)
    digits = re.fullmatch(r"\d+", text.strip()) is not None
    as_index = int(text) if digits and int(text) < len(choices) else None
    stripped = [c.strip() for c in choices]
    as_text = choices.index(text) if text in choices else (stripped.index(text.strip()) if text.strip() in stripped
                                                           else None)
    if isinstance(target, int) and as_index is None and as_text is None:
        raise InputError(f"{where}: target {target} is out of range for {len(choices)} choices")
    if isinstance(target, int) and as_index is not None:
        return as_index, False
    pred = int(np.argmax(lls))
    if as_index is not None and as_text is not None and as_index != as_text and not np.isnan(acc):
        fits = [g for g in (as_index, as_text) if (pred == g) == bool(acc)]
        return (fits[0] if fits else as_index), False
    if as_index is not None:
        return as_index, False
    if as_text is not None:
        # digits past the last choice: lm-eval made them an index (gold -100) unless its acc says it matched the text
        return as_text, digits and not (acc == 1.0 and pred == as_text)
    raise InputError(f"{where}: target {text!r} is neither a choice index nor one of the choices")


def _gold_from_acc(choices: list[str], lls: np.ndarray, acc: float, where: str) -> int:
    """Gold of a multiple_input row (e.g. winogrande), whose logged target is the shared continuation:
    the model's pick when ``acc`` is 1, the other choice when it is 0 and there are two."""
    pred = int(np.argmax(lls))
    if acc == 1.0:
        return pred
    if acc == 0.0 and len(choices) == 2:
        return 1 - pred
    raise InputError(f"{where}: the gold answer of this multiple-input row cannot be recovered "
                     "(its target is the shared continuation and the row's acc does not settle it)")


def read_samples(path, *, model: str = "", task: str | None = None) -> ModelSamples:
    """Parse one lm-eval samples file of a multiple-choice task into a :class:`ModelSamples`.

    Rows of one filter only (the first the file names; multiple-choice tasks log
    just "none"). Raises InputError naming the file and row for anything that is
    not a multiple-choice log-likelihood sample.
    """
    p = Path(path)
    rows = read_records(p)
    first_filter = rows[0].get("filter")
    parsed, seen = [], {}
    for number, row in enumerate(rows, 1):
        where = f"{p}: row {number}"
        if row.get("filter") != first_filter:
            continue
        if "doc_id" not in row:
            raise InputError(f"{where}: no 'doc_id'")
        try:
            doc_id = int(row["doc_id"])
        except (TypeError, ValueError):
            raise InputError(f"{where}: doc_id {row['doc_id']!r} is not an integer") from None
        if doc_id in seen:
            raise InputError(f"{where}: doc_id {doc_id} appears twice (also row {seen[doc_id]})")
        seen[doc_id] = number
        requests = _requests(row, where)
        resps = row.get("filtered_resps", row.get("resps"))
        if not isinstance(resps, list) or len(resps) != len(requests):
            raise InputError(f"{where}: 'filtered_resps' does not hold one response per request")
        lls = np.array([_loglik(r, where) for r in resps], dtype=np.float64)
        if len(requests) % 2 == 0 and len(requests) >= 4:
            half = len(requests) // 2  # acc_mutual_info: unconditional ("", continuation) requests follow
            if all(c == "" for c, _ in requests[half:]) and [x for _, x in requests[half:]] == [x for _, x in requests[:half]]:
                requests, lls = requests[:half], lls[:half]
        conts = [c for _, c in requests]
        if len(requests) > 1 and len(set(conts)) == 1 and len({c for c, _ in requests}) > 1:
            choices = [question_text(c) for c, _ in requests]  # multiple_input (e.g. winogrande): contexts vary
            prompt = conts[0].strip()
        else:
            choices = [c[1:] for c in conts] if all(c.startswith(" ") for c in conts) else list(conts)
            prompt = requests[0][0]
        if len(choices) < 2:
            raise InputError(f"{where}: one choice only: not a multiple-choice task")
        acc = _metric(row, "acc")
        if len(set(conts)) == 1 and len(requests) > 1:
            gold, missing = _gold_from_acc(choices, lls, acc, where), False  # multiple_input: gold is doc_to_text
        else:
            gold, missing = _gold(row.get("target"), choices, lls, acc, where)
        parsed.append((doc_id, row.get("doc_hash"), prompt, choices, gold, lls, acc, _metric(row, "acc_norm"), number,
                       missing))
    parsed.sort(key=lambda r: r[0])
    n, k = len(parsed), max(len(r[3]) for r in parsed)
    loglik = np.full((n, k), -np.inf)
    lengths = np.ones((n, k))
    for i, r in enumerate(parsed):
        loglik[i, : len(r[3])] = r[5]
        lengths[i, : len(r[3])] = [max(len(c), 1) for c in r[3]]
    acc = np.array([r[6] for r in parsed])
    acc_norm = np.array([r[7] for r in parsed])
    pred = loglik.argmax(axis=1)
    gold_arr = np.array([r[4] for r in parsed])
    key_missing = np.array([r[9] for r in parsed], dtype=bool)
    logged = ~np.isnan(acc)
    differ = np.flatnonzero(logged & (((pred == gold_arr) & ~key_missing) != (acc == 1.0)))
    if len(differ):
        i = int(differ[0])
        raise InputError(f"{p}: row {parsed[i][8]}: its acc {acc[i]:g} is not whether the highest log-likelihood "
                         "is the key: a task with its own metric (such as truthfulqa_mc2), not plain multiple choice")
    name = task or task_name(p)
    return ModelSamples(
        model=model, task=name, path=p,
        doc_ids=np.array([r[0] for r in parsed], dtype=np.int64), doc_hashes=[r[1] for r in parsed],
        prompts=[r[2] for r in parsed], choices=[r[3] for r in parsed],
        gold=np.array([r[4] for r in parsed], dtype=np.int64), loglik=loglik, lengths=lengths,
        acc=None if np.isnan(acc).all() else acc, acc_norm=None if np.isnan(acc_norm).all() else acc_norm,
        line_of={r[0]: r[8] for r in parsed}, key_missing=key_missing,
    )


def task_name(path: Path) -> str:
    """``samples_<task>_<date>.jsonl`` -> task; any other name -> the file's stem."""
    m = SAMPLES_NAME.match(Path(path).name)
    return m.group("task") if m else Path(path).stem


def _common_task(paths: list[Path]) -> str:
    """One benchmark's name for single files: the task of a ``samples_`` name, else the stems' common
    ``_<task>`` suffix (v0.4.0-v0.4.2 name files ``<model_args>_<task>.jsonl``), else the first stem."""
    for p in paths:
        if SAMPLES_NAME.match(p.name):
            return task_name(p)
    stems = [p.stem for p in paths]
    if len(stems) > 1:
        suffix = stems[0]
        for s in stems[1:]:
            while not s.endswith(suffix):
                suffix = suffix[1:]
        if "_" in suffix:
            tail = suffix[suffix.index("_") + 1:] if not suffix.startswith("_") else suffix[1:]
            if tail:
                return tail
    return stems[0]


# ---------------------------------------------------------------- finding files

def samples_files(folder: Path) -> dict[str, Path]:
    """task -> the newest ``samples_<task>_<date>.jsonl`` in one model's folder; for v0.4.0-v0.4.2
    folders, ``<model_args>_<task>.jsonl`` files whose task is named in the folder's results JSON."""
    found: dict[str, tuple[str, Path]] = {}
    for f in sorted(folder.iterdir()):
        m = SAMPLES_NAME.match(f.name)
        if m and f.is_file() and (m.group("task") not in found or m.group("date") > found[m.group("task")][0]):
            found[m.group("task")] = (m.group("date"), f)
    if not found:
        return _old_samples_files(folder)
    return {t: f for t, (_, f) in sorted(found.items())}


def _old_samples_files(folder: Path) -> dict[str, Path]:
    """v0.4.0-v0.4.2: ``<model_args>_<task>.jsonl`` beside a results JSON whose ``configs`` name the tasks."""
    from .data import parse_json  # bounded nesting

    tasks: set[str] = set()
    for f in folder.glob("*.json"):
        try:
            doc = parse_json(f.read_text(encoding="utf-8"), str(f))
        except (OSError, UnicodeDecodeError, InputError):
            continue
        if isinstance(doc, dict):
            for key in ("configs", "results"):
                if isinstance(doc.get(key), dict):
                    tasks.update(map(str, doc[key]))
    out = {}
    for f in sorted(folder.glob("*.jsonl")):
        match = max((t for t in tasks if f.stem.endswith("_" + t)), key=len, default=None)
        if match:
            out[match] = f
    return dict(sorted(out.items()))


def model_files(models: dict[str, str] | None = None, lm_eval_dir=None) -> dict[str, dict[str, Path]]:
    """task -> {model -> samples file} from NAME=PATH pairs and/or an lm-eval output folder.

    PATH is one samples file (its task from the name; when every PATH is a single
    file they form one benchmark named after the first) or one model's folder.
    ``lm_eval_dir`` holds one model per subfolder, named after the subfolder.
    """
    specs: dict[str, Path] = {name: Path(path) for name, path in (models or {}).items()}
    if lm_eval_dir is not None:
        root = Path(lm_eval_dir)
        if not root.is_dir():
            raise InputError(f"{root}: not a folder (--lm-eval-dir takes lm-eval's --output_path folder)")
        subs = [d for d in sorted(root.iterdir()) if d.is_dir() and samples_files(d)]
        if not subs and samples_files(root):
            subs = [root]  # lm-eval run with --output_path FILE.json: one model's files in the folder itself
        if not subs:
            raise InputError(f"{root}: no model subfolder holds lm-eval samples files (samples_<task>_<date>.jsonl) "
                             "(run lm-eval with --log_samples)")
        for d in subs:
            if d.name in specs:
                raise InputError(f"{root}: model {d.name!r} is also given with --lm-eval")
            specs[d.name] = d
    if not specs:
        raise InputError("no lm-eval results: pass --lm-eval NAME=PATH or --lm-eval-dir DIR")
    single = all(p.is_file() for p in specs.values())
    tasks: dict[str, dict[str, Path]] = {}
    for name, p in specs.items():
        if p.is_file():
            task = _common_task(list(specs.values())) if single else task_name(p)
            tasks.setdefault(task, {})[name] = p
        elif p.is_dir():
            files = samples_files(p)
            if not files:
                raise InputError(f"{p}: no samples_<task>_<date>.jsonl files (run lm-eval with --log_samples)")
            for task, f in files.items():
                tasks.setdefault(task, {})[name] = f
        else:
            raise InputError(f"{p}: no such file or folder (model {name!r})")
    return tasks


# ---------------------------------------------------------------- aligning models

def load_task(task: str, files: dict[str, Path]) -> LmEvalTask:
    """Read each model's file of ``task`` and check they hold the same questions.

    Questions match by ``doc_id`` and, where both files log it, ``doc_hash``; the
    gold answer and the choices must agree too. InputError names the file and row.
    """
    samples = {name: read_samples(path, model=name, task=task) for name, path in files.items()}
    ref_name, ref = next(iter(samples.items()))
    for name, s in samples.items():
        if s is ref:
            continue
        for a, b in ((s, ref), (ref, s)):
            missing = np.setdiff1d(a.doc_ids, b.doc_ids)
            if len(missing):
                d = int(missing[0])
                raise InputError(f"{a.path}: row {a.line_of[d]}: doc_id {d} is not in {b.path} "
                                 f"(models {a.model!r} and {b.model!r} were evaluated on different questions)")
        for i, d in enumerate(s.doc_ids):
            where = f"{s.path}: row {s.line_of[int(d)]}"
            h1, h2 = s.doc_hashes[i], ref.doc_hashes[i]
            if h1 and h2 and h1 != h2:
                raise InputError(f"{where}: doc_id {d}'s doc_hash differs from {ref.path} row "
                                 f"{ref.line_of[int(d)]}: not the same question")
            if s.choices[i] != ref.choices[i]:
                raise InputError(f"{where}: doc_id {d}'s choices differ from {ref.path} row {ref.line_of[int(d)]}")
            if s.gold[i] != ref.gold[i]:
                raise InputError(f"{where}: doc_id {d}'s target differs from {ref.path} row {ref.line_of[int(d)]}")
    k = max(s.loglik.shape[1] for s in samples.values())
    for s in samples.values():  # a model's file may hold only questions with fewer choices: never, as ids match
        if s.loglik.shape[1] < k:
            pad = k - s.loglik.shape[1]
            s.loglik = np.pad(s.loglik, ((0, 0), (0, pad)), constant_values=-np.inf)
            s.lengths = np.pad(s.lengths, ((0, 0), (0, pad)), constant_values=1.0)
    # a row's acc settles key_missing only where its model picked the key: one file whose acc shows that
    # lm-eval matched the key's text settles it for all
    key_missing = np.all([s.key_missing for s in samples.values()], axis=0)
    return LmEvalTask(task=task, doc_ids=ref.doc_ids, prompts=ref.prompts, choices=ref.choices, gold=ref.gold,
                      models=samples, key_missing=key_missing)

"""Write samples files exactly as EleutherAI lm-evaluation-harness does, per version.

Mirrors, line for line where it matters:
- the ``example`` dict of ``lm_eval/evaluator.py`` (``evaluate``, ``if log_samples:``),
- ``ConfigurableTask.process_results`` for ``multiple_choice`` (acc, acc_norm),
- v0.4.0-v0.4.2 ``__main__.py``: ``json.dumps(samples, indent=2)`` into
  ``<model_args>_<task>.jsonl``,
- v0.4.3+ ``EvaluationTracker.save_results_samples``: arguments as
  ``gen_args_i/arg_j``, ``sanitize_list`` on resps, one JSON line per sample into
  ``samples_<task>_<date>.jsonl``; v0.4.5+ ``target = str(target)``; v0.4.11
  adds ``filter`` and ``metrics``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

VERSIONS = ("0.4.0", "0.4.3", "0.4.5", "0.4.11")


def hash_string(string: str) -> str:
    return hashlib.sha256(string.encode("utf-8")).hexdigest()


def handle_non_serializable(o):
    if isinstance(o, (np.int64, np.int32)):
        return int(o)
    elif isinstance(o, set):
        return list(o)
    else:
        return str(o)


def sanitize_list(sub):
    if isinstance(sub, list):
        return [sanitize_list(item) for item in sub]
    if isinstance(sub, tuple):
        return tuple(sanitize_list(item) for item in sub)
    else:
        return str(sub)


def process_results(choices, lls, gold):
    """lm-eval's multiple_choice metrics for one doc (acc, acc_norm)."""
    completion_len = np.array([float(len(i)) for i in choices])
    pred = np.argmax(lls)
    pred_norm = np.argmax(np.array(lls) / completion_len)
    if isinstance(gold, str):
        gold = choices.index(gold) if gold in choices else -100
    return {"acc": 1.0 if pred == gold else 0.0, "acc_norm": 1.0 if pred_norm == gold else 0.0}


def make_samples(docs, lls_per_doc, *, version: str, target_as_text=False, delimiter=" "):
    """The logged samples of one task. docs: dicts with ``question``, ``choices``, ``answer`` (index)."""
    new = _ver(version) >= _ver("0.4.3")
    samples = []
    for doc_id, (doc, lls) in enumerate(zip(docs, lls_per_doc)):
        ctx = f"Question: {doc['question']}\nAnswer:"
        choices = doc["choices"]
        target = choices[doc["answer"]] if target_as_text else doc["answer"]
        args = [(ctx, f"{delimiter}{c}") for c in choices]
        resps = [[(float(ll), bool(i == int(np.argmax(lls))))] for i, ll in enumerate(lls)]
        filtered = [r[0] for r in resps]  # the "none" filter: take_first
        metrics = process_results(choices, [r[0] for r in filtered], target)
        example = {
            "doc_id": doc_id,
            "doc": doc,
            "target": target,
            "arguments": args,
            "resps": resps,
            "filtered_resps": filtered,
        }
        if _ver(version) >= _ver("0.4.11"):
            example["filter"] = "none"
            example["metrics"] = list(metrics.keys())
        if new:
            example["doc_hash"] = hash_string(json.dumps(doc, indent=2, default=handle_non_serializable,
                                                         ensure_ascii=False))
            example["prompt_hash"] = hash_string(args[0][0])
            example["target_hash"] = hash_string(str(target))
        example.update(metrics)
        samples.append(example)
    return samples


def write_samples(folder: Path, task: str, samples, *, version: str, model_args="pretrained=org/model",
                  date_id="2024-05-01T12-30-45.123456") -> Path:
    """Write ``samples`` as that lm-eval version does; returns the file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if _ver(version) < _ver("0.4.3"):
        output_name = "{}_{}".format(re.sub("/|=", "__", model_args), task)
        filename = folder.joinpath(f"{output_name}.jsonl")
        samples = [{**s, "arguments": [list(a) for a in s["arguments"]]} for s in samples]
        filename.write_text(json.dumps(samples, indent=2, default=handle_non_serializable, ensure_ascii=False),
                            encoding="utf-8")
        return filename
    file_results_samples = folder / f"samples_{task}_{date_id}.jsonl"
    with open(file_results_samples, "a", encoding="utf-8") as f:
        for sample in samples:
            sample = dict(sample)
            arguments = {}
            for i, arg in enumerate(sample["arguments"]):
                arguments[f"gen_args_{i}"] = {}
                for j, tmp in enumerate(arg):
                    arguments[f"gen_args_{i}"][f"arg_{j}"] = tmp
            sample["resps"] = sanitize_list(sample["resps"])
            sample["filtered_resps"] = sanitize_list(sample["filtered_resps"])
            sample["arguments"] = arguments
            if _ver(version) >= _ver("0.4.5"):
                sample["target"] = str(sample["target"])
            f.write(json.dumps(sample, default=handle_non_serializable, ensure_ascii=False) + "\n")
    return file_results_samples


def _ver(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))

"""The one audit pipeline behind the CLI and the GUI: load -> score -> audit -> calibrate.

:func:`run_audit` takes an :class:`AuditConfig` (the command-line options) and a
:class:`~core.progress.RunContext` (progress, notices, cancel) and returns an
:class:`AuditReport`; :func:`write_outputs` writes the files of the CLI contract.
The GUI calls the same two functions from its worker thread.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import RunContext

if TYPE_CHECKING:
    from .audit import AuditResult
    from .data import Dataset
    from .recalibration import RecalibrationResult
    from .scoring.base import ScoreResult

RECALIBRATION_METHODS = ("temperature", "isotonic", "histogram", "auto")


@dataclass
class AuditConfig:
    """Everything a run needs; mirrors the options of ``labelaudit audit``."""

    data: str | None = None
    label_col: str | None = None
    text_col: str | None = None
    image_col: str | None = None
    id_col: str | None = None
    classes: str | list[str] | None = None
    pred_probs: str | None = None
    logits: str | None = None
    model: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    folds: int = 5
    reviews: str | None = None
    recalibrate: str | None = None
    correctness: bool = False
    permute_options: int = 1
    seed: int = 0
    out: str | None = None
    int8: bool = False
    filter_by: str = "prune_by_noise_rate"
    rank_by: str | None = None
    num_issues: int | None = None
    frac_noise: float = 1.0
    annotators: str | None = None
    multi_label: bool = False
    cluster: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AuditConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class AuditReport:
    """Everything one pipeline run produced, for the CLI to write to --out and the GUI to
    show: config, dataset, ScoreResult, AuditResult, calibration and the summary.
    See the module docstring of core.pipeline.

    examples: one row per example in file order, with the columns of
    ``examples.parquet`` (row, id, given/predicted/suggested label indices,
    confidence, given_label_prob, label_quality, class_threshold,
    is_label_issue, the input column, and optional outlier/review/recalibration
    columns). summary: exactly what ``summary.json`` holds.
    """

    config: AuditConfig
    dataset: "Dataset"
    pred_probs: np.ndarray
    audit: "AuditResult"
    calibration: dict
    examples: pd.DataFrame
    summary: dict
    score: "ScoreResult | None" = None
    reviews: pd.DataFrame | None = None
    recalibration: "RecalibrationResult | None" = None
    notices: list[str] = field(default_factory=list)

    @property
    def class_names(self) -> list[str]:
        return self.dataset.class_names

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.labels


def _validate(config: AuditConfig) -> None:
    if not config.data:
        raise InputError("no dataset given: pass DATA (a table, a .npy of labels or an image folder)")
    if config.pred_probs and config.logits:
        raise InputError("pass either --pred-probs or --logits, not both")
    if (config.pred_probs or config.logits) and config.model:
        raise InputError("pass either --model or --pred-probs/--logits, not both")
    if config.folds < 2:
        raise InputError(f"--folds must be at least 2 (got {config.folds})")
    if config.batch_size is not None and config.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1 (got {config.batch_size})")
    if config.permute_options > 1 and (config.pred_probs or config.logits):
        raise InputError("--permute-options re-scores the questions with a causal LM: use --model llm "
                         "(or an LM folder) instead of --pred-probs/--logits")
    if config.cluster:
        from .scoring.cluster import parse_cluster, require_ray

        parse_cluster(config.cluster)
        if config.pred_probs or config.logits:
            raise InputError("--cluster scores with a model on Ray; with --pred-probs/--logits there is nothing to score")
        require_ray()
    from .detection import DetectionMethod

    DetectionMethod.from_config(config)  # InputError for a bad --filter-by / --rank-by / --num-issues / --frac-noise
    if config.annotators and config.annotators not in ("long", "wide", "votes"):
        raise InputError(f"--annotators must be long, wide or votes (got {config.annotators!r})")
    if config.annotators == "votes" and not config.reviews:
        raise InputError("--annotators votes needs --reviews FILE (a labelerrors mturk.json with vote counts)")
    if config.recalibrate and config.recalibrate not in RECALIBRATION_METHODS:
        raise InputError(
            f"--recalibrate must be one of {', '.join(RECALIBRATION_METHODS)} (got {config.recalibrate!r})"
        )


def load_dataset_for(config: AuditConfig) -> "Dataset":
    """Load DATA with the config's column overrides and classes (an annotation table with --annotators long|wide)."""
    from .data import load_dataset

    if config.annotators in ("long", "wide"):
        from .multiannotator import load_annotated_dataset

        return load_annotated_dataset(config)

    return load_dataset(
        config.data,
        label_col=config.label_col,
        text_col=config.text_col,
        image_col=config.image_col,
        id_col=config.id_col,
        classes=config.classes,
    )


def run_audit(config: AuditConfig, ctx: RunContext | None = None) -> AuditReport:
    """Load the data, get probabilities (from a file or a model), audit them.

    Raises InputError for user mistakes and Cancelled when ``ctx.cancel()`` was called.
    """
    ctx = ctx or RunContext()
    _validate(config)
    from .audit_stream import run_streamed_audit, wants_streaming

    if wants_streaming(config):  # a big .npy of predictions: audited out of core, chunk by chunk
        return run_streamed_audit(config, ctx)
    t0 = time.perf_counter()
    if config.annotators is None:
        from .multiannotator import looks_long

        if looks_long(config.data):
            ctx.notice(f"{config.data}: has an annotator column: several labels per example, so the run finds "
                       "their consensus (CROWDLAB); pass --annotators long to say so")
            config = replace(config, annotators="long")
    dataset = load_dataset_for(config)
    timings = {"load": time.perf_counter() - t0}
    ctx.check_cancelled()

    score = None
    t0 = time.perf_counter()
    if config.pred_probs or config.logits:
        from .predictions import load_predictions

        pred_probs = load_predictions(
            config.pred_probs or config.logits,
            n_examples=dataset.n,
            n_classes=dataset.n_classes,
            logits=bool(config.logits),
            ctx=ctx,
        )
    else:
        from .scoring import make_scorer

        scorer = make_scorer(
            config.model,
            dataset=dataset,
            device=config.device,
            batch_size=config.batch_size,
            folds=config.folds,
            seed=config.seed,
            quantize=config.int8,
            **({"permute_options": config.permute_options} if config.permute_options > 1 else {}),
            **_cluster_option(config),
        )
        if config.permute_options > 1 and not hasattr(scorer, "permute_options"):
            raise InputError(f"--permute-options needs a causal LM (--model llm or an LM folder), not {config.model}")
        if config.cluster and not getattr(scorer, "runs_on_cluster", False):
            raise InputError(f"--cluster: the {scorer.name} scorer does not run on Ray yet (the probe's embeddings "
                             "and text classifiers do); drop --cluster to score on this machine")
        score = scorer.score(dataset, ctx)
        from .predictions import check_pred_probs

        # A model's float32 softmax misses 1 by rounding only: normalise it quietly
        # (check_pred_probs announces renormalisation, which is news for files only).
        probs = np.asarray(score.pred_probs, dtype=np.float64)
        pred_probs = check_pred_probs(
            probs / probs.sum(axis=1, keepdims=True),
            source=f"model {score.model}",
            n_examples=dataset.n,
            n_classes=dataset.n_classes,
            ctx=ctx,
        )
    timings["score"] = time.perf_counter() - t0
    return audit_arrays(dataset, pred_probs, config=config, ctx=ctx, score=score, timings=timings)


def _cluster_option(config: AuditConfig) -> dict:
    """``cluster=ClusterSpec`` for make_scorer when --cluster is set."""
    if not config.cluster:
        return {}
    from .scoring.cluster import parse_cluster

    return {"cluster": parse_cluster(config.cluster)}


def audit_arrays(
    dataset: "Dataset",
    pred_probs: np.ndarray,
    *,
    config: AuditConfig | None = None,
    ctx: RunContext | None = None,
    score: "ScoreResult | None" = None,
    timings: dict | None = None,
) -> AuditReport:
    """The audit half of the pipeline for probabilities already in hand.

    dataset: the loaded Dataset; pred_probs: checked (n, k) probabilities.
    Returns the AuditReport with the label audit, calibration, optional
    data-issue checks (when ``score`` has embeddings), reviews and recalibration.
    """
    from .audit import run_label_audit
    from .calibration import calibration_metrics

    config = config or AuditConfig(data=dataset.source)
    ctx = ctx or RunContext()
    timings = dict(timings or {})
    labels = dataset.labels

    t0 = time.perf_counter()
    from .detection import DetectionMethod

    method = DetectionMethod.from_config(config)
    stored = None
    if method.filter_by == "labelerrors-2021" and method.num_issues is None:
        from .detection import stored_probabilities

        stored = stored_probabilities(config, pred_probs.shape)
    audit = run_label_audit(labels, pred_probs, ctx=ctx, class_names=dataset.class_names, method=method,
                            stored_probs=stored)
    timings["audit"] = time.perf_counter() - t0
    ctx.check_cancelled()

    t0 = time.perf_counter()
    calibration = calibration_metrics(pred_probs, labels)
    timings["calibration"] = time.perf_counter() - t0

    examples = _examples_table(dataset, audit.examples)
    extra_summary: dict[str, Any] = {}

    if score is not None and score.embeddings is not None:
        t0 = time.perf_counter()
        from .data_issues import find_data_issues

        issues, counts = find_data_issues(score.embeddings, labels, pred_probs)
        for col in issues.columns:
            examples[col] = issues[col].to_numpy()
        extra_summary["data_issues"] = counts
        timings["data_issues"] = time.perf_counter() - t0

    reviews = None
    if config.reviews:
        from .verdicts import load_reviews

        reviews = load_reviews(config.reviews, n_examples=dataset.n, class_names=dataset.class_names)
        examples, review_summary = _merge_reviews(examples, reviews)
        extra_summary.update(review_summary)

    from .multiannotator import available

    if config.annotators and available(dataset, config):
        t0 = time.perf_counter()
        from .multiannotator import add_consensus

        extra_summary["annotators"] = add_consensus(examples, dataset, config, pred_probs)
        timings["annotators"] = time.perf_counter() - t0

    recal = None
    if config.recalibrate:
        t0 = time.perf_counter()
        from .recalibration import recalibrate

        # Temperature scaling on log-probabilities equals scaling the logits:
        # softmax(log_softmax(z) / T) == softmax(z / T), so the probabilities suffice.
        recal = recalibrate(pred_probs, labels, config.recalibrate, folds=config.folds, seed=config.seed)
        examples["confidence_recalibrated"] = recal.pred_probs.max(axis=1)
        extra_summary["recalibration"] = recal.to_summary()
        timings["recalibration"] = time.perf_counter() - t0

    if config.correctness:  # core.correctness: P(correct) beside raw confidence, cross-fitted
        t0 = time.perf_counter()
        from .correctness import correctness_model, summary as correctness_summary

        embeddings = score.embeddings if score is not None else None
        gcm = correctness_model(pred_probs, labels, embeddings=embeddings, folds=max(config.folds, 2), seed=config.seed)
        if gcm["p_correct"] is not None:
            examples["p_correct"] = gcm["p_correct"]
        extra_summary["correctness"] = correctness_summary(gcm)
        timings["correctness"] = time.perf_counter() - t0

    if score is not None and "position_bias" in score.extra:  # --permute-options (core.scoring.llm)
        extra_summary["position_bias"] = score.extra["position_bias"]

    if score is not None and ("p_true" in score.extra or "p_ik" in score.extra):
        from .selfknowledge import self_knowledge_report

        correct = np.asarray(score.extra["llm_correct"], dtype=bool)
        extra_summary["self_knowledge"] = {
            key: self_knowledge_report(np.asarray(score.extra[key]), correct)
            for key in ("p_true", "p_ik")
            if key in score.extra
        }

    summary = _summary(dataset, pred_probs, audit, calibration, config, score, timings)
    summary.update(extra_summary)
    return AuditReport(
        config=config,
        dataset=dataset,
        pred_probs=pred_probs,
        audit=audit,
        calibration=calibration,
        examples=examples,
        summary=summary,
        score=score,
        reviews=reviews,
        recalibration=recal,
        notices=list(ctx.notices),
    )


def report_from_saved(dataset: "Dataset", pred_probs: np.ndarray, examples: pd.DataFrame, summary: dict,
                      config: AuditConfig, *, source: str, ctx: RunContext | None = None) -> AuditReport:
    """The AuditReport of a saved run, without scoring again.

    The audit and calibration are recomputed from the stored ``pred_probs`` (read from
    ``source``, the project file); ``examples`` and ``summary`` are the stored ones, and
    the report keeps the run's own ``config``. Reviews are re-read only when their file is
    still there. ``report.notices`` holds the notices of ``ctx``. An out-of-core run (its
    summary has ``out_of_core``) is recomputed out of core: a StreamedReport.
    """
    ctx = ctx or RunContext()
    if "out_of_core" in summary:  # an out-of-core run: recomputed out of core too, as fast and as light
        from .audit_stream import reopen_streamed

        return reopen_streamed(config, dataset, pred_probs, examples, summary, source=source, ctx=ctx)
    stored = replace(config, pred_probs=source, logits=None, model=None,
                     reviews=config.reviews if config.reviews and Path(config.reviews).exists() else None)
    report = audit_arrays(dataset, pred_probs, config=stored, ctx=ctx)
    report.config = config
    col = input_column(dataset)
    if col is not None and col not in examples.columns and col in report.examples.columns:
        examples[col] = report.examples[col].to_numpy()
    report.examples = examples
    report.summary = summary
    report.notices = list(ctx.notices)
    return report


def input_column(dataset: "Dataset") -> str | None:
    """The column a person reads to judge an example: text, else image path."""
    return dataset.text_col or dataset.image_col


def _examples_table(dataset: "Dataset", per_example: pd.DataFrame) -> pd.DataFrame:
    examples = per_example.copy()
    examples.insert(1, "id", dataset.ids)
    col = input_column(dataset)
    if col is not None and col not in examples.columns:
        examples[col] = dataset.table[col].to_numpy()
    return examples


def _merge_reviews(examples: pd.DataFrame, reviews: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Add human-validation columns; count how many validated errors the flags contain."""
    n = len(examples)
    reviewed = np.zeros(n, dtype=bool)
    validated = np.zeros(n, dtype=bool)
    rows = reviews["row"].to_numpy()
    reviewed[rows] = True
    validated[rows] = reviews["is_validated_error"].to_numpy(dtype=bool)
    examples["human_reviewed"] = reviewed
    examples["is_validated_error"] = validated
    flagged = examples["is_label_issue"].to_numpy(dtype=bool)
    summary = {
        "n_reviewed": int(reviewed.sum()),
        "n_validated_errors": int(validated.sum()),
        "reviewed_flagged": int((flagged & reviewed).sum()),
        "validated_found": int((flagged & validated).sum()),
    }
    return examples, summary


def _summary(dataset, pred_probs, audit, calibration, config, score, timings) -> dict:
    flagged = audit.examples["is_label_issue"].to_numpy(dtype=bool)
    if score is not None:
        model, device = score.model, score.device
        timings = {**timings, **{f"score_{k}": v for k, v in score.timings_s.items()}}
    else:
        source = config.pred_probs or config.logits
        model = f"predictions from {Path(source).name}" if source else "predictions supplied by the caller"
        device = "none"
    return {
        "n_examples": int(dataset.n),
        "n_classes": int(dataset.n_classes),
        "class_names": list(dataset.class_names),
        "accuracy": calibration["accuracy"],
        "n_label_issues": int(flagged.sum()),
        "label_issue_rate": float(flagged.mean()) if len(flagged) else 0.0,
        "calibration": {k: calibration[k] for k in ("ece", "ece_equal_mass", "mce", "brier", "nll", "auroc")},
        "model": model,
        "device": device,
        "in_sample": bool(score.in_sample) if score is not None else False,
        "data": str(dataset.source),
        "columns": {
            "label": dataset.label_col,
            "text": dataset.text_col,
            "image": dataset.image_col,
            "id": dataset.id_col,
        },
        "detection": dict(audit.detection),
        "issues_per_class": audit.issues_per_class.to_dict(orient="records"),
        "top_corrections": audit.top_corrections.head(20).to_dict(orient="records"),
        "timings_s": {k: round(float(v), 4) for k, v in timings.items()},
    }

"""The ``labelaudit`` command.

    labelaudit                        open the app (same as ``labelaudit gui``)
    labelaudit gui [DATA|PROJECT.labelaudit] [options]   open the app with DATA loaded (--run starts the audit) or on a project
    labelaudit demo                   open the app on the bundled digits demo and run it
    labelaudit audit DATA [options]   headless audit, results in --out
    labelaudit benchmark ...          compare models on original vs corrected labels
    labelaudit export PROJECT ...     write a project's cleanset and decisions log

Exit codes: 0 success, 2 bad input (one line naming the file, column or row),
1 anything else. A user mistake never prints a traceback (set
LABELAUDIT_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import Cancelled, InputError, OutputError, plain_line
from .progress import ProgressEvent, RunContext

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def add_audit_options(p: argparse.ArgumentParser) -> None:
    """The options shared by ``audit`` and ``gui`` (design.md's audit options)."""
    cols = p.add_argument_group("columns (auto-detected when omitted)")
    cols.add_argument("--label-col", help="column holding the given labels")
    cols.add_argument("--text-col", help="column holding the text inputs")
    cols.add_argument("--image-col", help="column holding image paths (relative to the table's folder)")
    cols.add_argument("--id-col", help="column holding example ids")
    cols.add_argument("--classes", metavar="FILE", help="class names, one per line, in label-index order")
    src = p.add_argument_group("predictions: from a file, or from a model")
    src.add_argument("--pred-probs", metavar="FILE", help="predicted probabilities (n, k): npy, csv or parquet")
    src.add_argument("--logits", metavar="FILE", help="logits (n, k): npy, csv or parquet; softmaxed")
    src.add_argument(
        "--model",
        help="'probe' (bundled MiniLM embeddings + cross-validated logistic regression; default), "
        "'llm' (bundled SmolLM2 zero-shot), or a folder with a HF classifier, embedding model or causal LM",
    )
    src.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    src.add_argument("--batch-size", type=_positive_int, metavar="N")
    src.add_argument("--folds", type=_positive_int, default=5, metavar="K", help="cross-validation folds (default 5)")
    src.add_argument("--seed", type=int, default=0, help="seed for folds and shuffles (default 0)")
    src.add_argument("--int8", action="store_true", help="int8 dynamic quantisation on CPU (faster, approximate)")
    src.add_argument("--cluster", metavar="auto|local[:N]|ray://HOST:PORT",
                     help="score on Ray: the probe's embeddings or a text classifier, one model copy per GPU "
                     "or CPU slot (needs pip install labelaudit[cluster])")
    add_detection_options(p)
    p.add_argument("--reviews", metavar="FILE", help="human validation: labelerrors mturk.json or CSV (row,label,verdict)")
    p.add_argument(
        "--recalibrate",
        choices=["temperature", "isotonic", "histogram", "auto"],
        help="fit a recalibration with K-fold cross-fitting and report before/after",
    )
    p.add_argument("--permute-options", type=_positive_int, default=1, metavar="K",
                   help="LLM multiple choice: score each question under K cyclic orders of its options; report "
                        "position bias and use the probabilities averaged over the orders")
    p.add_argument("--correctness", action="store_true",
                   help="fit a cross-fitted correctness model (P(correct) beside raw confidence; summary.json)")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value}")
    return value


def add_detection_options(p: argparse.ArgumentParser) -> None:
    """--filter-by, --rank-by, --num-issues, --frac-noise (core.detection)."""
    from .detection import DEFAULT_FILTER_BY, FILTER_BY, RANK_BY

    det = p.add_argument_group("label-error detection (cleanlab's choices; see README 'Which method, and when')")
    det.add_argument(
        "--filter-by", choices=FILTER_BY, default=DEFAULT_FILTER_BY,
        help=f"which examples to flag (default {DEFAULT_FILTER_BY}); labelerrors-2021 = the recipe of "
        "'Pervasive Label Errors in Test Sets' (cleanlab 1.0)",
    )
    det.add_argument(
        "--rank-by", choices=RANK_BY,
        help="label-quality score that orders the table and the review queue (default self_confidence; "
        "normalized_margin for low_normalized_margin and labelerrors-2021)",
    )
    det.add_argument("--num-issues", type=_non_negative_int, metavar="N",
                     help="flag exactly the N examples with the lowest --rank-by score")
    det.add_argument("--annotators", choices=["long", "wide", "votes"],
                     help="several labels per example: a long table (id, annotator, label), one column per "
                     "annotator, or the vote counts of --reviews; consensus and annotator quality by CROWDLAB")
    det.add_argument("--multi-label", action="store_true",
                     help="several labels per example ('a|b', JSON lists, or one 0/1 column per class); "
                     "needs --pred-probs with per-class probabilities")
    det.add_argument("--frac-noise", type=_fraction, default=1.0, metavar="F",
                     help="flag this fraction of cleanlab's estimated count (prune_by_* and both only; default 1)")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelaudit",
        description="Audit a classifier's confidence and a dataset's labels.",
        epilog="Run 'labelaudit COMMAND --help' for a command's options. With no command, the app opens.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"labelaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    audit = sub.add_parser("audit", help="headless audit; writes results to --out")
    audit.add_argument("data", metavar="DATA", help="a table (csv, tsv, parquet, jsonl), a .npy of labels, or an image folder")
    add_audit_options(audit)
    audit.add_argument("--out", metavar="DIR", help="output folder (default: DATA's name + '_audit' here)")
    audit.add_argument("--quiet", action="store_true", help="no progress bar")

    gui = sub.add_parser("gui", help="open the app, optionally with DATA loaded")
    gui.add_argument("data", metavar="DATA|PROJECT", nargs="?",
                     help="data to audit, a .labelaudit project to open, or a results folder of 'audit --out' to open")
    add_audit_options(gui)
    gui.add_argument("--run", action="store_true", help="start the audit at once")

    sub.add_parser("demo", help="open the app on scikit-learn's digits with 5%% of labels flipped, and run it")

    bench = sub.add_parser("benchmark", help="compare models on original vs corrected labels")
    bench.add_argument("--labels", metavar="LABELS", help="given labels: .npy or a table")
    bench.add_argument("--classes", metavar="FILE")
    bench.add_argument(
        "--model", action="append", metavar="NAME=PRED_PROBS", help="a model's predictions (repeat)"
    )
    bench.add_argument("--lm-eval", action="append", metavar="NAME=PATH",
                       help="an lm-evaluation-harness samples file or one model's output folder (repeat)")
    bench.add_argument("--lm-eval-dir", metavar="DIR", help="an lm-eval output folder, one model per subfolder")
    src = bench.add_mutually_exclusive_group()
    src.add_argument("--reviews", metavar="FILE", help="human validation (mturk.json or CSV)")
    src.add_argument("--project", metavar="FILE", help="a .labelaudit project whose review decisions correct the labels")
    bench.add_argument("--out", required=True, metavar="DIR")

    export = sub.add_parser("export", help="write a project's cleanset and decisions log")
    export.add_argument("project", metavar="PROJECT", help="a .labelaudit project file")
    export.add_argument("--cleanset", metavar="FILE", help="CSV or Parquet: the table plus a corrected-label column")
    export.add_argument("--decisions", metavar="FILE", help="CSV of every review decision (the audit trail)")
    export.add_argument("--drop-excluded", action="store_true", help="drop excluded rows instead of marking them")
    export.add_argument("--use-consensus", action="store_true",
                        help="undecided rows take the annotators' consensus label (projects audited with --annotators)")
    return parser


def config_from_args(args: argparse.Namespace):
    from .pipeline import AuditConfig

    return AuditConfig(
        data=args.data,
        label_col=args.label_col,
        text_col=args.text_col,
        image_col=args.image_col,
        id_col=args.id_col,
        classes=args.classes,
        pred_probs=args.pred_probs,
        logits=args.logits,
        model=args.model,
        device=args.device,
        batch_size=args.batch_size,
        folds=args.folds,
        seed=args.seed,
        int8=args.int8,
        reviews=args.reviews,
        recalibrate=args.recalibrate,
        correctness=args.correctness,
        permute_options=args.permute_options,
        filter_by=args.filter_by,
        rank_by=args.rank_by,
        num_issues=args.num_issues,
        frac_noise=args.frac_noise,
        annotators=args.annotators,
        multi_label=args.multi_label,
        cluster=getattr(args, "cluster", None),
        out=getattr(args, "out", None),
    )


class TerminalProgress:
    """A one-line progress bar on stderr: stage, bar, done/total, rate and ETA."""

    def __init__(self, stream=sys.stderr, width: int = 28):
        self.stream, self.width = stream, width
        self.active = stream.isatty()
        self._last_stage = None

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.active or ev.total <= 1:
            return
        frac = ev.done / ev.total if ev.total else 1.0
        bar = "#" * int(frac * self.width)
        rate = f" {ev.rate:,.0f}/s" if ev.rate else ""
        eta = f" ETA {ev.eta_s:,.0f}s" if ev.eta_s is not None and ev.done < ev.total else ""
        line = f"\r{ev.stage:<12} [{bar:<{self.width}}] {ev.done:,}/{ev.total:,}{rate}{eta}"
        self.stream.write(line.ljust(80))
        if ev.done >= ev.total:
            self.stream.write("\n")
        self.stream.flush()


def cmd_audit(args) -> int:
    from .export import write_outputs
    from .pipeline import run_audit

    config = config_from_args(args)
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.data).stem}_audit"
    ctx = RunContext(
        on_progress=None if args.quiet else TerminalProgress(),
        on_notice=lambda text: print(f"note: {text}", file=sys.stderr),
    )
    if config.multi_label:
        with ctx.warnings_as_notices():
            return _audit_multilabel(config, out)
    with ctx.warnings_as_notices():
        report = run_audit(config, ctx)
        paths = write_outputs(report, out)
    s, cal = report.summary, report.summary["calibration"]
    print(
        f"{s['n_examples']:,} examples, {s['n_classes']} classes, model: {s['model']} ({s['device']})\n"
        f"accuracy {s['accuracy']:.4f}; {s['n_label_issues']:,} likely label issues "
        f"({100 * s['label_issue_rate']:.2f}%), {s['detection']['description']}\n"
        f"ECE {cal['ece']:.4f} (15 equal-width bins), NLL {cal['nll']:.4f}, Brier {cal['brier']:.4f}"
    )
    if "validated_found" in s:
        print(
            f"human validation: {s['validated_found']} of {s['n_validated_errors']} validated errors flagged; "
            f"{s['reviewed_flagged']} of {s['n_label_issues']} flags were reviewed"
        )
    if "annotators" in s:
        a = s["annotators"]
        best = a["annotators"][0]
        print(f"annotators: {a['n_annotators']} ({a['kind']}); CROWDLAB consensus differs from the given label on "
              f"{a['n_consensus_differs']:,} examples; best annotator {best['annotator']} (quality {best['quality']:.3f})")
    if "recalibration" in s:
        r = s["recalibration"]
        print(
            f"recalibration ({r['method']}, cross-fitted): ECE {r['ece_before']:.4f} -> {r['ece_after']:.4f}, "
            f"NLL {r['nll_before']:.4f} -> {r['nll_after']:.4f}"
        )
    if "position_bias" in s:
        b = s["position_bias"]
        by = ", ".join(f"{p} {v['accuracy']:.2f}" for p, v in b["accuracy_by_gold_position"].items()
                       if v["accuracy"] is not None)
        print(f"position bias over {b['orders']} orders: conflict rate {b['conflict_rate']:.3f}; accuracy by "
              f"position of the right answer: {by}; single order accuracy {b['single_order']['accuracy']:.4f} "
              f"ECE {b['single_order']['ece']:.4f}, balanced (mean over orders) accuracy "
              f"{b['balanced']['accuracy']:.4f} ECE {b['balanced']['ece']:.4f}")
    if "correctness" in s and s["correctness"].get("model"):
        from .correctness import describe

        print(describe(s["correctness"]))
    print(f"wrote {', '.join(p.name for p in paths.values())} to {out}")
    return EXIT_OK


def _name_paths(specs, option: str, what: str) -> dict[str, str]:
    models = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{option} {spec!r}: expected NAME={what}")
        if name in models:
            raise InputError(f"{option} {name!r} given twice")
        models[name] = path
    return models


def _audit_multilabel(config, out: Path) -> int:
    from .multilabel import run_multilabel_audit, write_multilabel_outputs

    report = run_multilabel_audit(config)
    paths = write_multilabel_outputs(report, out)
    s, cal = report.summary, report.summary["calibration"]
    worst = max(s["calibration_per_class"], key=lambda c: c["ece"] if c["ece"] is not None else -1)
    print(
        f"{s['n_examples']:,} examples, {s['n_classes']} classes (multi-label), model: {s['model']}\n"
        f"exact-match accuracy {s['accuracy']:.4f}, Hamming accuracy {s['hamming_accuracy']:.4f}; "
        f"{s['n_label_issues']:,} likely label issues ({100 * s['label_issue_rate']:.2f}%), "
        f"{s['detection']['description']}\n"
        f"per-class ECE (15 equal-width bins, each class binary): mean {cal['ece']:.4f}, "
        f"worst {worst['class_name']} {worst['ece']:.4f}"
    )
    print(f"wrote {', '.join(p.name for p in paths.values())} to {out}")
    return EXIT_OK


def cmd_benchmark(args) -> int:
    from .model_comparison import run_benchmark

    if args.lm_eval or args.lm_eval_dir:
        from .lm_eval_benchmark import print_summary, run_lm_eval_benchmark

        if args.model or args.labels:
            raise InputError("--lm-eval/--lm-eval-dir bring their own labels: drop --labels and --model")
        from .progress import RunContext

        ctx = RunContext(on_notice=lambda text: print(f"note: {text}", file=sys.stderr))
        results = run_lm_eval_benchmark(_name_paths(args.lm_eval, "--lm-eval", "PATH"), lm_eval_dir=args.lm_eval_dir,
                                        reviews=args.reviews, project=args.project, out=args.out, ctx=ctx)
        print_summary(results)
        return EXIT_OK
    if not args.labels or not args.model:
        raise InputError("benchmark needs --labels LABELS and --model NAME=PRED_PROBS (or --lm-eval NAME=PATH)")
    models = _name_paths(args.model, "--model", "PRED_PROBS")
    table = run_benchmark(
        args.labels, models, classes=args.classes, reviews=args.reviews, project=args.project, out=args.out
    )
    print(table.to_string(index=False))
    print(f"wrote benchmark.csv and benchmark.json to {args.out}")
    return EXIT_OK


def cmd_export(args) -> int:
    from .cleanset import export_project

    if not args.cleanset and not args.decisions:
        raise InputError("nothing to export: pass --cleanset FILE and/or --decisions FILE")
    paths = export_project(
        args.project, cleanset=args.cleanset, decisions=args.decisions, drop_excluded=args.drop_excluded,
        use_consensus=args.use_consensus,
    )
    for kind, path in paths.items():
        print(f"wrote {kind} to {path}")
    return EXIT_OK


#: The headless commands. ``gui`` and ``demo`` are parsed here (one contract) but run by
#: the app's launcher (labelaudit.gui.launch), which passes them in: core never imports Qt.
COMMANDS = {"audit": cmd_audit, "benchmark": cmd_benchmark, "export": cmd_export}


def main(argv: list[str] | None = None, front_end: dict | None = None) -> int:
    """Parse ``argv`` and run its command; returns the exit code.

    front_end: extra commands by name (the app's ``gui`` and ``demo``), each a
    function of the parsed arguments returning an exit code.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv or ["gui"])
    commands = {**COMMANDS, **(front_end or {})}
    try:
        command = commands.get(args.command or "gui")
        if command is None:
            raise InputError(f"'{args.command or 'gui'}' opens the app: run it with the 'labelaudit' command")
        with RunContext(on_notice=lambda text: print(f"note: {text}", file=sys.stderr)).warnings_as_notices():
            return command(args)  # a library's warning is a "note:" line, not a Python warning on stderr
    except InputError as err:
        print(f"labelaudit: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OutputError as err:  # a full disk, no permission: nothing earlier was replaced
        print(f"labelaudit: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Cancelled:
        print("labelaudit: cancelled", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nlabelaudit: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:  # the loaders report inputs that demand it as bad input; this is the machine
        print("labelaudit: error: not enough memory for this run (try a smaller --batch-size, or close other "
              "programs)", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:  # an internal error: one line, traceback on request
        if os.environ.get("LABELAUDIT_DEBUG"):
            raise
        reason = plain_line(err) or type(err).__name__
        print(f"labelaudit: internal error: {type(err).__name__}: {reason} (set LABELAUDIT_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())

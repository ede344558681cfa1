"""Child process for tests/test_results_folder.py: write audit results into OUT again and again until killed.

Usage: python results_worker.py OUT SEED
Prints ``ready`` once imported, then ``wrote <n>`` after each complete run. Runs differ
in their number of rows; every other run also writes pred_probs_recalibrated.npy.
"""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.project_factory import CLASSES, audit_results  # noqa: E402
from labelaudit.core.export import write_outputs  # noqa: E402


def fake_report(n: int, recalibrated: bool, seed: int) -> SimpleNamespace:
    """What write_outputs reads from an AuditReport, for ``n`` synthetic rows."""
    given = np.random.default_rng(seed).integers(0, len(CLASSES), size=n)
    examples, probs, summary = audit_results(given, n_flagged=n // 10, seed=seed)
    recal = None
    if recalibrated:
        summary["recalibration"] = {"method": "temperature"}
        recal = SimpleNamespace(pred_probs=probs[:, ::-1].copy())
    return SimpleNamespace(summary=summary, class_names=CLASSES, examples=examples, pred_probs=probs,
                           recalibration=recal)


def main() -> None:
    out, seed = sys.argv[1], int(sys.argv[2])
    reports = [fake_report(20_000 + 7_000 * i + seed, i % 2 == 1, seed + i) for i in range(4)]
    print("ready", flush=True)
    i = 0
    while True:
        report = reports[i % len(reports)]
        write_outputs(report, out)
        print("wrote", report.summary["n_examples"], flush=True)
        i += 1


if __name__ == "__main__":
    main()

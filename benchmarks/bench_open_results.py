"""Time to open a results folder of ``labelaudit audit --out`` (core.results_open), headless and in the window.

Writes synthetic labels.npy and a float32 pred_probs.npy (benchmarks/bench_audit.py's data) to a temporary
folder under --dir, audits them as ``labelaudit audit labels.npy --pred-probs pred_probs.npy --out DIR`` does
(run_audit + write_outputs; out of core from 2,000,000 rows), then measures:

- core: open_results(DIR) and gui.results.prepare_results (what the window's worker thread does), wall time
  and the peak of anonymous resident memory over the run (bench_audit.PeakSampler);
- window (``--gui``, offscreen): MainWindow.open_results(DIR) until the table is shown, and until the
  autosaved project's Review tab is attached; the longest GUI-thread stall meanwhile (gui.worker.StallMeter).

    python benchmarks/bench_open_results.py [--rows 1000000] [--classes 10] [--gui] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_audit import PeakSampler, rss_anon, write_big_files  # noqa: E402

GIB = 2**30


def write_folder(work: Path, n: int, k: int, seed: int) -> Path:
    from labelaudit.core.export import write_outputs
    from labelaudit.core.pipeline import AuditConfig, run_audit

    labels, probs = write_big_files(work, n, k, seed)
    out = work / "audit_out"
    t = time.perf_counter()
    report = run_audit(AuditConfig(data=labels, pred_probs=probs))
    write_outputs(report, out)
    print(f"labelaudit audit ({n:,} x {k}) + write --out: {time.perf_counter() - t:.1f} s "
          f"({'out of core' if 'out_of_core' in report.summary else 'in memory'}); "
          f"folder {sum(p.stat().st_size for p in out.iterdir()) / 2**20:,.0f} MiB")
    Path(labels).unlink()
    Path(probs).unlink()  # the folder alone, as on a laptop that has only it
    return out


def core_open(out: Path) -> None:
    from labelaudit.core.results_open import open_results
    from labelaudit.gui.results import prepare_results

    base = rss_anon()
    with PeakSampler() as peak:
        t = time.perf_counter()
        report = open_results(out)
        opened = time.perf_counter() - t
        results = prepare_results(report)
        prepared = time.perf_counter() - t
    print(f"core: open_results {opened:.2f} s, + prepare_results {prepared:.2f} s; "
          f"peak anonymous memory +{(peak.peak - base) / GIB:.2f} GiB; {type(report).__name__}, "
          f"{report.summary['n_label_issues']:,} flagged")
    del results, report


def window_open(out: Path, work: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("LABELAUDIT_CACHE", str(work / "cache"))  # the autosaved project goes with the rest
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from labelaudit.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path(os.environ["LABELAUDIT_CACHE"]) / "bench.ini"), QSettings.IniFormat)
    window = MainWindow(settings)
    window.resize(1280, 800)
    window.show()
    app.processEvents()
    t = time.perf_counter()
    assert window.open_results(str(out))
    shown = attached = None
    while attached is None and time.perf_counter() - t < 600:
        app.processEvents()
        if shown is None and window.report is not None:
            shown = time.perf_counter() - t
        if window.projects.project is not None:
            attached = time.perf_counter() - t
        if window.last_error:
            raise SystemExit(f"failed: {window.last_error}")
        time.sleep(0.002)
    print(f"window: table shown after {shown:.2f} s, autosaved project's Review tab after {attached:.2f} s; "
          f"longest GUI stall while opening {window.last_stall_ms or 0:.0f} ms")
    window.projects.close_project()
    window.close()
    settings.sync()  # written now, so nothing is written into the removed folder at exit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gui", action="store_true", help="also time the window (offscreen)")
    ap.add_argument("--dir", default=None, help="where the temporary folder goes (default: the system's)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_open_", dir=args.dir))
    try:
        print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
              f"{os.cpu_count()} CPUs")
        out = write_folder(work, args.rows, args.classes, args.seed)
        core_open(out)
        if args.gui:
            window_open(out, work)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

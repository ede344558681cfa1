"""What one key press in the Review tab costs on disk: Project.decide() until it returns.

Each decision is its own transaction (synchronous=FULL: the WAL is fsynced) followed
by a full WAL checkpoint (the main file is written and fsynced), so the .labelaudit
file alone holds it. The script creates a 10,000-row project (synthetic, seeded) in
--dir (default: a folder under the current one, so the timing is of that disk, not
of a RAM-backed /tmp), makes --n decisions and prints the median and 95th percentile
in ms, first on a quiet machine, then with every CPU busy (one spinning process per
CPU). "commit only" is the same without the checkpoint, for the price of the copy
guarantee; "key press in the Review tab" is the whole press on the app's ReviewPanel
(offscreen Qt): the decision stored, the next example and the progress redrawn.

    python benchmarks/bench_decision.py [--n 300] [--dir DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from labelaudit.core import project as project_mod
from labelaudit.core.export import write_csv
from labelaudit.core.project import Project

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_project(folder: Path, n: int = 10_000) -> Path:
    rng = np.random.default_rng(0)
    given = rng.integers(0, len(CLASSES), n)
    probs = rng.dirichlet(np.ones(len(CLASSES)), n)
    data = folder / "data.csv"
    write_csv(pd.DataFrame({"text": [f"example {i}" for i in range(n)], "label": np.array(CLASSES)[given]}), data)
    examples = pd.DataFrame({"row": np.arange(n), "given_label": given, "suggested_label": probs.argmax(1),
                             "label_quality": probs[np.arange(n), given], "is_label_issue": rng.random(n) < 0.1})
    path = folder / "bench.labelaudit"
    with Project.create(path, {"data": str(data)}, data) as project:
        project.save_results(examples, probs, {"class_names": CLASSES})
    return path


def time_decisions(path: Path, n: int, seed: int) -> np.ndarray:
    os.sync()
    rng = np.random.default_rng(seed)
    actions = ["keep", "accept", "exclude", "unsure"]
    times = []
    with Project.open(path) as project:
        project.decide(0, "keep", reviewer="bench")  # warm caches (labels, statements)
        for _ in range(n):
            row, action = int(rng.integers(10_000)), actions[int(rng.integers(4))]
            t0 = time.perf_counter()
            project.decide(row, action, reviewer="bench")
            times.append(time.perf_counter() - t0)
    return np.array(times) * 1000.0


def time_key_presses(path: Path, n: int) -> np.ndarray:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from labelaudit.gui.review_panel import ReviewPanel

    app = QApplication.instance() or QApplication([])
    times = []
    with Project.open(path) as project:
        examples, probs, _ = project.load_results()
        panel = ReviewPanel(project, examples, CLASSES, pred_probs=probs, reviewer="bench-panel")
        panel.show()
        app.processEvents()
        os.sync()
        for i in range(n):
            t0 = time.perf_counter()
            QTest.keyClick(panel, (Qt.Key_K, Qt.Key_A, Qt.Key_X)[i % 3])
            app.processEvents()
            times.append(time.perf_counter() - t0)
        panel.close()
        panel.deleteLater()
        app.processEvents()
    return np.array(times) * 1000.0


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def measure(path: Path, n: int, label: str, seed: int) -> None:
    shipped = time_decisions(path, n, seed)

    def commit_only(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False

    with mock.patch.object(project_mod._transaction, "__exit__", commit_only):
        bare = time_decisions(path, n, seed + 1)
    panel = time_key_presses(path, min(n, 200))
    for name, t in (("decide (commit + checkpoint)", shipped), ("commit only", bare),
                    ("key press in the Review tab", panel)):
        print(f"{label:<10} {name:<30} median {np.median(t):6.2f} ms   p95 {np.percentile(t, 95):6.2f} ms   "
              f"max {t.max():6.1f} ms   (n={len(t)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-decision-", dir=args.dir or Path.cwd()))
    try:
        path = make_project(folder)
        os.sync()  # let the freshly written project reach the disk before timing
        print(f"project {path} ({path.stat().st_size / 1e6:.1f} MB), {os.cpu_count()} CPUs")
        measure(path, args.n, "quiet", 1)
        stop = mp.Event()
        spinners = [mp.Process(target=_spin, args=(stop,)) for _ in range(os.cpu_count() or 1)]
        for p in spinners:
            p.start()
        try:
            measure(path, args.n, "CPUs busy", 3)
        finally:
            stop.set()
            for p in spinners:
                p.join()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

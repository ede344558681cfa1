"""kill -9 at random moments loses no committed decision and never damages the project file."""

import json
import random
import sqlite3
import sys
from pathlib import Path

import pytest

from labelaudit.core.project import Project
from helpers.killed_child import run_until_killed
from helpers.project_factory import make_project

WORKER = Path(__file__).parent / "helpers" / "kill_worker.py"
ROUNDS = 20


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_loses_no_committed_decision(tmp_path):
    make_project(tmp_path).close()
    path = tmp_path / "audit.labelaudit"
    rng = random.Random(1234)
    reported = []  # (trail id, row, reviewer, state) the children said were committed
    for round_ in range(ROUNDS):
        for line in run_until_killed([str(WORKER), str(path), str(round_)], rng.uniform(0.0, 0.3)):
            entry, row, reviewer, state = line.split(" ", 3)
            reported.append((int(entry), int(row), reviewer, json.loads(state)))

    assert reported, "no child committed a decision before it was killed"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Project.open(path) as project:
        trail = project.trail().set_index("id")
        for entry, row, reviewer, state in reported:
            assert entry in trail.index, f"committed trail entry {entry} is missing"
            assert (trail.at[entry, "row"], trail.at[entry, "reviewer"]) == (row, reviewer)
            assert trail.at[entry, "after"] == state
        # the current decisions are exactly what the trail says, entry by entry
        last = trail.reset_index().groupby(["row", "reviewer"]).tail(1)
        expected = {(r.row, r.reviewer): r.after for r in last.itertuples() if r.after is not None}
        current = {(r.row, r.reviewer): {"action": r.action, "label": None if r.label < 0 else r.label,
                                         "note": r.note}
                   for r in project.decisions().itertuples()}
        assert current == expected
        # undo history rebuilt after all those kills still works
        if project.can_undo:
            project.undo()
    print(f"{ROUNDS} kills, {len(reported)} committed decisions reported and all found")

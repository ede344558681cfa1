"""Child process for tests/test_kill.py: open a project and make decisions until killed.

Usage: python kill_worker.py PROJECT SEED
Prints ``ready`` once the project is open, then after every committed change one
line ``<trail id> <row> <reviewer> <state as JSON>`` (state: that row's decision
by that reviewer right after the change, ``null`` when none), flushed at once.
"""

import json
import random
import sys


from labelaudit.core.project import Project  # noqa: E402

CLASSES = ["bird", "cat", "dog", "fish"]


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    project = Project.open(path)
    n = 300
    print("ready", flush=True)
    while True:
        row, reviewer = rng.randrange(n), rng.choice(["ana", "ben"])
        op = rng.random()
        if op < 0.1:
            rows = project.undo()
        elif op < 0.15:
            rows = project.redo()
        elif op < 0.2:
            rows = rng.sample(range(n), 5)
            if project.decide_many(rows, "exclude", reviewer=reviewer) is None:
                rows = []
        else:
            action = rng.choice(["keep", "accept", "relabel", "exclude", "unsure", "note"])
            label = rng.choice(CLASSES) if action == "relabel" else None
            note = f"note {rng.randrange(1000)}" if action == "note" or rng.random() < 0.2 else None
            rows = [row] if project.decide(row, action, label=label, note=note, reviewer=reviewer) else []
        if rows:
            last = project._conn.execute("SELECT id, row, reviewer FROM trail ORDER BY id DESC LIMIT 1").fetchone()
            state = project.decision(last[1], reviewer=last[2])
            if state is not None:
                state.pop("reviewer")
            print(last[0], last[1], last[2], json.dumps(state), flush=True)


if __name__ == "__main__":
    main()

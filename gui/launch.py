"""The ``labelaudit`` command: core's command line plus the app's ``gui`` and ``demo``.

Headless commands (audit, benchmark, export) run without importing Qt; the app's
commands import it only when chosen. This is the console entry point, so that
core's command line never imports the app.
"""

from __future__ import annotations

import sys

from labelaudit.core.cli import config_from_args, main as core_main
from labelaudit.core.errors import InputError


def cmd_gui(args) -> int:
    """``labelaudit gui [DATA|PROJECT.labelaudit|RESULTS_DIR] [--run]``: open the window, optionally on DATA
    (ready to run), on a project (its results and decisions) or on a results folder of ``labelaudit audit --out``."""
    from pathlib import Path

    from labelaudit.core.results_open import is_results_folder

    from .app import run_gui

    if args.data and is_results_folder(args.data):
        if args.run:
            raise InputError(f"{args.data}: --run needs DATA; a results folder opens with its results")
        return run_gui(project=args.data)

    if args.data and Path(args.data).suffix.lower() == ".labelaudit":
        if not Path(args.data).is_file():
            raise InputError(f"{args.data}: no such project file")
        if args.run:
            raise InputError(f"{args.data}: --run needs DATA; a project opens with its saved results")
        return run_gui(project=args.data)
    config = config_from_args(args) if args.data else None
    if args.run and config is None:
        raise InputError("--run needs DATA")
    return run_gui(config, run=args.run)


def cmd_demo(args) -> int:
    """``labelaudit demo``: open the window on the bundled demo and run it."""
    from .app import run_gui

    return run_gui(None, demo=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``labelaudit`` command; returns the exit code."""
    return core_main(argv, front_end={"gui": cmd_gui, "demo": cmd_demo})


if __name__ == "__main__":
    sys.exit(main())

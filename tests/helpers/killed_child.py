"""Run a child that prints ``ready``, kill it with SIGKILL after a delay, and read what it printed."""

import signal
import subprocess
import sys
import time


def run_until_killed(args: list[str], delay: float) -> list[str]:
    """Start ``python *args``, wait for its ``ready`` line, SIGKILL it after ``delay`` seconds.

    Returns the complete lines (without newline) the child printed after ``ready``; a last
    line cut by the kill is dropped. Reads through the same buffered pipe as the ``ready``
    line: ``communicate()`` reads the raw pipe and would lose lines already buffered.
    """
    child = subprocess.Popen([sys.executable, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready", child.stderr.read()
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, err = child.stdout.read(), child.stderr.read()
    assert child.wait() == -signal.SIGKILL, err
    return [line.rstrip("\n") for line in out.splitlines(keepends=True) if line.endswith("\n")]

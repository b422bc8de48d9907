"""`benchmarks/kill_harness.py`, small: runs stopped by SIGKILL at random moments and around
an epoch's end are brought to their end (`--resume`, or `inspect` for a run cut after its
last checkpoint) and end equal to an uncut run, number for number. The benchmark stops 24
runs by SIGKILL and 24 by SIGINT (RESULTS.md); here two, to keep the suite fast."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).parents[1] / "benchmarks" / "kill_harness.py"


def test_runs_killed_at_random_moments_end_equal_to_an_uncut_run() -> None:
    done = subprocess.run([sys.executable, str(HARNESS), "--kills", "2", "--seed", "1",
                           "--no-write"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 finished equal to the reference, 0 did not" in done.stdout

"""Runs killed at random moments, then resumed: nothing is lost.

Trains a small run uninterrupted (the reference, after one run that warms the caches),
noting when each epoch ends. Then, `--kills` times, starts the same run and stops it with
SIGKILL (or SIGINT, `--signal int`): half at a moment drawn uniformly over the reference's
life, half within 0.25 s of an epoch's end (where checkpoints, metrics and outputs are
written). Then `lookinside train --resume` until it exits 0 (`lookinside inspect` for a run
cut after its last checkpoint: it writes the outputs). Each run must end equal to the
reference (metrics without their seconds, the weights, the per-step losses, the telemetry),
`inspect` and `report` must exit 0, and no temporary file may remain.

    python benchmarks/kill_harness.py [--kills 24] [--signal kill|int] [--seed 0] [--no-write]
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _report import append_section, markdown_table

TRAIN = ["train", "--subset", "6000", "--bs", "50", "--arch", "4,8", "--epochs", "3"]
SIGNALS = {"kill": signal.SIGKILL, "int": signal.SIGINT}


def lookinside(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the `lookinside` command of this interpreter to its end."""
    return subprocess.run([sys.executable, "-m", "lookinside", *args], capture_output=True,
                          text=True)  # fmt: skip


def start(out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "lookinside", *TRAIN, "--out", str(out)]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )


def reference(out: Path) -> tuple[float, list[float]]:
    """Train the reference; its wall time and the moments its epochs ended (a row more in
    metrics.csv, written just after the epoch's checkpoint)."""
    began = time.perf_counter()
    proc, seen = start(out), list[float]()
    while proc.poll() is None:
        found = _rows(out)
        while len(seen) < found:
            seen.append(time.perf_counter() - began)
        time.sleep(0.01)
    if proc.returncode != 0:
        raise SystemExit(f"the reference run failed ({proc.returncode})")
    return time.perf_counter() - began, seen


def phase(out: Path) -> str:
    """What the killed run had written: how far it got."""
    if not (out / "config.json").exists():
        return "before config.json"
    done = _rows(out)
    if (out / "report.html").exists() and done == 3:
        return "after report.html"
    partial = " (and its partial report)" if (out / "report.html").exists() else ""
    return f"{done} epoch(s) done" + (", writing outputs" if done == 3 else partial)


def finish(out: Path) -> tuple[int, list[str]]:
    """Bring a killed run to its end: resume it (or start it, if it never wrote its config;
    or, if its epochs are done and its outputs are not, inspect it: that finishes them) until
    it exits 0; the commands it took, and what went wrong."""
    problems: list[str] = []
    for attempt in range(1, 4):
        if not (out / "config.json").exists():
            leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
            if leftovers:
                problems.append(f"a directory without config.json: {leftovers}")
            shutil.rmtree(out, ignore_errors=True)
            done = lookinside(*TRAIN, "--out", str(out))
        elif (out / "report.html").exists() and _complete(out):
            return attempt - 1, problems
        elif _complete(out):  # cut after its last checkpoint
            done = lookinside("inspect", str(out))
        else:
            done = lookinside("train", "--resume", str(out))
        if done.returncode == 0:
            return attempt, problems
        problems.append(f"exit {done.returncode}: {done.stderr.strip()[-200:]}")
    return 3, problems


def _complete(out: Path) -> bool:
    """Its three epochs are checkpointed (a row in metrics.csv follows its checkpoint)."""
    return _rows(out) == 3


def _rows(out: Path) -> int:
    """The epochs metrics.csv holds (none before the first epoch ends)."""
    if not (out / "metrics.csv").exists():
        return 0
    with (out / "metrics.csv").open() as f:
        return max(len(list(csv.reader(f))) - 1, 0)


def differences(out: Path, ref: Path) -> list[str]:
    """How `out` differs from the reference run `ref` (empty: equal)."""
    problems = []
    if _metrics(out) != _metrics(ref):
        problems.append("metrics differ")
    a = torch.load(out / "model.pt", weights_only=True)["model"]
    b = torch.load(ref / "model.pt", weights_only=True)["model"]
    if a.keys() != b.keys() or not all(torch.equal(a[k], b[k]) for k in a):
        problems.append("weights differ")
    for name in ("recorder.npz", "telemetry.npz"):
        x, y = np.load(out / name), np.load(ref / name)
        if set(x.files) != set(y.files) or not all(
            np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind == "f") for k in x.files
        ):
            problems.append(f"{name} differs")
    for command in ("inspect", "report"):
        if lookinside(command, str(out)).returncode != 0:
            problems.append(f"{command} failed")
    left = [p.name for p in out.rglob("*.tmp")]
    if left:
        problems.append(f"temporary files left: {left}")
    return problems


def _metrics(run: Path) -> list[list[str]]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [[v for k, v in row.items() if k != "seconds"] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=24, help="runs to stop (24)")
    parser.add_argument("--signal", choices=list(SIGNALS), default="kill", help="kill")
    parser.add_argument("--seed", type=int, default=0, help="of the moments drawn (0)")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    draw = random.Random(args.seed)
    rows, lost = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        reference(Path(tmp) / "cold")  # the first run reads the data cold: its times mislead
        ref = Path(tmp) / "reference"
        wall, epochs = reference(ref)
        print(f"reference: {wall:.1f} s; epochs ended at {[round(t, 2) for t in epochs]} s")
        for i in range(args.kills):
            at = draw.uniform(0, wall) if i % 2 == 0 else (
                draw.choice(epochs) + draw.uniform(-0.25, 0.25))  # fmt: skip
            out = Path(tmp) / f"run-{i}"
            proc = start(out)
            time.sleep(max(at, 0.0))
            proc.send_signal(SIGNALS[args.signal])
            code = proc.wait()
            where = phase(out)
            resumes, problems = finish(out)
            problems += differences(out, ref) if not problems else []
            lost += bool(problems)
            verdict = "equal" if not problems else "; ".join(problems)
            rows.append([str(i), f"{at:.2f}", str(code), where, str(resumes), verdict])
            print(" | ".join(rows[-1]), flush=True)
    table = markdown_table(["run", "stopped at (s)", "exit", "written by then", "commands to "
                            "finish", "after finishing"], rows)  # fmt: skip
    verdict = (
        f"{args.kills} runs stopped by SIG{args.signal.upper()} (reference {wall:.1f} s, "
        f"{len(epochs)} epochs); {args.kills - lost} finished equal to the reference, "
        f"{lost} did not"
    )
    print(table, verdict, sep="\n\n")
    if not args.no_write:
        append_section(f"Runs stopped by SIG{args.signal.upper()}, then resumed",
                       torch.device("cpu"), f"{table}\n\n{verdict}")  # fmt: skip
    if lost:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

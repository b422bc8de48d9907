"""`lookinside fix` on the lesson's first broken run: the CNN with PyTorch's default init at
lr 0.9, one epoch on the embedded MNIST; then the trial of its remedies over 3 seeds.

    python benchmarks/fix_lesson.py [--seeds 3] [--keep DIR] [--no-write]

Prints the trial's table and the recommended command, and appends them to RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _report import append_section

TRAIN = ["train", "--init", "default", "--lr", "0.9", "--epochs", "1"]


def lookinside(*args: str) -> str:
    """Run the `lookinside` command of this interpreter; its stdout (stderr passes through)."""
    done = subprocess.run([sys.executable, "-m", "lookinside", *args], check=True,
                          stdout=subprocess.PIPE, text=True)  # fmt: skip
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant (3)")
    parser.add_argument("--keep", help="write the run here (default: a temporary directory)")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(args.keep or Path(tmp) / "default-init")
        start = time.perf_counter()
        trained = lookinside(*TRAIN, "--out", str(run))
        lookinside("fix", str(run), "--seeds", str(args.seeds))
        wall = time.perf_counter() - start
        table = (run / "fix" / "trial.md").read_text()
    diagnosis = "\n".join(line for line in trained.splitlines() if line.lstrip().startswith("["))
    body = (
        f"`lookinside {' '.join(TRAIN)}`, then `lookinside fix RUN --seeds {args.seeds}` "
        f"({wall:.0f} s in all). The run's findings:\n\n```\n{diagnosis}\n```\n\n{table}"
    )
    print(body)
    if not args.no_write:
        append_section("lookinside fix on the lesson's default-init CNN", torch.device("cpu"), body)


if __name__ == "__main__":
    main()

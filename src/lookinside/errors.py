"""The exceptions the command line answers: a user's mistake (`LookinsideError`, printed in one
sentence, exit 2) and a run stopped by its user (`Interrupted`, exit 130)."""

from __future__ import annotations

from pathlib import Path


class LookinsideError(Exception):
    """Bad input or bad usage, said in one sentence that names what is wrong and where."""


def gist(e: BaseException, most: int = 200) -> str:
    """An exception's message on one line, for a sentence of our own: its first line (the
    first two when the first ends in ':'), at most `most` characters; its type if empty."""
    lines = [line.strip() for line in str(e).strip().splitlines()] or [type(e).__name__]
    return " ".join(lines[:2] if lines[0].endswith(":") else lines[:1])[:most]


class Interrupted(Exception):  # noqa: N818 (not an error: the user stopped the run)
    """A run stopped by Ctrl-C or SIGTERM, after saving a checkpoint and its partial report."""

    def __init__(self, run_dir: Path, checkpoint: Path) -> None:
        super().__init__(f"interrupted; checkpoint {checkpoint}")
        self.run_dir, self.checkpoint = run_dir, checkpoint

    def __reduce__(self) -> tuple[type[Interrupted], tuple[Path, Path]]:
        return (Interrupted, (self.run_dir, self.checkpoint))  # crosses process boundaries

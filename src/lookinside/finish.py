"""A run's or a study's outputs rebuilt from what it recorded: `lookinside report DIR`, and
what `inspect` does first for a run whose epochs are done but whose outputs are not.

A run writes its outputs (model.pt, the plots, telemetry.npz, diagnosis.json, report.html)
after its last epoch checkpoint, so a kill, a Ctrl-C or a full disk in between leaves a run
whose record is whole but whose outputs are not. The checkpoint holds everything they are
made of: a resume that trains no epoch writes them, equal to an uncut run's.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from .errors import LookinsideError
from .runs import RunDir, StudyDir, kind_of


def finish_run(run: RunDir) -> Path | None:
    """Write the outputs of a run whose epochs are all checkpointed but whose outputs are not,
    from its last good checkpoint (training nothing); return that checkpoint (None: there was
    nothing to finish). Finishing needs what training needs (the data, the device), and the
    run's lock; what stops it is one sentence."""
    if not run.unfinished_outputs():
        return None
    found = run.last_good_checkpoint()
    planned = run.planned_epochs()
    if found is None or planned is None or found[1]["epochs_done"] < planned:
        return None  # a damaged last checkpoint: an epoch to train again, for --resume
    from .train import resume

    resume(run.path, verbose=False)
    return found[0]


def finished_or_why(run: RunDir) -> str:
    """`finish_run`, said in a line: what it wrote, why it could not ('' when the run needed
    nothing)."""
    try:
        finished = finish_run(run)
    except (LookinsideError, OSError) as e:
        resume = shlex.join(["lookinside", "train", "--resume", str(run.path)])
        return f"its outputs are not written: `{resume}` writes them (here: {e})"
    if finished is None:
        return ""
    return f"its outputs were missing; they are now written from {finished.name}."


def render_directory(directory: str | os.PathLike[str]) -> Path:
    """`lookinside report DIR`: write the report of a run (its outputs first, if a stop cut
    them short), an lr-find run, or a study (finished or not: its results, summary and
    comparison plots from the runs that have finished); return the report's path."""
    from .report import write_report

    kind = kind_of(directory)
    if kind == "study":
        from .ablate import write_results
        from .study_results import load_results

        write_results(load_results(Path(directory)), Path(directory))
        return StudyDir(directory).report
    if kind == "run" and finish_run(RunDir(directory)) is not None:
        return RunDir(directory).report  # the resume wrote it (what stops it is said)
    return write_report(Path(directory))

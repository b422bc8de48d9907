"""What a directory `lookinside` wrote holds, in words (`lookinside inspect`): which kind it
is (a training run, finished or not, an lr-find run, a study), its numbers, and for a run
with telemetry its diagnosis: of the whole run, or of the steps its last checkpoint holds."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from .callbacks.activation_stats import saved_telemetry
from .diagnosis import Finding, diagnose, format_findings
from .errors import LookinsideError
from .files import read_json
from .runs import RunDir, StudyDir, kind_of


def describe_directory(directory: str | Path) -> str:
    """The text `lookinside inspect` prints for `directory`, or one sentence saying why it
    is none of lookinside's directories. A run whose epochs are done but whose outputs are
    not (a kill after its last checkpoint) has them written first."""
    kind = kind_of(directory)
    if kind == "study":
        return _study(StudyDir(directory))
    if kind == "lr-find":
        return _lr_find(RunDir(directory))
    from .finish import finished_or_why

    run = RunDir(directory)
    finished = finished_or_why(run)
    said = _run(run)
    return f"{finished}\n{said}" if finished else said


def _run(run: RunDir) -> str:
    options, epochs, planned = run.options(), run.epochs(), run.planned_epochs()
    resume = f"lookinside train --resume {shlex.quote(str(run.path))}"
    if not epochs:
        return f"a training run that finished no epoch: resume it with `{resume}`."
    last = epochs[-1]
    done = f"{len(epochs)} epoch(s)" + (f" of {planned}" if planned else "")
    lines = [f"a training run: {done}; {_numbers(last)}"]
    accuracies = [e["valid_accuracy"] for e in epochs if "valid_accuracy" in e]
    if len(accuracies) > 1:
        best = max(range(len(accuracies)), key=accuracies.__getitem__)
        lines[0] += f" (best valid accuracy {accuracies[best]:.4f}, epoch {best})"
    unfinished = planned is not None and len(epochs) < planned
    if unfinished:
        lines.append(f"unfinished: resume it with `{resume}`.")
    if run.telemetry.is_file():
        findings = run.diagnose()
    elif options.get("telemetry") is False:
        lines.append("no diagnosis: the run recorded no telemetry (it ran with --no-telemetry).")
        return "\n".join(lines)
    else:
        checkpointed = _checkpointed_diagnosis(run, options)
        if checkpointed is None:
            lines.append("no diagnosis yet: no checkpoint holds telemetry.")
            return "\n".join(lines)
        where, findings = checkpointed
        lines.append(f"diagnosis of the steps its last checkpoint holds ({where}):")
    lines.append(format_findings(findings))
    trial = "" if unfinished else _trial(run, findings, options)
    return "\n".join([*lines, trial] if trial else lines)


def _checkpointed_diagnosis(
    run: RunDir, options: dict[str, Any]
) -> tuple[str, list[Finding]] | None:
    """The diagnosis of what an unfinished run's last epoch checkpoint recorded (its name,
    the findings), or None when none holds a record."""
    try:
        found = run.last_good_checkpoint()
    except LookinsideError:  # every checkpoint damaged: nothing to read
        return None
    if found is None:
        return None
    path, state, _ = found
    saved = state["callbacks"].get("activation_stats")
    telemetry = saved_telemetry(saved) if isinstance(saved, dict) else None
    if telemetry is None:
        return None
    return path.name, diagnose(telemetry, run.epochs(), options)


def _trial(run: RunDir, findings: list[Finding], options: dict[str, Any]) -> str:
    """What the trial of the run's remedies found, or the command that runs one (when
    `lookinside fix` has something to try)."""
    from .fix import planned

    trial = run.trial()
    if trial is not None:
        verdict = StudyDir(trial).trial_verdict()
        return f"trial of its remedies ({StudyDir(trial).report})" + (
            f": {verdict}" if verdict else ""
        )
    try:
        planned(run.path, options, findings)
    except LookinsideError:  # nothing a trial could try
        return ""
    return f"try its remedies: lookinside fix {run.path}"


def _numbers(epoch: dict[str, float]) -> str:
    """The last epoch's numbers, as the metrics table names them."""
    shown = [f"{k} {v:.4f}" for k, v in epoch.items() if k not in ("epoch", "seconds")]
    return ", ".join(shown) if shown else "no numbers"


def _lr_find(run: RunDir) -> str:
    found = read_json(run.lr_find)
    if "suggestion" not in found or "rule" not in found:
        raise LookinsideError(f"{run.lr_find} holds no suggestion and its rule.")
    suggestion, rule = found["suggestion"], found["rule"]
    said = "no suggestion" if suggestion is None else f"suggests lr {suggestion:.3g}"
    return (f"an lr-find run (the learning-rate finder, no training): {said} ({rule}); "
            f"plot: {run.plot('lr_find')}")  # fmt: skip


def _study(study: StudyDir) -> str:
    head = (f"a study directory (variants x seeds): `lookinside report {study.path}` renders "
            "its report.")  # fmt: skip
    if not study.summary.is_file():
        return head + "\nno summary yet: no run has finished, or the study was interrupted."
    return head + "\n" + study.summary.read_text().rstrip()

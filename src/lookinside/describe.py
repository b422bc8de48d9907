"""What a directory `lookinside` wrote holds, in words (`lookinside inspect`): which kind it
is (a training run, one trained without telemetry or not finished, an lr-find run, a study),
its numbers, and for a run with telemetry its diagnosis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .callbacks.csv_logger import read_epochs
from .diagnosis import Finding, format_findings
from .errors import LookinsideError
from .files import read_json


def describe_directory(directory: str | Path) -> str:
    """The text `lookinside inspect` prints for `directory`, or one sentence saying why it
    is none of lookinside's directories."""
    path = Path(directory)
    if not path.is_dir():
        raise LookinsideError(f"{path} is not a directory.")
    if (path / "results.csv").is_file() or (path / "study.json").is_file():
        return _study(path)
    if (path / "lr_find.json").is_file():
        return _lr_find(path)
    if not (path / "config.json").is_file():
        raise LookinsideError(f"{path} is not a run directory (it has no config.json).")
    return _run(path)


def _run(path: Path) -> str:
    from .train import inspect_run, read_options

    options = read_options(path)
    epochs = read_epochs(path / "metrics.csv")
    planned = options.get("epochs")
    if not epochs:
        return (f"a training run that finished no epoch: resume it with "
                f"`lookinside train --resume {path}`.")  # fmt: skip
    last = epochs[-1]
    done = f"{len(epochs)} epoch(s)" + (f" of {planned}" if isinstance(planned, int) else "")
    lines = [f"a training run: {done}; {_numbers(last)}"]
    accuracies = [e["valid_accuracy"] for e in epochs if "valid_accuracy" in e]
    if len(accuracies) > 1:
        best = max(range(len(accuracies)), key=accuracies.__getitem__)
        lines[0] += f" (best valid accuracy {accuracies[best]:.4f}, epoch {best})"
    if not (path / "telemetry.npz").is_file():
        lines.append("no diagnosis: the run recorded no telemetry (it ran with --no-telemetry).")
        return "\n".join(lines)
    findings = inspect_run(path)
    lines.append(format_findings(findings))
    trial = _trial(path, findings, options)
    return "\n".join([*lines, trial] if trial else lines)


def _trial(path: Path, findings: list[Finding], options: dict[str, Any]) -> str:
    """What the trial of the run's remedies found, or the command that runs one (when
    `lookinside fix` has something to try)."""
    from .fix import planned, trial_dir, trial_verdict

    trial = trial_dir(path)
    if trial is not None:
        verdict = trial_verdict(trial)
        return f"trial of its remedies ({trial / 'report.html'})" + (
            f": {verdict}" if verdict else ""
        )
    try:
        planned(path, options, findings)
    except LookinsideError:  # nothing a trial could try
        return ""
    return f"try its remedies: lookinside fix {path}"


def _numbers(epoch: dict[str, float]) -> str:
    """The last epoch's numbers, as the metrics table names them."""
    shown = [f"{k} {v:.4f}" for k, v in epoch.items() if k not in ("epoch", "seconds")]
    return ", ".join(shown) if shown else "no numbers"


def _lr_find(path: Path) -> str:
    found = read_json(path / "lr_find.json")
    if "suggestion" not in found or "rule" not in found:
        raise LookinsideError(f"{path / 'lr_find.json'} holds no suggestion and its rule.")
    suggestion, rule = found["suggestion"], found["rule"]
    said = "no suggestion" if suggestion is None else f"suggests lr {suggestion:.3g}"
    return (f"an lr-find run (the learning-rate finder, no training): {said} ({rule}); "
            f"plot: {path / 'plots' / 'lr_find.png'}")  # fmt: skip


def _study(path: Path) -> str:
    summary = path / "summary.md"
    head = f"a study directory (variants x seeds): `lookinside report {path}` renders its report."
    if not summary.is_file():
        return head + "\nno summary yet: no run has finished, or the study was interrupted."
    return head + "\n" + summary.read_text().rstrip()

"""`lookinside fix RUN_DIR`: try each remedy of a run's diagnosis as a study, and say which
one works and by how much.

The study trains the run's own options ("original") and, for each remedy that options can
express (`Remedy.options`), the same options changed by it, with the same seeds; when two
findings were made, the best remedies of the first two are then tried together. It is an
ordinary study directory (resumable, interruptible, `lookinside report` re-renders it),
with `trial.md` and `trial.json` besides: the comparison with the original, seed by seed.
By default it lies in the run's own directory, as `fix/` (`fix-quick/` with `--quick`),
where the run's report links to it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import TrainConfig, flags
from .diagnosis.findings import Remedy
from .errors import LookinsideError
from .files import atomic_write_text, write_json
from .study import Study
from .trial import ORIGINAL, SERIOUS, Candidate, Trial, best_pair, candidates, root_cause

SEEDS = 3  # seeds of a trial, from the run's own
NOT_TRIED = ("out", "seed", "tensorboard", "telemetry")  # set by the trial, not by the run
TRIAL_DIRS = ("fix", "fix-quick")  # a trial's default directories, inside the run's


def fix_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    quick: bool = False,
    seeds: int = SEEDS,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[Trial, Path]:
    """Run (or resume) the trial of `run_dir`'s remedies; return it and its directory."""
    from .ablate import run_study
    from .report import write_report
    from .train import inspect_run, read_options

    if not 1 <= seeds <= 10:
        raise LookinsideError(f"--seeds must be from 1 to 10, not {seeds}.")
    run_dir = Path(run_dir)
    options = read_options(run_dir)
    findings = inspect_run(run_dir)
    if not any(f.severity in SERIOUS for f in findings):
        raise LookinsideError(
            f"nothing to fix: the diagnosis of {run_dir} has no warning or error."
        )
    singles = candidates(findings, lambda r: bool(r.options), _key)
    if not singles:
        kinds = ", ".join(dict.fromkeys(f.kind for f in findings if f.severity in SERIOUS))
        raise LookinsideError(
            f"no remedy for {kinds} is an option of lookinside train: try them in Python with "
            "lookinside.try_remedies, or follow the advice of lookinside inspect."
        )
    base = {k: v for k, v in options.items() if k not in NOT_TRIED}
    first = int(options.get("seed", 0))
    seed_list = [first + i for i in range(seeds)]
    variants: dict[str, Candidate | None] = {ORIGINAL: None, **{c.name: c for c in singles}}
    out = Path(out) if out is not None else run_dir / TRIAL_DIRS[quick]

    def study() -> Study:
        made = Study(f"fix {run_dir.name}", seed_list, {
            name: {**base, **(c.options if c else {})} for name, c in variants.items()
        })  # fmt: skip
        for run in made.runs():
            run.config(out)  # every variant's options checked before anything trains
        return made.quick() if quick else made

    results = run_study(study(), out, jobs=jobs, log=log)
    trial = Trial.of(results, variants, _changes, root_cause(findings))
    pair = best_pair(findings, singles, trial, _compatible)
    if pair is not None and pair.name not in variants:
        variants[pair.name] = pair
        results = run_study(study(), out, jobs=jobs, log=log)
        trial = Trial.of(results, variants, _changes, root_cause(findings))
    write_trial(trial, out, command(base, trial, variants))
    write_report(out)
    if (run_dir / "report.html").exists():
        write_report(run_dir)  # it links to the trial now
    return trial, out


def _key(remedy: Remedy) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in remedy.options.items()))


def _changes(c: Candidate) -> str:
    return flags(c.options)


def _compatible(a: Candidate, b: Candidate) -> bool:
    """Two candidates combine when they change different options."""
    return not set(a.options) & set(b.options)


def command(base: dict[str, Any], trial: Trial, variants: dict[str, Candidate | None]) -> str:
    """The `lookinside train` command of the recommended variant (the run's own options,
    changed), with the flags that differ from the defaults; empty when nothing is recommended."""
    best = trial.best
    if best is None:
        return ""
    candidate = variants[best.variant]
    chosen = {**base, **(candidate.options if candidate else {})}
    defaults = TrainConfig().to_dict()
    shown = {k: v for k, v in chosen.items() if _differs(v, defaults.get(k))}
    return f"lookinside train {flags(shown)}".rstrip()


def _differs(value: Any, default: Any) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) != list(default)
    return bool(value != default)


def write_trial(trial: Trial, out: Path, recommended: str) -> None:
    """`trial.md` (the table, the verdict, the command) and `trial.json` into `out`."""
    text = trial.markdown()
    if recommended:
        text += f"\n    {recommended}\n"
    atomic_write_text(out / "trial.md", text)
    write_json(out / "trial.json", {**trial.to_dict(), "command": recommended})


def trial_dir(run_dir: Path) -> Path | None:
    """The run's trial directory (`fix/`, else `fix-quick/`) that holds a report, if any."""
    for name in TRIAL_DIRS:
        if (run_dir / name / "report.html").is_file():
            return run_dir / name
    return None

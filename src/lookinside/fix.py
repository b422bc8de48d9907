"""`lookinside fix RUN_DIR`: try each remedy of a run's diagnosis as a study, and say which
one works and by how much.

The study trains the run's own options ("original") and, for each remedy that options can
express (`Remedy.options`) and that changes what trains, the same options changed by it,
with the same seeds; when two findings were made, the best remedy of the first and the best
other of the next are then tried together. It is an ordinary study directory (resumable,
interruptible, `lookinside report` re-renders it), with `trial.md` and `trial.json`
besides: the comparison with the original, seed by seed. By default it lies in the run's
own directory, as `fix/` (`fix-quick/` with `--quick`), where the run's report links to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import MAX_SEED, TrainConfig
from .diagnosis.findings import SERIOUS, Finding, Remedy
from .errors import LookinsideError
from .files import atomic_write_text, read_json, write_json
from .flags import flags
from .runs import TRIAL_DIRS, StudyDir, open_run
from .study import Study
from .trial import ORIGINAL, Candidate, Trial, best_pair, candidates, root_cause

SEEDS = 3  # seeds of a trial, from the run's own (2 with --quick)
QUICK_SEEDS = 2
NOT_TRIED = ("out", "seed", "tensorboard", "telemetry")  # set by the trial, not by the run


def fix_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    quick: bool = False,
    seeds: int | None = None,
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[Trial, Path]:
    """Run (or resume) the trial of `run_dir`'s remedies; return it and its directory."""
    from .ablate import run_study
    from .report import write_report

    n_seeds = seeds if seeds is not None else QUICK_SEEDS if quick else SEEDS
    if not 1 <= n_seeds <= 10:
        raise LookinsideError(f"--seeds must be from 1 to 10, not {n_seeds}.")
    run = open_run(run_dir)
    run_dir, options, findings = run.path, run.options(), run.diagnose()
    singles = planned(run_dir, options, findings, log)
    base = trained_options(options)
    first = int(options.get("seed", 0))
    seed_list = [(first + i) % (MAX_SEED + 1) for i in range(n_seeds)]
    variants: dict[str, Candidate | None] = {ORIGINAL: None, **{c.name: c for c in singles}}
    out = Path(out) if out is not None else run_dir / TRIAL_DIRS[quick]
    variants.update(_pairs_tried(out, singles))  # a resumed trial keeps its pair

    def study() -> Study:
        made = Study(f"fix {run_dir.name}", seed_list, {
            name: {**base, **(c.options if c else {})} for name, c in variants.items()
        })  # fmt: skip
        return made.quick(seeds=n_seeds) if quick else made

    root = root_cause(findings)
    trial = Trial.of(run_study(study(), out, jobs=jobs, log=log), variants, _changes, root)
    pair = best_pair(findings, singles, trial, _compatible)
    if pair is not None and pair.name not in variants and _trains(base, pair.options):
        variants[pair.name] = pair
        trial = Trial.of(run_study(study(), out, jobs=jobs, log=log), variants, _changes, root)
    write_trial(trial, out, command(base, trial, variants), quick)
    write_report(out)
    if run.report.exists():
        write_report(run_dir)  # it links to the trial now
    return trial, out


def trained_options(options: dict[str, Any]) -> dict[str, Any]:
    """A run's options that a trial keeps (the trial sets its own output, seeds, telemetry)."""
    return {k: v for k, v in options.items() if k not in NOT_TRIED}


def planned(
    run_dir: Path,
    options: dict[str, Any],
    findings: Sequence[Finding],
    log: Callable[[str], None] | None = None,
) -> list[Candidate]:
    """The remedies a trial of the run would try, or one sentence saying why it has none
    (`lookinside inspect` asks too, to say whether a trial is worth running)."""
    if options.get("recipe", "none") != "none":
        raise LookinsideError(
            f"{run_dir} trained with --recipe {options['recipe']}, which sets its own model, "
            "lr and schedule: the remedies' options would change nothing."
        )
    if not any(f.severity in SERIOUS for f in findings):
        raise LookinsideError(
            f"nothing to fix: the diagnosis of {run_dir} has no warning or error."
        )
    singles = option_candidates(findings, trained_options(options), log)
    if not singles:
        kinds = ", ".join(dict.fromkeys(f.kind for f in findings if f.severity in SERIOUS))
        raise LookinsideError(
            f"no remedy for {kinds} is an option of lookinside train that this run does not "
            "use already: try them in Python with lookinside.try_remedies, or follow the "
            "advice of lookinside inspect."
        )
    return singles


def option_candidates(
    findings: Sequence[Finding], base: dict[str, Any], log: Callable[[str], None] | None = None
) -> list[Candidate]:
    """The findings' remedies that options express and that change what the run trains
    (a valid configuration that differs from the run's own); `log` says which are left out
    as invalid (a CUDA-graph run cannot take a one-cycle schedule)."""
    kept = []
    for c in candidates(findings, lambda r: bool(r.options), _key):
        try:
            if _trains(base, c.options):
                kept.append(c)
        except LookinsideError as e:
            if log is not None:
                log(f"{c.name} is left out: {e}")
    return kept


def _trains(base: dict[str, Any], options: dict[str, Any]) -> bool:
    """Whether `options` change the configuration that `base` trains (raises when the
    changed one is not valid)."""
    return (
        TrainConfig.from_dict({**base, **options}).to_dict()
        != TrainConfig.from_dict(base).to_dict()
    )


def _pairs_tried(out: Path, singles: Sequence[Candidate]) -> dict[str, Candidate]:
    """The pairs that the trial in `out` has tried already (its study.json names them), so
    that running it again resumes the same study."""
    study = StudyDir(out).study
    saved = read_json(study) if study.is_file() else {}
    names = saved.get("variants", {})
    by_name = {c.name: c for c in singles}
    pairs = {}
    for name in names if isinstance(names, dict) else ():
        parts = name.split(" + ")
        if len(parts) == 2 and all(p in by_name for p in parts):
            first, second = (by_name[p] for p in parts)
            targets = tuple(dict.fromkeys((*first.targets, *second.targets)))
            pairs[name] = Candidate((*first.remedies, *second.remedies), targets)
    return pairs


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


def write_trial(trial: Trial, out: Path, recommended: str, quick: bool = False) -> None:
    """`trial.md` (the table, the verdict, the command) and `trial.json` into `out`."""
    text = trial.markdown()
    if quick:
        text += (
            "\nA quick trial: each run trained one epoch on 5,000 images (with the batch "
            "size and lr scaled to keep 100 steps); the command trains the run's own.\n"
        )
    if recommended:
        text += f"\n    {recommended}\n"
    study = StudyDir(out)
    atomic_write_text(study.trial_markdown, text)
    write_json(study.trial_json, {**trial.to_dict(), "command": recommended, "quick": quick})

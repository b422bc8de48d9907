"""The directories lookinside writes, owned in one place: which files a training run, an
lr-find run and a study hold, under which names, one reader and one writer for each, and what
kind of directory a path is (or one sentence saying it is none of lookinside's).

A training run (`lookinside train`):

    config.json      the options it trained with (`TrainConfig.to_dict`)
    metrics.csv      one row per finished epoch (written by `CSVLogger` as the run goes)
    checkpoints/     epoch-NNNN.pt after each epoch (the last two), interrupted.pt on Ctrl-C
    telemetry.npz    the activation statistics (`Telemetry.save`)
    diagnosis.json   the findings read from them
    recorder.npz     the per-step losses and learning rates
    model.pt         the last epoch's weights
    plots/*.png      the figures the report embeds
    report.html      written last: a run whose epochs are done and which has a report is whole
    lr_find.json     the learning-rate finder's sweep (`--lr auto`)
    fix/, fix-quick/ the trial of its remedies (`lookinside fix`), a study
    .lock            held by the process that trains it

An lr-find run holds `config.json`, `lr_find.json` and `plots/lr_find.png`. A study holds
`study.json`, `runs/<variant>/seed-<n>/` (each a training run with its `result.json`),
`results.csv`, `summary.md`, `plots/`, `report.html`, and for a trial `trial.md` and
`trial.json`.

Its methods import what they need (torch, the plots) when called: the command line asks
what a directory is while a Ctrl-C may have left torch half-imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import LookinsideError
from .files import read_json, write_json

if TYPE_CHECKING:
    from .diagnosis import Finding
    from .telemetry import Telemetry

Kind = Literal["run", "lr-find", "study"]
TRIAL_DIRS = ("fix", "fix-quick")  # a trial's default directories, inside its run's
FINDING_FIELDS = ("severity", "message", "advice", "steps")  # what diagnosis.json holds, each


class _Directory:
    """What a run's and a study's directories share: the path, the report and the plots."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def plots(self) -> Path:
        return self.path / "plots"


class RunDir(_Directory):
    """A training run's (or an lr-find run's) directory: its files by name, and their readers
    and writers. Making one checks nothing; `open_run` checks that a directory is a run."""

    # ------------------------------------------------------------------ the files
    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def telemetry(self) -> Path:
        return self.path / "telemetry.npz"

    @property
    def diagnosis(self) -> Path:
        return self.path / "diagnosis.json"

    @property
    def model(self) -> Path:
        return self.path / "model.pt"

    @property
    def recorder(self) -> Path:
        return self.path / "recorder.npz"

    @property
    def lr_find(self) -> Path:
        return self.path / "lr_find.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def interrupted(self) -> Path:
        """The checkpoint a Ctrl-C writes mid-epoch (for inspection; a resume redoes the epoch)."""
        from .checkpoint import INTERRUPTED

        return self.checkpoints / INTERRUPTED

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    def plot(self, stem: str) -> Path:
        """`plots/<stem>.png`."""
        return self.plots / f"{stem}.png"

    # ------------------------------------------------------------------ readers and writers
    def options(self) -> dict[str, Any]:
        """The options in config.json, or one sentence saying why this is no run directory."""
        if not self.config.is_file():
            raise LookinsideError(f"{self.path} is not a run directory (it has no config.json).")
        options: dict[str, Any] = read_json(self.config)
        return options

    def write_options(self, options: Mapping[str, Any]) -> None:
        write_json(self.config, dict(options))

    def epochs(self) -> list[dict[str, float]]:
        """metrics.csv's rows: one per finished epoch ([] before the first)."""
        from .callbacks.csv_logger import read_epochs

        return read_epochs(self.metrics)

    def epoch_checkpoints(self) -> list[Path]:
        """The kept `epoch-N.pt` files, oldest first."""
        from .checkpoint import epoch_checkpoints

        return epoch_checkpoints(self.checkpoints)

    def saved_findings(self) -> list[dict[str, Any]] | None:
        """diagnosis.json's findings, as written (None: the run has no diagnosis)."""
        if not self.diagnosis.is_file():
            return None
        findings = read_json(self.diagnosis).get("findings", [])
        if not isinstance(findings, list) or not all(
            isinstance(f, dict) and all(k in f for k in FINDING_FIELDS) for f in findings
        ):
            raise LookinsideError(
                f"{self.diagnosis} does not hold findings ({', '.join(FINDING_FIELDS)} each)."
            )
        return findings

    def write_telemetry(
        self,
        telemetry: Telemetry,
        epochs: Sequence[Mapping[str, float]] = (),
        options: Mapping[str, Any] | None = None,
    ) -> list[Finding]:
        """Save telemetry.npz, its plots, and diagnosis.json (the findings for the epochs'
        losses and the run's options); return the findings."""
        from .diagnosis import diagnose
        from .plots import save_figure
        from .telemetry_plots import telemetry_figures

        telemetry.save(self.telemetry)
        for stem, fig in telemetry_figures(telemetry).items():
            save_figure(fig, self.plot(stem))
        findings = diagnose(telemetry, epochs, options)
        write_json(self.diagnosis, {"findings": [f.to_dict() for f in findings]})
        return findings

    def diagnose(self) -> list[Finding]:
        """The diagnosis recomputed from telemetry.npz, metrics.csv and config.json (the rules
        of this version, which may differ from those that wrote diagnosis.json)."""
        from .diagnosis import diagnose
        from .telemetry import Telemetry

        options = self.options()
        if not self.telemetry.is_file():
            raise LookinsideError(f"{self.path} has no telemetry.npz (was it run with "
                                  "--no-telemetry, or is it unfinished?).")  # fmt: skip
        return diagnose(Telemetry.load(self.telemetry), self.epochs(), options)

    # ------------------------------------------------------------------ its state
    def epochs_checkpointed(self) -> int:
        """The epochs its newest epoch checkpoint holds, by its name (0: none)."""
        from .checkpoint import epochs_in

        kept = self.epoch_checkpoints()
        return epochs_in(kept[-1]) if kept else 0

    def last_good_checkpoint(self) -> tuple[Path, dict[str, Any], list[str]] | None:
        """The newest epoch checkpoint that reads whole, its state, and what is wrong with
        each newer one (damaged: passed over); None when there is no epoch checkpoint. When
        none reads whole, the newest one's sentence is raised."""
        from .checkpoint import load_checkpoint

        refused: list[LookinsideError] = []
        for path in reversed(self.epoch_checkpoints()):
            try:
                return path, load_checkpoint(path), [str(e) for e in refused]
            except LookinsideError as e:
                refused.append(e)
        if refused:
            raise refused[0]
        return None

    def planned_epochs(self) -> int | None:
        """The epochs config.json asks for (None where it holds no count of epochs)."""
        planned = self.options().get("epochs")
        ok = isinstance(planned, int) and not isinstance(planned, bool) and planned > 0
        return planned if ok else None

    def unfinished_outputs(self) -> bool:
        """Whether its epochs are all checkpointed (by the newest checkpoint's name) but its
        outputs are not all written (a kill, a Ctrl-C or a full disk after the last
        checkpoint; a resume removes the report of the run it goes on with): `--resume`
        writes them."""
        planned = self.planned_epochs()
        done = planned is not None and self.epochs_checkpointed() >= planned
        return done and not self.report.is_file()

    def trial(self) -> Path | None:
        """Its trial directory (`fix/`, else `fix-quick/`) that holds a report, if any."""
        for name in TRIAL_DIRS:
            if (self.path / name / "report.html").is_file():
                return self.path / name
        return None

    def remove_leftovers(self) -> None:
        """Remove the temporary files of atomic writes that a kill cut short."""
        for leftover in self.path.rglob(".*.tmp"):
            leftover.unlink(missing_ok=True)


class StudyDir(_Directory):
    """A study's directory (`lookinside ablate`, `lookinside fix`): its files by name."""

    @property
    def study(self) -> Path:
        """study.json: the study's name, seeds and variants (what a rerun must match)."""
        return self.path / "study.json"

    @property
    def results(self) -> Path:
        return self.path / "results.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.md"

    @property
    def trial_markdown(self) -> Path:
        return self.path / "trial.md"

    @property
    def trial_json(self) -> Path:
        return self.path / "trial.json"

    def run(self, slug: str, seed: int) -> Path:
        """The directory of a variant's run with one seed (inside the study's, checked)."""
        path = self.path / "runs" / slug / f"seed-{seed}"
        if not path.resolve().is_relative_to(self.path.resolve()):
            raise LookinsideError(f"variant {slug!r} would write outside {self.path}.")
        return path

    def finished(self) -> list[Path]:
        """The result.json of each run that has finished (or failed), in path order."""
        return sorted(self.path.glob("runs/*/seed-*/result.json"))

    @staticmethod
    def result(run_dir: Path) -> Path:
        """A study run's result.json: written once the run has finished (or failed)."""
        return run_dir / "result.json"

    @staticmethod
    def run_lock(run_dir: Path) -> Path:
        """The lock a study process holds on a run it trains (beside it: clearing the run's
        directory keeps it)."""
        return run_dir.parent / f".{run_dir.name}.lock"

    def trial_verdict(self) -> str:
        """The verdict its trial.json holds ('' when it holds none, or is damaged: the run's
        own pages must not fail for it)."""
        try:
            saved = read_json(self.trial_json)
        except LookinsideError:
            return ""
        return str(saved.get("verdict", ""))


def is_study(path: Path) -> bool:
    """Whether `path` is a study's directory (finished or not)."""
    return StudyDir(path).results.is_file() or StudyDir(path).study.is_file()


def kind_of(directory: str | os.PathLike[str]) -> Kind:
    """What `directory` is, or one sentence saying why it is none of lookinside's. An lr-find
    run has lr_find.json without training; a run trained with `--lr auto` has one too."""
    path = Path(directory)
    if not path.is_dir():
        raise LookinsideError(f"{path} is not a directory.")
    if is_study(path):
        return "study"
    run = RunDir(path)
    options = run.options()
    return "lr-find" if run.lr_find.is_file() and options.get("lr") != "auto" else "run"


def open_run(directory: str | os.PathLike[str]) -> RunDir:
    """The training run in `directory`, or one sentence saying why it is none."""
    kind = kind_of(directory)
    if kind != "run":
        raise LookinsideError(f"{directory} is {'a study' if kind == 'study' else 'an lr-find run'}"
                              ", not a training run.")  # fmt: skip
    return RunDir(directory)


def study_dir(out: str | os.PathLike[str]) -> StudyDir:
    """`out` as a study's directory, created: a new or empty directory, or a study's (which
    the study resumes or extends); an empty name, a file, a run's directory or any other
    directory that holds files is one sentence."""
    path = Path(out)
    if not str(out).strip():
        raise LookinsideError("--out must name a directory, not an empty string.")
    if path.exists() and not path.is_dir():
        raise LookinsideError(f"--out {path} is a file, not a directory; choose another.")
    if path.is_dir() and not is_study(path):
        if RunDir(path).config.exists():
            raise LookinsideError(f"--out {path} holds a run, not a study; choose another.")
        if any(not p.name.startswith(".") for p in path.iterdir()):  # a lock, a write in
            raise LookinsideError(  # flight (another task of the same study) are no content
                f"--out {path} is not empty; a study needs a new or empty directory (or its "
                "own, to resume it)."
            )
    path.mkdir(parents=True, exist_ok=True)
    return StudyDir(path)


def new_run_dir(out: str | None, prefix: str = "train") -> RunDir:
    """A new directory for a run: `out`, which must not exist or be an empty directory (a
    run never writes over anything), else a fresh `runs/<prefix>-<date>-<time>[-n]`."""
    if out is not None:
        path = Path(out)
        if not out.strip():
            raise LookinsideError("--out must name a directory, not an empty string.")
        if RunDir(path).config.exists():
            raise LookinsideError(f"{path} already holds a run; choose another --out.")
        if path.exists() and not path.is_dir():
            raise LookinsideError(f"--out {path} is a file, not a directory; choose another.")
        if path.is_dir() and any(path.iterdir()):
            raise LookinsideError(
                f"--out {path} is not empty; a run needs a new or empty directory."
            )
        return RunDir(_made(path))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{prefix}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return RunDir(_made(path))


def _made(path: Path) -> Path:
    """`path`, created (with its parents) and writable, or one sentence saying why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LookinsideError(f"cannot create the run directory {path}: {e.strerror}.") from None
    if not os.access(path, os.W_OK):
        raise LookinsideError(f"cannot write into the run directory {path}: permission denied.")
    return path

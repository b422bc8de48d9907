"""The results of a study: each run's outcome (`RunResult`, its `result.json`), the summary
over seeds per variant, `summary.md` and `results.csv`: what `ablate` writes and `report`
reads, so that neither imports the other.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import LookinsideError
from .files import read_json
from .runs import StudyDir


@dataclass
class RunResult:
    """The outcome of one run: its numbers, or its error."""

    variant: str
    seed: int
    run_dir: str
    status: str  # "done" or "failed"
    valid_accuracy: float = math.nan
    valid_loss: float = math.nan
    train_loss: float = math.nan
    seconds_per_epoch: float = math.nan
    params: int = 0
    findings: list[str] = field(default_factory=list)  # kinds of its warnings and errors
    error: str = ""
    notes: list[str] = field(default_factory=list)  # kinds of its info findings


def read_result(path: Path) -> RunResult:
    """A run's `result.json`, or one sentence saying it is not one."""
    try:
        return RunResult(**read_json(path))
    except TypeError:
        raise LookinsideError(f"{path} does not hold a run's result.") from None


@dataclass
class VariantSummary:
    """One variant over its seeds."""

    variant: str
    runs: int
    failed: int
    acc_mean: float
    acc_std: float
    loss_mean: float
    seconds: float
    params: int
    findings: dict[str, int]
    within_noise_of_best: bool = False
    diverged: int = 0  # finished runs without a valid accuracy (stopped by a non-finite loss)


def summarize(results: list[RunResult]) -> list[VariantSummary]:
    """Mean and sample std over seeds per variant (in study order), and the noise comparison.

    A variant is marked within noise of the best when the difference of the mean accuracies is
    smaller than the spread of that difference, sqrt(std_a² + std_b²). Runs stopped by a
    non-finite loss before their first epoch ended have no accuracy: they are counted as
    `diverged`, and the means are over the others.
    """
    by_variant: dict[str, list[RunResult]] = {}
    for r in results:
        by_variant.setdefault(r.variant, []).append(r)
    summaries = []
    for variant, rs in by_variant.items():
        done = [r for r in rs if r.status == "done"]
        accs = [r.valid_accuracy for r in done if math.isfinite(r.valid_accuracy)]
        losses = [r.valid_loss for r in done if math.isfinite(r.valid_loss)]
        summaries.append(
            VariantSummary(
                variant,
                len(rs),
                len(rs) - len(done),
                statistics.mean(accs) if accs else math.nan,
                statistics.stdev(accs) if len(accs) > 1 else math.nan,
                statistics.mean(losses) if losses else math.nan,
                statistics.mean(r.seconds_per_epoch for r in done) if done else math.nan,
                done[0].params if done else 0,
                dict(Counter(k for r in done for k in r.findings)),
                diverged=len(done) - len(accs),
            )
        )
    ranked = [s for s in summaries if not math.isnan(s.acc_mean)]
    if ranked:
        best = max(ranked, key=lambda s: s.acc_mean)
        for s in ranked:
            spread = math.sqrt(np.nan_to_num(s.acc_std) ** 2 + np.nan_to_num(best.acc_std) ** 2)
            s.within_noise_of_best = s is not best and best.acc_mean - s.acc_mean < spread
    return summaries


def _cell(text: str) -> str:
    """`text` as one Markdown table cell: its '|' escaped, its line breaks made spaces."""
    return " ".join(text.split()).replace("|", "\\|")


def accuracy_cell(s: VariantSummary) -> str:
    """A variant's accuracy as its summary shows it: mean ± std, and what to know beside."""
    acc = (
        f"{s.acc_mean:.2%} ± {s.acc_std:.2%}" if not math.isnan(s.acc_std) else f"{s.acc_mean:.2%}"
    )
    if s.within_noise_of_best:
        acc += " (≈ best, within noise)"
    if s.failed:
        acc += f" ({s.failed} failed)"
    if s.diverged:
        acc += f" ({s.diverged} diverged)"
    return acc


def summary_markdown(summaries: list[VariantSummary], n_seeds: int) -> str:
    """The summary table: one row per variant."""
    lines = [
        "| variant | valid accuracy (mean ± std) | valid loss | s/epoch | params | findings |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for s in summaries:
        acc = accuracy_cell(s)
        found = (
            ", ".join(f"{k} ({n}/{s.runs - s.failed})" for k, n in sorted(s.findings.items()))
            or "-"
        )
        cells = [_cell(s.variant), acc, f"{s.loss_mean:.4f}", f"{s.seconds:.2f}", f"{s.params:,}",
                 found]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"\n{n_seeds} seed(s) per variant; std is the sample standard deviation over seeds. "
        "'≈ best' marks a difference from the best variant smaller than its spread.\n"
    )
    return "\n".join(lines) + "\n" + note


def results_csv(results: list[RunResult], out: Path) -> str:
    """The text of `results.csv`: a row per run, its directory relative to the study `out`
    (the study directory may move), its findings joined by ';'."""
    buf = io.StringIO()
    columns = [f for f in RunResult.__dataclass_fields__]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in results:
        row = asdict(r)
        row["findings"] = ";".join(r.findings)
        row["notes"] = ";".join(r.notes)
        row["run_dir"] = _relative(Path(r.run_dir), out)
        writer.writerow(row)
    return buf.getvalue()


def load_results(out: Path) -> list[RunResult]:
    """The runs of a study directory, read back from its `results.csv`, or, for a study
    not finished (interrupted, or still running), from the runs that have finished."""
    study = StudyDir(out)
    path = study.results
    if not path.is_file() and study.study.is_file():
        finished = study.finished()
        if not finished:
            raise LookinsideError(f"no run of the study in {out} has finished yet.")
        return [read_result(p) for p in finished]
    if not path.is_file():
        raise LookinsideError(f"{out} is not a study directory (it has no results.csv).")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return [
        RunResult(
            r["variant"],
            int(r["seed"]),
            str(out / r["run_dir"]),  # relative to the study (an absolute one stays)
            r["status"],
            float(r["valid_accuracy"]),
            float(r["valid_loss"]),
            float(r["train_loss"]),
            float(r["seconds_per_epoch"]),
            int(r["params"]),
            [k for k in r["findings"].split(";") if k],
            r["error"],
            [k for k in (r.get("notes") or "").split(";") if k],  # none before notes were kept
        )
        for r in rows
    ]


def _relative(path: Path, out: Path) -> str:
    """`path` relative to the study directory `out` where it lies inside it, else as is."""
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)

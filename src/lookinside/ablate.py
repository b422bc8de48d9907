"""`run_study`: every run of a study in its own run directory, resumable, then the summary.

A finished run leaves `result.json`; running the study again skips it. A run that failed
leaves its error in `result.json` and is reported, not retried (delete its directory to retry).
A run interrupted half-way has no `result.json`: its directory is cleared and it runs again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LookinsideError
from .files import atomic_write_text, exclusive, read_json, write_json
from .study import Run, Study


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


def execute(run: Run, run_dir: Path) -> RunResult:
    """Train one run (in this process) and record its result in `run_dir/result.json`."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(run_dir.parent / f".{run_dir.name}.lock", f"run {run_dir}"):
        return _execute(run, run_dir)


def _execute(run: Run, run_dir: Path) -> RunResult:
    from .train import train

    if run_dir.exists():
        shutil.rmtree(run_dir)  # an interrupted run: start it again
    try:
        result = train(run.config(run_dir), verbose=False)
        last = result.history[-1].values if result.history else {}
        outcome = RunResult(
            run.variant,
            run.seed,
            str(run_dir),
            "done",
            last.get("valid_accuracy", math.nan),
            last.get("valid_loss", math.nan),
            last.get("train_loss", math.nan),
            statistics.mean(h.seconds for h in result.history) if result.history else math.nan,
            sum(p.numel() for p in result.learn.model.parameters()),
            sorted({f.kind for f in result.findings or [] if f.severity != "info"}),
        )
    except (LookinsideError, ValueError, RuntimeError) as e:
        run_dir.mkdir(parents=True, exist_ok=True)
        outcome = RunResult(run.variant, run.seed, str(run_dir), "failed", error=str(e))
    write_json(run_dir / "result.json", asdict(outcome))
    return outcome


def read_result(path: Path) -> RunResult:
    """A run's `result.json`, or one sentence saying it is not one."""
    try:
        return RunResult(**read_json(path))
    except TypeError:
        raise LookinsideError(f"{path} does not hold a run's result.") from None


def gpu_for_slot(slot: int, n_gpus: int) -> int | None:
    """The GPU the `slot`-th worker process trains on: the local GPUs in turn (None: no GPU)."""
    return slot % n_gpus if n_gpus else None


def _worker_init(threads: int, slots: Any) -> None:
    """In each worker process: its share of the CPU threads, and the next local GPU in turn."""
    import torch

    torch.set_num_threads(threads)
    with slots.get_lock():
        slot, slots.value = slots.value, slots.value + 1
    gpu = gpu_for_slot(slot, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if gpu is not None:
        torch.cuda.set_device(gpu)  # `default_device()` and `--device cuda` then mean this GPU


def run_study(
    study: Study,
    out: Path,
    jobs: int = 1,
    log: Callable[[str], None] = print,
    only: int | None = None,
) -> list[RunResult]:
    """Run (or resume) every run of `study` under `out`, then write the results and summary.

    `only=k` runs the seeds of the k-th variant alone and writes no summary: one task of a
    cluster job array (see docs/cluster.md); a last run without `only` gathers them all.
    """
    if only is not None and not 0 <= only < len(study.variants):
        raise LookinsideError(
            f"--only {only}: the study has variants 0 to {len(study.variants) - 1}."
        )
    out.mkdir(parents=True, exist_ok=True)
    marker = {"name": study.name, "seeds": study.seeds, "variants": study.variants}
    saved = out / "study.json"
    if saved.exists() and read_json(saved) != json.loads(json.dumps(marker)):
        raise LookinsideError(f"{out} holds another study; choose another --out.")
    write_json(saved, marker)
    runs = study.runs()
    results: dict[int, RunResult] = {}
    todo: list[tuple[int, Run, Path]] = []
    names = list(study.variants)
    for i, run in enumerate(runs):
        if only is not None and run.variant != names[only]:
            continue
        run_dir = out / "runs" / run.slug / f"seed-{run.seed}"
        if not run_dir.resolve().is_relative_to(out.resolve()):  # slugs make it so: checked
            raise LookinsideError(f"variant {run.variant!r} would write outside {out}.")
        done = run_dir / "result.json"
        if done.exists():
            results[i] = read_result(done)
            log(f"[{i + 1}/{len(runs)}] {run.variant}, seed {run.seed}: kept ({results[i].status})")
        else:
            todo.append((i, run, run_dir))

    started, finished = time.perf_counter(), 0

    def report(i: int, r: RunResult, seconds: float) -> None:
        nonlocal finished
        finished += 1
        what = (
            f"valid accuracy {r.valid_accuracy:.4f}" if r.status == "done" else f"FAILED: {r.error}"
        )
        left = len(todo) - finished
        eta = (time.perf_counter() - started) / finished * left  # wall time: jobs included
        tail = f"; {left} to go, about {duration(eta)} left" if left else ""
        log(f"[{i + 1}/{len(runs)}] {r.variant}, seed {r.seed}: {what} ({seconds:.1f} s){tail}")

    if jobs <= 1:
        for i, run, run_dir in todo:
            start = time.perf_counter()
            results[i] = execute(run, run_dir)
            report(i, results[i], time.perf_counter() - start)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        import multiprocessing

        spawn = multiprocessing.get_context("spawn")
        slots = spawn.Value("i", 0)
        with ProcessPoolExecutor(jobs, spawn, _worker_init, (threads, slots)) as pool:
            start = time.perf_counter()
            futures = {pool.submit(execute, run, run_dir): i for i, run, run_dir in todo}
            for future, i in futures.items():
                results[i] = future.result()
                report(i, results[i], time.perf_counter() - start)
    ordered = [results[i] for i in sorted(results)]
    if only is None:
        write_results(ordered, out)
    return ordered


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


def summarize(results: list[RunResult]) -> list[VariantSummary]:
    """Mean and sample std over seeds per variant (in study order), and the noise comparison.

    A variant is marked within noise of the best when the difference of the mean accuracies is
    smaller than the spread of that difference, sqrt(std_a² + std_b²).
    """
    by_variant: dict[str, list[RunResult]] = {}
    for r in results:
        by_variant.setdefault(r.variant, []).append(r)
    summaries = []
    for variant, rs in by_variant.items():
        done = [r for r in rs if r.status == "done"]
        accs = [r.valid_accuracy for r in done]
        summaries.append(
            VariantSummary(
                variant,
                len(rs),
                len(rs) - len(done),
                statistics.mean(accs) if accs else math.nan,
                statistics.stdev(accs) if len(accs) > 1 else math.nan,
                statistics.mean(r.valid_loss for r in done) if done else math.nan,
                statistics.mean(r.seconds_per_epoch for r in done) if done else math.nan,
                done[0].params if done else 0,
                dict(Counter(k for r in done for k in r.findings)),
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


def summary_markdown(summaries: list[VariantSummary], n_seeds: int) -> str:
    """The summary table: one row per variant."""
    lines = [
        "| variant | valid accuracy (mean ± std) | valid loss | s/epoch | params | findings |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for s in summaries:
        acc = (
            f"{s.acc_mean:.2%} ± {s.acc_std:.2%}"
            if not math.isnan(s.acc_std)
            else f"{s.acc_mean:.2%}"
        )
        if s.within_noise_of_best:
            acc += " (≈ best, within noise)"
        if s.failed:
            acc += f" ({s.failed} failed)"
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


def write_results(results: list[RunResult], out: Path) -> None:
    """`results.csv`, `summary.md` and the comparison plots."""
    buf = io.StringIO()
    columns = [f for f in RunResult.__dataclass_fields__]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in results:
        row = asdict(r)
        row["findings"] = ";".join(r.findings)
        row["run_dir"] = _relative(Path(r.run_dir), out)  # the study directory may move
        writer.writerow(row)
    atomic_write_text(out / "results.csv", buf.getvalue())
    summaries = summarize(results)
    seeds = len({r.seed for r in results})
    atomic_write_text(out / "summary.md", summary_markdown(summaries, seeds))
    from .report import write_report
    from .study_plots import write_study_plots

    write_study_plots(results, summaries, out)
    write_report(out)


def load_results(out: Path) -> list[RunResult]:
    """The runs of a study directory, read back from its `results.csv`, or, for a study
    not finished (interrupted, or still running), from the runs that have finished."""
    path = out / "results.csv"
    if not path.is_file() and (out / "study.json").is_file():
        finished = sorted(out.glob("runs/*/seed-*/result.json"))
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
        )
        for r in rows
    ]


def duration(seconds: float) -> str:
    """A duration in words a reader takes in at a glance: 45 s, 12 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _relative(path: Path, out: Path) -> str:
    """`path` relative to the study directory `out` where it lies inside it, else as is."""
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)

"""`run_study`: every run of a study in its own run directory, resumable, then the summary.

Running a study again in its directory resumes it; a study with variants added to it
extends it (the finished runs are kept); any other study is refused.

A finished run leaves `result.json`; running the study again skips it. A run that failed
leaves its error in `result.json` and is reported, not retried (delete its directory to retry).
A run interrupted half-way has no `result.json`: its directory is cleared and it runs again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .diagnosis.findings import kinds
from .errors import LookinsideError
from .files import atomic_write_text, exclusive, read_json, write_json
from .runs import StudyDir, study_dir
from .study import Run, Study
from .study_results import RunResult, read_result, results_csv, summarize, summary_markdown


def execute(run: Run, run_dir: Path) -> RunResult:
    """Train one run (in this process) and record its result in `run_dir/result.json`."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(StudyDir.run_lock(run_dir), f"run {run_dir}"):
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
            kinds(result.findings or []),
            notes=kinds(result.findings or [], serious=False),
        )
    except (LookinsideError, ValueError, RuntimeError) as e:
        run_dir.mkdir(parents=True, exist_ok=True)
        outcome = RunResult(run.variant, run.seed, str(run_dir), "failed", error=str(e))
    write_json(StudyDir.result(run_dir), asdict(outcome))
    return outcome


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
    study_dir(out)  # new, empty or a study's, or one sentence
    marker = json.loads(json.dumps({"name": study.name, "seeds": study.seeds,
                                    "variants": study.variants}))  # fmt: skip
    saved = StudyDir(out).study
    if saved.exists() and not extends(marker, read_json(saved)):
        raise LookinsideError(f"{out} holds another study; choose another --out.")
    write_json(saved, marker)
    runs = study.runs()
    results: dict[int, RunResult] = {}
    todo: list[tuple[int, Run, Path]] = []
    names = list(study.variants)
    for i, run in enumerate(runs):
        if only is not None and run.variant != names[only]:
            continue
        run_dir = StudyDir(out).run(run.slug, run.seed)
        done = StudyDir.result(run_dir)
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


def extends(study: dict[str, Any], saved: Any) -> bool:
    """Whether `study` is the `saved` one (its `study.json`), or it with variants added: the
    same name and seeds, and each saved variant with the same options."""
    if not isinstance(saved, dict) or not isinstance(saved.get("variants"), dict):
        return False
    same = all(study.get(k) == saved.get(k) for k in ("name", "seeds"))
    kept = all(study["variants"].get(name) == opts for name, opts in saved["variants"].items())
    return same and kept


def write_results(results: list[RunResult], out: Path) -> None:
    """`results.csv`, `summary.md`, the comparison plots and the study's report."""
    study = StudyDir(out)
    atomic_write_text(study.results, results_csv(results, out))
    summaries = summarize(results)
    seeds = len({r.seed for r in results})
    atomic_write_text(study.summary, summary_markdown(summaries, seeds))
    from .report import write_report
    from .study_plots import write_study_plots

    write_study_plots(results, summaries, out)
    write_report(out)


def duration(seconds: float) -> str:
    """A duration in words a reader takes in at a glance: 45 s, 12 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"

"""Remedies proven by trial, on the zoo: for each faulty case, the diagnosis, a trial of its
remedies (`lookinside.try_remedies`, on a Learner built like the case's, the same seeds for
each variant), and the healthy twin for the accuracy a repair can win back.

A case is repairable when the library has a Python change for a remedy of one of its labelled
findings; it is repaired when the trial's recommended remedy leaves none of its labelled
findings in any seed's run and wins back most (≥ 50 %) of the accuracy lost against the twin.

    python benchmarks/remedy_trial.py [--jobs 2] [--seeds 2] [--only NAME ...] [--no-write]

The spec's target: ≥ 90 % of the repairable cases repaired.
"""

from __future__ import annotations

import argparse
import functools
import math
import time
import warnings

import torch

from _report import append_section, markdown_table
from lookinside.zoo.repair import Repair, repair_case
from lookinside.zoo.twins import faulty_cases

TARGET = 0.90


def _repair(name: str, seeds: int) -> Repair:
    from lookinside.zoo.cases import case_named

    warnings.filterwarnings("ignore")
    return repair_case(case_named(name), tuple(range(seeds)))


def rows(repairs: list[Repair]) -> list[list[str]]:
    """One row per case: its kinds, the recommended remedy, accuracies, verdict."""
    out = []
    for r in repairs:
        best = r.best
        tried = ", ".join(row.variant for row in r.trial.rows[1:]) or "-"
        if r.inapplicable:
            verdict = "its remedy does not apply to this model"
        elif not r.repairable:
            verdict = "no remedy in Python"
        elif r.repaired:
            verdict = "repaired"
        elif best is None:
            verdict = "no remedy helped"
        else:
            verdict = "finding stays" if not r.removed else "accuracy not recovered"
        out.append([
            r.name, ", ".join(r.kinds), tried, best.variant if best else "-",
            f"{r.original.accuracy:.3f}", f"{best.accuracy:.3f}" if best else "-",
            f"{r.twin_accuracy:.3f}",
            f"{r.recovered:.0%}" if math.isfinite(r.recovered) else "-", verdict,
        ])  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per variant (2)")
    parser.add_argument("--only", nargs="*", help="these cases only")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    names = [c.name for c in faulty_cases() if not args.only or c.name in args.only]
    start = time.perf_counter()
    work = functools.partial(_repair, seeds=args.seeds)
    if args.jobs <= 1:
        repairs = [work(n) for n in names]
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            repairs = pool.map(work, names, chunksize=1)
    wall = time.perf_counter() - start
    table = markdown_table(
        ["case", "labelled", "remedies tried", "recommended", "acc. faulty", "acc. remedy",
         "acc. twin", "recovered", "verdict"], rows(repairs),
    )  # fmt: skip
    repairable = [r for r in repairs if r.repairable]
    repaired = sum(r.repaired for r in repairable)
    share = repaired / len(repairable) if repairable else 0.0
    inapplicable = sum(r.inapplicable for r in repairs)
    verdict = (
        f"repaired {repaired}/{len(repairable)} repairable cases ({share:.0%}, target "
        f"≥ {TARGET:.0%}); {len(repairs) - len(repairable) - inapplicable} case(s) without a "
        f"remedy in Python, {inapplicable} whose remedy does not apply to the model; "
        f"{args.seeds} seed(s) per variant; {len(repairs)} cases in {wall:.0f} s with "
        f"{args.jobs} worker(s): {'met' if share >= TARGET else 'missed'}"
    )
    print(table, verdict, sep="\n\n")
    if not args.no_write and not args.only:
        append_section("Remedies on trial (zoo)", torch.device("cpu"), f"{table}\n\n{verdict}")


if __name__ == "__main__":
    main()

"""The diagnosis on the three independent sets of labelled runs (`benchmarks/independent/`).

Like `diagnosis_zoo.py`: trains every case (one torch thread per worker), diagnoses it, scores
it against its labels, prints one row per case and each set's totals, and appends them to
RESULTS.md.

    python benchmarks/diagnosis_independent.py [--jobs 2] [--sets set1 set2 set3] [--no-write]
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import time

import torch

from _report import append_section, markdown_table
from lookinside.zoo.run import Case, CaseResult, run_case

SETS = ("set1", "set2", "set3")


def cases(name: str) -> list[Case]:
    """The cases of one set."""
    return list(importlib.import_module(f"independent.{name}").CASES)


def run_one(key: tuple[str, str]) -> CaseResult:
    """Run case `key[1]` of set `key[0]` (in a worker: the set registers its optimizers)."""
    torch.set_num_threads(1)
    return run_case(next(c for c in cases(key[0]) if c.name == key[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=SETS)
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    keys = [(s, c.name) for s in args.sets for c in cases(s)]
    by_key = {(s, c.name): c for s in args.sets for c in cases(s)}
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        results = pool.map(run_one, keys, chunksize=1)
    wall = time.perf_counter() - start
    rows, totals = [], []
    for s in args.sets:
        mine = [(k, r) for k, r in zip(keys, results, strict=True) if k[0] == s]
        for key, r in mine:
            case = by_key[key]
            expected = ", ".join(map(str, case.expect)) or "nothing above info"
            verdict = "ok" if r.passed else "FAIL: " + "; ".join(r.problems)
            rows.append([f"{s}/{r.name}", expected, r.found(), verdict])
        faulty = [r for k, r in mine if not by_key[k].healthy]
        healthy = [r for k, r in mine if by_key[k].healthy]
        totals.append(
            f"{s}: faulty cases right {sum(r.passed for r in faulty)}/{len(faulty)}, healthy "
            f"cases with a warning or error {sum(not r.passed for r in healthy)}/{len(healthy)}"
        )
    table = markdown_table(["case", "expected", "found (kind@layer, severity)", "verdict"], rows)
    summary = "\n".join([*totals, f"{len(keys)} cases in {wall:.0f} s with {args.jobs} worker(s)"])
    print(table, summary, sep="\n\n")
    if not args.no_write:
        append_section("Diagnosis on the independent sets", torch.device("cpu"),
                       "\n\n".join([table, summary]))  # fmt: skip


if __name__ == "__main__":
    main()

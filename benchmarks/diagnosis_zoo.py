"""The diagnosis measured on the zoo: labelled healthy and faulty training runs.

Trains every case of `lookinside.zoo.cases` (a few seconds each, one torch thread per worker),
diagnoses it, and scores the findings against its labels. Prints one row per case and, per
finding kind, its recall (faulty cases that expect it and got it), exact-layer localisation,
and false alarms (a warning or error of that kind on a healthy case, or a kind a case forbids).

    python benchmarks/diagnosis_zoo.py [--jobs 2] [--only NAME ...] [--no-write]

The spec's targets: ≥ 95 % of faulty cases right (kind, and layer where one is defined), no
warning or error on any healthy case, the whole zoo in ≤ 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch

from _report import append_section, markdown_table
from lookinside.zoo.cases import CASES, case_named
from lookinside.zoo.run import ORACLE, CaseResult, run_all

TARGET = 0.95


def case_rows(results: list[CaseResult]) -> list[list[str]]:
    """One row per case: name, family, expected, found, accuracy, seconds, verdict."""
    by_name = {c.name: c for c in CASES}
    rows = []
    for r in results:
        case = by_name[r.name]
        expected = ", ".join(map(str, case.expect)) or "nothing above info"
        if r.first_non_finite is not None and any(e.layer == ORACLE for e in case.expect):
            expected += f" (true: {r.first_non_finite[0]} at step {r.first_non_finite[1]})"
        verdict = "ok" if r.passed else "FAIL: " + "; ".join(r.problems)
        rows.append([r.name, case.family, expected, r.found(), f"{r.accuracy:.3f}",
                     f"{r.seconds:.1f}", verdict])  # fmt: skip
    return rows


def kind_rows(results: list[CaseResult]) -> list[list[str]]:
    """Per finding kind: recall, exact-layer localisation, false alarms."""
    by_name = {c.name: c for c in CASES}
    expected: dict[str, int] = defaultdict(int)
    recalled: dict[str, int] = defaultdict(int)
    located: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    alarms: dict[str, int] = defaultdict(int)
    for r in results:
        case = by_name[r.name]
        for f in r.findings:
            bad = f.kind in case.forbid or (case.healthy and f.severity in ("warning", "error"))
            alarms[f.kind] += bad
        for want in case.expect:
            expected[want.kind] += 1
            missed = {p.split()[-1] for p in r.problems if p.startswith("missed")}
            recalled[want.kind] += want.kind not in missed
            if want.layer is not None:
                located[want.kind][1] += 1
                wrong = any(p.startswith(f"{want.kind} at the wrong") for p in r.problems)
                located[want.kind][0] += want.kind not in missed and not wrong
    kinds = sorted(set(expected) | set(alarms))
    rows = []
    for k in kinds:
        rec = f"{recalled[k]}/{expected[k]}" if expected[k] else "-"
        loc = f"{located[k][0]}/{located[k][1]}" if located[k][1] else "-"
        rows.append([k, rec, loc, str(alarms[k])])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--only", nargs="*", help="run these cases only")
    parser.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or c.name in args.only]
    start = time.perf_counter()
    results = run_all(cases, jobs=args.jobs, named=case_named)
    wall = time.perf_counter() - start
    table = markdown_table(
        ["case", "family", "expected", "found (kind@layer, severity)", "accuracy", "s",
         "verdict"], case_rows(results),
    )  # fmt: skip
    kinds = markdown_table(["kind", "recall", "exact layer", "false alarms"], kind_rows(results))
    by_name = {c.name: c for c in CASES}
    faulty = [r for r in results if not by_name[r.name].healthy]
    healthy = [r for r in results if by_name[r.name].healthy]
    right = sum(r.passed for r in faulty)
    alarmed = sum(not r.passed for r in healthy)
    share = right / len(faulty) if faulty else 1.0
    met = share >= TARGET and alarmed == 0
    verdict = (
        f"faulty cases right: {right}/{len(faulty)} ({share:.0%}, target ≥ {TARGET:.0%}); "
        f"healthy cases with a warning or error: {alarmed}/{len(healthy)} (target 0); "
        f"{len(results)} cases in {wall:.0f} s with {args.jobs} worker(s): "
        f"{'met' if met else 'missed'}"
    )
    print(table, kinds, verdict, sep="\n\n")
    if not args.no_write and not args.only:
        append_section("Diagnosis zoo", torch.device("cpu"), "\n\n".join([table, kinds, verdict]))


if __name__ == "__main__":
    main()

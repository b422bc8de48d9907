"""A study's results: the summary over seeds per variant and its table."""

from __future__ import annotations

import math
import statistics

import pytest

from lookinside.study_results import RunResult, VariantSummary, summarize, summary_markdown


def result(variant: str, seed: int, acc: float, status: str = "done") -> RunResult:
    return RunResult(
        variant,
        seed,
        "",
        status,
        acc,
        1 - acc,
        0.5,
        2.0,
        10,
        ["dead_activations"] if acc < 0.5 else [],
    )


def test_summary_statistics_equal_a_direct_computation() -> None:
    results = [result("a", s, acc) for s, acc in enumerate([0.90, 0.92, 0.97])]
    results += [result("b", s, acc) for s, acc in enumerate([0.93, 0.95, 0.94])]
    results += [result("c", s, acc) for s, acc in enumerate([0.30, 0.40])] + [
        result("c", 2, math.nan, "failed")
    ]
    a, b, c = summarize(results)
    assert a.acc_mean == pytest.approx(statistics.mean([0.90, 0.92, 0.97]))
    assert a.acc_std == pytest.approx(statistics.stdev([0.90, 0.92, 0.97]))
    assert b.acc_mean == pytest.approx(0.94) and not b.within_noise_of_best  # b is the best
    assert a.within_noise_of_best  # 0.0133 below b, spread sqrt(0.036² + 0.01²)
    assert c.failed == 1 and c.findings == {"dead_activations": 2} and not c.within_noise_of_best


def test_variant_names_cannot_break_the_summary_table() -> None:
    """A '|' or a line break in a variant's name stays inside its cell."""
    s = VariantSummary("a | b\nc", 1, 0, 0.5, math.nan, 0.7, 1.0, 10, {})
    row = summary_markdown([s], 1).splitlines()[2]
    assert row.startswith("| a \\| b c | 50.00% |") and row.count(" | ") == 5


def test_a_run_that_diverged_before_its_first_epoch_is_counted_not_averaged() -> None:
    """A run stopped by a non-finite loss in its first epoch has no accuracy (NaN): the
    summary is over the others and says how many diverged (statistics.stdev raised on NaN)."""
    results = [result("a", 0, 0.9), result("a", 1, 0.8), result("a", 2, math.nan)]
    (a,) = summarize(results)
    assert a.acc_mean == pytest.approx(0.85) and a.acc_std == pytest.approx(
        statistics.stdev([0.9, 0.8])
    )
    assert a.diverged == 1 and a.failed == 0 and math.isfinite(a.loss_mean)
    assert "85.00% ± 7.07% (1 diverged)" in summary_markdown([a], 3)

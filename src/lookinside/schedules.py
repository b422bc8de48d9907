"""Schedules: pure functions of training progress `pos` in [0, 1] to a hyper-parameter value.

Each is a small frozen dataclass with `__call__`, so schedules print, compare and pickle.
`ParamScheduler` applies them; `one_cycle` builds the usual warm-up-then-anneal pair.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Schedule = Callable[[float], float]


@dataclass(frozen=True)
class _No:
    start: float

    def __call__(self, pos: float) -> float:
        return self.start


@dataclass(frozen=True)
class _Lin:
    start: float
    end: float

    def __call__(self, pos: float) -> float:
        return self.start + pos * (self.end - self.start)


@dataclass(frozen=True)
class _Cos:
    start: float
    end: float

    def __call__(self, pos: float) -> float:
        return self.start + (1 + math.cos(math.pi * (1 - pos))) * (self.end - self.start) / 2


@dataclass(frozen=True)
class _Exp:
    start: float
    end: float

    def __call__(self, pos: float) -> float:
        return float(self.start * (self.end / self.start) ** pos)


def sched_no(start: float, end: float | None = None) -> Schedule:
    """Constant `start` (`end` is ignored, for a uniform signature)."""
    return _No(start)


def sched_lin(start: float, end: float) -> Schedule:
    """start + pos·(end - start)."""
    return _Lin(start, end)


def sched_cos(start: float, end: float) -> Schedule:
    """start + (1 + cos(π(1 - pos)))·(end - start)/2: flat at both ends, steepest midway."""
    return _Cos(start, end)


def sched_exp(start: float, end: float) -> Schedule:
    """start·(end/start)^pos: a straight line on a log scale; both ends must be positive."""
    if start <= 0 or end <= 0:
        raise ValueError(f"sched_exp needs positive ends, got {start} and {end}.")
    return _Exp(start, end)


@dataclass(frozen=True)
class _Combined:
    bounds: tuple[float, ...]  # cumulative starts of each part: 0, p1, p1+p2, ...
    scheds: tuple[Schedule, ...]

    def __call__(self, pos: float) -> float:
        pos = min(max(pos, 0.0), 1.0)
        i = min(bisect.bisect_right(self.bounds, pos) - 1, len(self.scheds) - 1)
        while i > 0 and self.bounds[i + 1] == self.bounds[i]:  # skip empty parts
            i -= 1
        width = self.bounds[i + 1] - self.bounds[i]
        return self.scheds[i]((pos - self.bounds[i]) / width if width else 1.0)


def combine_scheds(pcts: Sequence[float], scheds: Sequence[Schedule]) -> Schedule:
    """Run `scheds[i]` over the fraction `pcts[i]` of training, each over its own [0, 1].

    `combine_scheds([0.3, 0.7], [sched_cos(0.3, 0.6), sched_cos(0.6, 0.2)])` warms up over the
    first 30 % and anneals over the rest. `pcts` must be non-negative and sum to 1.
    """
    if len(pcts) != len(scheds) or not pcts:
        raise ValueError(
            f"combine_scheds needs one pct per schedule, got {len(pcts)} and {len(scheds)}."
        )
    if any(p < 0 for p in pcts) or not math.isclose(sum(pcts), 1.0, abs_tol=1e-6):
        raise ValueError(
            f"combine_scheds: pcts must be non-negative and sum to 1, got {list(pcts)}."
        )
    bounds = (0.0, *itertools.accumulate(pcts))
    return _Combined((*bounds[:-1], 1.0), tuple(scheds))


def one_cycle(
    high: float, div: float = 25.0, div_final: float = 1e4, pct_start: float = 0.25
) -> Schedule:
    """Warm up from high/div to `high` over `pct_start` of training (cosine), then anneal to
    high/div_final (cosine): the learning-rate half of one-cycle training."""
    return combine_scheds(
        [pct_start, 1 - pct_start],
        [sched_cos(high / div, high), sched_cos(high, high / div_final)],
    )


def one_cycle_mom(high: float = 0.95, low: float = 0.85, pct_start: float = 0.25) -> Schedule:
    """The momentum half of one-cycle: down from `high` to `low` while the lr rises, then back."""
    return combine_scheds([pct_start, 1 - pct_start], [sched_cos(high, low), sched_cos(low, high)])

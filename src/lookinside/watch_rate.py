"""Which training steps `watch` records: every `every`-th, or by default as many as it can
while recording costs under a budget of a step's time.

Recording a step costs a fixed amount per watched module (hooks, a few kernels each), so on a
model of many small layers it can cost as much as the step itself. With `every="auto"` the
watcher records:

- the first `DENSE` steps in full: where initialisation problems show, and all of a short run;
- then `PROBE` steps, one in four recorded, timed on the host's clock between the starts of
  steps (no device read): what the median cycle of four steps costs over four unwatched steps
  is the price of one recorded step (a median, since this clock also counts whatever else the
  machine does; the cycles whose recorded step measured the details, one in `detail`, are
  priced apart and weighed in), and the unwatched steps (hooks detached) give a plain step's
  time;
- from then on, every `k`-th step, `k` the smallest power of two at which recording costs at
  most `budget` of a plain step.

The choice rests on timing, so two runs of one model may choose differently; an int `every`
records the same steps in every run (a resumed run keeps the rate its record chose).
"""

from __future__ import annotations

import operator
import statistics
from typing import Literal

DENSE = 128  # steps recorded in full at the start
PROBE = 64  # then steps timed, one in every CYCLE recorded
CYCLE = 4
BUDGET = 0.05  # the share of a plain step that recording may cost
LIMIT = 1024  # the sparsest automatic rate

Every = int | Literal["auto"]


class RecordingRate:
    """Decides, as each training step opens, whether it is recorded; see the module docstring.

    Args:
        every: record every `every`-th step, or "auto".
        budget: with "auto", the share of a plain step's time that recording may cost.
        first_step: the watcher's first step (a resumed run's numbering goes on); with "auto"
            the dense start and the probe count from it.
        detail: the watcher measures the details at every `detail`-th recorded step, the
            first included: the probe prices those steps apart, since they cost more.
    """

    def __init__(
        self, every: Every = "auto", budget: float = BUDGET, first_step: int = 0, detail: int = 1
    ) -> None:
        self.interval = 1 if every == "auto" else _positive(every)  # the rate, 1 until chosen
        if not budget > 0:
            raise ValueError(f"budget must be positive, not {budget!r}.")
        self.auto = every == "auto"
        self.budget, self.start, self.detail = budget, first_step, detail
        self.deciding = self.auto  # auto, and not chosen yet
        self.cost: float | None = None  # one recorded step's extra time over a plain step's
        self.chosen_at: int | None = None  # the step at which "auto" chose
        self._times: list[float] = []  # the probe steps' opening times
        self.recorded = 0  # steps recorded so far
        self._detailed: list[bool] = []  # whether each probe cycle's recorded step was

    def records(self, step: int, thinned: int, now: float) -> bool:
        """Whether `step`, opening at time `now` (seconds), is recorded; past the host's
        memory the record is `thinned` (a power of two: see `watch_buffer`)."""
        recorded = self._records(step, thinned, now)
        if recorded:
            if self.deciding and step - self.start >= DENSE:  # a probe cycle's
                self._detailed.append(self.detailed)
            self.recorded += 1
        return recorded

    @property
    def detailed(self) -> bool:
        """Whether the next recorded step measures the details (one in `detail`, the
        first included)."""
        return self.recorded % self.detail == 0

    def _records(self, step: int, thinned: int, now: float) -> bool:
        if self.deciding:
            i = step - self.start
            if i < DENSE:
                return True
            self._times.append(now)
            if i < DENSE + PROBE:
                return (i - DENSE) % CYCLE == 0
            self._choose(step)
        return step % (self.interval * thinned) == 0

    def _choose(self, step: int) -> None:
        periods = [b - a for a, b in zip(self._times, self._times[1:], strict=False)]
        cycles = [periods[i : i + CYCLE] for i in range(0, len(periods) - CYCLE + 1, CYCLE)]
        pure = [p for cycle in cycles for p in cycle[2:]]  # neither filing a step nor hooked
        plain = statistics.median(pure)
        # The median cycle of each kind (a slow step, an epoch's end or another process, is
        # no cost of ours), then a recorded step's mean cost: one in `detail` is detailed
        extras = [sum(cycle) - CYCLE * plain for cycle in cycles]
        light = [e for e, d in zip(extras, self._detailed, strict=False) if not d]
        heavy = [e for e, d in zip(extras, self._detailed, strict=False) if d]
        if light and heavy:
            mean = statistics.median(light) * (self.detail - 1) + statistics.median(heavy)
            extra = max(mean / self.detail, 0.0)
        else:
            extra = max(statistics.median(extras), 0.0)
        self.cost = extra / plain if plain > 0 else 0.0
        k = 1
        while self.cost / k > self.budget and k < LIMIT:
            k *= 2
        self.interval, self.chosen_at, self.deciding = k, step, False
        self._times, self._detailed = [], []

    @property
    def every(self) -> Every:
        """What a resumed watcher should be given: the chosen rate, or "auto" while deciding."""
        return "auto" if self.deciding else self.interval

    def facts(self) -> dict[str, object]:
        """What the record's meta says of the rate: how "auto" chose, and at what cost;
        nothing for a rate given (meta's `every` says it; a resumed record, given the rate
        its first part chose, so keeps what that part said)."""
        if not self.auto:
            return {}
        if self.chosen_at is None:
            return {"rate": "auto, not chosen yet"}
        assert self.cost is not None
        return {"rate": "auto", "chosen_at": self.chosen_at, "budget": self.budget,
                "recording_cost": round(self.cost, 4)}  # fmt: skip


def _positive(every: object) -> int:
    """`every` as an int of at least 1 (numpy's ints too, not a bool), or a ValueError."""
    try:
        n = operator.index(every)  # type: ignore[arg-type]
    except TypeError:
        n = 0
    if isinstance(every, bool) or n < 1:
        raise ValueError(f'every must be "auto" or an int of at least 1, not {every!r}.')
    return int(n)

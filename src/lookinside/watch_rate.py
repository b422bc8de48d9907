"""Which training steps `watch` records: every `every`-th, or by default as many as it can
while recording costs under a budget of a step's time.

Recording a step costs a fixed amount per watched module (hooks, a few kernels each), so on a
model of many small layers it can cost as much as the step itself. With `every="auto"` the
watcher records:

- the first `DENSE` steps in full: where initialisation problems show, and all of a short run;
- then `PROBE` steps, one in four recorded, timed on the host's clock between the starts of
  steps (no device read): what the median cycle of four steps costs over four unwatched steps
  is the price of one recorded step (a median, since this clock also counts whatever else the
  machine does), and the unwatched steps (hooks detached) give a plain step's time;
- from then on, every `k`-th step, `k` the smallest power of two at which recording costs at
  most `budget` of a plain step.

The choice rests on timing, so two runs of one model may choose differently; an int `every`
records the same steps in every run (a resumed run keeps the rate its record chose).
"""

from __future__ import annotations

import statistics
from typing import Literal

DENSE = 64  # steps recorded in full at the start
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
    """

    def __init__(self, every: Every = "auto", budget: float = BUDGET, first_step: int = 0) -> None:
        if every != "auto" and (not isinstance(every, int) or every < 1):
            raise ValueError(f'every must be "auto" or an int of at least 1, not {every!r}.')
        if not budget > 0:
            raise ValueError(f"budget must be positive, not {budget!r}.")
        self.auto = every == "auto"
        self.interval = 1 if every == "auto" else every  # the chosen rate, 1 until chosen
        self.budget, self.start = budget, first_step
        self.deciding = self.auto  # auto, and not chosen yet
        self.cost: float | None = None  # one recorded step's extra time over a plain step's
        self.chosen_at: int | None = None  # the step at which "auto" chose
        self._times: list[float] = []  # the probe steps' opening times

    def records(self, step: int, thinned: int, now: float) -> bool:
        """Whether `step`, opening at time `now` (seconds), is recorded; past the host's
        memory the record is `thinned` (a power of two: see `watch_buffer`)."""
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
        # The median cycle: a slow step (an epoch's end, another process) is no cost of ours
        extra = max(statistics.median(sum(cycle) for cycle in cycles) - CYCLE * plain, 0.0)
        self.cost = extra / plain if plain > 0 else 0.0
        k = 1
        while self.cost / k > self.budget and k < LIMIT:
            k *= 2
        self.interval, self.chosen_at, self.deciding = k, step, False
        self._times = []

    @property
    def every(self) -> Every:
        """What a resumed watcher should be given: the chosen rate, or "auto" while deciding."""
        return "auto" if self.deciding else self.interval

    def facts(self) -> dict[str, object]:
        """What the record's meta says of the rate: how it was chosen, and at what cost."""
        if not self.auto or self.chosen_at is None:
            return {"rate": "auto, not chosen yet" if self.deciding else "fixed"}
        assert self.cost is not None
        return {"rate": "auto", "chosen_at": self.chosen_at, "budget": self.budget,
                "recording_cost": round(self.cost, 4)}  # fmt: skip

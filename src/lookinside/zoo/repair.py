"""A zoo case's remedies on trial: its diagnosis, then `try_remedies` on a `Learner` built
like the case's, then its healthy twin (`twins`) for the accuracy a repair can recover.

The repair succeeds when the trial's recommended remedy leaves none of the case's labelled
findings in any seed's run, and recovers most of the accuracy lost against the twin (half
of it or more; when the fault cost under 2 points, it must stay within 2 points of the twin).
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..callbacks import ActivationStats
from ..errors import LookinsideError
from ..learner import Learner
from ..study_results import RunResult
from ..trial import ORIGINAL, Trial, TrialRow, trial_run, try_remedies
from .run import Case, optimizer_for, quiet_numpy, run_case
from .twins import twin

SMALL_LOSS = 0.02  # accuracy a fault may cost before "recovering most of it" means something
MOST = 0.5  # the share of the lost accuracy a repair must win back


def case_learner(case: Case) -> Learner:
    """A fresh `Learner` that trains `case` as the zoo does (its model, data, loss, metric,
    optimizer and lr), recording telemetry."""
    model = case.build()
    return Learner(
        model,
        case.data(),
        loss_func=case.loss,
        lr=case.lr,
        opt_func=optimizer_for(case, model),
        metrics=[case.metric] if case.metric is not None else [],
        cbs=[ActivationStats()],
    )


@dataclass
class Repair:
    """What the trial of one faulty case gave."""

    name: str
    kinds: tuple[str, ...]  # the case's labelled finding kinds
    trial: Trial
    twin_accuracy: float

    @property
    def repairable(self) -> bool:
        """Whether the library has a remedy, in Python, for one of the case's kinds, that
        applies to its model (a change that raises for every seed does not)."""
        return any(set(r.targets) & set(self.kinds) and r.done for r in self.trial.rows)

    @property
    def inapplicable(self) -> bool:
        """Whether the case's remedies exist in Python, but none applies to its model."""
        return not self.repairable and any(set(r.targets) & set(self.kinds)
                                           for r in self.trial.rows)  # fmt: skip

    @property
    def original(self) -> TrialRow:
        """The faulty run's own row."""
        original = self.trial.original
        assert original is not None  # every trial trains the original
        return original

    @property
    def best(self) -> TrialRow | None:
        """The remedy the trial recommends."""
        return self.trial.best

    @property
    def removed(self) -> bool:
        """Whether no run of the recommended remedy shows one of the case's kinds."""
        best = self.best
        if best is None or best.done == 0:
            return False
        runs = [r for r in self.trial.results if r.variant == best.variant and r.status == "done"]
        return not any({*r.findings, *r.notes} & set(self.kinds) for r in runs)

    @property
    def recovered(self) -> float:
        """The share of the accuracy lost against the twin that the recommended remedy won
        back (NaN without a recommendation)."""
        best = self.best
        if best is None:
            return math.nan
        lost = self.twin_accuracy - self.original.accuracy
        if lost < SMALL_LOSS:
            return 1.0 if best.accuracy >= self.twin_accuracy - SMALL_LOSS else 0.0
        return (best.accuracy - self.original.accuracy) / lost

    @property
    def repaired(self) -> bool:
        """The finding went away, and most of the lost accuracy came back."""
        return self.removed and self.recovered >= MOST


def repair_case(case: Case, seeds: Sequence[int] = (0, 1)) -> Repair:
    """Diagnose `case`, try its remedies over `seeds`, and train its twin on the same seeds."""
    with quiet_numpy():
        diagnosis = run_case(case)
        try:
            trial = try_remedies(
                lambda: case_learner(case), diagnosis.findings, case.epochs, seeds, log=None
            )
        except LookinsideError:  # no remedy has a Python change: the original alone
            trial = Trial.of(_runs(case, ORIGINAL, seeds), {ORIGINAL: None}, str)
        runs = _runs(twin(case), "twin", seeds)
    accs = [r.valid_accuracy for r in runs if r.status == "done"]
    kinds = tuple(e.kind for e in case.expect)
    return Repair(case.name, kinds, trial, statistics.fmean(accs) if accs else math.nan)


def _runs(case: Case, name: str, seeds: Sequence[int]) -> list[RunResult]:
    with contextlib.redirect_stdout(io.StringIO()):
        return [trial_run(lambda: case_learner(case), name, None, s, case.epochs) for s in seeds]

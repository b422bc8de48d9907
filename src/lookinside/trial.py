"""Trials of remedies: the original run and each remedy its diagnosis proposes, trained with
the same seeds, compared by seed with error bars, and whether each remedy's findings went away.

`candidates` picks what to try from the findings; `Trial.of` compares the runs; `best_pair`
joins the best remedy of the first finding to the best other of the next; `try_remedies`
runs a whole trial from a function that builds a fresh learner (`lookinside fix` runs one
as a study of `lookinside train` runs: `lookinside.fix`).
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from .diagnosis.findings import SERIOUS, Finding, Remedy, kinds
from .errors import LookinsideError
from .study_results import RunResult

if TYPE_CHECKING:
    from .learner import Learner

ORIGINAL = "original"


@dataclass(frozen=True)
class Candidate:
    """A variant to try: its remedies (one; two for a pair) and the kinds of finding they
    address (`targets`)."""

    remedies: tuple[Remedy, ...]
    targets: tuple[str, ...]

    @property
    def name(self) -> str:
        """The variant's name: its remedies' names joined by ' + '."""
        return " + ".join(r.name for r in self.remedies)

    @property
    def options(self) -> dict[str, Any]:
        """The `lookinside train` options its remedies change, together."""
        merged: dict[str, Any] = {}
        for r in self.remedies:
            merged.update(r.options)
        return merged


def candidates(
    findings: Iterable[Finding],
    usable: Callable[[Remedy], bool],
    key: Callable[[Remedy], Hashable],
) -> list[Candidate]:
    """One candidate per distinct usable remedy of the findings, notes (`info`) included,
    in the diagnosis' order (causes first: the lesson's default init is a note that the
    activations shrink before it is a warning that they rise and crash). Remedies with the
    same `key` (the same option changes, or the same Python change) are one candidate that
    addresses each of their findings."""
    found: dict[Hashable, Candidate] = {}
    for f in findings:
        for r in f.remedies:
            if not usable(r):
                continue
            k = key(r)
            known = found.get(k)
            if known is None:
                found[k] = Candidate((r,), (f.kind,))
            elif f.kind not in known.targets:
                found[k] = Candidate(known.remedies, (*known.targets, f.kind))
    return list(found.values())


@dataclass(frozen=True)
class TrialRow:
    """One variant over its seeds: accuracy and loss (mean, std), the gain in accuracy over
    the original run (mean of the per-seed differences and its standard error), and in how
    many runs none of its target findings came back (`cleared`; a target that no run of the
    original showed is `unseen`, and proves nothing either way)."""

    variant: str
    changes: str
    targets: tuple[str, ...]
    runs: int
    failed: int
    accuracy: float
    accuracy_std: float
    loss: float
    loss_std: float
    gain: float
    gain_err: float
    cleared: int
    gone: tuple[tuple[str, int], ...] = ()  # per target: the runs that no longer show it
    paired: int = 0  # seeds on which it and the original both have an accuracy (the gain's)
    new: tuple[str, ...] = ()  # kinds its runs found that no run of the original did
    remaining: tuple[str, ...] = ()  # kinds of the original's that some of its runs still show
    diverged: int = 0  # finished runs without a valid accuracy (stopped by a non-finite loss)
    unseen: tuple[str, ...] = ()  # targets that no run of the original showed
    errors: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialRow:
        """The inverse of `to_dict` (lists back to tuples, None back to NaN); fields that an
        older trial.json lacks take their defaults."""
        tuples = {k: tuple(d[k]) for k in ("targets", "new", "remaining", "unseen", "errors")
                  if k in d}  # fmt: skip
        floats = {k: math.nan if d.get(k) is None else float(d[k]) for k in FLOATS}
        gone = tuple((str(k), int(n)) for k, n in d.get("gone", ()))
        return cls(**{**d, **tuples, **floats, "gone": gone})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (NaN written as None: JSON has no NaN)."""
        d = asdict(self)
        return {**d, **{k: d[k] if math.isfinite(d[k]) else None for k in FLOATS}}

    @property
    def done(self) -> int:
        """Runs that finished."""
        return self.runs - self.failed

    @property
    def fixed(self) -> bool:
        """Whether every finished run is free of the findings the variant targets (those
        the original showed)."""
        seen = set(self.targets) - set(self.unseen)
        return bool(seen) and self.done > 0 and self.cleared == self.done


FLOATS = ("accuracy", "accuracy_std", "loss", "loss_std", "gain", "gain_err")


@dataclass
class Trial:
    """The rows of a trial (the original first), its runs, and the recommended variant;
    `root`: the kind of the diagnosis' first warning or error (its root cause)."""

    rows: list[TrialRow]
    results: list[RunResult]
    root: str = ""

    @classmethod
    def of(
        cls,
        results: Sequence[RunResult],
        variants: Mapping[str, Candidate | None],
        changes: Callable[[Candidate], str],
        root: str = "",
    ) -> Trial:
        """Compare `results` (every variant × seed; `variants` maps each variant's name to
        its candidate, None for the original) against the original, seed by seed."""
        by_variant: dict[str, dict[int, RunResult]] = {}
        for r in results:
            by_variant.setdefault(r.variant, {})[r.seed] = r
        base = {s: r.valid_accuracy for s, r in by_variant.get(ORIGINAL, {}).items()
                if r.status == "done" and math.isfinite(r.valid_accuracy)}  # fmt: skip
        known = {k for r in by_variant.get(ORIGINAL, {}).values() for k in _kinds(r)}
        rows = []
        for name, candidate in variants.items():
            runs = by_variant.get(name, {})
            done = [r for r in runs.values() if r.status == "done"]
            targets = candidate.targets if candidate is not None else ()
            seen = [k for k in targets if k in known]
            diffs = [r.valid_accuracy - base[r.seed] for r in done if name != ORIGINAL
                     and r.seed in base and math.isfinite(r.valid_accuracy)]  # fmt: skip
            rows.append(
                TrialRow(
                    name,
                    changes(candidate) if candidate is not None else "",
                    targets,
                    len(runs),
                    len(runs) - len(done),
                    *_mean_std([r.valid_accuracy for r in done]),
                    *_mean_std([r.valid_loss for r in done]),
                    statistics.fmean(diffs) if diffs else math.nan,
                    statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan,
                    sum(not set(seen) & _kinds(r) for r in done),
                    tuple((k, sum(k not in _kinds(r) for r in done)) for k in seen),
                    len(diffs),
                    tuple(sorted({k for r in done for k in _kinds(r)} - known)),
                    tuple(sorted({k for r in done for k in _kinds(r)} & known)),
                    sum(not math.isfinite(r.valid_accuracy) for r in done),
                    tuple(k for k in targets if k not in known),
                    tuple(sorted({r.error for r in runs.values() if r.error})),
                )
            )
        return cls(rows, list(results), root)

    @property
    def original(self) -> TrialRow | None:
        """The original run's row."""
        return next((r for r in self.rows if r.variant == ORIGINAL), None)

    def helped(self, row: TrialRow) -> bool:
        """Whether a variant did better than the original: it gained accuracy over the seeds
        both finished, or it trained where the original diverged on every seed."""
        original = self.original
        if original is None or not original.done or row.variant == ORIGINAL:
            return False
        if original.diverged == original.done:
            return row.done > row.diverged
        return row.gain > 0

    @property
    def best(self) -> TrialRow | None:
        """The variant to recommend, among those that helped: the most accurate of those
        whose runs no longer show the root cause (when the original's showed it); else of
        those that removed the findings they target in every run; else of all; None when
        none helped. A variant with a diverged run comes after every one without."""
        helped = [r for r in self.rows if self.helped(r)]
        steady = [r for r in helped if not r.diverged] or helped
        original = self.original
        root_seen = original is not None and self.root in original.remaining
        root = [r for r in steady if root_seen and self.root not in r.remaining]
        pool = root or [r for r in steady if r.fixed] or steady
        return max(pool, key=lambda r: r.accuracy) if pool else None

    def markdown(self) -> str:
        """The table, one row per variant, and the recommendation."""
        lines = [
            "| variant | changes | valid accuracy (mean ± std) | gain (± s.e.) | valid loss "
            "| findings gone | new findings |",
            "|:---|:---|---:|---:|---:|:---|:---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.variant} | {r.changes or '-'} | {_accuracy(r)} | "
                f"{_gain(r)} | {_pm(r.loss, r.loss_std)} | {_gone(r)} | {_new(r)} |"
            )
        return "\n".join(lines) + "\n\n" + self.verdict() + "\n"

    def verdict(self) -> str:
        """One sentence: what to do, by how much, and how sure."""
        original, best = self.original, self.best
        if original is None or not original.done:
            why = f" ({'; '.join(original.errors)})" if original and original.errors else ""
            return f"The original run failed on every seed{why}: nothing to compare with."
        if best is None:
            return (
                "No remedy beat the original run: the findings' causes lie elsewhere, or "
                "need more than these changes."
            )
        if original.diverged == original.done:
            by = f"it reached {_pm(best.accuracy, best.accuracy_std)} where the original " \
                 f"diverged on every seed"  # fmt: skip
        else:
            by = f"{_gain(best)} valid accuracy over {best.paired} seed(s)"
            if math.isfinite(best.gain_err) and best.gain < 2 * best.gain_err:
                by += " (under two standard errors: more seeds would tell)"
            if original.diverged > best.diverged:
                by += (f"; the original diverged on {original.diverged} of {original.done} "
                       f"seed(s), this on {best.diverged or 'none'}")  # fmt: skip
        left = ", ".join(best.remaining)
        gone = f"still found: {left}" if left else "none of the original's findings is left"
        how = f" ({best.changes})" if best.changes and best.changes != best.variant else ""
        return f"Recommended: {best.variant}{how}: {by}; {gone}."

    def __str__(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:  # a REPL shows the table, not the dataclass's fields
        return self.markdown()

    def _repr_html_(self) -> str:
        head = ("variant", "changes", "valid accuracy (mean ± std)", "gain (± s.e.)",
                "valid loss", "findings gone", "new findings")  # fmt: skip
        rows = [
            [r.variant, r.changes or "-", _accuracy(r), _gain(r),
             _pm(r.loss, r.loss_std), _gone(r), _new(r)]
            for r in self.rows
        ]  # fmt: skip
        cells = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        header = "".join(f"<th>{escape(h)}</th>" for h in head)
        return f"<table><tr>{header}</tr>{cells}</table><p>{escape(self.verdict())}</p>"

    @classmethod
    def from_dict(cls, d: Any, source: str) -> Trial:
        """A trial's table read back from its `to_dict()` (the runs are not kept there), or
        one sentence naming `source` when `d` is not one."""
        rows = d.get("rows") if isinstance(d, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise LookinsideError(f"{source} does not hold a trial's rows.")
        try:
            return cls([TrialRow.from_dict(r) for r in rows], [], str(d.get("root", "")))
        except (TypeError, ValueError):
            raise LookinsideError(f"{source} does not hold a trial's rows.") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: the rows and the recommended variant's name."""
        best = self.best
        return {
            "root": self.root,
            "rows": [r.to_dict() for r in self.rows],
            "recommended": best.variant if best else None,
            "verdict": self.verdict(),
        }


def _kinds(result: RunResult) -> set[str]:
    """Every kind of finding a run gave, notes included."""
    return {*result.findings, *result.notes}


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else math.nan


def _pm(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "-"
    return f"{mean:.4f}" + (f" ± {std:.4f}" if math.isfinite(std) else "")


def _accuracy(row: TrialRow) -> str:
    shown = _pm(row.accuracy, row.accuracy_std)
    return f"{shown} ({row.diverged} of {row.done} diverged)" if row.diverged else shown


def _gain(row: TrialRow) -> str:
    if row.variant == ORIGINAL or not math.isfinite(row.gain):
        return "-"
    err = f" ± {100 * row.gain_err:.2f}" if math.isfinite(row.gain_err) else ""
    return f"{100 * row.gain:+.2f}{err} pts"


def _gone(row: TrialRow) -> str:
    if not row.targets:
        return "-"
    shown = [f"{kind} {n}/{row.done}" for kind, n in row.gone]
    shown += [f"{kind} not seen in the original" for kind in row.unseen]
    return ", ".join(shown) + (f" ({row.failed} failed)" if row.failed else "")


def _new(row: TrialRow) -> str:
    return ", ".join(row.new) if row.variant != ORIGINAL and row.new else "-"


def root_cause(findings: Iterable[Finding]) -> str:
    """The kind of the first warning or error: the diagnosis ranks causes first."""
    return next((f.kind for f in findings if f.severity in SERIOUS), "")


def best_pair(
    findings: Sequence[Finding],
    singles: Sequence[Candidate],
    trial: Trial,
    compatible: Callable[[Candidate, Candidate], bool],
) -> Candidate | None:
    """The best remedy of the first finding together with the best other remedy, one that
    combines with it, of the next finding that has one (best: the most accurate in `trial`
    of those that helped without diverging; findings without one are passed over); None
    when fewer than two findings have such remedies."""
    rows = {r.variant: r for r in trial.rows}
    bests: list[Candidate] = []
    for kind in dict.fromkeys(f.kind for f in findings):
        tried = [c for c in singles if kind in c.targets and c.name in rows
                 and trial.helped(rows[c.name]) and not rows[c.name].diverged
                 and c not in bests and all(compatible(b, c) for b in bests)]  # fmt: skip
        if tried:
            bests.append(max(tried, key=lambda c: rows[c.name].accuracy))
        if len(bests) == 2:
            break
    if len(bests) < 2:
        return None
    first, second = bests
    targets = tuple(dict.fromkeys((*first.targets, *second.targets)))
    return Candidate((*first.remedies, *second.remedies), targets)


# ---------------------------------------------------------------- trials in Python
def python_changes(c: Candidate) -> str:
    """The Python changes of a candidate, as its remedies' function names."""
    from .remedies import CHANGES

    return ", ".join(getattr(CHANGES[r.name], "__name__", r.name) for r in c.remedies)


def try_remedies(
    make_learner: Callable[[], Learner],
    findings: Sequence[Finding],
    epochs: int = 1,
    seeds: Sequence[int] = (0, 1, 2),
    pair: bool = True,
    log: Callable[[str], None] | None = print,
) -> Trial:
    """Train the original and each remedy of `findings` that has a Python change
    (`lookinside.remedies.CHANGES`), `epochs` each, once per seed, and compare them.

    `make_learner()` must build a fresh learner (model, data, optimizer settings) each call:
    every run is seeded first, then built, then changed by its remedies. With `pair` and two
    findings, the best remedy of the first and the best other of the next (one that sets
    something else: `remedies.TOUCHES`) are then tried together (`best_pair`). Each run
    records telemetry (an `ActivationStats` is added when the learner has none) so that the
    trial sees whether the finding went away. Returns the `Trial` (print it for the table).
    """
    from .remedies import CHANGES

    singles = candidates(findings, lambda r: r.name in CHANGES, key=lambda r: CHANGES[r.name])
    if not singles:
        raise LookinsideError(
            "none of the findings' remedies has a Python change to try "
            "(lookinside.remedies.CHANGES): apply the advice by hand."
        )
    if not seeds:
        raise LookinsideError("try_remedies needs at least one seed.")
    variants: dict[str, Candidate | None] = {ORIGINAL: None, **{c.name: c for c in singles}}
    results: list[RunResult] = []

    def run(variants_now: Mapping[str, Candidate | None]) -> Trial:
        for name, candidate in variants_now.items():
            for seed in seeds:
                result = trial_run(make_learner, name, candidate, seed, epochs)
                results.append(result)
                if log is not None:
                    log(f"{name}, seed {seed}: {_outcome(result)}")
        return Trial.of(results, variants, python_changes, root_cause(findings))

    trial = run(variants)
    both = best_pair(findings, singles, trial, _combine) if pair else None
    if both is not None and both.name not in variants:
        variants[both.name] = both
        trial = run({both.name: both})
    return trial


def _combine(a: Candidate, b: Candidate) -> bool:
    """Two Python changes combine when they set different things (`remedies.TOUCHES`)."""
    from .remedies import TOUCHES

    def touched(c: Candidate) -> set[str]:
        return {t for r in c.remedies for t in TOUCHES.get(r.name, {r.name})}

    return not touched(a) & touched(b)


def _outcome(r: RunResult) -> str:
    if r.status != "done":
        return f"FAILED: {r.error}"
    return f"valid accuracy {r.valid_accuracy:.4f}, findings: {', '.join(r.findings) or '-'}"


def trial_run(
    make_learner: Callable[[], Learner],
    name: str,
    candidate: Candidate | None,
    seed: int,
    epochs: int,
) -> RunResult:
    """One run of a trial: seed, build, apply the candidate's changes, train `epochs`
    quietly; its numbers and the kinds of its warnings and errors, or the error that
    stopped it."""
    from .callbacks import ActivationStats, AvgStats
    from .remedies import CHANGES
    from .rng import RngState, seed_everything

    seed_everything(seed)
    try:
        learn = make_learner()
        state = RngState.capture()  # the changes may draw numbers: training must not see it
        for remedy in candidate.remedies if candidate is not None else ():
            CHANGES[remedy.name](learn)
        state.restore()
        stats = learn.find_cb(ActivationStats)
        added = [] if stats is not None else [ActivationStats(every=1)]  # as `train` records
        with contextlib.redirect_stdout(io.StringIO()):
            learn.fit(epochs, cbs=added)
        stats = stats or added[0]
        avg = learn.find_cb(AvgStats)
        values = avg.last.values if avg is not None and avg.last is not None else {}
        metric = next((k for k in values if k.startswith("valid_") and k != "valid_loss"), "")
        found = stats.diagnose()
        return RunResult(
            name,
            seed,
            "",
            "done",
            values.get(metric, math.nan),
            values.get("valid_loss", math.nan),
            values.get("train_loss", math.nan),
            params=sum(p.numel() for p in learn.model.parameters()),
            findings=kinds(found),
            notes=kinds(found, serious=False),
        )
    except Exception as e:  # a remedy that breaks the run is a result, not a crash
        return RunResult(name, seed, "", "failed", error=f"{type(e).__name__}: {e}")

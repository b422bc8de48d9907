"""Train one zoo case and score its diagnosis against the case's labels.

A case is healthy when it expects nothing: it passes when the diagnosis gives no warning and
no error. A faulty case passes when every expected finding appears (its kind; its layer, or a
layer inside it, where the label names one; first among the warnings and errors where the
label says so) and no forbidden kind does. Where a run goes non-finite, an independent check
(hooks that test every output with `torch.isfinite`) says which layer and step went first.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..callback import LambdaCallback
from ..callbacks import ActivationStats, AvgStats, ProgressBar
from ..callbacks.avg_stats import metric_name
from ..data import DataLoaders
from ..diagnosis import Finding, diagnose
from ..diagnosis.findings import SERIOUS
from ..functional import accuracy
from ..learner import Learner
from ..watcher import default_modules, watch

ORACLE = "<first non-finite layer>"  # a label's layer: the one the independent check finds


@dataclass(frozen=True)
class Expect:
    """A finding that must appear: its kind, and where given its layer (or a layer inside it);
    `first`: it must come first among the warnings and errors."""

    kind: str
    layer: str | None = None
    first: bool = False

    def __str__(self) -> str:
        where = "" if self.layer is None else f"@{'oracle' if self.layer == ORACLE else self.layer}"
        return f"{self.kind}{where}{' (first)' if self.first else ''}"


@dataclass(frozen=True)
class Case:
    """One labelled training run: the model, the data, how it trains, and what must be found.

    `params` picks what the optimizer gets (default: every parameter); `loop="watch"` trains
    with a hand-written loop under `lookinside.watch` instead of the `Learner`.
    """

    name: str
    family: str
    what: str
    build: Callable[[], nn.Module]
    data: Callable[[], DataLoaders]
    lr: float
    epochs: int = 2
    opt: str = "sgd"
    loss: Callable[[Any, Tensor], Tensor] = F.cross_entropy
    metric: Callable[[Any, Tensor], Tensor] | None = accuracy
    expect: tuple[Expect, ...] = ()
    forbid: tuple[str, ...] = ()
    params: Callable[[nn.Module], Iterable[nn.Parameter]] | None = None
    loop: str = "learner"
    seed: int = 0

    @property
    def healthy(self) -> bool:
        """Whether nothing is wrong with this run."""
        return not self.expect


@dataclass
class CaseResult:
    """What a case's run gave: findings, accuracy, time, the independent non-finite check."""

    name: str
    findings: list[Finding]
    accuracy: float
    seconds: float
    first_non_finite: tuple[str, int] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the diagnosis met the case's labels."""
        return not self.problems

    def found(self) -> str:
        """The findings, briefly: `kind@layer (severity)`, in the diagnosis' order."""
        return "; ".join(f"{f.kind}@{f.layer} ({f.severity[0]})" for f in self.findings) or "-"


def layers_of(finding: Finding) -> list[str]:
    """Every layer a finding names."""
    named = getattr(finding, "layers", None)
    return list(named) if named else [s.strip() for s in finding.layer.split(",")]


def inside(layer: str, expected: str) -> bool:
    """Whether `layer` is `expected` or a part of it (a submodule, an element of its output)."""
    return layer == expected or layer.startswith((f"{expected}.", f"{expected}["))


def score(case: Case, findings: list[Finding], oracle: tuple[str, int] | None) -> list[str]:
    """The ways the findings miss the case's labels (empty: the case passes).

    Whatever the labels, a `non_finite` finding must agree with the independent check: none
    when every output stayed finite, else one at the true first layer and step.
    """
    serious = [f for f in findings if f.severity in SERIOUS]
    problems = _non_finite_problems(findings, oracle)
    if case.healthy:
        return [f"false alarm: {f.kind}@{f.layer}" for f in serious] + problems
    for want in case.expect:
        same_kind = [f for f in findings if f.kind == want.kind]
        if not same_kind:
            problems.append(f"missed {want.kind}")
            continue
        if (
            want.layer is not None
            and want.layer != ORACLE
            and not any(inside(name, want.layer) for f in same_kind for name in layers_of(f))
        ):
            problems.append(f"{want.kind} at the wrong layer (true: {want.layer})")
        if want.first and (not serious or serious[0].kind != want.kind):
            problems.append(f"{want.kind} not first")
    problems += [f"forbidden {f.kind}" for f in findings if f.kind in case.forbid]
    return list(dict.fromkeys(problems))


def _non_finite_problems(findings: list[Finding], oracle: tuple[str, int] | None) -> list[str]:
    said = [f for f in findings if f.kind == "non_finite"]
    if oracle is None:
        return ["non_finite, while every output stayed finite"] if said else []
    if not said:
        return ["missed non_finite"]
    layer, step = oracle
    problems = []
    if not any(inside(name, layer) for f in said for name in layers_of(f)):
        problems.append(f"non_finite at the wrong layer (true: {layer})")
    if not any(f.steps[0] == step for f in said):
        problems.append(f"non_finite at the wrong step (true: {step})")
    return problems


class FirstNonFinite:
    """Independent check: the first non-finite value in time, found by testing whole tensors
    with `torch.isfinite`: each watched module's outputs in the forward (in order), the loss,
    then the outputs' gradients in the backward. `first` is (layer or "loss", step)."""

    def __init__(self, model: nn.Module) -> None:
        self.first: tuple[str, int] | None = None
        self.step = -1
        self.handles = [model.register_forward_pre_hook(self._count)]
        for name, module in default_modules(model):
            self.handles.append(module.register_forward_hook(functools.partial(self._check, name)))

    def _count(self, module: nn.Module, args: Any) -> None:
        if module.training and torch.is_grad_enabled():
            self.step += 1

    def _check(self, name: str, module: nn.Module, args: Any, out: Any) -> None:
        if not (module.training and torch.is_grad_enabled()):
            return
        step = self.step
        for t in _floats(out):
            self._see(name, step, t)
            if t.requires_grad:
                hook = functools.partial(self._see_gradient, name, step)
                t.register_hook(hook)  # type: ignore[no-untyped-call]

    def _see(self, name: str, step: int, t: Tensor) -> None:
        if self.first is None and not bool(torch.isfinite(t).all()):
            self.first = (name, step)

    def _see_gradient(self, name: str, step: int, g: Tensor) -> None:
        self._see(name, step, g)

    def loss(self, loss: Tensor) -> None:
        """Check a training step's loss (after its forward, before its backward)."""
        self._see("loss", self.step, loss)

    def remove(self) -> None:
        """Unregister the hooks."""
        for h in self.handles:
            h.remove()


def _floats(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out] if out.is_floating_point() else []
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _floats(o)]
    return []


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "sgdm": functools.partial(torch.optim.SGD, momentum=0.9),
    "adam": torch.optim.Adam,
}


def run_case(case: Case) -> CaseResult:
    """Train `case` (seeded) and score its diagnosis."""
    torch.manual_seed(case.seed)
    model = case.build()
    dls = case.data()
    oracle = FirstNonFinite(model)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()), quiet_numpy():
            trained = _watch_loop if case.loop == "watch" else _learner
            diagnosis, acc = trained(case, model, dls, oracle)
    finally:
        oracle.remove()
    try:
        with quiet_numpy():
            findings = diagnosis()
    except Exception as e:  # a diagnosis that crashes fails the case, it does not stop the zoo
        result = CaseResult(case.name, [], acc, time.perf_counter() - start, oracle.first)
        result.problems = [f"the diagnosis crashed: {type(e).__name__}: {e}"]
        return result
    result = CaseResult(case.name, findings, acc, time.perf_counter() - start, oracle.first)
    result.problems = score(case, findings, oracle.first)
    return result


def optimizer_for(case: Case, model: nn.Module) -> Callable[..., torch.optim.Optimizer]:
    make = OPTIMIZERS[case.opt]
    if case.params is None:
        return make
    chosen = list(case.params(model))
    return lambda _params, lr: make(chosen, lr=lr)


Diagnosis = Callable[[], list[Finding]]


def _learner(
    case: Case, model: nn.Module, dls: DataLoaders, oracle: FirstNonFinite
) -> tuple[Diagnosis, float]:
    def check_loss(learn: Learner) -> None:
        if learn.training and learn.loss is not None:
            oracle.loss(learn.loss)

    telemetry = ActivationStats()
    learn = Learner(
        model, dls, loss_func=case.loss, lr=case.lr, opt_func=optimizer_for(case, model),
        cbs=[telemetry, LambdaCallback(after_loss=check_loss)],
        metrics=[case.metric] if case.metric is not None else [],
    )  # fmt: skip
    progress = learn.find_cb(ProgressBar)
    if progress is not None:
        progress.rows = False
    learn.fit(case.epochs)
    stats = learn.find_cb(AvgStats)
    last = stats.last if stats is not None else None
    name = metric_name(case.metric) if case.metric is not None else ""
    acc = last.values.get(f"valid_{name}", math.nan) if last else math.nan
    return telemetry.diagnose, acc


def _watch_loop(
    case: Case, model: nn.Module, dls: DataLoaders, oracle: FirstNonFinite
) -> tuple[Diagnosis, float]:
    """The hand-written loop a PyTorch user has, watched from outside."""
    opt = optimizer_for(case, model)(model.parameters(), lr=case.lr)
    with watch(model) as w:
        for _ in range(case.epochs):
            model.train()
            for xb, yb in dls.train:
                loss = case.loss(model(xb), yb)
                oracle.loss(loss)
                w.record_loss(loss)
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                opt.zero_grad()
    model.eval()
    hits, n = 0.0, 0
    with torch.no_grad():
        for xb, yb in dls.valid or []:
            if case.metric is not None:
                hits += float(case.metric(model(xb), yb)) * len(yb)
            n += len(yb)
    telemetry = w.telemetry
    return lambda: diagnose(telemetry), hits / n if n and case.metric is not None else math.nan


@contextlib.contextmanager
def quiet_numpy() -> Any:
    import numpy as np

    with np.errstate(all="ignore"):
        yield


def run_all(
    cases: Sequence[Case], jobs: int = 1, named: Callable[[str], Case] | None = None
) -> list[CaseResult]:
    """Run every case, in `jobs` processes of one torch thread each; results in case order.

    A case holds closures, which do not cross processes: with `jobs` > 1 each process finds
    its case by name with `named`, a module-level function (`cases.case_named`)."""
    if jobs <= 1:
        return [run_case(c) for c in cases]
    if named is None:
        raise ValueError("run_all needs `named` to run cases in several processes.")
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(jobs, initializer=torch.set_num_threads, initargs=(1,)) as p:
        run_named = functools.partial(_run_named, named)
        return p.map(run_named, [c.name for c in cases], chunksize=1)


def _run_named(named: Callable[[str], Case], name: str) -> CaseResult:
    return run_case(named(name))

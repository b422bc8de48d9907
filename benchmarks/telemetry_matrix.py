"""The cost of `watch` across models, eager and compiled: a hand-written SGD loop of each
model, plain against watched (and against a fastai-style hook that reads each module's mean,
std and histogram back to the host at every step), in alternating rounds.

    python benchmarks/telemetry_overhead.py --matrix [--compiled] [--repeats 9] [--only cnn-bs64]

Cases: the lesson's CNN at bs 64 and 512, an MLP of 150 modules (75 Linear + ReLU pairs), a
torchvision-style ResNet and a Transformer encoder (the zoo's), each at its own batch.
`--compiled` compiles every variant with `torch.compile` (the default inductor), watch first;
compile time is left out (untimed warm-up rounds). The figure per case: the median over rounds
of watched/plain, each round's pair neighbours in time, once the watcher has chosen its rate
(`every`, the default "auto": the warm-up's first steps are recorded in full, and what that
cost once, watched warm-up minus plain, is `choosing s`). Issue 14's target: ≤ 1.10 everywhere.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import lookinside as li
from _timing import synchronize
from lookinside.watch_layers import default_modules
from lookinside.watch_rate import DENSE, PROBE
from lookinside.zoo.models import ResNet, TransformerClassifier

TARGET = 1.10
WARM_UP = DENSE + PROBE + 2  # steps: past the watcher's choice of a rate


@dataclass(frozen=True)
class Case:
    """A model and a batch to train it on."""

    name: str
    make: Callable[[], nn.Module]
    batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]
    steps: int  # per timed round


def images(bs: int) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    return lambda: (torch.randn(bs, 1, 28, 28), torch.randint(0, 10, (bs,)))


def deep_mlp() -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(75):
        layers += [nn.Linear(784 if i == 0 else 64, 64), nn.ReLU()]
    return nn.Sequential(*layers[:-1], nn.Linear(64, 10))  # 150 modules after Flatten


CASES = [
    Case("cnn-bs64", li.cnn, images(64), 40),
    Case("cnn-bs512", li.cnn, images(512), 10),
    Case("mlp-150", deep_mlp, images(64), 10),
    Case("resnet", lambda: ResNet(widths=(16, 32)), images(64), 10),
    Case("transformer", lambda: TransformerClassifier(100, 10, 32, d_model=64, layers=2),
         lambda: (torch.randint(0, 100, (64, 32)), torch.randint(0, 10, (64,))), 20),
]  # fmt: skip


class Naive:
    """fastai-style: each module's mean, std and histogram read to the host every step."""

    def __init__(self, model: nn.Module) -> None:
        self.rows: list[tuple[float, float, Any]] = []
        named = default_modules(model)
        self.handles = [m.register_forward_hook(self._record) for _, m in named]

    def _record(self, module: nn.Module, inp: Any, out: Any) -> None:
        if module.training and isinstance(out, torch.Tensor) and out.is_floating_point():
            x = out.detach()
            self.rows.append((x.mean().item(), x.std().item(), torch.histc(x, 40, -7, 7).cpu()))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def variant(
    case: Case, kind: str, compiled: bool, device: torch.device
) -> tuple[Callable[[int], float], li.Watcher | None]:
    """A fresh seeded model of `case` with `kind` (plain, watch, naive) on `device`, as a
    function that trains it `n` steps and returns the seconds it took (and the watcher)."""
    torch.manual_seed(0)
    model = case.make().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    watcher = None
    if kind == "watch":
        watcher = li.watch(model)
    elif kind == "naive":
        Naive(model)
    run = torch.compile(model) if compiled else model
    x, y = (t.to(device) for t in case.batch())

    def train(n: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        for _ in range(n):
            loss = F.cross_entropy(run(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        synchronize(device)
        return time.perf_counter() - start

    return train, watcher


def measure(
    case: Case, rounds: int, compiled: bool, naive: bool, device: torch.device
) -> dict[str, float]:
    """watch/plain (and naive/plain) for `case`: the median over alternating rounds, after
    warm-up rounds that take the watcher past its choice of a rate (`WARM_UP` steps: the
    first steps in full, then the probe; their extra time is reported as `choosing s`)."""
    kinds = ["plain", "watch"] + (["naive"] if naive and not compiled else [])
    made = {kind: variant(case, kind, compiled, device) for kind in kinds}
    trains = {kind: train for kind, (train, _) in made.items()}
    watcher = made["watch"][1]
    warm = {kind: train(WARM_UP) for kind, train in trains.items()}  # and compilation
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, train in trains.items():
            times[kind].append(train(case.steps))
    plain = times["plain"]
    out = {"plain ms/step": statistics.median(plain) / case.steps * 1e3}
    out["choosing s"] = warm["watch"] - warm["plain"]
    out["every"] = watcher.every if watcher is not None else 0
    for kind in kinds[1:]:
        out[kind] = statistics.median(a / b for a, b in zip(times[kind], plain, strict=True))
    return out


def run_matrix(
    rounds: int, compiled: bool, naive: bool, only: list[str] | None, device: torch.device
) -> str:
    """Measure every case on `device`; return the markdown table and the verdict."""
    from _report import markdown_table

    rows = []
    worst = 0.0
    for case in CASES:
        if only and case.name not in only:
            continue
        result = measure(case, rounds, compiled, naive, device)
        worst = max(worst, result["watch"])
        naive_text = f"{result['naive']:.3f}" if "naive" in result else "-"
        mode = "compiled" if compiled else "eager"
        plain = f"{result['plain ms/step']:.2f}"
        every, choosing = f"{result['every']:.0f}", f"{result['choosing s']:.2f}"
        rows.append([case.name, mode, plain, f"{result['watch']:.3f}", naive_text, every, choosing])
        print(" | ".join(rows[-1]), flush=True)
    header = ["case", "mode", "plain ms/step", "watch/plain", "naive/plain", "every", "choosing s"]
    table = markdown_table(header, rows)
    status = "met" if worst <= TARGET else "missed"
    return f"{table}\n\nworst watch/plain {worst:.3f} (target ≤ {TARGET}: {status})"

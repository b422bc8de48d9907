"""A training epoch of the lesson's CNN replayed from a CUDA graph, against eager epochs.

Variants, all training only (no validation) on GPU-resident MNIST, bs 512, SGD lr 0.4:
- `hand-graph`: a hand-written loop whose step is captured by hand in `torch.cuda.graph`, the
  floor (the spec measured 0.055 s an epoch on an H200);
- `learner-graph`: `Learner` with its default callbacks and `CudaGraph`;
- `learner-graph+stats`: the same with `ActivationStats` (telemetry captured in the graph);
- `learner-eager` and `hand-eager`: no graph (the spec: 0.20 s an epoch).

Each run fits `--epochs` epochs from the same seed; the capture happens in the first epoch, so
the figure is the median time of the later epochs (capture excluded, reported apart as the
first epoch's time). The check compares the graphed learner's per-epoch training loss with the
eager learner's (same seed; cuDNN's kernels are not bitwise deterministic, so a small difference
is expected). On a CPU only the eager variants run.

    python benchmarks/cuda_graph.py [--device cuda] [--epochs 4] [--repeats 3]

Target: learner-graph within 1.3x of hand-graph.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

import lookinside
from _report import append_section, markdown_table
from _timing import add_common_args, run_alternating, seeded_cnn, setup, synchronize
from lookinside import ActivationStats, AvgStats, CudaGraph, DataLoaders, Learner, TensorLoader

LR = 0.4
TARGET = 1.3
Result = tuple[list[float], list[float]]  # per-epoch seconds, per-epoch mean training loss


def learner_fit(loader: TensorLoader, epochs: int, graph: bool, stats: bool = False) -> Result:
    """Fit with `Learner` (default callbacks, optionally CudaGraph and ActivationStats)."""
    cbs = [CudaGraph()] if graph else []
    cbs += [ActivationStats()] if stats else []
    learn = Learner(seeded_cnn(), DataLoaders(loader), lr=LR, cbs=cbs)
    with contextlib.redirect_stdout(io.StringIO()):
        learn.fit(epochs)
    history = learn.find_cb(AvgStats).history  # type: ignore[union-attr]
    return [h.seconds for h in history], [h.values["train_loss"] for h in history]


def telemetry_check(loader: TensorLoader) -> str:
    """One epoch with ActivationStats, eager and graphed from the same seed: do the records
    agree? (Same steps; per-layer mean and std over the epoch within cuDNN's noise.)"""
    records = []
    for graph in (False, True):
        cbs = [ActivationStats(every=1), *([CudaGraph()] if graph else [])]  # the same steps
        learn = Learner(seeded_cnn(), DataLoaders(loader), lr=LR, cbs=cbs)
        with contextlib.redirect_stdout(io.StringIO()):
            learn.fit(1)
        stats = learn.find_cb(ActivationStats)
        assert stats is not None
        records.append(stats.telemetry)
    eager, graphed = records
    if not np.array_equal(eager.steps, graphed.steps):
        return f"telemetry check: DIFFERENT steps ({len(eager.steps)} eager, {len(graphed.steps)})"
    worst = 0.0
    for i in range(len(eager.specs)):
        for name in ("mean", "std"):
            a, b = getattr(eager[i], name), getattr(graphed[i], name)
            worst = max(worst, float(np.nanmax(np.abs(a - b) / (np.abs(a) + 1e-3))))
    verdict = "agree" if worst < 0.05 else "DIFFER"
    return (f"telemetry check: {len(eager.steps)} steps each, per-layer mean and std of every "
            f"step: max relative difference graph vs eager {worst:.2g} ({verdict})")  # fmt: skip


def hand_fit(loader: TensorLoader, epochs: int, device: torch.device, graph: bool) -> Result:
    """A hand-written loop, eager or with its step captured by hand; the loss summed on device."""
    model = seeded_cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        return loss.detach()

    g, static = None, None
    seconds, losses = [], []
    for _ in range(epochs):
        synchronize(device)
        start = time.perf_counter()
        total, n = torch.zeros((), device=device), 0
        for xb, yb in loader:
            if not graph or xb.shape[0] != loader.bs:  # eager (and the short last batch)
                opt.zero_grad(set_to_none=True)
                loss = step(xb, yb)
                opt.zero_grad(set_to_none=True)
            elif g is None:  # warm up on a side stream, capture, then replay this batch
                # (the warm-up steps train on this batch too: 3 extra steps of 118, as timed)
                side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    for _ in range(3):
                        opt.zero_grad(set_to_none=True)
                        step(xb, yb)
                torch.cuda.current_stream(device).wait_stream(side)
                opt.zero_grad(set_to_none=True)
                static = (xb.clone(), yb.clone())
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    static_loss = step(*static)
                g.replay()
                loss = static_loss.clone()
            else:
                assert static is not None
                static[0].copy_(xb)
                static[1].copy_(yb)
                g.replay()
                loss = static_loss.clone()
            total.add_(loss, alpha=xb.shape[0])
            n += xb.shape[0]
        losses.append(total.item() / n)
        seconds.append(time.perf_counter() - start)
    return seconds, losses


def main(argv: list[str] | None = None) -> int:
    """Time every variant, print the table and the check, append to RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.set_defaults(repeats=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (default: 4)")
    args = parser.parse_args(argv)
    device = setup(args)
    if args.epochs < 2:
        raise SystemExit("--epochs must be at least 2 (the first one holds the capture)")
    x, y, _, _ = lookinside.load_mnist()
    loader = DataLoaders.from_tensors(x, y, bs=args.bs, device=device).train
    assert isinstance(loader, TensorLoader)
    cuda = device.type == "cuda"
    fits: dict[str, Callable[[], Result]] = {}
    if cuda:
        fits["hand-graph"] = lambda: hand_fit(loader, args.epochs, device, graph=True)
        fits["learner-graph"] = lambda: learner_fit(loader, args.epochs, graph=True)
        fits["learner-graph+stats"] = lambda: learner_fit(loader, args.epochs, True, True)
    fits["learner-eager"] = lambda: learner_fit(loader, args.epochs, graph=False)
    fits["hand-eager"] = lambda: hand_fit(loader, args.epochs, device, graph=False)
    results: dict[str, list[Result]] = {name: [] for name in fits}

    def recorded(name: str) -> Callable[[], object]:
        return lambda: results[name].append(fits[name]())

    print(f"device {device}, bs {args.bs}, {args.epochs} epochs a run, {args.repeats} repeats")
    run_alternating({name: recorded(name) for name in fits}, args.repeats, device)
    timed = {name: rs[1:] for name, rs in results.items()}  # the untimed warm-up run left out
    per_epoch = {  # the median over the later epochs of every timed run
        name: statistics.median(s for seconds, _ in rs for s in seconds[1:])
        for name, rs in timed.items()
    }
    rows, floor = [], per_epoch.get("hand-graph")
    for name in fits:
        first = statistics.median(seconds[0] for seconds, _ in timed[name])
        vs = f"{per_epoch[name] / floor:.2f}" if floor else "-"
        rows.append([name, f"{per_epoch[name]:.4f}", f"{first:.3f}", vs])
    table = markdown_table(["variant", "s / epoch (later epochs)", "first epoch (s, median)",
                            "/ hand-graph"], rows)  # fmt: skip
    eager_losses = timed["learner-eager"][-1][1]
    lines = []
    if cuda:
        ratio = per_epoch["learner-graph"] / per_epoch["hand-graph"]
        met = "met" if ratio <= TARGET else "NOT met"
        lines.append(f"learner-graph / hand-graph: {ratio:.2f} (target ≤ {TARGET}: {met})")
        lines.append(
            f"learner-eager / learner-graph: "
            f"{per_epoch['learner-eager'] / per_epoch['learner-graph']:.2f}x faster with the graph"
        )
        graph_losses = timed["learner-graph"][-1][1]
        diff = max(abs(a - b) / abs(b) for a, b in zip(graph_losses, eager_losses, strict=True))
        lines.append(
            f"check: training loss per epoch, graph {[round(v, 4) for v in graph_losses]} vs "
            f"eager {[round(v, 4) for v in eager_losses]}: max relative difference {diff:.2g}"
        )
        lines.append(telemetry_check(loader))
    else:
        lines.append("no CUDA device: the graph variants did not run")
    print(table)
    print("\n".join(lines))
    if not args.no_write:
        settings = f"bs {args.bs}, {args.epochs} epochs a run, {args.repeats} repeats"
        body = "\n\n".join([f"Settings: {settings}.", table, *lines])
        append_section("cuda_graph.py: training epoch from a CUDA graph", device, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The cost of full activation telemetry: the same training with and without `ActivationStats`.

Four variants train the lesson's CNN (`lookinside.cnn()`, same seed, same shuffles) on
embedded MNIST with the `Learner` and its default callbacks: `plain`; `telemetry`, adding
`ActivationStats(every=1)` (every watched layer, every step: Σx, Σx², a 40-bin histogram,
what `lookinside train` records and the spec's bar is about); `auto`, `ActivationStats()`
with its default rate (as often as costs under 5 % of a step, after 192 steps that choose it:
an epoch at bs 512 is 118 steps: all recorded, run `--epochs 3` to see it choose); and
`naive`, a hook in the style of fastai's ActivationStats that reads each layer's mean, std
and histogram back to the host at every step (`.item()`, `.cpu()`), for comparison.

    python benchmarks/telemetry_overhead.py [--device auto|cpu|cuda] [--epochs 1] [--repeats 5]

The spec's target: telemetry/plain ≤ 1.15 (fastai on the same 2 CPU cores: 1.66).
"""

from __future__ import annotations

import argparse
import contextlib
import io
from typing import Any

import torch
from torch import nn

from _report import append_section, markdown_table
from _timing import add_common_args, run_alternating, seeded_cnn, setup
from lookinside import ActivationStats, Callback, DataLoaders, Hooks, Learner, accuracy, load_mnist

LR = 0.4
TARGET = 1.15


class NaiveStats(Callback):
    """Per-layer mean, std and histogram read to the host at every training step."""

    def before_fit(self, learn: Learner) -> None:
        self.rows: list[tuple[float, float, Any]] = []
        self.hooks = Hooks(list(learn.model.children()), self._record)

    def _record(self, hook: Any, module: nn.Module, inp: Any, out: torch.Tensor) -> None:
        if module.training:
            x = out.detach()
            self.rows.append((x.mean().item(), x.std().item(), torch.histc(x, 40, 0, 10).cpu()))

    def after_fit(self, learn: Learner) -> None:
        self.hooks.remove()


def fit(dls: DataLoaders, epochs: int, cbs: list[Callback]) -> float:
    """Train a fresh seeded CNN; return the last valid accuracy (the runs must agree)."""
    learn = Learner(seeded_cnn(), dls, lr=LR, metrics=[accuracy], cbs=cbs)
    with contextlib.redirect_stdout(io.StringIO()):
        learn.fit(epochs)
    return learn.avg_stats.last.values["valid_accuracy"]  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive variant")
    parser.add_argument("--matrix", action="store_true", help="the case matrix instead "
                        "(telemetry_matrix.py): several models, hand-written loops")  # fmt: skip
    parser.add_argument("--compiled", action="store_true", help="--matrix under torch.compile")
    parser.add_argument("--only", nargs="*", help="--matrix: these cases only")
    args = parser.parse_args()
    device = setup(args)
    if args.matrix:
        from telemetry_matrix import run_matrix

        body = run_matrix(args.repeats, args.compiled, not args.no_naive, args.only, device)
        print(body)
        if not args.no_write:
            mode = "compiled" if args.compiled else "eager"
            title = f"Telemetry overhead across models ({mode}, {device.type})"
            append_section(title, device, body)
        return
    x, y, xv, yv = load_mnist()
    dls = DataLoaders.from_tensors(x, y, xv, yv, bs=args.bs, device=device)
    variants = {
        "plain": lambda: fit(dls, args.epochs, []),
        "telemetry": lambda: fit(dls, args.epochs, [ActivationStats(every=1)]),
        "auto": lambda: fit(dls, args.epochs, [ActivationStats()]),
    }
    if not args.no_naive:
        variants["naive"] = lambda: fit(dls, args.epochs, [NaiveStats()])
    runs = run_alternating(variants, args.repeats, device)
    assert runs.results["plain"] == runs.results["telemetry"], "telemetry changed the training"
    rows = [[name, f"{runs.median(name):.3f}", f"{runs.median_ratio(name, 'plain'):.3f}"]
            for name in variants]  # fmt: skip
    table = markdown_table(["variant", "median s", "median ratio to plain"], rows)
    ratio = runs.median_ratio("telemetry", "plain")
    status = "met" if ratio <= TARGET else "missed"
    verdict = f"telemetry/plain median ratio {ratio:.3f} (target ≤ {TARGET}: {status})"
    print(table)
    print(verdict)
    if noise := runs.noise():
        print(noise)
    if not args.no_write:
        title = f"Telemetry overhead ({device.type}, bs {args.bs}, {args.epochs} epoch(s))"
        append_section(title, device, "\n\n".join([table, verdict, *([noise] if noise else [])]))


if __name__ == "__main__":
    main()

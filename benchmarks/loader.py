"""Epoch time of lookinside's device-resident loader against torch's DataLoader.

lookinside: `DataLoaders.from_tensors(...).train`, a `TensorLoader` whose tensors were moved to
the device once (that upload is timed apart); each epoch draws one `randperm` on the device and
gathers each batch with it. torch: `DataLoader(TensorDataset(x, y), batch_size=bs,
shuffle=True)` over the tensors on the host (`pin_memory=True` on cuda), each batch moved with
`.to(device, non_blocking=True)`. Two measures, each the median of alternating repeats:

- iteration: one pass over MNIST's 60k training images touching every batch (sums on the
  device, synchronised once at the end);
- training epoch: the lesson's CNN (same seed) trained one epoch with SGD, fed by each loader.

    python benchmarks/loader.py [--device auto|cpu|cuda] [--bs 512] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

import lookinside
from _report import append_section, markdown_table
from _timing import Runs, add_common_args, run_alternating, seeded_cnn, setup, synchronize
from lookinside import DataLoaders

LR = 0.4
Batch = tuple[Tensor, Tensor]
Batches = Iterable[Batch]


def moved(loader: DataLoader[tuple[Tensor, ...]], device: torch.device) -> Iterator[Batch]:
    """The torch loader's batches, each moved to `device` without blocking."""
    for xb, yb in loader:
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def iterate(batches: Batches, device: torch.device) -> float:
    """Touch every batch: the sum of all inputs and targets, on the device, read once at the end."""
    total = torch.zeros((), device=device)
    for xb, yb in batches:
        total += xb.sum() + yb.sum()
    return total.item()


def train_epoch(batches: Batches, device: torch.device) -> Tensor:
    """One epoch of the seeded lesson CNN with SGD on `batches`; the last loss (on the device)."""
    model = seeded_cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    model.train()
    loss = torch.zeros((), device=device)
    for xb, yb in batches:
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        opt.zero_grad(set_to_none=True)
    return loss.detach()


def build_loaders(
    args: argparse.Namespace, device: torch.device
) -> tuple[Callable[[], Batches], Callable[[], Batches], float]:
    """lookinside's and torch's training batches (fresh iterables) and lookinside's upload time."""
    x_train, y_train, _, _ = lookinside.load_mnist()
    synchronize(device)
    start = time.perf_counter()
    ours = DataLoaders.from_tensors(x_train, y_train, bs=args.bs, device=device).train
    synchronize(device)
    upload = time.perf_counter() - start
    theirs = DataLoader(
        TensorDataset(x_train, y_train),
        batch_size=args.bs,
        shuffle=True,
        pin_memory=device.type == "cuda",
    )
    return (lambda: ours), (lambda: moved(theirs, device)), upload


def report(runs: Runs, upload: float, args: argparse.Namespace, device: torch.device) -> None:
    """Print the summary and, unless --no-write, append it to RESULTS.md."""
    rows = []
    for measure in ("iteration", "training epoch"):
        ours, theirs = f"lookinside {measure}", f"torch {measure}"
        rows.append(
            [
                measure,
                f"{runs.median(ours):.4f}",
                f"{runs.median(theirs):.4f}",
                f"**{runs.median_ratio(theirs, ours):.2f}x**",
                f"{runs.ratio_of_medians(theirs, ours):.2f}x",
            ]
        )
    header = ["measure", "lookinside (s)", "torch (s)", "speed-up (median)", "ratio of medians"]
    table = markdown_table(header, rows)
    ours_sum, theirs_sum = runs.results["lookinside iteration"], runs.results["torch iteration"]
    assert isinstance(ours_sum, float)
    assert isinstance(theirs_sum, float)
    same = "yes" if math.isclose(ours_sum, theirs_sum, rel_tol=1e-4) else "NO"
    check = f"both passes see the same data: {same} (sums {ours_sum:.6g}, {theirs_sum:.6g})"
    upload_line = f"lookinside's one-time upload of the training set to {device}: {upload:.4f} s"
    print(f"\n{table}\n\nspeed-up = torch time / lookinside time\n{upload_line}\n{check}")
    noise = runs.noise()
    if noise:
        print(f"warning: {noise}")
    if args.no_write:
        return
    settings = f"bs {args.bs}, {args.repeats} repeats of each measure (alternating)"
    notes = f"Speed-up: torch time / lookinside time. {upload_line}. Check: {check}."
    notes += f"\n\nWarning: {noise}." if noise else ""
    body = "\n\n".join([f"Settings: {settings}.", table, notes])
    append_section("loader.py: TensorLoader vs torch DataLoader", device, body)


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, time both loaders alternately, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    args = parser.parse_args(argv)
    device = setup(args)
    ours, theirs, upload = build_loaders(args, device)
    print(f"device {device}, {torch.get_num_threads()} threads, bs {args.bs}, "
          f"{args.repeats} repeats")  # fmt: skip
    variants = {
        "lookinside iteration": lambda: iterate(ours(), device),
        "torch iteration": lambda: iterate(theirs(), device),
        "lookinside training epoch": lambda: train_epoch(ours(), device),
        "torch training epoch": lambda: train_epoch(theirs(), device),
    }
    runs = run_alternating(variants, args.repeats, device)
    report(runs, upload, args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The cost of `Learner` and its default callbacks over a hand-written loop doing the same work.

Both variants train the lesson's CNN (`lookinside.cnn()`, the same seed every run, so the same
initial weights and the same shuffles) on embedded MNIST from device-resident loaders, with SGD
(lr 0.4) and cross-entropy, and validate with the loss and accuracy each epoch. The hand loop
keeps the Learner's bookkeeping: the losses (and accuracy) are summed on the device, weighted by
batch size, and read once per epoch with one `.tolist()`. The Learner keeps all its default
callbacks (TrainEval, DeviceCallback, AvgStats, Recorder, ProgressBar); the ProgressBar's rows
are captured with `redirect_stdout`. Each timed run builds the model, moves it and fits it.

    python benchmarks/loop_overhead.py [--device auto|cpu|cuda] [--epochs 1] [--repeats 5]

The spec's target is a median ratio learner/hand of at most 1.03.
"""

from __future__ import annotations

import argparse
import contextlib
import io

import torch
import torch.nn.functional as F

import lookinside
from _report import append_section, markdown_table
from _timing import Runs, add_common_args, run_alternating, seeded_cnn, setup
from lookinside import AvgStats, DataLoaders, Learner, accuracy

LR = 0.4
TARGET = 1.03
COLUMNS = ["train_loss", "valid_loss", "valid_accuracy"]


def learner_fit(dls: DataLoaders, epochs: int) -> list[list[float]]:
    """Fit with `Learner` and its default callbacks; return each epoch's `COLUMNS`."""
    learn = Learner(seeded_cnn(), dls, lr=LR, metrics=[accuracy])
    with contextlib.redirect_stdout(io.StringIO()):  # the ProgressBar's table: kept, not shown
        learn.fit(epochs)
    stats = learn.find_cb(AvgStats)
    assert stats is not None
    return [[s.values[c] for c in COLUMNS] for s in stats.history]


def hand_fit(dls: DataLoaders, epochs: int, device: torch.device) -> list[list[float]]:
    """Fit with a plain PyTorch loop doing the Learner's work; return each epoch's `COLUMNS`."""
    assert dls.valid is not None
    model = seeded_cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    history = []
    for _ in range(epochs):
        model.train()
        train_loss, n_train = torch.zeros((), device=device), 0
        for xb, yb in dls.train:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            opt.zero_grad(set_to_none=True)
            train_loss.add_(loss.detach(), alpha=yb.shape[0])
            n_train += yb.shape[0]
        model.eval()
        valid_loss, n_valid = torch.zeros((), device=device), 0
        valid_acc = torch.zeros((), device=device)
        with torch.no_grad():
            for xb, yb in dls.valid:
                pred = model(xb)
                valid_loss.add_(F.cross_entropy(pred, yb), alpha=yb.shape[0])
                valid_acc.add_(accuracy(pred, yb), alpha=yb.shape[0])
                n_valid += yb.shape[0]
        sums = torch.stack([train_loss / n_train, valid_loss / n_valid, valid_acc / n_valid])
        history.append(sums.tolist())  # the one host transfer of the epoch
    return history


def same_work_check(runs: Runs) -> str:
    """A line comparing the two variants' last-epoch figures (they should agree closely)."""
    learner, hand = runs.results["learner"], runs.results["hand"]
    assert isinstance(learner, list)
    assert isinstance(hand, list)
    diff = max(
        abs(a - b)
        for epoch_l, epoch_h in zip(learner, hand, strict=True)
        for a, b in zip(epoch_l, epoch_h, strict=True)
    )
    last = ", ".join(f"{c} {v:.4f}" for c, v in zip(COLUMNS, learner[-1], strict=True))
    verdict = "agree" if diff < 1e-3 else "DIFFER: the loops do not do the same work"
    return f"last epoch (learner): {last}; max |learner - hand| = {diff:.2g} ({verdict})"


def report(runs: Runs, args: argparse.Namespace, device: torch.device) -> None:
    """Print the summary and, unless --no-write, append it to RESULTS.md."""
    ratios = runs.pair_ratios("learner", "hand")
    median_ratio = runs.median_ratio("learner", "hand")
    met = "met" if median_ratio <= TARGET else "NOT met"
    times = zip(runs.times["learner"], runs.times["hand"], ratios, strict=True)
    rows = [[str(i), f"{a:.3f}", f"{b:.3f}", f"{r:.3f}"] for i, (a, b, r) in enumerate(times, 1)]
    rows.append(["median", f"{runs.median('learner'):.3f}", f"{runs.median('hand'):.3f}",
                 f"**{median_ratio:.3f}**"])  # fmt: skip
    check = same_work_check(runs)
    summary = (
        f"median ratio learner/hand: {median_ratio:.3f} (ratio of medians "
        f"{runs.ratio_of_medians('learner', 'hand'):.3f}); target <= {TARGET}: {met}"
    )
    print(f"\nmedian learner {runs.median('learner'):.3f} s, hand {runs.median('hand'):.3f} s")
    print(summary)
    print(check)
    noise = runs.noise()
    if noise:
        print(f"warning: {noise}")
    if args.no_write:
        return
    settings = f"bs {args.bs}, {args.epochs} epoch(s) per run, {args.repeats} repeats (ABAB...)"
    table = markdown_table(["repeat", "learner (s)", "hand (s)", "learner/hand"], rows)
    notes = [f"{summary}.", f"Check: {check}.", *([f"Warning: {noise}."] if noise else [])]
    body = "\n\n".join([f"Settings: {settings}.", table, *notes])
    append_section("loop_overhead.py: Learner vs hand-written loop", device, body)


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, time both variants alternately, report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (default: 1)")
    args = parser.parse_args(argv)
    device = setup(args)
    x_train, y_train, x_valid, y_valid = lookinside.load_mnist()
    dls = DataLoaders.from_tensors(x_train, y_train, x_valid, y_valid, bs=args.bs, device=device)
    print(f"device {device}, {torch.get_num_threads()} threads, bs {args.bs}, "
          f"{args.epochs} epoch(s), {args.repeats} repeats")  # fmt: skip
    variants = {
        "learner": lambda: learner_fit(dls, args.epochs),
        "hand": lambda: hand_fit(dls, args.epochs, device),
    }
    runs = run_alternating(variants, args.repeats, device)
    report(runs, args, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

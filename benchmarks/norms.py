"""lookinside's normalisations, and torch's built-in counterparts, after one epoch on MNIST.

Every run trains the lesson's chapter-07 model, `lookinside.cnn(nfs=(8, 16, 32, 64, 64),
norm=NAME)` (conv without bias -> ReLU -> norm, five stride-2 blocks, pooling, linear), with
`Learner(model, dls, lr=LR, metrics=[accuracy])`, plain SGD, for one epoch (`learn.fit(1)`),
validating on MNIST's official 10k test set. Two settings:

- large: batch size 512 on the 60k training images (--lr, default 0.4);
- small: batch size 2 on the first --small-n training images (default 10000; rounded down to
  an even number, so that no batch has a single item), validation batches of 1024
  (--small-lr, default 0.4, the lesson's lr at bs 2).

Norms: none, batch, layer, instance, group, running (lookinside's own layers). Where torch has
the same layer, the same model is also trained with it in place of lookinside's (same
structure, same seed, so the same initial weights and the same shuffles): batch ->
`nn.BatchNorm2d(nf)`, layer -> `nn.GroupNorm(1, nf)`, instance -> `nn.InstanceNorm2d(nf,
affine=True)`, group -> `nn.GroupNorm(G, nf)` with lookinside's `default_groups(nf)`. The last
block's output is 1x1, where `nn.InstanceNorm2d` refuses to normalise in Python
("Expected more than 1 spatial element"); the torch variant calls the same kernel
(`torch.instance_norm`) without that check, and so matches lookinside's `InstanceNorm`.

Each lookinside run is followed at once by its torch twin, so the time ratio compares
neighbours in time. Times: `fit s` is perf_counter around `learn.fit(1)` (training and
validation), `train s` the training phase alone; the ratio lookinside/torch uses `fit s`
(target <= 1.5). One untimed warm-up fit comes first. The section also gives the 1-minute
load average (start, highest after a run, end): the bs-2 runs, thousands of tiny steps on
torch's threads, slow down many-fold when another process takes a core.

    python benchmarks/norms.py [--device auto|cpu|cuda] [--only batch,running] [--skip-small]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

import lookinside
from _report import append_section, markdown_table
from _timing import add_device_args, device_from_args, synchronize
from lookinside import AvgStats, Callback, DataLoaders, Learner, ProgressBar, accuracy
from lookinside.nn import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from lookinside.nn.norm_names import default_groups

NORM_NAMES = ("none", "batch", "layer", "instance", "group", "running")
NFS = (8, 16, 32, 64, 64)
LARGE_BS, SMALL_BS, SMALL_VALID_BS = 512, 2, 1024
SEED = 0
TARGET = 1.5
LOADS: list[float] = []  # the 1-minute load average after each run
LESSON = "the lesson: BatchNorm at bs 2 26.0 %, RunningBatchNorm at bs 2 97.3 %"


class InstanceNorm2dAnySize(nn.InstanceNorm2d):
    """`nn.InstanceNorm2d(nf, affine=True)`, minus the Python check refusing 1x1 inputs.

    Calls `torch.instance_norm`, the kernel `F.instance_norm` calls after its check: on a 1x1
    input every value is its own mean, so the output is the shift, as in lookinside's layer.
    """

    def forward(self, x: Tensor) -> Tensor:
        return torch.instance_norm(
            x, self.weight, self.bias, None, None, True, 0.0, self.eps,
            torch.backends.cudnn.enabled,
        )  # fmt: skip


def torch_norm(name: str, nf: int) -> nn.Module | None:
    """torch's counterpart of lookinside's norm `name` for `nf` channels, or None if none."""
    if name == "batch":
        return nn.BatchNorm2d(nf)
    if name == "layer":
        return nn.GroupNorm(1, nf)
    if name == "instance":
        return InstanceNorm2dAnySize(nf, affine=True)
    if name == "group":
        return nn.GroupNorm(default_groups(nf), nf)
    return None


LOOKINSIDE_NORMS = (BatchNorm, LayerNorm, InstanceNorm, GroupNorm)


def build_model(name: str, impl: str, seed: int = SEED) -> nn.Sequential:
    """The chapter-07 cnn with norm `name`, built after `torch.manual_seed(seed)`.

    impl "torch": the same model with each lookinside norm replaced by torch's counterpart (the
    norms draw no random numbers, so the conv and linear weights are the same).
    """
    torch.manual_seed(seed)
    model = lookinside.cnn(nfs=NFS, norm=name)
    if impl == "torch":
        replaced = 0
        for block in model:
            if isinstance(block, nn.Sequential) and isinstance(block[-1], LOOKINSIDE_NORMS):
                conv = block[0]
                assert isinstance(conv, nn.Conv2d)
                new = torch_norm(name, conv.out_channels)
                assert new is not None
                block[-1] = new
                replaced += 1
        assert replaced == len(NFS), f"replaced {replaced} norms, expected {len(NFS)}"
    return model


def same_init_check(names: list[str], x: Tensor) -> str:
    """The largest |lookinside - torch| output difference at initialisation (training mode)."""
    diffs = []
    for name in names:
        with torch.no_grad():
            a = build_model(name, "lookinside")(x)
            b = build_model(name, "torch")(x)
        diffs.append(f"{name} {(a - b).abs().max().item():.1g}")
    return ", ".join(diffs)


class PhaseTimer(Callback):
    """Seconds of the training phase (synchronised on the device at both ends)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.train_seconds = 0.0

    def before_train(self, learn: Learner) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def after_train(self, learn: Learner) -> None:
        synchronize(self.device)
        self.train_seconds += time.perf_counter() - self._start


@dataclass
class Result:
    norm: str
    impl: str
    bs: int
    accuracy: float
    loss: float
    fit_seconds: float
    train_seconds: float


def train_one(
    name: str, impl: str, dls: DataLoaders, lr: float, bs: int, device: torch.device
) -> Result:
    """One epoch of `Learner.fit` with norm `name` from `impl`; its figures and times."""
    model = build_model(name, impl)
    timer = PhaseTimer(device)
    learn = Learner(model, dls, lr=lr, metrics=[accuracy], cbs=[timer])
    bar = learn.find_cb(ProgressBar)
    if bar is not None:
        bar.rows, bar.bar = False, False
    synchronize(device)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        learn.fit(1)
    synchronize(device)
    seconds = time.perf_counter() - start
    stats = learn.find_cb(AvgStats)
    assert stats is not None
    values = stats.history[-1].values
    result = Result(name, impl, bs, values["valid_accuracy"], values["valid_loss"], seconds,
                    timer.train_seconds)  # fmt: skip
    print(f"{name:<9} {impl:<10} bs {bs:<4} acc {result.accuracy:7.2%}  loss "
          f"{result.loss:8.4f}  fit {seconds:7.2f} s  train {timer.train_seconds:7.2f} s",
          flush=True)  # fmt: skip
    LOADS.append(os.getloadavg()[0])
    return result


def run_setting(
    names: list[str], dls: DataLoaders, lr: float, bs: int, device: torch.device
) -> list[Result]:
    """Each norm with lookinside's layer, then (where one exists) torch's, back to back."""
    results = []
    for name in names:
        results.append(train_one(name, "lookinside", dls, lr, bs, device))
        if torch_norm(name, NFS[0]) is not None:
            results.append(train_one(name, "torch", dls, lr, bs, device))
    return results


def ratio(results: list[Result], r: Result) -> float | None:
    """fit seconds of lookinside's `r` over its torch twin's, if `r` is lookinside's and has one."""
    if r.impl != "lookinside":
        return None
    twin = [t for t in results if t.impl == "torch" and t.norm == r.norm and t.bs == r.bs]
    return r.fit_seconds / twin[0].fit_seconds if twin else None


def pct(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.2%}"


def table(results: list[Result]) -> str:
    rows = []
    for r in results:
        q = ratio(results, r)
        cell = "" if q is None else (f"**{q:.2f}**" if q > TARGET else f"{q:.2f}")
        rows.append([r.norm, r.impl, str(r.bs), pct(r.accuracy), f"{r.loss:.4f}",
                     f"{r.fit_seconds:.2f}", f"{r.train_seconds:.2f}", cell])  # fmt: skip
    header = ["norm", "impl", "bs", "valid acc", "valid loss", "fit s", "train s",
              "lookinside/torch"]  # fmt: skip
    return markdown_table(header, rows)


def ratio_summary(results: list[Result]) -> str:
    """Which lookinside/torch ratios meet the target."""
    parts, over = [], []
    for r in results:
        q = ratio(results, r)
        if q is None:
            continue
        parts.append(f"{r.norm} bs {r.bs} {q:.2f}")
        if q > TARGET:
            over.append(f"{r.norm} bs {r.bs}")
    if not parts:
        return "no lookinside/torch pair measured"
    verdict = "met by all" if not over else f"NOT met by {', '.join(over)}"
    return f"time ratios lookinside/torch: {'; '.join(parts)}; target <= {TARGET}: {verdict}"


def running_vs_batch(results: list[Result]) -> str:
    """Whether RunningBatchNorm at bs 2 ends above BatchNorm at bs 2 (lookinside's layers)."""
    found = {r.norm: r for r in results if r.impl == "lookinside" and r.bs == SMALL_BS}
    if "batch" not in found or "running" not in found:
        return f"RunningBatchNorm vs BatchNorm at bs {SMALL_BS}: not measured in this run"
    bn, rbn = found["batch"].accuracy, found["running"].accuracy
    verdict = "yes" if rbn > bn else "NO"
    return (f"RunningBatchNorm at bs {SMALL_BS} ends above BatchNorm at bs {SMALL_BS}: "
            f"{verdict} ({pct(rbn)} vs {pct(bn)}; {LESSON})")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_device_args(parser)
    parser.add_argument(
        "--lr", type=float, default=0.4, help=f"lr at bs {LARGE_BS} (default: %(default)s)"
    )
    parser.add_argument(
        "--small-lr", type=float, default=0.4, help=f"lr at bs {SMALL_BS} (default: %(default)s)"
    )
    parser.add_argument(
        "--small-n",
        type=int,
        default=10000,
        help=f"training images at bs {SMALL_BS} (default: %(default)s)",
    )
    parser.add_argument(
        "--only", default=",".join(NORM_NAMES), help="comma-separated norms to run (default: all)"
    )
    parser.add_argument("--skip-small", action="store_true", help=f"skip the bs-{SMALL_BS} runs")
    parser.add_argument("--skip-large", action="store_true", help=f"skip the bs-{LARGE_BS} runs")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; do not append to benchmarks/RESULTS.md")  # fmt: skip
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.names if n not in NORM_NAMES]
    if unknown or not args.names:
        parser.error(f"--only: unknown norm(s) {unknown}; choose from {', '.join(NORM_NAMES)}")
    args.small_n -= args.small_n % SMALL_BS
    if not args.skip_small and args.small_n < SMALL_BS:
        parser.error(f"--small-n must be at least {SMALL_BS}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Parse the flags, train every requested norm in each setting, report."""
    args = parse_args(argv)
    device = device_from_args(args)
    load_start = os.getloadavg()[0]
    x_train, y_train, x_valid, y_valid = lookinside.load_mnist()
    print(f"device {device}, {torch.get_num_threads()} threads, norms {','.join(args.names)}")
    check = same_init_check([n for n in args.names if torch_norm(n, NFS[0])], x_train[:256])
    if check:
        print(f"max |lookinside - torch| of the outputs at initialisation: {check}")
    warm = DataLoaders.from_tensors(x_train[:4096], y_train[:4096], x_valid[:1024],
                                    y_valid[:1024], bs=LARGE_BS, device=device)  # fmt: skip
    train_one("batch", "lookinside", warm, args.lr, LARGE_BS, device)  # warm-up, not reported
    results: list[Result] = []
    settings = []
    if not args.skip_large:
        dls = DataLoaders.from_tensors(x_train, y_train, x_valid, y_valid, bs=LARGE_BS,
                                       device=device)  # fmt: skip
        settings.append(f"bs {LARGE_BS} on {len(x_train)} images, lr {args.lr}, "
                        f"valid bs {2 * LARGE_BS}")  # fmt: skip
        results += run_setting(args.names, dls, args.lr, LARGE_BS, device)
    if not args.skip_small:
        n = args.small_n
        dls = DataLoaders.from_tensors(x_train[:n], y_train[:n], x_valid, y_valid, bs=SMALL_BS,
                                       device=device, valid_bs=SMALL_VALID_BS)  # fmt: skip
        settings.append(f"bs {SMALL_BS} on the first {n} images, lr {args.small_lr}, "
                        f"valid bs {SMALL_VALID_BS}")  # fmt: skip
        results += run_setting(args.names, dls, args.small_lr, SMALL_BS, device)
    if not results:
        print("nothing to run (--skip-small and --skip-large)")
        return 0
    text = table(results)
    ratios, rbn = ratio_summary(results), running_vs_batch(results)
    load = (
        f"1-minute load average {load_start:.2f} at the start, at most {max(LOADS):.2f} after a "
        f"run, {os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} CPUs (this script "
        f"alone accounts for up to {torch.get_num_threads()}; more means another process "
        "shared the cores, which slows the bs-2 runs most)"
    )
    print(f"\n{text}\n\n{ratios}\n{rbn}\n{load}")
    if args.no_write:
        return 0
    notes = [
        f"Settings: one epoch of `Learner.fit`, plain SGD, `cnn(nfs={NFS}, norm=...)`, seed "
        f"{SEED} for every model; {'; '.join(settings)}; validation on the {len(x_valid)} test "
        "images. `fit s`: the whole fit (training and validation); `train s`: the training "
        "phase; the ratio lookinside/torch uses `fit s`, each pair run back to back.",
        text,
        f"{ratios}.",
        f"{rbn}.",
        f"Check: max |lookinside - torch| of the outputs at initialisation: {check or '-'}.",
        f"Machine load: {load}.",
    ]
    append_section("norms.py: lookinside's norms vs torch's, one epoch on MNIST", device,
                   "\n\n".join(notes))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

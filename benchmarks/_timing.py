"""Shared by the benchmark scripts: the common flags, the device, and alternating timed runs."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

import lookinside


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """--device and --threads."""
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: lookinside.default_device() (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) (default: leave torch's choice)",
    )


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """The flags every benchmark takes: --device, --threads, --bs, --repeats, --no-write."""
    add_device_args(parser)
    parser.add_argument("--bs", type=int, default=512, help="batch size (default: %(default)s)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs of each variant, alternating (default: %(default)s)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; do not append to benchmarks/RESULTS.md"
    )


def setup(args: argparse.Namespace) -> torch.device:
    """Check --repeats, apply --threads and return the device --device names."""
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    return device_from_args(args)


def device_from_args(args: argparse.Namespace) -> torch.device:
    """Apply --threads and return the device --device names."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return lookinside.default_device()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device here")
    return torch.device(args.device)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass
class Runs:
    """Each variant's times (seconds, in run order) and its last run's return value."""

    times: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, object] = field(default_factory=dict)

    def median(self, name: str) -> float:
        """The median time of variant `name`."""
        return statistics.median(self.times[name])

    def pair_ratios(self, num: str, den: str) -> list[float]:
        """`num / den` for each repeat (the runs of one repeat are neighbours in time)."""
        return [a / b for a, b in zip(self.times[num], self.times[den], strict=True)]

    def median_ratio(self, num: str, den: str) -> float:
        """The median of the per-repeat ratios `num / den`."""
        return statistics.median(self.pair_ratios(num, den))

    def ratio_of_medians(self, num: str, den: str) -> float:
        """`median(num) / median(den)`."""
        return self.median(num) / self.median(den)

    def noise(self, limit: float = 1.2) -> str | None:
        """A warning naming the variants whose slowest run took over `limit` × their fastest."""
        spreads = {name: max(t) / min(t) for name, t in self.times.items()}
        noisy = [f"{name} {s:.2f}" for name, s in spreads.items() if s > limit]
        if not noisy:
            return None
        return (
            f"noisy timings (slowest/fastest run: {', '.join(noisy)}); another process may "
            "have shared the CPU: the medians are more trustworthy than any single run"
        )


def run_alternating(
    variants: Mapping[str, Callable[[], object]], repeats: int, device: torch.device
) -> Runs:
    """Run each variant once untimed (warm-up), then `repeats` rounds of all of them in turn.

    Each timed run is bracketed by `synchronize(device)`, so queued device work counts.
    """
    runs = Runs(times={name: [] for name in variants})
    for name, fn in variants.items():
        fn()
        synchronize(device)
        print(f"warm-up {name} done", flush=True)
    for i in range(1, repeats + 1):
        for name, fn in variants.items():
            synchronize(device)
            start = time.perf_counter()
            runs.results[name] = fn()
            synchronize(device)
            runs.times[name].append(time.perf_counter() - start)
            print(f"run {i}/{repeats}  {name:<26} {runs.times[name][-1]:8.3f} s", flush=True)
    return runs


def seeded_cnn(seed: int = 0) -> torch.nn.Module:
    """A fresh `lookinside.cnn()` (on the CPU), initialised after `torch.manual_seed(seed)`.

    Seeding every device's generator also fixes the shuffles drawn afterwards.
    """
    torch.manual_seed(seed)
    return lookinside.cnn()

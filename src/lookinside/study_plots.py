"""Comparison plots of a study: accuracy with error bars, loss curves, near-zero per layer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .plots import save_figure
from .runs import RunDir, StudyDir
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .study_results import RunResult, VariantSummary


def plot_accuracy(summaries: list[VariantSummary]) -> Figure:
    """Valid accuracy per variant: mean over seeds, error bars of one std."""
    fig = Figure(figsize=(7, 0.45 * len(summaries) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(summaries))[::-1]
    means = [s.acc_mean for s in summaries]
    stds = [0 if math.isnan(s.acc_std) else s.acc_std for s in summaries]
    ax.errorbar(means, y, xerr=stds, fmt="o", capsize=4)
    ax.set_yticks(y, [s.variant for s in summaries])
    ax.set(xlabel="valid accuracy (mean ± std over seeds)")
    return fig


def plot_loss_curves(results: list[RunResult]) -> Figure:
    """Training loss per step, averaged over each variant's seeds."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    curves: dict[str, list[np.ndarray]] = {}
    for r in results:
        path = RunDir(r.run_dir).recorder
        if r.status == "done" and path.exists():
            with np.load(path, allow_pickle=False) as z:
                curves.setdefault(r.variant, []).append(z["losses"])
    for variant, losses in curves.items():
        n = min(len(c) for c in losses)
        ax.plot(np.mean([c[:n] for c in losses], axis=0), label=variant, lw=1)
    ax.set(xlabel="step", ylabel="training loss (mean over seeds)", yscale="log")
    if curves:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))  # 9 pt at least
    return fig


def plot_near_zero(results: list[RunResult]) -> Figure:
    """Each variant's share of values at their unit's floor, per layer, over the last
    quarter of training."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.add_subplot()
    shares: dict[str, list[np.ndarray]] = {}
    names: list[str] = []
    for r in results:
        path = RunDir(r.run_dir).telemetry
        if r.status != "done" or not path.exists():
            continue
        layers = [x for x in Telemetry.load(path) if x.spec.role != "input"]
        names = names or [x.name for x in layers]
        shares.setdefault(r.variant, []).append(np.array([_late(x.near_zero) for x in layers]))
    width = 0.8 / max(len(shares), 1)
    for k, (variant, rows) in enumerate(shares.items()):
        n = min(len(x) for x in rows)
        x = np.arange(n) + k * width
        ax.bar(x, np.mean([row[:n] for row in rows], axis=0), width, label=variant)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set(xlabel="layer", ylabel="share at the unit's floor, last quarter", ylim=(0, 1))
    if shares:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))  # 9 pt at least
    return fig


def _late(values: np.ndarray) -> float:
    """The mean of the measured values over the last quarter of the steps (NaN if none)."""
    late = values[-max(1, len(values) // 4) :]
    late = late[np.isfinite(late)]
    return float(late.mean()) if len(late) else float("nan")


def write_study_plots(results: list[RunResult], summaries: list[VariantSummary], out: Path) -> None:
    """Save the three comparison plots into `out/plots/`."""
    plots = StudyDir(out).plots
    save_figure(plot_accuracy(summaries), plots / "accuracy.png")
    save_figure(plot_loss_curves(results), plots / "loss_curves.png")
    save_figure(plot_near_zero(results), plots / "near_zero.png")

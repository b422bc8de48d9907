"""The lesson's telemetry plots, as pure functions of a `Telemetry`: each returns a Figure.

Means and stds per layer over steps; the "colorful dimension" (each layer's histograms
stacked over steps, log of counts, bins on y, steps on x); the near-zero fraction per layer;
gradient stds when recorded. Nothing here touches pyplot's global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from .plots import new_axes
from .telemetry import Telemetry

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_means_stds(t: Telemetry, first: int | None = None) -> Figure:
    """Two panels: each layer's activation mean and std per step (the first `first` steps)."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_mean, ax_std = fig.subplots(1, 2)
    for layer in t:
        n = len(layer.steps) if first is None else int(np.searchsorted(layer.steps, first))
        ax_mean.plot(layer.steps[:n], layer.mean[:n], label=layer.name)
        ax_std.plot(layer.steps[:n], layer.std[:n], label=layer.name)
    ax_mean.set(xlabel="step", ylabel="activation mean", title="means")
    ax_std.set(xlabel="step", ylabel="activation std", title="stds")
    ax_std.legend(fontsize="small", ncols=2)
    return fig


def plot_hist(t: Telemetry, i: int | str, ax: Axes | None = None) -> Figure:
    """The colorful dimension of one layer: log(1 + count) per bin (y) and step (x)."""
    fig, ax = new_axes(ax)
    layer = t[i]
    image = np.log1p(np.nan_to_num(layer.hist.T))
    steps = layer.steps if len(layer.steps) else np.zeros(1)
    ax.imshow(
        image,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        extent=(float(steps[0]), float(steps[-1]) + 1, layer.spec.lo, layer.spec.hi),
    )
    ax.set(xlabel="step", ylabel="activation", title=layer.spec.label)
    return fig


def plot_hists(t: Telemetry) -> Figure:
    """The colorful dimension of every layer, in a grid."""
    cols = min(4, max(len(t), 1))
    rows = -(-len(t) // cols)
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for i, ax in enumerate(axes):
        if i < len(t):
            plot_hist(t, i, ax)
            ax.title.set_fontsize("small")
        else:
            ax.set_axis_off()
    return fig


def plot_near_zero(t: Telemetry, ax: Axes | None = None) -> Figure:
    """Share of each layer's activations near zero (see `LayerStats.near_zero`) per step."""
    fig, ax = new_axes(ax)
    for layer in t:
        ax.plot(layer.steps, layer.near_zero, label=layer.name)
    ax.set(xlabel="step", ylabel="fraction near zero", ylim=(0, 1))
    ax.legend(fontsize="small", ncols=2)
    return fig


def plot_grads(t: Telemetry, ax: Axes | None = None) -> Figure:
    """Std of each layer's output gradient per step (log scale); empty if not recorded."""
    fig, ax = new_axes(ax)
    for layer in t:
        if layer.grad_std is not None:
            ax.plot(layer.steps, layer.grad_std, label=layer.name)
    ax.set(xlabel="step", ylabel="output-gradient std", yscale="log")
    if ax.lines:
        ax.legend(fontsize="small", ncols=2)
    return fig


def telemetry_figures(t: Telemetry) -> dict[str, Figure]:
    """Every telemetry plot by file stem, as `lookinside train` saves them."""
    figs = {
        "means_stds": plot_means_stds(t),
        "means_stds_first": plot_means_stds(t, first=30),
        "hists": plot_hists(t),
        "near_zero": plot_near_zero(t),
    }
    if t.grad_sums is not None:
        figs["grads"] = plot_grads(t)
    return figs

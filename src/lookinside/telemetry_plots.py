"""The lesson's telemetry plots, as pure functions of a `Telemetry`: each returns a Figure.

Means and stds per layer over steps; the "colorful dimension" (each layer's histograms
stacked over the steps that measured them, log of counts, bins on y, steps on x); the share
of values at each unit's floor and of dead units per layer; gradient stds when recorded.
Nothing here touches pyplot's global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from .plots import new_axes
from .telemetry import Telemetry

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import QuadMesh


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
    if ax_std.lines:
        ax_std.legend(fontsize="small", ncols=2)
    return fig


def plot_hist(t: Telemetry, i: int | str, ax: Axes | None = None) -> Figure:
    """The colorful dimension of one layer: log(1 + count) per bin (y) and measured step (x),
    over the layer's range; the shares of values beyond it drawn in red just outside it.
    Each measured step spans the steps until the next one, so a record that grows sparser
    (`watch_rate`) keeps its time axis."""
    fig, ax = new_axes(ax)
    layer = t[i]
    lo, hi = layer.spec.lo, layer.spec.hi
    measured = np.isfinite(layer.hist).all(1)
    image = np.log1p(layer.hist[measured].T) if measured.any() else np.zeros((t.bins, 1))
    steps = layer.steps[measured] if measured.any() else np.zeros(1)
    last = float(np.diff(steps)[-1]) if len(steps) > 1 else 1.0
    edges = np.r_[steps, steps[-1] + last].astype(float)  # each column until the next
    x0, x1 = float(edges[0]), float(edges[-1])
    shown = _image(ax, image, edges, (lo, hi), cmap="viridis")
    fig.colorbar(shown, ax=ax, label="log(1 + count)")
    strip = (hi - lo) / 16  # the height of a red strip
    told, room = [], [0.0, 0.0]
    for side, (share, edge) in enumerate(zip(layer.clipped, (lo, hi), strict=True)):
        share = np.nan_to_num(share[measured]) if measured.any() else np.zeros(1)
        most = float(share.max(initial=0.0))
        if most <= 0:
            continue
        room[side] = strip
        where = "above" if side else "below"
        y0 = edge if side else edge - strip
        _image(ax, share[None], edges, (y0, y0 + strip), cmap="Reds", vmin=0, vmax=1)
        ax.axhline(edge, color="white", linewidth=0.8)
        told.append(
            f"up to {most:.0%} {where} {edge:g}" if most >= 0.005 else f"a few {where} {edge:g}"
        )
    ax.set(xlim=(x0, x1), ylim=(lo - room[0], hi + room[1]))
    title = layer.spec.label + ("\n(red: " + ", ".join(told) + ")" if told else "")
    ax.set(xlabel="step", ylabel="activation", title=title)
    return fig


def _image(
    ax: Axes, image: np.ndarray, x: np.ndarray, y: tuple[float, float], **style: Any
) -> QuadMesh:
    """`image` (rows from the bottom) drawn in cells: columns between the edges `x`, rows
    evenly over `y` (low, high)."""
    rows = np.linspace(y[0], y[1], image.shape[0] + 1)
    return ax.pcolormesh(x, rows, image, shading="flat", **style)


def plot_hists(t: Telemetry) -> Figure:
    """The colorful dimension of every layer with histograms (not the model's input), in a
    grid."""
    shown = [i for i, layer in enumerate(t) if np.isfinite(layer.hist).all(1).any()]
    cols = min(4, max(len(shown), 1))
    rows = max(1, -(-len(shown) // cols))
    fig = Figure(figsize=(3.6 * cols, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for i, ax in enumerate(axes):
        if i < len(shown):
            plot_hist(t, shown[i], ax)
            ax.title.set_fontsize("small")
        else:
            ax.set_axis_off()
    return fig


def plot_near_zero(t: Telemetry) -> Figure:
    """Two panels per measured step: each layer's share of values at its units' floor (see
    `LayerStats.near_zero`), and its share of dead units."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_floor, ax_dead = fig.subplots(1, 2)
    for layer in t:
        if layer.spec.role == "input":
            continue
        for ax, values in ((ax_floor, layer.near_zero), (ax_dead, layer.dead)):
            measured = np.isfinite(values)
            ax.plot(layer.steps[measured], values[measured], label=layer.name)
    ax_floor.set(xlabel="step", ylabel="share within 1 % of the floor", ylim=(0, 1),
                 title="near zero: at the unit's floor (its lowest\nvalue over the batch; 0 "
                       "for a ReLU)")  # fmt: skip
    ax_dead.set(xlabel="step", ylabel="share of units", ylim=(0, 1),
                title="dead units (the same output for every input)")  # fmt: skip
    if ax_dead.lines:  # beside the panels, never over the curves
        fig.legend(*ax_dead.get_legend_handles_labels(), loc="outside right upper",
                   fontsize="small")  # fmt: skip
    return fig


def plot_grads(t: Telemetry, ax: Axes | None = None) -> Figure:
    """Std of each layer's output gradient per step (log scale); empty if not recorded."""
    fig, ax = new_axes(ax)
    for layer in t:
        measured = np.isfinite(layer.grad_std)
        if measured.any():
            ax.plot(layer.steps[measured], layer.grad_std[measured], label=layer.name)
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
    if any(np.isfinite(layer.grad_std).any() for layer in t):
        figs["grads"] = plot_grads(t)
    return figs

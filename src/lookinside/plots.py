"""Plot helpers shared by every `plot_*(ax=None) -> Figure`: no pyplot state, never `show()`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def new_axes(ax: Axes | None = None, figsize: tuple[float, float] = (6, 4)) -> tuple[Figure, Axes]:
    """Return `(figure, ax)`: the figure holding `ax`, or a new pyplot-free figure and axes."""
    if ax is not None:
        fig = ax.get_figure(root=True)
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def save_figure(fig: Figure, path: Path, dpi: int = 100) -> None:
    """Save `fig` as PNG at `path`, atomically (the directory is created)."""
    import io

    from .files import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())

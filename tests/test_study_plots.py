"""A study's comparison plots: readable type (9 pt at least) and the numbers they show."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookinside.study_plots import plot_accuracy, plot_loss_curves
from lookinside.study_results import RunResult, summarize


def runs(tmp_path: Path) -> list[RunResult]:
    out = []
    for variant, scale in (("kaiming init", 1.0), ("+ BatchNorm", 0.5)):
        for seed in (0, 1):
            run_dir = tmp_path / variant.replace(" ", "-") / str(seed)
            run_dir.mkdir(parents=True)
            np.savez(run_dir / "recorder.npz", losses=scale * np.linspace(2, 1, 10 + seed),
                     lrs=np.full((10 + seed, 1), 0.1))  # fmt: skip
            out.append(RunResult(variant, seed, str(run_dir), "done", 0.9 - 0.1 * scale, 0.3,
                                 0.3, 1.0, 100, [], ""))  # fmt: skip
    return out


def test_the_legend_and_labels_are_nine_points_at_least(tmp_path: Path) -> None:
    results = runs(tmp_path)
    curves = plot_loss_curves(results)
    ax = curves.axes[0]
    legend = ax.get_legend()
    assert legend is not None and min(t.get_fontsize() for t in legend.get_texts()) >= 9
    assert [line.get_label() for line in ax.lines] == ["kaiming init", "+ BatchNorm"]
    seeds = [0.5 * np.linspace(2, 1, 10), 0.5 * np.linspace(2, 1, 11)[:10]]  # the shortest
    assert np.allclose(ax.lines[1].get_ydata(), np.mean(seeds, axis=0))
    accuracy = plot_accuracy(summarize(results)).axes[0]
    assert min(t.get_fontsize() for t in accuracy.get_yticklabels()) >= 9

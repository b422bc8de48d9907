"""A run's outputs rebuilt from its last checkpoint (`lookinside.finish`): what a kill after
the last epoch's checkpoint leaves is finished, equal to the run never stopped."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lookinside.cli import main
from lookinside.finish import finish_run, render_directory
from lookinside.runs import RunDir
from lookinside.telemetry import Telemetry

OUTPUTS = ("report.html", "telemetry.npz", "diagnosis.json", "model.pt")


@pytest.fixture(scope="module")
def trained(small_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One whole 2-epoch run on small MNIST, shared by the tests (which copy it); PyTorch's
    default init gives it findings, so that comparing them compares something."""
    out = tmp_path_factory.mktemp("finish") / "run"
    argv = ["train", "--data", str(small_mnist), "--bs", "32", "--epochs", "2", "--init", "default"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def cut_after_last_checkpoint(run: Path, copy: Path) -> Path:
    """A copy of `run` whose outputs were lost after its last epoch's checkpoint."""
    shutil.copytree(run, copy)
    for name in OUTPUTS:
        (copy / name).unlink()
    shutil.rmtree(copy / "plots")
    assert (copy / "checkpoints" / "epoch-0002.pt").is_file()
    return copy


def findings(run: Path) -> list[dict[str, object]]:
    saved: list[dict[str, object]] = json.loads((run / "diagnosis.json").read_text())["findings"]
    return saved


def test_render_directory_writes_the_lost_outputs_equal_to_the_original(
    trained: Path, tmp_path: Path
) -> None:
    cut = cut_after_last_checkpoint(trained, tmp_path / "cut")
    assert RunDir(cut).unfinished_outputs()
    assert render_directory(cut) == cut / "report.html"
    assert all((cut / name).is_file() for name in OUTPUTS)
    assert (cut / "plots" / "loss.png").is_file()
    ours, theirs = (Telemetry.load(d / "telemetry.npz") for d in (cut, trained))
    assert np.array_equal(ours.steps, theirs.steps)
    assert np.array_equal(ours.values, theirs.values, equal_nan=True)
    assert findings(trained) and findings(cut) == findings(trained)
    assert not RunDir(cut).unfinished_outputs()


def test_finish_run_leaves_a_whole_run_alone(trained: Path) -> None:
    files = sorted(p for p in trained.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    assert finish_run(RunDir(trained)) is None
    assert (trained / "report.html").stat().st_mtime_ns == before[trained / "report.html"]
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert sorted(p for p in trained.rglob("*") if p.is_file()) == files


def test_the_report_command_finishes_a_run_cut_after_its_last_checkpoint(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = cut_after_last_checkpoint(trained, tmp_path / "cut")
    capsys.readouterr()
    assert main(["report", str(cut)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {cut / 'report.html'}"
    assert all((cut / name).is_file() for name in OUTPUTS)

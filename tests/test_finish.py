"""A run's outputs rebuilt from its last checkpoint (`lookinside.finish`): what a kill after
the last epoch's checkpoint leaves is finished, equal to the run never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lookinside.cli import main
from lookinside.finish import finish_run, render_directory
from lookinside.runs import RunDir
from lookinside.telemetry import Telemetry

from .conftest import OUTPUTS, cut_after_last_checkpoint


def findings(run: Path) -> list[dict[str, object]]:
    saved: list[dict[str, object]] = json.loads((run / "diagnosis.json").read_text())["findings"]
    return saved


def test_render_directory_writes_the_lost_outputs_equal_to_the_original(
    two_epoch_run: Path, tmp_path: Path
) -> None:
    cut = cut_after_last_checkpoint(two_epoch_run, tmp_path / "cut")
    assert RunDir(cut).unfinished_outputs()
    assert render_directory(cut) == cut / "report.html"
    assert all((cut / name).is_file() for name in OUTPUTS)
    assert (cut / "plots" / "loss.png").is_file()
    ours, theirs = (Telemetry.load(d / "telemetry.npz") for d in (cut, two_epoch_run))
    assert np.array_equal(ours.steps, theirs.steps)
    assert np.array_equal(ours.values, theirs.values, equal_nan=True)
    assert findings(two_epoch_run) and findings(cut) == findings(two_epoch_run)
    assert not RunDir(cut).unfinished_outputs()


def test_finish_run_leaves_a_whole_run_alone(two_epoch_run: Path) -> None:
    files = sorted(p for p in two_epoch_run.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    assert finish_run(RunDir(two_epoch_run)) is None
    assert (two_epoch_run / "report.html").stat().st_mtime_ns == before[
        two_epoch_run / "report.html"
    ]
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert sorted(p for p in two_epoch_run.rglob("*") if p.is_file()) == files


def test_the_report_command_finishes_a_run_cut_after_its_last_checkpoint(
    two_epoch_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = cut_after_last_checkpoint(two_epoch_run, tmp_path / "cut")
    capsys.readouterr()
    assert main(["report", str(cut)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {cut / 'report.html'}"
    assert all((cut / name).is_file() for name in OUTPUTS)

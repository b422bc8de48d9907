"""What `lookinside inspect` says of a run (`describe_directory`): a run cut after its last
checkpoint is finished first; an unfinished run is diagnosed from its last checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from lookinside.describe import describe_directory

from .conftest import OUTPUTS, cut_after_last_checkpoint


def test_a_run_cut_after_its_last_checkpoint_is_finished_then_described(
    two_epoch_run: Path, tmp_path: Path
) -> None:
    cut = cut_after_last_checkpoint(two_epoch_run, tmp_path / "cut")
    said = describe_directory(cut)
    first, rest = said.split("\n", 1)
    assert first == "its outputs were missing; they are now written from epoch-0002.pt."
    assert all((cut / name).is_file() for name in OUTPUTS)
    # the rest is what inspect says of the run never cut (its path aside)
    assert rest == describe_directory(two_epoch_run).replace(str(two_epoch_run), str(cut))
    assert describe_directory(cut) == rest  # finished now: nothing more to write


def test_an_unfinished_run_is_diagnosed_from_its_last_checkpoint_and_left_unfinished(
    two_epoch_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "unfinished"
    shutil.copytree(two_epoch_run, run)
    (run / "checkpoints" / "epoch-0002.pt").unlink()
    header, first_epoch, *_ = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text(f"{header}\n{first_epoch}\n")
    for name in ("report.html", "telemetry.npz", "diagnosis.json"):
        (run / name).unlink()
    lines = describe_directory(run).splitlines()
    assert lines[0].startswith("a training run: 1 epoch(s) of 2; train_loss ")
    assert f"unfinished: resume it with `lookinside train --resume {run}`." in lines
    where = lines.index("diagnosis of the steps its last checkpoint holds (epoch-0001.pt):")
    assert lines[where + 1].startswith("diagnosis:")
    assert not (run / "report.html").exists() and not (run / "telemetry.npz").exists()
    assert not (run / "diagnosis.json").exists()


def test_a_run_without_telemetry_says_it_has_no_diagnosis(
    two_epoch_run: Path, tmp_path: Path
) -> None:
    """A copy made to look like a run trained with --no-telemetry (no training needed)."""
    run = tmp_path / "no-telemetry"
    shutil.copytree(two_epoch_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "telemetry": False}))
    (run / "telemetry.npz").unlink()
    (run / "diagnosis.json").unlink()
    lines = describe_directory(run).splitlines()
    assert lines[0].startswith("a training run: 2 epoch(s) of 2; ")
    assert lines[1:] == [
        "no diagnosis: the run recorded no telemetry (it ran with --no-telemetry)."
    ]


def test_outputs_that_cannot_be_written_here_are_said_and_the_rest_described(
    two_epoch_run: Path, tmp_path: Path
) -> None:
    """Finishing needs what training needs (here, the data is gone): inspect says so, with
    the command that finishes the run, and describes what there is."""
    cut = cut_after_last_checkpoint(two_epoch_run, tmp_path / "cut")
    options = json.loads((cut / "config.json").read_text())
    (cut / "config.json").write_text(json.dumps({**options, "data": str(tmp_path / "gone")}))
    first, second, *_ = describe_directory(cut).splitlines()
    assert first.startswith(f"its outputs are not written: `lookinside train --resume {cut}` "
                            "writes them (here: ")  # fmt: skip
    assert second.startswith("a training run: 2 epoch(s) of 2; ")
    assert not (cut / "report.html").exists()

"""`lookinside fix`: a trial of a run's remedies as a study, end to end on a tiny run, and
the sentences it answers bad input with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lookinside.cli import main
from lookinside.diagnosis.findings import Remedy
from lookinside.fix import command
from lookinside.study_results import RunResult
from lookinside.train import Interrupted
from lookinside.trial import ORIGINAL, Candidate, Trial

TINY = ["--arch", "4,8", "--epochs", "1"]


@pytest.fixture(scope="module")
def stalled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 steps at lr 1e-5: the loss does not fall (`no_learning`: its remedy is --lr auto)."""
    out = tmp_path_factory.mktemp("fix") / "run"
    assert main(["train", "--subset", "1000", "--bs", "50", *TINY, "--lr", "1e-5",
                 "--out", str(out)]) == 0  # fmt: skip
    return out


def test_fix_trains_the_remedy_beside_the_original_and_recommends_it(
    stalled_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix", str(stalled_run), "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    trial_dir = stalled_run / "fix"
    saved = json.loads((trial_dir / "trial.json").read_text())
    rows = {r["variant"]: r for r in saved["rows"]}
    assert list(rows) == [ORIGINAL, "raise_lr"]
    raised = rows["raise_lr"]
    assert raised["changes"] == "--lr auto" and raised["runs"] == 2 and raised["gain"] > 0
    assert raised["cleared"] == 2 and saved["recommended"] == "raise_lr"
    assert saved["command"].startswith("lookinside train ") and "--lr auto" in saved["command"]
    assert "--seed" not in saved["command"] and "--out" not in saved["command"]
    assert "Recommended: raise_lr (--lr auto)" in out and saved["command"] in out
    for seed in (0, 1):  # every variant trains with the same seeds, from the run's own
        for variant in ("original", "raise-lr"):
            assert (trial_dir / "runs" / variant / f"seed-{seed}" / "result.json").is_file()
    study_page = (trial_dir / "report.html").read_text()
    assert "Trial of the remedies" in study_page and "lookinside train" in study_page
    run_page = (stalled_run / "report.html").read_text()
    assert 'href="fix/report.html"' in run_page and "Recommended: raise_lr" in run_page
    # Again: every run is kept, nothing retrains, the same table comes back.
    assert main(["fix", str(stalled_run), "--seeds", "2"]) == 0
    again = capsys.readouterr().out
    assert again.count("kept (done)") == 4 and "Recommended: raise_lr" in again


def test_fix_refuses_what_it_cannot_try(
    stalled_run: Path, small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fix", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["fix", str(stalled_run), "--seeds", "0"]) == 2
    assert "--seeds must be from 1 to 10" in capsys.readouterr().err
    quiet = tmp_path / "quiet"
    assert main(["train", "--data", str(small_mnist), *TINY, "--no-telemetry",
                 "--out", str(quiet)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["fix", str(quiet)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lookinside fix: ") and "telemetry" in err and err.count("\n") == 1


def test_fix_says_when_there_is_nothing_to_fix(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy = tmp_path / "healthy"
    assert main(["train", "--data", str(small_mnist), *TINY, "--out", str(healthy)]) == 0
    assert "nothing looks wrong" in capsys.readouterr().out
    assert main(["fix", str(healthy)]) == 2
    assert "nothing to fix: the diagnosis of" in capsys.readouterr().err
    assert not (healthy / "fix").exists()


def test_the_recommended_command_shows_what_differs_from_the_defaults() -> None:
    kaiming = Candidate((Remedy("kaiming_init", "", options={"init": "kaiming"}),), ("x",))
    results = [
        RunResult(ORIGINAL, 0, "", "done", 0.5),
        RunResult("kaiming_init", 0, "", "done", 0.9),
    ]
    trial = Trial.of(results, {ORIGINAL: None, "kaiming_init": kaiming}, lambda c: "")
    base = {"init": "default", "arch": [8, 16, 32, 32], "bs": 64, "lr": 0.9, "channels_last": True}
    assert command(base, trial, {ORIGINAL: None, "kaiming_init": kaiming}) == (
        "lookinside train --lr 0.9 --channels-last"
    )


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Interrupted(Path("r"), Path("r/c.pt"))])
def test_an_interrupted_trial_says_how_to_resume(
    stop: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C between two runs, or inside one (`train` raises `Interrupted`): exit 130 and
    the command that resumes."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise stop

    monkeypatch.setattr("lookinside.fix.fix_run", interrupted)
    assert main(["fix", "runs/x", "--quick", "--seeds", "2"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        "lookinside fix: interrupted; the finished runs are kept.",
        "Resume with: lookinside fix runs/x --out runs/x/fix-quick --seeds 2 --quick",
    ]

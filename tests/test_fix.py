"""`lookinside fix`: a trial of a run's remedies as a study, end to end on a tiny run, and
the sentences it answers bad input with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lookinside as li
from lookinside.cli import main
from lookinside.diagnosis.findings import Remedy
from lookinside.errors import Interrupted
from lookinside.fix import command
from lookinside.study_results import RunResult
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
    assert main(["inspect", str(stalled_run)]) == 0
    assert f"try its remedies: lookinside fix {stalled_run}" in capsys.readouterr().out
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
    assert main(["inspect", str(stalled_run)]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith(f"trial of its remedies ({trial_dir / 'report.html'}): Recommended")
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


def test_a_resumed_trial_keeps_the_pair_it_tried(tmp_path: Path) -> None:
    """The pair joins the study after the single remedies: its study.json names it, and a
    second `fix` must build the same study (else `ablate` refuses it as another)."""
    from lookinside.fix import _pairs_tried

    norm = Candidate((Remedy("add_norm", "", options={"norm": "batch"}),), ("vanishing",))
    leaky = Candidate((Remedy("general_relu", "", options={"act": "general"}),), ("dead",))
    (tmp_path / "study.json").write_text(json.dumps({"name": "fix r", "seeds": [0], "variants": {
        "original": {}, "add_norm": {}, "general_relu": {}, "add_norm + general_relu": {},
        "add_norm + unknown": {}}}))  # fmt: skip
    pairs = _pairs_tried(tmp_path, [norm, leaky])
    assert list(pairs) == ["add_norm + general_relu"]
    assert pairs["add_norm + general_relu"].options == {"norm": "batch", "act": "general"}
    assert pairs["add_norm + general_relu"].targets == ("vanishing", "dead")
    assert _pairs_tried(tmp_path / "none", [norm, leaky]) == {}


def test_remedies_that_change_nothing_or_cannot_run_are_left_out() -> None:
    from lookinside.fix import option_candidates

    def finding(*remedies: Remedy) -> li.Finding:
        return li.Finding("rise_and_crash", "", (0, 0), "warning", "m", remedies=remedies)

    same = Remedy("lower_lr", "", options={"lr": 0.4})  # the run's own lr
    one_cycle = Remedy("warm_up", "", options={"sched": "one-cycle"})
    norm = Remedy("add_norm", "", options={"norm": "batch"})
    said: list[str] = []
    kept = option_candidates([finding(same, one_cycle, norm)],
                             {"lr": 0.4, "cuda_graph": True}, said.append)  # fmt: skip
    assert [c.name for c in kept] == ["add_norm"]
    assert len(said) == 1 and said[0].startswith("warm_up is left out: ")

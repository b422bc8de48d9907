"""The directories lookinside writes (`lookinside.runs`): what kind a directory is, and what
a run's and a study's directory say about themselves, on directories built by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lookinside.errors import LookinsideError
from lookinside.runs import RunDir, StudyDir, kind_of, open_run, study_dir


def make_run(directory: Path, **options: Any) -> Path:
    """A directory holding a config.json with `options` (epochs 2 unless told)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"epochs": 2, "lr": 0.1, **options}))
    return directory


def make_study(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "study.json").write_text(json.dumps({"name": "s", "seeds": [0]}))
    return directory


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------------- kind_of, open_run
def test_a_directory_with_study_json_or_results_csv_is_a_study(tmp_path: Path) -> None:
    assert kind_of(make_study(tmp_path / "a")) == "study"
    touch(tmp_path / "b" / "results.csv", "variant,seed\n")
    assert kind_of(tmp_path / "b") == "study"


def test_config_and_lr_find_with_a_numeric_lr_is_an_lr_find_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "finder", lr=0.1)
    touch(run / "lr_find.json", "{}")
    assert kind_of(run) == "lr-find"


def test_a_run_trained_with_lr_auto_is_a_run_not_an_lr_find_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "auto", lr="auto")
    touch(run / "lr_find.json", "{}")
    assert kind_of(run) == "run"


def test_config_json_alone_is_a_run(tmp_path: Path) -> None:
    assert kind_of(make_run(tmp_path / "run")) == "run"


def test_a_path_that_is_not_a_directory_is_one_sentence(tmp_path: Path) -> None:
    file = touch(tmp_path / "file.txt", "x")
    with pytest.raises(LookinsideError, match="is not a directory"):
        kind_of(file)
    with pytest.raises(LookinsideError, match="is not a directory"):
        kind_of(tmp_path / "missing")


def test_a_directory_without_config_json_is_no_run_directory(tmp_path: Path) -> None:
    touch(tmp_path / "other" / "notes.txt", "x")
    with pytest.raises(LookinsideError, match=r"is not a run directory \(it has no config.json\)"):
        kind_of(tmp_path / "other")


def test_open_run_refuses_a_study_and_an_lr_find_run(tmp_path: Path) -> None:
    study = make_study(tmp_path / "study")
    with pytest.raises(LookinsideError, match="is a study, not a training run"):
        open_run(study)
    finder = make_run(tmp_path / "finder")
    touch(finder / "lr_find.json", "{}")
    with pytest.raises(LookinsideError, match="is an lr-find run, not a training run"):
        open_run(finder)
    run = open_run(make_run(tmp_path / "run"))
    assert isinstance(run, RunDir) and run.path == tmp_path / "run"


# ---------------------------------------------------------------------- RunDir
def test_unfinished_outputs_when_the_last_epoch_is_checkpointed_and_no_report(
    tmp_path: Path,
) -> None:
    run = RunDir(make_run(tmp_path / "run", epochs=2))
    touch(run.checkpoints / "epoch-0002.pt")  # judged by its name: an empty file will do
    assert run.unfinished_outputs()
    touch(run.report, "<html></html>")
    assert not run.unfinished_outputs()


def test_no_unfinished_outputs_while_epochs_remain(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path / "run", epochs=2))
    assert not run.unfinished_outputs()  # no checkpoint at all
    touch(run.checkpoints / "epoch-0001.pt")
    assert run.epochs_checkpointed() == 1
    assert not run.unfinished_outputs()


def test_saved_findings_is_none_without_diagnosis_json(tmp_path: Path) -> None:
    assert RunDir(make_run(tmp_path / "run")).saved_findings() is None


def test_saved_findings_returns_the_findings_as_written(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path / "run"))
    findings = [
        {"severity": "warning", "message": "m", "advice": "a", "steps": [3, 4]},
        {"severity": "info", "message": "n", "advice": "", "steps": []},
    ]
    run.diagnosis.write_text(json.dumps({"findings": findings}))
    assert run.saved_findings() == findings


@pytest.mark.parametrize("held", [[1], 3, [{"severity": "warning", "message": "m"}]])
def test_diagnosis_json_without_findings_is_one_sentence(tmp_path: Path, held: object) -> None:
    run = RunDir(make_run(tmp_path / "run"))
    run.diagnosis.write_text(json.dumps({"findings": held}))
    with pytest.raises(LookinsideError, match="does not hold findings"):
        run.saved_findings()


def test_remove_leftovers_removes_temporary_files_and_keeps_the_others(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path / "run"))
    leftovers = [touch(run.path / ".x.tmp"), touch(run.path / "plots" / ".loss.png.tmp")]
    kept = [touch(run.path / "x.tmp"), touch(run.plot("loss")), touch(run.path / ".lock")]
    run.remove_leftovers()
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in kept) and run.config.exists()


def test_trial_prefers_fix_then_fix_quick_and_needs_a_report(tmp_path: Path) -> None:
    run = RunDir(make_run(tmp_path / "run"))
    (run.path / "fix").mkdir()  # a trial without a report is none
    assert run.trial() is None
    touch(run.path / "fix-quick" / "report.html")
    assert run.trial() == run.path / "fix-quick"
    touch(run.path / "fix" / "report.html")
    assert run.trial() == run.path / "fix"


# ---------------------------------------------------------------------- StudyDir, study_dir
def test_a_study_run_stays_inside_the_study(tmp_path: Path) -> None:
    study = StudyDir(make_study(tmp_path / "study"))
    assert study.run("lr-0.1", 3) == study.path / "runs" / "lr-0.1" / "seed-3"
    with pytest.raises(LookinsideError, match="would write outside"):
        study.run("../../x", 0)


def test_a_study_lists_the_result_json_of_its_finished_runs(tmp_path: Path) -> None:
    study = StudyDir(make_study(tmp_path / "study"))
    assert study.finished() == []
    done = [
        touch(StudyDir.result(study.run("b", 0)), "{}"),
        touch(StudyDir.result(study.run("a", 1)), "{}"),
    ]
    study.run("c", 0).mkdir(parents=True)  # not finished: no result.json
    assert study.finished() == sorted(done)


def test_study_dir_accepts_a_new_an_empty_or_a_study_directory(tmp_path: Path) -> None:
    new = tmp_path / "new" / "study"
    assert study_dir(new).path == new and new.is_dir()
    (tmp_path / "empty").mkdir()
    assert study_dir(tmp_path / "empty").path == tmp_path / "empty"
    existing = make_study(tmp_path / "existing")
    touch(existing / "summary.md", "x")
    assert study_dir(existing).path == existing


def test_study_dir_refuses_what_is_no_place_for_a_study(tmp_path: Path) -> None:
    with pytest.raises(LookinsideError, match="--out must name a directory"):
        study_dir("")
    with pytest.raises(LookinsideError, match="is a file"):
        study_dir(touch(tmp_path / "file", "x"))
    with pytest.raises(LookinsideError, match="holds a run, not a study"):
        study_dir(make_run(tmp_path / "run"))
    with pytest.raises(LookinsideError, match="is not empty"):
        study_dir(touch(tmp_path / "other" / "notes.txt", "x").parent)

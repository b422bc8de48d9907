"""Running a study: end to end on a small subset, resuming, and the summary's statistics."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from lookinside.ablate import duration, extends, run_study
from lookinside.cli import main
from lookinside.errors import LookinsideError
from lookinside.study import load_study
from lookinside.study_results import (
    load_results,
)

STUDY = """
name = "tiny"
seeds = [0, 1]
[base]
data = "{data}"
epochs = 1
bs = 32
arch = [4, 8]
[grid]
norm = ["none", "batch"]
act = ["relu", "general"]
"""


@pytest.fixture
def study_file(tmp_path: Path, small_mnist: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(STUDY.format(data=small_mnist))
    return path


def test_a_two_by_two_study_runs_end_to_end_and_resumes(
    study_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    assert main(["ablate", str(study_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| norm=batch, act=general |" in printed and f"study directory: {out}" in printed
    assert "s); 7 to go, about " in printed and "s); 1 to go, about " in printed  # an ETA
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["status"] for r in rows} == {"done"}
    assert all(0 <= float(r["valid_accuracy"]) <= 1 for r in rows)
    assert rows[0]["run_dir"] == "runs/norm-none-act-relu/seed-0"  # relative: the study moves
    run_dir = out / rows[0]["run_dir"]
    assert (run_dir / "telemetry.npz").exists() and (run_dir / "metrics.csv").exists()
    assert {p.name for p in (out / "plots").iterdir()} == {
        "accuracy.png",
        "loss_curves.png",
        "near_zero.png",
    }
    summary = (out / "summary.md").read_text()
    assert summary.count("\n| norm=") == 4
    assert main(["inspect", str(out)]) == 0
    assert capsys.readouterr().out.startswith("a study directory (variants x seeds)")

    # An unfinished study (no results.csv yet, a run not done) reports what has finished.
    (out / "results.csv").unlink()
    (run_dir / "result.json").unlink()
    assert main(["report", str(out)]) == 0
    assert len(load_results(out)) == 7  # results.csv, written from the finished runs
    assert (out / "report.html").read_text().count("<li><a href=") == 7
    capsys.readouterr()

    # Resume: everything is kept; a run whose result is gone runs again, alone.
    (run_dir / "partial-file").write_text("from an interrupted run")
    assert main(["ablate", str(study_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (
        printed.count(": kept (done)") == 7
        and "[1/8] norm=none, act=relu, seed 0: valid accuracy" in printed
    )
    assert not (run_dir / "partial-file").exists()
    with (out / "results.csv").open() as f:
        again = list(csv.DictReader(f))
    assert again[0]["valid_accuracy"] == rows[0]["valid_accuracy"]  # the same seed, the same run


def test_a_failed_run_is_reported_not_retried(study_file: Path, tmp_path: Path) -> None:
    study = load_study(study_file)
    study.variants = {
        "broken": {**study.variants["norm=none, act=relu"], "data": str(tmp_path / "nope")}
    }
    out = tmp_path / "s"
    (result,) = run_study(study, out, log=lambda _: None)[:1]
    assert result.status == "failed" and "does not exist" in result.error
    logged: list[str] = []
    run_study(study, out, log=logged.append)
    assert logged[0].endswith("kept (failed)")
    assert "(2 failed)" in (out / "summary.md").read_text()


def test_another_study_in_the_same_directory_is_refused(study_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    (out).mkdir()
    (out / "study.json").write_text(json.dumps({"name": "other"}))
    assert main(["ablate", str(study_file), "--out", str(out)]) == 2


def test_a_study_may_grow_new_variants_but_not_change_its_own() -> None:
    saved = {"name": "s", "seeds": [0, 1], "variants": {"a": {"lr": 0.1}}}
    grown = {**saved, "variants": {"a": {"lr": 0.1}, "b": {"lr": 0.2}}}
    assert extends(saved, saved) and extends(grown, saved)
    assert not extends(saved, grown)  # a variant gone
    assert not extends({**grown, "variants": {"a": {"lr": 0.3}, "b": {}}}, saved)
    assert not extends({**grown, "seeds": [0]}, saved) and not extends(
        {**grown, "name": "t"}, saved
    )
    assert not extends(saved, {"name": "other"}) and not extends(saved, [1, 2])


def test_jobs_run_in_parallel_processes_with_the_same_results(
    study_file: Path, tmp_path: Path
) -> None:
    study = load_study(study_file)
    study.variants = {"only": study.variants["norm=none, act=relu"]}
    serial = run_study(study, tmp_path / "serial", log=lambda _: None)
    parallel = run_study(study, tmp_path / "parallel", jobs=2, log=lambda _: None)
    assert [r.valid_accuracy for r in parallel] == [r.valid_accuracy for r in serial]
    assert all(r.status == "done" for r in parallel)


def test_worker_processes_take_the_local_gpus_in_turn() -> None:
    from lookinside.ablate import gpu_for_slot

    assert [gpu_for_slot(slot, 2) for slot in range(5)] == [0, 1, 0, 1, 0]
    assert [gpu_for_slot(slot, 3) for slot in range(4)] == [0, 1, 2, 0]
    assert gpu_for_slot(0, 0) is None  # a machine without a GPU: nothing to choose


def test_a_diverging_run_is_recorded_not_fatal(study_file: Path, tmp_path: Path) -> None:
    study = load_study(study_file)
    options = {
        **study.variants["norm=none, act=relu"],
        "lr": 1000.0,
        "bs": 16,
        "arch": [8, 16, 32, 32],
    }
    study.variants = {"diverges": options}  # stopped mid-epoch by the non-finite guard
    study.seeds = [0]
    (result,) = run_study(study, tmp_path / "s", log=lambda _: None)
    assert result.status == "done" and math.isnan(result.valid_accuracy)


def test_interrupted_crosses_process_boundaries() -> None:
    import pickle

    from lookinside.errors import Interrupted

    again = pickle.loads(pickle.dumps(Interrupted(Path("a"), Path("a/b.pt"))))
    assert again.run_dir == Path("a") and again.checkpoint == Path("a/b.pt")


def test_variants_run_as_separate_tasks_then_gather(
    study_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cluster"
    for k in range(4):  # as a job array would, one variant per task
        assert main(["ablate", str(study_file), "--out", str(out), "--only", str(k)]) == 0
    assert not (out / "summary.md").exists()
    capsys.readouterr()
    assert main(["ablate", str(study_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count(": kept (done)") == 8 and (out / "summary.md").exists()
    assert main(["ablate", str(study_file), "--out", str(out), "--only", "4"]) == 2


def test_durations_read_at_a_glance() -> None:
    assert [duration(s) for s in (4.2, 89, 90, 3000, 3600, 3 * 3600 + 5 * 60)] == [
        "4 s", "89 s", "2 min", "50 min", "1 h 00 min", "3 h 05 min"
    ]  # fmt: skip


def test_an_interrupted_study_says_how_to_resume(
    study_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("lookinside.ablate.run_study", interrupted)
    out = tmp_path / "study"
    assert main(["ablate", str(study_file), "--out", str(out), "--quick"]) == 130
    said = capsys.readouterr().err.splitlines()
    assert said == ["lookinside ablate: interrupted; the finished runs are kept.",
                    f"Resume with: lookinside ablate {study_file} --out {out} --quick"]  # fmt: skip


def test_a_damaged_result_in_a_study_is_one_sentence(
    study_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report` on a study whose run left a result.json that is not one: exit 2, naming it."""
    out = tmp_path / "s"
    damaged = out / "runs" / "x" / "seed-0" / "result.json"
    damaged.parent.mkdir(parents=True)
    (out / "study.json").write_text("{}")
    damaged.write_text('{"variant": "x", "colour": "blue"}')
    assert main(["report", str(out)]) == 2
    assert f"{damaged} does not hold a run's result." in capsys.readouterr().err


def test_a_run_another_study_process_is_training_is_left_alone(
    study_file: Path, tmp_path: Path
) -> None:
    """The second `ablate` on a study directory does not delete and retrain a run the first
    holds (it did: rmtree under a training process); it stops, saying so."""
    from lookinside.ablate import execute
    from lookinside.files import exclusive

    run = load_study(study_file).runs()[0]
    run_dir = tmp_path / "s" / "runs" / run.slug / "seed-0"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")  # the first process's run, half done
    taken = exclusive(run_dir.parent / ".seed-0.lock", "the first")
    with taken, pytest.raises(LookinsideError, match="is in use by another lookinside process"):
        execute(run, run_dir)
    assert (run_dir / "config.json").read_text() == "{}"

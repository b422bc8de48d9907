"""The `lookinside` command: a real run compared with stored values, and bad input."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lookinside as li
from lookinside.cli import main
from lookinside.config import TrainConfig
from lookinside.train import build_learner

# `lookinside train --data <small MNIST> --epochs 2 --bs 32 --lr 0.4 --seed 0` on CPU,
# recorded once with torch 2.13.0: the numbers a change to the loop must not move.
STORED = [
    {"epoch": 0, "train_loss": 2.2595880, "valid_loss": 2.1478157, "valid_accuracy": 0.109375},
    {"epoch": 1, "train_loss": 1.9434932, "valid_loss": 1.9794924, "valid_accuracy": 0.328125},
]


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_train_reproduces_the_stored_run(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(small_mnist),
        "--epochs",
        "2",
        "--bs",
        "32",
        "--lr",
        "0.4",
        "--seed",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    rows = read_metrics(out)
    assert list(rows[0]) == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]
    for row, stored in zip(rows, STORED, strict=True):
        for key, value in stored.items():
            assert row[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    config = json.loads((out / "config.json").read_text())
    assert config["bs"] == 32 and config["arch"] == [8, 16, 32, 32] and config["seed"] == 0
    learn = build_learner(TrainConfig.from_dict(config)).load(out / "model.pt")  # the last
    assert learn.validate()["valid_accuracy"] == pytest.approx(STORED[-1]["valid_accuracy"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:2] == ["epoch", "train_loss"]
    assert printed[-2] == "valid accuracy 0.3281 after 2 epoch(s)"
    assert printed[-1] == f"run directory: {out}"


def test_default_run_directory_is_new_each_time(
    small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", str(small_mnist), "--arch", "4", "--bs", "128"]
    assert main(args) == 0 and main(args) == 0
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(r.name.startswith("train-") for r in runs)
    assert all((r / "metrics.csv").exists() for r in runs)


BAD = [
    (["train", "--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    (["train", "--arch", "8,,16"], "argument --arch: expected channel counts"),
    (["train", "--act", "tanh"], "argument --act: invalid choice: 'tanh'"),
    (["train", "--bs", "0"], "bs must be at least 1, not 0."),
    (["train", "--lr", "-1"], "lr must be a number above 0 and at most 1000, or 'auto', not -1.0."),
    (["train", "--lr", "1e308"], "lr must be a number above 0 and at most 1000, or 'auto'"),
    (["train", "--seed", "-1"], "seed must be between 0 and 2**32 - 1 (4294967295), not -1."),
    (["train", "--seed", "4294967296"], "seed must be between 0 and 2**32 - 1"),
    (["train", "--arch", "100000000"], "arch must list 1 to 8 channel counts, each from 1 to"),
    (["train", "--out", ""], "--out must name a directory, not an empty string."),
    (["train", "--out", "/dev/null"], "--out /dev/null is a file, not a directory"),
    (["train", "--data", "/no/such/dir"], "MNIST directory /no/such/dir does not exist."),
    (
        ["train", "--device", "cuda"],
        "--device cuda was asked for, but this machine has no CUDA GPU.",
    ),
    (["train", "--nope"], "unrecognized arguments: --nope"),
    (["fly"], "argument command: invalid choice: 'fly'"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) or "none" for a, _ in BAD])
def test_bad_input_exits_2_with_one_sentence(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_exit_2(argv, message, capsys)


def test_an_existing_run_is_never_overwritten(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert main(["train", "--data", str(small_mnist), "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "config.json").read_text() == "{}"


def test_corrupt_data_directory_is_one_sentence(
    tmp_path: Path, small_mnist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in small_mnist.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "train-labels-idx1-ubyte.gz" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()  # nothing written half-way


def test_the_installed_command_runs_as_a_module(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookinside",
            "train",
            "--data",
            str(small_mnist),
            "--arch",
            "4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"run directory: {out}"
    assert "it/s" not in proc.stdout  # no progress bar in a pipe


def test_lr_find_writes_its_plot_and_train_lr_auto_uses_the_suggestion(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data", str(small_mnist), "--bs", "16", "--norm", "batch"]
    assert main(["lr-find", *data, "--out", str(tmp_path / "lf")]) == 0
    printed = capsys.readouterr().out
    found = json.loads((tmp_path / "lf" / "lr_find.json").read_text())
    assert f"lr_find suggests lr {found['suggestion']:.3g}" in printed
    assert (tmp_path / "lf" / "plots" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"

    out = tmp_path / "auto"
    assert main(["train", *data, "--lr", "auto", "--sched", "one-cycle", "--out", str(out)]) == 0
    found_again = json.loads((out / "lr_find.json").read_text())
    assert found_again["suggestion"] == found["suggestion"]  # same seed, same sweep
    assert json.loads((out / "config.json").read_text())["lr"] == "auto"
    assert len(read_metrics(out)) == 1


def test_lr_flag_rejects_words_other_than_auto(capsys: pytest.CaptureFixture[str]) -> None:
    assert_exit_2(["train", "--lr", "fast"], "expected a number or 'auto', got 'fast'", capsys)
    assert_exit_2(["train", "--sched", "cyclic"], "invalid choice: 'cyclic'", capsys)


def assert_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        sys.exit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_train_writes_telemetry_diagnosis_and_plots_and_inspect_reprints(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(small_mnist), "--bs", "16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    diagnosis = json.loads((out / "diagnosis.json").read_text())
    assert isinstance(diagnosis["findings"], list)
    assert "diagnosis:" in printed
    stems = {p.stem for p in (out / "plots").iterdir()}
    assert {"loss", "sched", "means_stds", "means_stds_first", "hists", "near_zero"} <= stems
    assert main(["inspect", str(out)]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert first.startswith("a training run: 1 epoch(s) of 1; train_loss ")
    assert rest[0].startswith("diagnosis:") and "\n".join(rest) in printed


def test_inspect_says_what_each_directory_is(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(small_mnist), "--no-telemetry", "--out", str(out)]) == 0
    assert not (out / "telemetry.npz").exists() and (out / "plots" / "loss.png").exists()
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0].startswith("a training run: ") and "valid_accuracy" in said[0]
    assert said[1] == "no diagnosis: the run recorded no telemetry (it ran with --no-telemetry)."
    assert_exit_2(["inspect", str(tmp_path)], "is not a run directory", capsys)
    finder = tmp_path / "finder"
    assert main(["lr-find", "--data", str(small_mnist), "--out", str(finder)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(finder)]) == 0
    assert capsys.readouterr().out.startswith("an lr-find run (the learning-rate finder, no "
                                              "training): suggests lr ")  # fmt: skip


BAD_INPUT = [
    (
        "bs larger than the data",
        ["train", "--subset", "10", "--bs", "64"],
        "batch size 64 is larger than the training set (10 images).",
    ),
    ("empty dataset", ["train", "--subset", "0"], "subset must be at least 1, not 0."),
    ("missing data file", ["train", "--data", "{missing}"], "t10k-labels-idx1-ubyte.gz is missing"),
    ("study with a wrong type", ["ablate", "{study}"], "[base] epochs = 'two' has the wrong type."),
    ("resume a non-run", ["train", "--resume", "{tmp}"], "is not a run directory"),
    ("report of a non-run", ["report", "{tmp}"], "is not a run directory"),
    ("graph without a GPU", ["train", "--cuda-graph", "--device", "cpu"], "--cuda-graph needs a"),
    (
        "graph with SGD on a schedule",
        ["train", "--cuda-graph", "--sched", "one-cycle"],
        "cuda_graph bakes SGD's lr into the graph",
    ),
]


@pytest.mark.parametrize(
    ("argv", "message"), [(a, m) for _, a, m in BAD_INPUT], ids=[i for i, _, _ in BAD_INPUT]
)
def test_bad_input_table(
    argv: list[str],
    message: str,
    small_mnist: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "missing"
    missing.mkdir()
    for f in small_mnist.glob("*.gz"):
        if "t10k-labels" not in f.name:
            (missing / f.name).write_bytes(f.read_bytes())
    study = tmp_path / "study.toml"
    study.write_text("[base]\nepochs = 'two'\n")
    out = tmp_path / "out"
    filled = [a.format(missing=missing, study=study, tmp=tmp_path) for a in argv]
    filled += (
        ["--out", str(out)] if filled[0] in ("train", "ablate") and "--resume" not in filled else []
    )
    if filled[0] == "train" and "--data" not in filled and "--resume" not in filled:
        filled += ["--data", str(small_mnist)]
    assert_exit_2(filled, message, capsys)
    assert not out.exists() or not any(out.iterdir())  # nothing written half-way


def test_the_fast_recipe_trains_with_adam(small_mnist: Path, tmp_path: Path) -> None:
    from lookinside.train import build_learner

    learn = build_learner(li.TrainConfig(recipe="fast", data=str(small_mnist)))
    assert learn.opt_func(list(learn.model.parameters()), lr=0.01).__class__.__name__ == "Adam"
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--recipe",
                "fast",
                "--data",
                str(small_mnist),
                "--subset",
                "256",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "config.json").read_text())["bs"] == 128


def test_precision_and_channels_last_flags(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(small_mnist), "--precision", "fp16", "--channels-last"]
    assert main([*argv, "--no-telemetry", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["precision"], config["channels_last"], config["cuda_graph"]) == (
        "fp16",
        True,
        False,
    )
    from lookinside.train import build_learner

    learn = build_learner(li.TrainConfig.from_dict(config))
    mixed = learn.find_cb(li.MixedPrecision)
    assert mixed is not None and mixed.scaled and learn.find_cb(li.ChannelsLast) is not None
    fast = build_learner(li.TrainConfig(recipe="fast", data=str(small_mnist), device="cpu"))
    assert fast.find_cb(li.MixedPrecision) is None  # auto: bf16 only on a GPU


def test_help_shows_the_defaults_and_lr_find_only_its_flags(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for shown in ("batch size (default: 64)", "(default: 8,16,32,32)", "(default: 0)",
                  "epochs to train (default: 1)", "activation (default: relu)"):  # fmt: skip
        assert shown in text, shown
    with pytest.raises(SystemExit):
        main(["lr-find", "--help"])
    text = capsys.readouterr().out
    assert "--bs" in text and "--arch" in text
    assert not any(flag in text for flag in ("--epochs", "--lr ", "--sched", "--no-telemetry"))


def test_tensorboard_events_from_the_command_line(small_mnist: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(small_mnist), "--tensorboard", "--out", str(out)]) == 0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((out / "config.json").read_text())["tensorboard"] is True


def test_out_must_be_a_new_or_empty_directory(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file, a path under a file, a directory holding anything (a study's, say) are each
    refused in one sentence, and left as they were."""
    afile = tmp_path / "afile"
    afile.write_text("mine")
    study = tmp_path / "study"
    study.mkdir()
    (study / "results.csv").write_text("variant\n")
    cases = [
        (afile, "--out {} is a file, not a directory; choose another."),
        (afile / "run", "cannot create the run directory {}: Not a directory."),
        (study, "--out {} is not empty; a run needs a new or empty directory."),
        (tmp_path / ("x" * 300), "File name too long"),
    ]
    for out, message in cases:
        assert_exit_2(["train", "--data", str(small_mnist), "--out", str(out)],
                      message.format(out), capsys)  # fmt: skip
    assert afile.read_text() == "mine" and [p.name for p in study.iterdir()] == ["results.csv"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--data", str(small_mnist), "--bs", "128", "--out", str(empty)]) == 0


def test_a_full_disk_mid_run_is_one_sentence_with_the_resume_command(
    small_mnist: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC while writing the second epoch's checkpoint: exit 2, what failed, what is kept
    and the command that resumes; the first checkpoint is whole and resumes."""
    import errno

    import lookinside.checkpoint as checkpoint

    real, calls = checkpoint.atomic_write_bytes, []

    def full_disk(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", full_disk)
    out = tmp_path / "run"
    argv = ["train", "--data", str(small_mnist), "--bs", "128", "--epochs", "3", "--out", str(out)]
    assert_exit_2(argv, "No space left on device while writing", capsys)
    monkeypatch.undo()
    assert main(["train", "--resume", str(out)]) == 0
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 3  # a header, 3 epochs


@pytest.mark.parametrize("code", ["ENOSPC", "EROFS", "EFBIG", "EACCES"])
def test_a_failed_write_names_what_was_kept(tmp_path: Path, code: str) -> None:
    """A full disk, a read-only remount, a file-size limit, a lost permission: one sentence
    with the reason, the file, what is kept and the command that goes on."""
    import errno
    import os

    from lookinside.train import _write_failed

    (tmp_path / "checkpoints").mkdir()
    number = getattr(errno, code)
    error = OSError(number, os.strerror(number), "x.pt")
    assert str(_write_failed(error, tmp_path)) == (
        f"{os.strerror(number)} while writing x.pt; no epoch had finished, so nothing was saved."
    )
    (tmp_path / "checkpoints" / "epoch-0001.pt").write_bytes(b"")
    told = str(_write_failed(error, tmp_path))
    assert "up to epoch-0001.pt are kept: once writing works again, finish the run with " in told
    assert told.endswith(f"lookinside train --resume {tmp_path}.")


def test_options_beside_resume_extend_the_run_or_are_refused(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume continues a run as configured: --lr, --arch or --out that differ are refused;
    --epochs beyond the run's extends a constant-lr run, never a one-cycle one."""
    out, cycle = tmp_path / "run", tmp_path / "cycle"
    data = ["--data", str(small_mnist), "--bs", "128"]
    assert main(["train", *data, "--out", str(out)]) == 0
    assert main(["train", *data, "--sched", "one-cycle", "--out", str(cycle)]) == 0
    refused = [
        (["--lr", "0.1"], "--lr 0.1 differs from the run's 0.4"),
        (["--arch", "4,8"], "--arch 4,8 differs from the run's 8,16,32,32"),
        (["--out", str(tmp_path / "x")], "--out cannot be used with --resume"),
    ]
    for extra, message in refused:
        assert_exit_2(["train", "--resume", str(out), *extra], message, capsys)
    assert_exit_2(["train", "--resume", str(cycle), "--epochs", "2"],
                  "a one-cycle run cannot be extended", capsys)  # fmt: skip
    assert main(["train", "--resume", str(out), "--epochs", "2"]) == 0
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 2


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("stray", "labels run up to 255, but 245 of the classes 0-255 never occur"),
        ("float", "holds float32 labels; labels must be integers (class numbers)."),
        ("huge", "labels must be class numbers from 0 to 9999, not 2000000000."),
    ],
)
def test_labels_must_be_class_numbers(
    tmp_path: Path, labels: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stray 255 would quietly build a 256-class model, float labels be truncated, labels
    of 2e9 a model of 2e9 outputs: each is one sentence naming the data."""
    import numpy as np

    from lookinside.datasets.mnist import FILES

    from .conftest import write_small_mnist

    data = write_small_mnist(tmp_path / "data", sums=False)
    path = data / f"{FILES['train_labels']}.gz"
    y = li.datasets.read_idx(path)
    bad = {"stray": np.where(np.arange(len(y)) == 7, 255, y).astype(np.uint8),
           "float": y.astype(np.float32),
           "huge": np.where(np.arange(len(y)) == 7, 2_000_000_000, y.astype(np.int32))}  # fmt: skip
    li.datasets.write_idx(path, bad[labels])
    assert_exit_2(["train", "--data", str(data), "--out", str(tmp_path / "r")], message, capsys)


def test_a_failed_write_after_the_last_epoch_is_finished_by_resume(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The disk fills while the outputs are written, after the last epoch's checkpoint:
    `--resume` then fits no epoch and writes them, equal to those of a run never stopped."""
    import errno

    import numpy as np

    import lookinside.train as train

    data = ["--data", str(small_mnist), "--bs", "128", "--epochs", "2"]
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    assert main(["train", *data, "--out", str(clean)]) == 0

    def full_disk(run_dir: Path) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "report.html"))

    monkeypatch.setattr(train, "write_report", full_disk)
    assert_exit_2(["train", *data, "--out", str(cut)], "finish the run with lookinside", capsys)
    monkeypatch.undo()
    assert not (cut / "report.html").exists()
    assert main(["train", "--resume", str(cut)]) == 0
    assert (cut / "report.html").exists()
    rows = [[r.split(",")[:4] for r in (d / "metrics.csv").read_text().splitlines()]
            for d in (cut, clean)]  # fmt: skip
    assert rows[0] == rows[1] and len(rows[0]) == 3  # the header and 2 epochs (not seconds)
    ours, theirs = (li.Telemetry.load(d / "telemetry.npz") for d in (cut, clean))
    assert np.array_equal(ours.steps, theirs.steps)
    assert np.array_equal(ours.values, theirs.values, equal_nan=True)
    assert "has finished its 2 epoch(s) already" in _exit_2_message(
        ["train", "--resume", str(cut)], capsys
    )


def _exit_2_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_a_run_directory_that_cannot_be_written_is_one_sentence(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A read-only directory (as root, the permission bits do not stop a write: the check is
    `os.access`, made to say no here)."""
    import os

    import lookinside.runs as runs

    monkeypatch.setattr(runs.os, "access", lambda path, mode: mode != os.W_OK)
    out = tmp_path / "ro"
    message = f"cannot write into the run directory {out}: permission denied."
    assert_exit_2(["train", "--data", str(small_mnist), "--out", str(out)], message, capsys)


def test_a_ctrl_c_while_the_command_starts_is_exit_130_and_the_command_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C while the parser imports torch (the first seconds) is noted, not raised
    inside an import (which a library may swallow): answered once the imports are done."""
    import os
    import signal

    import lookinside.cli as cli

    parser = cli.build_parser

    def interrupted() -> argparse.ArgumentParser:
        os.kill(os.getpid(), signal.SIGINT)  # as the imports go on
        return parser()

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["train", "--epochs", "2"]) == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert capsys.readouterr().err.splitlines() == [
        "lookinside: interrupted before it began; nothing was saved.",
        "Start again with: lookinside train --epochs 2",
    ]


def test_a_ctrl_c_before_the_first_step_says_nothing_was_saved_and_how_to_start_again(
    small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import lookinside.train as train

    def interrupted(config: object) -> None:
        raise KeyboardInterrupt  # while the data loads or the model is built

    monkeypatch.setattr(train, "build_learner", interrupted)
    out = tmp_path / "run"
    argv = ["train", "--data", str(small_mnist), "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "lookinside train: interrupted before the first step; nothing was saved."
    assert err[1] == f"Start again with: lookinside {' '.join(argv)}"
    out.mkdir()
    (out / "config.json").write_text("{}")  # had it been written, the same --out is refused
    assert main(argv) == 130
    assert capsys.readouterr().err.splitlines() == [
        "lookinside train: interrupted before the first step; the run directory is as it was.",
        f"Resume with: lookinside train --resume {out}",
    ]


def test_a_ctrl_c_that_is_ignored_stays_ignored_while_the_command_starts() -> None:
    """A background job (`cmd &` in a script) ignores Ctrl-C: the deferral does not turn it
    back on."""
    import signal

    from lookinside.cli import _ctrl_c_deferred

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        stopped: list[bool] = []
        with _ctrl_c_deferred(stopped):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and not stopped
    finally:
        signal.signal(signal.SIGINT, previous)

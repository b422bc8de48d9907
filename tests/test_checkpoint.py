"""Checkpoints: exact resume, interrupts, atomic writes, and files that must never run code."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import lookinside as li
from lookinside.checkpoint import epoch_checkpoints, load_checkpoint, save_checkpoint
from lookinside.cli import main
from lookinside.errors import Interrupted
from lookinside.train import resume, train


def config(data: Path, out: Path, **kw: object) -> li.TrainConfig:
    options = {"data": str(data), "epochs": 3, "bs": 32, "arch": (4, 8), "out": str(out), **kw}
    return li.TrainConfig(**options)  # type: ignore[arg-type]


class StopAt(li.Callback):
    """Presses Ctrl-C at the start of an epoch."""

    def __init__(self, epoch: int) -> None:
        self.at = epoch

    def before_epoch(self, learn: li.Learner) -> None:
        if learn.epoch == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("sched", ["const", "one-cycle"])
def test_interrupted_and_resumed_ends_bitwise_equal_to_an_uninterrupted_run(
    small_mnist: Path, tmp_path: Path, sched: str
) -> None:
    whole = train(config(small_mnist, tmp_path / "whole", sched=sched), verbose=False)
    with pytest.raises(Interrupted) as info:
        train(config(small_mnist, tmp_path / "cut", sched=sched), verbose=False, cbs=[StopAt(1)])
    assert info.value.checkpoint.name == "interrupted.pt"
    assert [p.name for p in epoch_checkpoints(tmp_path / "cut" / "checkpoints")] == [
        "epoch-0001.pt"
    ]
    random.seed(123)  # whatever happens in between must not matter
    torch.manual_seed(123)
    resumed = resume(tmp_path / "cut", verbose=False)
    for a, b in zip(
        whole.learn.model.state_dict().values(),
        resumed.learn.model.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert [h.values for h in resumed.history] == [h.values for h in whole.history]
    assert len(resumed.learn.recorder.losses) == len(whole.learn.recorder.losses)
    tel_whole, tel_resumed = (
        whole.learn.activation_stats.telemetry,
        resumed.learn.activation_stats.telemetry,
    )
    assert tel_resumed.steps.tolist() == tel_whole.steps.tolist()
    # Every number, first-sight facts and histogram ranges included (a resumed watcher
    # measured its own gains, input rms and ranges from the trained weights: not the run's).
    assert tel_resumed.specs == tel_whole.specs
    assert np.array_equal(tel_resumed.values, tel_whole.values, equal_nan=True)
    assert np.array_equal(tel_resumed.hist, tel_whole.hist, equal_nan=True)
    assert (tmp_path / "cut" / "metrics.csv").read_text().count("\n") == 4


def test_resume_refuses_finished_runs_and_restarts_runs_without_a_checkpoint(
    small_mnist: Path, tmp_path: Path
) -> None:
    done = train(config(small_mnist, tmp_path / "done", epochs=1), verbose=False)
    with pytest.raises(li.LookinsideError, match="has finished its 1 epoch"):
        resume(done.run_dir)
    with pytest.raises(Interrupted):
        train(config(small_mnist, tmp_path / "early", epochs=1), verbose=False, cbs=[StopAt(0)])
    assert len(resume(tmp_path / "early", verbose=False).history) == 1


def test_same_seed_same_run_bit_for_bit(small_mnist: Path, tmp_path: Path) -> None:
    a = train(config(small_mnist, tmp_path / "a", epochs=1), verbose=False)
    b = train(config(small_mnist, tmp_path / "b", epochs=1), verbose=False)
    assert all(
        torch.equal(p, q)
        for p, q in zip(a.learn.model.parameters(), b.learn.model.parameters(), strict=True)
    )


def interrupt_a_long_run(data: Path, out: Path, sig: signal.Signals) -> tuple[int, str]:
    """Start a 500-epoch run in a subprocess, send `sig` after its first epoch's row."""
    command = [sys.executable, "-m", "lookinside", "train", "--data", str(data), "--epochs", "500",
               "--bs", "16", "--arch", "4", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # the header: training has started
    proc.stdout.readline()  # the first epoch's row
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_writes_a_checkpoint_and_the_report_and_exits_130(
    small_mnist: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "run"
    code, err = interrupt_a_long_run(small_mnist, out, sig)
    assert code == 130, err
    assert "Resume with: lookinside train --resume" in err and "Traceback" not in err
    assert (out / "checkpoints" / "interrupted.pt").exists() and (out / "report.html").exists()
    assert load_checkpoint(out / "checkpoints" / "interrupted.pt")["epochs_done"] >= 1


def test_truncated_checkpoints_are_refused_at_every_cut(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint(state_of({"w": torch.randn(50, 50)}, 1), good)
    data = good.read_bytes()
    rng = random.Random(0)
    for cut in sorted({0, 1, 10, len(data) - 1, *(rng.randrange(len(data)) for _ in range(40))}):
        bad = tmp_path / f"cut-{cut}.pt"
        bad.write_bytes(data[:cut])
        with pytest.raises(li.LookinsideError, match="checkpoint"):
            load_checkpoint(bad)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_a_malicious_pickle_is_refused_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    payload = {"format": 1, "x": Evil()}
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(payload))
    torch.save(payload, tmp_path / "zip.pt")
    for name in ("zip.pt", "raw.pt"):
        path = tmp_path / name
        with pytest.raises(li.LookinsideError, match="not a valid lookinside checkpoint"):
            load_checkpoint(path)
        assert not (tmp_path / "PWNED").exists()
    assert main(["train", "--resume", str(tmp_path)]) == 2  # not a run directory


def state_of(model: dict[str, torch.Tensor], epochs_done: int) -> dict[str, object]:
    """A checkpoint's state holding `model` and nothing else of note."""
    return {"format": 1, "epochs_done": epochs_done, "train_iter": 0, "lr": 0.1,
            "model": model, "opt": None, "rng": {}, "callbacks": {}, "extra": {}}  # fmt: skip


WRITER = """
import sys, torch
from lookinside.checkpoint import save_checkpoint
from tests.test_checkpoint import state_of
big = torch.randn(2_000_000)
i = 0
while True:
    i += 1
    save_checkpoint(state_of({"w": big + i}, i), sys.argv[1])
    print(i, flush=True)
"""


def test_sigkill_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # one checkpoint is complete
    time.sleep(0.3 + random.random() * 0.3)  # then kill it, most likely in the middle of a write
    proc.kill()
    proc.wait()
    proc.stdout.close()
    state = load_checkpoint(path)
    assert state["epochs_done"] >= 1 and torch.equal(
        state["model"]["w"][:3], state["model"]["w"][:3]
    )


@pytest.fixture(scope="module")
def one_epoch_run(small_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of one epoch (its checkpoint `epoch-0001.pt`) whose config asks for two."""
    out = tmp_path_factory.mktemp("ck") / "run"
    train(config(small_mnist, out, bs=128, epochs=1), verbose=False)
    options = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**options, "epochs": 2}))
    return out


DAMAGED = {
    "no model": (lambda s: s.pop("model"), {}, "is damaged: its 'model' is NoneType, not dict."),
    "negative epochs": (lambda s: s.update(epochs_done=-3), {}, "is damaged: it counts -3"),
    "wrong shape": (lambda s: s["model"].update({"0.0.weight": torch.zeros(3)}), {},
                    "size mismatch for 0.0.weight"),
    "bad rng": (lambda s: s.update(rng={"python": "x"}), {}, "does not fit the run"),
    "short rng": (lambda s: s["rng"].update(torch_cpu=torch.zeros(3, dtype=torch.uint8)), {},
                  "Expected a CPUGeneratorImplState"),
    "bad optimizer": (lambda s: s.update(opt={"state": {}, "param_groups": []}), {},
                      "different number of parameter groups"),
    "bad history": (lambda s: s["callbacks"].update(avg_stats={"history": "x"}), {},
                    "does not fit the callback avg_stats"),
    "bad recorder": (lambda s: s["callbacks"].update(recorder={"losses": "x", "hypers": 3}), {},
                     "the recorder's state is not one loss and one lr per step"),
    "arch changed": (lambda s: None, {"arch": [4, 8, 16]}, "Error(s) in loading state_dict"),
    "norm changed": (lambda s: None, {"norm": "batch"}, "does not fit the run"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_checkpoint_that_does_not_fit_its_run_is_one_sentence(
    one_epoch_run: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A well-formed checkpoint with bad content, or a config.json changed under it: resume
    exits 2 with one sentence naming the checkpoint, never a traceback, never training."""
    import shutil

    mutate, changes, message = DAMAGED[case]
    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    path = run / "checkpoints" / "epoch-0001.pt"
    state = torch.load(path, weights_only=True)
    mutate(state)
    save_checkpoint(state, path)
    options = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**options, **changes}))
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "epoch-0001.pt" in err
    assert len((run / "metrics.csv").read_text().splitlines()) == 2  # no epoch was added


def test_a_flipped_bit_inside_a_tensor_is_refused(one_epoch_run: Path, tmp_path: Path) -> None:
    """`torch.load` reads a flipped bit into the weights without a word (a run would resume
    on garbage or NaN); the zip's CRC-32 of each part catches it, naming the part."""
    import shutil
    import zipfile

    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    path = run / "checkpoints" / "epoch-0001.pt"
    with zipfile.ZipFile(path) as z:
        part = max(z.infolist(), key=lambda i: i.file_size)  # the largest tensor's bytes
    data = bytearray(path.read_bytes())
    start = part.header_offset + 30 + len(part.filename) + len(part.extra)
    data[start + part.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # accepted by torch
    with pytest.raises(li.LookinsideError, match=rf"its part {part.filename} fails its checksum"):
        load_checkpoint(path)
    assert main(["train", "--resume", str(run)]) == 2


def test_a_resume_passes_over_a_damaged_newest_checkpoint_saying_so(
    one_epoch_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import zipfile

    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    good, newest = run / "checkpoints" / "epoch-0001.pt", run / "checkpoints" / "epoch-0002.pt"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        part = max(z.infolist(), key=lambda i: i.file_size)
    data[part.header_offset + 30 + len(part.filename) + len(part.extra) + part.file_size // 2] ^= 1
    newest.write_bytes(bytes(data))  # a second checkpoint, damaged
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"{newest} is damaged: its part {part.filename} fails its checksum" in err
    assert "; going on from epoch-0001.pt." in err
    assert len((run / "metrics.csv").read_text().splitlines()) == 1 + 2  # epoch 2 retrained
    assert load_checkpoint(newest)["epochs_done"] == 2  # and its checkpoint written whole


class StopAsTheFitStarts(li.Callback):
    """Ctrl-C before any other callback has begun the fit (its first half second)."""

    order = -100

    def before_fit(self, learn: li.Learner) -> None:
        raise KeyboardInterrupt


def test_ctrl_c_as_the_fit_starts_saves_what_there_is_and_resume_cleans_up(
    small_mnist: Path, tmp_path: Path
) -> None:
    """Nothing recorded yet: the checkpoint still saves (it raised, exit 1); a resume starts
    the run again, removes what a kill left (a temporary file) and, done, the interrupted.pt."""
    out = tmp_path / "run"
    with pytest.raises(Interrupted) as stop:
        train(config(small_mnist, out, epochs=1), verbose=False, cbs=[StopAsTheFitStarts()])
    assert load_checkpoint(stop.value.checkpoint)["epochs_done"] == 0
    leftover = out / "checkpoints" / ".epoch-0001.pt.x1y2.tmp"
    leftover.write_bytes(b"half a checkpoint")
    result = resume(out, verbose=False)
    assert len(result.history) == 1 and not leftover.exists()
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0001.pt"]


def test_two_processes_never_train_the_same_run(one_epoch_run: Path, tmp_path: Path) -> None:
    """A run being resumed is locked: a second resume of it is one sentence, and so is a
    second study process reaching a run the first is training."""
    import shutil

    from lookinside.files import exclusive

    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    taken = exclusive(run / ".lock", "the first")  # another process's lock, as flock sees it
    with taken, pytest.raises(li.LookinsideError, match=f"run {run} is in use by another"):
        resume(run, verbose=False)
    assert len(resume(run, verbose=False).history) == 2  # free again


def test_a_resume_removes_the_report_of_the_run_it_goes_on_with(
    one_epoch_run: Path, tmp_path: Path
) -> None:
    """A report written before (a Ctrl-C's, or `lookinside report` mid-way) would otherwise
    mark the run whole should a kill cut the resumed run after its last checkpoint."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(one_epoch_run, run)
    assert (run / "report.html").exists()
    seen: list[bool] = []
    watch = li.LambdaCallback(before_fit=lambda learn: seen.append((run / "report.html").exists()))
    resume(run, verbose=False, cbs=[watch])
    assert seen == [False] and (run / "report.html").exists()  # gone while it trained


def test_a_ctrl_c_while_the_outputs_are_written_says_how_to_finish_them(
    small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import lookinside.train as train_module

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_write_outputs", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--data", str(small_mnist), "--bs", "128", "--out", str(out)]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err == [f"lookinside train: interrupted; checkpoint: {out}/checkpoints/epoch-0001.pt.",
                   f"Resume with: lookinside train --resume {out}"]  # fmt: skip
    monkeypatch.undo()
    assert main(["train", "--resume", str(out)]) == 0  # which writes them
    assert (out / "report.html").exists() and (out / "telemetry.npz").exists()

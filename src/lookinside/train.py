"""`train(config)`: what `lookinside train` does, as a library function.

It seeds every generator, loads the data onto the device, builds the lesson's CNN, trains it
with the `Learner`, and leaves a run directory holding `config.json` and `metrics.csv`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import math
import shlex
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .callback import Callback
from .callbacks import (
    ActivationStats,
    AvgStats,
    ChannelsLast,
    CSVLogger,
    CudaGraph,
    EpochStats,
    MixedPrecision,
    ProgressBar,
    Recorder,
    default_device,
)
from .callbacks.guards import GradientClip, TerminateOnNonFinite
from .checkpoint import Checkpoint, apply_checkpoint
from .config import TrainConfig
from .data import DataLoaders, len_or_none
from .datasets import load_mnist
from .diagnosis import Finding
from .distributed import process_group_from_env, world
from .errors import Interrupted, LookinsideError, gist
from .files import atomic_write_bytes, exclusive, write_json
from .functional import accuracy
from .learner import Learner
from .limits import check_fits, classes
from .lr_finder import LRFindResult
from .models import cnn, fast_cnn
from .plots import save_figure
from .report import write_report
from .rng import seed_everything
from .runs import RunDir, new_run_dir, open_run


@dataclass
class TrainResult:
    """What a run left: its directory, its learner, and one `EpochStats` per epoch."""

    run_dir: Path
    learn: Learner
    history: list[EpochStats]
    findings: list[Finding] | None = None  # None when telemetry was off
    stopped: str = ""  # why training stopped early, if it did (a non-finite loss)
    rank: int = 0  # the process's rank under torchrun: only rank 0's result has the outputs

    @property
    def valid_accuracy(self) -> float:
        """The last epoch's validation accuracy (NaN if no epoch finished)."""
        return self.history[-1].values.get("valid_accuracy", math.nan) if self.history else math.nan


def resolve_device(name: str) -> torch.device:
    """`auto` -> the best device here; `cuda` or `mps` only where they are available."""
    if name == "auto":
        return default_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise LookinsideError("--device cuda was asked for, but this machine has no CUDA GPU.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise LookinsideError("--device mps was asked for, but MPS is not available here.")
    return torch.device(name)


@functools.lru_cache(maxsize=2)
def _mnist(path: str | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """`load_mnist`, kept for the next run of the same process (a study runs many)."""
    return load_mnist(path)


def build_learner(config: TrainConfig) -> Learner:
    """Seed, load the data onto the device, and build the CNN and its learner for `config`."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    x_train, y_train, x_valid, y_valid = _mnist(None if config.data == "mnist" else config.data)
    if config.subset is not None:
        x_train, y_train = x_train[: config.subset], y_train[: config.subset]
    n_classes = classes(y_train, y_valid, config.data)
    if config.recipe == "none":
        check_fits(config.arch, config.bs, tuple(x_train.shape[1:]), device)
    dls = DataLoaders.from_tensors(x_train, y_train, x_valid, y_valid, bs=config.bs, device=device)
    cbs = speed_callbacks(config, device)
    if config.recipe == "fast":  # Adam (beta2 0.9; one-cycle moves beta1), bf16 on a GPU
        adam = functools.partial(torch.optim.Adam, betas=(0.7, 0.9))
        model = fast_cnn(c_in=x_train.shape[1], n_out=n_classes)
        return Learner(model, dls, lr=float(config.lr), opt_func=adam, metrics=[accuracy], cbs=cbs)
    model = cnn(
        config.arch,
        c_in=x_train.shape[1],
        n_out=n_classes,
        act=config.act,
        norm=config.norm,
        init=config.init,
    )
    lr = config.lr if isinstance(config.lr, float) else 0.1
    return Learner(model, dls, lr=lr, metrics=[accuracy], cbs=cbs)


def speed_callbacks(config: TrainConfig, device: torch.device) -> list[Callback]:
    """MixedPrecision, ChannelsLast and CudaGraph as `config` asks (precision `auto`: bf16 for
    the fast recipe on a GPU, else float32)."""
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if config.recipe == "fast" and device.type == "cuda" else "fp32"
    cbs: list[Callback] = [] if precision == "fp32" else [MixedPrecision(precision)]
    if config.channels_last:
        cbs.append(ChannelsLast())
    if config.cuda_graph:
        if device.type != "cuda":
            raise LookinsideError(f"--cuda-graph needs a CUDA GPU; this run's device is {device}.")
        cbs.append(CudaGraph())
    return cbs


def find_lr(learn: Learner, run_dir: Path) -> LRFindResult:
    """Run the learning-rate finder; write `lr_find.json` and `plots/lr_find.png`."""
    result = learn.lr_find()
    run = RunDir(run_dir)
    write_json(
        run.lr_find,
        {
            "suggestion": result.suggestion,
            "rule": result.rule,
            "stop_reason": result.stop_reason,
            "lrs": result.lrs.tolist(),
            "losses": result.losses.tolist(),
        },
    )
    save_figure(result.plot(), run.plot("lr_find"))
    if result.suggestion is None:
        raise LookinsideError(f"the learning-rate finder found no lr to suggest ({result.rule}).")
    print(f"lr_find suggests lr {result.suggestion:.3g} ({result.rule})")
    return result


def train(config: TrainConfig, verbose: bool = True, cbs: Sequence[Callback] = ()) -> TrainResult:
    """Run `config` and return its result; the run directory is written as training goes.

    `verbose=False` silences the per-epoch rows (a study prints one line per run instead);
    `cbs` are added to the run's callbacks. Raises `Interrupted` on Ctrl-C or SIGTERM. Under
    `torchrun`, every rank trains and only rank 0 writes the run directory; the process
    group is joined for the run and left after it.
    """
    with process_group_from_env():
        return _train(config, verbose, cbs)


def _train(config: TrainConfig, verbose: bool, cbs: Sequence[Callback]) -> TrainResult:
    if config.lr == "auto" and world()[1] > 1:
        raise LookinsideError("--lr auto needs a single process: run lookinside lr-find first.")
    n_train = config.subset or _n_train(config)
    if config.bs > n_train:
        raise LookinsideError(
            f"batch size {config.bs} is larger than the training set ({n_train} images)."
        )
    learn = build_learner(config)
    if world()[0] != 0:  # another rank: trains, writes nothing
        return _fit(learn, config, Path(config.out or "."), False, cbs, start_epoch=0)
    run = new_run_dir(config.out)
    with exclusive(run.lock, f"run {run.path}"):  # an inspect must not finish it meanwhile
        run.write_options(config.to_dict())
        if config.lr == "auto":
            suggestion = find_lr(learn, run.path).suggestion
            assert suggestion is not None
            learn.lr = suggestion
        return _fit(learn, config, run.path, verbose, cbs, start_epoch=0)


def resume(
    run_dir: str | Path,
    verbose: bool = True,
    cbs: Sequence[Callback] = (),
    epochs: int | None = None,
) -> TrainResult:
    """Continue the run in `run_dir` from its last epoch checkpoint that reads whole (a
    damaged newer one is passed over, saying so), exactly as if it had never stopped (same
    weights, optimizer state, schedule position and random generators).

    `epochs` beyond the run's extends it (written into its config.json): a constant lr goes
    on as it was; a one-cycle schedule's length is part of the run, and is refused. A run
    stopped before its first epoch ended has no checkpoint: it starts again.
    """
    run = open_run(run_dir)  # a training run's directory, or one sentence
    with process_group_from_env():
        if world()[0] != 0:  # another rank of the same run: rank 0 holds the lock
            return _resume(run, verbose, cbs, epochs)
        with exclusive(run.lock, f"run {run.path}"):
            return _resume(run, verbose, cbs, epochs)


def _resume(run: RunDir, verbose: bool, cbs: Sequence[Callback], epochs: int | None) -> TrainResult:
    run_dir, options, source = run.path, run.options(), str(run.config)
    writer = world()[0] == 0  # under torchrun, rank 0 writes (and holds the lock)
    if writer:
        run.remove_leftovers()  # of atomic writes a kill cut short
    config = TrainConfig.from_dict({**options, "out": str(run_dir)}, source)
    found = run.last_good_checkpoint()
    checkpoint, state, passed_over = found if found is not None else (None, None, [])
    if passed_over and writer:
        assert checkpoint is not None
        sys.stderr.write(f"lookinside: {passed_over[0].rstrip('.')}; going on from "
                         f"{checkpoint.name}.\n")  # fmt: skip
    if epochs is not None and epochs != config.epochs:
        if epochs < config.epochs:
            raise LookinsideError(
                f"--epochs {epochs} would shorten the run ({config.epochs} epochs); --epochs "
                "with --resume only extends it."
            )
        if config.sched == "one-cycle":
            raise LookinsideError(
                "a one-cycle run cannot be extended: its schedule was laid out over its "
                f"{config.epochs} epochs; start a new run for {epochs}."
            )
        config = dataclasses.replace(config, epochs=epochs)
        if writer:
            run.write_options({**options, "epochs": epochs})
    if state is not None and state["epochs_done"] >= config.epochs and run.report.exists():
        raise LookinsideError(
            f"{run_dir} has finished its {config.epochs} epoch(s) already (--epochs N with "
            "--resume extends it)."
        )  # else its epochs are done, not its outputs: fitting no epoch writes them
    learn = build_learner(config)
    if writer:  # the run goes on: its report (a Ctrl-C's, or one rendered mid-way) is stale
        run.report.unlink(missing_ok=True)
    if state is None:  # stopped before its first epoch ended: it starts again
        if config.lr == "auto":
            learn.lr = find_lr(learn, run_dir).suggestion or learn.lr
        result = _fit(learn, config, run_dir, verbose, cbs, start_epoch=0)
        run.interrupted.unlink(missing_ok=True)
        return result
    assert checkpoint is not None
    learn.model.to(learn.dls.device)  # so that the optimizer's loaded state lands there too
    with _fitting(checkpoint, source):
        apply_checkpoint(learn, state, str(checkpoint))
    result = _fit(learn, config, run_dir, verbose, cbs, start_epoch=state["epochs_done"])
    run.interrupted.unlink(missing_ok=True)  # resumed past it
    return result


@contextlib.contextmanager
def _interrupted_again(run_dir: Path, checkpoint: Path | None) -> Iterator[None]:
    """A Ctrl-C while the outputs are written (after the epochs, or after a first Ctrl-C):
    the run is checkpointed, and a resume writes them."""
    try:
        yield
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        raise Interrupted(run_dir, checkpoint) from None


@contextlib.contextmanager
def _fitting(checkpoint: Path, source: str) -> Iterator[None]:
    """Loading `checkpoint`'s state into the run: what does not fit (a shape, a key, a
    generator's state) is one sentence naming the file, not a traceback."""
    try:
        yield
    except (KeyError, IndexError, RuntimeError, ValueError, TypeError) as e:
        raise LookinsideError(
            f"{checkpoint} does not fit the run {source} describes ({gist(e)}); was either file "
            "changed since the checkpoint was written?"
        ) from None


def _fit(
    learn: Learner,
    config: TrainConfig,
    run_dir: Path,
    verbose: bool,
    cbs: Sequence[Callback],
    start_epoch: int,
) -> TrainResult:
    """The training itself, fresh or resumed (`start_epoch` > 0, the learner holding the
    checkpoint's state: `apply_checkpoint`), and everything written after it."""
    writer = world()[0] == 0  # under torch.distributed, only rank 0 writes and prints
    progress = learn.find_cb(ProgressBar)
    if progress is not None:
        progress.rows = verbose and writer
    run = RunDir(run_dir)
    checkpoint = Checkpoint(run.checkpoints)
    guard = TerminateOnNonFinite(every=max(len_or_none(learn.dls.train) or 1, 1))  # once an epoch
    run_cbs: list[Callback] = [guard, *cbs]
    if writer:
        run_cbs += [CSVLogger(run.metrics), checkpoint]
    if config.telemetry and writer:
        # Every step, not "auto": a command's record is then the same in every run of its
        # seed, whatever the machine, and a resumed run's joins the uncut one's bitwise.
        run_cbs.append(ActivationStats(every=1))
    if config.tensorboard and writer:
        from .callbacks.tensorboard import TensorBoardCallback

        run_cbs.append(TensorBoardCallback(run.tensorboard))
    if config.clip is not None:
        run_cbs.append(GradientClip(config.clip))
    learn.add_cbs(run_cbs)
    try:
        if config.sched == "one-cycle":
            learn.fit_one_cycle(config.epochs, lr_max=learn.lr, start_epoch=start_epoch)
        else:
            learn.fit(config.epochs, start_epoch=start_epoch)
    except KeyboardInterrupt:
        if not writer:
            raise
        saved_to = checkpoint.save_now(learn)
        with _interrupted_again(run_dir, saved_to):  # a second Ctrl-C: the checkpoint is saved
            _write_outputs(learn, run_dir, config)
        raise Interrupted(run_dir, saved_to) from None
    except OSError as e:  # a full disk, a read-only remount, a file-size limit
        raise _write_failed(e, run_dir) from None
    if not writer:
        stats = learn.find_cb(AvgStats)
        history = stats.history if stats is not None else []
        return TrainResult(run_dir, learn, history, rank=world()[0])
    try:
        kept = run.epoch_checkpoints()
        with _interrupted_again(run_dir, kept[-1] if kept else None):
            result = _write_outputs(learn, run_dir, config)
    except OSError as e:
        raise _write_failed(e, run_dir) from None
    result.stopped = guard.message
    first = next((f for f in result.findings or [] if f.kind == "non_finite"), None)
    if guard.message and first is not None:
        where = "the loss" if first.layer == "loss" else f"layer {first.layer}"
        result.stopped += f"; the first non-finite values: {where}, step {first.steps[0]}"
    return result


def _write_failed(e: OSError, run_dir: Path) -> LookinsideError:
    """A write that failed mid-run, in one sentence: what, why, and how to go on (a resume
    continues the epochs, or writes the outputs of a run whose epochs are done)."""
    what = f" while writing {e.filename}" if e.filename else ""
    kept = RunDir(run_dir).epoch_checkpoints()
    saved = (f"the checkpoints up to {kept[-1].name} are kept: once writing works again, finish "
             f"the run with lookinside train --resume {shlex.quote(str(run_dir))}" if kept
             else "no epoch had finished, so nothing was saved")  # fmt: skip
    return LookinsideError(f"{e.strerror or e}{what}; {saved}.")


def _write_outputs(learn: Learner, run_dir: Path, config: TrainConfig) -> TrainResult:
    stats = learn.find_cb(AvgStats)
    assert stats is not None  # a default callback
    result, run = TrainResult(run_dir, learn, stats.history), RunDir(run_dir)
    learn.save(run.model)  # the last epoch's weights: learn.load reads them
    write_plots(learn, run)
    activation_stats = learn.find_cb(ActivationStats)
    if activation_stats is not None and activation_stats.has_telemetry:
        epochs = [dict(e.values) for e in stats.history]
        result.findings = run.write_telemetry(activation_stats.telemetry, epochs, config.to_dict())
    write_report(run_dir)  # last: a run with its report is whole
    return result


def _n_train(config: TrainConfig) -> int:
    return len(_mnist(None if config.data == "mnist" else config.data)[0])


def write_plots(learn: Learner, run: RunDir) -> None:
    """The per-step losses and learning rates (`recorder.npz`) and their curves, into `plots/`."""
    recorder = learn.find_cb(Recorder)
    if recorder is not None and len(recorder.losses):
        buf = io.BytesIO()
        np.savez(buf, losses=recorder.losses, lrs=recorder.lrs)
        atomic_write_bytes(run.recorder, buf.getvalue())
        save_figure(recorder.plot_loss(), run.plot("loss"))
        save_figure(recorder.plot_sched(), run.plot("sched"))


def lr_find_run(config: TrainConfig) -> tuple[Path, LRFindResult]:
    """`lookinside lr-find`: the finder alone, in a run directory of its own."""
    learn = build_learner(config)
    run = new_run_dir(config.out, prefix="lr-find")
    try:
        return run.path, find_lr(learn, run.path)
    finally:  # after lr_find.json: a directory with config.json alone is a training run's
        if run.lr_find.is_file():
            run.write_options(config.to_dict())

"""Checkpoints: everything needed to continue a run exactly, written atomically, read safely.

A checkpoint is a `torch.save`d dict of tensors and plain Python values only: the model's and
the optimizer's state, the number of epochs done, every random generator's state, and the
state of each callback that keeps one (`state_dict`/`load_state_dict`). It is read with
`torch.load(weights_only=True)`, which refuses any pickle that would build other objects (and
so never runs code from a file); a refused or damaged file is a `LookinsideError`.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .callback import Callback, callback_name
from .errors import LookinsideError, gist
from .files import atomic_write_bytes
from .rng import RngState
from .unwrap import unwrap

if TYPE_CHECKING:
    from .learner import Learner

FORMAT = 1
# What torch.load raises for a refused pickle or a damaged file.
_UNREADABLE = (
    pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
    KeyError, IndexError, TypeError, AttributeError, UnicodeDecodeError,
)  # fmt: skip
_EPOCH_FILE = re.compile(r"epoch-(\d+)\.pt$")
INTERRUPTED = "interrupted.pt"  # what a Ctrl-C saves mid-epoch, beside the epoch checkpoints


def checkpoint_state(
    learn: Learner, epochs_done: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The learner's state after `epochs_done` epochs, as plain data."""
    callbacks = {callback_name(cb): state for cb in learn.cbs if (state := cb.state_dict())}
    return {
        "format": FORMAT,
        "epochs_done": epochs_done,
        "train_iter": learn.train_iter,
        "lr": learn.lr,
        "model": unwrap(learn.model).state_dict(),
        "opt": learn.opt.state_dict() if learn.opt is not None else None,
        "rng": RngState.capture().to_dict(),
        "callbacks": callbacks,
        "extra": extra or {},
    }


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write `state` to `path` atomically (a crash leaves the previous file whole)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint safely: plain data only, its content whole (each part's CRC-32 in
    the zip checked: `torch.load` reads a flipped bit into a tensor without a word), or a
    `LookinsideError` naming the file."""
    damaged = _failing_crc(Path(path))
    if damaged is not None:
        raise LookinsideError(f"{path} is damaged: its part {damaged} fails its checksum (CRC-32).")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before refusing them
            warnings.simplefilter("ignore")
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise LookinsideError(f"checkpoint {path} does not exist.") from None
    except _UNREADABLE as e:
        raise LookinsideError(f"{path} is not a valid lookinside checkpoint ({gist(e)}).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise LookinsideError(f"{path} is not a lookinside checkpoint (format {FORMAT}).")
    for key, kinds in SHAPE.items():
        if not isinstance(state.get(key), kinds) or isinstance(state.get(key), bool):
            raise LookinsideError(
                f"{path} is damaged: its {key!r} is {type(state.get(key)).__name__}, not "
                f"{' or '.join(k.__name__ for k in kinds)}."
            )
    if state["epochs_done"] < 0 or state["train_iter"] < 0:
        raise LookinsideError(f"{path} is damaged: it counts {state['epochs_done']} epochs.")
    return state


def _failing_crc(path: Path) -> str | None:
    """The first part of the checkpoint's zip whose content fails its CRC-32, if any (a file
    that is no zip at all is left for `torch.load` to refuse)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return None


# What a checkpoint holds, key by key (see `checkpoint_state`).
SHAPE: dict[str, tuple[type, ...]] = {
    "epochs_done": (int,), "train_iter": (int,), "lr": (float, int), "model": (dict,),
    "opt": (dict, type(None)), "rng": (dict,), "callbacks": (dict,), "extra": (dict,),
}  # fmt: skip


def apply_checkpoint(learn: Learner, state: dict[str, Any], source: str = "the checkpoint") -> None:
    """Continue from `state` (read from `source`): the model's and the optimizer's state now
    (the optimizer created if needed), the callbacks' and the random generators' at the next
    fit (`Learner.resume_at_fit`), which must start at `state["epochs_done"]`."""
    learn.model.load_state_dict(state["model"])
    learn.lr = state["lr"]
    if learn.opt is None:
        learn.create_opt()
    if state["opt"] is not None and learn.opt is not None:
        learn.opt.load_state_dict(state["opt"])
    learn.resume_at_fit(state["callbacks"], RngState.from_dict(state["rng"]), source)


def epoch_checkpoints(directory: Path) -> list[Path]:
    """The `epoch-N.pt` files of a directory, oldest first."""
    found = [(epochs_in(p), p) for p in directory.glob("epoch-*.pt") if _EPOCH_FILE.search(p.name)]
    return [p for _, p in sorted(found)]


def epochs_in(path: Path) -> int:
    """The epochs an `epoch-N.pt` file holds, by its name: N."""
    m = _EPOCH_FILE.search(path.name)
    if m is None:
        raise ValueError(f"{path.name} is not named like an epoch checkpoint (epoch-N.pt)")
    return int(m.group(1))


class Checkpoint(Callback):
    """Saves `epoch-N.pt` into `directory` after each completed epoch, keeping the last `keep`.

    `extra` is stored as is (e.g. the run's resolved settings). Saving reads the state on the
    host: once per epoch, never inside the batch loop.
    """

    order = 90  # after every callback that updates its state at the end of an epoch
    during_lr_find = False

    def __init__(
        self, directory: str | os.PathLike[str], keep: int = 2, extra: dict[str, Any] | None = None
    ):
        self.directory, self.keep, self.extra = Path(directory), keep, extra or {}

    def after_epoch(self, learn: Learner) -> None:
        if not learn.epoch_done:
            return
        done = learn.epoch + 1
        save_checkpoint(
            checkpoint_state(learn, done, self.extra), self.directory / f"epoch-{done:04d}.pt"
        )
        for old in epoch_checkpoints(self.directory)[: -self.keep]:
            old.unlink(missing_ok=True)

    def save_now(self, learn: Learner, name: str = INTERRUPTED) -> Path:
        """Save the current state (mid-epoch: for inspection; resuming redoes that epoch)."""
        path = self.directory / name
        epochs_done = learn.epoch + 1 if learn.epoch_done else learn.epoch
        save_checkpoint(checkpoint_state(learn, epochs_done, {**self.extra, "partial": True}), path)
        return path

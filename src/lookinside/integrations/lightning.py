"""Look inside a Lightning model while its `Trainer` fits it:

    from lookinside.integrations.lightning import LookInside
    trainer = L.Trainer(callbacks=[LookInside()])
    trainer.fit(model, train_loader, val_loader)

`LookInside` watches the LightningModule's layers (`lookinside.watch`: activations, gradients,
parameter norms, on the device), reads the loss each training step returns, and at the end of
`fit` writes `telemetry.npz`, its plots and `diagnosis.json` into the trainer's log directory
(`lookinside/` inside it) and prints the findings. Needs `lightning` (`pip install lightning`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from torch import Tensor, nn

from .watching import Watching

__all__ = ["LookInside"]


class LookInside(pl.Callback, Watching):
    """Watch the LightningModule while the trainer fits it; write and print the diagnosis.

    Args:
        modules: the modules to watch (default: the model's blocks, as `watch` chooses).
        train_loss, valid_loss: the names the model logs its epoch losses under (read from
            `trainer.callback_metrics`), for the overfitting rule.
        print_findings: print the diagnosis when `fit` ends.
        **watch_options: `Watcher`'s options (`every`, `grads`, `hist_sample`, ...).
    """

    def __init__(
        self,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        train_loss: str = "train_loss",
        valid_loss: str = "val_loss",
        print_findings: bool = True,
        **watch_options: Any,
    ) -> None:
        self._setup(modules, print_findings, watch_options)
        self.names = {"train_loss": train_loss, "valid_loss": valid_loss}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start(pl_module)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if self.watcher is not None and isinstance(loss, Tensor):
            self.watcher.record_loss(loss)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = trainer.callback_metrics  # read once an epoch: a host read is fine here
        epoch = {ours: float(metrics[theirs]) for ours, theirs in self.names.items()
                 if theirs in metrics}  # fmt: skip
        if epoch and all(math.isfinite(v) for v in epoch.values()):
            self.epochs.append(epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.watcher is None:
            return
        self._stop()
        if trainer.is_global_zero:
            self._write(Path(trainer.log_dir or trainer.default_root_dir) / "lookinside")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._stop()

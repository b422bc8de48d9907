"""Look inside a Hugging Face model while its `Trainer` trains it:

    from lookinside.integrations.huggingface import LookInside
    trainer = Trainer(model, args, train_dataset=..., eval_dataset=..., callbacks=[LookInside()])
    trainer.train()

`LookInside` watches the model's layers (`lookinside.watch`: activations, gradients, parameter
norms, on the device), reads the loss each training forward returns (`outputs.loss`), and when
training ends writes `telemetry.npz`, its plots and `diagnosis.json` into `lookinside/` inside
the run's `output_dir` and prints the findings. The epochs' losses for the overfitting rule
come from the trainer's log (`loss`, and `eval_loss` when it evaluates each epoch). Needs
`transformers` and `accelerate` (`pip install lookinside[huggingface]`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from .watching import Watching

__all__ = ["LookInside", "epoch_losses"]


class LookInside(TrainerCallback, Watching):
    """Watch the model while the trainer trains it; write and print the diagnosis.

    Args:
        modules: the modules to watch (default: the model's blocks, as `watch` chooses).
        print_findings: print the diagnosis when training ends.
        **watch_options: `Watcher`'s options (`every`, `grads`, `hist_sample`, ...).
    """

    def __init__(
        self,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None = None,
        print_findings: bool = True,
        **watch_options: Any,
    ) -> None:
        self._setup(modules, print_findings, watch_options)
        self._loss_hook: Any = None

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        if model is None:
            return
        self._start(model)
        self._loss_hook = model.register_forward_hook(self._read_loss)

    def _read_loss(self, module: nn.Module, args: Any, out: Any) -> None:
        """The loss a training forward returns (`outputs.loss`), kept on the device."""
        loss = out.get("loss") if isinstance(out, Mapping) else getattr(out, "loss", None)
        if self.watcher is not None and module.training and isinstance(loss, Tensor):
            self.watcher.record_loss(loss)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.watcher is None:
            return
        self._stop()
        self._loss_hook.remove()
        if state.is_world_process_zero:
            self.epochs = epoch_losses(state.log_history)
            self._write(Path(args.output_dir or ".") / "lookinside")


def epoch_losses(log: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Each evaluation's `eval_loss` (the valid loss) with the training loss logged last
    before it, from a trainer's `log_history`: the epochs' losses the diagnosis reads."""
    epochs: list[dict[str, float]] = []
    train = math.nan
    for entry in log:
        if "loss" in entry:
            train = float(entry["loss"])
        if "eval_loss" in entry:
            valid = float(entry["eval_loss"])
            if math.isfinite(train) and math.isfinite(valid):
                epochs.append({"train_loss": train, "valid_loss": valid})
    return epochs

"""`ParamScheduler`: sets an optimizer hyper-parameter from a schedule before each batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..callback import Callback
from ..errors import LookinsideError
from ..schedules import Schedule

if TYPE_CHECKING:
    from ..learner import Learner


def set_group_hyper(group: dict[str, Any], name: str, value: float) -> None:
    """Set `name` in one parameter group; `momentum` sets beta1 on Adam-like optimizers."""
    if name == "momentum" and "momentum" not in group and "betas" in group:
        group["betas"] = (value, *group["betas"][1:])
    elif name in group:
        group[name] = value
    else:
        known = ", ".join(k for k, v in group.items() if isinstance(v, (int, float)))
        raise LookinsideError(f"the optimizer has no hyper-parameter {name!r} (it has {known}).")


class ParamScheduler(Callback):
    """Before each training batch, sets `param` in every parameter group to
    `sched(learn.pct_train)`; a list of schedules gives one per group.

    `param` is any key of the optimizer's groups (`lr`, `momentum`, `weight_decay`, ...);
    `momentum` on Adam-like optimizers moves the first beta. Progress is `learn.pct_train`,
    kept by `TrainEval`.
    """

    order = -15  # after TrainEval updates pct_train, before anything reads the optimizer
    during_lr_find = False

    def __init__(self, param: str, sched: Schedule | Sequence[Schedule]) -> None:
        self.param = param
        self.scheds = list(sched) if isinstance(sched, Sequence) else [sched]

    def before_fit(self, learn: Learner) -> None:
        assert learn.opt is not None
        n = len(learn.opt.param_groups)
        if len(self.scheds) not in (1, n):
            raise LookinsideError(
                f"ParamScheduler({self.param!r}) has {len(self.scheds)} schedules "
                f"for {n} parameter groups."
            )

    def before_batch(self, learn: Learner) -> None:
        if not learn.training:
            return
        assert learn.opt is not None
        groups = learn.opt.param_groups
        scheds = self.scheds * len(groups) if len(self.scheds) == 1 else self.scheds
        for group, sched in zip(groups, scheds, strict=True):
            set_group_hyper(group, self.param, sched(learn.pct_train))

    def __repr__(self) -> str:
        return f"ParamScheduler({self.param!r})"

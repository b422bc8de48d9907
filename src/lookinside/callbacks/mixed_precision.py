"""`MixedPrecision`: the forward pass and the loss under autocast, in bf16 or in fp16 with a
gradient scaler, on CPU or GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..callback import Callback
from ..errors import LookinsideError

if TYPE_CHECKING:
    from ..learner import Learner

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class _ScalerProbe:
    """What `GradScaler.step` needs from an optimizer: its groups, and a `step` that only notes
    that the gradients were finite (the learner makes the real step afterwards)."""

    def __init__(self, opt: torch.optim.Optimizer) -> None:
        self.opt = opt
        self.finite = False

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.opt.param_groups

    def step(self) -> None:
        self.finite = True


class MixedPrecision(Callback):
    """Runs each batch's forward pass and loss under `torch.autocast` in `dtype`; the weights
    and the optimizer stay in float32.

    bfloat16 (the default) keeps float32's exponent range, so nothing else is needed. float16
    does not: small gradients underflow to zero. With it, the loss is multiplied by a scale
    before backward and the gradients divided by it after (`torch.amp.GradScaler`); a step
    whose gradients overflowed is skipped (every gradient set to None, so the optimizer leaves
    those parameters alone) and the scale halves, then grows again after `growth_interval`
    good steps. Checking for overflow reads one flag from the device each step: fp16's price.

    `cache_enabled=False` turns off autocast's cache of cast weights (needed under a CUDA graph,
    which `CudaGraph` sets).
    """

    order = -4  # after the batch is on its device and transformed; unscales before clipping

    def __init__(
        self,
        dtype: torch.dtype | str = torch.bfloat16,
        cache_enabled: bool = True,
        init_scale: float = 2.0**16,
        growth_interval: int = 2000,
    ) -> None:
        dtype = DTYPES.get(dtype, dtype) if isinstance(dtype, str) else dtype
        if dtype not in DTYPES.values():
            raise LookinsideError(
                f"MixedPrecision takes bf16 or fp16 (torch.bfloat16, torch.float16), not {dtype}."
            )
        self.dtype: torch.dtype = dtype  # type: ignore[assignment]
        self.cache_enabled = cache_enabled
        self.init_scale, self.growth_interval = init_scale, growth_interval
        self.scaler: torch.amp.GradScaler | None = None  # fp16 only, made by before_fit
        self.skipped_steps = 0  # fp16 steps skipped because the gradients overflowed
        self._autocast: Any = None
        self._device_type = "cpu"  # the model's, set by before_fit
        self._unscaled_loss: torch.Tensor | None = None
        self._probe: _ScalerProbe | None = None
        self._checked = False

    @property
    def scaled(self) -> bool:
        """Whether this precision needs a gradient scaler (fp16)."""
        return self.dtype == torch.float16

    def before_fit(self, learn: Learner) -> None:
        self._device_type = next(learn.model.parameters()).device.type  # placed by now
        if self.scaled and self.scaler is None:
            self.scaler = torch.amp.GradScaler(
                self._device_type, init_scale=self.init_scale, growth_interval=self.growth_interval
            )
        assert learn.opt is not None
        self._probe = _ScalerProbe(learn.opt)  # one per fit: the scaler keys its state by it
        self._checked = False  # whether this batch's gradients went through the scaler

    def before_batch(self, learn: Learner) -> None:
        self._autocast = torch.autocast(
            self._device_type, self.dtype, cache_enabled=self.cache_enabled
        )
        self._autocast.__enter__()

    def _leave(self, learn: Learner) -> None:
        if self._autocast is not None:
            self._autocast.__exit__(None, None, None)
            self._autocast = None

    after_loss = _leave  # backward runs outside autocast, as PyTorch recommends

    def before_backward(self, learn: Learner) -> None:
        if self.scaler is not None and learn.loss is not None:
            self._unscaled_loss = learn.loss
            learn.loss = self.scaler.scale(learn.loss)

    def after_backward(self, learn: Learner) -> None:
        if self.scaler is None or self._unscaled_loss is None:
            return
        learn.loss, self._unscaled_loss = self._unscaled_loss, None  # callbacks see the true loss
        assert learn.opt is not None and self._probe is not None
        self._probe.finite, self._checked = False, True
        self.scaler.unscale_(self._probe)  # type: ignore[arg-type]
        self.scaler.step(self._probe)  # type: ignore[arg-type]
        if not self._probe.finite:
            learn.opt.zero_grad(set_to_none=True)  # the optimizer skips parameters without grad
            self.skipped_steps += 1

    def after_batch(self, learn: Learner) -> None:
        self._leave(learn)  # in case the batch was cancelled before its loss
        self._unscaled_loss = None
        if self._checked and self.scaler is not None:  # after the step, or a cancelled one
            self.scaler.update()
            self._checked = False

    def state_dict(self) -> dict[str, Any]:
        """The gradient scaler's state (fp16), for checkpoints."""
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint with the scale it had reached (after `before_fit`, which
        made the scaler)."""
        if state.get("scaler") and self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])

    def __repr__(self) -> str:
        return f"MixedPrecision({'fp16' if self.scaled else 'bf16'})"

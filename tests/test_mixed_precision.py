"""MixedPrecision on the CPU: bf16 autocast, and fp16 with its gradient scaler."""

from __future__ import annotations

import pytest
import torch

import lookinside as li

from .conftest import tiny_dls, tiny_model


def _dtypes_probe(dtypes: list[torch.dtype]) -> li.LambdaCallback:
    return li.LambdaCallback(after_pred=lambda learn: dtypes.append(learn.pred.dtype))


@pytest.mark.parametrize(("name", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_trains_on_the_cpu(name: str, dtype: torch.dtype) -> None:
    dtypes: list[torch.dtype] = []
    cbs = [li.MixedPrecision(name), _dtypes_probe(dtypes)]
    learn = li.Learner(tiny_model(), tiny_dls(n_train=96, bs=8), lr=0.5, cbs=cbs)
    learn.progress_bar.rows = False
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(3)
    assert set(dtypes) == {dtype}
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))
    losses = learn.recorder.losses
    assert torch.isfinite(torch.tensor(losses)).all() and losses[-12:].mean() < losses[:12].mean()
    assert not torch.is_autocast_enabled("cpu")


def test_fp16_records_the_true_loss_not_the_scaled_one() -> None:
    eager = li.Learner(tiny_model(), tiny_dls(), lr=0.0, cbs=[li.MixedPrecision("fp16")])
    eager.progress_bar.rows = False
    eager.fit(1)
    assert eager.recorder.losses.max() < 10  # the scale is 65536
    assert eager.mixed_precision.scaler.get_scale() == 2.0**16


def test_an_overflowing_fp16_step_is_skipped_and_the_scale_backs_off() -> None:
    mp = li.MixedPrecision("fp16", init_scale=2.0**100)  # the scaled gradients overflow
    learn = li.Learner(tiny_model(), tiny_dls(n_train=4, bs=4), lr=0.5, cbs=[mp])
    learn.progress_bar.rows = False
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1)
    assert mp.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters(), strict=True))
    assert mp.scaler is not None and mp.scaler.get_scale() == 2.0**99


def test_the_scale_survives_a_checkpoint() -> None:
    mp = li.MixedPrecision("fp16", init_scale=2.0**100)
    learn = li.Learner(tiny_model(), tiny_dls(n_train=4, bs=4), lr=0.5, cbs=[mp])
    learn.progress_bar.rows = False
    learn.fit(1)
    resumed = li.MixedPrecision("fp16")
    other = li.Learner(tiny_model(), tiny_dls(n_train=4, bs=4), lr=0.5, cbs=[resumed])
    other.progress_bar.rows = False
    other.resume_at_fit({"mixed_precision": mp.state_dict()})
    other.fit(1)
    assert resumed.scaler is not None and resumed.scaler.get_scale() == 2.0**98


def test_an_unknown_precision_is_one_clear_error() -> None:
    with pytest.raises(li.LookinsideError, match="bf16 or fp16"):
        li.MixedPrecision("fp8")


def test_batches_cancelled_after_backward_keep_the_scaler_consistent() -> None:
    def cancel_every_other(learn: li.Learner) -> None:
        if learn.iter % 2:
            raise li.CancelBatchException

    mp = li.MixedPrecision("fp16", init_scale=1.0, growth_interval=4)
    cancel = li.LambdaCallback(after_backward=cancel_every_other)
    learn = li.Learner(tiny_model(), tiny_dls(n_train=48, bs=4), lr=0.5, cbs=[mp, cancel])
    learn.progress_bar.rows = False
    learn.fit(2)
    # Every batch whose gradients were checked ends with the scaler's update, cancelled or not:
    # 24 finite batches, a doubling every 4.
    assert mp.skipped_steps == 0 and mp.scaler is not None and mp.scaler.get_scale() == 2.0**6

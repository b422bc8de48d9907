"""Each faulty case's healthy twin: the same model, data and training with the fault taken
out (a sane lr, kaiming init, the labels unshuffled, ...). A twin's accuracy is what a repair
of the faulty run can hope to recover (`benchmarks/remedy_trial.py`)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from torch import nn

from ..models import cnn
from . import models as M
from . import tasks
from .cases import CASES, deep12, kaiming, lstm, mlp2, mlp3
from .run import Case

_deep6 = functools.partial(M.mlp, [784] + [100] * 6 + [10])
_deep10 = functools.partial(M.mlp, [784] + [100] * 10 + [10])
_mnist = tasks.mnist
_toks = tasks.tokens

# What each faulty case changes back: fields of `Case`.
FIXES: dict[str, dict[str, Any]] = {
    "mlp-init-tiny": {"build": kaiming(deep12)},
    "mlp-init-huge": {"build": kaiming(_deep6)},
    "mlp-sigmoid-deep": {"build": kaiming(_deep10)},
    "mlp-tanh-saturated": {"build": functools.partial(mlp2, act=nn.Tanh)},
    "mlp-dead-bias": {"build": mlp2},
    "mlp-dying-lr": {"lr": 0.06},
    "mlp-nan": {"lr": 0.1},
    "mlp-oscillating": {"lr": 1e-3},
    "mlp-lr-tiny": {"lr": 0.1},
    "mlp-not-in-optimizer": {"params": None},
    "mlp-frozen": {"build": mlp3},
    "mlp-shuffled-labels": {"data": _mnist},
    "mlp-softmax": {"build": mlp2},
    "mlp-raw-pixels": {"data": _mnist},
    "mlp-overfit": {"data": _mnist, "epochs": 2},
    "mlp-watch-dead": {"build": mlp2},
    "mlp-dict-dead": {"build": lambda: M.DictOutputNet([784, 100, 100, 10])},
    "cnn-default-init": {"build": cnn},
    "cnn-init-tiny": {"build": functools.partial(cnn, (8, 16, 32, 64, 64))},
    "cnn-nan": {"lr": 0.4},
    "cnn-lr-100": {"lr": 0.4},
    "cnn-dead-bias": {"build": cnn},
    "cnn-raw-pixels": {"data": _mnist},
    "cnn-shuffled-labels": {"data": _mnist},
    "cnn-bn-batch-2": {"data": functools.partial(tasks.mnist, n_train=512, bs=32)},
    "resnet-lr-2": {"lr": 0.1},
    "resnet-lr-huge": {"lr": 0.1},
    "resnet-not-in-optimizer": {"params": None},
    "resnet-overfit": {"data": _mnist, "epochs": 2},
    "resnet-lr-tiny": {"lr": 3e-3},
    "lstm-lr-tiny": {"lr": 3e-3},
    "gru-shuffled-labels": {"data": _toks},
    "lstm-softmax": {"build": lstm},
    "lstm-lr-huge": {"lr": 1.0},
    "rnn-nan": {"lr": 0.1},
    "gru-oscillating": {"lr": 3e-3},
    "transformer-lr-high": {"lr": 1e-3},
    "transformer-lr-tiny": {"lr": 1e-3},
    "transformer-not-in-optimizer": {"params": None},
    "transformer-shuffled-labels": {"data": _toks},
    "transformer-nan": {"lr": 0.1},
}


def twin(case: Case) -> Case:
    """The healthy twin of faulty `case` (named `<case>-twin`, expecting nothing)."""
    return dataclasses.replace(
        case, name=f"{case.name}-twin", expect=(), forbid=(), **FIXES[case.name]
    )


def faulty_cases() -> list[Case]:
    """The zoo's faulty cases, in its order."""
    return [c for c in CASES if not c.healthy]

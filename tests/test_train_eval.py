"""TrainEval: model modes and progress counters."""

import pytest

import lookinside as li

from .conftest import tiny_dls, tiny_model


def test_pct_train_and_train_iter_at_each_batch() -> None:
    seen: list[tuple[float, int]] = []
    probe = li.LambdaCallback(
        before_batch=lambda learn: (
            seen.append((learn.pct_train, learn.train_iter)) if learn.training else None
        )
    )
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.TrainEval(), probe], default_cbs=False)
    learn.fit(2)
    assert [p for p, _ in seen] == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert [i for _, i in seen] == [0, 1, 2, 3, 4, 5]
    assert learn.train_iter == 6


def test_modes_switch_between_phases() -> None:
    modes: list[bool] = []
    probe = li.LambdaCallback(after_pred=lambda learn: modes.append(learn.model.training))
    learn = li.Learner(tiny_model(), tiny_dls(), cbs=[li.TrainEval(), probe], default_cbs=False)
    learn.fit(1)
    assert modes == [True, True, True, False, False]

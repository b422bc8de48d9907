"""`TrainEval`: model modes and the progress counters other callbacks schedule by."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..callback import Callback
from ..data import len_or_none

if TYPE_CHECKING:
    from ..learner import Learner


class TrainEval(Callback):
    """Puts the model in train or eval mode and keeps `learn.train_iter` and `learn.pct_train`.

    `learn.pct_train` is the fraction of this fit's training done when a batch starts:
    `(epoch + iter / n_iter) / n_epochs`, 0 at the first batch. Without a
    sized training loader it advances once per epoch.
    """

    order = -20

    def before_fit(self, learn: Learner) -> None:
        per_epoch = len_or_none(learn.dls.train) or 0
        learn.train_iter = learn.start_epoch * per_epoch  # batches of the epochs already done
        learn.pct_train = learn.start_epoch / learn.n_epochs if learn.n_epochs else 0.0

    def before_train(self, learn: Learner) -> None:
        learn.model.train()

    def before_batch(self, learn: Learner) -> None:
        if learn.training and learn.n_epochs:
            within = learn.iter / learn.n_iter if learn.n_iter else 0.0
            learn.pct_train = (learn.epoch + within) / learn.n_epochs

    def after_batch(self, learn: Learner) -> None:
        if learn.training:
            learn.train_iter += 1

    def before_validate(self, learn: Learner) -> None:
        learn.model.eval()

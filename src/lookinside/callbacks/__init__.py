"""The standard callbacks, and the set every `Learner` starts with."""

from __future__ import annotations

from ..callback import Callback
from .activation_stats import ActivationStats
from .avg_stats import AvgStats, EpochStats
from .batch_transform import BatchTransform, view_tfm
from .channels_last import ChannelsLast
from .csv_logger import CSVLogger
from .cuda_graph import CudaGraph
from .device import DeviceCallback, default_device, to_device
from .mixed_precision import MixedPrecision
from .monitor import SaveBest
from .param_scheduler import ParamScheduler
from .progress import ProgressBar
from .recorder import Recorder
from .tensorboard import TensorBoardCallback
from .train_eval import TrainEval


def default_callbacks() -> list[Callback]:
    """TrainEval, DeviceCallback, Distributed (a no-op in one process), AvgStats, Recorder and
    ProgressBar, fresh instances."""
    from ..distributed import Distributed

    return [TrainEval(), DeviceCallback(), Distributed(), AvgStats(), Recorder(), ProgressBar()]


__all__ = [
    "ActivationStats",
    "AvgStats",
    "BatchTransform",
    "CSVLogger",
    "ChannelsLast",
    "CudaGraph",
    "DeviceCallback",
    "EpochStats",
    "MixedPrecision",
    "ParamScheduler",
    "ProgressBar",
    "Recorder",
    "SaveBest",
    "TensorBoardCallback",
    "TrainEval",
    "default_callbacks",
    "default_device",
    "to_device",
    "view_tfm",
]

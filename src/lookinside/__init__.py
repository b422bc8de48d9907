"""lookinside: a small PyTorch training library for looking inside the model while it trains."""

from . import remedies
from .callback import Callback, LambdaCallback
from .callbacks import (
    ActivationStats,
    AvgStats,
    BatchTransform,
    ChannelsLast,
    CSVLogger,
    CudaGraph,
    DeviceCallback,
    EpochStats,
    MixedPrecision,
    ParamScheduler,
    ProgressBar,
    Recorder,
    SaveBest,
    TensorBoardCallback,
    TrainEval,
    default_device,
    view_tfm,
)
from .config import TrainConfig
from .data import DataLoaders, TensorLoader
from .datasets import download_mnist, load_mnist
from .diagnosis import Finding, Findings, diagnose
from .errors import LookinsideError
from .events import (
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidateException,
    Event,
)
from .functional import accuracy
from .hooks import Hook, Hooks
from .learner import Learner
from .lr_finder import LRFindResult
from .models import cnn
from .schedules import Schedule, combine_scheds, sched_cos, sched_exp, sched_lin, sched_no
from .telemetry import LayerStats, Telemetry
from .trial import Trial, try_remedies
from .watcher import Watcher, watch

__version__ = "0.1.0"

__all__ = [
    "ActivationStats",
    "AvgStats",
    "BatchTransform",
    "CSVLogger",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelTrainException",
    "CancelValidateException",
    "ChannelsLast",
    "CudaGraph",
    "DataLoaders",
    "DeviceCallback",
    "EpochStats",
    "Event",
    "Finding",
    "Findings",
    "Hook",
    "Hooks",
    "LRFindResult",
    "LambdaCallback",
    "LayerStats",
    "Learner",
    "LookinsideError",
    "MixedPrecision",
    "ParamScheduler",
    "ProgressBar",
    "Recorder",
    "SaveBest",
    "Schedule",
    "Telemetry",
    "TensorBoardCallback",
    "TensorLoader",
    "TrainConfig",
    "TrainEval",
    "Trial",
    "Watcher",
    "__version__",
    "accuracy",
    "cnn",
    "combine_scheds",
    "default_device",
    "diagnose",
    "download_mnist",
    "load_mnist",
    "remedies",
    "sched_cos",
    "sched_exp",
    "sched_lin",
    "sched_no",
    "try_remedies",
    "view_tfm",
    "watch",
]

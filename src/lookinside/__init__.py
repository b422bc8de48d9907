"""lookinside: a small PyTorch training library for looking inside the model while it trains."""

from .callback import Callback, LambdaCallback
from .callbacks import (
    AvgStats,
    BatchTransform,
    CSVLogger,
    DeviceCallback,
    EpochStats,
    ParamScheduler,
    ProgressBar,
    Recorder,
    TrainEval,
    default_device,
    view_tfm,
)
from .config import TrainConfig
from .data import DataLoaders, TensorLoader
from .datasets import download_mnist, load_mnist
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
from .learner import Learner
from .lr_finder import LRFindResult
from .models import cnn
from .schedules import Schedule, combine_scheds, sched_cos, sched_exp, sched_lin, sched_no

__version__ = "0.1.0"

__all__ = [
    "AvgStats",
    "BatchTransform",
    "CSVLogger",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelTrainException",
    "CancelValidateException",
    "DataLoaders",
    "DeviceCallback",
    "EpochStats",
    "Event",
    "LRFindResult",
    "LambdaCallback",
    "Learner",
    "LookinsideError",
    "ParamScheduler",
    "ProgressBar",
    "Recorder",
    "Schedule",
    "TensorLoader",
    "TrainConfig",
    "TrainEval",
    "__version__",
    "accuracy",
    "cnn",
    "combine_scheds",
    "default_device",
    "download_mnist",
    "load_mnist",
    "sched_cos",
    "sched_exp",
    "sched_lin",
    "sched_no",
    "view_tfm",
]

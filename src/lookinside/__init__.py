"""lookinside: a small PyTorch training library for looking inside the model while it trains."""

from .callback import Callback, LambdaCallback
from .callbacks import (
    AvgStats,
    BatchTransform,
    CSVLogger,
    DeviceCallback,
    EpochStats,
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
from .models import cnn

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
    "LambdaCallback",
    "Learner",
    "LookinsideError",
    "ProgressBar",
    "Recorder",
    "TensorLoader",
    "TrainConfig",
    "TrainEval",
    "__version__",
    "accuracy",
    "cnn",
    "default_device",
    "download_mnist",
    "load_mnist",
    "view_tfm",
]

"""lookinside: a small PyTorch training library for looking inside the model while it trains.

`import lookinside` is light: each public name's module is imported when the name is first
used, so that the command line starts (and answers a Ctrl-C) before torch is imported.
"""

from __future__ import annotations

import importlib as _importlib
import importlib.util as _importlib_util
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Each public name -> the module that defines it ("remedies" is the module itself).
_HOMES: dict[str, str] = {
    **dict.fromkeys(["remedies"], ".remedies"),
    **dict.fromkeys(["Callback", "LambdaCallback"], ".callback"),
    **dict.fromkeys(
        [
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
            "default_device",
            "view_tfm",
        ],
        ".callbacks",
    ),
    **dict.fromkeys(["TrainConfig"], ".config"),
    **dict.fromkeys(["DataLoaders", "TensorLoader"], ".data"),
    **dict.fromkeys(["download_mnist", "load_mnist"], ".datasets"),
    **dict.fromkeys(["Finding", "Findings", "diagnose"], ".diagnosis"),
    **dict.fromkeys(["LookinsideError"], ".errors"),
    **dict.fromkeys(
        [
            "CancelBatchException",
            "CancelEpochException",
            "CancelFitException",
            "CancelTrainException",
            "CancelValidateException",
            "Event",
        ],
        ".events",
    ),
    **dict.fromkeys(["accuracy"], ".functional"),
    **dict.fromkeys(["Hook", "Hooks"], ".hooks"),
    **dict.fromkeys(["Learner"], ".learner"),
    **dict.fromkeys(["LRFindResult"], ".lr_finder"),
    **dict.fromkeys(["cnn"], ".models"),
    **dict.fromkeys(
        ["Schedule", "combine_scheds", "sched_cos", "sched_exp", "sched_lin", "sched_no"],
        ".schedules",
    ),
    **dict.fromkeys(["LayerStats", "Telemetry"], ".telemetry"),
    **dict.fromkeys(["Trial", "try_remedies"], ".trial"),
    **dict.fromkeys(["Watcher", "watch"], ".watcher"),
}
__all__ = ["__version__", *sorted(_HOMES)]


def __getattr__(name: str) -> object:
    """A public name, or a submodule (`lookinside.nn`), imported when first asked for."""
    home = _HOMES.get(name)
    if (
        home is None
        and not name.startswith("_")
        and _importlib_util.find_spec(f"{__name__}.{name}")
    ):
        home = f".{name}"
    if home is None:
        raise AttributeError(f"module 'lookinside' has no attribute {name!r}")
    module = _importlib.import_module(home, __name__)
    value = module if home == f".{name}" else getattr(module, name)
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # what a type checker and an editor see: the names, typed
    from . import remedies as remedies
    from .callback import Callback as Callback
    from .callback import LambdaCallback as LambdaCallback
    from .callbacks import (
        ActivationStats as ActivationStats,
    )
    from .callbacks import (
        AvgStats as AvgStats,
    )
    from .callbacks import (
        BatchTransform as BatchTransform,
    )
    from .callbacks import (
        ChannelsLast as ChannelsLast,
    )
    from .callbacks import (
        CSVLogger as CSVLogger,
    )
    from .callbacks import (
        CudaGraph as CudaGraph,
    )
    from .callbacks import (
        DeviceCallback as DeviceCallback,
    )
    from .callbacks import (
        EpochStats as EpochStats,
    )
    from .callbacks import (
        MixedPrecision as MixedPrecision,
    )
    from .callbacks import (
        ParamScheduler as ParamScheduler,
    )
    from .callbacks import (
        ProgressBar as ProgressBar,
    )
    from .callbacks import (
        Recorder as Recorder,
    )
    from .callbacks import (
        SaveBest as SaveBest,
    )
    from .callbacks import (
        TensorBoardCallback as TensorBoardCallback,
    )
    from .callbacks import (
        TrainEval as TrainEval,
    )
    from .callbacks import (
        default_device as default_device,
    )
    from .callbacks import (
        view_tfm as view_tfm,
    )
    from .config import TrainConfig as TrainConfig
    from .data import DataLoaders as DataLoaders
    from .data import TensorLoader as TensorLoader
    from .datasets import download_mnist as download_mnist
    from .datasets import load_mnist as load_mnist
    from .diagnosis import Finding as Finding
    from .diagnosis import Findings as Findings
    from .diagnosis import diagnose as diagnose
    from .errors import LookinsideError as LookinsideError
    from .events import (
        CancelBatchException as CancelBatchException,
    )
    from .events import (
        CancelEpochException as CancelEpochException,
    )
    from .events import (
        CancelFitException as CancelFitException,
    )
    from .events import (
        CancelTrainException as CancelTrainException,
    )
    from .events import (
        CancelValidateException as CancelValidateException,
    )
    from .events import (
        Event as Event,
    )
    from .functional import accuracy as accuracy
    from .hooks import Hook as Hook
    from .hooks import Hooks as Hooks
    from .learner import Learner as Learner
    from .lr_finder import LRFindResult as LRFindResult
    from .models import cnn as cnn
    from .schedules import (
        Schedule as Schedule,
    )
    from .schedules import (
        combine_scheds as combine_scheds,
    )
    from .schedules import (
        sched_cos as sched_cos,
    )
    from .schedules import (
        sched_exp as sched_exp,
    )
    from .schedules import (
        sched_lin as sched_lin,
    )
    from .schedules import (
        sched_no as sched_no,
    )
    from .telemetry import LayerStats as LayerStats
    from .telemetry import Telemetry as Telemetry
    from .trial import Trial as Trial
    from .trial import try_remedies as try_remedies
    from .watcher import Watcher as Watcher
    from .watcher import watch as watch

"""`flags`: options written as `lookinside train` flags, read back by its own parser."""

from __future__ import annotations

import dataclasses
import shlex

from lookinside.cli import build_parser
from lookinside.config import TrainConfig
from lookinside.flags import flags


def parsed(options: dict[str, object]) -> TrainConfig:
    """The TrainConfig that `lookinside train <flags(options)>` would run."""
    args = build_parser().parse_args(["train", *shlex.split(flags(options))])
    names = [f.name for f in dataclasses.fields(TrainConfig) if hasattr(args, f.name)]
    return TrainConfig(**{n: getattr(args, n) for n in names})


def test_flags_read_back_as_the_same_options() -> None:
    options = {"lr": 0.000123456789, "arch": (4, 8, 16), "act": "general", "norm": "batch",
               "clip": 1.0, "channels_last": True, "telemetry": False, "subset": 1000,
               "sched": "one-cycle", "init": "default", "out": "runs/a b"}  # fmt: skip
    assert parsed(options) == TrainConfig(**options)  # type: ignore[arg-type]
    assert flags({"clip": 1.0, "subset": None, "cuda_graph": False}) == "--clip 1.0"
    assert flags({"telemetry": True, "lr": "auto"}) == "--lr auto"


def test_the_defaults_read_back_as_the_defaults() -> None:
    defaults = TrainConfig().to_dict()
    assert parsed(defaults) == TrainConfig()

"""TrainConfig: defaults, validation, unknown keys."""

import pytest

import lookinside as li


def test_lr_accepts_auto_and_integers() -> None:
    assert li.TrainConfig(lr="auto").lr == "auto"
    assert li.TrainConfig(lr=1).lr == 1.0 and isinstance(li.TrainConfig(lr=1).lr, float)


def test_round_trip_through_a_dict() -> None:
    config = li.TrainConfig(epochs=2, arch=[4, 8])  # type: ignore[arg-type]
    assert config.arch == (4, 8)
    assert li.TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1, not 0."),
        ({"bs": -1}, "bs must be at least 1, not -1."),
        ({"lr": 0.0}, "lr must be a number above 0 and at most 1000, or 'auto', not 0.0."),
        ({"lr": "fast"}, "lr must be a number above 0 and at most 1000, or 'auto', not 'fast'."),
        ({"lr": 1e308}, "lr must be a number above 0 and at most 1000, or 'auto', not 1e+308."),
        ({"lr": float("nan")}, "lr must be a number above 0"),
        ({"sched": "cyclic"}, "sched must be one of const, one-cycle, not 'cyclic'."),
        ({"norm": "weight"}, "norm must be one of none, batch, layer, instance, group, running"),
        ({"arch": (8, 0)}, "arch must list 1 to 8 channel counts, each from 1 to 4096, not 8,0."),
        ({"arch": (100_000_000,)}, "arch must list 1 to 8 channel counts, each from 1 to 4096"),
        ({"arch": (8,) * 9}, "arch must list 1 to 8 channel counts"),
        ({"seed": -1}, "seed must be between 0 and 2**32 - 1 (4294967295), not -1."),
        ({"seed": 2**32}, "seed must be between 0 and 2**32 - 1 (4294967295), not 4294967296."),
        ({"clip": float("inf")}, "clip must be a positive number, not inf."),
        ({"act": "tanh"}, "act must be one of relu, general, not 'tanh'."),
        ({"device": "tpu"}, "device must be one of auto, cpu, cuda, mps, not 'tpu'."),
        ({"epoch": 3}, "unknown option 'epoch'."),
        ({"precision": "fp8"}, "precision must be one of auto, fp32, bf16, fp16, not 'fp8'."),
        ({"cuda_graph": True, "precision": "fp16"}, "cuda_graph cannot capture fp16's gradient"),
    ],
)
def test_bad_values_are_named(values: dict[str, object], message: str) -> None:
    with pytest.raises(li.LookinsideError) as info:
        li.TrainConfig.from_dict(values)
    assert str(info.value).startswith(message)


def test_the_fast_recipe_sets_its_options() -> None:
    config = li.TrainConfig(recipe="fast", bs=7, lr=0.3)
    assert (config.bs, config.lr, config.sched, config.epochs) == (128, 0.01, "one-cycle", 1)
    with pytest.raises(li.LookinsideError, match="recipe must be one of none, fast"):
        li.TrainConfig(recipe="slow")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "4"}, "config.json: epochs must be an integer, not '4'."),
        ({"epochs": 4.5}, "config.json: epochs must be an integer, not 4.5."),
        ({"bs": 64.5}, "config.json: bs must be an integer, not 64.5."),
        ({"arch": 5}, "config.json: arch must be a list of integers, not 5."),
        ({"arch": [True]}, "config.json: arch must be a list of integers, not [True]."),
        ({"telemetry": 1}, "config.json: telemetry must be true or false, not 1."),
        ({"subset": "all"}, "config.json: subset must be an integer (or null), not 'all'."),
        ({"lr": [0.1]}, "config.json: lr must be a number or text, not [0.1]."),
        ({"seed": -1}, "config.json: seed must be between 0 and 2**32 - 1"),
        ({3: 4}, "config.json: unknown option 3."),
    ],
)
def test_a_file_of_options_is_checked_for_types_naming_the_file(
    values: dict[str, object], message: str
) -> None:
    """What `config.json` or a study holds is checked before any conversion: a wrong type
    is one sentence naming the file, the key, what it must be and what it is."""
    with pytest.raises(li.LookinsideError) as info:
        li.TrainConfig.from_dict(values, "config.json")
    assert str(info.value).startswith(message)
    with pytest.raises(li.LookinsideError, match="the options must be a table, not list"):
        li.TrainConfig.from_dict([1], "config.json")  # type: ignore[arg-type]

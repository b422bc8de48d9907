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
        ({"lr": 0.0}, "lr must be a positive number or 'auto', not 0.0."),
        ({"lr": "fast"}, "lr must be a positive number or 'auto', not 'fast'."),
        ({"sched": "cyclic"}, "sched must be one of const, one-cycle, not 'cyclic'."),
        ({"norm": "weight"}, "norm must be one of none, batch, layer, instance, group, running"),
        ({"arch": (8, 0)}, "arch must list positive channel counts"),
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

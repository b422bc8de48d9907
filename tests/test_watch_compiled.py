"""watch_compiled: whether code runs compiled, and whether a model holds a compiled block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lookinside.watch_compiled import called_from_compiled_code, eager, holds_compiled


def test_a_model_holding_a_compiled_block() -> None:
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Linear(2, 2))
    assert not holds_compiled(model)
    model[0].compile(backend="eager")  # in place: `_compiled_call_impl`
    assert holds_compiled(model)
    other = nn.Sequential(nn.Linear(2, 2))
    other[0] = torch.compile(other[0], backend="eager")  # an OptimizedModule in its place
    assert holds_compiled(other)


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_called_from_compiled_code_and_eager() -> None:
    """An `eager` function called inside a compiled module runs as Python and sees it."""
    seen: list[bool] = []

    @eager
    def look() -> None:
        seen.append(called_from_compiled_code())

    class Model(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            look()
            return x + 1

    model = Model()
    model(torch.zeros(2))
    torch.compile(model, backend="eager")(torch.zeros(2))
    assert seen == [False, True]

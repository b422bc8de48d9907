"""Which modules are watched by default, on models as their communities write them, and what
is known of each output before measuring it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lookinside as li
from lookinside.nn import GeneralRelu
from lookinside.telemetry import LayerSpec
from lookinside.watch_layers import (
    bounds,
    default_modules,
    histogram_range,
    model_facts,
    tensors_in,
    unit_dim,
)
from lookinside.zoo.models import (
    DictOutputNet,
    ListMLP,
    ResNet,
    RNNClassifier,
    TransformerClassifier,
    mlp,
)


def names(model: nn.Module) -> list[str]:
    return [n for n, _ in default_modules(model)]


def test_the_lesson_cnn_is_watched_by_block() -> None:
    assert names(li.cnn()) == ["0", "1", "2", "3", "6"]  # pooling and flatten left out


def test_a_sequential_mlp_by_layer() -> None:
    assert names(mlp([4, 3, 3, 2], norm="after")) == ["1", "2", "3", "4", "5", "6", "7"]


def test_a_resnet_by_stem_layer_and_block() -> None:
    assert names(ResNet()) == ["conv1", "bn1", "relu", "layer1.0", "layer1.1", "layer2.0",
                               "layer2.1", "fc"]  # fmt: skip


def test_a_transformer_encoder_by_its_layers() -> None:
    pre_ln = TransformerClassifier(10, 3, 6, norm_first=True)
    assert names(pre_ln) == ["emb", "encoder.layers.0", "encoder.layers.1", "encoder.norm", "head"]


def test_modules_held_in_lists_and_recurrent_models() -> None:
    assert names(ListMLP([4, 3, 3, 2])) == ["hidden.0", "hidden.1", "head"]
    assert names(RNNClassifier(10, 3)) == ["emb", "rnn", "fc"]
    assert names(DictOutputNet([4, 3, 3, 2])) == [
        "body.layers.0", "body.layers.1", "body.layers.2", "body.layers.3", "body.classifier",
    ]  # fmt: skip
    assert names(nn.Linear(2, 2)) == ["model"]


class Encoder(nn.Module):
    """As a Hugging Face encoder holds its layers: `layer`, a ModuleList, one level down."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.ModuleList(nn.TransformerEncoderLayer(8, 2, 16) for _ in range(2))


class Bert(nn.Module):
    """As a Hugging Face `BertForSequenceClassification` nests its blocks: two levels down."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = nn.Module()
        self.bert.embeddings = nn.Sequential(nn.Embedding(10, 8), nn.LayerNorm(8))
        self.bert.encoder = Encoder()
        self.bert.pooler = nn.Sequential(nn.Linear(8, 8), nn.Tanh())
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(8, 2)


def test_blocks_held_deeper_down_are_found() -> None:
    assert names(Bert()) == ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1",
                             "bert.pooler", "classifier"]  # fmt: skip


def test_places_inside_an_output() -> None:
    a, b, c = torch.zeros(1), torch.zeros(2), torch.zeros(3)
    out = (a, {"logits": b, "past": [c, "text"]})
    assert [(p, t.numel()) for p, t in tensors_in(out)] == [("[0]", 1), ("[1][logits]", 2),
                                                             ("[1][past][0]", 3)]  # fmt: skip


def test_what_is_known_before_measuring() -> None:
    assert bounds(nn.Sigmoid()) == (0.0, 1.0) and bounds(nn.Tanh()) == (-1.0, 1.0)
    assert bounds(nn.ReLU6()) == (None, 6.0) and bounds(GeneralRelu(0.1, 0.4, 6.0)) == (None, 6.0)
    assert bounds(nn.ReLU()) is None and bounds(nn.Linear(1, 1)) is None
    assert unit_dim(torch.zeros(2, 3, 4, 4), None) == 1
    assert unit_dim(torch.zeros(2, 5, 7), None) == 2  # (N, L, features)
    assert unit_dim(torch.zeros(2, 5, 7), nn.Conv1d(5, 5, 1)) == 1  # (N, channels, L)
    facts = model_facts(mlp([4, 3, 2], norm="before"))
    assert facts == {"norm_layers": ["BatchNorm1d"], "activations": ["ReLU"]}


def test_histogram_ranges_fit_the_output_first_seen() -> None:
    """Each side reaches twice the output's extreme, rounded out to 1, 2 or 5 times a power
    of ten, from an activation's floor or bounds when it has them."""
    torch.manual_seed(0)
    x = torch.randn(64, 100)
    assert histogram_range((x * 1.4).relu(), nn.ReLU(), None) == (0.0, 10.0)  # kaiming's ReLU
    assert histogram_range(x * 0.02, nn.Linear(1, 1), None) == pytest.approx((-0.2, 0.2))
    assert histogram_range(torch.linspace(0, 30, 1001), nn.Linear(1, 1), None) == (0.0, 100.0)
    assert histogram_range(x.sigmoid(), nn.Sigmoid(), None) == pytest.approx((-0.025, 1.025))
    capped = GeneralRelu(None, 0.4, 6.0)
    assert histogram_range(capped(x * 3), capped, None) == pytest.approx((-0.4, 6.16))
    leaky = GeneralRelu(0.1, 0.4, 6.0)  # values below its floor: the range goes below it
    lo, hi = histogram_range(leaky(x * 3), leaky, None)
    assert lo < -0.4 - 0.1 * 3 and hi == pytest.approx(6 + 0.025 * (6 - lo))  # the cap's
    spec = LayerSpec("p", "p", -3.0, 5.0)
    assert histogram_range(x * 100, nn.Flatten(), spec) == (-3.0, 5.0)  # the layer before's
    assert histogram_range(torch.full((4,), float("nan")), nn.ReLU(), None) == (0.0, 10.0)

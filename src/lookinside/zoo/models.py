"""Models as their communities write them: a plain `nn.Sequential` MLP, a `ModuleList` MLP, a
torchvision-style ResNet, an `nn.LSTM`/`nn.GRU` classifier over embeddings, an
`nn.TransformerEncoder` classifier, and a module that returns a dict (as Hugging Face's do).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

Act = Callable[[], nn.Module]


def mlp(
    sizes: Sequence[int],
    act: Act = nn.ReLU,
    norm: str | None = None,
) -> nn.Sequential:
    """`nn.Sequential(Flatten, Linear, act, ..., Linear)` through `sizes` (input first, classes
    last); `norm="before"`/`"after"` puts a `BatchNorm1d` before or after each activation."""
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in itertools.pairwise(sizes[:-1]):
        layers.append(nn.Linear(n_in, n_out))
        if norm == "before":
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(act())
        if norm == "after":
            layers.append(nn.BatchNorm1d(n_out))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class ListMLP(nn.Module):
    """An MLP written as a class: hidden layers in a `ModuleList`, a functional activation."""

    def __init__(self, sizes: Sequence[int], act: Callable[[Tensor], Tensor] = torch.relu) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes[:-1]))
        self.head = nn.Linear(sizes[-2], sizes[-1])
        self.act = act

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.head(x)  # type: ignore[no-any-return]


def conv3x3(n_in: int, n_out: int, stride: int = 1) -> nn.Conv2d:
    """A 3×3 convolution without bias (a BatchNorm follows), as in torchvision."""
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """torchvision's ResNet block: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU."""

    def __init__(self, n_in: int, n_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(n_in, n_out, stride)
        self.bn1 = nn.BatchNorm2d(n_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(n_out, n_out)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or n_in != n_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(n_in, n_out, 1, stride=stride, bias=False), nn.BatchNorm2d(n_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)  # type: ignore[no-any-return]


class ResNet(nn.Module):
    """A small torchvision-style ResNet: stem, stages of `BasicBlock`s, pooling, classifier."""

    def __init__(
        self, widths: Sequence[int] = (8, 16), blocks: int = 2, c_in: int = 1, n_out: int = 10
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, widths[0], stride=2)  # a small image: one stride-2 conv
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages, n_in = [], widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(n_in, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            n_in = width
        self.layer1 = stages[0]
        self.layer2 = stages[1] if len(stages) > 1 else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], n_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))  # type: ignore[no-any-return]


class RNNClassifier(nn.Module):
    """Embedding -> `nn.LSTM`, `nn.GRU` or a ReLU `nn.RNN` (batch first) -> the last step's
    output -> Linear."""

    def __init__(
        self,
        vocab: int,
        n_out: int,
        emb: int = 32,
        hidden: int = 64,
        cell: str = "lstm",
        softmax: bool = False,
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn: nn.RNNBase
        if cell == "rnn":
            self.rnn = nn.RNN(emb, hidden, batch_first=True, nonlinearity="relu")
        else:
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, n_out)
        self.softmax = softmax  # the mistake of applying softmax before cross_entropy

    def forward(self, tokens: Tensor) -> Tensor:
        out, _ = self.rnn(self.emb(tokens))  # (N, L, hidden)
        logits = self.fc(out[:, -1])
        return logits.softmax(-1) if self.softmax else logits  # type: ignore[no-any-return]


class TransformerClassifier(nn.Module):
    """Token and position embeddings -> `nn.TransformerEncoder` -> mean over positions ->
    Linear; `norm_first` picks pre-LN (True) or post-LN (False) layers."""

    def __init__(
        self,
        vocab: int,
        n_out: int,
        seq_len: int,
        d_model: int = 32,
        heads: int = 4,
        layers: int = 2,
        norm_first: bool = False,
    ) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d_model)
        self.pos = nn.Parameter(torch.zeros(1, seq_len, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True,
            norm_first=norm_first,
        )  # fmt: skip
        norm = nn.LayerNorm(d_model) if norm_first else None
        self.encoder = nn.TransformerEncoder(layer, layers, norm=norm, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.encoder(self.emb(tokens) + self.pos)  # (N, L, d_model)
        return self.head(x.mean(1))  # type: ignore[no-any-return]


class DictOutputNet(nn.Module):
    """An MLP whose body returns a dict, as Hugging Face modules do: {"hidden", "logits"}."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.body = DictBody(sizes)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.body(x)  # type: ignore[no-any-return]


class DictBody(nn.Module):
    """Linear-ReLU layers, then the classifier; returns the last hidden state and the logits."""

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        hidden: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes[:-1]):
            hidden += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.layers = nn.Sequential(*hidden)
        self.classifier = nn.Linear(sizes[-2], sizes[-1])

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        hidden = self.layers(x.flatten(1))
        return {"hidden": hidden, "logits": self.classifier(hidden)}

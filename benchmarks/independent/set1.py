"""Held-out cases for lookinside's diagnosis: architectures and styles the zoo does not have.

Models are written the way their communities write them: a torchvision-style VGG, a Kim-style
TextCNN over token embeddings, a 1-D conv stack, a pre-norm GELU/LayerNorm residual MLP, an
MNIST autoencoder and a tabular regression MLP trained with MSE, a 2-layer bidirectional GRU,
a CLS-token Transformer, a MobileNet-v1 depthwise-separable CNN, the classic tanh LeNet-5
(returning `(logits, probs)`), a weight-shared (ALBERT-style) MLP, a Hugging Face style model
returning a `ModelOutput`, a 1990s deep sigmoid CNN and a quantizing bottleneck.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import lookinside as li
from lookinside.functional import accuracy
from lookinside.zoo import tasks
from lookinside.zoo.run import ORACLE, Case, Expect

VOCAB, CLASSES, SEQ = 24, 4, 12


# ====================================================================== data
def mnist_small(**kw: object) -> li.DataLoaders:
    """2000 MNIST training images (CNNs must train in a few seconds on one thread)."""
    kw.setdefault("n_train", 2000)
    return tasks.mnist(**kw)  # type: ignore[arg-type]


def mnist_autoencode(n_train: int = 4000, n_valid: int = 1000, bs: int = 64) -> li.DataLoaders:
    """MNIST images as both inputs and targets (reconstruction)."""
    x, _, xv, _ = tasks._mnist()
    x, xv = x[:n_train], xv[:n_valid]
    return li.DataLoaders.from_tensors(x, x.clone(), xv, xv.clone(), bs=bs)


def _regression_xy(n: int, g: torch.Generator, noise: float = 0.1) -> tuple[Tensor, Tensor]:
    x = torch.randn(n, 8, generator=g)
    y = (
        torch.sin(2 * x[:, 0])
        + x[:, 1] * x[:, 2]
        + 0.5 * x[:, 3] ** 2
        - 0.8 * x[:, 4]
        + 0.3 * torch.tanh(x[:, 5] * x[:, 6])
        + noise * torch.randn(n, generator=g)
    )
    return x, y[:, None]


# the scales a tabular data set has before anyone standardises it (square metres, prices, years)
RAW_SCALE = torch.tensor([120.0, 35.0, 900.0, 2.0, 15000.0, 8.0, 60.0, 1.0])
RAW_SHIFT = torch.tensor([1500.0, 70.0, 2000.0, 3.0, 250000.0, 40.0, 1990.0, 0.5])


def regression(
    n_train: int = 4000,
    n_valid: int = 1000,
    bs: int = 64,
    raw: bool = False,
    seed: int = 0,
    noise: float = 0.1,
) -> li.DataLoaders:
    """A synthetic tabular regression: 8 standard-normal features, a nonlinear target (std
    ~1.5) plus gaussian noise (std `noise`). `raw`: the features at their natural
    (unstandardised) scales."""
    g = torch.Generator().manual_seed(seed)
    x, y = _regression_xy(n_train, g, noise)
    xv, yv = _regression_xy(n_valid, g, noise)
    if raw:
        x, xv = x * RAW_SCALE + RAW_SHIFT, xv * RAW_SCALE + RAW_SHIFT
    return li.DataLoaders.from_tensors(x, y, xv, yv, bs=bs)


toks = tasks.tokens
shuffled_toks = functools.partial(tasks.tokens, shuffle_labels=True)


# ====================================================================== metrics and losses
def r2(pred: Tensor, target: Tensor) -> Tensor:
    """Coefficient of determination of a batch (1 = perfect, 0 = predicting the mean)."""
    pred = pred.reshape(target.shape)
    return 1 - ((pred - target) ** 2).mean() / target.var(unbiased=False).clamp_min(1e-12)


def mse(pred: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(pred.reshape(target.shape), target)


def first_ce(out: tuple[Tensor, Tensor], target: Tensor) -> Tensor:
    """LeNet-5 returns (logits, probs): the loss takes the logits."""
    return F.cross_entropy(out[0], target)


def first_accuracy(out: tuple[Tensor, Tensor], target: Tensor) -> Tensor:
    return accuracy(out[0], target)


def hf_loss(out: ModelOutput, target: Tensor) -> Tensor:
    return F.cross_entropy(out.logits, target)


def hf_accuracy(out: ModelOutput, target: Tensor) -> Tensor:
    return accuracy(out.logits, target)


# ====================================================================== models
class VGG(nn.Module):
    """torchvision's VGG, small: `features` (3×3 convs, ReLU, MaxPool), `avgpool`,
    `classifier` (Linear-ReLU-Dropout-Linear)."""

    def __init__(self, cfg: tuple = (8, 8, "M", 16, 16, "M"), num_classes: int = 10,
                 softmax: bool = False) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        head: list[nn.Module] = [
            nn.Linear(c_in * 9, 128), nn.ReLU(True), nn.Dropout(p=0.5), nn.Linear(128, num_classes)
        ]  # fmt: skip
        if softmax:
            head.append(nn.Softmax(dim=1))  # the mistake: probabilities into cross_entropy
        self.classifier = nn.Sequential(*head)
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class TextCNN(nn.Module):
    """Kim (2014): embeddings, parallel Conv1d of widths 2-4, ReLU, max over time, dropout."""

    def __init__(self, vocab: int = VOCAB, n_out: int = CLASSES, emb: int = 32, n_filters: int = 32,
                 widths: tuple[int, ...] = (2, 3, 4)) -> None:  # fmt: skip
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.convs = nn.ModuleList(nn.Conv1d(emb, n_filters, k) for k in widths)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(n_filters * len(widths), n_out)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.embedding(tokens).permute(0, 2, 1)  # (N, emb, L)
        pooled = [F.relu(conv(x)).max(dim=2).values for conv in self.convs]
        return self.fc(self.dropout(torch.cat(pooled, dim=1)))


class Conv1dNet(nn.Module):
    """A 1-D conv stack over token embeddings (keras-style Sequential blocks):
    Conv1d-ReLU ×3, global max pool, Linear."""

    def __init__(
        self, vocab: int = VOCAB, n_out: int = CLASSES, emb: int = 32, ch: int = 32
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.conv1 = nn.Sequential(nn.Conv1d(emb, ch, 3, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv1d(ch, ch, 3, padding=1), nn.ReLU())
        self.conv3 = nn.Sequential(nn.Conv1d(ch, ch, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(ch, n_out)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.embed(tokens).transpose(1, 2)
        x = self.conv3(self.conv2(self.conv1(x)))
        return self.out(self.pool(x).squeeze(-1))


class MixerBlock(nn.Module):
    """Pre-norm residual MLP block: x + fc2(GELU(fc1(LayerNorm(x))))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class ResMLP(nn.Module):
    """A modern residual MLP on flattened images: stem, 3 pre-norm GELU blocks, LayerNorm, head."""

    def __init__(self, d_in: int = 784, dim: int = 128, depth: int = 3, n_out: int = 10) -> None:
        super().__init__()
        self.stem = nn.Linear(d_in, dim)
        self.blocks = nn.Sequential(*[MixerBlock(dim, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(self.blocks(self.stem(x.flatten(1)))))


class AutoEncoder(nn.Module):
    """A dense MNIST autoencoder: encoder 784-256-32 and decoder 32-256-784, SiLU."""

    def __init__(self, bottleneck: int = 32) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.SiLU(), nn.Linear(256, bottleneck)
        )
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, 256), nn.SiLU(), nn.Linear(256, 784), nn.Unflatten(1, (1, 28, 28))
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def regressor(width: int = 64) -> nn.Sequential:
    """A tabular regression MLP with ELU and PReLU: 8 -> 64 -> 64 -> 1."""
    return nn.Sequential(
        nn.Linear(8, width), nn.ELU(),
        nn.Linear(width, width), nn.PReLU(width),
        nn.Linear(width, 1),
    )  # fmt: skip


def deep_elu(depth: int = 10, width: int = 64) -> nn.Sequential:
    """A deep ELU regression MLP (one PReLU in the middle)."""
    layers: list[nn.Module] = [nn.Linear(8, width), nn.ELU()]
    for i in range(depth - 1):
        layers += [nn.Linear(width, width), nn.PReLU() if i == depth // 2 else nn.ELU()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class BiGRUClassifier(nn.Module):
    """Embeddings -> 2-layer bidirectional GRU -> concat of the last layer's final forward and
    backward hidden states -> dropout -> Linear (the usual sentiment-tutorial model)."""

    def __init__(
        self, vocab: int = VOCAB, n_out: int = CLASSES, emb: int = 32, hidden: int = 48
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, num_layers=2, bidirectional=True, batch_first=True,
                          dropout=0.1)  # fmt: skip
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(2 * hidden, n_out)

    def forward(self, tokens: Tensor) -> Tensor:
        _, hidden = self.rnn(self.embedding(tokens))  # hidden: (layers * 2, N, hidden)
        h = torch.cat((hidden[-2], hidden[-1]), dim=1)
        return self.fc(self.dropout(h))


class CLSTransformer(nn.Module):
    """ViT/BERT style: a learned [CLS] token prepended, learned positions, a pre-LN GELU
    TransformerEncoder with dropout, the final LayerNorm'd CLS state -> head."""

    def __init__(self, vocab: int = VOCAB, n_out: int = CLASSES, seq_len: int = SEQ, d: int = 32,
                 heads: int = 4, depth: int = 2) -> None:  # fmt: skip
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_emb = nn.Parameter(torch.randn(1, seq_len + 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            heads,
            dim_feedforward=4 * d,
            dropout=0.1,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_out)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.tok_emb(tokens)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_emb
        x = self.encoder(x)
        return self.head(self.ln_f(x[:, 0]))


class MobileNetV1(nn.Module):
    """MobileNet v1, small: conv_bn stem, depthwise-separable conv_dw blocks (BN, ReLU6),
    global average pool, Linear."""

    def __init__(self, n_out: int = 10) -> None:
        super().__init__()

        def conv_bn(inp: int, oup: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
                nn.BatchNorm2d(oup),
                nn.ReLU6(inplace=True),
            )

        def conv_dw(inp: int, oup: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
                nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
            )  # fmt: skip

        self.model = nn.Sequential(
            conv_bn(1, 16, 2), conv_dw(16, 32, 1), conv_dw(32, 64, 2), conv_dw(64, 64, 1),
            nn.AdaptiveAvgPool2d(1),
        )  # fmt: skip
        self.fc = nn.Linear(64, n_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.model(x)
        return self.fc(x.view(-1, 64))


class LeNet5(nn.Module):
    """The classic LeNet-5 (tanh, average pooling), as the popular PyTorch re-implementations
    write it: `feature_extractor`, `classifier`, and `forward` returning (logits, probs)."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, stride=1, padding=2), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5, stride=1), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(16, 120, kernel_size=5, stride=1), nn.Tanh(),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, n_classes))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = torch.flatten(self.feature_extractor(x), 1)
        logits = self.classifier(x)
        probs = F.softmax(logits, dim=1)
        return logits, probs


class SigmoidCNN(nn.Module):
    """A 1990s-style deep CNN: a stride-2 conv then 7 more 3×3 convs, all with sigmoid."""

    def __init__(self, depth: int = 8, ch: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, ch, 3, stride=2, padding=1), nn.Sigmoid()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(ch, ch, 3, padding=1), nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(ch, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.body(x)).flatten(1))


class SharedMLP(nn.Module):
    """ALBERT-style weight sharing: one hidden layer applied `n_repeat` times."""

    def __init__(self, dim: int = 128, n_repeat: int = 4, n_out: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(784, dim)
        self.shared = nn.Linear(dim, dim)
        self.act = nn.SiLU()
        self.n_repeat = n_repeat
        self.head = nn.Linear(dim, n_out)

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.embed(x.flatten(1)))
        for _ in range(self.n_repeat):
            h = self.act(self.shared(h))
        return self.head(h)


class ModelOutput(OrderedDict):
    """Hugging Face's `ModelOutput`, reduced: a dict whose keys are also attributes."""

    def __getattr__(self, name: str) -> Tensor:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


class TinyBertEmbeddings(nn.Module):
    def __init__(self, vocab: int, d: int, seq_len: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.position_embeddings = nn.Embedding(seq_len, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, input_ids: Tensor) -> Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        return self.dropout(
            self.LayerNorm(self.word_embeddings(input_ids) + self.position_embeddings(pos))
        )


class TinyBertForSequenceClassification(nn.Module):
    """A BERT-like classifier in Hugging Face's layout (embeddings, encoder, pooler: Linear +
    Tanh on the first token, dropout, classifier) returning a `ModelOutput` with `logits`.
    `softmax_logits`: the mistake of putting probabilities in `logits`."""

    def __init__(self, vocab: int = VOCAB, n_out: int = CLASSES, seq_len: int = SEQ, d: int = 32,
                 softmax_logits: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.embeddings = TinyBertEmbeddings(vocab, d, seq_len)
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, dropout=0.1, activation="gelu",
                                           batch_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.pooler = nn.Sequential(nn.Linear(d, d), nn.Tanh())
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(d, n_out)
        self.softmax_logits = softmax_logits

    def forward(self, input_ids: Tensor) -> ModelOutput:
        hidden = self.encoder(self.embeddings(input_ids))
        pooled = self.pooler(hidden[:, 0])
        logits = self.classifier(self.dropout(pooled))
        if self.softmax_logits:
            logits = logits.softmax(-1)
        return ModelOutput(logits=logits, last_hidden_state=hidden)


class Quantize(nn.Module):
    """Rounds its input to a grid of 1/4 (a quantized bottleneck, no straight-through
    estimator: the gradient of round is zero everywhere)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 4) / 4


class QuantizedBottleneckNet(nn.Module):
    """An encoder to a 16-d code, quantized, then a classifier on the code."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 16)
        )
        self.quant = Quantize()
        self.classifier = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.quant(self.encoder(x)))


# ====================================================================== faults by construction
Build = Callable[[], nn.Module]


def init_normal(
    build: Build, std: float, types: tuple = (nn.Linear, nn.Conv1d, nn.Conv2d)
) -> Build:
    def made() -> nn.Module:
        model = build()
        for m in model.modules():
            if isinstance(m, types):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    return made


def set_bias(build: Build, layer: str, value: float) -> Build:
    def made() -> nn.Module:
        model = build()
        nn.init.constant_(model.get_submodule(layer).bias, value)
        return model

    return made


def freeze(build: Build, *layers: str) -> Build:
    """`build`, with `requires_grad=False` on the parameters of `layers` (and on the model's own
    parameters directly under it when "" is given)."""

    def made() -> nn.Module:
        model = build()
        for name in layers:
            model.get_submodule(name).requires_grad_(False)
        return model

    return made


def params_of(*layers: str) -> Callable[[nn.Module], list[nn.Parameter]]:
    return lambda model: [p for name in layers for p in model.get_submodule(name).parameters()]


# ====================================================================== cases
def healthy(name: str, family: str, what: str, build: Build, data: Callable, lr: float,
            **kw: object) -> Case:  # fmt: skip
    return Case(name, family, what, build, data, lr, **kw)  # type: ignore[arg-type]


CASES: list[Case] = [
    # ------------------------------------------------------------------ healthy
    healthy(
        "vgg",
        "cnn",
        "torchvision-style VGG, MaxPool, Dropout, SGD momentum",
        VGG,
        tasks.mnist,
        0.1,
        opt="sgdm",
    ),
    healthy(
        "textcnn",
        "cnn1d",
        "Kim TextCNN over token embeddings, Adam",
        TextCNN,
        toks,
        3e-3,
        opt="adam",
    ),
    healthy(
        "resmlp-gelu-ln",
        "mlp",
        "pre-norm residual GELU/LayerNorm MLP, Adam",
        ResMLP,
        tasks.mnist,
        1e-3,
        opt="adam",
    ),
    healthy(
        "autoencoder",
        "autoencoder",
        "dense SiLU autoencoder, MSE, Adam",
        AutoEncoder,
        mnist_autoencode,
        1e-3,
        opt="adam",
        loss=mse,
        metric=r2,
    ),
    healthy(
        "regression-elu-prelu",
        "regression",
        "tabular MLP with ELU and PReLU, MSE, Adam",
        regressor,
        regression,
        3e-3,
        opt="adam",
        loss=mse,
        metric=r2,
    ),
    healthy(
        "bigru", "rnn", "2-layer bidirectional GRU, Adam", BiGRUClassifier, toks, 3e-3, opt="adam"
    ),
    healthy(
        "cls-transformer",
        "transformer",
        "CLS token, pre-LN GELU encoder, Adam",
        CLSTransformer,
        toks,
        1e-3,
        opt="adam",
        epochs=3,
    ),
    healthy(
        "mobilenet",
        "cnn",
        "depthwise-separable MobileNet v1 with BN and ReLU6, Adam",
        MobileNetV1,
        mnist_small,
        1e-2,
        opt="adam",
    ),
    healthy(
        "lenet5",
        "cnn",
        "classic tanh LeNet-5 returning (logits, probs), SGD momentum",
        LeNet5,
        mnist_small,
        0.05,
        opt="sgdm",
        loss=first_ce,
        metric=first_accuracy,
    ),
    healthy(
        "shared-mlp",
        "mlp",
        "ALBERT-style shared hidden layer applied 4 times, Adam",
        SharedMLP,
        tasks.mnist,
        1e-3,
        opt="adam",
    ),
    healthy(
        "hf-bert",
        "transformer",
        "Hugging Face style model returning ModelOutput, Adam",
        TinyBertForSequenceClassification,
        toks,
        1e-3,
        opt="adam",
        epochs=3,
        loss=hf_loss,
        metric=hf_accuracy,
    ),
    # ------------------------------------------------------------------ faulty
    Case(
        "vgg-softmax",
        "cnn",
        "VGG with nn.Softmax closing the classifier, into cross_entropy",
        functools.partial(VGG, softmax=True),
        tasks.mnist,
        0.1,
        opt="sgdm",
        expect=(Expect("probabilities"),),
    ),
    Case(
        "vgg-nan",
        "cnn",
        "VGG, SGD momentum at lr 1e3: diverges to NaN",
        VGG,
        mnist_small,
        1e3,
        opt="sgdm",
        epochs=1,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "textcnn-dead-bias",
        "cnn1d",
        "TextCNN, conv biases -10: every F.relu(conv) is zero",
        lambda: _textcnn_dead(),
        toks,
        3e-3,
        opt="adam",
        expect=(Expect("dead_activations"),),
    ),
    Case(
        "conv1d-dead-bias",
        "cnn1d",
        "1-D conv stack, conv2's bias -10: its ReLUs never fire",
        set_bias(Conv1dNet, "conv2.0", -10.0),
        toks,
        3e-3,
        opt="adam",
        expect=(Expect("dead_activations", "conv2"),),
    ),
    Case(
        "conv1d-init-huge",
        "cnn1d",
        "1-D conv stack, conv weights N(0, 1)",
        init_normal(Conv1dNet, 1.0, (nn.Conv1d,)),
        toks,
        1e-4,
        opt="adam",
        expect=(Expect("exploding"),),
    ),
    Case(
        "resmlp-blocks-not-in-optimizer",
        "mlp",
        "residual MLP, optimizer built from stem and head only (blocks forgotten)",
        ResMLP,
        tasks.mnist,
        1e-3,
        opt="adam",
        params=params_of("stem", "norm", "head"),
        expect=(Expect("not_updated", "blocks"),),
    ),
    Case(
        "resmlp-overfit",
        "mlp",
        "residual MLP, 200 training images, 40 epochs",
        ResMLP,
        functools.partial(tasks.mnist, n_train=200, bs=32),
        1e-3,
        opt="adam",
        epochs=40,
        expect=(Expect("overfitting"),),
    ),
    Case(
        "autoencoder-lr-tiny",
        "autoencoder",
        "autoencoder, SGD at lr 1e-4",
        AutoEncoder,
        mnist_autoencode,
        1e-4,
        loss=mse,
        metric=r2,
        expect=(Expect("no_learning"),),
    ),
    Case(
        "regression-nan",
        "regression",
        "regression MLP, SGD at lr 0.5: diverges",
        regressor,
        regression,
        0.5,
        loss=mse,
        metric=r2,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "regression-raw-features",
        "regression",
        "unstandardised tabular features",
        regressor,
        functools.partial(regression, raw=True),
        1e-3,
        opt="adam",
        loss=mse,
        metric=r2,
        expect=(Expect("inputs"),),
    ),
    Case(
        "regression-overfit",
        "regression",
        "regression MLP, 100 noisy samples, 300 epochs",
        functools.partial(regressor, 256),
        functools.partial(regression, n_train=100, bs=50, noise=0.5),
        1e-3,
        opt="adam",
        epochs=300,
        loss=mse,
        metric=r2,
        expect=(Expect("overfitting"),),
    ),
    Case(
        "elu-init-tiny",
        "regression",
        "10-layer ELU/PReLU MLP, weights N(0, 0.01²)",
        init_normal(deep_elu, 0.01),
        regression,
        1e-3,
        opt="adam",
        loss=mse,
        metric=r2,
        expect=(Expect("vanishing"),),
    ),
    Case(
        "bigru-shuffled-labels",
        "rnn",
        "bidirectional GRU, labels shuffled",
        BiGRUClassifier,
        shuffled_toks,
        3e-3,
        opt="adam",
        expect=(Expect("chance"),),
    ),
    Case(
        "cls-transformer-frozen",
        "transformer",
        "CLS Transformer, embeddings and encoder frozen (head-only fine-tune left on)",
        freeze(CLSTransformer, "tok_emb", "encoder"),
        toks,
        1e-3,
        opt="adam",
        expect=(Expect("frozen", "encoder"),),
    ),
    Case(
        "mobilenet-raw-pixels",
        "cnn",
        "MobileNet on raw 0-255 pixels",
        MobileNetV1,
        functools.partial(mnist_small, raw=True),
        1e-2,
        opt="adam",
        expect=(Expect("inputs"),),
    ),
    Case(
        "lenet5-init-huge",
        "cnn",
        "tanh LeNet-5, weights N(0, 1)",
        init_normal(LeNet5, 1.0),
        mnist_small,
        0.01,
        opt="sgdm",
        loss=first_ce,
        metric=first_accuracy,
        expect=(Expect("saturation", "feature_extractor"),),
    ),
    Case(
        "sigmoid-cnn-deep",
        "cnn",
        "8 sigmoid conv layers, SGD",
        SigmoidCNN,
        mnist_small,
        0.1,
        expect=(Expect("vanishing_gradients"),),
    ),
    Case(
        "shared-mlp-init-huge",
        "mlp",
        "weight-shared MLP, shared layer N(0, 0.5²)",
        lambda: _shared_huge(),
        tasks.mnist,
        1e-4,
        opt="adam",
        expect=(Expect("exploding", "shared"),),
    ),
    Case(
        "hf-bert-softmax-logits",
        "transformer",
        "HF-style model putting probabilities in logits",
        functools.partial(TinyBertForSequenceClassification, softmax_logits=True),
        toks,
        1e-3,
        opt="adam",
        epochs=3,
        loss=hf_loss,
        metric=hf_accuracy,
        expect=(Expect("probabilities"),),
    ),
    Case(
        "quantized-no-ste",
        "mlp",
        "torch.round bottleneck without straight-through estimator",
        QuantizedBottleneckNet,
        tasks.mnist,
        0.1,
        expect=(Expect("no_gradient", "encoder"),),
    ),
    Case(
        "textcnn-lr-high",
        "cnn1d",
        "TextCNN, Adam at lr 1",
        TextCNN,
        toks,
        1.0,
        opt="adam",
        expect=(Expect("oscillation"),),
    ),
]


def _textcnn_dead() -> nn.Module:
    model = TextCNN()
    for conv in model.convs:
        nn.init.constant_(conv.bias, -10.0)
    return model


def _shared_huge() -> nn.Module:
    model = SharedMLP()
    nn.init.normal_(model.shared.weight, 0.0, 0.5)
    nn.init.zeros_(model.shared.bias)
    return model


assert len({c.name for c in CASES}) == len(CASES)

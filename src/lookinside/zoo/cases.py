"""The labelled cases of the zoo: healthy runs (nothing may be reported above `info`) and
faulty ones (each with the findings it must produce), across MLPs, CNNs, ResNets, RNNs and
Transformers. Each trains in a few seconds on one CPU core.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..functional import accuracy, accuracy_multi
from ..models import cnn
from . import models as M
from . import tasks
from .run import ORACLE, Case, Expect

Build = Callable[[], nn.Module]
WEIGHTED = (nn.Linear, nn.Conv2d)


def init_normal(build: Build, std: float) -> Build:
    """`build`, with every linear and conv weight drawn from N(0, std²) and biases zeroed."""

    def made() -> nn.Module:
        model = build()
        for m in model.modules():
            if isinstance(m, WEIGHTED):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    return made


def kaiming(build: Build) -> Build:
    """`build`, with kaiming-normal linear and conv weights (for ReLU) and zero biases."""

    def made() -> nn.Module:
        model = build()
        for m in model.modules():
            if isinstance(m, WEIGHTED):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    return made


def bias(build: Build, layer: str, value: float) -> Build:
    """`build`, with the bias of submodule `layer` set to `value` (a negative one kills ReLUs)."""

    def made() -> nn.Module:
        model = build()
        bias = model.get_submodule(layer).bias
        assert isinstance(bias, torch.Tensor)
        nn.init.constant_(bias, value)
        return model

    return made


def frozen(build: Build, keep: str) -> Build:
    """`build`, with `requires_grad=False` on every parameter outside submodule `keep`."""

    def made() -> nn.Module:
        model = build()
        model.requires_grad_(False)
        model.get_submodule(keep).requires_grad_(True)
        return model

    return made


def only(layer: str) -> Callable[[nn.Module], Iterable[nn.Parameter]]:
    """The optimizer gets the parameters of `layer` only (the others are left out by mistake)."""
    return lambda model: model.get_submodule(layer).parameters()


def with_softmax(build: Build) -> Build:
    """`build`, followed by `nn.Softmax`: probabilities handed to `cross_entropy`."""
    return lambda: nn.Sequential(build(), nn.Softmax(dim=1))


def bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Multi-label loss: binary cross-entropy on logits."""
    return F.binary_cross_entropy_with_logits(pred, target)


def dict_loss(out: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the `logits` entry of a model's dict output."""
    return F.cross_entropy(out["logits"], target)


def dict_accuracy(out: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Accuracy of the `logits` entry."""
    return accuracy(out["logits"], target)


mnist = tasks.mnist
raw_mnist = functools.partial(tasks.mnist, raw=True)
shuffled_mnist = functools.partial(tasks.mnist, shuffle_labels=True)
tiny_mnist = functools.partial(tasks.mnist, n_train=256, bs=32)
short_mnist = functools.partial(tasks.mnist, n_train=768)
pairs_mnist = functools.partial(tasks.mnist, n_train=512, bs=2)
multilabel_mnist = functools.partial(tasks.mnist, multilabel=True)
toks = tasks.tokens
shuffled_toks = functools.partial(tasks.tokens, shuffle_labels=True)
VOCAB, CLASSES, SEQ = 24, 4, 12

mlp2 = functools.partial(M.mlp, [784, 100, 100, 10])
mlp3 = functools.partial(M.mlp, [784, 100, 100, 100, 10])
deep12 = functools.partial(M.mlp, [784] + [100] * 12 + [10])
lstm = functools.partial(M.RNNClassifier, VOCAB, CLASSES)
gru = functools.partial(M.RNNClassifier, VOCAB, CLASSES, cell="gru")
post_ln = functools.partial(M.TransformerClassifier, VOCAB, CLASSES, SEQ)
pre_ln = functools.partial(M.TransformerClassifier, VOCAB, CLASSES, SEQ, norm_first=True)
lesson_bn = functools.partial(cnn, (8, 16, 32, 64, 64), norm="batch")


def healthy(name: str, family: str, what: str, build: Build, data: Callable, lr: float,
            **kw: object) -> Case:  # fmt: skip
    """A case that must get no warning and no error."""
    return Case(name, family, what, build, data, lr, **kw)  # type: ignore[arg-type]


CASES: list[Case] = [
    # ---------------------------------------------------------------- healthy
    healthy("mlp", "mlp", "ReLU MLP, PyTorch init, SGD", mlp2, mnist, 0.1),
    healthy(
        "mlp-bn-before",
        "mlp",
        "Linear-BatchNorm-ReLU",
        functools.partial(mlp3, norm="before"),
        mnist,
        0.1,
    ),
    healthy(
        "mlp-bn-after",
        "mlp",
        "Linear-ReLU-BatchNorm",
        functools.partial(mlp3, norm="after"),
        mnist,
        0.1,
    ),
    healthy("mlp-tanh", "mlp", "tanh MLP, SGD", functools.partial(mlp2, act=nn.Tanh), mnist, 0.1),
    healthy(
        "mlp-sigmoid",
        "mlp",
        "sigmoid MLP, Adam",
        functools.partial(mlp2, act=nn.Sigmoid),
        mnist,
        1e-3,
        opt="adam",
    ),
    healthy(
        "mlp-modulelist",
        "mlp",
        "MLP class with a ModuleList, Adam",
        lambda: M.ListMLP([784, 128, 64, 10]),
        mnist,
        1e-3,
        opt="adam",
    ),
    healthy(
        "mlp-multilabel",
        "mlp",
        "three yes/no targets, BCE on logits",
        lambda: M.mlp([784, 100, 100, 3]),
        multilabel_mnist,
        1e-3,
        opt="adam",
        loss=bce,
        metric=accuracy_multi,
    ),
    healthy(
        "mlp-dict",
        "mlp",
        "a body that returns a dict",
        lambda: M.DictOutputNet([784, 100, 100, 10]),
        mnist,
        1e-3,
        opt="adam",
        loss=dict_loss,
        metric=dict_accuracy,
    ),
    healthy("mlp-watch", "mlp", "hand-written loop under watch()", mlp2, mnist, 0.1, loop="watch"),
    healthy("cnn-bn", "cnn", "the lesson's CNN with BatchNorm", lesson_bn, mnist, 0.4, epochs=1),
    healthy(
        "cnn-general",
        "cnn",
        "the lesson's CNN with GeneralRelu",
        functools.partial(cnn, act="general"),
        mnist,
        0.4,
        epochs=1,
    ),
    healthy(
        "resnet", "resnet", "torchvision-style ResNet, Adam", M.ResNet, mnist, 3e-3, opt="adam"
    ),
    healthy("lstm", "rnn", "LSTM over embeddings, Adam", lstm, toks, 3e-3, opt="adam"),
    healthy("gru", "rnn", "GRU over embeddings, Adam", gru, toks, 3e-3, opt="adam"),
    healthy(
        "transformer-post-ln",
        "transformer",
        "post-LN TransformerEncoder, Adam",
        post_ln,
        toks,
        1e-3,
        opt="adam",
    ),
    healthy(
        "transformer-pre-ln",
        "transformer",
        "pre-LN TransformerEncoder, Adam",
        pre_ln,
        toks,
        1e-3,
        opt="adam",
    ),
    # ---------------------------------------------------------------- faulty: MLP
    Case(
        "mlp-init-tiny",
        "mlp",
        "12 ReLU layers, weights N(0, 0.01²)",
        init_normal(deep12, 0.01),
        mnist,
        0.1,
        expect=(Expect("vanishing", first=True),),
    ),
    Case(
        "mlp-init-huge",
        "mlp",
        "6 ReLU layers, weights N(0, 1)",
        init_normal(functools.partial(M.mlp, [784] + [100] * 6 + [10]), 1.0),
        mnist,
        0.01,
        expect=(Expect("exploding", first=True),),
    ),
    Case(
        "mlp-sigmoid-deep",
        "mlp",
        "10 sigmoid layers, SGD",
        functools.partial(M.mlp, [784] + [100] * 10 + [10], act=nn.Sigmoid),
        mnist,
        0.1,
        expect=(Expect("vanishing_gradients"),),
    ),
    Case(
        "mlp-tanh-saturated",
        "mlp",
        "tanh MLP, weights N(0, 1)",
        init_normal(functools.partial(mlp2, act=nn.Tanh), 1.0),
        mnist,
        0.01,
        expect=(Expect("saturation", "2"),),
    ),
    Case(
        "mlp-dead-bias",
        "mlp",
        "first layer's bias -10: its ReLUs never fire",
        bias(mlp2, "1", -10.0),
        mnist,
        0.1,
        expect=(Expect("dead_activations", "2"),),
    ),
    Case(
        "mlp-dying-lr",
        "mlp",
        "ReLU MLP, SGD with momentum at lr 0.6",
        mlp3,
        mnist,
        0.6,
        opt="sgdm",
        expect=(Expect("dead_activations"),),
    ),
    Case(
        "mlp-nan",
        "mlp",
        "deep MLP diverging under SGD",
        kaiming(functools.partial(M.mlp, [784] + [100] * 6 + [10])),
        mnist,
        50.0,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "mlp-oscillating",
        "mlp",
        "Adam at lr 0.05",
        mlp3,
        mnist,
        0.05,
        opt="adam",
        expect=(Expect("oscillation"),),
    ),
    Case(
        "mlp-lr-tiny", "mlp", "SGD at lr 1e-5", mlp2, mnist, 1e-5, expect=(Expect("no_learning"),)
    ),
    Case(
        "mlp-not-in-optimizer",
        "mlp",
        "the optimizer holds the last layer only",
        mlp3,
        mnist,
        0.1,
        params=only("7"),
        expect=(Expect("not_updated", "1"),),
    ),
    Case(
        "mlp-frozen",
        "mlp",
        "every layer but the last frozen",
        frozen(mlp3, "7"),
        mnist,
        0.1,
        expect=(Expect("frozen", "1"),),
    ),
    Case(
        "mlp-shuffled-labels",
        "mlp",
        "labels shuffled",
        mlp2,
        shuffled_mnist,
        0.1,
        expect=(Expect("chance"),),
    ),
    Case(
        "mlp-softmax",
        "mlp",
        "softmax before cross_entropy",
        with_softmax(mlp2),
        mnist,
        0.1,
        expect=(Expect("probabilities"),),
    ),
    Case(
        "mlp-raw-pixels",
        "mlp",
        "raw 0-255 pixels",
        mlp2,
        raw_mnist,
        0.01,
        expect=(Expect("inputs", first=True),),
    ),
    Case(
        "mlp-overfit",
        "mlp",
        "256 training images, 30 epochs",
        mlp3,
        tiny_mnist,
        0.1,
        epochs=30,
        expect=(Expect("overfitting"),),
    ),
    Case(
        "mlp-watch-dead",
        "mlp",
        "watch(): first layer's bias -10",
        bias(mlp2, "1", -10.0),
        mnist,
        0.1,
        loop="watch",
        expect=(Expect("dead_activations", "2"),),
    ),
    Case(
        "mlp-dict-dead",
        "mlp",
        "dict output: hidden layer's bias -10",
        bias(lambda: M.DictOutputNet([784, 100, 100, 10]), "body.layers.2", -10.0),
        mnist,
        1e-3,
        opt="adam",
        loss=dict_loss,
        metric=dict_accuracy,
        expect=(Expect("dead_activations", "body"),),
    ),
    # ---------------------------------------------------------------- faulty: CNN
    Case(
        "cnn-default-init",
        "cnn",
        "the lesson's CNN, PyTorch init, lr 0.9",
        functools.partial(cnn, init="default"),
        mnist,
        0.9,
        epochs=1,
        expect=(Expect("rise_and_crash"), Expect("dead_activations")),
    ),
    Case(
        "cnn-init-tiny",
        "cnn",
        "the lesson's CNN, weights N(0, 0.01²)",
        init_normal(functools.partial(cnn, (8, 16, 32, 64, 64)), 0.01),
        mnist,
        0.4,
        epochs=1,
        expect=(Expect("vanishing", first=True),),
    ),
    Case(
        "cnn-nan",
        "cnn",
        "the lesson's CNN at lr 1e5",
        cnn,
        mnist,
        1e5,
        epochs=1,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "cnn-lr-100",
        "cnn",
        "the lesson's CNN at lr 100, 12 steps: huge but finite",
        cnn,
        short_mnist,
        100.0,
        epochs=1,
        expect=(Expect("exploding", "0"),),
    ),
    Case(
        "cnn-dead-bias",
        "cnn",
        "second conv's bias -10",
        bias(cnn, "1.0", -10.0),
        mnist,
        0.4,
        epochs=1,
        expect=(Expect("dead_activations", "1"),),
    ),
    Case(
        "cnn-raw-pixels",
        "cnn",
        "raw 0-255 pixels",
        cnn,
        raw_mnist,
        0.4,
        epochs=1,
        expect=(Expect("inputs", first=True),),
    ),
    Case(
        "cnn-shuffled-labels",
        "cnn",
        "labels shuffled",
        lesson_bn,
        shuffled_mnist,
        0.4,
        epochs=1,
        expect=(Expect("chance"),),
    ),
    Case(
        "cnn-bn-batch-2",
        "cnn",
        "the lesson's CNN with BatchNorm, batches of 2",
        lesson_bn,
        pairs_mnist,
        0.4,
        epochs=1,
        expect=(Expect("small_batch", first=True),),
    ),
    # ---------------------------------------------------------------- faulty: ResNet
    Case(
        "resnet-lr-2",
        "resnet",
        "SGD at lr 2",
        M.ResNet,
        mnist,
        2.0,
        expect=(Expect("dead_activations"),),
    ),
    Case(
        "resnet-lr-huge",
        "resnet",
        "SGD at lr 1e4: huge but finite",
        M.ResNet,
        mnist,
        1e4,
        epochs=1,
        expect=(Expect("exploding", "conv1"),),
    ),
    Case(
        "resnet-not-in-optimizer",
        "resnet",
        "the optimizer holds the classifier only",
        M.ResNet,
        mnist,
        3e-3,
        opt="adam",
        params=only("fc"),
        expect=(Expect("not_updated", "layer1"),),
    ),
    Case(
        "resnet-overfit",
        "resnet",
        "256 training images, 20 epochs",
        M.ResNet,
        tiny_mnist,
        3e-3,
        opt="adam",
        epochs=20,
        expect=(Expect("overfitting"),),
    ),
    Case(
        "resnet-lr-tiny",
        "resnet",
        "Adam at lr 1e-7",
        M.ResNet,
        mnist,
        1e-7,
        opt="adam",
        expect=(Expect("no_learning"),),
    ),
    # ---------------------------------------------------------------- faulty: RNN
    Case(
        "lstm-lr-tiny",
        "rnn",
        "LSTM, Adam at lr 1e-7",
        lstm,
        toks,
        1e-7,
        opt="adam",
        expect=(Expect("no_learning"),),
    ),
    Case(
        "gru-shuffled-labels",
        "rnn",
        "GRU, labels shuffled",
        gru,
        shuffled_toks,
        3e-3,
        opt="adam",
        expect=(Expect("chance"),),
    ),
    Case(
        "lstm-softmax",
        "rnn",
        "LSTM, softmax before cross_entropy",
        functools.partial(lstm, softmax=True),
        toks,
        3e-3,
        opt="adam",
        expect=(Expect("probabilities"),),
    ),
    Case(
        "lstm-lr-huge",
        "rnn",
        "LSTM, SGD at lr 1e6: huge but finite",
        lstm,
        toks,
        1e6,
        expect=(Expect("exploding", "emb"),),
    ),
    Case(
        "rnn-nan",
        "rnn",
        "ReLU RNN, SGD at lr 1",
        functools.partial(lstm, cell="rnn"),
        toks,
        1.0,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "gru-oscillating",
        "rnn",
        "GRU, Adam at lr 1",
        gru,
        toks,
        1.0,
        opt="adam",
        expect=(Expect("oscillation"),),
    ),
    # ---------------------------------------------------------------- faulty: Transformer
    Case(
        "transformer-lr-high",
        "transformer",
        "post-LN, Adam at lr 0.05",
        post_ln,
        toks,
        0.05,
        opt="adam",
        expect=(Expect("oscillation"),),
    ),
    Case(
        "transformer-lr-tiny",
        "transformer",
        "pre-LN, Adam at lr 1e-7",
        pre_ln,
        toks,
        1e-7,
        opt="adam",
        expect=(Expect("no_learning"),),
    ),
    Case(
        "transformer-not-in-optimizer",
        "transformer",
        "the optimizer holds the head only",
        post_ln,
        toks,
        1e-3,
        opt="adam",
        params=only("head"),
        expect=(Expect("not_updated", "encoder"),),
    ),
    Case(
        "transformer-shuffled-labels",
        "transformer",
        "pre-LN, labels shuffled",
        pre_ln,
        shuffled_toks,
        1e-3,
        opt="adam",
        expect=(Expect("chance"),),
    ),
    Case(
        "transformer-nan",
        "transformer",
        "post-LN, SGD at lr 1e5",
        post_ln,
        toks,
        1e5,
        expect=(Expect("non_finite", ORACLE),),
    ),
]


def case_named(name: str) -> Case:
    """The case called `name`."""
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(f"no zoo case named {name!r}")

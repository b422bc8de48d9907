"""CASES: labelled training runs in styles the zoo does not use (tabular models with
embeddings, wide-and-deep, 1-D CNNs on signals, GroupNorm / InstanceNorm CNNs, SiLU / GELU /
Mish, functional-only forwards, weight-tied language model, a VAE, label smoothing and focal
loss, AdamW + cosine and gradient accumulation in a hand loop, tuple outputs, a deep plain
CNN), healthy and broken by construction.

Every setting below was fixed from its author's own checks (hooks, healthy twins) before the
diagnosis was ever run on these cases.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lookinside import DataLoaders, TensorLoader
from lookinside.functional import accuracy
from lookinside.zoo import tasks
from lookinside.zoo.run import OPTIMIZERS, ORACLE, Case, Expect

# ============================================================================ data


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


CARDS = (8, 12, 5)  # three categorical features
N_CONT = 5


@functools.cache
def _tabular(n_train: int, n_valid: int, seed: int = 0) -> dict[str, Tensor]:
    """Synthetic census-like rows: 3 categorical features and 5 continuous ones of very
    different scales (age ~ 18-80, income ~ 5e4, hours ~ 40, a ratio ~ 0.005, a count ~ 3).
    A latent score mixes category effects and non-linear functions of the continuous ones;
    `y3` is its tercile (3 balanced classes), `y2` whether it is above the median."""
    g = _gen(seed)
    n = n_train + n_valid
    cats = torch.stack([torch.randint(0, c, (n,), generator=g) for c in CARDS], 1)
    age = 18 + 62 * torch.rand(n, generator=g)
    income = torch.exp(10.8 + 0.5 * torch.randn(n, generator=g))
    hours = 40 + 12 * torch.randn(n, generator=g)
    ratio = 0.005 + 0.002 * torch.randn(n, generator=g)
    count = torch.poisson(torch.full((n,), 3.0), generator=g)
    raw = torch.stack([age, income, hours, ratio, count], 1)
    mu, sd = raw[:n_train].mean(0), raw[:n_train].std(0)
    z = (raw - mu) / sd
    eff = [torch.randn(c, generator=g) for c in CARDS]
    latent = (
        eff[0][cats[:, 0]]
        + eff[1][cats[:, 1]]
        + 0.8 * (z[:, 0] ** 2 - 1)
        + torch.sin(2 * z[:, 1])
        + 0.7 * z[:, 2] * (cats[:, 2] == 1).float()
        - 0.7 * z[:, 2] * (cats[:, 2] == 3).float()
        + 0.6 * z[:, 3]
        + 0.3 * z[:, 4]
        + 0.3 * torch.randn(n, generator=g)
    )
    q1, q2 = latent[:n_train].quantile(torch.tensor([1 / 3, 2 / 3]))
    y3 = (latent > q1).long() + (latent > q2).long()
    y2 = (latent > latent[:n_train].median()).float()
    return {"cats": cats, "raw": raw, "z": z, "y3": y3, "y2": y2}


class PairLoader:
    """Batches `((cats, conts), y)` from a TensorLoader of (cats, conts, y): the Learner calls
    `model(cats, conts)`."""

    def __init__(self, inner: TensorLoader) -> None:
        self.inner = inner

    @property
    def device(self) -> torch.device:
        return self.inner.device

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[tuple[tuple[Tensor, Tensor], Tensor]]:
        for c, x, y in self.inner:
            yield (c, x), y


def tabular(
    n_train: int = 4000,
    n_valid: int = 1000,
    bs: int = 64,
    raw: bool = False,
    binary: bool = False,
) -> DataLoaders:
    """The tabular task: inputs `(cats, conts)`, standardised conts unless `raw`."""
    d = _tabular(n_train, n_valid)
    conts = d["raw"] if raw else d["z"]
    y = d["y2"] if binary else d["y3"]
    c, x = d["cats"], conts
    tr = TensorLoader(c[:n_train], x[:n_train], y[:n_train], bs=bs, shuffle=True)
    va = TensorLoader(c[n_train:], x[n_train:], y[n_train:], bs=2 * bs)
    return DataLoaders(PairLoader(tr), PairLoader(va), device=torch.device("cpu"))


@functools.cache
def _signals(n: int, length: int = 128, seed: int = 1) -> tuple[Tensor, Tensor]:
    """1-D signals of 4 shapes (sine, square, sawtooth, triangle) with random frequency,
    phase, amplitude and offset, plus noise; (N, 1, L) and labels 0-3."""
    g = _gen(seed)
    t = torch.linspace(0, 1, length)
    y = torch.randint(0, 4, (n,), generator=g)
    freq = 2 + 6 * torch.rand(n, 1, generator=g)
    phase = torch.rand(n, 1, generator=g)
    amp = 0.5 + torch.rand(n, 1, generator=g)
    off = 0.3 * torch.randn(n, 1, generator=g)
    u = (freq * t + phase) % 1.0  # position in the cycle, [0, 1)
    sine = torch.sin(2 * math.pi * u)
    square = torch.where(u < 0.5, 1.0, -1.0)
    saw = 2 * u - 1
    tri = 1 - 4 * (u - 0.5).abs()
    shapes = torch.stack([sine, square, saw, tri], 1)  # (n, 4, L)
    x = shapes[torch.arange(n), y] * amp + off + 0.3 * torch.randn(n, length, generator=g)
    return x[:, None, :], y


def signals(
    n_train: int = 3000, n_valid: int = 600, bs: int = 64, shuffle_labels: bool = False
) -> DataLoaders:
    x, y = _signals(n_train + n_valid)
    xt, yt, xv, yv = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    if shuffle_labels:
        yt = yt[torch.randperm(n_train, generator=_gen(7))]
    return DataLoaders.from_tensors(xt, yt, xv, yv, bs=bs)


@functools.cache
def _spirals(n: int, seed: int = 2) -> tuple[Tensor, Tensor]:
    """Three interleaved spiral arms in 2-D, noisy; standardised to mean 0, std 1."""
    g = _gen(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    r = torch.rand(n, generator=g)
    theta = 3.5 * r + y * (2 * math.pi / 3) + 0.15 * torch.randn(n, generator=g)
    x = torch.stack([r * torch.cos(theta * 1.0 + r * 2), r * torch.sin(theta + r * 2)], 1)
    x = (x - x.mean(0)) / x.std(0)
    return x, y


def spirals(n_train: int = 3000, n_valid: int = 900, bs: int = 64) -> DataLoaders:
    x, y = _spirals(n_train + n_valid)
    return DataLoaders.from_tensors(x[:n_train], y[:n_train], x[n_train:], y[n_train:], bs=bs)


@functools.cache
def _regression(n: int, seed: int = 3) -> tuple[Tensor, Tensor]:
    """y = a smooth non-linear function of 8 standard-normal features, plus noise; (N, 1)."""
    g = _gen(seed)
    x = torch.randn(n, 8, generator=g)
    w = torch.randn(8, generator=g)
    y = x @ w + torch.sin(2 * x[:, 0]) * 2 + x[:, 1] * x[:, 2] + 0.3 * torch.randn(n, generator=g)
    return x, y[:, None]


def regression(n_train: int = 3000, n_valid: int = 600, bs: int = 64) -> DataLoaders:
    x, y = _regression(n_train + n_valid)
    return DataLoaders.from_tensors(x[:n_train], y[:n_train], x[n_train:], y[n_train:], bs=bs)


LM_VOCAB, LM_LEN = 32, 16


@functools.cache
def _lm(n: int, seed: int = 4) -> tuple[Tensor, Tensor]:
    """Token sequences x_{t+1} = (x_t + d) mod 32 with d in {1, 2, 3, 5} per sequence and 5 %
    random tokens; inputs are tokens 0..14, targets tokens 1..15 (next-token prediction)."""
    g = _gen(seed)
    start = torch.randint(0, LM_VOCAB, (n, 1), generator=g)
    d = torch.tensor([1, 2, 3, 5])[torch.randint(0, 4, (n, 1), generator=g)]
    seq = (start + d * torch.arange(LM_LEN)) % LM_VOCAB
    noise = torch.rand(n, LM_LEN, generator=g) < 0.05
    seq = torch.where(noise, torch.randint(0, LM_VOCAB, (n, LM_LEN), generator=g), seq)
    return seq[:, :-1].contiguous(), seq[:, 1:].contiguous()


def lm(n_train: int = 3000, n_valid: int = 600, bs: int = 64) -> DataLoaders:
    x, y = _lm(n_train + n_valid)
    return DataLoaders.from_tensors(x[:n_train], y[:n_train], x[n_train:], y[n_train:], bs=bs)


def mnist_autoencode(n_train: int = 4000, n_valid: int = 1000, bs: int = 64) -> DataLoaders:
    """MNIST images (normalised) as inputs, their [0, 1] pixels (flattened) as targets."""
    d = tasks.mnist(n_train, n_valid, bs)
    x, xv = d.train.tensors[0], d.valid.tensors[0]  # type: ignore[union-attr]

    def pix(t: Tensor) -> Tensor:
        return (t * tasks.MNIST_STD + tasks.MNIST_MEAN).clamp(0, 1).flatten(1)

    return DataLoaders.from_tensors(x, pix(x), xv, pix(xv), bs=bs)


mnist = tasks.mnist
mnist32 = functools.partial(tasks.mnist, bs=32)
small_mnist32 = functools.partial(tasks.mnist, n_train=2000, n_valid=500, bs=32)

# ============================================================================ losses, metrics


def binary_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    return ((pred > 0).float() == target).float().mean()


def bce(pred: Tensor, target: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(pred, target)


def focal_loss(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    """Multi-class focal loss (Lin et al.): cross-entropy scaled by (1 - p_true)^gamma."""
    logp = F.log_softmax(pred, -1).gather(1, target[:, None])[:, 0]
    return (-((1 - logp.exp()) ** gamma) * logp).mean()


smooth_ce = functools.partial(F.cross_entropy, label_smoothing=0.1)


def first_ce(out: tuple[Tensor, Tensor], target: Tensor) -> Tensor:
    """Cross-entropy on the first element of a (logits, features) output."""
    return F.cross_entropy(out[0], target)


def first_accuracy(out: tuple[Tensor, Tensor], target: Tensor) -> Tensor:
    return accuracy(out[0], target)


def lm_loss(pred: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1))


def lm_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    return (pred.argmax(-1) == target).float().mean()


def vae_loss(out: tuple[Tensor, Tensor, Tensor], target: Tensor) -> Tensor:
    """Bernoulli reconstruction (summed over pixels) plus the KL to N(0, I), per image."""
    recon, mu, logvar = out
    rec = F.binary_cross_entropy_with_logits(recon, target, reduction="sum") / len(target)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum() / len(target)
    return rec + kl


def mse(pred: Tensor, target: Tensor) -> Tensor:
    return F.mse_loss(pred, target)


# ============================================================================ optimizers for
# the hand loop: the harness' watch loop calls opt.step() and opt.zero_grad() every batch;
# these objects do what a hand-written loop does around a real torch optimizer.


class CosineAdamW:
    """AdamW whose lr follows a cosine from `lr` to 0 over `total` steps (LambdaLR), stepped
    after every optimizer step, as a hand loop does."""

    def __init__(self, params: Any, lr: float, total: int, weight_decay: float = 0.01) -> None:
        self.opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
        )
        self.param_groups = self.opt.param_groups

    def step(self) -> None:
        self.opt.step()
        self.sched.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none=set_to_none)


class Accumulate:
    """Adam stepped every `every` batches on the summed gradients (gradient accumulation):
    the loop's step and zero_grad calls in between are no-ops."""

    def __init__(self, params: Any, lr: float, every: int = 2) -> None:
        self.opt = torch.optim.Adam(params, lr=lr)
        self.every, self.calls_step, self.calls_zero = every, 0, 0
        self.param_groups = self.opt.param_groups

    def step(self) -> None:
        self.calls_step += 1
        if self.calls_step % self.every == 0:
            self.opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.calls_zero += 1
        if self.calls_zero % self.every == 0:
            self.opt.zero_grad(set_to_none=set_to_none)


# spirals: 3000 / 64 = 47 batches per epoch, 6 epochs
OPTIMIZERS["adamw-cosine"] = functools.partial(CosineAdamW, total=47 * 6)  # type: ignore[assignment]
OPTIMIZERS["adam-accum2"] = Accumulate  # type: ignore[assignment]
OPTIMIZERS["sgdm-nesterov"] = functools.partial(  # type: ignore[assignment]
    torch.optim.SGD, momentum=0.9, nesterov=True
)

# ============================================================================ models


def emb_dim(card: int) -> int:
    return min(16, (card + 1) // 2)


class TabularNet(nn.Module):
    """fastai-style tabular model: one embedding per categorical feature, BatchNorm on the
    continuous ones, then Linear-ReLU-BatchNorm blocks and a linear head."""

    def __init__(self, n_out: int = 3, hidden: tuple[int, ...] = (64, 32)) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(c, emb_dim(c)) for c in CARDS)
        self.bn_cont = nn.BatchNorm1d(N_CONT)
        n_in = sum(emb_dim(c) for c in CARDS) + N_CONT
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(n_in, h), nn.ReLU(), nn.BatchNorm1d(h)]
            n_in = h
        layers.append(nn.Linear(n_in, n_out))
        self.layers = nn.Sequential(*layers)

    def forward(self, cats: Tensor, conts: Tensor) -> Tensor:
        e = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embeds)], 1)
        return self.layers(torch.cat([e, self.bn_cont(conts)], 1))


class TabularMLP(nn.Module):
    """Embeddings for the categorical features, the continuous ones as given, and a plain
    MLP (no normalisation) over their concatenation."""

    def __init__(
        self, n_out: int = 3, hidden: tuple[int, ...] = (64, 64), act: Callable = nn.ReLU
    ) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(c, emb_dim(c)) for c in CARDS)
        n_in = sum(emb_dim(c) for c in CARDS) + N_CONT
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(n_in, h), act()]
            n_in = h
        layers.append(nn.Linear(n_in, n_out))
        self.mlp = nn.Sequential(*layers)

    def forward(self, cats: Tensor, conts: Tensor) -> Tensor:
        e = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embeds)], 1)
        return self.mlp(torch.cat([e, conts], 1))


class WideDeep(nn.Module):
    """Wide & deep for a binary target: a linear model over one-hot categories, a crossed
    feature (cat0 x cat2) and the continuous features, plus a deep MLP over embeddings and
    the continuous features; the two logits are summed. `detach_deep` cuts the deep branch
    off the graph (the bug)."""

    def __init__(self, detach_deep: bool = False) -> None:
        super().__init__()
        self.embeds = nn.ModuleList(nn.Embedding(c, emb_dim(c)) for c in CARDS)
        n_wide = sum(CARDS) + CARDS[0] * CARDS[2] + N_CONT
        self.wide = nn.Linear(n_wide, 1)
        n_in = sum(emb_dim(c) for c in CARDS) + N_CONT
        self.deep = nn.Sequential(
            nn.Linear(n_in, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)
        )
        self.detach_deep = detach_deep

    def forward(self, cats: Tensor, conts: Tensor) -> Tensor:
        onehots = [F.one_hot(cats[:, i], c).float() for i, c in enumerate(CARDS)]
        cross = F.one_hot(cats[:, 0] * CARDS[2] + cats[:, 2], CARDS[0] * CARDS[2]).float()
        wide = self.wide(torch.cat([*onehots, cross, conts], 1))
        e = torch.cat([emb(cats[:, i]) for i, emb in enumerate(self.embeds)], 1)
        deep = self.deep(torch.cat([e, conts], 1))
        if self.detach_deep:
            deep = deep.detach()
        return (wide + deep)[:, 0]


def signal_cnn(n_out: int = 4) -> nn.Sequential:
    """1-D CNN: three Conv1d-BatchNorm-ReLU blocks with max-pooling, global average pooling,
    a linear head."""
    return nn.Sequential(
        nn.Conv1d(1, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(32, 64, 3, padding=1), nn.BatchNorm1d(64), nn.ReLU(),
        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, n_out),
    )  # fmt: skip


def signal_plain_cnn(n_out: int = 4) -> nn.Sequential:
    """1-D CNN without normalisation: six Conv1d-ReLU layers (pooling after every second)."""
    layers: list[nn.Module] = []
    chans = [1, 16, 16, 32, 32, 32, 32]
    for i in range(6):
        layers += [nn.Conv1d(chans[i], chans[i + 1], 5, padding=2), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool1d(2))
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, n_out)]
    return nn.Sequential(*layers)


class GNCNN(nn.Module):
    """MNIST CNN: a body of Conv-GroupNorm-ReLU blocks (stride 2), pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()

        def block(ci: int, co: int, ks: int, groups: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(ci, co, ks, stride=2, padding=ks // 2, bias=False),
                nn.GroupNorm(groups, co),
                nn.ReLU(),
            )

        self.body = nn.Sequential(block(1, 16, 5, 4), block(16, 32, 3, 8), block(32, 64, 3, 8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.body(x)).flatten(1))


def late_head_gn() -> GNCNN:
    """The GroupNorm CNN whose head is replaced (new nn.Linear) after the optimizer was built:
    the optimizer holds the old head's parameters, not the new one's."""
    model = GNCNN()
    model._params_at_optimizer = list(model.parameters())  # what the optimizer was built from
    model.head = nn.Linear(64, 10)
    return model


def params_at_optimizer(model: nn.Module) -> list[nn.Parameter]:
    return model._params_at_optimizer  # type: ignore[return-value]


def frozen_body_gn() -> GNCNN:
    """The GroupNorm CNN with its (randomly initialised) body frozen by mistake."""
    model = GNCNN()
    model.body.requires_grad_(False)
    return model


def instnorm_mish_cnn() -> nn.Sequential:
    """MNIST CNN: Conv-InstanceNorm(affine)-Mish blocks, stride 2, pooling, linear head."""

    def block(ci: int, co: int, ks: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(ci, co, ks, stride=2, padding=ks // 2),
            nn.InstanceNorm2d(co, affine=True),
            nn.Mish(),
        )

    return nn.Sequential(
        block(1, 16, 5), block(16, 32, 3), block(32, 64, 3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


class FunctionalCNN(nn.Module):
    """MNIST CNN in the style of PyTorch's MNIST example: the forward uses functional
    activations, pooling and flattening only (F.relu, F.max_pool2d); the modules are two
    convs and two linears."""

    def __init__(self, conv1_bias: float | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)
        if conv1_bias is not None:
            nn.init.constant_(self.conv1.bias, conv1_bias)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 7x7
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class TupleHeadCNN(nn.Module):
    """MNIST CNN (Conv-BatchNorm-ReLU) whose forward returns (logits, features), as models
    with an auxiliary embedding output do; `softmax=True` returns probabilities instead of
    logits (the bug)."""

    def __init__(self, softmax: bool = False) -> None:
        super().__init__()

        def block(ci: int, co: int, ks: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(ci, co, ks, stride=2, padding=ks // 2, bias=False),
                nn.BatchNorm2d(co),
                nn.ReLU(),
            )

        self.features = nn.Sequential(block(1, 16, 5), block(16, 32, 3), block(32, 64, 3))
        self.classifier = nn.Linear(64, 10)
        self.softmax = softmax

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        logits = self.classifier(feats)
        return (logits.softmax(-1) if self.softmax else logits), feats


def deep_plain_cnn(init: str = "kaiming") -> nn.Sequential:
    """Eight 3x3 Conv-ReLU layers, no normalisation, then pooling and a linear head.
    `init="kaiming"`: kaiming-normal weights (fan_in, ReLU gain) and zero biases;
    `"default"`: PyTorch's own initialisation."""
    chans = [1, 16, 16, 32, 32, 32, 64, 64, 64]
    strides = [2, 1, 2, 1, 1, 2, 1, 1]
    layers: list[nn.Module] = []
    for i in range(8):
        layers += [nn.Conv2d(chans[i], chans[i + 1], 3, stride=strides[i], padding=1), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    model = nn.Sequential(*layers)
    if init == "kaiming":
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    return model


def act_mlp(
    acts: tuple[Callable[[], nn.Module], ...] = (nn.SiLU, nn.GELU, nn.SiLU),
) -> nn.Sequential:
    """2 -> 64 -> 64 -> 64 -> 3 MLP with the given activation modules."""
    layers: list[nn.Module] = []
    n_in = 2
    for act in acts:
        layers += [nn.Linear(n_in, 64), act()]
        n_in = 64
    layers.append(nn.Linear(64, 3))
    return nn.Sequential(*layers)


def saturated_tanh_mlp() -> nn.Sequential:
    """2 -> 64 -> 64 -> 3 tanh MLP whose hidden weights are drawn from N(0, 3²)."""
    model = act_mlp((nn.Tanh, nn.Tanh))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 3.0)
            nn.init.zeros_(m.bias)
    return model


class ResMLP(nn.Module):
    """Pre-LN residual MLP: Linear stem, two (LayerNorm, Linear, GELU, Linear) residual
    blocks, LayerNorm and a linear head."""

    def __init__(self, d: int = 64, n_out: int = 3) -> None:
        super().__init__()
        self.stem = nn.Linear(2, d)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
            for _ in range(2)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, n_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for b in self.blocks:
            x = x + b(x)
        return self.head(self.norm(x))


class TiedLM(nn.Module):
    """Embedding -> GRU -> Linear projection -> output layer whose weight IS the embedding's
    (weight tying)."""

    def __init__(self, vocab: int = LM_VOCAB, d: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.rnn = nn.GRU(d, hidden, batch_first=True)
        self.proj = nn.Linear(hidden, d)
        self.out = nn.Linear(d, vocab, bias=False)
        self.out.weight = self.emb.weight  # tied

    def forward(self, tokens: Tensor) -> Tensor:
        h, _ = self.rnn(self.emb(tokens))
        return self.out(self.proj(h))


class VAE(nn.Module):
    """MLP VAE (SiLU) for 28x28 images: encoder to (mu, logvar) of an 8-d latent, reparameterised
    sample, decoder to pixel logits; returns (recon_logits, mu, logvar)."""

    def __init__(self, z: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.SiLU(), nn.Linear(256, 2 * z)
        )
        self.decoder = nn.Sequential(nn.Linear(z, 256), nn.SiLU(), nn.Linear(256, 784))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar


def regression_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )


def init_normal(
    build: Callable[[], nn.Module], std: float, kinds: tuple = (nn.Linear, nn.Conv1d, nn.Conv2d)
) -> Callable[[], nn.Module]:
    """`build`, with every weight of `kinds` from N(0, std²) and zero biases."""

    def made() -> nn.Module:
        model = build()
        for m in model.modules():
            if isinstance(m, kinds):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    return made


def dead_bias_widedeep() -> WideDeep:
    """Wide & deep with the deep branch's first bias at -10: its ReLUs never fire."""
    model = WideDeep()
    nn.init.constant_(model.deep[0].bias, -10.0)
    return model


# ============================================================================ the cases

Cse = Case
CASES: list[Case] = [
    # ------------------------------------------------------------------ healthy
    Cse(
        "tab-emb",
        "tabular",
        "fastai-style embeddings + BN MLP, 3 classes, Adam",
        TabularNet,
        tabular,
        3e-3,
        epochs=3,
        opt="adam",
    ),
    Cse(
        "tab-focal",
        "tabular",
        "embeddings + BN MLP, focal loss (gamma 2), Adam",
        TabularNet,
        tabular,
        3e-3,
        epochs=3,
        opt="adam",
        loss=focal_loss,
    ),
    Cse(
        "widedeep",
        "tabular",
        "wide & deep, binary target, BCE on logits, Adam",
        WideDeep,
        functools.partial(tabular, binary=True),
        3e-3,
        epochs=3,
        opt="adam",
        loss=bce,
        metric=binary_accuracy,
    ),
    Cse(
        "signal-cnn1d",
        "cnn1d",
        "1-D CNN (Conv1d-BN-ReLU) on 4 waveform shapes, SGD+momentum",
        signal_cnn,
        signals,
        0.05,
        epochs=2,
        opt="sgdm",
    ),
    Cse(
        "signal-accum2",
        "cnn1d",
        "hand loop: 1-D CNN, Adam, gradient accumulation over 2 batches",
        signal_cnn,
        functools.partial(signals, bs=32),
        3e-3,
        epochs=2,
        opt="adam-accum2",
        loop="watch",
    ),
    Cse(
        "cnn-groupnorm",
        "cnn",
        "Conv-GroupNorm-ReLU CNN on MNIST, SGD+momentum",
        GNCNN,
        mnist32,
        0.1,
        epochs=2,
        opt="sgdm",
    ),
    Cse(
        "cnn-instnorm-mish-ls",
        "cnn",
        "Conv-InstanceNorm-Mish CNN, label smoothing 0.1, Adam",
        instnorm_mish_cnn,
        mnist,
        1e-2,
        epochs=2,
        opt="adam",
        loss=smooth_ce,
    ),
    Cse(
        "cnn-functional",
        "cnn",
        "forward uses F.relu / F.max_pool2d only, SGD+momentum",
        FunctionalCNN,
        mnist,
        0.05,
        epochs=2,
        opt="sgdm",
    ),
    Cse(
        "cnn-tuple-head",
        "cnn",
        "forward returns (logits, features), Adam",
        TupleHeadCNN,
        mnist,
        1e-2,
        epochs=2,
        opt="adam",
        loss=first_ce,
        metric=first_accuracy,
    ),
    Cse(
        "cnn-deep-plain-kaiming",
        "cnn",
        "8 Conv-ReLU layers, no norm, kaiming init, Adam",
        deep_plain_cnn,
        small_mnist32,
        1e-3,
        epochs=2,
        opt="adam",
    ),
    Cse(
        "spiral-silu-gelu",
        "mlp",
        "SiLU/GELU/SiLU MLP on 3 spirals, Adam",
        act_mlp,
        spirals,
        3e-3,
        epochs=6,
        opt="adam",
    ),
    Cse(
        "spiral-adamw-cosine",
        "mlp",
        "hand loop: residual LayerNorm MLP, AdamW + cosine lr",
        ResMLP,
        spirals,
        3e-3,
        epochs=6,
        opt="adamw-cosine",
        loop="watch",
    ),
    Cse(
        "lm-tied",
        "rnn",
        "GRU language model with tied input/output embeddings, Adam",
        TiedLM,
        lm,
        3e-3,
        epochs=3,
        opt="adam",
        loss=lm_loss,
        metric=lm_accuracy,
    ),
    Cse(
        "vae",
        "generative",
        "MLP VAE on MNIST: Bernoulli reconstruction + KL, Adam",
        VAE,
        mnist_autoencode,
        1e-3,
        epochs=2,
        opt="adam",
        loss=vae_loss,
        metric=None,
    ),
    Cse(
        "regression",
        "mlp",
        "ReLU MLP regression, MSE, SGD+Nesterov",
        regression_mlp,
        regression,
        0.01,
        epochs=4,
        opt="sgdm-nesterov",
        loss=mse,
        metric=None,
    ),
    # ------------------------------------------------------------------ faulty
    Cse(
        "signal-init-tiny",
        "cnn1d",
        "6 plain Conv1d-ReLU layers, weights N(0, 0.01²)",
        init_normal(signal_plain_cnn, 0.01),
        signals,
        0.05,
        epochs=2,
        opt="sgdm",
        expect=(Expect("vanishing", first=True),),
    ),
    Cse(
        "tab-init-huge",
        "tabular",
        "embeddings + 4-layer GELU MLP, weights N(0, 1)",
        init_normal(functools.partial(TabularMLP, hidden=(64, 64, 64, 64), act=nn.GELU), 1.0),
        tabular,
        1e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("exploding", first=True),),
    ),
    Cse(
        "cnn-deep-plain-default",
        "cnn",
        "8 Conv-ReLU layers, no norm, PyTorch default init",
        functools.partial(deep_plain_cnn, init="default"),
        small_mnist32,
        1e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("vanishing", first=True),),
    ),
    Cse(
        "tab-dying-lr",
        "tabular",
        "embeddings + ReLU MLP, SGD+momentum at a large lr",
        TabularMLP,
        tabular,
        0.5,
        epochs=2,
        opt="sgdm",
        expect=(Expect("dead_activations", "mlp.3"),),
    ),
    Cse(
        "widedeep-dead-bias",
        "tabular",
        "wide & deep, deep branch's first bias -10",
        dead_bias_widedeep,
        functools.partial(tabular, binary=True),
        3e-3,
        epochs=3,
        opt="adam",
        loss=bce,
        metric=binary_accuracy,
        expect=(Expect("dead_activations", "deep.1"),),
    ),
    Cse(
        "cnn-functional-dead-bias",
        "cnn",
        "functional-ReLU CNN, conv1 bias -10",
        functools.partial(FunctionalCNN, conv1_bias=-10.0),
        mnist,
        0.05,
        epochs=2,
        opt="sgdm",
        expect=(Expect("dead_activations"),),
    ),
    Cse(
        "signal-lr-high",
        "cnn1d",
        "1-D CNN, SGD+momentum at lr 3",
        signal_cnn,
        signals,
        3.0,
        epochs=2,
        opt="sgdm",
        expect=(Expect("oscillation"),),
    ),
    Cse(
        "vae-lr-tiny",
        "generative",
        "MLP VAE, Adam at lr 1e-7",
        VAE,
        mnist_autoencode,
        1e-7,
        epochs=2,
        opt="adam",
        loss=vae_loss,
        metric=None,
        expect=(Expect("no_learning"),),
    ),
    Cse(
        "lm-tied-lr-tiny",
        "rnn",
        "tied GRU language model, plain SGD at lr 1e-4",
        TiedLM,
        lm,
        1e-4,
        epochs=2,
        opt="sgd",
        loss=lm_loss,
        metric=lm_accuracy,
        expect=(Expect("no_learning"),),
    ),
    Cse(
        "cnn-gn-frozen-body",
        "cnn",
        "GroupNorm CNN, random body frozen (requires_grad False)",
        frozen_body_gn,
        mnist32,
        0.1,
        epochs=2,
        opt="sgdm",
        expect=(Expect("frozen", "body"),),
    ),
    Cse(
        "cnn-gn-head-after-opt",
        "cnn",
        "GroupNorm CNN, head replaced after the optimizer was built",
        late_head_gn,
        mnist32,
        0.1,
        epochs=2,
        opt="sgdm",
        params=params_at_optimizer,
        expect=(Expect("not_updated", "head"),),
    ),
    Cse(
        "tab-raw-features",
        "tabular",
        "embeddings + ReLU MLP fed unscaled continuous features",
        TabularMLP,
        functools.partial(tabular, raw=True),
        3e-3,
        epochs=3,
        opt="adam",
        expect=(Expect("inputs", first=True),),
    ),
    Cse(
        "cnn-tuple-softmax",
        "cnn",
        "(probabilities, features) output fed to cross_entropy",
        functools.partial(TupleHeadCNN, softmax=True),
        mnist,
        1e-2,
        epochs=2,
        opt="adam",
        loss=first_ce,
        metric=first_accuracy,
        expect=(Expect("probabilities"),),
    ),
    Cse(
        "signal-shuffled",
        "cnn1d",
        "1-D CNN, training labels shuffled",
        signal_cnn,
        functools.partial(signals, shuffle_labels=True),
        0.05,
        epochs=2,
        opt="sgdm",
        expect=(Expect("chance"),),
    ),
    Cse(
        "widedeep-overfit",
        "tabular",
        "wide & deep on 96 rows for 60 epochs",
        WideDeep,
        functools.partial(tabular, n_train=96, bs=32, binary=True),
        1e-2,
        epochs=60,
        opt="adam",
        loss=bce,
        metric=binary_accuracy,
        expect=(Expect("overfitting"),),
    ),
    Cse(
        "spiral-tanh-saturated",
        "mlp",
        "tanh MLP, weights N(0, 3²)",
        saturated_tanh_mlp,
        spirals,
        1e-3,
        epochs=3,
        opt="adam",
        expect=(Expect("saturation", "3"),),
    ),
    Cse(
        "regression-nan",
        "mlp",
        "ReLU MLP regression, SGD+Nesterov at a huge lr",
        regression_mlp,
        regression,
        0.2,
        epochs=2,
        opt="sgdm-nesterov",
        loss=mse,
        metric=None,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Cse(
        "widedeep-detach",
        "tabular",
        "wide & deep whose deep branch is .detach()ed",
        functools.partial(WideDeep, detach_deep=True),
        functools.partial(tabular, binary=True),
        3e-3,
        epochs=3,
        opt="adam",
        loss=bce,
        metric=binary_accuracy,
        expect=(Expect("no_gradient", "deep"),),
    ),
]

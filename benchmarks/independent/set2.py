"""A second held-out set of labelled training runs for lookinside's diagnosis.

Architectures and styles that the zoo does not have: a U-Net-like encoder/decoder for
segmentation, an MLP-Mixer, a gated (GLU) CNN, attention written by hand (q, k, v Linear),
ConvNeXt-style blocks (depthwise conv, LayerNorm, GELU), Embedding + mean pooling, a 2-layer
LSTM with dropout, nn.TransformerDecoder and nn.Transformer with a learned query, a custom
nn.Module activation, a weight-shared Siamese network, models that return a namedtuple or a
dataclass, AdamW + weight decay, SGD + nesterov, AdamW with one-cycle, multi-label BCE and
regression with MSE / L1.  Data: MNIST (lookinside.zoo.tasks), the zoo's token task, and
synthetic data written here (shapes images, colour shapes, shape segmentation, multi-label
shapes, MNIST pairs, tabular regression).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lookinside import DataLoaders
from lookinside.functional import accuracy, accuracy_multi
from lookinside.zoo import run as _run
from lookinside.zoo import tasks
from lookinside.zoo.run import ORACLE, Case, Expect

# ============================================================== optimizers the harness lacks


class OneCycleAdamW(torch.optim.AdamW):
    """AdamW that steps a OneCycleLR schedule after each of its own steps (the schedule is
    part of the hand-written training step)."""

    def __init__(self, params, lr: float, total_steps: int, weight_decay: float = 0.05) -> None:
        super().__init__(params, lr=lr, weight_decay=weight_decay)
        self._sched = torch.optim.lr_scheduler.OneCycleLR(
            self, max_lr=lr, total_steps=total_steps, pct_start=0.25
        )
        self._n, self._total = 0, total_steps

    def step(self, closure=None):  # type: ignore[override]
        out = super().step(closure)
        self._n += 1
        if self._n < self._total:
            self._sched.step()
        return out


def _register_optimizers() -> None:
    opts = _run.OPTIMIZERS
    opts.setdefault("adamw", functools.partial(torch.optim.AdamW, weight_decay=0.05))
    opts.setdefault("nesterov", functools.partial(torch.optim.SGD, momentum=0.9, nesterov=True))


def onecycle(total_steps: int) -> str:
    """The name of an AdamW + one-cycle optimizer over `total_steps` steps (registered)."""
    name = f"adamw-1cycle-{total_steps}"
    _run.OPTIMIZERS.setdefault(name, functools.partial(OneCycleAdamW, total_steps=total_steps))
    return name


_register_optimizers()

# ============================================================== data


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _shape_masks(n: int, size: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """n random shapes: (n, size, size) boolean masks and their classes (0 square, 1 disc,
    2 plus, 3 triangle), at a random place and scale."""
    cls = torch.randint(0, 4, (n,), generator=g)
    r = torch.randint(3, 6, (n,), generator=g).float()[:, None, None]
    cy = torch.randint(5, size - 5, (n,), generator=g).float()[:, None, None]
    cx = torch.randint(5, size - 5, (n,), generator=g).float()[:, None, None]
    yy = torch.arange(size).float()[None, :, None].expand(n, size, size)
    xx = torch.arange(size).float()[None, None, :].expand(n, size, size)
    dy, dx = yy - cy, xx - cx
    square = (dy.abs() <= r * 0.8) & (dx.abs() <= r * 0.8)
    disc = dy**2 + dx**2 <= r**2
    plus = ((dy.abs() <= 1) & (dx.abs() <= r)) | ((dx.abs() <= 1) & (dy.abs() <= r))
    tri = (dy <= r * 0.8) & (dy >= -r) & (dx.abs() <= (dy + r) / 2)
    masks = torch.stack([square, disc, plus, tri], 1)[torch.arange(n), cls]
    return masks, cls


def _norm(x: Tensor, ref: Tensor) -> Tensor:
    dims = [0, *list(range(2, ref.dim()))]
    return (x - ref.mean(dims, keepdim=True)) / ref.std(dims, keepdim=True)


@functools.cache
def _shapes_tensors(n: int, size: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    g = _gen(seed)
    masks, cls = _shape_masks(n, size, g)
    x = masks.float() + 0.15 * torch.randn(n, size, size, generator=g)
    seg = torch.where(masks, cls[:, None, None] + 1, torch.zeros_like(cls)[:, None, None])
    return x[:, None], cls, seg


def shapes_seg(
    n_train: int = 2000, n_valid: int = 500, bs: int = 32, size: int = 20
) -> DataLoaders:
    """Segmentation: (N, 1, size, size) noisy images of one shape; per-pixel target 0 for the
    background, 1 + the shape's class on the shape."""
    x, _, seg = _shapes_tensors(n_train, size, 10)
    xv, _, segv = _shapes_tensors(n_valid, size, 11)
    return DataLoaders.from_tensors(_norm(x, x), seg, _norm(xv, x), segv, bs=bs)


@functools.cache
def _color_tensors(n: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Raw 0-255 RGB images: a coloured shape on a coloured background, with noise."""
    g = _gen(seed)
    masks, cls = _shape_masks(n, size, g)
    fg = torch.rand(n, 3, 1, 1, generator=g) * 155 + 100
    bg = torch.rand(n, 3, 1, 1, generator=g) * 90
    x = torch.where(masks[:, None], fg, bg) + 12 * torch.randn(n, 3, size, size, generator=g)
    return x.clamp(0, 255), cls


def color_shapes(
    n_train: int = 2000, n_valid: int = 500, bs: int = 32, size: int = 20, raw: bool = False
) -> DataLoaders:
    """CIFAR-like colour images of 4 shape classes; per-channel normalised, or `raw` 0-255."""
    x, y = _color_tensors(n_train, size, 20)
    xv, yv = _color_tensors(n_valid, size, 21)
    if not raw:
        x, xv = _norm(x, x), _norm(xv, x)
    return DataLoaders.from_tensors(x, y, xv, yv, bs=bs)


@functools.cache
def _multi_tensors(n: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """Images holding each of the 4 shape kinds with probability 1/2 (anywhere, overlapping):
    targets (n, 4) of 0/1."""
    g = _gen(seed)
    present = torch.rand(n, 4, generator=g) < 0.5
    img = torch.zeros(n, size, size)
    for k in range(4):
        kind = _kind_masks(n, size, k, g)
        img = torch.maximum(img, kind.float() * present[:, k, None, None].float())
    img = img + 0.15 * torch.randn(n, size, size, generator=g)
    return img[:, None], present.float()


def _kind_masks(n: int, size: int, k: int, g: torch.Generator) -> Tensor:
    masks = []
    left = n
    while left > 0:  # draw until enough of kind k
        m, c = _shape_masks(4 * left, size, g)
        masks.append(m[c == k][:left])
        left -= len(masks[-1])
    return torch.cat(masks)[:n]


def multi_shapes(
    n_train: int = 2000, n_valid: int = 500, bs: int = 32, size: int = 24
) -> DataLoaders:
    """Multi-label: which of the 4 shape kinds each image holds."""
    x, y = _multi_tensors(n_train, size, 30)
    xv, yv = _multi_tensors(n_valid, size, 31)
    return DataLoaders.from_tensors(_norm(x, x), y, _norm(xv, x), yv, bs=bs)


def mnist_pairs(n_train: int = 2000, n_valid: int = 500, bs: int = 32) -> DataLoaders:
    """Siamese pairs: (N, 2, 28, 28) two MNIST digits; target 1.0 when they are the same digit
    (half the pairs)."""
    from lookinside.zoo.tasks import _mnist

    x_all, y_all, xv_all, yv_all = _mnist()

    def make(images: Tensor, labels: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
        g = _gen(seed)
        i = torch.randint(0, len(labels), (n,), generator=g)
        same = torch.rand(n, generator=g) < 0.5
        by_class = [torch.nonzero(labels == c).squeeze(1) for c in range(10)]
        j = torch.randint(0, len(labels), (n,), generator=g)
        for k in range(n):
            if same[k]:
                pool = by_class[int(labels[i[k]])]
                j[k] = pool[torch.randint(0, len(pool), (1,), generator=g)]
        target = (labels[i] == labels[j]).float()
        return torch.stack([images[i, 0], images[j, 0]], 1), target

    x, y = make(x_all[:6000], y_all[:6000], n_train, 40)
    xv, yv = make(xv_all[:2000], yv_all[:2000], n_valid, 41)
    return DataLoaders.from_tensors(x, y, xv, yv, bs=bs)


@functools.cache
def _regression_tensors(n: int, seed: int, d: int = 8) -> tuple[Tensor, Tensor]:
    g = _gen(seed)
    x = torch.randn(n, d, generator=g)
    y = (
        torch.sin(2 * x[:, 0])
        + x[:, 1] * x[:, 2]
        + 0.5 * x[:, 3] ** 2
        - x[:, 4]
        + 0.1 * torch.randn(n, generator=g)
    )
    return x, y[:, None]


def regression(
    n_train: int = 3000, n_valid: int = 1000, bs: int = 64, scale: float = 1.0
) -> DataLoaders:
    """Tabular regression: 8 standard-normal features, a smooth non-linear target (std ~1.6),
    times `scale`."""
    x, y = _regression_tensors(n_train, 50)
    xv, yv = _regression_tensors(n_valid, 51)
    return DataLoaders.from_tensors(x, y * scale, xv, yv * scale, bs=bs)


mnist = tasks.mnist
toks = tasks.tokens
shuffled_toks = functools.partial(tasks.tokens, shuffle_labels=True)
VOCAB, CLASSES, SEQ = 24, 4, 12

# ============================================================== metrics and losses


def fg_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    """Share of the shape (non-background) pixels whose largest logit (dim 1) is their class."""
    fg = target > 0
    return (pred.argmax(1)[fg] == target[fg]).float().mean()


def r2(pred: Tensor, target: Tensor) -> Tensor:
    """Coefficient of determination on the batch (1 = perfect, 0 = predicting the mean)."""
    return 1 - ((pred - target) ** 2).mean() / target.var(unbiased=False)


def bce(pred: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy on logits (multi-label, or one logit per pair)."""
    return F.binary_cross_entropy_with_logits(pred, target)


def pair_accuracy(pred: Tensor, target: Tensor) -> Tensor:
    return ((pred > 0).float() == target).float().mean()


def out_logits_ce(out: object, target: Tensor) -> Tensor:
    """Cross-entropy on the `logits` field of a namedtuple or dataclass output."""
    return F.cross_entropy(out.logits, target)  # type: ignore[attr-defined]


def out_logits_acc(out: object, target: Tensor) -> Tensor:
    return accuracy(out.logits, target)  # type: ignore[attr-defined]


# ============================================================== models


def conv_relu(c_in: int, c_out: int) -> nn.Sequential:
    """Conv 3x3 (no bias) - BatchNorm - ReLU, the usual U-Net unit."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class UNet(nn.Module):
    """A small U-Net: two encoder levels, a bottleneck, a transposed-conv decoder with skip
    concatenations, and a 1x1 head of per-pixel logits."""

    def __init__(self, c_in: int = 1, n_cls: int = 5, w: int = 8) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(conv_relu(c_in, w), conv_relu(w, w))
        self.enc2 = nn.Sequential(conv_relu(w, 2 * w), conv_relu(2 * w, 2 * w))
        self.bottleneck = conv_relu(2 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = conv_relu(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = conv_relu(2 * w, w)
        self.head = nn.Conv2d(w, n_cls, 1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottleneck(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class MixerBlock(nn.Module):
    """MLP-Mixer block: token-mixing MLP across patches, then channel-mixing MLP, pre-LN."""

    def __init__(self, n_tokens: int, dim: int, tok_hidden: int, ch_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(
            nn.Linear(n_tokens, tok_hidden), nn.GELU(), nn.Linear(tok_hidden, n_tokens)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(
            nn.Linear(dim, ch_hidden), nn.GELU(), nn.Linear(ch_hidden, dim)
        )

    def forward(self, x: Tensor) -> Tensor:  # (N, tokens, dim)
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class Mixer(nn.Module):
    """MLP-Mixer on 28x28 MNIST: 7x7 patches (16 tokens), 2 blocks, mean pooling."""

    def __init__(self, dim: int = 48, depth: int = 2, patch: int = 7, n_out: int = 10) -> None:
        super().__init__()
        n_tokens = (28 // patch) ** 2
        self.patchify = nn.Conv2d(1, dim, patch, stride=patch)
        self.blocks = nn.Sequential(*[MixerBlock(n_tokens, dim, 32, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patchify(x).flatten(2).transpose(1, 2)
        x = self.norm(self.blocks(x))
        return self.head(x.mean(1))


class GatedConv(nn.Module):
    """GLU convolution: conv to 2C channels, one half gated by the sigmoid of the other
    (He-normal init, zero bias)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, 3, stride=stride, padding=1)
        nn.init.kaiming_normal_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.conv(x).chunk(2, 1)
        return a * torch.sigmoid(b)


class GatedCNN(nn.Module):
    def __init__(
        self, widths: tuple[int, ...] = (16, 32, 32), c_in: int = 1, n_out: int = 10
    ) -> None:
        super().__init__()
        layers, c = [], c_in
        for w in widths:
            layers.append(GatedConv(c, w))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean((2, 3)))


class HandAttention(nn.Module):
    """Single-head self-attention written by hand: q, k, v Linear layers, scaled dot product,
    output projection."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.proj = nn.Linear(d, d)
        self.scale = 1 / math.sqrt(d)

    def forward(self, x: Tensor) -> Tensor:
        att = (self.q(x) @ self.k(x).transpose(1, 2)) * self.scale
        return self.proj(att.softmax(-1) @ self.v(x))


class HandBlock(nn.Module):
    """Post-LN block: x + attention, LayerNorm, x + FFN (Linear-ReLU-Linear), LayerNorm."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.attn = HandAttention(d)
        self.ln1 = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.ln2 = nn.LayerNorm(d)

    def forward(self, x: Tensor) -> Tensor:
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.ffn(x))


class HandTransformer(nn.Module):
    def __init__(self, d: int = 32, depth: int = 2, softmax: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(1, SEQ, d) * 0.02)
        self.layers = nn.ModuleList(HandBlock(d) for _ in range(depth))
        self.head = nn.Linear(d, CLASSES)
        self.softmax = softmax

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.emb(tokens) + self.pos
        for layer in self.layers:
            x = layer(x)
        logits = self.head(x.mean(1))
        return logits.softmax(-1) if self.softmax else logits


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an (N, C, H, W) map, as ConvNeXt's stem uses."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x: Tensor) -> Tensor:
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 conv, LayerNorm (channels last), Linear 4x, GELU, Linear, layer scale,
    residual."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.pw1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.1))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, c_in: int = 1, dims: tuple[int, int] = (16, 32), n_out: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(c_in, dims[0], 4, stride=4), LayerNorm2d(dims[0]))
        self.stage1 = nn.Sequential(ConvNeXtBlock(dims[0]), ConvNeXtBlock(dims[0]))
        self.down = nn.Sequential(LayerNorm2d(dims[0]), nn.Conv2d(dims[0], dims[1], 2, stride=2))
        self.stage2 = nn.Sequential(ConvNeXtBlock(dims[1]))
        self.norm = nn.LayerNorm(dims[1])
        self.head = nn.Linear(dims[1], n_out)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.head(self.norm(x.mean((2, 3))))


class EmbMean(nn.Module):
    """nn.Embedding, mean over the sequence, then a small MLP."""

    def __init__(self, d: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))

    def forward(self, tokens: Tensor) -> Tensor:
        return self.mlp(self.emb(tokens).mean(1))


class LSTM2(nn.Module):
    """Embedding -> 2-layer LSTM with dropout 0.3 between layers -> max over time -> Linear."""

    def __init__(self, d: int = 32, hidden: int = 48) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, dropout=0.3, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden, CLASSES)

    def forward(self, tokens: Tensor) -> Tensor:
        out, (_h, _c) = self.lstm(self.emb(tokens))
        return self.fc(self.drop(out.max(1).values))


class QueryDecoder(nn.Module):
    """A learned query cross-attends to the embedded tokens through nn.TransformerDecoder."""

    def __init__(self, d: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(1, SEQ, d) * 0.02)
        self.query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        layer = nn.TransformerDecoderLayer(d, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.head = nn.Linear(d, CLASSES)

    def forward(self, tokens: Tensor) -> Tensor:
        memory = self.emb(tokens) + self.pos
        out = self.decoder(self.query.expand(len(tokens), -1, -1), memory)
        return self.head(out[:, 0])


class FullTransformer(nn.Module):
    """nn.Transformer (1 encoder, 1 decoder layer): tokens in, a learned query out."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, d)
        self.pos = nn.Parameter(torch.randn(1, SEQ, d) * 0.02)
        self.query = nn.Parameter(torch.randn(1, 2, d) * 0.02)
        self.transformer = nn.Transformer(
            d,
            4,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dim_feedforward=64,
            dropout=0.0,
            batch_first=True,
        )
        self.head = nn.Linear(d, CLASSES)

    def forward(self, tokens: Tensor) -> Tensor:
        out = self.transformer(self.emb(tokens) + self.pos, self.query.expand(len(tokens), -1, -1))
        return self.head(out.mean(1))


class Swish(nn.Module):
    """A custom activation module: x * sigmoid(beta x), beta learnable."""

    def __init__(self) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.beta * x)


def swish_mlp(sizes: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), Swish()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class ResMLPBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fc2(F.relu(self.fc1(x)))


class ResMLP(nn.Module):
    """Residual MLP for regression: Linear in, residual blocks (no norm), Linear out."""

    def __init__(self, d_in: int = 8, d: int = 64, depth: int = 3, d_out: int = 1) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.Sequential(*[ResMLPBlock(d) for _ in range(depth)])
        self.out = nn.Linear(d, d_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(self.inp(x)))


class Siamese(nn.Module):
    """One CNN encoder applied to both images of a pair (shared weights); a head on
    |e1 - e2| and e1 * e2 gives one logit: same digit or not."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, pair: Tensor) -> Tensor:
        e1, e2 = self.encoder(pair[:, :1]), self.encoder(pair[:, 1:])
        return self.head(torch.cat([(e1 - e2).abs(), e1 * e2], 1)).squeeze(1)


Output = collections.namedtuple("Output", ["logits", "features"])


class TupleCNN(nn.Module):
    """A CNN for 3-channel images returning a namedtuple (logits, features)."""

    def __init__(self, c_in: int = 3, n_out: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(32, n_out)

    def forward(self, x: Tensor) -> Output:
        f = self.body(x).mean((2, 3))
        return Output(self.head(f), f)


@dataclasses.dataclass
class ModelOutput:
    logits: Tensor
    hidden: Tensor


class DataclassMLP(nn.Module):
    """An MLP whose forward returns a dataclass (as many libraries do)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU()
        )
        self.classifier = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> ModelOutput:
        h = self.body(x)
        return ModelOutput(self.classifier(h), h)


class MultiLabelCNN(nn.Module):
    """A CNN for multi-label shapes (4 logits); `sigmoid=True` is the mistake of squashing the
    output before a loss that applies the sigmoid itself."""

    def __init__(self, sigmoid: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(32, 4)
        self.sigmoid = sigmoid

    def forward(self, x: Tensor) -> Tensor:
        out = self.head(self.body(x).amax((2, 3)))
        return torch.sigmoid(out) if self.sigmoid else out


class TwoTower(nn.Module):
    """Two branches over MNIST, summed before the classifier; `detach=True` is the mistake of
    detaching one branch (e.g. left over from a stop-gradient experiment)."""

    def __init__(self, detach: bool = False) -> None:
        super().__init__()
        self.conv_branch = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.mlp_branch = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32)
        )
        self.head = nn.Linear(32, 10)
        self.detach = detach

    def forward(self, x: Tensor) -> Tensor:
        c = self.conv_branch(x)
        if self.detach:
            c = c.detach()
        return self.head(F.relu(c + self.mlp_branch(x)))


class SigmoidConvNet(nn.Module):
    """A deep plain CNN with sigmoid activations (no normalisation)."""

    def __init__(self, depth: int = 8, w: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i in range(depth):
            stride = 2 if i in (1, 3) else 1
            layers.append(nn.Sequential(nn.Conv2d(c, w, 3, stride=stride, padding=1), nn.Sigmoid()))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(w, 10)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean((2, 3)))


# ============================================================== construction helpers


def with_bias(build, layer: str, value: float):
    def made() -> nn.Module:
        model = build()
        b = model.get_submodule(layer).bias
        nn.init.constant_(b, value)
        return model

    return made


def with_normal_init(build, std: float, kinds=(nn.Linear, nn.Conv2d)):
    def made() -> nn.Module:
        model = build()
        for m in model.modules():
            if isinstance(m, kinds):
                nn.init.normal_(m.weight, 0.0, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        return model

    return made


def freeze(build, layer: str):
    def made() -> nn.Module:
        model = build()
        model.get_submodule(layer).requires_grad_(False)
        return model

    return made


def only(layer: str):
    return lambda model: model.get_submodule(layer).parameters()


def steps(n: int, bs: int, epochs: int) -> int:
    return math.ceil(n / bs) * epochs


# ============================================================== the cases

H = "healthy"

CASES: list[Case] = [
    # ------------------------------------------------------------------ healthy
    Case(
        "h-unet-seg",
        "unet",
        "U-Net segmentation of shapes, per-pixel CE, Adam",
        UNet,
        shapes_seg,
        1e-2,
        epochs=2,
        opt="adam",
        metric=fg_accuracy,
    ),
    Case(
        "h-mixer",
        "mixer",
        "MLP-Mixer on MNIST, AdamW + weight decay",
        Mixer,
        mnist,
        2e-3,
        epochs=2,
        opt="adamw",
    ),
    Case(
        "h-gated-cnn",
        "gated-cnn",
        "GLU CNN on MNIST, SGD + nesterov momentum",
        GatedCNN,
        mnist,
        0.1,
        epochs=2,
        opt="nesterov",
    ),
    Case(
        "h-hand-attention",
        "attention",
        "hand-written q/k/v attention, tokens, Adam",
        HandTransformer,
        toks,
        2e-3,
        epochs=2,
        opt="adam",
    ),
    Case(
        "h-convnext-onecycle",
        "convnext",
        "ConvNeXt blocks on MNIST, AdamW one-cycle",
        ConvNeXt,
        mnist,
        4e-3,
        epochs=2,
        opt=onecycle(steps(4000, 64, 2)),
    ),
    Case(
        "h-emb-mean-watch",
        "embedding",
        "Embedding + mean pooling, hand loop under watch()",
        EmbMean,
        toks,
        3e-3,
        epochs=2,
        opt="adam",
        loop="watch",
    ),
    Case(
        "h-lstm2-dropout",
        "rnn",
        "2-layer LSTM with dropout, max-pool over time, Adam",
        LSTM2,
        toks,
        3e-3,
        epochs=2,
        opt="adam",
    ),
    Case(
        "h-query-decoder",
        "transformer",
        "nn.TransformerDecoder with a learned query, Adam",
        QueryDecoder,
        toks,
        2e-3,
        epochs=2,
        opt="adam",
    ),
    Case(
        "h-nn-transformer",
        "transformer",
        "nn.Transformer (enc+dec), learned queries, AdamW",
        FullTransformer,
        toks,
        2e-3,
        epochs=2,
        opt="adamw",
    ),
    Case(
        "h-swish-mse",
        "regression",
        "MLP with a custom Swish module, MSE regression, Adam",
        functools.partial(swish_mlp, (8, 64, 64, 1)),
        regression,
        3e-3,
        epochs=3,
        opt="adam",
        loss=F.mse_loss,
        metric=r2,
    ),
    Case(
        "h-resmlp-l1",
        "regression",
        "residual MLP, L1 regression, SGD + nesterov",
        ResMLP,
        regression,
        0.01,
        epochs=3,
        opt="nesterov",
        loss=F.l1_loss,
        metric=r2,
    ),
    Case(
        "h-siamese",
        "siamese",
        "weight-shared CNN on MNIST pairs, BCE, Adam",
        Siamese,
        mnist_pairs,
        1e-3,
        epochs=2,
        opt="adam",
        loss=bce,
        metric=pair_accuracy,
    ),
    Case(
        "h-namedtuple-color",
        "cnn",
        "BN CNN on colour shapes returning a namedtuple, SGD momentum",
        TupleCNN,
        color_shapes,
        0.05,
        epochs=2,
        opt="sgdm",
        loss=out_logits_ce,
        metric=out_logits_acc,
    ),
    Case(
        "h-multilabel-shapes",
        "cnn",
        "multi-label shapes, BCE on logits, AdamW",
        MultiLabelCNN,
        multi_shapes,
        3e-3,
        epochs=3,
        opt="adamw",
        loss=bce,
        metric=accuracy_multi,
    ),
    Case(
        "h-dataclass-output",
        "mlp",
        "MLP returning a dataclass, Adam",
        DataclassMLP,
        mnist,
        1e-3,
        epochs=2,
        opt="adam",
        loss=out_logits_ce,
        metric=out_logits_acc,
    ),
    # ------------------------------------------------------------------ faulty
    Case(
        "f-unet-dead-enc2",
        "unet",
        "U-Net, enc2's first BatchNorm bias -10: its ReLUs never fire",
        with_bias(UNet, "enc2.0.1", -10.0),
        shapes_seg,
        1e-2,
        epochs=2,
        opt="adam",
        metric=fg_accuracy,
        expect=(Expect("dead_activations", "enc2"),),
    ),
    Case(
        "f-hand-attention-lr-high",
        "attention",
        "hand-written attention, Adam at lr 0.03",
        HandTransformer,
        toks,
        0.03,
        epochs=2,
        opt="adam",
        expect=(Expect("oscillation"),),
    ),
    Case(
        "f-hand-attention-softmax",
        "attention",
        "hand-written attention, softmax before CE",
        functools.partial(HandTransformer, softmax=True),
        toks,
        2e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("probabilities"),),
    ),
    Case(
        "f-convnext-head-only",
        "convnext",
        "ConvNeXt, the optimizer holds the head only",
        ConvNeXt,
        mnist,
        4e-3,
        epochs=2,
        opt="adamw",
        params=only("head"),
        expect=(Expect("not_updated", "stage1"),),
    ),
    Case(
        "f-gated-cnn-lr-tiny",
        "gated-cnn",
        "GLU CNN, SGD nesterov at lr 1e-6",
        GatedCNN,
        mnist,
        1e-6,
        epochs=2,
        opt="nesterov",
        expect=(Expect("no_learning"),),
    ),
    Case(
        "f-nn-transformer-shuffled",
        "transformer",
        "nn.Transformer, labels shuffled",
        FullTransformer,
        shuffled_toks,
        2e-3,
        epochs=2,
        opt="adamw",
        expect=(Expect("chance"),),
    ),
    Case(
        "f-color-raw-pixels",
        "cnn",
        "namedtuple BN CNN fed raw 0-255 colour pixels",
        TupleCNN,
        functools.partial(color_shapes, raw=True),
        0.05,
        epochs=2,
        opt="sgdm",
        loss=out_logits_ce,
        metric=out_logits_acc,
        expect=(Expect("inputs", first=True),),
    ),
    Case(
        "f-sigmoid-deep-cnn",
        "cnn",
        "8 conv+sigmoid layers, no norm, SGD",
        SigmoidConvNet,
        mnist,
        0.1,
        epochs=1,
        expect=(Expect("vanishing_gradients"),),
    ),
    Case(
        "f-tanh-huge-init",
        "regression",
        "tanh MLP, weights N(0, 2^2), MSE regression",
        with_normal_init(
            lambda: nn.Sequential(
                nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
            ),
            2.0,
        ),
        regression,
        1e-3,
        epochs=2,
        opt="adam",
        loss=F.mse_loss,
        metric=r2,
        expect=(Expect("saturation", "3"),),
    ),
    Case(
        "f-regression-diverge-nan",
        "regression",
        "Swish MLP, MSE on targets x100, SGD lr 0.05",
        functools.partial(swish_mlp, (8, 64, 64, 1)),
        functools.partial(regression, scale=100.0),
        0.05,
        epochs=2,
        loss=F.mse_loss,
        metric=r2,
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "f-two-tower-detached",
        "cnn",
        "two branches, the conv branch detached before the sum",
        functools.partial(TwoTower, detach=True),
        mnist,
        2e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("no_gradient", "conv_branch"),),
    ),
    Case(
        "f-emb-frozen",
        "embedding",
        "Embedding + mean pooling, embedding frozen",
        freeze(EmbMean, "emb"),
        toks,
        3e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("frozen", "emb"),),
    ),
    Case(
        "f-mixer-overfit",
        "mixer",
        "MLP-Mixer, 200 training images, 40 epochs",
        Mixer,
        functools.partial(tasks.mnist, n_train=200, bs=32),
        3e-3,
        epochs=40,
        opt="adam",
        expect=(Expect("overfitting"),),
    ),
    Case(
        "f-hand-attention-dead-ffn",
        "attention",
        "hand attention, FFN hidden bias -10",
        with_bias(HandTransformer, "layers.0.ffn.0", -10.0),
        toks,
        2e-3,
        epochs=2,
        opt="adam",
        expect=(Expect("dead_activations", "layers.0.ffn"),),
    ),
    Case(
        "f-swish-init-tiny",
        "mlp",
        "8 Swish layers, weights N(0, 0.02^2), MNIST",
        with_normal_init(
            lambda: nn.Sequential(nn.Flatten(), swish_mlp((784,) + (100,) * 8 + (10,))), 0.02
        ),
        mnist,
        0.1,
        epochs=1,
        expect=(Expect("vanishing", first=True),),
    ),
    Case(
        "f-resmlp-init-huge",
        "regression",
        "residual MLP, weights N(0, 0.5^2), L1",
        with_normal_init(ResMLP, 0.5),
        regression,
        1e-4,
        epochs=2,
        opt="adam",
        loss=F.l1_loss,
        metric=r2,
        expect=(Expect("exploding", first=True),),
    ),
    Case(
        "f-multilabel-sigmoid",
        "cnn",
        "multi-label, sigmoid before BCE-with-logits",
        functools.partial(MultiLabelCNN, sigmoid=True),
        multi_shapes,
        3e-3,
        epochs=2,
        opt="adamw",
        loss=bce,
        metric=functools.partial(accuracy_multi, sigmoid=False),
        expect=(Expect("probabilities"),),
    ),
    Case(
        "f-gated-cnn-nan",
        "gated-cnn",
        "GLU CNN, SGD nesterov at lr 50",
        GatedCNN,
        mnist,
        50.0,
        epochs=1,
        opt="nesterov",
        expect=(Expect("non_finite", ORACLE),),
    ),
    Case(
        "f-query-decoder-nan",
        "transformer",
        "nn.TransformerDecoder, SGD nesterov at lr 1",
        QueryDecoder,
        toks,
        1.0,
        epochs=2,
        opt="nesterov",
        expect=(Expect("non_finite", ORACLE),),
    ),
]

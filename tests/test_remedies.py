"""lookinside.remedies: the model transformations and learner changes the diagnosis proposes."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import lookinside as li
from lookinside import remedies
from lookinside.callback import Handler
from lookinside.callbacks import ProgressBar, Recorder
from lookinside.callbacks.guards import GradientClip
from lookinside.diagnosis import advice
from lookinside.nn import GeneralRelu, RunningBatchNorm
from lookinside.zoo.models import mlp


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def linear_stack(depth: int = 10, width: int = 256, std: float = 0.01) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.normal_(m.bias, 0.0, std)
    return model


def tensors(n: int, shape: tuple[int, ...] = (20,), seed: int = 0) -> tuple[Tensor, Tensor]:
    """Inputs and 3 classes that a linear model can learn."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g)
    w = torch.randn(math.prod(shape), 3, generator=torch.Generator().manual_seed(99))
    return x, (x.flatten(1) @ w).argmax(1)


def learner(model: nn.Module | None = None, x: Tensor | None = None, lr: float = 0.1) -> li.Learner:
    """A quiet learner on 64 training items (4 batches of 16) and 32 validation items."""
    xt, yt = tensors(64) if x is None else (x, torch.randint(0, 3, (len(x),)))
    xv, yv = tensors(32, seed=1) if x is None else (x[:32], yt[:32])
    if model is None:
        model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))
    dls = li.DataLoaders.from_tensors(xt, yt, xv, yv, bs=16)
    learn = li.Learner(model, dls, lr=lr, metrics=[li.accuracy])
    bar = learn.find_cb(ProgressBar)
    assert bar is not None
    bar.rows, bar.every = False, None
    return learn


def lrs(learn: li.Learner) -> np.ndarray:
    """The learning rate of each training step of the last fit."""
    recorder = learn.find_cb(Recorder)
    assert recorder is not None
    return recorder.lrs[:, 0]


# ---------------------------------------------------------------- model transformations
def test_kaiming_init_gives_each_weight_kaimings_std_and_keeps_activations_alive() -> None:
    model, x = linear_stack(), torch.randn(512, 256)
    count = n_params(model)
    with torch.no_grad():
        assert model(x).std(0).mean() < x.std() / 100  # std 0.01 collapses the signal
    assert remedies.kaiming_init(model) is model
    for m in model.modules():
        if isinstance(m, nn.Linear):
            assert m.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.1)
            assert torch.count_nonzero(m.bias) == 0
    assert n_params(model) == count
    with torch.no_grad():
        ratio = (model(x).std(0).mean() / x.std()).item()
    assert 1 / 3 < ratio < 3


@pytest.mark.parametrize("leak", [0.0, 0.5, 1.0])
def test_kaiming_init_gain_follows_the_leak(leak: float) -> None:
    conv, lin = nn.Conv2d(16, 32, 3), nn.Linear(400, 300)
    model = nn.Sequential(conv, nn.ReLU(), lin)
    remedies.kaiming_init(model, leak=leak)
    gain = math.sqrt(2 / (1 + leak**2))
    assert conv.weight.std().item() == pytest.approx(gain / math.sqrt(16 * 9), rel=0.1)
    assert lin.weight.std().item() == pytest.approx(gain / math.sqrt(400), rel=0.1)


def test_kaiming_init_without_conv_or_linear_raises() -> None:
    with pytest.raises(li.LookinsideError, match="no conv or linear"):
        remedies.kaiming_init(nn.ReLU())


class FunctionalRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.lin(x))


def test_general_relu_replaces_every_squashing_module_and_computes_its_formula() -> None:
    lins = [nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 8)]
    model = nn.Sequential(lins[0], nn.ReLU(), lins[1], nn.Sigmoid(), lins[2], nn.Tanh())
    with torch.no_grad():
        for lin in lins:
            lin.weight.mul_(10)
    count, x = n_params(model), torch.randn(16, 4)
    assert remedies.general_relu(model, leak=0.1, sub=0.4, maxv=6.0) is model
    acts = [model[i] for i in (1, 3, 5)]
    assert all(type(a) is GeneralRelu and (a.leak, a.sub, a.maxv) == (0.1, 0.4, 6.0) for a in acts)
    assert not any(isinstance(m, remedies.SQUASHING) for m in model.modules())
    expected = x
    for lin in lins:
        expected = (F.leaky_relu(lin(expected), 0.1) - 0.4).clamp(max=6.0)
    assert torch.allclose(model(x), expected)
    assert (expected == 6.0).any() and (expected < 0).any()  # both ends of the formula used
    assert n_params(model) == count


def test_general_relu_on_a_bare_activation_and_on_functional_ones() -> None:
    act = remedies.general_relu(nn.ReLU(), leak=0.2, sub=0.0, maxv=None)
    assert isinstance(act, GeneralRelu) and (act.leak, act.sub, act.maxv) == (0.2, 0.0, None)
    with pytest.raises(li.LookinsideError, match="as a function"):
        remedies.general_relu(FunctionalRelu())


def test_add_norm_puts_a_batchnorm_after_each_hidden_linear_layer() -> None:
    model = mlp([784, 100, 100, 10])
    count = n_params(model)
    remedies.add_norm(model)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU,
                     nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]  # fmt: skip
    assert n_params(model) == count + 2 * (100 + 100)
    outs: list[Tensor] = []
    for i in (2, 5):
        model[i].register_forward_hook(lambda m, inp, out: outs.append(out.detach()))
    model.train()(3 + 2 * torch.randn(64, 1, 28, 28))
    for out in outs:
        assert out.mean(0).abs().max() < 1e-4
        assert (out.std(0, unbiased=False) - 1).abs().max() < 1e-2


def test_add_norm_on_the_lesson_cnn_leaves_the_output_layer_alone() -> None:
    model = li.cnn()
    remedies.add_norm(model)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for block in list(model.children())[:4]:
        assert isinstance(block, nn.Sequential)
        assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
        assert block[1].num_features == block[0].out_channels
    assert len(convs) == 4 and isinstance(model[-1], nn.Linear)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert model(torch.randn(8, 1, 28, 28)).shape == (8, 10)


def test_add_norm_keeps_the_names_of_a_named_sequential() -> None:
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 6), act1=nn.ReLU(), fc2=nn.Linear(6, 2)))
    remedies.add_norm(model)
    assert [n for n, _ in model.named_children()] == ["fc1", "fc1_norm", "act1", "fc2"]
    assert isinstance(model.fc1_norm, nn.BatchNorm1d)


def test_add_norm_layer_kind_and_dtype() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
        nn.ReLU(),
        nn.Linear(5, 2),
    ).double()
    remedies.add_norm(model, kind="layer")
    group, layer = model[1], model[5]
    assert isinstance(group, nn.GroupNorm) and (group.num_groups, group.num_channels) == (1, 4)
    assert isinstance(layer, nn.LayerNorm) and layer.normalized_shape == (5,)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.randn(3, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64


class Attributes(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.b(torch.relu(self.a(x)))
        return out


def test_add_norm_refuses_models_it_cannot_reach_and_unknown_kinds() -> None:
    with pytest.raises(li.LookinsideError, match="Sequential"):
        remedies.add_norm(Attributes())
    with pytest.raises(li.LookinsideError, match="'bad'"):
        remedies.add_norm(mlp([4, 3, 2]), kind="bad")


def test_replace_norm_turns_batchnorm_into_running_batchnorm() -> None:
    model = li.cnn(norm="batch")
    old = [m.nf for m in model.modules() if isinstance(m, li.nn.BatchNorm)]
    count = n_params(model)
    remedies.replace_norm(model)
    new = [m.nf for m in model.modules() if isinstance(m, RunningBatchNorm)]
    assert new == old == [8, 16, 32, 32]
    assert not any(isinstance(m, li.nn.BatchNorm) for m in model.modules())
    assert n_params(model) == count
    assert model(torch.randn(8, 1, 28, 28)).shape == (8, 10)
    torch_bn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    remedies.replace_norm(torch_bn)
    assert isinstance(torch_bn[1], RunningBatchNorm) and torch_bn[1].nf == 4


def test_replace_norm_instance_to_batch_and_missing_kind() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.InstanceNorm2d(4, affine=True), nn.ReLU())
    count = n_params(model)
    remedies.replace_norm(model, "instance", "batch")
    assert type(model[1]) is li.nn.BatchNorm and model[1].nf == 4
    assert n_params(model) == count
    assert model(torch.randn(2, 1, 6, 6)).shape == (2, 4, 4, 4)
    with pytest.raises(li.LookinsideError, match="no instance"):
        remedies.replace_norm(mlp([4, 3, 2]), "instance", "batch")


def test_unfreeze_makes_every_parameter_learn() -> None:
    model = li.cnn().requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert all(p.requires_grad for p in remedies.unfreeze(model).parameters())


def test_drop_final_softmax_returns_the_logits() -> None:
    inner, x = mlp([4, 8, 3]), torch.randn(5, 4)
    model = remedies.drop_final_softmax(nn.Sequential(inner, nn.Softmax(1)))
    assert torch.equal(model(x), inner(x))
    head = nn.Sequential(nn.ReLU(), nn.Linear(8, 3), nn.LogSoftmax(1))
    nested = nn.Sequential(nn.Linear(4, 8), head)
    remedies.drop_final_softmax(nested)
    assert len(head) == 2 and torch.equal(nested(x), head[1](torch.relu(nested[0](x))))
    with pytest.raises(li.LookinsideError, match="no Softmax"):
        remedies.drop_final_softmax(inner)


# ---------------------------------------------------------------- learner changes
def test_lower_lr_divides_the_learning_rate() -> None:
    learn = learner(lr=0.3)
    assert remedies.lower_lr(learn, 4) is learn and learn.lr == pytest.approx(0.075)
    learn.fit(1)
    assert lrs(learn) == pytest.approx([0.075] * 4)


def test_clip_gradients_bounds_the_global_norm_before_each_step() -> None:
    learn, max_norm = learner(lr=5.0), 0.05
    remedies.clip_gradients(learn, max_norm)
    assert [type(cb) for cb in learn.cbs].count(GradientClip) == 1
    before: list[float] = []
    after: list[float] = []

    def norm(into: list[float]) -> Handler:
        def read(learn: li.Learner) -> None:
            grads = [p.grad.norm() for p in learn.model.parameters() if p.grad is not None]
            into.append(torch.linalg.vector_norm(torch.stack(grads)).item())

        return read

    spies = [li.LambdaCallback(after_backward=norm(before), order=-10),
             li.LambdaCallback(after_backward=norm(after), order=10)]  # fmt: skip
    learn.fit(1, cbs=spies)
    assert len(after) == 4 and max(before) > max_norm  # the clip had work to do
    assert max(after) <= max_norm + 1e-4


def test_warm_up_starts_at_a_25th_and_follows_the_learners_lr() -> None:
    learn = learner(lr=0.1)
    remedies.warm_up(learn)
    learn.fit(2)
    seen = lrs(learn)
    assert seen[0] == pytest.approx(0.1 / 25) and seen.max() == pytest.approx(0.1)
    assert seen[-1] < seen.max() / 2 and seen.argmax() == 2  # up over a quarter, then down
    remedies.lower_lr(learn)
    learn.fit(2)
    seen = lrs(learn)
    assert seen[0] == pytest.approx(0.01 / 25) and seen.max() == pytest.approx(0.01)


def seen_inputs(learn: li.Learner, epochs: int = 1) -> tuple[Tensor, Tensor]:
    """The training and validation inputs the model received during a fit."""
    train: list[Tensor] = []
    valid: list[Tensor] = []

    def keep(learn: li.Learner) -> None:
        (train if learn.training else valid).append(learn.xb.detach().clone())

    learn.fit(epochs, cbs=[li.LambdaCallback(after_pred=keep)])
    return torch.cat(train), torch.cat(valid)


def test_normalise_inputs_standardises_the_batches_the_model_sees() -> None:
    x = 5 + 3 * tensors(64)[0]
    learn = remedies.normalise_inputs(learner(x=x))
    train, valid = seen_inputs(learn)
    assert train.shape == (64, 20)
    assert train.mean().item() == pytest.approx(0, abs=1e-5)
    assert train.std().item() == pytest.approx(1, abs=1e-4)
    assert valid.mean().abs() < 0.2 and abs(valid.std().item() - 1) < 0.2


def test_normalise_inputs_uses_per_channel_statistics_for_images() -> None:
    mean, std = torch.tensor([1.0, 5.0, -3.0]), torch.tensor([0.5, 2.0, 4.0])
    x = mean.view(1, 3, 1, 1) + std.view(1, 3, 1, 1) * tensors(64, (3, 4, 4))[0]
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 3))
    train, _ = seen_inputs(remedies.normalise_inputs(learner(model, x=x)))
    assert train.mean((0, 2, 3)).abs().max() < 1e-5
    assert (train.std((0, 2, 3)) - 1).abs().max() < 1e-4


def test_larger_batch_changes_the_tensor_loaders_batch_size() -> None:
    learn = learner()
    remedies.larger_batch(learn, 32)
    assert learn.dls.train.bs == 32
    sizes: list[int] = []
    learn.fit(1, cbs=[li.LambdaCallback(before_batch=lambda lrn: sizes.append(len(lrn.xb)))])
    assert sizes[:2] == [32, 32] and len(sizes) == 2 + 1  # two training, one validation batch
    x, y = tensors(64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    other = li.Learner(nn.Linear(20, 3), li.DataLoaders(loader))
    with pytest.raises(li.LookinsideError, match="batch_size=32"):
        remedies.larger_batch(other, 32)


def test_find_lr_sets_the_finders_suggestion_and_keeps_the_weights() -> None:
    torch.manual_seed(1)
    learn = learner(lr=1e-4)
    weights = copy.deepcopy(learn.model.state_dict())
    remedies.find_lr(learn)
    torch.manual_seed(1)
    twin = learner(lr=1e-4)
    suggestion = twin.lr_find().suggestion
    assert suggestion is not None and learn.lr == pytest.approx(suggestion)
    assert learn.lr != 1e-4
    state = learn.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in weights.items())
    learn.fit(1)
    assert lrs(learn) == pytest.approx([suggestion] * 4)


# ---------------------------------------------------------------- CHANGES
def test_a_model_change_drops_the_optimizer_so_the_new_layers_train() -> None:
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3))
    learn = learner(model)
    learn.create_opt()
    remedies.CHANGES["add_norm"](learn)
    assert learn.model is model and learn.opt is None
    norm = model[1]
    assert isinstance(norm, nn.BatchNorm1d)
    learn.fit(1)
    assert not torch.equal(norm.weight, torch.ones(32))
    assert not torch.equal(norm.bias, torch.zeros(32))


def test_every_change_is_named_after_a_remedy_the_advice_gives() -> None:
    names = set()
    for setup in (advice.Setup(lr=0.1), advice.Setup(lr=0.1, norm_layers=("InstanceNorm2d",))):
        for makers in advice.REMEDIES.values():
            names |= {r.name for make in makers if (r := make(setup, ())) is not None}
    assert set(remedies.CHANGES) <= names


def test_a_module_placed_twice_gets_a_norm_and_an_activation_at_each_place() -> None:
    """`named_children` lists a shared module once; the transformations see every place."""
    hidden, act = nn.Linear(8, 8), nn.ReLU()
    model = nn.Sequential(nn.Linear(4, 8), act, hidden, act, hidden, act, nn.Linear(8, 2))
    x = torch.randn(16, 4)
    remedies.add_norm(model)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU",
                     "Linear", "BatchNorm1d", "ReLU", "Linear"]  # fmt: skip
    assert model[3] is model[6] and model[4] is not model[7]  # the weights stay shared
    remedies.general_relu(model)
    assert sum(isinstance(m, GeneralRelu) for m in model) == 3 and model(x).shape == (16, 2)


def test_add_norm_never_overwrites_a_child_with_its_name() -> None:
    model = nn.Sequential(OrderedDict(
        [("fc", nn.Linear(4, 8)), ("fc_norm", nn.Identity()), ("out", nn.Linear(8, 2))]
    ))  # fmt: skip
    remedies.add_norm(model)
    assert list(model._modules) == ["fc", "fc_norm_2", "fc_norm", "out"]
    assert isinstance(model.fc_norm, nn.Identity) and isinstance(model.fc_norm_2, nn.BatchNorm1d)


def test_replace_norm_on_norms_without_parameters_adds_a_scale_and_shift() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.InstanceNorm2d(4)).double()
    before = sum(p.numel() for p in model.parameters())
    remedies.replace_norm(model, "instance", "batch")
    assert sum(p.numel() for p in model.parameters()) == before + 2 * 4
    assert model[1].mults.dtype == torch.float64  # the model's dtype, though the old had none
    assert model(torch.randn(2, 1, 6, 6, dtype=torch.float64)).shape == (2, 4, 4, 4)


def test_normalise_inputs_refuses_inputs_that_are_not_floats() -> None:
    tokens = torch.randint(0, 10, (64, 5))
    dls = li.DataLoaders.from_tensors(tokens, torch.randint(0, 2, (64,)), bs=16)
    learn = li.Learner(nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(20, 2)), dls)
    with pytest.raises(li.LookinsideError, match=r"standardises float inputs.*torch\.int64"):
        remedies.normalise_inputs(learn)

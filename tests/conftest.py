"""Shared fixtures: tiny data and models that train in milliseconds."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import matplotlib
import pytest
import torch
from hypothesis import settings
from torch import nn

import lookinside as li

matplotlib.use("Agg")

# Property tests draw the same examples on every run, so CI cannot turn red on a new draw;
# `HYPOTHESIS_PROFILE=explore pytest tests/test_fuzz.py` draws new examples.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def tiny_dls(n_train: int = 12, n_valid: int = 8, bs: int = 4, valid_bs: int = 4) -> li.DataLoaders:
    """3 training batches and 2 validation batches of 5 features, 3 classes."""
    g = torch.Generator().manual_seed(0)
    xt, xv = torch.randn(n_train, 5, generator=g), torch.randn(n_valid, 5, generator=g)
    yt, yv = (
        torch.randint(0, 3, (n_train,), generator=g),
        torch.randint(0, 3, (n_valid,), generator=g),
    )
    return li.DataLoaders.from_tensors(xt, yt, xv, yv, bs=bs, valid_bs=valid_bs)


def tiny_model() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def quiet_learner(**kwargs: object) -> li.Learner:
    """A learner on tiny data whose progress callback prints nothing."""
    learn = li.Learner(tiny_model(), tiny_dls(), lr=0.1, **kwargs)  # type: ignore[arg-type]
    learn.progress_bar.rows = False
    return learn


def write_small_mnist(
    directory: Path, n_train: int = 256, n_test: int = 64, sums: bool = True
) -> Path:
    """A directory of MNIST-format files holding the first images of the real data."""
    from lookinside.datasets.mnist import EMBEDDED_DIR, FILES, read_mnist_arrays

    arrays = read_mnist_arrays(EMBEDDED_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for role, base in FILES.items():
        n = n_train if role.startswith("train") else n_test
        path = directory / f"{base}.gz"
        li.datasets.write_idx(path, arrays[role][:n])
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    if sums:
        (directory / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide small MNIST directory (256 training and 64 test images)."""
    return write_small_mnist(tmp_path_factory.mktemp("mnist"))


OUTPUTS = (
    "report.html",
    "telemetry.npz",
    "diagnosis.json",
    "model.pt",
)  # a run's, after its epochs


@pytest.fixture(scope="session")
def two_epoch_run(small_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One whole 2-epoch run on small MNIST, shared by the tests (which copy it, never change
    it); PyTorch's default init gives it findings, so that its diagnosis says something."""
    from lookinside.cli import main

    out = tmp_path_factory.mktemp("two-epochs") / "run"
    argv = ["train", "--data", str(small_mnist), "--bs", "32", "--epochs", "2", "--init", "default"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def cut_after_last_checkpoint(run: Path, copy: Path) -> Path:
    """A copy of `run` whose outputs were lost after its last epoch's checkpoint (a kill)."""
    shutil.copytree(run, copy)
    for name in OUTPUTS:
        (copy / name).unlink()
    shutil.rmtree(copy / "plots")
    assert (copy / "checkpoints" / "epoch-0002.pt").is_file()
    return copy


@pytest.fixture(scope="session")
def mnist_subset() -> li.DataLoaders:
    """6,000 real training images and 1,000 test images, batches of 64 (94 steps an epoch)."""
    x, y, xv, yv = li.load_mnist()
    return li.DataLoaders.from_tensors(x[:6000], y[:6000], xv[:1000], yv[:1000], bs=64)

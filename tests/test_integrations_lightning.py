"""The Lightning callback, end to end on a small model: it watches the LightningModule's
layers through `fit`, one step per optimizer step, reads the loss each step returns, and
writes and prints the diagnosis; lightning is imported only when the callback is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lookinside.integrations.lightning import LookInside

# Lightning's own advice on a laptop-sized run (few workers, few batches) and its use of a
# deprecated torch API: not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`isinstance.treespec, LeafSpec.` is deprecated"),
]


class Classifier(pl.LightningModule):
    def __init__(self, bias: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                                 nn.Linear(32, 3))  # fmt: skip
        with torch.no_grad():
            self.net[2].bias.fill_(bias)  # a large negative bias kills the second layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loaders() -> tuple[DataLoader, DataLoader]:
    torch.manual_seed(1)
    x = torch.randn(256, 10)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    train = DataLoader(TensorDataset(x[:192], y[:192]), batch_size=32, shuffle=True)
    return train, DataLoader(TensorDataset(x[192:], y[192:]), batch_size=64)


def fit(model: pl.LightningModule, root: Path, **options: object) -> LookInside:
    look = LookInside(**options)  # type: ignore[arg-type]
    trainer = pl.Trainer(max_epochs=3, default_root_dir=root, logger=False, callbacks=[look],
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")  # fmt: skip
    trainer.fit(model, *loaders())
    return look


def test_a_fit_is_watched_and_diagnosed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    look = fit(Classifier(), tmp_path)
    assert look.telemetry is not None and look.directory == tmp_path / "lookinside"
    assert look.telemetry.steps.tolist() == list(range(3 * 6))  # one per optimizer step
    assert [s.name for s in look.telemetry.specs][:4] == ["input", "net.0", "net.1", "net.2"]
    assert (look.telemetry.losses > 0).all()  # the loss each training step returned
    assert len(look.epochs) == 3 and {"train_loss", "valid_loss"} == set(look.epochs[0])
    for name in ("telemetry.npz", "diagnosis.json", "plots/means_stds.png"):
        assert (look.directory / name).is_file(), name
    assert "diagnosis: nothing looks wrong" in capsys.readouterr().out
    assert not look.findings or all(f.severity == "info" for f in look.findings)


def test_a_broken_model_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    look = fit(Classifier(bias=-20.0), tmp_path, print_findings=False)
    kinds = {(f.kind, f.layers[0]) for f in look.findings}
    assert ("dead_activations", "net.3") in kinds, kinds
    saved = json.loads((tmp_path / "lookinside" / "diagnosis.json").read_text())
    assert any(f["kind"] == "dead_activations" for f in saved["findings"])
    assert "diagnosis" not in capsys.readouterr().out


def test_lookinside_does_not_import_lightning() -> None:
    code = "import sys, lookinside; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The Hugging Face callback, end to end on a tiny BERT built from its config (nothing is
downloaded): it watches the model's blocks through `train`, one step per optimizer step, reads
the loss each forward returns, writes and prints the diagnosis; transformers is imported only
when the callback is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from lookinside.integrations.huggingface import LookInside, epoch_losses


def train(root: Path, lr: float, **options: object) -> LookInside:
    """Three epochs of a tiny BERT telling whether token 5 is in a sequence."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 32, (256, 12), generator=gen)
    data = [
        {"input_ids": i, "labels": label}
        for i, label in zip(ids, (ids == 5).any(1).long(), strict=True)
    ]
    args = TrainingArguments(output_dir=str(root), num_train_epochs=3, learning_rate=lr,
                             per_device_train_batch_size=32, eval_strategy="epoch",
                             save_strategy="no", report_to=[], use_cpu=True, logging_steps=4,
                             disable_tqdm=True)  # fmt: skip
    look = LookInside(**options)  # type: ignore[arg-type]
    model = BertForSequenceClassification(config)
    Trainer(model=model, args=args, train_dataset=data[:192], eval_dataset=data[192:],
            callbacks=[look]).train()  # fmt: skip
    return look


def test_a_training_is_watched_and_diagnosed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    look = train(tmp_path, 1e-3)
    assert look.telemetry is not None and look.directory == tmp_path / "lookinside"
    assert look.telemetry.steps.tolist() == list(range(3 * 6))  # one per optimizer step
    names = [s.name for s in look.telemetry.specs]
    assert names[:5] == ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1",
                         "bert.pooler", "classifier"]  # fmt: skip
    assert (look.telemetry.losses > 0).all()  # the loss each training forward returned
    assert len(look.epochs) == 3 and {"train_loss", "valid_loss"} == set(look.epochs[0])
    for name in ("telemetry.npz", "diagnosis.json", "plots/means_stds.png"):
        assert (look.directory / name).is_file(), name
    assert "diagnosis: nothing looks wrong" in capsys.readouterr().out


def test_a_broken_training_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    look = train(tmp_path, 3.0, print_findings=False)  # Adam at lr 3: the pooler's tanh pins
    errors = {(f.kind, f.layers[0]) for f in look.findings if f.severity == "error"}
    assert any(layer == "bert.pooler" for _, layer in errors), errors
    saved = json.loads((tmp_path / "lookinside" / "diagnosis.json").read_text())
    assert any(f["severity"] == "error" for f in saved["findings"])
    assert "diagnosis" not in capsys.readouterr().out


def test_the_epochs_losses_come_from_the_log() -> None:
    log = [{"loss": 0.9, "epoch": 0.5}, {"loss": 0.8, "epoch": 1.0},
           {"eval_loss": 0.7, "epoch": 1.0}, {"loss": 0.6, "epoch": 2.0},
           {"eval_loss": 0.65, "epoch": 2.0}, {"train_loss": 0.7}]  # fmt: skip
    assert epoch_losses(log) == [{"train_loss": 0.8, "valid_loss": 0.7},
                                 {"train_loss": 0.6, "valid_loss": 0.65}]  # fmt: skip
    assert epoch_losses([{"eval_loss": 0.7}]) == []  # no training loss logged before it


def test_lookinside_does_not_import_transformers() -> None:
    code = "import sys, lookinside; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

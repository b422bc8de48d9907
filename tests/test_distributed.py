"""Several processes with torch.distributed (gloo on the CPU), and bf16 autocast."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lookinside as li
from lookinside.cli import main
from lookinside.distributed import sum_over_ranks


def metrics(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--data", str(small_mnist), "--epochs", "2", "--arch", "4,8", "--device", "cpu"]
    ddp = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "lookinside", "train", *common, "--bs", "16", "--out", str(ddp)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("run directory:") == 1  # only rank 0 prints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # and only rank 0 writes
    single = tmp_path / "single"
    assert main(["train", *common, "--bs", "32", "--out", str(single)]) == 0
    for a, b in zip(metrics(ddp), metrics(single), strict=True):
        assert a == pytest.approx(b, rel=1e-4, abs=1e-6)
    assert (ddp / "checkpoints").is_dir() and (ddp / "report.html").exists()


def _sum_many_times(rank: int, store_file: str, held: torch.Tensor) -> None:
    """One rank of the test below: 200 sums; count how often gloo still held the tensor after."""
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.FileStore(store_file, 2), rank=rank, world_size=2)
    for _ in range(200):
        t = sum_over_ranks(torch.ones(3))
        held[rank] += int(t._use_count() > 1)
        assert t.tolist() == [2.0, 2.0, 2.0]
    dist.destroy_process_group()


def test_a_summed_tensor_is_no_longer_held_by_the_gloo_worker_thread(tmp_path: Path) -> None:
    # Without the wait, about one sum in five returns while gloo's worker still holds the
    # tensor; a rank that then exits at once aborts with SIGABRT (the CI failure this guards).
    held = torch.zeros(2, dtype=torch.long).share_memory_()
    torch.multiprocessing.spawn(_sum_many_times, args=(str(tmp_path / "store"), held), nprocs=2)
    assert held.tolist() == [0, 0]


def test_shards_split_every_epoch_between_ranks() -> None:
    x = torch.arange(10)
    torch.manual_seed(0)
    a = torch.cat([xb for (xb,) in li.TensorLoader(x, bs=2, shuffle=True, shard=(0, 2))])
    torch.manual_seed(0)
    b = torch.cat([xb for (xb,) in li.TensorLoader(x, bs=2, shuffle=True, shard=(1, 2))])
    assert len(a) == len(b) == 5 and sorted([*a.tolist(), *b.tolist()]) == list(range(10))
    assert len(li.TensorLoader(torch.arange(11), bs=2, shard=(1, 2))) == 3  # 5 items: 2 + 2 + 1


def test_a_run_leaves_the_process_group_it_joined_and_keeps_one_joined_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch.distributed as dist

    from lookinside import distributed

    real = dist.init_process_group

    def one_rank(backend: str) -> None:  # what torchrun's environment would describe
        real(backend, init_method=f"file://{tmp_path / 'joined'}", rank=0, world_size=1)

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(distributed.dist, "init_process_group", one_rank)
    with distributed.process_group_from_env():
        assert dist.is_initialized()
    assert not dist.is_initialized()
    real("gloo", init_method=f"file://{tmp_path / 'before'}", rank=0, world_size=1)
    try:
        with distributed.process_group_from_env():
            assert dist.is_initialized()
        assert dist.is_initialized()  # the caller's group: the caller leaves it
    finally:
        dist.destroy_process_group()

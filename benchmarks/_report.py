"""Shared by the benchmark scripts: the machine's description and the sections of RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = """# Benchmark results

Each section below is appended by a script of `benchmarks/` (`loop_overhead.py`, `loader.py`)
when it runs without `--no-write`: the date (UTC), the exact command, the machine and the figures.
Times are in seconds: each variant's runs alternate with the other's, and the summaries are
medians over those repeats.
"""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else `platform.processor()`, else the machine."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device) -> str:
    """`cpu`, or the accelerator with its product name (`cuda:0 (NVIDIA H100 ...)`)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)}, CUDA {torch.version.cuda})"
    return str(device)


def machine_description(device: torch.device) -> dict[str, str]:
    """What the figures were measured on, as label -> text."""
    return {
        "CPU": f"{cpu_model()}, {os.cpu_count()} logical CPUs, "
        f"torch uses {torch.get_num_threads()} threads",
        "system": f"{platform.platform()}, Python {platform.python_version()}",
        "torch": torch.__version__,
        "device": device_name(device),
    }


def command_line() -> str:
    """The command that started this process, quoted for a shell."""
    return shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; the first column is left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join([":---", *["---:"] * (len(header) - 1)]) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def append_section(title: str, device: torch.device, body: str, path: Path = RESULTS) -> None:
    """Append a `## title` section (date, command, machine, then `body`) to RESULTS.md.

    The file is created with its header first if it does not exist.
    """
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {title}, {now}", "", f"- command: `{command_line()}`"]
    lines += [f"- {label}: {text}" for label, text in machine_description(device).items()]
    section = "\n".join([*lines, "", body.rstrip(), ""])
    existing = path.read_text() if path.exists() else HEADER
    path.write_text(existing.rstrip("\n") + "\n\n" + section)
    print(f"appended to {path}")

"""`Watching`: what the trainers' callbacks share (Lightning's, Hugging Face's): a watcher on
the model while it trains, then its telemetry and diagnosis written into the run's directory
and printed. Imports no framework."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..diagnosis import Finding, format_findings
from ..telemetry import Telemetry
from ..watcher import Watcher


class Watching:
    """The state and the start and end of a callback's watch (a mixin: the callback calls
    `_setup` from its `__init__`)."""

    def _setup(
        self,
        modules: Sequence[nn.Module | tuple[str, nn.Module]] | None,
        print_findings: bool,
        watch_options: dict[str, Any],
    ) -> None:
        self.modules, self.options = modules, watch_options
        self.print_findings = print_findings
        self.watcher: Watcher | None = None
        self.telemetry: Telemetry | None = None
        self.findings: list[Finding] = []
        self.epochs: list[dict[str, float]] = []
        self.directory: Path | None = None

    def _start(self, model: nn.Module) -> None:
        """Watch `model` from its next training step (what an earlier fit left is forgotten)."""
        self.watcher = Watcher(model, self.modules, **self.options)
        self.telemetry, self.findings, self.epochs = None, [], []

    def _stop(self) -> None:
        """The hooks go; what was recorded stays readable (`telemetry`)."""
        if self.watcher is not None:
            self.telemetry = self.watcher.telemetry
            self.watcher.remove()
            self.watcher = None

    def _write(self, directory: Path) -> None:
        """Write the telemetry, its plots and the diagnosis into `directory` (the main
        process's job) and print the findings."""
        from ..runs import RunDir  # the run directory's writer, as `lookinside train` writes it

        if self.telemetry is None:
            return
        self.directory = directory
        self.findings = RunDir(directory).write_telemetry(self.telemetry, self.epochs)
        if self.print_findings:
            print(format_findings(self.findings))
            print(f"lookinside: telemetry and diagnosis in {directory}")

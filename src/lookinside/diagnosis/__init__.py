"""The diagnosis: read a run's telemetry, say what is wrong, where, and what to try.

`diagnose` runs every rule; `Finding` and `Remedy` are what it returns; `format_findings`
prints them. The rules live in `activations`, `gradients` and `curves`, the remedies in
`advice`.
"""

from .diagnose import diagnose
from .findings import Finding, Findings, Remedy, format_findings

__all__ = ["Finding", "Findings", "Remedy", "diagnose", "format_findings"]

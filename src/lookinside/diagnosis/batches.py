"""Rules on the batch the model trains on: BatchNorm over too few items, the lesson's reason for
RunningBatchNorm.
"""

from __future__ import annotations

from .evidence import Evidence
from .findings import Finding

SMALL_BATCH = 8  # BatchNorm over fewer items than this: its statistics are noise


def small_batch(ev: Evidence) -> list[Finding]:
    """A BatchNorm that normalises over batches of fewer than `SMALL_BATCH` items: each
    step's mean and variance are noise, and the running averages used at evaluation are not
    what training normalised with."""
    seen = ev.telemetry.meta.get("norm_batch")
    if not isinstance(seen, dict) or not 0 < seen.get("items", SMALL_BATCH) < SMALL_BATCH:
        return []
    items, layer = int(seen["items"]), str(seen.get("layer", "BatchNorm"))
    message = (
        f"{layer} normalises over batches of {items} item(s): each step's mean and variance "
        "are noise, and the running averages used at evaluation differ from what training "
        "normalised with"
    )
    steps = ev.telemetry.steps
    first = int(steps[0]) if len(steps) else 0
    return [ev.finding("small_batch", [], (first, first), "warning", message, items=items)]

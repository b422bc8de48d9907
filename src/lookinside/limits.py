"""Limits of what a run can be given, checked before anything is allocated: labels that are
class numbers, and a model whose training step fits in the device's memory."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .errors import LookinsideError

MAX_CLASSES = 10_000


def classes(y_train: Tensor, y_valid: Tensor, data: str = "the data") -> int:
    """The number of classes the labels name: they must be integers from 0 to K-1, each
    class in the training labels (a stray 255 would otherwise make a 256-class model)."""
    if y_train.is_floating_point() or y_valid.is_floating_point():
        raise LookinsideError(f"{data}: labels must be integers, not {y_train.dtype}.")
    present = torch.unique(y_train)
    low, high = int(present[0]), int(present[-1])
    if low < 0 or high >= MAX_CLASSES:
        bad = low if low < 0 else high
        raise LookinsideError(
            f"{data}: labels must be class numbers from 0 to {MAX_CLASSES - 1}, not {bad}."
        )
    if len(present) < high + 1:
        missing = sorted(set(range(high + 1)) - set(present.tolist()))
        raise LookinsideError(
            f"{data}: labels run up to {high}, but {len(missing)} of the classes 0-{high} never "
            f"occur in the training set (first {missing[0]}): labels must be 0 to K-1."
        )
    extra = torch.unique(y_valid[(y_valid < 0) | (y_valid > high)])
    if len(extra):
        raise LookinsideError(
            f"{data}: the validation labels hold {int(extra[0])}, which no training label is."
        )
    return high + 1


def check_fits(arch: Sequence[int], bs: int, image: tuple[int, ...], device: torch.device) -> None:
    """Refuse, before allocating anything, a model and batch whose training step cannot fit in
    the device's memory (estimated: parameters with their gradients and optimizer state, and
    each block's outputs kept for the backward, with their gradients)."""
    channels, side = image[0], max(image[1:], default=1)
    params = values = 0
    for c in arch:
        params += 9 * channels * c + 3 * c  # the conv's weights and bias, a norm's
        side = (side + 1) // 2  # a stride-2 conv
        values += bs * c * side * side
        channels = c
    needed = 4 * (4 * params + 4 * values)  # float32: x4 for parameters, x4 for activations
    free = _free_memory(device)
    if free is not None and needed > free:
        raise LookinsideError(
            f"a training step of this model (arch {','.join(map(str, arch))}) at batch size "
            f"{bs} needs about {needed / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB "
            f"free on {device}: use fewer channels or a smaller --bs."
        )


def _free_memory(device: torch.device) -> int | None:
    """Bytes free on `device` (a CPU's available memory), or None where unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None

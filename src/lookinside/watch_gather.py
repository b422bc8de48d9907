"""`Gathered`: the small outputs and gradients of a step, measured together, so that what a
step costs hardly grows with the number of watched modules.

A watched module's hook costs a few microseconds of Python; measuring its output costs a
dozen kernels, each with a fixed cost of its own (5-10 µs on a CPU, whatever the size). For
the many small outputs of a deep model the fixed costs are all the cost, so the hooks only
hand small outputs over, and `measure_outputs` measures them at the end of the forward, one
`watch_stats.output_rows` per shape and spec (a stack, then a dozen kernels for them all).
Their gradients come the same way: the hook asks autograd to keep the output's gradient
(`retain_grad`, kept by autograd's C++, no Python call in the backward) and
`measure_gradients` reads them all when the backward ends. Large outputs are measured at
once, in their hook: their kernels cost more than the fixed part, and stacking them would
copy them.

Measuring later is only right if the output is still what the module returned. A module
that changes its input in place (`ReLU(inplace=True)` after a norm) changes the output of
the module before it: so each layer is measured at once, in its hook, the first time (a
probe), and gathered only if nothing changed its output by the end of that forward; a layer
whose gathered output was changed after all (`Tensor._version`) loses that step's
measure and is measured in its hook from then on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .telemetry import LayerSpec
from .watch_buffer import StepRows
from .watch_stats import (
    extent,
    gradient_counts,
    gradient_into,
    gradient_rows,
    merge_rows,
    output_counts,
    output_into,
    output_rows,
)

SMALL = 1 << 16  # values: outputs up to this size are gathered, larger ones measured at once
HELD = 1 << 22  # values gathered at most before they are measured (the memory they hold)


class Gathered:
    """The outputs and gradients handed over in a step, and what is known of each layer."""

    def __init__(self, hist_sample: int | None, bins: int) -> None:
        self.hist_sample, self.bins = hist_sample, bins
        self._outputs: list[tuple[int, Tensor, int, bool, bool]] = []  # layer, output,
        # version, light, fresh (the layer's first output in the step: its row untouched)
        self._gradients: list[tuple[int, Tensor, bool]] = []  # layer, output (whose .grad
        # autograd keeps), details
        self._held = 0
        self.together: set[int] = set()  # layers gathered (the others: measured in hooks)
        self._probed: set[int] = set()
        self._probes: list[tuple[int, Tensor, int, Any]] = []  # layer, output, version, kind
        self._tensors: dict[tuple[Any, ...], Tensor] = {}  # layers' indices and ranges

    def takes(self, layer: int, x: Tensor) -> bool:
        """Whether `layer`'s output `x` is gathered (else measured at once, in its hook)."""
        return layer in self.together and x.numel() <= SMALL

    def probe(self, layer: int, x: Tensor, spec: LayerSpec) -> None:
        """`layer`'s output `x` was measured at once, in its hook; the first time, note it,
        to decide at the end of the forward whether to gather the layer (`settle`)."""
        if layer not in self._probed:
            self._probes.append((layer, x, x._version, _kind(x, spec)))

    def settle(self) -> None:
        """The forward is over: a probed layer is gathered from now on if nothing changed its
        output since, and other layers' outputs are of its kind (shape, spec): alone, it
        would cost as many kernels as in its hook, and more for its gradient (a copy)."""
        kinds: dict[Any, list[int]] = defaultdict(list)
        for layer, x, version, kind in self._probes:
            self._probed.add(layer)
            if x._version == version and x.numel() <= SMALL:
                kinds[kind].append(layer)
        self.together.update(layer for same in kinds.values() if len(same) > 1 for layer in same)
        self._probes.clear()

    def add_output(self, layer: int, x: Tensor, light: bool, fresh: bool) -> bool:
        """Gather `layer`'s output `x` (`fresh`: its first in the step); True when the
        values held call for measuring now."""
        self._outputs.append((layer, x, x._version, light, fresh))
        self._held += x.numel()
        return self._held > HELD

    def add_gradient(self, layer: int, x: Tensor, details: bool) -> None:
        """Gather the gradient of `layer`'s output `x` (a tensor made by autograd): autograd
        keeps it in `x.grad`, where `measure_gradients` reads it. It goes with `x`, which
        nothing but this and the user's code holds once the backward is over (a user who
        asked for `x.grad` keeps it)."""
        x.retain_grad()
        self._gradients.append((layer, x, details))

    def last_gradient_source(self) -> Tensor | None:
        """The output gathered last whose gradient is awaited (its node runs early in the
        backward)."""
        return self._gradients[-1][1] if self._gradients else None

    def measure_outputs(self, rows: StepRows, specs: Sequence[LayerSpec]) -> None:
        """Measure the gathered outputs into `rows`; one changed since is dropped, with its
        gradient, and its layer measured in its hook from now on."""
        outputs, self._outputs, self._held = self._outputs, [], 0
        groups: dict[Any, list[tuple[int, Tensor, bool]]] = defaultdict(list)
        for layer, x, version, light, fresh in outputs:
            if x._version != version:
                self._changed(layer)
                continue
            groups[(light, *_kind(x, specs[layer]))].append((layer, x, fresh))
        for (light, shape, _, device, *_), members in groups.items():
            layers = [layer for layer, _, _ in members]
            spec = specs[layers[0]]
            if len(members) == 1 and members[0][2]:  # alone, into an untouched row
                x = members[0][1]
                counts = output_into(x, rows.views[layers[0]], spec, self.hist_sample, light)
                rows.counts[layers[0], :3] = counts
                continue
            xs = [x for _, x, _ in members]
            ranges = None if light else self._ranges(layers, specs, device)
            new = output_rows(xs, spec, self.hist_sample, self.bins, light, ranges=ranges)
            self._merge(rows, layers, new, device)
            counts = output_counts(extent(shape, spec.unit_dim, self.hist_sample), light)
            rows.add_counts(layers, counts)

    def _changed(self, layer: int) -> None:
        self.together.discard(layer)
        self._gradients = [g for g in self._gradients if g[0] != layer]  # not measured

    def measure_gradients(self, rows: StepRows) -> bool:
        """Measure the gathered outputs' gradients that came into `rows` (the others are
        marked awaited); returns whether any came."""
        gradients, self._gradients = self._gradients, []
        groups: dict[Any, list[tuple[int, Tensor]]] = defaultdict(list)
        missing = []
        for layer, x, details in gradients:
            g = x.grad
            if g is None:
                missing.append(layer)
            else:
                groups[(g.shape, g.dtype, g.device, details)].append((layer, g))
        if missing:
            rows.await_gradients(missing)
        for (shape, _, device, details), members in groups.items():
            layers = [layer for layer, _ in members]
            counts = gradient_counts(math.prod(shape), self.hist_sample, details)
            if len(members) == 1:
                layer, g = members[0]
                fresh = layer not in rows.graded
                gradient_into(g, rows.views[layer], self.hist_sample, details, fresh)
                rows.add_gradient_counts(layer, counts)
                continue
            new = gradient_rows([g for _, g in members], self.hist_sample, self.bins, details)
            self._merge(rows, layers, new, device)
            rows.add_gradient_counts(layers, counts)
        return bool(groups)

    def _merge(self, rows: StepRows, layers: list[int], new: Tensor, device: torch.device) -> None:
        """Add the measured rows `new` into the rows of `layers`."""
        assert rows.rows is not None
        if len(layers) == 1:
            merge_rows(rows.rows[layers[0]], new[0])
            return
        index = self._cached(("index", tuple(layers), device), lambda: layers)
        merge_rows(rows.rows, new, index)

    def _ranges(self, layers: list[int], specs: Sequence[LayerSpec], device: Any) -> Tensor:
        """The histogram ranges of `layers` (rows of (lo, hi)), on the device."""
        key = ("ranges", tuple(layers), device)
        return self._cached(key, lambda: [[specs[i].lo, specs[i].hi] for i in layers])

    def _cached(self, key: tuple[Any, ...], values: Any) -> Tensor:
        """The tensor of `values()` on the key's device, made once (a copy to the device
        waits for it: never at each step)."""
        tensor = self._tensors.get(key)
        if tensor is None:
            if len(self._tensors) >= 256:  # groups that keep changing: keep the cache small
                self._tensors.clear()
            tensor = self._tensors[key] = torch.tensor(values(), device=key[-1])
        return tensor

    def forget(self) -> None:
        """Drop what is gathered (its step ends unrecorded, or its backward never comes)."""
        self._outputs, self._gradients, self._held = [], [], 0
        self._probes.clear()


def _kind(x: Tensor, spec: LayerSpec) -> tuple[Any, ...]:
    """What outputs measured together share: shape, dtype, device and how they are read
    (each keeps its own histogram range)."""
    return (x.shape, x.dtype, x.device, spec.unit_dim, spec.bounds)

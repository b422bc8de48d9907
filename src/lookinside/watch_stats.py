"""The numbers `watch` measures on the device: for outputs, their gradients, or a module's
parameters, as rows of the step's buffer, without reading anything on the host.

A row holds the device fields of `telemetry.STAT_FIELDS` (from `sum` to `pnorm`), the
histogram (`bins` bins over the layer's range, between two more: the values below it and
those at or above its top, `STAT_FIELDS`' `below` and `above` on the host), then the counts
a compiled step adds on the device (`DEVICE_COUNTS`). The counts of an eager step (`n`,
`sample`, `units`, ...) are shapes, known on the host (`output_counts`).

`output_rows` and `gradient_rows` measure several tensors of one shape together, one row
each, in a handful of kernels whatever their number: the watcher hands them every small
output of a forward, and every small gradient of a backward, at once, so that the cost of a
step hardly grows with the number of watched modules. What each statistic costs on a CPU
decides where it is measured (a reduction over one axis costs twenty times a whole-tensor
sum per value, a histogram a hundred times):

- over the whole output, Σx, Σx² and the largest value: a NaN or a +inf anywhere makes the
  largest value non-finite, a -inf makes Σx -inf, so the first non-finite layer and step are
  exact (Σx² overflows float32 near 1e19, long before the values do; Σx past about 1e32,
  which the sampled extremes tell apart);
- over the first items of the batch (the histogram's sample, and `MIN_ITEMS` at least): each
  unit's extremes, hence the units constant over those items (dead), each unit's floor, and
  the smallest value;
- over a sample of at most `hist_sample` values (the first whole items: batches are
  shuffled, so a random sample): the shares at the floor and the bounds, and, over its
  first `HIST_VALUES` values (whole items), the histogram;
- over a gradient: Σg (a NaN or an infinity anywhere makes it non-finite; it overflows only
  past about 1e32) at every step; Σg² and the sampled share of exact zeros with the details.

A step's rows start at each field's identity (0 for sums and counts, ±inf for the extremes),
so that a module called several times in one step adds its calls up (`merge_rows`): sums,
counts and histograms add, extremes keep the most extreme. A field whose count stayed 0 was
not measured; the host reads it as NaN. Everything here is tensor operations only, so a
compiled model's hooks trace it into their graph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .telemetry import FIELD, STAT_FIELDS, LayerSpec

DEVICE_FIELDS = STAT_FIELDS[FIELD["sum"] : FIELD["below"]]
COL = {name: i for i, name in enumerate(DEVICE_FIELDS)}
HIST = len(DEVICE_FIELDS)  # the histogram's first column
SUM, SUMSQ, MIN, MAX, DEAD, FLOOR, BOUND, GSUM, GSUMSQ, GZERO, PNORM = (
    COL[name] for name in DEVICE_FIELDS
)
DETAILS = ("dead", "floor", "bound", "gsumsq", "gzero", "pnorm")  # at the detailed steps only
# Counts a compiled step adds on the device, after the histogram (the host's own otherwise):
# values, sampled values, units, gradient values, sampled gradient values, gradients awaited.
DEVICE_COUNTS = ("n", "sample", "units", "gn", "gsample", "ghooked")
GHOOKED = -1  # the column of a row that counts the gradients a compiled step awaits
BAND = 0.01  # "at the floor" or "at a bound": within 1 % of the range
MIN_ITEMS = 8  # items of the batch, at least, over which a unit must vary not to be dead
MIN_PER_UNIT = 8  # fewer values per unit than this cannot tell a dead unit
HIST_VALUES = 1024  # values, at most, in a histogram: a plot's picture, which more would not
# change (a histogram costs about 7 ns a value on a CPU core, most of a detailed step)


Views = list[Tensor]  # a row's 0-d views, one per device field, then its histogram


def counts_start(bins: int) -> int:
    """The first of a row's device counts: after the fields and the histogram with its two
    edge bins (below and above its range)."""
    return HIST + bins + 2


def row_width(bins: int) -> int:
    """Columns of a device row: the fields, the histogram and its edge bins, the counts."""
    return counts_start(bins) + len(DEVICE_COUNTS)


def views(row: Tensor, bins: int) -> Views:
    """Views into one layer's row, made once: `views[SUM]` ... `views[PNORM]`, then the
    histogram with its edge bins (`views[HIST]`). Writing through them (`out=`) costs no
    indexing per step."""
    return [row[i] for i in range(HIST)] + [row[HIST : HIST + bins + 2]]


def identity_row(bins: int, device: torch.device | None = None) -> Tensor:
    """A row as a step starts: each field at its identity (0; +inf for the smallest value,
    -inf for the largest), the parameter norm NaN (it is measured, never added)."""
    row = torch.zeros(row_width(bins), device=device)
    row[MIN], row[MAX], row[PNORM] = float("inf"), float("-inf"), float("nan")
    return row


def merge_rows(row: Tensor, new: Tensor, index: Tensor | None = None) -> None:
    """Add the rows `new` into `row` in place: one row (one more call of the same module in
    the step) into another, a block into a block, or, with `index`, each row of `new` into
    the row `index` names (repeats add up). Sums, counts and the histogram add; the extremes
    keep the most extreme; the parameter norm stays `row`'s."""
    if index is None:
        row[..., SUM : SUMSQ + 1] += new[..., SUM : SUMSQ + 1]
        row[..., MIN] = torch.minimum(row[..., MIN], new[..., MIN])
        row[..., MAX] = torch.maximum(row[..., MAX], new[..., MAX])
        row[..., DEAD:PNORM] += new[..., DEAD:PNORM]
        row[..., HIST:] += new[..., HIST:]
        return
    row[:, SUM : SUMSQ + 1].index_add_(0, index, new[:, SUM : SUMSQ + 1])
    row[:, MIN].scatter_reduce_(0, index, new[:, MIN], "amin")
    row[:, MAX].scatter_reduce_(0, index, new[:, MAX], "amax")
    row[:, DEAD:PNORM].index_add_(0, index, new[:, DEAD:PNORM])
    row[:, HIST:].index_add_(0, index, new[:, HIST:])


def detail_columns(bins: int) -> list[int]:
    """The columns of a row that only detailed steps fill (the histogram's included)."""
    return [COL[name] for name in DETAILS] + list(range(HIST, HIST + bins + 2))


@dataclass(frozen=True)
class Extent:
    """Where an output of one shape is measured: the shape it is seen as (items first; a
    0-d or 1-d output is one item), its units' axis, and the leading items of the sample and
    of the units' extremes (see the module docstring). Host arithmetic only."""

    shape: tuple[int, ...]
    axis: int
    sample: int  # items in the sample (the shares at the floor and the bounds)
    items: int  # items over which each unit's extremes are taken
    units: int
    hist: int  # items in the histogram

    @property
    def per_item(self) -> int:
        return math.prod(self.shape[1:])

    @property
    def per_unit(self) -> int:
        """Values of each unit over the items."""
        return self.items * self.per_item // self.units


def extent(shape: Sequence[int], unit_dim: int, hist_sample: int | None) -> Extent:
    """The `Extent` of an output of `shape` whose units lie along `unit_dim`."""
    if len(shape) < 2:
        return Extent((1, math.prod(shape)), 0, 1, 1, 1, 1)
    seen, n = tuple(shape), shape[0]
    numel = math.prod(seen)
    if hist_sample is None or numel <= hist_sample:
        sample = n
    else:
        sample = max(1, hist_sample // (numel // n)) if numel else n
    items = n if hist_sample is None else min(n, max(sample, MIN_ITEMS))
    axis = unit_dim % len(shape)
    units = items if axis == 0 else shape[axis]
    sample = min(sample, n)
    hist = sample if hist_sample is None else min(sample, max(1, HIST_VALUES // (numel // n)))
    return Extent(seen, axis, sample, items, units, hist)


def output_counts(e: Extent, light: bool) -> tuple[int, int, int]:
    """The host's counts of an output measured over `e`: values, sampled values, units (the
    sampled ones 0 on a `light` step, which measures the sums and extremes only)."""
    n = math.prod(e.shape)
    return (n, 0, 0) if light else (n, e.sample * e.per_item, e.units)


def gradient_counts(numel: int, hist_sample: int | None, details: bool) -> tuple[int, int]:
    """The host's counts of a gradient: its values and its sampled values."""
    return numel, (min(numel, hist_sample or numel) if details else 0)


def histograms(sample: Tensor, ranges: Tensor, bins: int) -> Tensor:
    """One histogram per row of `sample` (rows, values) over that row's range, `ranges`
    (rows, 2) of [lo, hi) on the device: `bins` bins between an edge bin of the values below
    lo and one of those at or above hi (infinities included, NaN left out). One `histc` for
    all rows: each row's values, in bins, are moved to a stretch of the axis of its own."""
    rows, width = sample.shape[0], bins + 2
    lo, hi = ranges[:, :1], ranges[:, 1:]
    start = torch.arange(rows, device=sample.device, dtype=sample.dtype).unsqueeze(1) * width
    u = torch.addcmul(start + 1, sample - lo, bins / (hi - lo))  # row r's: r·width + [1, bins + 1)
    u = torch.clamp(u, start + 0.5, start + width - 0.5)  # beyond it: the middle of an edge bin
    return torch.histc(u, rows * width, 0, rows * width).view(rows, width)


def histogram_into(x: Tensor, lo: float, hi: float, out: Tensor) -> None:
    """`histograms` of one tensor into `out` (bins + 2 values)."""
    bins = out.numel() - 2
    u = torch.sub(x, lo).mul_(bins / (hi - lo)).clamp_(-0.5, bins + 0.5)
    torch.histc(u, bins + 2, -1, bins + 1, out=out)


def _stacked(xs: Sequence[Tensor], shape: tuple[int, ...]) -> Tensor:
    """The tensors of `xs` (of one shape, each seen as `shape`) as one float32 tensor, a row
    each (a view for one tensor: no copy). Called without gradients."""
    x = xs[0].unsqueeze(0) if len(xs) == 1 else torch.stack(list(xs))
    if x.shape[1:] != shape:
        x = x.reshape(len(xs), *shape)
    return x if x.dtype == torch.float32 else x.float()


def _device_counts(zero: Tensor, counts: tuple[int, ...] | None) -> Tensor:
    """The rows' `DEVICE_COUNTS` columns (zeros: None), made on the device from `zero`, a
    zero per row (no host-to-device copy, which would wait for the device)."""
    if counts is None:
        return zero.unsqueeze(1).expand(-1, len(DEVICE_COUNTS))
    return torch.stack([zero + c for c in counts], 1)


def _at_bounds(x: Tensor, bounds: tuple[float | None, float | None]) -> Tensor:
    """Values within `BAND` of the bounds (of the one bound's size when there is one)."""
    lo, hi = bounds
    if lo is not None and hi is not None:
        band = BAND * (hi - lo)
        return (x <= lo + band) | (x >= hi - band)
    if lo is not None:
        return x <= lo + BAND * (abs(lo) or 1.0)
    assert hi is not None
    return x >= hi - BAND * (abs(hi) or 1.0)


def _per_row(x: Tensor) -> Tensor:
    """The count of True values in each row of `x`, as float."""
    return x.reshape(x.shape[0], -1).sum(1, dtype=torch.float32)


def output_rows(
    xs: Sequence[Tensor],
    spec: LayerSpec,
    hist_sample: int | None,
    bins: int,
    light: bool = False,
    counts: bool = False,
    hooked: bool = False,
    ranges: Tensor | None = None,
) -> Tensor:
    """Measure outputs of one shape, all of one spec (a layer, or layers alike), into one
    row each (see the module docstring); `light`: the sums and extremes only. `ranges`
    (rows, 2), on the device: each row's histogram range (the spec's when None). With
    `counts`, the row's device counts are filled too (a compiled step's; `hooked`: its
    gradient is awaited)."""
    e = extent(xs[0].shape, spec.unit_dim, hist_sample)
    with torch.no_grad():
        x = _stacked(xs, e.shape)
        rows = x.shape[0]
        flat = x.reshape(rows, -1)
        items = x[:, : e.items]
        zero = flat.new_zeros(rows)
        nan = zero + float("nan")
        if light:
            low = items.reshape(rows, -1).amin(1)
            dead = floor = bound = zero
            hist = flat.new_zeros(rows, bins + 2)
        else:
            others = tuple(d for d in range(1, x.ndim) if d != e.axis + 1)
            top, bottom = torch.amax(items, others), torch.amin(items, others)  # (rows, units)
            low = bottom.amin(1)
            dead = _per_row(top == bottom) if e.per_unit >= MIN_PER_UNIT else nan
            sample = x[:, : e.sample]
            shape = [rows] + [1] * (x.ndim - 1)
            shape[e.axis + 1] = e.units
            floor = _per_row(sample <= torch.lerp(bottom, top, BAND).view(shape))
            bound = _per_row(_at_bounds(sample, spec.bounds)) if spec.bounds else nan
            if ranges is None:
                ranges = flat.new_full((rows, 2), spec.lo)
                ranges[:, 1] = spec.hi
            hist = histograms(x[:, : e.hist].reshape(rows, -1), ranges, bins)
        fields = [flat.sum(1), torch.linalg.vector_norm(flat, dim=1).square(), low,
                  flat.amax(1), dead, floor, bound, zero, zero, zero, nan]  # fmt: skip
        n, sampled, units = output_counts(e, light)
        tail = _device_counts(zero, (n, sampled, units, 0, 0, int(hooked)) if counts else None)
        return torch.cat([torch.stack(fields, 1), hist, tail], 1)


def gradient_rows(
    gs: Sequence[Tensor],
    hist_sample: int | None,
    bins: int,
    details: bool = True,
    counts: bool = False,
) -> Tensor:
    """Σg and, with `details`, Σg² and the sampled zeros of gradients of one size, a row
    each (with `counts`, the row's device counts are filled too)."""
    with torch.no_grad():
        g = _stacked(gs, (gs[0].numel(),))
        rows = g.shape[0]
        zero = g.new_zeros(rows)
        inf = zero + float("inf")
        n, sampled = gradient_counts(g.shape[1], hist_sample, details)
        if details:
            square = torch.linalg.vector_norm(g, dim=1).square()
            zeros = _per_row(g[:, :sampled] == 0)
        else:
            square = zeros = zero
        fields = [zero, zero, inf, -inf, zero, zero, zero, g.sum(1), square, zeros, zero]
        tail = _device_counts(zero, (0, 0, 0, n, sampled, 0) if counts else None)
        return torch.cat([torch.stack(fields, 1), g.new_zeros(rows, bins + 2), tail], 1)


def output_into(
    x: Tensor, out: Views, spec: LayerSpec, hist_sample: int | None, light: bool = False
) -> tuple[int, int, int]:
    """Measure one output straight into a row at its identity (the first call of its
    module in the step), through the row's views: what `output_rows` measures, in the
    fewest kernels (an output measured in its hook). Returns the host's counts."""
    e = extent(x.shape, spec.unit_dim, hist_sample)
    x = x.detach()
    if x.shape != e.shape:
        x = x.reshape(e.shape)
    if x.dtype != torch.float32:
        x = x.float()
    flat = x.reshape(-1)
    torch.sum(flat, 0, out=out[SUM])
    torch.dot(flat, flat, out=out[SUMSQ])
    torch.amax(flat, 0, out=out[MAX])
    items = x[: e.items]
    if light:
        torch.amin(items.reshape(-1), 0, out=out[MIN])
        return output_counts(e, light)
    others = tuple(d for d in range(x.ndim) if d != e.axis)
    top, bottom = torch.amax(items, others), torch.amin(items, others)  # (units,)
    torch.amin(bottom, 0, out=out[MIN])
    if e.per_unit >= MIN_PER_UNIT:
        _count(top == bottom, out[DEAD])
    else:
        out[DEAD].fill_(float("nan"))  # too few values per unit to tell a dead one
    histogram_into(x[: e.hist], spec.lo, spec.hi, out[HIST])
    sample = x[: e.sample]
    shape = [1] * x.ndim
    shape[e.axis] = e.units
    _count(sample <= torch.lerp(bottom, top, BAND).view(shape), out[FLOOR])
    if spec.bounds is not None:
        _count(_at_bounds(sample, spec.bounds), out[BOUND])
    else:
        out[BOUND].fill_(float("nan"))  # no bounds to be at
    return output_counts(e, light)


def gradient_into(
    g: Tensor, out: Views, hist_sample: int | None, details: bool = True, fresh: bool = True
) -> tuple[int, int]:
    """One gradient's Σg (and, with `details`, Σg² and sampled zeros) into a row, through
    its views: `gradient_rows` in the fewest kernels. `fresh`: the row has no gradient yet
    in this step, so the sums are written, not added. Returns the host's counts."""
    flat = g.detach().reshape(-1)
    if flat.dtype != torch.float32:
        flat = flat.float()
    counts = gradient_counts(flat.numel(), hist_sample, details)
    if fresh:
        torch.sum(flat, 0, out=out[GSUM])
        if details:
            torch.dot(flat, flat, out=out[GSUMSQ])
            _count(flat[: counts[1]] == 0, out[GZERO])
        return counts
    out[GSUM].add_(flat.sum())
    if details:
        out[GSUMSQ].add_(torch.dot(flat, flat))
        out[GZERO].add_(torch.count_nonzero(flat[: counts[1]] == 0))
    return counts


def _count(mask: Tensor, out: Tensor) -> None:
    """The number of True values of `mask`, into the 0-d float tensor `out`."""
    out.copy_(torch.count_nonzero(mask))


class ParameterNorms:
    """Each watched module's parameter norm (all its parameters together), for all of them
    in a few kernels: one multi-tensor norm per device and dtype of the parameters, added up
    per module. What it needs (the parameters' list, which module owns each) is worked out
    once, and again when the parameters change."""

    def __init__(self) -> None:
        self._key: Any = None
        self._plan: list[tuple[list[Tensor], Tensor]] = []  # params of one kind, their owners
        self._layers: Tensor | None = None

    def measure(self, owners: Sequence[tuple[int, Sequence[Tensor]]], rows: Tensor) -> None:
        """Write into `rows` (layers, columns) the parameter norm of each owner: (layer,
        its module's parameters) pairs, each with parameters."""
        key = (rows.device, tuple((layer, *map(_identity, ps)) for layer, ps in owners))
        if key != self._key:
            self._key = key
            self._plan_for(owners, rows.device)
        with torch.no_grad():
            squares = rows.new_zeros(len(owners))
            for params, index in self._plan:
                norms = torch.stack(torch._foreach_norm(params)).float()
                squares.index_add_(0, index, norms.square().to(rows.device))
            rows[self._layers, PNORM] = squares.sqrt()

    def _plan_for(
        self, owners: Sequence[tuple[int, Sequence[Tensor]]], device: torch.device
    ) -> None:
        kinds: dict[Any, tuple[list[Tensor], list[int]]] = {}
        for i, (_, params) in enumerate(owners):
            for p in params:
                same, which = kinds.setdefault((p.device, p.dtype), ([], []))
                same.append(p)
                which.append(i)
        self._plan = [(ps, torch.tensor(which, device=device)) for ps, which in kinds.values()]
        self._layers = torch.tensor([layer for layer, _ in owners], device=device)


def _identity(p: Tensor) -> tuple[int, torch.device, torch.dtype]:
    """What, changed, calls for a new plan: the parameter itself, its device and dtype."""
    return id(p), p.device, p.dtype

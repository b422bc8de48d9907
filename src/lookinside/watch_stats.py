"""The numbers `watch` measures on the device: for one output, its gradient, or a module's
parameters, written into a row of the step's buffer without reading anything on the host.

A row holds the device fields of `telemetry.STAT_FIELDS` (from `sum` on), then the histogram.
The counts (`n`, `sample`, `units`, ...) are shapes, known on the host: the functions return
them. What each costs on a CPU decides where it is measured (a reduction over one axis costs
twenty times a whole-tensor sum per value, a histogram a hundred times):

- over the whole output, Σx, Σx² and the largest value: a NaN or a +inf anywhere makes the
  largest value non-finite, a -inf makes Σx -inf, so the first non-finite layer and step are
  exact (Σx² overflows float32 near 1e19, long before the values do; Σx past about 1e32,
  which the sampled extremes tell apart);
- over the first items of the batch (the histogram's sample, and `MIN_ITEMS` at least): each
  unit's extremes, hence the units constant over those items (dead), each unit's floor, and
  the smallest value;
- over a sample of at most `hist_sample` values (the first whole items: batches are
  shuffled, so a random sample): the histogram and the shares at the floor and the bounds;
- over a gradient: Σg (a NaN or an infinity anywhere makes it non-finite; it overflows only
  past about 1e32) at every step; Σg² and the sampled share of exact zeros with the details.

A step's rows start at each field's identity (0 for sums and counts, ±inf for the extremes),
so that a module called several times in one step adds its calls up (`merge_rows`): sums,
counts and histograms add, extremes keep the most extreme. A field whose count stayed 0 was
not measured; the host reads it as NaN. Under `torch.compile` the hooks run `traced_*`, which
measure everything at every step with tensor operations only (no host state, so one graph)
and add the counts into the row's last columns (`DEVICE_COUNTS`), since the shapes of a
compiled step are not known to Python.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .telemetry import FIELD, STAT_FIELDS, LayerSpec

DEVICE_FIELDS = STAT_FIELDS[FIELD["sum"] :]
COL = {name: i for i, name in enumerate(DEVICE_FIELDS)}
HIST = len(DEVICE_FIELDS)  # the histogram's first column
SUM, SUMSQ, MIN, MAX, DEAD, FLOOR, BOUND, GSUM, GSUMSQ, GZERO, PNORM = (
    COL[name] for name in DEVICE_FIELDS
)
Views = list[Tensor]  # a row's 0-d views, one per device field, then its histogram
DETAILS = ("dead", "floor", "bound", "gsumsq", "gzero", "pnorm")  # at the detailed steps only
# Counts a compiled step adds on the device, after the histogram (the host's own otherwise):
# values, sampled values, units, gradient values, sampled gradient values, gradients awaited.
DEVICE_COUNTS = ("n", "sample", "units", "gn", "gsample", "ghooked")
GHOOKED = -1  # the column of a row that counts the gradients a compiled step awaits
BAND = 0.01  # "at the floor" or "at a bound": within 1 % of the range
MIN_ITEMS = 8  # items of the batch, at least, over which a unit must vary not to be dead
MIN_PER_UNIT = 8  # fewer values per unit than this cannot tell a dead unit


def row_width(bins: int) -> int:
    """Columns of a device row: the fields, the histogram, the device counts."""
    return HIST + bins + len(DEVICE_COUNTS)


def views(row: Tensor, bins: int) -> Views:
    """Views into one layer's row, made once: `views[SUM]` ... `views[PNORM]`, then the
    histogram (`views[HIST]`). Writing through them (`out=`) costs no indexing per step."""
    return [row[i] for i in range(HIST)] + [row[HIST : HIST + bins]]


def identity_row(bins: int, device: torch.device | None = None) -> Tensor:
    """A row as a step starts: each field at its identity (0; +inf for the smallest value,
    -inf for the largest), the parameter norm NaN (it is measured, never added)."""
    row = torch.zeros(row_width(bins), device=device)
    row[MIN], row[MAX], row[PNORM] = float("inf"), float("-inf"), float("nan")
    return row


def merge_rows(row: Tensor, new: Tensor) -> None:
    """Add the row `new` (one more call of the same module in the step) into `row`, in
    place, or a block of rows into another: sums, counts and the histogram add; the
    extremes keep the most extreme; the parameter norm stays `row`'s."""
    row[..., SUM : SUMSQ + 1] += new[..., SUM : SUMSQ + 1]
    row[..., MIN] = torch.minimum(row[..., MIN], new[..., MIN])
    row[..., MAX] = torch.maximum(row[..., MAX], new[..., MAX])
    row[..., DEAD:PNORM] += new[..., DEAD:PNORM]
    row[..., HIST:] += new[..., HIST:]


def detail_columns(bins: int) -> list[int]:
    """The columns of a row that only detailed steps fill (the histogram's included)."""
    return [COL[name] for name in DETAILS] + list(range(HIST, HIST + bins))


def first_items(x: Tensor, values: int | None) -> Tensor:
    """The first whole items of `x` holding at most `values` values, one item at least (all
    of `x` when `values` is None or `x` has one axis)."""
    if values is None or x.ndim < 2 or x.numel() <= values:
        return x
    return x[: max(1, values // (x.numel() // x.shape[0]))]  # no x[0]: a view costs µs


def output_stats(
    x: Tensor, out: Views, spec: LayerSpec, hist_sample: int | None, light: bool = False
) -> tuple[int, int, int]:
    """Measure the output `x` into a row's views (see the module docstring); `light`: the
    sums and extremes only. Returns the counts: values, sampled values, units."""
    x = x.detach()
    if x.dtype != torch.float32:
        x = x.float()
    flat = x.reshape(-1)
    torch.sum(flat, 0, out=out[SUM])
    torch.dot(flat, flat, out=out[SUMSQ])
    torch.amax(flat, 0, out=out[MAX])
    if x.ndim < 2:
        sample, items = flat, flat.view(1, -1)
    else:
        sample = first_items(x, hist_sample)
        items = x if hist_sample is None else x[: max(sample.shape[0], MIN_ITEMS)]
    if light:
        torch.amin(items.reshape(-1), 0, out=out[MIN])
        return flat.numel(), 0, 0
    axis = spec.unit_dim % x.ndim if x.ndim >= 2 else 0
    others = tuple(d for d in range(items.ndim) if d != axis)
    top, bottom = torch.amax(items, others), torch.amin(items, others)  # (units,)
    torch.amin(bottom, 0, out=out[MIN])
    units = int(top.numel())
    if items.numel() // units >= MIN_PER_UNIT:
        _count(top == bottom, out[DEAD])
    else:
        out[DEAD].fill_(float("nan"))  # too few values per unit to tell a dead one
    hist = out[HIST]
    torch.histc(sample, hist.numel(), spec.lo, spec.hi, out=hist)
    shape = [1] * sample.ndim
    if sample.ndim >= 2:
        shape[axis] = units
    _count(sample <= torch.lerp(bottom, top, BAND).view(shape), out[FLOOR])
    if spec.bounds is not None:
        _count(_at_bounds(sample, spec.bounds), out[BOUND])
    else:
        out[BOUND].fill_(float("nan"))  # no bounds to be at
    return flat.numel(), sample.numel(), units


def _count(mask: Tensor, out: Tensor) -> None:
    """The number of True values of `mask`, into the 0-d float tensor `out`."""
    out.copy_(torch.count_nonzero(mask))


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


def gradient_stats(
    g: Tensor, out: Views, hist_sample: int | None, details: bool = True
) -> tuple[int, int]:
    """Σg (a NaN or an infinity anywhere makes it non-finite) and, with `details`, Σg² and
    the sampled share of exact zeros of an output's gradient, into a row's views; returns
    the counts (values, sampled values)."""
    flat = g.detach().reshape(-1)
    if flat.dtype != torch.float32:
        flat = flat.float()
    torch.sum(flat, 0, out=out[GSUM])
    if not details:
        return flat.numel(), 0
    torch.dot(flat, flat, out=out[GSUMSQ])
    sample = flat[: hist_sample or flat.numel()]
    _count(sample == 0, out[GZERO])
    return flat.numel(), sample.numel()


def traced_output_row(
    x: Tensor, spec: LayerSpec, hist_sample: int | None, bins: int, hooked: bool
) -> Tensor:
    """Everything `output_stats` measures at a detailed step, and the counts, as a row to
    `merge_rows`: tensor operations only, for a compiled step (see the module docstring)."""
    x = x.detach().float()
    flat = x.reshape(-1)
    if x.ndim < 2:
        sample, items = flat, flat.view(1, -1)
    else:
        sample = first_items(x, hist_sample)
        items = x if hist_sample is None else x[: max(sample.shape[0], MIN_ITEMS)]
    axis = spec.unit_dim % x.ndim if x.ndim >= 2 else 0
    others = tuple(d for d in range(items.ndim) if d != axis)
    top, bottom = torch.amax(items, others), torch.amin(items, others)
    units = top.numel()
    nan = torch.full((), float("nan"), device=x.device)
    dead = (top == bottom).sum() if items.numel() // units >= MIN_PER_UNIT else nan
    shape = [1] * sample.ndim
    if sample.ndim >= 2:
        shape[axis] = units
    floor = (sample <= torch.lerp(bottom, top, BAND).view(shape)).sum()
    bound = _at_bounds(sample, spec.bounds).sum() if spec.bounds is not None else nan
    zero = floor * 0.0
    fields = torch.stack([
        flat.sum(), torch.dot(flat, flat), bottom.amin(), flat.amax(), dead.float(),
        floor.float(), bound.float(), zero, zero, zero, nan,
    ])  # fmt: skip
    hist = torch.histc(sample, bins, spec.lo, spec.hi)
    counts = torch.stack([
        zero + flat.numel(), zero + sample.numel(), zero + units, zero, zero, zero + hooked
    ])  # fmt: skip
    return torch.cat([fields, hist, counts])


def traced_gradient_row(g: Tensor, hist_sample: int | None, bins: int) -> Tensor:
    """Σg, Σg² and the sampled zeros of a gradient, with its counts, as a row to
    `merge_rows`: tensor operations only, for a compiled step."""
    flat = g.detach().reshape(-1).float()
    sample = flat[: hist_sample or flat.numel()]
    zero = flat.new_zeros(())
    inf = zero + float("inf")
    fields = torch.stack([
        zero, zero, inf, -inf, zero, zero, zero,
        flat.sum(), torch.dot(flat, flat), (sample == 0).sum().float(), zero,
    ])  # fmt: skip
    counts = torch.stack([zero, zero, zero, zero + flat.numel(), zero + sample.numel(), zero])
    return torch.cat([fields, flat.new_zeros(bins), counts])


def parameter_norm(params: Sequence[Tensor], out: Tensor) -> None:
    """The norm of all of `params` together, into the 0-d tensor `out`."""
    with torch.no_grad():
        norms = torch._foreach_norm([p.detach() for p in params])
        torch.linalg.vector_norm(torch.stack(norms), out=out)

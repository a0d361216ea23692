"""Convolution and pooling, functional forms (conv1d-3d, conv_transpose1d-3d,
max_pool1d-3d, avg_pool1d-3d, adaptive_avg_pool1d-3d, unfold and fold), built from
sliding windows over any number of dims.

The windows are a view (View.windows: one strided read per element), and a
convolution is the product of their im2col columns with the weight: the
scheduler copies the columns once (runtime/schedule.py: a tiled product
reads each operand element many times) and multiplies them in a tiled
matmul kernel, 10-20x faster here than a reduction reading the windows in
place. Gradients come from autograd's rules for the views and the product. A
max pool picks elementwise among one strided view per kernel position (see
max_pool). Adaptive average pooling is a product with an averaging matrix per
dim, exact for any input and output size.
"""
from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np

from ..autograd.function import record
from ..autograd.rules import windows_gradient
from ..runtime import dtypes
from ..tensor import Tensor


def _per_dim(value, spatial: int, name: str) -> tuple[int, ...]:
    values = (value,) * spatial if isinstance(value, int) else tuple(value)
    if len(values) != spatial or not all(isinstance(v, int) for v in values):
        raise ValueError(f"{name} must be an int or a tuple of {spatial} ints, got {value!r}")
    return values


def _batched(x: Tensor, spatial: int, what: str) -> tuple[Tensor, bool]:
    """x with a batch dim (and whether it had one): (N, C, *spatial) or (C, *spatial)."""
    if x.ndim == spatial + 2:
        return x, True
    if x.ndim == spatial + 1:
        return x.unsqueeze(0), False
    raise RuntimeError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {what}, but got "
                       f"input of size: {list(x.shape)}")


def _windows(x: Tensor, kernel, stride, dilation, pads, what: str, fill: float = 0.0) -> Tensor:
    """Sliding windows over x's last len(kernel) dims after padding them by `pads`
    ((before, after) per dim) with `fill`: shape (*lead, *counts, *kernel)."""
    padded = _padded(x, kernel, stride, dilation, pads, what, fill)
    return padded._move("windows", (tuple(kernel), tuple(stride), tuple(dilation)))


def _padded(x: Tensor, kernel, stride, dilation, pads, what: str, fill: float) -> Tensor:
    """x with its last len(kernel) dims padded by `pads` with `fill`, checked to hold a window."""
    spatial = len(kernel)
    lead = ((0, 0),) * (x.ndim - spatial)
    counts = _window_counts(x.shape[x.ndim - spatial:], kernel, stride, dilation, pads)
    if min(counts) < 1:
        raise RuntimeError(f"{what}: the input's size {tuple(x.shape[x.ndim - spatial:])} with padding {list(pads)} "
                           f"is smaller than the kernel {tuple(kernel)} at dilation {tuple(dilation)}: the output "
                           f"would have size {tuple(counts)}")
    padded = x._pad(lead + tuple(pads))
    if fill != 0.0 and any(p != (0, 0) for p in pads):
        from ..creation import ones
        inside = ones(x.shape, dtype=x.dtype, device=x.device)._pad(lead + tuple(pads)) > 0
        padded = padded.where(inside, fill)
    return padded


def _window_counts(sizes, kernel, stride, dilation, pads) -> list[int]:
    return [(n + before + after - d * (k - 1) - 1) // s + 1
            for n, k, s, d, (before, after) in zip(sizes, kernel, stride, dilation, pads)]


def _conv_padding(padding, kernel, stride, dilation, spatial: int) -> list[tuple[int, int]]:
    if padding == "valid":
        return [(0, 0)] * spatial
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]  # the odd one out goes after, as in PyTorch
    return [(p, p) for p in _per_dim(padding, spatial, "padding")]


def conv(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride, padding, dilation, groups: int,
         spatial: int) -> Tensor:
    what = f"conv{spatial}d"
    x, batched = _batched(x, spatial, what)
    if weight.ndim != spatial + 2:
        raise RuntimeError(f"{what}: weight must have {spatial + 2} dims (out_channels, in_channels / groups, "
                           f"*kernel), got size {list(weight.shape)}")
    n, channels = x.shape[:2]
    out_channels, group_channels, kernel = weight.shape[0], weight.shape[1], weight.shape[2:]
    if groups < 1 or out_channels % groups or channels != group_channels * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(x.shape)} to have {group_channels * groups} channels, but got {channels} "
                           f"channels instead")
    if x.dtype is not weight.dtype or x.device != weight.device:
        raise RuntimeError(f"{what}: input ({x.dtype}, {x.device}) and weight ({weight.dtype}, {weight.device}) "
                           f"must have the same dtype and device")
    stride, dilation = _per_dim(stride, spatial, "stride"), _per_dim(dilation, spatial, "dilation")
    pads = _conv_padding(padding, kernel, stride, dilation, spatial)
    windows = _windows(x, kernel, stride, dilation, pads, what)  # (n, channels, *counts, *kernel)
    counts = windows.shape[2:2 + spatial]
    ones, per_group = (1,) * spatial, out_channels // groups
    count_dims, kernel_dims = tuple(range(3, 3 + spatial)), tuple(range(3 + spatial, 3 + 2 * spatial))
    # im2col: a row per output position, a column per (channel, kernel position), per group
    columns = (windows.reshape(n, groups, group_channels, *counts, *kernel)
               .permute(1, 0, *count_dims, 2, *kernel_dims)
               .reshape(groups, n * math.prod(counts), group_channels * math.prod(kernel)))
    if groups == 1:  # a 2-D product: autograd's own rule, whose weight gradient is a tiled product too
        out = (columns[0] @ weight.reshape(per_group, -1).T).unsqueeze(0)
    else:
        out = columns @ weight.reshape(groups, per_group, -1).transpose(1, 2)  # (groups, positions, per_group)
    out = (out.reshape(groups, n, *counts, per_group).permute(1, 0, 2 + spatial, *range(2, 2 + spatial))
           .reshape(n, out_channels, *counts))
    if bias is not None:
        out = out + bias.reshape(1, out_channels, *ones)
    return out if batched else out.squeeze(0)


def conv_transpose(x: Tensor, weight: Tensor, bias: Optional[Tensor], stride, padding, output_padding, groups: int,
                   dilation, spatial: int, output_size=None) -> Tensor:
    """The gradient of a convolution with respect to its input: each input position
    times the weight gives its part of the outputs its window covers, (positions,
    out channels x kernel positions) in one product per group, and those parts are
    added where the windows put them (autograd's rule for sliding windows), in an
    output grown by dilation * (kernel - 1) (output_padding more after), then cropped
    by the padding on each side. A convolution over x spread out by zeros would do
    stride^spatial times the work."""
    what = f"conv_transpose{spatial}d"
    x, batched = _batched(x, spatial, what)
    if weight.ndim != spatial + 2:
        raise RuntimeError(f"{what}: weight must have {spatial + 2} dims (in_channels, out_channels / groups, "
                           f"*kernel), got size {list(weight.shape)}")
    channels, (in_channels, per_group), kernel = x.shape[1], weight.shape[:2], weight.shape[2:]
    if groups < 1 or in_channels % groups or channels != in_channels:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input {list(x.shape)} "
                           f"to have {in_channels} channels, but got {channels} channels instead")
    if x.dtype is not weight.dtype or x.device != weight.device:
        raise RuntimeError(f"{what}: input ({x.dtype}, {x.device}) and weight ({weight.dtype}, {weight.device}) "
                           f"must have the same dtype and device")
    stride, padding, dilation = (_per_dim(v, spatial, name) for v, name in
                                 ((stride, "stride"), (padding, "padding"), (dilation, "dilation")))
    sizes = x.shape[2:]
    smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in zip(sizes, stride, padding, dilation, kernel)]
    if output_size is not None:  # the extra rows after, within one stride
        output_padding = tuple(o - m for o, m in zip(tuple(output_size)[-spatial:], smallest))
    output_padding = _per_dim(output_padding, spatial, "output_padding")
    if any(not 0 <= e < max(s, d) for e, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{what}: output padding {output_padding} must be smaller than either stride {stride} or "
                         f"dilation {dilation}, and not negative (output sizes from {smallest} on)")
    if min(m + e for m, e in zip(smallest, output_padding)) < 1:
        raise RuntimeError(f"{what}: the output size {[m + e for m, e in zip(smallest, output_padding)]} for input "
                           f"{list(sizes)} with padding {list(padding)} is too small")
    n, group_channels, kernel_size = x.shape[0], in_channels // groups, math.prod(kernel)
    rows = (x.reshape(n, groups, group_channels, math.prod(sizes)).permute(1, 0, 3, 2)
            .reshape(groups, -1, group_channels))  # a row per input position, per group
    w = weight.reshape(groups, group_channels, per_group * kernel_size)
    parts = (rows[0] @ w[0]).unsqueeze(0) if groups == 1 else rows @ w
    parts = (parts.reshape(groups, n, *sizes, per_group, *kernel)
             .permute(1, 0, 2 + spatial, *range(2, 2 + spatial), *range(3 + spatial, 3 + 2 * spatial))
             .reshape(n, groups * per_group, *sizes, *kernel))
    grown = [(m - 1) * s + d * (k - 1) + 1 + e for m, s, d, k, e in zip(sizes, stride, dilation, kernel, output_padding)]
    out = _windows_sum(parts, (n, groups * per_group, *grown), (tuple(kernel), stride, dilation))
    out = out._shrink(((0, n), (0, groups * per_group)) + tuple((p, g - p) for p, g in zip(padding, grown)))
    if bias is not None:
        out = out + bias.reshape(1, -1, *(1,) * spatial)
    return out if batched else out.squeeze(0)


def _windows_sum(parts: Tensor, shape: tuple[int, ...], spec) -> Tensor:
    """Each window element added back where sliding windows over `shape` read it (the
    adjoint of View.windows, autograd's rule for it), recorded as one op whose own
    gradient is the windows view: a transposed convolution's backward then reads its
    output's gradient through one strided view, as a convolution reads its input,
    rather than through a sum of one padded, strided piece per kernel position."""
    return record(windows_gradient(parts.detach(), shape, spec), "windows_sum", (shape, spec), (parts,))


def max_pool(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool, return_indices: bool,
             spatial: int):
    """The largest value of each window, and with return_indices its flat position in
    the input's plane; its gradient goes to the first largest, as in PyTorch.

    Not a reduction over the windows: with windows of a few elements, a work-item per
    window did too little work to vectorise (3x slower than PyTorch). Instead each
    kernel position's elements of every window are a strided view, and the result
    picks among those views elementwise, in one pointwise kernel over the output;
    the gradient spreads back to each view's elements."""
    what = f"max_pool{spatial}d"
    x, batched = _batched(x, spatial, what)
    kernel, stride, padding = _pool_sizes(what, kernel_size, stride, padding, spatial)
    dilation = _per_dim(dilation, spatial, "dilation")
    sizes = x.shape[2:]
    pads = [(p, p + (_ceil_extra(n, k, s, p, d) if ceil_mode else 0))
            for n, k, s, p, d in zip(sizes, kernel, stride, padding, dilation)]
    padded = _padded(x, kernel, stride, dilation, pads, what, fill=-math.inf)
    counts = _window_counts(sizes, kernel, stride, dilation, pads)
    positions = list(itertools.product(*(range(k) for k in kernel)))
    if stride == kernel and all(d == 1 for d in dilation):  # windows tile the input: split each dim in two
        tiled = padded[(..., *(slice(0, c * k) for c, k in zip(counts, kernel)))]
        split = tiled.reshape(*x.shape[:2], *(size for c, k in zip(counts, kernel) for size in (c, k)))
        views = [split[(slice(None), slice(None), *(index for i in at for index in (slice(None), i)))]
                 for at in positions]
    else:
        views = [padded[(..., *(slice(i * d, i * d + s * (c - 1) + 1, s)
                                for i, d, s, c in zip(at, dilation, stride, counts)))] for at in positions]
    first = _first_largest([v.detach() for v in views])
    out = views[-1]
    for p in reversed(range(len(views) - 1)):
        out = views[p].where(first == p, out)
    if not batched:
        out, first = out.squeeze(0), first.squeeze(0)
    if not return_indices:
        return out
    return out, _input_positions(first, positions, sizes, counts, stride, dilation, padding)


def _first_largest(values: list[Tensor]) -> Tensor:
    """Per element, the index into `values` of the first largest (a NaN counts as the
    largest, as PyTorch's max_pool propagates it)."""
    from ..creation import full_like
    from ..functional import where
    best = values[0]
    for v in values[1:]:
        best = best.maximum(v)
    last = len(values) - 1
    # int32, not int64: the gradient's kernel then reads 8-lane vectors rather than 4
    # (measured: the MNIST example's max-pool gradient 11-18 -> 8-10 ms)
    first = full_like(best, last, dtype=dtypes.int32)  # where no earlier one is the largest
    for p in reversed(range(last)):
        first = where((values[p] == best).logical_or(values[p] != values[p]), p, first)
    return first


def _input_positions(first: Tensor, positions, sizes, counts, stride, dilation, padding) -> Tensor:
    """The flat position in the input's plane of each window's element `first` (an
    index into the kernel's `positions`): PyTorch's max_pool indices."""
    from ..creation import arange, full_like
    from ..functional import where
    spatial = len(sizes)
    plane_strides = [math.prod(sizes[d + 1:]) for d in range(spatial)]
    start = None  # each window's first element (in the padding, perhaps), as a flat position
    for d, (c, s, p, step) in enumerate(zip(counts, stride, padding, plane_strides)):
        along = ((arange(c, device=first.device) * s - p) * step).reshape(*(c if e == d else 1 for e in range(spatial)))
        start = along if start is None else start + along
    shifts = [sum(i * dil * step for i, dil, step in zip(at, dilation, plane_strides)) for at in positions]
    offset = full_like(first, shifts[-1])  # the chosen element's offset from there
    for p in reversed(range(len(positions) - 1)):
        offset = where(first == p, shifts[p], offset)
    return start + offset


def _pool_sizes(what: str, kernel_size, stride, padding, spatial: int) -> tuple[tuple[int, ...], ...]:
    """(kernel, stride, padding) per dim; the stride defaults to the kernel, as in PyTorch."""
    kernel = _per_dim(kernel_size, spatial, "kernel_size")
    stride = _per_dim(stride if stride not in (None, ()) else kernel_size, spatial, "stride")
    padding = _per_dim(padding, spatial, "padding")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{what}: pad should be at most half of kernel size, but got pad={padding} and "
                           f"kernel_size={kernel}")
    return kernel, stride, padding


def _ceil_extra(n: int, k: int, s: int, p: int, d: int) -> int:
    """Padding after a dim for ceil_mode: one more window where the floor leaves input
    uncovered, unless that window would start in the padding (PyTorch's rule)."""
    span = n + 2 * p - d * (k - 1) - 1
    count = -(-span // s) + 1
    if (count - 1) * s >= n + p:
        count -= 1
    return max(0, (count - 1) * s - span)


def avg_pool(x: Tensor, kernel_size, stride, padding, ceil_mode: bool, count_include_pad: bool,
             divisor_override: Optional[int], spatial: int) -> Tensor:
    what = f"avg_pool{spatial}d"
    x, batched = _batched(x, spatial, what)
    kernel, stride, padding = _pool_sizes(what, kernel_size, stride, padding, spatial)
    ones = (1,) * spatial
    overhang = [_ceil_extra(n, k, s, p, 1) if ceil_mode else 0 for n, k, s, p in zip(x.shape[2:], kernel, stride, padding)]
    pads = [(p, p + extra) for p, extra in zip(padding, overhang)]
    kernel_dims = tuple(range(2 + spatial, 2 + 2 * spatial))
    total = _windows(x, kernel, stride, ones, pads, what).sum(kernel_dims)
    if divisor_override:
        out = total / divisor_override
    elif not any(overhang) and (count_include_pad or not any(padding)):
        out = total / math.prod(kernel)
    else:  # each window's count of what it averages, from windows over ones: the input, and
        # with count_include_pad its padding, but never the overhang ceil_mode adds (PyTorch's rule)
        from ..creation import ones as filled
        if count_include_pad:
            counted = filled([n + 2 * p for n, p in zip(x.shape[2:], padding)], dtype=x.dtype, device=x.device)
            counted_pads = [(0, extra) for extra in overhang]
        else:
            counted, counted_pads = filled(x.shape[2:], dtype=x.dtype, device=x.device), pads
        inside = _windows(counted, kernel, stride, ones, counted_pads, what)
        out = total / inside.sum(tuple(range(spatial, 2 * spatial)))
    return out if batched else out.squeeze(0)


def _adaptive_sizes(output_size, sizes: tuple[int, ...], spatial: int) -> tuple[int, ...]:
    """The output size per spatial dim (None keeps the input's)."""
    if isinstance(output_size, (tuple, list)) and None in output_size:
        return tuple(n if m is None else m for m, n in zip(output_size, sizes))
    return _per_dim(output_size, spatial, "output_size")


def _adaptive_cells(m: int, n: int) -> list[tuple[int, int]]:
    """Output cell i of a dim of size n covers input [floor(i n / m), ceil((i + 1) n / m)), as in PyTorch."""
    return [((i * n) // m, -(-((i + 1) * n) // m)) for i in range(m)]


def adaptive_avg_pool(x: Tensor, output_size, spatial: int) -> Tensor:
    """Each output cell averages its input cells: a product with an (m, n) averaging matrix per dim."""
    x, batched = _batched(x, spatial, f"adaptive_avg_pool{spatial}d")
    sizes = x.shape[2:]
    outputs = _adaptive_sizes(output_size, sizes, spatial)
    out = along_each_dim(x, [_averaging(m, n) for m, n in zip(outputs, sizes)])
    return out if batched else out.squeeze(0)


def _averaging(m: int, n: int) -> np.ndarray:
    weights = np.zeros((m, n))
    for i, (lo, hi) in enumerate(_adaptive_cells(m, n)):
        weights[i, lo:hi] = 1.0 / (hi - lo)
    return weights


def adaptive_max_pool(x: Tensor, output_size, spatial: int, return_indices: bool) -> Tensor:
    """Each output cell is the largest of its input cells, one dim at a time (the largest
    over a rectangle is the largest of its rows' largest): per dim, one reduction per
    output cell, joined."""
    if return_indices:
        raise NotImplementedError(f"adaptive_max_pool{spatial}d: return_indices=True is not supported")
    from ..functional import cat
    x, batched = _batched(x, spatial, f"adaptive_max_pool{spatial}d")
    for k, m in enumerate(_adaptive_sizes(output_size, x.shape[2:], spatial)):
        d, n = 2 + k, x.shape[2 + k]
        if m != n:
            x = cat([x.narrow(d, lo, hi - lo).amax(d, keepdim=True) for lo, hi in _adaptive_cells(m, n)], d)
    return x if batched else x.squeeze(0)


def along_each_dim(x: Tensor, matrices: list[np.ndarray]) -> Tensor:
    """x's last len(matrices) dims each multiplied by its (new size, old size) matrix:
    a resampling that treats the dims apart (averaging, interpolation) as small products."""
    from ..creation import tensor
    for d, weights in enumerate(matrices):
        dim = x.ndim - len(matrices) + d
        x = x.movedim(dim, -1).matmul(tensor(weights.T, dtype=x.dtype, device=x.device)).movedim(-1, dim)
    return x


def _fold_geometry(kernel_size, dilation, padding, stride) -> tuple:
    """kernel_size, dilation, padding and stride of (un)fold, each a pair."""
    return tuple(_per_dim(v, 2, name) for v, name in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                       (padding, "padding"), (stride, "stride")))


def unfold(x: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col, as PyTorch's F.unfold: (N, C, H, W) -> (N, C * kh * kw, L), a column per
    sliding window (the windows view, read by whatever reads the result)."""
    if x.ndim not in (3, 4):
        raise RuntimeError(f"Input Error: Only 3D or 4D input Tensors are supported (got {x.ndim}D)")
    kernel, dilation, padding, stride = _fold_geometry(kernel_size, dilation, padding, stride)
    batched, x = x.ndim == 4, x if x.ndim == 4 else x.unsqueeze(0)
    windows = _windows(x, kernel, stride, dilation, [(p, p) for p in padding], "unfold")  # (N, C, oh, ow, kh, kw)
    n, c, oh, ow = windows.shape[:4]
    out = windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * math.prod(kernel), oh * ow)
    return out if batched else out.squeeze(0)


def fold(x: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, as PyTorch's F.fold: (N, C * kh * kw, L) -> (N, C, *output_size), each
    column's elements added back where unfold would have read them."""
    if x.ndim not in (2, 3):
        raise RuntimeError(f"Input Error: Only unbatched (2D) or batched (3D) input Tensors are supported "
                           f"(got {x.ndim}D)")
    size = _per_dim(output_size, 2, "output_size")
    kernel, dilation, padding, stride = _fold_geometry(kernel_size, dilation, padding, stride)
    batched, x = x.ndim == 3, x if x.ndim == 3 else x.unsqueeze(0)
    counts = _window_counts(size, kernel, stride, dilation, [(p, p) for p in padding])
    n, rows, blocks = x.shape
    if rows % math.prod(kernel) or blocks != math.prod(counts):
        raise RuntimeError(f"fold: expected an input of size (N, C * {math.prod(kernel)}, {math.prod(counts)}) for "
                           f"output_size {list(size)}, kernel_size {list(kernel)}, dilation {list(dilation)}, padding "
                           f"{list(padding)} and stride {list(stride)}, but got {list(x.shape)}")
    c = rows // math.prod(kernel)
    parts = x.reshape(n, c, *kernel, *counts).permute(0, 1, 4, 5, 2, 3)  # (N, C, oh, ow, kh, kw)
    padded = (n, c) + tuple(s + 2 * p for s, p in zip(size, padding))
    out = _windows_sum(parts, padded, (kernel, stride, dilation))
    out = out._shrink(((0, n), (0, c)) + tuple((p, p + s) for p, s in zip(padding, size)))
    return out if batched else out.squeeze(0)

"""2-D pooling: ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``, ``adaptive_max_pool2d``.

Shapes: input (N, C, H, W) or (C, H, W) -> output (N, C, oh, ow) (or (C, oh, ow)), each
plane pooled on its own. Window positions follow torch exactly:

- max/avg: window (y, x) reads rows ``y*sh - ph + i*dh`` (i < kh) and the columns alike;
  ``oh = conv_output_size(H, kh, sh, ph, dh, ceil_mode)`` (the helper convolution uses).
  Padding is never materialised: each kernel tap (i, j) is one strided slice of the
  input, added into (avg) or compared with (max) the part of the output whose windows
  see that tap inside the input. So padding counts as -inf for max and as 0 for avg.
- adaptive: output bin i of n_out covers ``[floor(i*n/n_out), ceil((i+1)*n/n_out))``,
  bins that may overlap and differ in size when n_out does not divide n.

Backward: avg spreads g / divisor back over each window (slice-adds, adding where
windows overlap); max sends g to each window's argmax, ADDING where windows overlap.
max-pool remembers the argmax as its kernel tap (a small int per window) and reports
torch's ``return_indices`` (flat positions in each H*W plane) from it; adaptive max-pool
keeps the flat positions. Ties go to the first maximum in scan order (row by row), NaN
wins (the last NaN, as torch's kernel).

The array functions (``max_pool2d_forward`` ... ) are the kernels a numba or CuPy
version can replace behind the same signatures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module, numba_kernels_or_none, scatter_add, tap_code_dtype
from minidl.backend.cuda import kernels_for as cuda_kernels_for
from minidl.backend.im2col import conv_output_size, tap_range
from minidl.errors import ShapeError
from minidl.tensor import Tensor

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "max_pool2d",
    "max_pool2d_with_indices",
]

Pair = tuple[int, int]


# ---------------------------------------------------------------------------- index math
def _scan_start(n_in: int, n_out: int, stride: int, pad: int, dilation: int, kernel: int) -> tuple[Any, ...]:
    """Per output position along one dim: the first kernel tap at or after input position 0
    (torch starts its scan there: ``while (start < 0) start += dilation``), that tap's input
    position, and whether it is an input cell (not so for a window wholly in the padding,
    which dilation makes possible)."""
    start = np.arange(n_out) * stride - pad
    tap = np.maximum(-(start // dilation), 0)  # ceil(-start / dilation) when start < 0
    pos = start + tap * dilation
    return start, tap, pos, (tap < kernel) & (pos < n_in)


def _windows_disjoint(n_out: int, kernel: int, stride: int, dilation: int) -> bool:
    """Whether no two windows along a dim share an input position (then max-pool's
    backward can assign instead of add)."""
    return n_out <= 1 or stride >= dilation * (kernel - 1) + 1


def _adaptive_bins(n_in: int, n_out: int) -> tuple[list[int], list[int]]:
    """torch's adaptive bins: start = floor(i*n_in/n_out), end = ceil((i+1)*n_in/n_out)."""
    starts = [i * n_in // n_out for i in range(n_out)]
    ends = [-(-((i + 1) * n_in) // n_out) for i in range(n_out)]
    return starts, ends


def _bins_disjoint(starts: list[int], ends: list[int]) -> bool:
    return all(e <= s for e, s in zip(ends[:-1], starts[1:]))


# ---------------------------------------------------------------------------- max-pool kernels
def max_pool2d_forward(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair
) -> tuple[Any, Any]:
    """(N, C, H, W) -> (window maxima (N, C, oh, ow), argmax tap code (N, C, oh, ow)).

    The code of tap (i, j) is ``i*kw + j`` (small unsigned ints, not flat indices:
    :func:`max_pool2d_indices` turns them into torch's). One pass per tap, in scan order:
    ``m = v > best`` (strict: ties keep the earlier tap), ``best = max(best, v)``, and
    ``code = max(code, m*k)``, which takes tap k exactly where it improved, because taps
    come in increasing k. All three are branch-free array ops (``where`` with a random
    mask is several times slower). A NaN wins (max propagates it); its window's code is
    then the last NaN's tap, as in torch's kernel.
    """
    ck = cuda_kernels_for(x)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(x) and nb.max_pool2d_fast(x.shape[2:], kernel_size, stride, padding, dilation,
                                                                out_size):
        # where a numba kernel beats the slices below: 2x2 windows inside the input (MaxPool2d(2, 2)), and
        # strides 1 and 2 along the width
        return nb.max_pool2d_forward(x, kernel_size, stride, padding, dilation, out_size,
                                     tap_code_dtype(kernel_size[0] * kernel_size[1]))
    xp = array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel_size, stride, padding, dilation, out_size
    floating = x.dtype.kind == "f"
    lowest = -np.inf if floating else np.iinfo(x.dtype).min
    code_type = np.dtype(tap_code_dtype(kh * kw)).type
    # before any tap: -inf and the first tap inside the input (torch's start), or "no tap"
    _, tap_h, _, ok_h = _scan_start(h, oh, sh, ph, dh, kh)
    _, tap_w, _, ok_w = _scan_start(w, ow, sw, pw, dw, kw)
    first = np.where(ok_h[:, None] & ok_w[None, :], tap_h[:, None] * kw + tap_w[None, :], kh * kw)
    best = xp.full((n, c, oh, ow), lowest, dtype=x.dtype)
    code = xp.empty((n, c, oh, ow), dtype=code_type)
    code[...] = xp.asarray(first.astype(code_type))
    taps = []
    for i in range(kh):
        lo_h, hi_h, rows = tap_range(h, oh, i * dh, sh, ph)
        for j in range(kw):
            lo_w, hi_w, cols = tap_range(w, ow, j * dw, sw, pw)
            if hi_h > lo_h and hi_w > lo_w:
                taps.append((code_type(i * kw + j), (slice(None), slice(None), rows, cols),
                             (slice(None), slice(None), slice(lo_h, hi_h), slice(lo_w, hi_w))))  # fmt: skip
    for t, (k, src, dst) in enumerate(taps):
        v = x[src]
        if t == 0 and k == 0 and v.shape == best.shape:
            best[...] = v  # tap (0, 0) starts every window: nothing to compare with yet
            continue
        b, cd = best[dst], code[dst]
        m = v > b
        xp.maximum(b, v, out=b)
        xp.maximum(cd, xp.multiply(m, k, dtype=cd.dtype), out=cd)
    if floating and bool(xp.isnan(best).any()):  # the last NaN of a window is its argmax
        for k, src, dst in taps:
            cd = code[dst]
            xp.maximum(cd, xp.multiply(xp.isnan(x[src]), k, dtype=cd.dtype), out=cd)
    return best, code


def max_pool2d_indices(
    code: Any, size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> Any:  # fmt: skip
    """Tap codes (N, C, oh, ow) -> torch's int64 indices into each H*W input plane.

    ``(y*sh - ph + i*dh) * W + (x*sw - pw + j*dw)`` for tap (i, j) of window (y, x); a
    window wholly in the padding gets torch's start position (outside the plane).
    """
    xp = array_module(code)
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = size, kernel_size, stride, padding, dilation
    oh, ow = code.shape[-2:]
    start_h, _, pos_h, ok_h = _scan_start(h, oh, sh, ph, dh, kh)
    start_w, _, pos_w, ok_w = _scan_start(w, ow, sw, pw, dw, kw)
    k = np.arange(kh * kw + 1)
    offset = np.where(k < kh * kw, (k // kw) * dh * w + (k % kw) * dw, 0)  # per tap code
    idx = xp.asarray(offset)[code]
    idx += xp.asarray(start_h[:, None] * w + start_w[None, :])
    empty = ~(ok_h[:, None] & ok_w[None, :])
    if empty.any():
        idx = xp.where(xp.asarray(empty), xp.asarray(pos_h[:, None] * w + pos_w[None, :]), idx)
    return idx


def max_pool2d_backward(
    g: Any, code: Any, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair,
    dilation: Pair, disjoint: bool,
) -> Any:  # fmt: skip
    """g (N, C, oh, ow) -> (N, C, H, W): each window's gradient to its argmax tap.

    One pass per tap: the windows whose code is that tap send g to the tap's input cells,
    a strided slice. Overlapping windows can share an argmax, so the slices ADD (``+=``).
    (``disjoint`` is for the CUDA kernel's signature: every path gives the same bits.)
    """
    ck = cuda_kernels_for(g)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.max_pool2d_backward(g, code, input_shape, kernel_size, stride, padding, dilation, disjoint)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(g):
        # the same bits: MaxPool2d(2, 2) with every window inside the input writes each cell once; any other
        # geometry adds each window's g at its argmax, in the reference's order (0.17-0.4x its time, measured)
        return nb.max_pool2d_backward(g, code, input_shape, kernel_size, stride, padding, dilation)
    xp = array_module(g)
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = g.shape[2:]
    code_type = code.dtype.type
    gx = xp.zeros((n, c, h, w), dtype=g.dtype)
    for i in range(kh):
        lo_h, hi_h, rows = tap_range(h, oh, i * dh, sh, ph)
        for j in range(kw):
            lo_w, hi_w, cols = tap_range(w, ow, j * dw, sw, pw)
            if hi_h == lo_h or hi_w == lo_w:
                continue
            out = (slice(None), slice(None), slice(lo_h, hi_h), slice(lo_w, hi_w))
            # torch's rule: g at the argmax, +0 elsewhere whatever g is (a product would give -0, and NaN for
            # inf); always added onto the zeros, as torch does, so a -0 gradient arrives as +0 there too
            gx[:, :, rows, cols] += xp.where(code[out] == code_type(i * kw + j), g[out], g.dtype.type(0))
    return gx


def scatter_to_planes(g: Any, indices: Any, input_shape: tuple[int, ...], disjoint: bool) -> Any:
    """g (N, C, oh, ow) added at ``indices`` (flat positions in each H*W plane) -> (N, C, H, W).

    Where two outputs name the same input their gradients add (``scatter_add``); when no
    two can (disjoint windows) a plain assignment does it faster.
    """
    xp = array_module(g)
    n, c, h, w = input_shape
    gx = xp.zeros(n * c * h * w, dtype=g.dtype)
    plane = xp.arange(n * c, dtype=np.int64).reshape(n, c, 1, 1) * (h * w)
    flat = (indices + plane).reshape(-1)
    if disjoint:
        gx[flat] = g.reshape(-1)
    else:
        scatter_add(gx, flat, g.reshape(-1))
    return gx.reshape(n, c, h, w)


def adaptive_max_pool2d_backward(g: Any, indices: Any, input_shape: tuple[int, ...], disjoint: bool) -> Any:
    """g (N, C, oh, ow) -> (N, C, H, W): each bin's gradient to its argmax (``indices`` from
    :func:`adaptive_max_pool2d_forward`), added where bins overlap: :func:`scatter_to_planes`.

    On the GPU a gather kernel instead (no atomics), which relies on each index lying in its own bin.
    """
    ck = cuda_kernels_for(g)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.adaptive_max_pool2d_backward(g, indices, input_shape)
    return scatter_to_planes(g, indices, input_shape, disjoint)


# ---------------------------------------------------------------------------- avg-pool kernels
def avg_pool2d_divisor(
    size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair,
    count_include_pad: bool, divisor_override: int | None,
) -> np.ndarray:  # fmt: skip
    """torch's divisor of every window (oh, ow), as int64.

    The window clipped to the padded input (the padding counts, the part beyond it, which
    ``ceil_mode`` can add, does not) with ``count_include_pad``; else clipped to the input.
    """
    if divisor_override is not None:
        return np.full(out_size, divisor_override, dtype=np.int64)
    sizes = []
    for n, k, s, p, o in zip(size, kernel_size, stride, padding, out_size):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            sizes.append(end - start)
        else:
            sizes.append(np.maximum(np.minimum(end, n) - np.maximum(start, 0), 0))
    return np.maximum(sizes[0][:, None] * sizes[1][None, :], 1)  # a window of no cells sums to 0


def avg_pool2d_forward(x: Any, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair, divisor: Any) -> Any:
    """(N, C, H, W) -> (N, C, oh, ow): each window's sum (one slice-add per tap) / divisor (oh, ow)."""
    ck = cuda_kernels_for(x)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.avg_pool2d_forward(x, kernel_size, stride, padding, out_size, divisor)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(x, divisor):  # floats: the numba kernel, same sums in the same order
        return nb.avg_pool2d_forward(x, kernel_size, stride, padding, out_size, divisor)
    xp = array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, *out_size), dtype=x.dtype)
    for i in range(kernel_size[0]):
        lo_h, hi_h, rows = tap_range(h, out_size[0], i, stride[0], padding[0])
        for j in range(kernel_size[1]):
            lo_w, hi_w, cols = tap_range(w, out_size[1], j, stride[1], padding[1])
            if hi_h > lo_h and hi_w > lo_w:
                out[:, :, lo_h:hi_h, lo_w:hi_w] += x[:, :, rows, cols]
    if x.dtype.kind == "f":
        out /= divisor
        return out
    return xp.sign(out) * (xp.abs(out) // divisor)  # integer division truncates, as in torch


def avg_pool2d_backward(
    g: Any, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, divisor: Any,
    disjoint: bool = False,
) -> Any:  # fmt: skip
    """g (N, C, oh, ow) -> (N, C, H, W): g / divisor added back onto every cell of its window.

    Overlapping windows add up (``+=``); disjoint ones touch each cell once, so ``=``.
    """
    ck = cuda_kernels_for(g)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.avg_pool2d_backward(g, input_shape, kernel_size, stride, padding, divisor, disjoint)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(g, divisor):  # floats: the numba kernel, same terms in the same order
        return nb.avg_pool2d_backward(g, input_shape, kernel_size, stride, padding, divisor)
    xp = array_module(g)
    n, c, h, w = input_shape
    oh, ow = g.shape[2:]
    gd = g / divisor
    gx = xp.zeros((n, c, h, w), dtype=g.dtype)
    for i in range(kernel_size[0]):
        lo_h, hi_h, rows = tap_range(h, oh, i, stride[0], padding[0])
        for j in range(kernel_size[1]):
            lo_w, hi_w, cols = tap_range(w, ow, j, stride[1], padding[1])
            if hi_h > lo_h and hi_w > lo_w:
                if disjoint:
                    gx[:, :, rows, cols] = gd[:, :, lo_h:hi_h, lo_w:hi_w]
                else:
                    gx[:, :, rows, cols] += gd[:, :, lo_h:hi_h, lo_w:hi_w]
    return gx


# ---------------------------------------------------------------------------- adaptive kernels
def adaptive_avg_pool2d_forward(x: Any, out_size: Pair) -> Any:
    """(N, C, H, W) -> (N, C, oh, ow): the mean of each bin, summed rows then columns (separable)."""
    ck = cuda_kernels_for(x)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.adaptive_avg_pool2d_forward(x, out_size)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(x):  # the numba kernel: the sums below, in their order
        return nb.adaptive_avg_pool2d_forward(x, out_size)
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = out_size
    if oh and ow and h % oh == 0 and w % ow == 0 and (h // oh) * (w // ow) <= 64:
        # equal, disjoint bins (the common case: global pooling, halving): kh*kw strided slice-adds
        kh, kw = h // oh, w // ow
        out = x[:, :, 0::kh, 0::kw].copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    out += x[:, :, i::kh, j::kw]
        out /= x.dtype.type(kh * kw)
        return out
    (rs, re), (cs, ce) = _adaptive_bins(h, oh), _adaptive_bins(w, ow)
    rows = xp.empty((n, c, oh, w), dtype=x.dtype)
    for i in range(oh):  # the bin's rows added in order (sum(axis=2) sums pairwise where W = 1)
        rows[:, :, i] = x[:, :, rs[i]]
        for r in range(rs[i] + 1, re[i]):
            rows[:, :, i] += x[:, :, r]
    out = xp.empty((n, c, oh, ow), dtype=x.dtype)
    for j in range(ow):
        out[..., j] = rows[..., cs[j] : ce[j]].sum(axis=-1)
    count = (np.subtract(re, rs)[:, None] * np.subtract(ce, cs)[None, :]).astype(x.dtype)
    out /= xp.asarray(count)
    return out


def adaptive_avg_pool2d_backward(g: Any, input_shape: tuple[int, ...]) -> Any:
    """g (N, C, oh, ow) -> (N, C, H, W): g / bin size spread over each bin (columns, then rows)."""
    ck = cuda_kernels_for(g)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.adaptive_avg_pool2d_backward(g, input_shape)
    xp = array_module(g)
    n, c, h, w = input_shape
    oh, ow = g.shape[2:]
    if oh and ow and h % oh == 0 and w % ow == 0:
        # equal, disjoint bins: each input cell gets its bin's gradient / bin size
        kh, kw = h // oh, w // ow
        spread = (g / g.dtype.type(kh * kw))[:, :, :, None, :, None]
        return xp.broadcast_to(spread, (n, c, oh, kh, ow, kw)).reshape(n, c, h, w)
    (rs, re), (cs, ce) = _adaptive_bins(h, oh), _adaptive_bins(w, ow)
    count = (np.subtract(re, rs)[:, None] * np.subtract(ce, cs)[None, :]).astype(g.dtype)
    gd = g / xp.asarray(count)
    rows = xp.zeros((n, c, oh, w), dtype=g.dtype)
    for j in range(ow):
        rows[..., cs[j] : ce[j]] += gd[..., j : j + 1]
    gx = xp.zeros((n, c, h, w), dtype=g.dtype)
    for i in range(oh):
        gx[:, :, rs[i] : re[i]] += rows[:, :, i : i + 1]
    return gx


def _last_nan(a: Any, axis: int) -> Any:
    """Position of the last NaN of ``a`` along ``axis`` (keepdims; meaningful where there is one)."""
    xp = array_module(a)
    flipped = xp.flip(xp.isnan(a), axis=axis)
    return a.shape[axis] - 1 - xp.argmax(flipped, axis=axis, keepdims=True)


def adaptive_max_pool2d_forward(x: Any, out_size: Pair) -> tuple[Any, Any]:
    """(N, C, H, W) -> (bin maxima, int64 flat indices into each H*W plane).

    Separable: the first maximum of each row within each column bin, then the first row
    whose maximum is largest within each row bin: the first maximum in scan order. A NaN
    wins, and of several the last in scan order (torch's kernel): the last NaN of each row,
    then the last row whose maximum is NaN.
    """
    ck = cuda_kernels_for(x)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/pool.cu)
        return ck.adaptive_max_pool2d_forward(x, out_size)
    nb = numba_kernels_or_none()
    if nb is not None and nb.supports(x):  # the numba kernel: torch's scan of each bin
        return nb.adaptive_max_pool2d_forward(x, out_size)
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = out_size
    (rs, re), (cs, ce) = _adaptive_bins(h, oh), _adaptive_bins(w, ow)
    row_max = xp.empty((n, c, h, ow), dtype=x.dtype)
    row_arg = xp.empty((n, c, h, ow), dtype=np.int64)  # column of each row maximum
    nan = x.dtype.kind == "f" and bool(xp.isnan(x).any())
    for j in range(ow):
        win = x[..., cs[j] : ce[j]]
        a = xp.argmax(win, axis=-1)[..., None]
        if nan:  # argmax takes the first NaN; torch the last
            a = xp.where(xp.isnan(win).any(axis=-1, keepdims=True), _last_nan(win, axis=-1), a)
        row_max[..., j] = xp.take_along_axis(win, a, axis=-1)[..., 0]
        row_arg[..., j] = a[..., 0] + cs[j]
    out = xp.empty((n, c, oh, ow), dtype=x.dtype)
    idx = xp.empty((n, c, oh, ow), dtype=np.int64)
    for i in range(oh):
        win = row_max[:, :, rs[i] : re[i]]
        r = xp.argmax(win, axis=2)[:, :, None]  # (N, C, 1, ow)
        if nan:
            r = xp.where(xp.isnan(win).any(axis=2, keepdims=True), _last_nan(win, axis=2), r)
        out[:, :, i] = xp.take_along_axis(win, r, axis=2)[:, :, 0]
        col = xp.take_along_axis(row_arg[:, :, rs[i] : re[i]], r, axis=2)[:, :, 0]
        idx[:, :, i] = (r[:, :, 0] + rs[i]) * w + col
    return out, idx


# ---------------------------------------------------------------------------- Functions
class MaxPool2DWithIndices(Function):
    """out (and torch's indices) = max_pool2d(x);  dx = g sent to (added at) each window's argmax."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, dilation, out_size, return_indices):
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        geom = (kernel_size, stride, padding, dilation)
        out, code = max_pool2d_forward(x, *geom, out_size)
        ctx.x_shape, ctx.geom = x.shape, geom
        ctx.disjoint = all(_windows_disjoint(*a) for a in zip(out_size, kernel_size, stride, dilation))
        ctx.save_for_backward(code)
        if ctx.unbatched:
            out = out[0]
        if not return_indices:
            return out
        idx = max_pool2d_indices(code, x.shape[2:], *geom)
        return out, (idx[0] if ctx.unbatched else idx)

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        (code,) = ctx.saved_tensors
        gx = max_pool2d_backward(g[None] if ctx.unbatched else g, code, ctx.x_shape, *ctx.geom, ctx.disjoint)
        return gx[0] if ctx.unbatched else gx


class AvgPool2D(Function):
    """out = window sums / divisor;  dx = g / divisor added back over each window."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, out_size, divisor):
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        div = array_module(x).asarray(divisor.astype(x.dtype) if x.dtype.kind == "f" else divisor)
        out = avg_pool2d_forward(x, kernel_size, stride, padding, out_size, div)
        ctx.x_shape, ctx.geom = x.shape, (kernel_size, stride, padding)
        ctx.disjoint = all(_windows_disjoint(o, k, s, 1) for o, k, s in zip(out_size, kernel_size, stride))
        ctx.save_for_backward(div)
        return out[0] if ctx.unbatched else out

    @staticmethod
    def backward(ctx, g):
        (div,) = ctx.saved_tensors
        gx = avg_pool2d_backward(g[None] if ctx.unbatched else g, ctx.x_shape, *ctx.geom, div, ctx.disjoint)
        return gx[0] if ctx.unbatched else gx


class AdaptiveAvgPool2D(Function):
    """out = mean of each adaptive bin;  dx = g / bin size added back over each bin."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, out_size):
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        ctx.x_shape = x.shape
        out = adaptive_avg_pool2d_forward(x, out_size)
        return out[0] if ctx.unbatched else out

    @staticmethod
    def backward(ctx, g):
        gx = adaptive_avg_pool2d_backward(g[None] if ctx.unbatched else g, ctx.x_shape)
        return gx[0] if ctx.unbatched else gx


class AdaptiveMaxPool2D(Function):
    """(out, indices) = max of each adaptive bin;  dx = g sent to (added at) each argmax."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, out_size):
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        out, idx = adaptive_max_pool2d_forward(x, out_size)
        ctx.x_shape = x.shape
        ctx.disjoint = all(_bins_disjoint(*_adaptive_bins(n, o)) for n, o in zip(x.shape[2:], out_size))
        ctx.save_for_backward(idx)
        return (out[0], idx[0]) if ctx.unbatched else (out, idx)

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        (idx,) = ctx.saved_tensors
        gx = adaptive_max_pool2d_backward(g[None] if ctx.unbatched else g, idx, ctx.x_shape, ctx.disjoint)
        return gx[0] if ctx.unbatched else gx


# ---------------------------------------------------------------------------- argument checks
def _pool_pair(op: str, name: str, value: Any, what: str = "either be a single int, or a tuple of two ints") -> Pair:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in items) and len(items) in (1, 2):
            return (items[0], items[-1])
    raise RuntimeError(f"{op}: {name} must {what}, got {value!r}")


def _check_input(op: str, input: Any) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    shape = tuple(input.shape)
    if input.ndim not in (3, 4) or 0 in shape[-3:]:
        raise ShapeError(
            f"{op}: non-empty 3D or 4D (batch mode) tensor expected for input, (N, C, H, W) or (C, H, W) "
            f"with non-zero C, H, W; got {shape}"
        )


def _pool_geometry(
    op: str, input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
) -> tuple[Pair, Pair, Pair, Pair, Pair]:
    """Checked (kernel, stride, padding, dilation, output size), with torch's messages."""
    _check_input(op, input)
    kernel = _pool_pair(op, "kernel_size", kernel_size)
    if stride is None or (isinstance(stride, Sequence) and len(stride) == 0):
        stride = kernel
    else:
        stride = _pool_pair(op, "stride", stride, "either be omitted, a single int, or a tuple of two ints")
    pad = _pool_pair(op, "padding", padding)
    dil = _pool_pair(op, "dilation", dilation)
    if min(stride) == 0:
        raise RuntimeError(f"{op}: stride should not be zero (kernel_size={kernel}, stride={stride})")
    if min(kernel) <= 0 or min(stride) < 0:
        raise RuntimeError(f"{op}: kernel size and stride should be greater than zero, got kernel_size={kernel}, "
                           f"stride={stride}")  # fmt: skip
    if min(dil) <= 0:
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilation={dil}")
    for p, k, d in zip(pad, kernel, dil):
        if p < 0:
            raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {p}")
        if p > ((k - 1) * d + 1) // 2:
            raise RuntimeError(
                f"{op}: pad should be at most half of effective kernel size, but got pad={p}, kernel_size={k} "
                f"and dilation={d}"
            )
        if p > k // 2:
            raise RuntimeError(
                f"{op}: pad should be smaller than or equal to half of kernel size, but got padding={pad}, "
                f"kernel_size={kernel}"
            )
    c, h, w = input.shape[-3:]
    out = (
        conv_output_size(h, kernel[0], stride[0], pad[0], dil[0], ceil_mode),
        conv_output_size(w, kernel[1], stride[1], pad[1], dil[1], ceil_mode),
    )
    if min(out) < 1:
        raise ShapeError(
            f"{op}: Given input size: ({c}x{h}x{w}). Calculated output size: ({c}x{out[0]}x{out[1]}). "
            f"Output size is too small (input {tuple(input.shape)}, kernel_size={kernel}, stride={stride}, "
            f"padding={pad}, dilation={dil})"
        )
    return kernel, stride, pad, dil, out


def _adaptive_size(op: str, input: Tensor, output_size: Any) -> Pair:
    """``output_size`` (an int, or a pair whose None entries keep the input's size) as a pair."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"{op}(): Expected 3D or 4D tensor, (N, C, H, W) or (C, H, W), but got {tuple(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise ShapeError(
                f"{op}(): Expected input to have non-zero size for non-batch dimensions, but input has sizes "
                f"{list(input.shape)} with dimension {d} being empty"
            )
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: not implemented for dtype {input._data.dtype} (use a floating-point input)")
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        sizes = [output_size, output_size]
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        sizes = list(output_size)
        if len(sizes) != 2:
            raise RuntimeError(f"{op}: output_size must be 2, got {output_size!r}")
    else:
        raise TypeError(f"{op}: output_size must be an int or a tuple of 2 ints (or None), got {output_size!r}")
    sizes = [input.shape[-2 + i] if s is None else s for i, s in enumerate(sizes)]
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise TypeError(f"{op}: output_size must be an int or a tuple of 2 ints (or None), got {output_size!r}")
    if min(sizes) < 0:
        raise RuntimeError(
            f"{op}: elements of output_size must be greater than or equal to 0 but received {tuple(sizes)}"
        )
    return sizes[0], sizes[1]


# ---------------------------------------------------------------------------- public functions
def _max_pool(input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
              return_indices: bool) -> Any:  # fmt: skip
    kernel, stride, pad, dil, out = _pool_geometry("max_pool2d", input, kernel_size, stride, padding, dilation,
                                                   ceil_mode)  # fmt: skip
    if input._data.dtype.kind not in "fiu":
        raise RuntimeError(f"max_pool2d: not implemented for dtype {input._data.dtype}")
    return MaxPool2DWithIndices.apply(input, kernel_size=kernel, stride=stride, padding=pad, dilation=dil,
                                      out_size=out, return_indices=return_indices)  # fmt: skip


def max_pool2d_with_indices(
    input: Tensor,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    dilation: int | Pair = 1,
    ceil_mode: bool = False,
    return_indices: bool = True,
) -> tuple[Tensor, Tensor]:
    """``max_pool2d`` that always returns (values, int64 indices) (``F.max_pool2d_with_indices``)."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d(
    input: Tensor,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    dilation: int | Pair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Max over each (dilated) window: ``F.max_pool2d``. stride defaults to kernel_size.

    (N, C, H, W) or (C, H, W) -> (N, C, oh, ow), ``oh = floor((H + 2p - d*(k - 1) - 1)/s) + 1``
    (ceil with ``ceil_mode``; a window must start inside the input or the left padding).
    Padding (at most half the kernel) counts as -inf. With ``return_indices`` also the
    argmax of each window as a flat index into its H*W input plane (int64).
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool2d(
    input: Tensor,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each window: ``F.avg_pool2d``. stride defaults to kernel_size.

    The divisor is torch's: the window size clipped to the padded input (the zero padding
    counts when ``count_include_pad``, cells beyond it that ``ceil_mode`` adds never do),
    or the number of input cells in the window without ``count_include_pad``, or
    ``divisor_override``.
    """
    op = "avg_pool2d"
    kernel, stride, pad, _, out = _pool_geometry(op, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, int) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor must be not zero")
    dt = input._data.dtype
    if dt.kind != "f" and dt != np.int64:  # torch has no other integer kernel
        raise NotImplementedError(f'"{op}" not implemented for dtype {dt} (use a floating-point or int64 input)')
    divisor = avg_pool2d_divisor(tuple(input.shape[-2:]), kernel, stride, pad, out, count_include_pad, divisor_override)
    return AvgPool2D.apply(input, kernel_size=kernel, stride=stride, padding=pad, out_size=out, divisor=divisor)


def adaptive_avg_pool2d(input: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Mean over torch's adaptive bins: ``F.adaptive_avg_pool2d``. (N, C, H, W) -> (N, C, *output_size).

    Bin i of n_out along a dim of size n covers [floor(i*n/n_out), ceil((i+1)*n/n_out));
    a None in ``output_size`` keeps that dim's size.
    """
    out = _adaptive_size("adaptive_avg_pool2d", input, output_size)
    return AdaptiveAvgPool2D.apply(input, out_size=out)


def adaptive_max_pool2d(
    input: Tensor, output_size: int | tuple[int | None, int | None], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max over torch's adaptive bins: ``F.adaptive_max_pool2d`` (bins as adaptive_avg_pool2d).

    With ``return_indices`` also the argmax of each bin as a flat index into its H*W plane.
    """
    out_size = _adaptive_size("adaptive_max_pool2d", input, output_size)
    out, idx = AdaptiveMaxPool2D.apply(input, out_size=out_size)
    return (out, idx) if return_indices else out

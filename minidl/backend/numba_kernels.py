"""numba CPU kernels behind the numpy references of im2col/col2im, 2-D pooling, batch norm, ReLU and the
SGD, Adam and RMSprop updates.

Each kernel computes what its reference computes (same shapes, same index conventions):

- ``im2col``/``col2im``: :mod:`minidl.backend.im2col` (columns (C*kh*kw, N*oh*ow)), adding in
  the reference's order, so float results match bit for bit. Two kernels each: row by row (rows of
  16 windows and more), and, for narrower or strided rows, a gather (scatter-add) of each (tap, sample)
  block of oh*ow columns through a table of window offsets in zero-bordered scratch planes
  (:data:`GATHER_BELOW`): stride-2 layers 0.3-0.55x the row kernels' time (ResNet-18's 7x7 stem and
  3x3 stride-2 convs, batch 32), 8x8 stride-1 layers 0.6-0.9x; ``rows_to_planes``/``planes_to_rows``:
  :class:`minidl.ops.conv.Convolution`'s swaps between the GEMM's (O, N*oh*ow) rows and (N, O, oh, ow)
  (the bias added, or the bias gradient's sums taken, on the way), the values moved bit for bit;
- ``max_pool2d_forward``/``max_pool2d_backward``: :mod:`minidl.ops.pool` (max-pool's argmax as a
  tap code): the same tap codes; each maximum is the value at its argmax (as torch; the reference's
  ``np.maximum`` may return the other of +0 and -0, or another NaN: equal as numbers); gradients bit
  for bit (g at the argmax, +0 elsewhere whatever g is, torch's rule). The general forward kernel
  updates a whole output row per tap with selects (branches on random data mispredict) and unsigned
  indices (wraparound checks block vectorisation); 2x2 windows inside the input have a kernel of their
  own, ``MaxPool2d(2, 2)`` (stride 2, dilation 1, windows inside the input) one with the strides
  built in, which LLVM vectorises, and ``MaxPool2d(3, 2, 1)`` on even planes a two-pass one;
  :func:`max_pool2d_fast` says where each beats numpy's slices.
  Measured on the course CNN's activations (float32, batch 128, 2 shared cores, median of 80
  interleaved rounds): forward 0.15-0.2x the general 2x2 kernel's time (0.8x for 4x4 inputs), backward
  0.33-0.6x numpy's. The general backward (any geometry) is wired too: 0.17-0.4x the time of numpy's
  select and strided slice-add per tap (ResNet's MaxPool2d(3, 2, 1) on (32, 64, 16, 16): 3.1 -> 0.5 ms;
  3x3 stride 1, 2x2 stride 1, ceil_mode, dilation 2), and flat unsigned indices took it a further 3-3.7x
  (MaxPool2d(3, 2, 1) on (128, 64, 32, 32): 16.5 -> 5.7 ms; MaxPool2d(3, 1, 1) on 16x16: 16.2 -> 4.4 ms);
- ``relu_forward``/``relu_backward``: :class:`minidl.ops.activation.ReLU` (torch's rules:
  ``where(x < 0, 0, x)``, ``where(out <= 0, 0, g)``), bit for bit, one pass each: 0.25-0.5x and
  0.4-0.55x the time of numpy's ``maximum(x, 0)`` and ``g * (out > 0)`` (same runs);
- ``avg_pool2d_forward``/``avg_pool2d_backward``, ``adaptive_avg_pool2d_forward``/``_backward``,
  ``adaptive_max_pool2d_forward``/``_backward``: :mod:`minidl.ops.pool`, bit for bit (the same sums in
  the same order, numpy's pairwise column sums included; adaptive max-pool: the first maximum, the last
  NaN). Measured against the numpy path (float32, 2 shared, loaded cores, median of 30-40 interleaved
  rounds, 3 runs): avg forward 0.28x (AvgPool2d(2), (128, 64, 16, 16)) and 0.26-0.46x (AvgPool2d(3, 1, 1),
  (32, 64, 32, 32)), avg backward 0.58-0.61x and 0.30-0.41x, adaptive avg forward 0.5x (global, (128, 512,
  2, 2)), 0.1x (global, (32, 512, 7, 7)), 0.09x ((6, 6) from (16, 256, 13, 13)), adaptive max forward
  0.31x ((3, 3) from (32, 64, 10, 10)): these are wired in. Not wired: adaptive avg backward (numpy's
  equal-bin gradient is a broadcast view, 10x cheaper than any copy; unequal bins 0.4-3x, noise) and
  adaptive max backward (0.7-1.0x of numpy's ``add.at`` at 0.1 ms);
- ``sgd_step``: :class:`minidl.optim.SGD`'s update (momentum, dampening, Nesterov, weight decay,
  maximize) in one pass, bit for bit; ``adam_step`` likewise for :class:`minidl.optim.Adam` and
  ``AdamW`` (amsgrad, maximize, coupled or decoupled weight decay), ``rmsprop_step`` for
  :class:`minidl.optim.RMSprop` (centred, momentum);
- ``batch_norm_train_forward``/``batch_norm_train_backward``/``batch_norm_affine``:
  :class:`minidl.ops.norm.BatchNorm`, per channel, the statistics summed in float64 (another
  order than numpy's: equal to rounding, not bit for bit); planes of fewer than
  :data:`BN_ROWS_BELOW` values are summed down whole sample rows instead (ResNet-18's 4x4-1x1 maps
  at batch 32: 0.1-0.5x the per-channel kernels' time).

Importing this module imports numba; :func:`minidl.backend.numba_kernels_or_none` does
so only when the numba path is enabled (``MINIDL_NUMBA=0`` or ``use_numba(False)`` turn
it off) and falls back to numpy where numba cannot be imported. The wrappers take numpy
arrays of float32/float64 only (:func:`supports`); the callers check that.

Parallelism (``prange``) never shares an output cell between threads: im2col gives each
thread whole rows of the columns (one (channel, tap) each), the other kernels whole
(sample, channel) planes of their output, batch norm whole channels. numba's own threads are
off (``_PARALLEL``); instead the ReLU and max-pooling kernels are compiled ``nogil`` and
:func:`split` runs them on slices of the batch (or of the values) from minidl's threads
(:func:`minidl.backend.threads.parallel_for`, the same threads as the convolutions'). Compiled
code is cached on disk (``cache=True``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from numba import njit, prange

from minidl.backend.im2col import overlap
from minidl.backend.threads import even_ranges, get_num_threads, parallel_for, threads_for

__all__ = [
    "adam_step",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "batch_norm_affine",
    "batch_norm_train_backward",
    "batch_norm_train_forward",
    "col2im",
    "im2col",
    "max_pool2d_backward",
    "max_pool2d_fast",
    "max_pool2d_forward",
    "planes_to_rows",
    "relu_backward",
    "relu_forward",
    "rmsprop_step",
    "rows_to_planes",
    "sgd_step",
    "supports",
    "supports_flat",
    "wgrad_direct",
    "wgrad_direct_applies",
]

Pair = tuple[int, int]
#: im2col/col2im dispatch to these kernels only for at least this many windows per plane (oh*ow): for a
#: single window (ResNet's 1x1 maps) numpy's whole-array slice-adds are faster (measured, 2 cores)
MIN_WINDOWS = 4
#: im2col/col2im gather each (tap, sample) block of oh*ow columns through a table of window offsets (one
#: vectorised loop) for output rows of fewer windows than this, instead of copying row by row (a loop of
#: fewer iterations than a vector's lanes runs scalar). Measured (float32): stride 1, 8x8 outputs 0.5-0.8x
#: the row kernels' time; 16 wide even, 20-32 wide 1.2-1.7x slower; stride 2 (rows read with gaps) 0.3-0.6x
#: up to 32 wide, even at 64.
GATHER_BELOW = 16
GATHER_BELOW_STRIDED = 64
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
#: numba's threads off: measured on 2 loaded cores, parallel regions between BLAS calls lost more to thread
#: wake-ups and oversubscription (numba's OpenMP threads beside OpenBLAS's) than they gained on these
#: memory-bound copies. Re-measured for the ReLU and MaxPool2d(2) kernels: alone 1.5-3x faster in
#: parallel, but the course CNN's training step took 177-206 ms with them parallel against 95 ms serial.
#: The prange loops give each thread its own output slice, so flipping this is safe. (:func:`split` shares
#: the ReLU and max-pool kernels' work over minidl's own threads instead, which BLAS's never compete with.)
_PARALLEL = False


def supports(*arrays: Any) -> bool:
    """Whether the kernels take these arrays: numpy (not cupy) float32/float64."""
    return all(type(a) is np.ndarray and a.dtype in _FLOATS for a in arrays)


#: a kernel call over fewer values than this runs whole on the calling thread (a hand-over to another thread
#: costs 30-80 us, as long as one thread's ReLU of about 250k values: minidl.backend.threads.PARALLEL_MIN_BYTES)
SPLIT_MIN = 1 << 20


def split(kernel: Any, count: int, arrays: tuple[np.ndarray, ...], per_item: int = 1, args: tuple = ()) -> None:
    """``kernel(*arrays, *args)`` on minidl's threads: the arrays (each with ``count`` items along its first
    axis: samples, or the values of flat views) cut into one slice per thread, each thread calling the
    kernel on its slices (:func:`minidl.backend.threads.parallel_for`). For kernels (compiled ``nogil``)
    whose output items depend only on the same input items: a pooling kernel's samples, an elementwise
    kernel's values. Fewer than :data:`SPLIT_MIN` values (``count * per_item``) run in one call.
    """
    if get_num_threads() < 2 or count * per_item < SPLIT_MIN:
        kernel(*arrays, *args)
        return
    ranges = even_ranges(count, get_num_threads())
    parallel_for(lambda i: kernel(*(a[ranges[i][0] : ranges[i][1]] for a in arrays), *args), len(ranges))


# ---------------------------------------------------------------------------- im2col / col2im
@njit(cache=True, inline="always")
def _copy_rows(src, dst, s0, s_step, d0, d_step, rows, run):  # pragma: no cover - compiled
    # copy `rows` runs of `run` cells from flat src (first at s0, then every s_step) into flat dst (d0, d_step);
    # unsigned offsets: no wraparound checks, so the inner loop vectorises
    if run <= 0:
        return
    n = np.uint64(run)
    for i in range(rows):
        s = np.uint64(s0 + i * s_step)
        d = np.uint64(d0 + i * d_step)
        for j in range(n):
            dst[d + j] = src[s + j]


@njit(cache=True, inline="always")
def _crop_plane(src, s0, spw, dst, d0, h, w, top, left, i0, i1, j0, j1):  # pragma: no cover - compiled
    # dst's h x w plane at flat d0 = src's padded plane (flat, at s0, rows of spw) from row top, column left on;
    # cells outside rows [i0, i1) x columns [j0, j1) are 0 (no tile reached them). Rows copied whole with
    # unsigned offsets (vectorised; a cell-by-cell select took a third of the F(4x4) input adjoint's time)
    zero = dst.dtype.type(0)
    uw, uj0, uj1 = np.uint64(w), np.uint64(j0), np.uint64(j1)
    for i in range(h):
        d = np.uint64(d0 + i * w)
        if i < i0 or i >= i1:
            for j in range(uw):
                dst[d + j] = zero
            continue
        sr = np.uint64(s0 + (top + i) * spw + left)
        for j in range(uj0):
            dst[d + j] = zero
        for j in range(uj0, uj1):
            dst[d + j] = src[sr + j]
        for j in range(uj1, uw):
            dst[d + j] = zero


@njit(cache=True, inline="always")
def _padded_planes(x, c, pad, ph, pw, top, i0, i1, left, j0, j1):  # pragma: no cover - compiled
    # channel c of every sample into its zero-bordered (ph, pw) scratch plane (flat ``pad``, one plane per
    # sample): input rows [i0, i1) x columns [j0, j1) land at padded row top + i, column left + j; the borders,
    # zeroed once by the caller, are never written
    n_, c_, h, w = x.shape
    xf = x.reshape(-1)
    for n in range(n_):
        _copy_rows(xf, pad, ((n * c_ + c) * h + i0) * w + j0, w, (n * ph + top + i0) * pw + left + j0, pw,
                   i1 - i0, j1 - j0)  # fmt: skip


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _im2col_gather(x, cols, kh, kw, top, left, dh, dw, hp, wp, idx, i0, i1, j0, j1):  # pragma: no cover - compiled
    # as _im2col, for short output rows: per channel, its N planes copied into zero-bordered (hp, wp) scratch
    # planes (the padded extent the windows read), then each (tap, sample) block of oh*ow columns gathered
    # through idx, the windows' offsets in a padded plane: one loop of oh*ow, where _im2col's loops over rows
    # of fewer windows than a vector's lanes ran scalar. Input rows [i0, i1) x columns [j0, j1) land in the
    # scratch planes. Serial: the scratch planes are shared.
    n_, c_ = x.shape[:2]
    oh, ow = cols.shape[4], cols.shape[5]
    cf = cols.reshape(-1)
    pad = np.zeros(n_ * hp * wp, dtype=x.dtype)
    q = np.uint64(oh * ow)
    for c in range(c_):
        _padded_planes(x, c, pad, hp, wp, top, i0, i1, left, j0, j1)
        for r in range(c * kh * kw, (c + 1) * kh * kw):  # the channel's (tap) rows of the columns
            tap = ((r // kw) % kh) * dh * wp + (r % kw) * dw
            for n in range(n_):
                src, dst = np.uint64(n * hp * wp + tap), np.uint64((r * n_ + n) * oh * ow)
                for t in range(q):
                    cf[dst + t] = pad[src + idx[t]]


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _col2im_gather(cols, out, kh, kw, top, left, dh, dw, hp, wp, idx, i0, i1, j0, j1):  # pragma: no cover - compiled
    # the adjoint of _im2col_gather, as _col2im: per channel, each (tap, sample) block of columns added onto
    # zero (hp, wp) scratch planes through idx, taps in the reference's order (the same sums, bit for bit),
    # then the planes cropped into out (cells no window reads get 0)
    n_, c_, h, w = out.shape
    oh, ow = cols.shape[4], cols.shape[5]
    cf, of = cols.reshape(-1), out.reshape(-1)
    acc = np.empty(n_ * hp * wp, dtype=out.dtype)
    zero = out.dtype.type(0)
    q = np.uint64(oh * ow)
    for c in range(c_):
        acc[:] = zero
        for r in range(c * kh * kw, (c + 1) * kh * kw):
            tap = ((r // kw) % kh) * dh * wp + (r % kw) * dw
            for n in range(n_):
                dst, src = np.uint64(n * hp * wp + tap), np.uint64((r * n_ + n) * oh * ow)
                for t in range(q):
                    acc[dst + idx[t]] += cf[src + t]
        for n in range(n_):
            _crop_plane(acc, n * hp * wp, wp, of, (n * c_ + c) * h * w, h, w, top, left, i0, i1, j0, j1)


@njit(cache=True, inline="always")
def _strided_copy(dst, d0, src, s0, step, size):  # pragma: no cover - compiled
    # dst[d0 + t] = src[s0 + step*t] for t < size (all unsigned)
    for t in range(size):
        dst[d0 + t] = src[s0 + step * t]


@njit(cache=True, inline="always")
def _strided_add(dst, d0, step, src, s0, size):  # pragma: no cover - compiled
    # dst[d0 + step*t] += src[s0 + t] for t < size (all unsigned)
    for t in range(size):
        dst[d0 + step * t] += src[s0 + t]


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _im2col(x, cols, kh, kw, sh, sw, top, left, dh, dw):  # pragma: no cover - compiled
    # x (N, C, H, W) -> cols (C, kh, kw, N, oh, ow), both C-contiguous, indexed flat (no per-row views):
    # cols[c, i, j, n, y, x] = xpad[n, c, y*sh + i*dh, x*sw + j*dw]
    n_, c_, h, w = x.shape
    oh, ow = cols.shape[4], cols.shape[5]
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    zero = cols.dtype.type(0)
    u1, u2 = np.uint64(1), np.uint64(2)
    for r in prange(c_ * kh * kw):  # one (channel, tap) row of the columns per iteration
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        off_w = j * dw - left
        lo, hi = _tap_bounds(w, ow, off_w, sw)
        for n in range(n_):
            plane = (n * c_ + c) * h
            for y in range(oh):
                o = ((r * n_ + n) * oh + y) * ow
                iy = y * sh - top + i * dh
                if iy < 0 or iy >= h:
                    for xx in range(ow):
                        cf[o + xx] = zero
                    continue
                s = (plane + iy) * w + off_w
                for xx in range(lo):
                    cf[o + xx] = zero
                # unsigned indices skip numba's negative-index wraparound checks, and strides 1 and 2 spelled
                # out let LLVM vectorise the loads
                if hi > lo:
                    d0, s0, size = np.uint64(o + lo), np.uint64(s + lo * sw), np.uint64(hi - lo)
                    if sw == 1:
                        _strided_copy(cf, d0, xf, s0, u1, size)
                    elif sw == 2:
                        _strided_copy(cf, d0, xf, s0, u2, size)
                    else:
                        _strided_copy(cf, d0, xf, s0, np.uint64(sw), size)
                for xx in range(hi, ow):
                    cf[o + xx] = zero


@njit(cache=True)
def _tap_bounds(w, ow, off, stride):  # pragma: no cover - compiled
    # windows lo..hi-1 whose tap reads position x*stride + off inside [0, w)
    lo = 0
    if off < 0:
        lo = min(ow, (-off + stride - 1) // stride)
    hi = 0
    if w - 1 - off >= 0:
        hi = min(ow, (w - 1 - off) // stride + 1)
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _col2im(cols, out, kh, kw, sh, sw, top, left, dh, dw):  # pragma: no cover - compiled
    # cols (C, kh, kw, N, oh, ow) -> out (N, C, H, W), both C-contiguous, summed tap by tap (the reference's order)
    n_, c_, h, w = out.shape
    oh, ow = cols.shape[4], cols.shape[5]
    cf = cols.reshape(-1)
    of = out.reshape(-1)
    zero = out.dtype.type(0)
    u1, u2 = np.uint64(1), np.uint64(2)
    for p in prange(n_ * c_):  # one (sample, channel) plane per iteration
        n = p // c_
        c = p % c_
        base = p * h * w
        for a in range(h * w):
            of[base + a] = zero
        for i in range(kh):
            for j in range(kw):
                off_w = j * dw - left
                lo, hi = _tap_bounds(w, ow, off_w, sw)
                r = (c * kh + i) * kw + j
                for y in range(oh):
                    iy = y * sh - top + i * dh
                    if iy < 0 or iy >= h:
                        continue
                    src = ((r * n_ + n) * oh + y) * ow
                    dst = base + iy * w + off_w
                    if hi > lo:  # unsigned indices, strides 1 and 2 spelled out: vectorised (as in _im2col)
                        d0, s0, size = np.uint64(dst + lo * sw), np.uint64(src + lo), np.uint64(hi - lo)
                        if sw == 1:
                            _strided_add(of, d0, u1, cf, s0, size)
                        elif sw == 2:
                            _strided_add(of, d0, u2, cf, s0, size)
                        else:
                            _strided_add(of, d0, np.uint64(sw), cf, s0, size)


@functools.lru_cache(maxsize=256)
def _window_offsets(oh: int, ow: int, sh: int, sw: int, wp: int) -> np.ndarray:
    """The gather kernels' table: window (y, x)'s first cell y*sh*wp + x*sw in a padded plane of rows of wp."""
    return (np.arange(oh)[:, None] * (sh * wp) + np.arange(ow)[None, :] * sw).reshape(-1).astype(np.uint64)


def _gathers(ow: int, sw: int) -> bool:
    """Whether im2col/col2im take the gather kernels (:data:`GATHER_BELOW`) for rows of ``ow`` windows, stride sw."""
    return ow < (GATHER_BELOW if sw == 1 else GATHER_BELOW_STRIDED)


def _gather_geometry(size: Pair, kernel_size: Pair, stride: Pair, padding: Any, dilation: Pair,
                     out_size: Pair) -> tuple[Any, ...]:  # fmt: skip
    """The gather kernels' geometry: (hp, wp) the padded extent the windows read, their offsets table, and
    the input rows [i0, i1) and columns [j0, j1) that land in it (:func:`minidl.backend.im2col.overlap`)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, stride, dilation, out_size
    hp, wp = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    return (hp, wp, _window_offsets(oh, ow, sh, sw, wp), *overlap(size[0], padding[0][0], hp),
            *overlap(size[1], padding[1][0], wp))  # fmt: skip


def im2col(x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Any, dilation: Pair, out_size: Pair) -> np.ndarray:
    """:func:`minidl.backend.im2col.im2col` (``padding`` as ((top, bottom), (left, right)))."""
    n, c = x.shape[:2]
    (kh, kw), (oh, ow) = kernel_size, out_size
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    x = np.ascontiguousarray(x)  # one compiled layout (a no-op for the usual contiguous input)
    top, left = padding[0][0], padding[1][0]
    if _gathers(ow, stride[1]):
        _im2col_gather(x, cols, kh, kw, top, left, *dilation,
                       *_gather_geometry(x.shape[2:], kernel_size, stride, padding, dilation, out_size))  # fmt: skip
    else:
        _im2col(x, cols, kh, kw, stride[0], stride[1], top, left, dilation[0], dilation[1])
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(
    cols: np.ndarray, input_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair, padding: Any,
    dilation: Pair, out_size: Pair,
) -> np.ndarray:  # fmt: skip
    """:func:`minidl.backend.im2col.col2im`: (C*kh*kw, N*oh*ow) -> (N, C, H, W), a new array."""
    n, c, h, w = input_shape
    (kh, kw), (oh, ow) = kernel_size, out_size
    cols6 = np.ascontiguousarray(cols).reshape(c, kh, kw, n, oh, ow)
    out = np.empty((n, c, h, w), dtype=cols.dtype)
    top, left = padding[0][0], padding[1][0]
    if _gathers(ow, stride[1]):
        _col2im_gather(cols6, out, kh, kw, top, left, *dilation,
                       *_gather_geometry((h, w), kernel_size, stride, padding, dilation, out_size))  # fmt: skip
    else:
        _col2im(cols6, out, kh, kw, stride[0], stride[1], top, left, dilation[0], dilation[1])
    return out


# ---------------------------------------------------------------------------- GEMM layout <-> NCHW
# im2col's GEMM gives (O, N*L) rows (L = oh*ow); the network wants (N, O, oh, ow) planes, and the backward
# the other way round. numpy's transposing add of the bias measured 2.1 ms for the course CNN's first layer
# ((32, 128, 1024) float32), this loop 0.7 ms; rows from g and the bias gradient in one pass likewise.
@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _rows_to_planes(y, bias, has_bias, out):  # pragma: no cover - compiled
    # y (O, N, L) -> out (N, O, L): out[n, o] = y[o, n] (+ bias[o])
    o_, n_, size = y.shape
    for n in prange(n_):
        for o in range(o_):
            src, dst = y[o, n], out[n, o]
            if has_bias:
                b = bias[o]
                for t in range(np.uint64(size)):
                    dst[t] = src[t] + b
            else:
                for t in range(np.uint64(size)):
                    dst[t] = src[t]


@njit(cache=True, parallel=_PARALLEL, fastmath={"reassoc"})  # the plane sums vectorised (any order, nogil=True)
def _planes_to_rows(g, rows, sums, want_sums):  # pragma: no cover - compiled
    # g (N, O, L) -> rows (O, N, L); sums[o] = the sum of g[:, o] (each plane's in the dtype, added up in
    # float64) when want_sums
    n_, o_, size = g.shape
    for o in prange(o_):
        total = 0.0
        for n in range(n_):
            src, dst = g[n, o], rows[o, n]
            part = src.dtype.type(0)
            for t in range(np.uint64(size)):
                v = src[t]
                dst[t] = v
                part += v
            total += part
        if want_sums:
            sums[o] = total


def rows_to_planes(y: np.ndarray, bias: np.ndarray | None, out: np.ndarray) -> None:
    """GEMM rows y (O, N*L) (any leading split of O, e.g. (G, O/G, N*L)) -> ``out`` (N, O, ...) C-contiguous,
    written in place: ``out[n, o] = y[o, n*L:(n+1)*L] (+ bias[o])``."""
    if not out.flags.c_contiguous:
        raise ValueError("rows_to_planes: out must be C-contiguous (it is written through a reshaped view)")
    n, o = out.shape[:2]
    size = int(np.prod(out.shape[2:]))
    y3 = np.ascontiguousarray(y).reshape(o, n, size)
    b = np.zeros(1, dtype=out.dtype) if bias is None else np.ascontiguousarray(bias, dtype=out.dtype)
    _rows_to_planes(y3, b, bias is not None, out.reshape(n, o, size))


def planes_to_rows(g: np.ndarray, want_sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """g (N, O, ...) -> (its GEMM rows (O, N*L), contiguous; the per-channel sums (O,) when ``want_sums``)."""
    n, o = g.shape[:2]
    size = int(np.prod(g.shape[2:]))
    g3 = np.ascontiguousarray(g).reshape(n, o, size)
    rows = np.empty((o, n, size), dtype=g.dtype)
    sums = np.empty(o, dtype=np.float64)
    _planes_to_rows(g3, rows, sums, want_sums)
    return rows.reshape(o, n * size), (sums.astype(g.dtype) if want_sums else None)


# ---------------------------------------------------------------------------- thin weight gradients
# A first layer's weight gradient g (O, N*L) @ cols^T (N*L, K) has a tiny result (32 x 27 for the course CNN)
# and a huge inner dimension: OpenBLAS runs it at ~60 GFLOP/s (memory-bound, threaded over the tiny result),
# and g must first be swapped into GEMM rows. This kernel reads g's planes where they are and keeps a 4 x 3
# block of the result in registers while it streams one plane's row pair (vectorised dot products).
#: the direct kernel takes weight gradients with at most this many columns (K = C*kh*kw); measured, float32,
#: batch 128 at 32x32: K = 27 2.0 ms against 4.5 ms for the swap and BLAS's GEMM, K = 75 6.2 against 6.9
WGRAD_DIRECT_MAX_K = 48


def wgrad_direct_applies(o: int, k: int, groups: int) -> bool:
    """Whether :func:`wgrad_direct` takes a weight gradient (O, K): one group, O a multiple of 4, K of 3."""
    return groups == 1 and o % 4 == 0 and k % 3 == 0 and k <= WGRAD_DIRECT_MAX_K


@njit(cache=True, fastmath={"reassoc", "contract"})  # the dot products vectorised (any order, nogil=True)
def _wgrad_direct(g, cols, acc, sums, want_sums):  # pragma: no cover - compiled
    # acc (O, K) += sum over n, l of g[n, o, l] * cols[k, n*L + l]; sums[o] += each plane g[n, o]'s sum (float64,
    # each plane's in the dtype, as _planes_to_rows)
    n_, o_, l_ = g.shape
    k_ = cols.shape[0]
    zero = g.dtype.type(0)
    for n in range(n_):
        base = n * l_
        for o0 in range(0, o_, 4):
            g0, g1, g2, g3 = g[n, o0], g[n, o0 + 1], g[n, o0 + 2], g[n, o0 + 3]
            if want_sums:
                for j in range(4):
                    part = zero
                    row = g[n, o0 + j]
                    for t in range(l_):
                        part += row[t]
                    sums[o0 + j] += part
            for k0 in range(0, k_, 3):
                c0, c1, c2 = cols[k0, base : base + l_], cols[k0 + 1, base : base + l_], cols[k0 + 2, base : base + l_]
                a00 = a01 = a02 = a10 = a11 = a12 = a20 = a21 = a22 = a30 = a31 = a32 = zero
                for t in range(l_):
                    x0, x1, x2 = c0[t], c1[t], c2[t]
                    a00, a01, a02 = _fma3(a00, a01, a02, g0[t], x0, x1, x2)
                    a10, a11, a12 = _fma3(a10, a11, a12, g1[t], x0, x1, x2)
                    a20, a21, a22 = _fma3(a20, a21, a22, g2[t], x0, x1, x2)
                    a30, a31, a32 = _fma3(a30, a31, a32, g3[t], x0, x1, x2)
                for j, (b0, b1, b2) in enumerate(((a00, a01, a02), (a10, a11, a12), (a20, a21, a22), (a30, a31, a32))):
                    acc[o0 + j, k0] += b0
                    acc[o0 + j, k0 + 1] += b1
                    acc[o0 + j, k0 + 2] += b2


@njit(cache=True, inline="always")
def _fma3(a0, a1, a2, y, x0, x1, x2):  # pragma: no cover - compiled
    # one row of _wgrad_direct's register block: (a0 + y*x0, a1 + y*x1, a2 + y*x2)
    return a0 + y * x0, a1 + y * x1, a2 + y * x2


def wgrad_direct(g: np.ndarray, cols: np.ndarray, want_sums: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """g (N, O, oh, ow), cols (K, N*oh*ow) -> (dW (O, K) = g's GEMM rows @ cols^T, each plane's products summed
    in the dtype and the planes in float64; the bias gradient (O,) when ``want_sums``), where
    :func:`wgrad_direct_applies`.

        >>> g, cols = np.ones((2, 4, 3, 3), np.float32), np.ones((27, 2 * 9), np.float32)
        >>> dw, db = wgrad_direct(g, cols, True)
        >>> dw.shape, float(dw[0, 0]), db.tolist()
        ((4, 27), 18.0, [18.0, 18.0, 18.0, 18.0])
    """
    n, o = g.shape[:2]
    acc = np.zeros((o, cols.shape[0]), dtype=np.float64)
    sums = np.zeros(o, dtype=np.float64)
    planes = np.ascontiguousarray(g).reshape(n, o, int(np.prod(g.shape[2:])))
    _wgrad_direct(planes, np.ascontiguousarray(cols), acc, sums, want_sums)
    return acc.astype(g.dtype), (sums.astype(g.dtype) if want_sums else None)


# ---------------------------------------------------------------------------- max-pool
@njit(cache=True, inline="always")
def _first_taps(n_in, n_out, k, s, p, d):  # pragma: no cover - compiled
    # per output position along one dim: its first tap inside the input (k: none), torch's window start
    first = np.full(n_out, k, dtype=np.int64)
    for i in range(k - 1, -1, -1):
        lo, hi = _tap_bounds(n_in, n_out, i * d - p, s)
        for o in range(lo, hi):
            first[o] = i
    return first


@njit(cache=True, inline="always")
def _max_tap(row, start, step, best, code, k):  # pragma: no cover - compiled
    # one tap along an output row: window t takes row[start + step*t] where it beats best[t] or is NaN;
    # selects, not branches (random data would mispredict them), unsigned indices (no wraparound checks)
    for t in range(np.uint64(best.size)):
        v = row[start + step * t]
        b = best[t]
        take = (v > b) | (v != v)
        best[t] = v if take else b
        code[t] = k if take else code[t]


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _max_pool_fwd(x, best, code, kh, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    # torch's scan (the first tap inside the input starts the window, then v > best or v NaN takes the tap),
    # one output row at a time: each tap (i, j) in scan order updates the row's windows it reaches inside
    # the input at once, a strided row of loads (strides 1 and 2 spelled out so LLVM vectorises them)
    n_, c_, h, w = x.shape
    oh, ow = best.shape[2], best.shape[3]
    lowest = best.dtype.type(-np.inf)
    first_i = _first_taps(h, oh, kh, sh, ph, dh)
    first_j = _first_taps(w, ow, kw, sw, pw, dw)
    j_lo = np.empty(kw, dtype=np.int64)
    j_hi = np.empty(kw, dtype=np.int64)
    for j in range(kw):
        j_lo[j], j_hi[j] = _tap_bounds(w, ow, j * dw - pw, sw)
    u1, u2, us = np.uint64(1), np.uint64(2), np.uint64(sw)
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        for y in range(oh):
            b, cd = best[n, c, y], code[n, c, y]
            for xx in range(ow):
                b[xx] = lowest
                none = first_i[y] == kh or first_j[xx] == kw
                cd[xx] = kh * kw if none else first_i[y] * kw + first_j[xx]
            for i in range(kh):
                r = y * sh - ph + i * dh
                if r < 0 or r >= h:
                    continue
                row = x[n, c, r]
                for j in range(kw):
                    lo, hi = j_lo[j], j_hi[j]
                    if hi <= lo:
                        continue
                    start, k = np.uint64(lo * sw + j * dw - pw), cd.dtype.type(i * kw + j)
                    if sw == 1:
                        _max_tap(row, start, u1, b[lo:hi], cd[lo:hi], k)
                    elif sw == 2:
                        _max_tap(row, start, u2, b[lo:hi], cd[lo:hi], k)
                    else:
                        _max_tap(row, start, us, b[lo:hi], cd[lo:hi], k)


@njit(cache=True, inline="always")
def _max3(a, b, c, ua, ub, uc, ka, kb, kc):  # pragma: no cover - compiled
    # (maximum, its code) of a, b, c in torch's scan order, codes ka, kb, kc: the floats a, b, c are compared
    # (c with both a and b, the result picked with & and |, every select one level deep: see :func:`_max4`)
    # and the maximum picked from ua, ub, uc: the same floats (loops LLVM vectorises), or their bits (integer
    # selects stay branch-free in the scalar loops of short rows)
    t1 = _beats(b, a)
    t2 = (t1 & _beats(c, b)) | (~t1 & _beats(c, a))
    m = ub if t1 else ua
    km = kb if t1 else ka
    return (uc if t2 else m), (kc if t2 else km)


@njit(cache=True, nogil=True)
def _max_pool_fwd_3x3s2p1(x, best, code):  # pragma: no cover - compiled
    # MaxPool2d(3, 2, 1) on even planes (H = 2*oh, W = 2*ow; ResNet's stem), in torch's scan order, as two
    # passes. Across each input row first: window x of a row reads cells 2x - 1 (j = 0, none at x = 0), 2x,
    # 2x + 1, and as W = 2*ow, over all rows of all planes at once, output t reads input cells 2t - 1, 2t,
    # 2t + 1: one long stride-2 loop (the row kernel's loops over 8 windows ran scalar). Then down: window
    # (y, x) takes rows 2y - 1 (i = 0, none at y = 0), 2y, 2y + 1 of those row maxima. The first maximum in
    # (i, j) order wins, as torch's scan: each row keeps its first maximum, then a later row must be
    # greater (> ; NaN: the last one wins in both passes); each window of three with :func:`_max3`
    n_, c_, h = x.shape[:3]
    oh, ow = best.shape[2], best.shape[3]
    xf, bf, cf = x.reshape(-1), best.reshape(-1), code.reshape(-1)
    total, uow = np.uint64(n_ * c_ * h * ow), np.uint64(ow)
    hb = np.empty(total, dtype=x.dtype)
    hj = np.empty(total, dtype=code.dtype)
    ct = code.dtype.type
    zero, one, two, three, six = ct(0), ct(1), ct(2), ct(3), ct(6)
    u1, u2 = np.uint64(1), np.uint64(2)
    # across the rows: each window's first maximum over j, and its j. One loop as if every window had its j = 0
    # cell (no index arithmetic per window: a 64-bit t % ow there kept the loop scalar, 4x slower), then the
    # first window of each row, which has none (its cell 2t - 1 is the row before's), again from j = 1
    for t in range(u1, total):
        a, b, c = xf[u2 * t - u1], xf[u2 * t], xf[u2 * t + u1]
        hb[t], hj[t] = _max3(a, b, c, a, b, c, zero, one, two)
    for t in range(np.uint64(0), total, uow):
        b, c = xf[u2 * t], xf[u2 * t + u1]
        take = _beats(c, b)
        hb[t] = c if take else b
        hj[t] = two if take else one
    for q in range(n_ * c_ * oh):  # down: rows 2y - 1 (none at y = 0), 2y, 2y + 1 of plane q // oh's maxima
        inner = q % oh != 0
        r = np.uint64(2 * q) * uow  # the row maxima of input row 2y of that plane
        top = r - (uow if inner else np.uint64(0))
        o = np.uint64(q) * uow
        first = zero if inner else three
        for x in range(uow):
            a, b, c = hb[top + x], hb[r + x], hb[r + uow + x]
            bf[o + x], cf[o + x] = _max3(a, b, c, a, b, c, ct(first + hj[top + x]),
                                         ct(three + hj[r + x]), ct(six + hj[r + uow + x]))  # fmt: skip


@njit(cache=True, nogil=True)
def _max_pool_fwd_3x3s1p1(x, best, code):  # pragma: no cover - compiled
    # MaxPool2d(3, 1, 1) (GoogLeNet's inception branch) on planes of at least 2x2, in torch's scan order, as
    # two passes like the stem pool's (:func:`_max_pool_fwd_3x3s2p1`). Across the rows: window t reads cells
    # t - 1, t, t + 1, as one long loop over all rows of all planes (every window as if inside), then each
    # row's first window (no j = 0) and last (no j = 2) again. Down: window t takes the row maxima t - W, t,
    # t + W, one long loop again, then each plane's first row (no i = 0) and last (no i = 2) again. The
    # general kernel's per-tap row loops (16 windows on 16x16 planes) stay scalar with AVX2 only, their
    # float selects branches: (128, 64, 16, 16) 62 -> 9 ms on Zen 3
    n_, c_, h, w = x.shape
    xf, bf, cf = x.reshape(-1), best.reshape(-1), code.reshape(-1)
    total, uw, uh = np.uint64(x.size), np.uint64(w), np.uint64(h)
    hb = np.empty(total, dtype=x.dtype)
    hj = np.empty(total, dtype=code.dtype)
    ct = code.dtype.type
    zero, one, two, three, six = ct(0), ct(1), ct(2), ct(3), ct(6)
    u1 = np.uint64(1)
    for t in range(u1, total - u1):  # across: every window as if all three cells were in its row
        a, b, c = xf[t - u1], xf[t], xf[t + u1]
        hb[t], hj[t] = _max3(a, b, c, a, b, c, zero, one, two)
    for r in range(np.uint64(n_ * c_ * h)):  # each row's first window (cells 0, 1) and last (cells w-2, w-1)
        a = r * uw
        take = _beats(xf[a + u1], xf[a])
        hb[a] = xf[a + u1] if take else xf[a]
        hj[a] = two if take else one
        z = a + uw - u1
        take = _beats(xf[z], xf[z - u1])
        hb[z] = xf[z] if take else xf[z - u1]
        hj[z] = one if take else zero
    for t in range(uw, total - uw):  # down: every window as if all three rows were in its plane
        a, b, c = hb[t - uw], hb[t], hb[t + uw]
        bf[t], cf[t] = _max3(a, b, c, a, b, c, ct(hj[t - uw]), ct(three + hj[t]), ct(six + hj[t + uw]))
    plane = uh * uw
    for q in range(np.uint64(n_ * c_)):  # each plane's first row (rows 0, 1) and last (rows h-2, h-1)
        a = q * plane
        z = a + plane - uw
        for xx in range(uw):
            t = a + xx
            take = _beats(hb[t + uw], hb[t])
            bf[t] = hb[t + uw] if take else hb[t]
            cf[t] = ct(six + hj[t + uw]) if take else ct(three + hj[t])
            t = z + xx
            take = _beats(hb[t], hb[t - uw])
            bf[t] = hb[t] if take else hb[t - uw]
            cf[t] = ct(three + hj[t]) if take else ct(hj[t - uw])


@njit(cache=True, inline="always")
def _edge_window_3s2(xf, uf, a, xx, w, pw, ct):  # pragma: no cover - compiled
    # window xx of the row at flat offset a, 3 wide at stride 2, partly outside the row: torch's scan over
    # its taps inside (bits, j)
    c0 = 2 * xx - pw
    lo, hi = max(0, -c0), min(3, w - c0)
    base = a + c0
    bv, bb, bk = xf[base + lo], uf[base + lo], ct(lo)
    for j in range(lo + 1, hi):
        v = xf[base + j]
        if _beats(v, bv):
            bv, bb, bk = v, uf[base + j], ct(j)
    return bb, bk


@njit(cache=True)
def _max_pool_fwd_3x3s2(x, xu, hb, hu, hj, best, bu, code, ph, pw):  # pragma: no cover - compiled
    # MaxPool2d(3, 2) with padding 0 or 1 on any plane, ceil_mode too (AlexNet's and GoogLeNet's pools, the
    # stem pool on odd planes), in two passes as the stem kernel: across each input row into hb (its bits
    # hu, each window's j in hj: its first maximum over j, or last NaN), then down those, rows in order, a
    # later one taking the window only if greater or NaN: torch's (i, j) scan. Windows with all three taps
    # inside take :func:`_max3` (the floats compared, their bits picked: rows of 6-27 windows run scalar,
    # and a float select there is a branch with AVX2 only), the partial ones at the edges a plain scan.
    # Unsigned flat indices in the loops (signed ones carry wraparound checks: 5x slower here). On Zen 3,
    # against the general kernel: AlexNet's pools at 55x55, 27x27 and 13x13 (batch 32) 48 -> 11, 35 -> 10
    # and 11 -> 3.3 ms, (128, 32, 33, 33) with padding 1: 39 -> 15 ms
    n_, c_, h, w = x.shape
    oh, ow = best.shape[2], best.shape[3]
    xf, uf = x.reshape(-1), xu.reshape(-1)
    cf, buf = code.reshape(-1), bu.reshape(-1)
    ct = code.dtype.type
    zero, one, two, three, six = ct(0), ct(1), ct(2), ct(3), ct(6)
    x0 = (pw + 1) // 2  # windows x0 <= x < x1 have their three taps inside the row
    x1 = min(ow, max(x0, (w - 3 + pw) // 2 + 1)) if w - 3 + pw >= 0 else x0
    u1, u2, uw, uow, upw = np.uint64(1), np.uint64(2), np.uint64(w), np.uint64(ow), np.uint64(pw)
    for r in range(np.uint64(n_ * c_ * h)):  # across each input row
        a, o = r * uw, r * uow
        for xx in range(np.uint64(x0), np.uint64(x1)):
            s = a + u2 * xx - upw
            hu[o + xx], hj[o + xx] = _max3(xf[s], xf[s + u1], xf[s + u2], uf[s], uf[s + u1], uf[s + u2],
                                                zero, one, two)  # fmt: skip
        for xx in range(x0):
            hu[o + np.uint64(xx)], hj[o + np.uint64(xx)] = _edge_window_3s2(xf, uf, np.int64(a), xx, w, pw, ct)
        for xx in range(x1, ow):
            hu[o + np.uint64(xx)], hj[o + np.uint64(xx)] = _edge_window_3s2(xf, uf, np.int64(a), xx, w, pw, ct)
    for q in range(n_ * c_ * oh):  # down: rows 2y - ph + i of the plane's row maxima, i in order
        pl = q // oh
        r0 = 2 * (q - pl * oh) - ph
        lo, hi = max(0, -r0), min(3, h - r0)
        o = np.uint64(q) * uow
        if lo == 0 and hi == 3:
            t = np.uint64(pl * h + r0) * uow
            for xx in range(uow):
                a = t + xx
                b = a + uow
                c = b + uow
                buf[o + xx], cf[o + xx] = _max3(hb[a], hb[b], hb[c], hu[a], hu[b], hu[c], ct(hj[a]),
                                                     ct(three + hj[b]), ct(six + hj[c]))  # fmt: skip
        else:  # the plane's first or last output row, with fewer rows inside
            t = (pl * h + r0) * ow
            for xx in range(ow):
                a = t + lo * ow + xx
                bv, bb, bk = hb[a], hu[a], ct(3 * lo + hj[a])
                for i in range(lo + 1, hi):
                    a = t + i * ow + xx
                    if _beats(hb[a], bv):
                        bv, bb, bk = hb[a], hu[a], ct(3 * i + hj[a])
                buf[o + np.uint64(xx)], cf[o + np.uint64(xx)] = bb, bk


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _max_pool_bwd(g, code, gx, kh, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    # windows in reverse scan order: each input cell then receives its gradients in tap order (the reference's);
    # flat indices (the tap's offset in the plane from a table), unsigned where they index: no wraparound checks
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    zero = gx.dtype.type(0)
    none = kh * kw
    offset = np.zeros(none + 1, dtype=np.int64)
    for k in range(none):
        offset[k] = (k // kw) * dh * w + (k % kw) * dw
    gf, cf, of = g.reshape(-1), code.reshape(-1), gx.reshape(-1)
    plane_in, plane_out = h * w, oh * ow
    for p in prange(n_ * c_):
        base = p * plane_in
        for a in range(np.uint64(base), np.uint64(base + plane_in)):
            of[a] = zero
        for y in range(oh - 1, -1, -1):
            row = base + (y * sh - ph) * w - pw
            e0 = p * plane_out + y * ow
            for xx in range(ow - 1, -1, -1):
                e = np.uint64(e0 + xx)
                k = cf[e]
                if k >= none:
                    continue
                of[np.uint64(row + xx * sw + offset[k])] += gf[e]


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _max_pool_fwd_2x2(x, best, code, sh, sw, dh, dw):  # pragma: no cover - compiled
    # 2x2 windows wholly inside the input (no padding): the four taps of a window as four loads and three
    # branch-free "take v where v > best or v is NaN" steps, in scan order; flat unsigned indices (no
    # wraparound checks) so LLVM vectorises across the windows of a row
    n_, c_, h, w = x.shape
    oh, ow = best.shape[2], best.shape[3]
    xf = x.reshape(-1)
    bf = best.reshape(-1)
    cf = code.reshape(-1)
    one, two, three = cf.dtype.type(1), cf.dtype.type(2), cf.dtype.type(3)
    zero = cf.dtype.type(0)
    wu, swu, owu = np.uint64(w), np.uint64(sw), np.uint64(ow)
    down, right = np.uint64(dh * w), np.uint64(dw)
    for p in prange(n_ * c_):
        for y in range(oh):
            s = np.uint64(p * h + y * sh) * wu
            o = np.uint64(p * oh + y) * owu
            for xx in range(owu):
                a = s + xx * swu
                b = xf[a]
                k = zero
                v = xf[a + right]
                t = (v > b) | (v != v)
                b = v if t else b
                k = one if t else k
                v = xf[a + down]
                t = (v > b) | (v != v)
                b = v if t else b
                k = two if t else k
                v = xf[a + down + right]
                t = (v > b) | (v != v)
                bf[o + xx] = v if t else b
                cf[o + xx] = three if t else k


@njit(cache=True, inline="always")
def _window_row_2x2(p, y, h, w, oh, ow):  # pragma: no cover - compiled
    # row y of 2x2 stride-2 windows in plane p: flat offsets of its two input rows and its output row, and the
    # row's window count, all uint64 (uint64 + int64 would be float64 in numba; unsigned: no wraparound checks)
    wu, owu = np.uint64(w), np.uint64(ow)
    s0 = np.uint64(p * h + 2 * y) * wu
    return s0, s0 + wu, np.uint64(p * oh + y) * owu, owu


@njit(cache=True, inline="always")
def _beats(v, b):  # pragma: no cover - compiled
    # torch's max-pool scan step: v takes the window from b where it is larger or NaN
    return (v > b) | (v != v)


@njit(cache=True, inline="always")
def _max4(v0, v1, v2, v3, u0, u1, u2, u3, zero, one, two, three):  # pragma: no cover - compiled
    # a 2x2 window's (maximum, tap code) in torch's scan order (v0 v1 / v2 v3), taken as a tree: each pair
    # keeps its first value unless the second is larger or NaN, then the right pair wins if it is larger or
    # NaN. Without NaN that is the first maximum (ties keep the left); with NaN the last NaN (the right pair's
    # if it has one, else the left pair's, which no number beats since comparisons with NaN are false). The
    # comparisons are on the floats v; the maximum is picked from u: the same floats (for loops LLVM
    # vectorises), or their bits (integer selects compile to cmov where the loop stays scalar, where a float
    # select with AVX2 only is a branch that random data mispredicts). Every comparison is between loaded
    # values (the right pair's winner against the left's is one of four, picked with & and |) and every select
    # one level deep: with AVX-512, LLVM vectorised the old chained version, but with AVX2 only (Zen 3) it ran
    # it scalar, each float select, select of booleans or nested select a branch
    left = _beats(v1, v0)  # the left pair's winner: v1, else v0
    right = _beats(v3, v2)  # the right pair's: v3, else v2
    t = (left & ((right & _beats(v3, v1)) | (~right & _beats(v2, v1)))) | (
        ~left & ((right & _beats(v3, v0)) | (~right & _beats(v2, v0))))
    bl = u1 if left else u0
    br = u3 if right else u2
    kl = one if left else zero
    kr = three if right else two
    return (br if t else bl), (kr if t else kl)


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _max_pool_fwd_2x2s2(x, xu, best, bu, code):  # pragma: no cover - compiled
    # MaxPool2d(2): 2x2 windows, stride 2, dilation 1, wholly inside the input (:func:`_max4` on each). The
    # strides are constants here (the general 2x2 kernel takes them as arguments), so LLVM vectorises the
    # pairs of loads along a row (interleaved loads): 6-7x faster than the general kernel on the course
    # CNN's first pool. Rows of fewer than 16 windows are too short for the vector loop: those pick the
    # maximum's bits (xu, bu: unsigned views of x and best) in a scalar loop without branches. With AVX2 only
    # (Zen 3), on (128, C, H, W) float32: 32x32 planes 37 -> 1.3 ms, 16x16 8.6 -> 3.5 ms (the vector loop
    # with its float selects in branches: 8.6), 8x8 4.4 -> 1.4 ms, LeNet's 28x28 6.4 -> 1.9 ms
    n_, c_, h, w = x.shape
    oh, ow = best.shape[2], best.shape[3]
    xf, uf = x.reshape(-1), xu.reshape(-1)
    bf, buf = best.reshape(-1), bu.reshape(-1)
    cf = code.reshape(-1)
    zero, one, two, three = cf.dtype.type(0), cf.dtype.type(1), cf.dtype.type(2), cf.dtype.type(3)
    u1, u2 = np.uint64(1), np.uint64(2)  # uint64 throughout: uint64 + int64 would be float64 in numba
    for p in prange(n_ * c_):
        for y in range(oh):
            s0, s1, o, owu = _window_row_2x2(p, y, h, w, oh, ow)
            if ow >= 16:
                for xx in range(owu):
                    a0 = s0 + u2 * xx
                    a1 = s1 + u2 * xx
                    v0, v1, v2, v3 = xf[a0], xf[a0 + u1], xf[a1], xf[a1 + u1]
                    bf[o + xx], cf[o + xx] = _max4(v0, v1, v2, v3, v0, v1, v2, v3, zero, one, two, three)
            else:
                for xx in range(owu):
                    a0 = s0 + u2 * xx
                    a1 = s1 + u2 * xx
                    v0, v1, v2, v3 = xf[a0], xf[a0 + u1], xf[a1], xf[a1 + u1]
                    b0, b1, b2, b3 = uf[a0], uf[a0 + u1], uf[a1], uf[a1 + u1]
                    buf[o + xx], cf[o + xx] = _max4(v0, v1, v2, v3, b0, b1, b2, b3, zero, one, two, three)


@njit(cache=True, parallel=_PARALLEL, nogil=True)
def _max_pool_bwd_2x2(g, code, gx):  # pragma: no cover - compiled
    # 2x2 windows with stride 2 wholly inside the input (disjoint): each window writes its four cells once (no
    # zeroing pass, no adds): g at its argmax tap, +0 at the others, whatever g is (torch's rule: no -0, no NaN
    # from inf * 0), and a -0 g arrives as +0 (torch adds g onto zeros). g and gx come as unsigned-integer views
    # of the float bits; each cell is g's bits ANDed with an all-ones or all-zeros mask: branch-free, so it
    # vectorises (a select, ``g if k == 0 else 0``, compiled to branches that the random argmax taps
    # mispredict: 5x slower)
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    gf = g.reshape(-1)
    cf = code.reshape(-1)
    of = gx.reshape(-1)
    t = gx.dtype.type
    zero = t(0)
    sign = t(1) << t(8 * gx.itemsize - 1)  # the sign bit: -0's bits
    u1, u2 = np.uint64(1), np.uint64(2)
    for p in prange(n_ * c_):
        for y in range(oh):
            s0, s1, o, owu = _window_row_2x2(p, y, h, w, oh, ow)
            for xx in range(owu):
                v = gf[o + xx]
                v -= sign * t(v == sign)  # -0 -> +0
                k = cf[o + xx]
                a0 = s0 + u2 * xx
                a1 = s1 + u2 * xx
                of[a0] = v & (zero - t(k == 0))
                of[a0 + u1] = v & (zero - t(k == 1))
                of[a1] = v & (zero - t(k == 2))
                of[a1 + u1] = v & (zero - t(k == 3))


def _windows_inside(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair) -> bool:
    """Whether every window lies wholly inside the input (no padding; ceil_mode adds no partial window)."""
    return padding == (0, 0) and all(
        (o - 1) * s + (k - 1) * d < n for n, k, s, d, o in zip(size, kernel_size, stride, dilation, out_size)
    )


def _pool_2x2_stride2(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                      out_size: Pair) -> bool:  # fmt: skip
    """MaxPool2d(2)'s geometry: 2x2 windows, stride 2, dilation 1, all inside the input (no padding, no partial
    ceil_mode window)."""
    return (tuple(kernel_size) == tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and _windows_inside(tuple(size), (2, 2), (2, 2), tuple(padding), (1, 1), tuple(out_size)))  # fmt: skip


def _pool_3x3s1p1(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                  out_size: Pair) -> bool:  # fmt: skip
    """``MaxPool2d(3, 1, 1)`` (GoogLeNet's inception branch) on planes of at least 2x2."""
    return (tuple(kernel_size) == (3, 3) and tuple(stride) == (1, 1) and tuple(padding) == (1, 1)
            and tuple(dilation) == (1, 1) and min(size) >= 2 and tuple(out_size) == tuple(size))  # fmt: skip


def _pool_3x3s2(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                out_size: Pair) -> bool:  # fmt: skip
    """``MaxPool2d(3, 2)`` with padding 0 or 1 (AlexNet's, GoogLeNet's, the stem pool on odd planes), floor or
    ceil mode (``out_size`` as torch computes it: every window starts inside the input or its padding)."""
    return (tuple(kernel_size) == (3, 3) and tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and all(p in (0, 1) for p in padding) and min(out_size) >= 1)  # fmt: skip


def _pool_3x3s2p1_even(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                       out_size: Pair) -> bool:  # fmt: skip
    """``MaxPool2d(3, 2, 1)`` (ResNet's stem) on even planes: H = 2*oh and W = 2*ow."""
    return (tuple(kernel_size) == (3, 3) and tuple(stride) == (2, 2) and tuple(padding) == (1, 1)
            and tuple(dilation) == (1, 1) and tuple(size) == (2 * out_size[0], 2 * out_size[1]))  # fmt: skip


def max_pool2d_fast(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair) -> bool:
    """Whether a numba max-pool forward beats the numpy reference for this geometry (``size``: (H, W)).

    2x2 windows wholly inside the input (no padding, no partial ceil_mode window) take the 2x2 kernels:
    the course CNN's ``MaxPool2d(2, 2)`` one with the strides built in, 0.15-0.2x the general 2x2
    kernel's time on 32x32, 16x16 and 8x8 inputs (4.4 -> 0.7 ms for (128, 32, 32, 32) float32), 0.8x on
    4x4 (rows of two windows are too short to vectorise); other strides and dilations the general 2x2
    kernel, 0.4-0.8x numpy's time. Any other geometry with a stride of 1 or 2 along the width takes the
    general kernel, whose loads along an output row LLVM vectorises for those strides (float32, 2 cores):
    ResNet's ``MaxPool2d(3, 2, 1)`` on (32, 64, 16, 16) 0.6x numpy's time (3.0 -> 1.8 ms), 3x3 stride 1
    on (128, 32, 32, 32) 0.2x (71 -> 14 ms), AlexNet's 3x3 stride 2 on 55x55 0.8x, a padded 2x2 stride 2
    0.6x, small planes 0.05x (no per-tap array calls). ``MaxPool2d(3, 2, 1)`` on even planes (ResNet's stem
    pool) has a two-pass kernel of its own (across the rows as one stride-2 loop over all planes, then
    down): (32, 64, 16, 16) 1.9 -> 0.6 ms. Wider strides stay on numpy's strided slices: the
    kernel's scalar loop measured 2.2x their time for ``MaxPool2d(3)`` on (128, 32, 32, 32).
    (Those timings: AVX-512. With AVX2 only (Zen 3), after the 2x2 and stem kernels were written for it:
    ``MaxPool2d(2)`` 0.04-0.5x numpy's time, the stem pool 0.12x, ``MaxPool2d(3, 1, 1)`` (two passes of its
    own, as the stem pool's) 0.09x, ``MaxPool2d(3, 2)`` with padding 0 or 1 on other planes (two passes too:
    AlexNet's, GoogLeNet's) 0.3-0.36x; the general kernel 0.6-1.3x, where float selects in loops LLVM
    leaves scalar compile to branches.)
    """
    return _pool_2x2_inside(size, kernel_size, stride, padding, dilation, out_size) or stride[1] <= 2


def _pool_2x2_inside(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                     out_size: Pair) -> bool:  # fmt: skip
    """2x2 windows, all inside the input (no padding, no partial ceil_mode window)."""
    k = tuple(kernel_size)
    return k == (2, 2) and _windows_inside(tuple(size), k, tuple(stride), tuple(padding), tuple(dilation),
                                           tuple(out_size))  # fmt: skip


def max_pool2d_forward(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair, code_dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`minidl.ops.pool.max_pool2d_forward`: (window maxima, argmax tap codes of ``code_dtype``)."""
    n, c = x.shape[:2]
    best = np.empty((n, c, *out_size), dtype=x.dtype)
    code = np.empty((n, c, *out_size), dtype=code_dtype)
    x = np.ascontiguousarray(x)
    if _pool_2x2_stride2(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        bits = np.uint32 if x.itemsize == 4 else np.uint64  # the short rows' loop moves the floats' bits
        split(_max_pool_fwd_2x2s2, n, (x, x.view(bits), best, best.view(bits), code), math.prod(x.shape[1:]))
    elif _pool_3x3s1p1(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        split(_max_pool_fwd_3x3s1p1, n, (x, best, code), math.prod(x.shape[1:]))
    elif _pool_3x3s2p1_even(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        split(_max_pool_fwd_3x3s2p1, n, (x, best, code), math.prod(x.shape[1:]))
    elif _pool_3x3s2(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        bits = np.uint32 if x.itemsize == 4 else np.uint64  # the kernel picks the floats' bits
        hb = np.empty(n * c * x.shape[2] * out_size[1], dtype=x.dtype)  # each input row's window maxima
        hj = np.empty(hb.size, dtype=code_dtype)
        _max_pool_fwd_3x3s2(x, x.view(bits), hb, hb.view(bits), hj, best, best.view(bits), code, *padding)
    elif _pool_2x2_inside(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        split(_max_pool_fwd_2x2, n, (x, best, code), math.prod(x.shape[1:]), (*stride, *dilation))
    else:
        split(_max_pool_fwd, n, (x, best, code), math.prod(x.shape[1:]), (*kernel_size, *stride, *padding, *dilation))
    return best, code


def max_pool2d_backward(
    g: np.ndarray, code: np.ndarray, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair,
    dilation: Pair,
) -> np.ndarray:  # fmt: skip
    """:func:`minidl.ops.pool.max_pool2d_backward`: each window's gradient added at its argmax (bit for bit)."""
    g, code = np.ascontiguousarray(g), np.ascontiguousarray(code)
    size, out_size = tuple(input_shape[2:]), g.shape[2:]
    if _pool_2x2_stride2(size, kernel_size, stride, padding, dilation, out_size):
        tiled = size == (2 * out_size[0], 2 * out_size[1])  # every cell in a window: each written once
        gx = np.empty(input_shape, dtype=g.dtype) if tiled else np.zeros(input_shape, dtype=g.dtype)
        bits = np.uint32 if g.itemsize == 4 else np.uint64  # the kernel moves the floats' bits
        split(_max_pool_bwd_2x2, len(g), (g.view(bits), code, gx.view(bits)), math.prod(gx.shape[1:]))
        return gx
    gx = np.empty(input_shape, dtype=g.dtype)
    split(_max_pool_bwd, len(g), (g, code, gx), math.prod(gx.shape[1:]), (*kernel_size, *stride, *padding, *dilation))
    return gx


# ---------------------------------------------------------------------------- relu
# Elementwise over flat (1-D, C-contiguous) views: one compiled version per dtype, whatever the tensor's rank.
# Unsigned indices: no wraparound checks, so LLVM vectorises the loops.
@njit(cache=True, nogil=True)
def _relu_fwd(x, out):  # pragma: no cover - compiled
    # out = 0 where x < 0, else x: torch's relu bit for bit (keeps -0 and NaN)
    zero = out.dtype.type(0)
    for i in range(np.uint64(x.size)):
        v = x[i]
        out[i] = zero if v < zero else v


@njit(cache=True, nogil=True)
def _relu_bwd(g, out, gx):  # pragma: no cover - compiled
    # gx = 0 where out <= 0, else g (torch's threshold_backward: +0 whatever g is there; g where out is NaN),
    # in one pass (numpy's where makes a bool temporary first)
    zero = gx.dtype.type(0)
    for i in range(np.uint64(g.size)):
        gx[i] = zero if out[i] <= zero else g[i]


def supports_flat(*arrays: Any) -> bool:
    """Whether the elementwise kernels (ReLU's) take these arrays: :func:`supports`, one dtype, C-contiguous.

    Other layouts keep numpy's path (its result keeps the input's memory order; a copy would cost more
    than the kernel saves).
    """
    return (supports(*arrays) and all(a.flags.c_contiguous for a in arrays)
            and all(a.dtype == arrays[0].dtype for a in arrays))  # fmt: skip


def relu_forward(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """:class:`minidl.ops.activation.ReLU`'s forward ``where(x < 0, 0, x)``, bit for bit: a new array, x's shape,
    or ``out`` (C-contiguous, x's shape and dtype; ``x`` itself for ``inplace=True``).

    ``x``: C-contiguous float32/float64 (:func:`supports_flat`). Measured 0.25-0.5x ``np.maximum(x, 0)``'s
    time on the course CNN's activations ((128, 32, 32, 32) float32: 1.46 -> 0.69 ms).
    """
    if out is None:
        out = np.empty_like(x, order="C")
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError("relu_forward: out must be a C-contiguous array of x's shape and dtype")
    split(_relu_fwd, x.size, (x.reshape(-1), out.reshape(-1)))
    return out


def relu_backward(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """:class:`minidl.ops.activation.ReLU`'s backward ``where(out <= 0, 0, g)``, bit for bit: a new array.

    ``g``, ``out``: the same shape and dtype, C-contiguous (:func:`supports_flat`). ``g`` is never written:
    the engine may hand one gradient array to several nodes (an add's backward returns its g twice), so
    reusing its buffer is not safe. Measured 0.4-0.55x numpy's time on the course CNN's activations
    ((128, 32, 32, 32) float32: 2.2 -> 1.25 ms).
    """
    gx = np.empty_like(g, order="C")
    split(_relu_bwd, g.size, (g.reshape(-1), out.reshape(-1), gx.reshape(-1)))
    return gx


# ---------------------------------------------------------------------------- SGD
@njit(cache=True, inline="always")
def _grad_term(g, x, wd, maximize, use_wd):  # pragma: no cover - compiled
    # the optimisers' first line: g (-g to maximize) plus the coupled weight decay wd * x
    d = -g if maximize else g
    return d + wd * x if use_wd else d


@njit(cache=True, inline="always")
def _square_avg(s, d, decay, keep):  # pragma: no cover - compiled
    # Adam's and RMSprop's running square: s * decay + (keep * d) * d, in the reference's order
    s = s * decay
    return s + (keep * d) * d


@njit(cache=True)
def _sgd_step(p, g, buf, lr, mu, keep, wd, nesterov, maximize, first):  # pragma: no cover - compiled
    # one pass of torch's SGD over flat arrays, in the numpy reference's operations and order (each rounded
    # to the arrays' dtype: the scalars come in that dtype, and no fused multiply-add): bit for bit.
    # keep = 1 - dampening; buf unused (any array) without momentum
    use_wd, use_mu = wd != 0, mu != 0
    for i in range(np.uint64(p.size)):
        d = _grad_term(g[i], p[i], wd, maximize, use_wd)
        if use_mu:
            if first:
                b = d
            else:
                b = buf[i] * mu
                b = b + keep * d
            buf[i] = b
            d = d + mu * b if nesterov else b
        p[i] = p[i] - lr * d


def sgd_step(p: np.ndarray, g: np.ndarray, buf: np.ndarray | None, lr: float, momentum: float, dampening: float,
             weight_decay: float, nesterov: bool, maximize: bool) -> np.ndarray | None:  # fmt: skip
    """:class:`minidl.optim.SGD`'s update of one parameter in one pass, in place, bit for bit.

    ``p``, ``g``: C-contiguous arrays of one float dtype (:func:`supports_flat`); ``buf``: the momentum
    buffer, None before the first step (then a new one is made and returned, as the reference's
    ``d_p.copy()``). The numpy reference makes 6-9 passes and as many temporaries: in a training step
    (2 cores, float32, momentum, Nesterov, weight decay) ResNet-18's 11.2M parameters took 14-21 ms,
    now 5.2 ms; the course CNN's 1.6M, 2.1 -> 0.8 ms.
    """
    t = p.dtype.type
    first = buf is None
    if first:
        buf = np.empty_like(p) if momentum != 0 else p[:0]
    _sgd_step(p.reshape(-1), g.reshape(-1), buf.reshape(-1), t(lr), t(momentum), t(1 - dampening), t(weight_decay),
              bool(nesterov), bool(maximize), first)  # fmt: skip
    return buf if momentum != 0 else None


@njit(cache=True, error_model="numpy")  # numpy's x / 0 (inf or NaN, no exception), and so a vectorised loop
def _adam_step(p, g, m, v, vmax, decay, wd, keep1, b2, keep2, neg_step, root_bc2, eps, maximize, decoupled,
               amsgrad):  # pragma: no cover - compiled  # fmt: skip
    # one pass of torch's Adam/AdamW over flat arrays, in the numpy reference's operations and order (each
    # rounded to the arrays' dtype: the scalars come in that dtype, np.sqrt keeps it): bit for bit.
    # keep1 = 1 - b1, keep2 = 1 - b2, decay = 1 - lr*wd (AdamW), neg_step = -lr / (1 - b1^t); vmax unused
    # (any array) without amsgrad
    coupled, decay_p = wd != 0 and not decoupled, wd != 0 and decoupled
    for i in range(np.uint64(p.size)):
        x = p[i]
        d = _grad_term(g[i], x, wd, maximize, coupled)
        if decay_p:
            x = x * decay
        a = m[i]
        a = a + (d - a) * keep1
        m[i] = a
        s = _square_avg(v[i], d, b2, keep2)
        v[i] = s
        if amsgrad:
            top = vmax[i]
            top = s if (s > top) | (s != s) else top  # np.maximum: NaN if either is
            vmax[i] = top
            s = top
        p[i] = x + (neg_step * a) / (np.sqrt(s) / root_bc2 + eps)


def adam_step(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, vmax: np.ndarray | None, lr: float,
              betas: tuple[float, float], eps: float, weight_decay: float, step: int, decoupled: bool,
              maximize: bool) -> None:  # fmt: skip
    """:class:`minidl.optim.Adam`'s (``decoupled``: AdamW's) update of one parameter in one pass, in place, bit
    for bit; ``step`` is the step count after this step (1 first), ``vmax`` the amsgrad state or None.

    All arrays C-contiguous, one float dtype (:func:`supports_flat`). The numpy reference makes 10-13
    passes with their temporaries: Adam on ResNet-18's 11.2M float32 parameters took 21 ms a step
    (2 cores), SGD's one-pass kernel 4.5 ms.
    """
    t = p.dtype.type
    b1, b2 = betas
    amsgrad = vmax is not None
    _adam_step(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), (vmax if amsgrad else m).reshape(-1),
               t(1 - lr * weight_decay), t(weight_decay), t(1 - b1), t(b2), t(1 - b2), t(-(lr / (1 - b1**step))),
               t(math.sqrt(1 - b2**step)), t(eps), bool(maximize), bool(decoupled), amsgrad)  # fmt: skip


@njit(cache=True, error_model="numpy")  # as _adam_step: numpy's x / 0, a vectorised loop
def _rmsprop_step(p, g, sq, ga, buf, alpha, keep, eps, wd, mu, lr, neg_lr, maximize, centered,
                  use_mu):  # pragma: no cover - compiled  # fmt: skip
    # one pass of torch's RMSprop over flat arrays, in the numpy reference's operations and order, bit for
    # bit; keep = 1 - alpha; ga (centred) and buf (momentum) unused (any array) when off
    use_wd = wd != 0
    for i in range(np.uint64(p.size)):
        x = p[i]
        d = _grad_term(g[i], x, wd, maximize, use_wd)
        s = _square_avg(sq[i], d, alpha, keep)
        sq[i] = s
        if centered:
            a = ga[i]
            a = a + (d - a) * keep
            ga[i] = a
            avg = np.sqrt(s - a * a) + eps
        else:
            avg = np.sqrt(s) + eps
        if use_mu:
            b = buf[i] * mu
            b = b + d / avg
            buf[i] = b
            p[i] = x - lr * b
        else:
            p[i] = x + (neg_lr * d) / avg


def rmsprop_step(p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, grad_avg: np.ndarray | None,
                 momentum_buffer: np.ndarray | None, lr: float, alpha: float, eps: float, weight_decay: float,
                 momentum: float, maximize: bool) -> None:  # fmt: skip
    """:class:`minidl.optim.RMSprop`'s update of one parameter in one pass, in place, bit for bit;
    ``grad_avg`` when centred, ``momentum_buffer`` when momentum > 0, else None. All arrays C-contiguous,
    one float dtype. The numpy reference's 7-10 passes took 15 ms a step on ResNet-18's parameters."""
    t = p.dtype.type
    flat = p.reshape(-1)
    _rmsprop_step(flat, g.reshape(-1), square_avg.reshape(-1),
                  flat if grad_avg is None else grad_avg.reshape(-1),
                  flat if momentum_buffer is None else momentum_buffer.reshape(-1),
                  t(alpha), t(1 - alpha), t(eps), t(weight_decay), t(momentum), t(lr), t(-lr), bool(maximize),
                  grad_avg is not None, momentum_buffer is not None)  # fmt: skip


# ---------------------------------------------------------------------------- avg-pool
# Row-wise: for each output row, each tap (i, j) in the reference's order adds one input row segment into
# the row's accumulators, so every window sums its taps in the reference's order (bit for bit) while the
# inner loop runs along a contiguous row (unsigned flat indices: no wraparound checks, so LLVM vectorises it
# for stride 1).
@njit(cache=True, parallel=_PARALLEL)
def _avg_pool_fwd(x, divisor, out, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    # out[n, c, y, x] = (sum over taps (i, j) inside the input of xpad[n, c, y*sh + i, x*sw + j]) / divisor[y, x]
    n_, c_, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    df = divisor.reshape(-1)
    zero = out.dtype.type(0)
    swu = np.uint64(sw)
    for p in prange(n_ * c_):
        for y in range(oh):
            o = (p * oh + y) * ow
            for xx in range(ow):
                of[o + xx] = zero
            for i in range(kh):
                iy = y * sh - ph + i
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    lo, hi = _tap_bounds(w, ow, j - pw, sw)
                    if hi <= lo:
                        continue
                    du = np.uint64(o + lo)
                    su = np.uint64((p * h + iy) * w + lo * sw + j - pw)
                    for xx in range(np.uint64(hi - lo)):
                        of[du + xx] += xf[su + xx * swu]
            d = np.uint64(y * ow)
            ou = np.uint64(o)
            for xx in range(np.uint64(ow)):
                of[ou + xx] /= df[d + xx]


@njit(cache=True, parallel=_PARALLEL)
def _avg_pool_bwd(g, divisor, gd, gx, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    # gx[n, c, y*sh - ph + i, x*sw - pw + j] += g[n, c, y, x] / divisor[y, x], tap by tap (the reference's
    # order, so each cell sums its terms as the reference does); gd (N*C*oh*ow,) holds g / divisor
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    gf = g.reshape(-1)
    df = divisor.reshape(-1)
    of = gx.reshape(-1)
    zero = gx.dtype.type(0)
    swu = np.uint64(sw)
    m = oh * ow
    for p in prange(n_ * c_):
        base = p * m
        for a in range(m):
            gd[base + a] = gf[base + a] / df[a]
        for a in range(p * h * w, (p + 1) * h * w):
            of[a] = zero
        for i in range(kh):
            for j in range(kw):
                lo, hi = _tap_bounds(w, ow, j - pw, sw)
                if hi <= lo:
                    continue
                for y in range(oh):
                    iy = y * sh - ph + i
                    if iy < 0 or iy >= h:
                        continue
                    su = np.uint64(base + y * ow + lo)
                    du = np.uint64((p * h + iy) * w + lo * sw + j - pw)
                    for xx in range(np.uint64(hi - lo)):
                        of[du + xx * swu] += gd[su + xx]


@njit(cache=True, parallel=_PARALLEL)
def _window_sums(x, divisor, out, kh, kw):  # pragma: no cover - compiled
    # windows of kh x kw with stride (kh, kw), no padding, all inside the input (AvgPool2d(2), equal adaptive bins):
    # out[n, c, y, x] = (x[n, c, y*kh, x*kw] + the other taps in scan order) / divisor[y, x], summed in a register
    # with unsigned flat indices (no wraparound checks); a window of whole rows (global pooling) is one flat run
    n_, c_, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    df = divisor.reshape(-1)
    wu, kwu, owu = np.uint64(w), np.uint64(kw), np.uint64(ow)
    one = np.uint64(1)
    flat = kw == w  # then ow == 1 and a window's kh rows are contiguous
    two_by_two = kh == 2 and kw == 2
    run = np.uint64(kh * kw)
    for p in prange(n_ * c_):
        for y in range(oh):
            row0 = np.uint64((p * h + y * kh) * w)
            o = np.uint64((p * oh + y) * ow)
            d = np.uint64(y * ow)
            for xx in range(owu):
                b = row0 + xx * kwu
                s = xf[b]
                if two_by_two:  # AvgPool2d(2): four loads, no inner loops
                    s = ((s + xf[b + one]) + xf[b + wu]) + xf[b + wu + one]
                elif flat:
                    for t in range(one, run):
                        s += xf[b + t]
                else:
                    for j in range(one, kwu):
                        s += xf[b + j]
                    for i in range(1, kh):
                        r = b + np.uint64(i) * wu
                        for j in range(kwu):
                            s += xf[r + j]
                of[o + xx] = s / df[d + xx]


@njit(cache=True, parallel=_PARALLEL)
def _window_spread(g, divisor, gx, kh, kw):  # pragma: no cover - compiled
    # the adjoint of _window_sums: gx[n, c, y*kh + i, x*kw + j] = g[n, c, y, x] / divisor[y, x] (each cell in one
    # window at most, so written once), 0 in the rows and columns past the last window
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    gf = g.reshape(-1)
    df = divisor.reshape(-1)
    of = gx.reshape(-1)
    zero = gx.dtype.type(0)
    kwu, owu = np.uint64(kw), np.uint64(ow)
    for p in prange(n_ * c_):
        for y in range(oh):
            src = np.uint64((p * oh + y) * ow)
            d = np.uint64(y * ow)
            for i in range(kh):
                row = np.uint64((p * h + y * kh + i) * w)
                for xx in range(owu):
                    v = gf[src + xx] / df[d + xx]
                    a = row + xx * kwu
                    for j in range(kwu):
                        of[a + j] = v
                for a in range(row + owu * kwu, row + np.uint64(w)):
                    of[a] = zero
        for a in range((p * h + oh * kh) * w, (p + 1) * h * w):
            of[a] = zero


def _tiled(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair) -> bool:
    """Whether the windows tile the input from its corner: kernel == stride, no padding, all inside the input."""
    return (
        tuple(kernel_size) == tuple(stride)
        and tuple(padding) == (0, 0)
        and all(o * k <= n for n, k, o in zip(size, kernel_size, out_size))
    )


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair, divisor: np.ndarray
) -> np.ndarray:
    """:func:`minidl.ops.pool.avg_pool2d_forward` for floats: (N, C, H, W) -> (N, C, oh, ow), bit for bit.

    ``out[y, x] = sum_{i, j} x[y*sh - ph + i, x*sw - pw + j] / divisor[y, x]`` over the taps inside the
    input (``divisor`` (oh, ow) in x's dtype). Windows that tile the input (kernel == stride, no padding)
    take :func:`_window_sums`, others the row-wise kernel. Measured (float32, 2 loaded cores, median of
    interleaved rounds): 0.28x numpy's time for AvgPool2d(2) on (128, 64, 16, 16), 0.26-0.46x for
    AvgPool2d(3, 1, 1) on (32, 64, 32, 32).
    """
    n, c = x.shape[:2]
    out = np.empty((n, c, *out_size), dtype=x.dtype)
    x, divisor = np.ascontiguousarray(x), np.ascontiguousarray(divisor, dtype=x.dtype)
    if _tiled(x.shape[2:], kernel_size, stride, padding, out_size):
        _window_sums(x, divisor, out, *kernel_size)
    else:
        _avg_pool_fwd(x, divisor, out, *kernel_size, *stride, *padding)
    return out


def avg_pool2d_backward(
    g: np.ndarray, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, divisor: np.ndarray
) -> np.ndarray:
    """:func:`minidl.ops.pool.avg_pool2d_backward` for floats: g (N, C, oh, ow) / divisor added over each window.

    ``dx[y*sh - ph + i, x*sw - pw + j] += g[y, x] / divisor[y, x]``, the taps in the reference's order
    (bit for bit). Measured as the forward: 0.58-0.61x numpy's time for AvgPool2d(2), 0.30-0.41x for
    AvgPool2d(3, 1, 1).
    """
    g, divisor = np.ascontiguousarray(g), np.ascontiguousarray(divisor, dtype=g.dtype)
    gx = np.empty(input_shape, dtype=g.dtype)
    if _tiled(input_shape[2:], kernel_size, stride, padding, g.shape[2:]):
        _window_spread(g, divisor, gx, *kernel_size)
    else:
        _avg_pool_bwd(g, divisor, np.empty(g.size, dtype=g.dtype), gx, *kernel_size, *stride, *padding)
    return gx


# ---------------------------------------------------------------------------- adaptive pooling
# Bins as torch's: bin i of n_out over n covers [floor(i*n/n_out), ceil((i+1)*n/n_out)); the wrappers pass the
# starts and ends (int64) that minidl.ops.pool._adaptive_bins computes, so the index math lives in one place.
@njit(cache=True)
def _pairwise_sum(a, start, n):  # pragma: no cover - compiled
    # numpy's pairwise summation of a[start:start+n] (what ndarray.sum does along a contiguous axis): below 8
    # terms a plain loop, up to 128 eight accumulators folded as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the
    # rest, above that two halves (the first a multiple of 8 long)
    zero = a.dtype.type(0)
    if n < 8:
        res = zero
        for k in range(n):
            res += a[start + k]
        return res
    if n <= 128:
        r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
        r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
        k = 8
        while k < n - n % 8:
            q = start + k
            r0 += a[q]
            r1 += a[q + 1]
            r2 += a[q + 2]
            r3 += a[q + 3]
            r4 += a[q + 4]
            r5 += a[q + 5]
            r6 += a[q + 6]
            r7 += a[q + 7]
            k += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while k < n:
            res += a[start + k]
            k += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a, start, n2) + _pairwise_sum(a, start + n2, n - n2)


@njit(cache=True, parallel=_PARALLEL)
def _adaptive_avg_fwd(x, out, rs, re, cs, ce, rows):  # pragma: no cover - compiled
    # the reference's separable sums: rows[i, :] = the bin's rows added in order, then out[i, j] = numpy's pairwise
    # sum of rows[i, cs[j]:ce[j]], / the bin size
    n_, c_, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    zero = out.dtype.type(0)
    for p in prange(n_ * c_):
        base = p * h * w
        buf = rows[p]  # this plane's (oh * w) row sums: no cell shared between threads
        for i in range(oh):
            b = i * w
            for cc in range(w):
                buf[b + cc] = zero
            for r in range(rs[i], re[i]):
                src = base + r * w
                for cc in range(w):
                    buf[b + cc] += xf[src + cc]
        for i in range(oh):
            cnt_h = re[i] - rs[i]
            for j in range(ow):
                s = _pairwise_sum(buf, i * w + cs[j], ce[j] - cs[j])
                of[(p * oh + i) * ow + j] = s / out.dtype.type(cnt_h * (ce[j] - cs[j]))


@njit(cache=True, parallel=_PARALLEL)
def _adaptive_avg_bwd(g, gx, rs, re, cs, ce, rows):  # pragma: no cover - compiled
    # the reference's separable spread: rows[i, c] = sum over column bins j holding c of g[i, j] / size(i, j)
    # (j in order), then dx[r, :] = sum over row bins i holding r of rows[i, :] (i in order)
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    gf = g.reshape(-1)
    of = gx.reshape(-1)
    zero = gx.dtype.type(0)
    for p in prange(n_ * c_):
        buf = rows[p]
        for a in range(oh * w):
            buf[a] = zero
        for i in range(oh):
            for j in range(ow):
                v = gf[(p * oh + i) * ow + j] / gx.dtype.type((re[i] - rs[i]) * (ce[j] - cs[j]))
                for cc in range(cs[j], ce[j]):
                    buf[i * w + cc] += v
        base = p * h * w
        for a in range(base, base + h * w):
            of[a] = zero
        for i in range(oh):
            for r in range(rs[i], re[i]):
                dst = base + r * w
                for cc in range(w):
                    of[dst + cc] += buf[i * w + cc]


@njit(cache=True, parallel=_PARALLEL)
def _adaptive_max_fwd(x, out, idx, rs, re, cs, ce):  # pragma: no cover - compiled
    # torch's scan of each bin in row-major order from -inf at the bin's first cell: a cell wins if it is
    # larger or NaN (so the first maximum, or the last NaN); idx is its flat position in the H*W plane
    n_, c_, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    kf = idx.reshape(-1)
    lowest = out.dtype.type(-np.inf)
    for p in prange(n_ * c_):
        base = p * h * w
        for i in range(oh):
            for j in range(ow):
                b = lowest
                k = rs[i] * w + cs[j]
                for r in range(rs[i], re[i]):
                    for cc in range(cs[j], ce[j]):
                        v = xf[base + r * w + cc]
                        if v > b or v != v:
                            b = v
                            k = r * w + cc
                o = (p * oh + i) * ow + j
                of[o] = b
                kf[o] = k


@njit(cache=True, parallel=_PARALLEL)
def _adaptive_max_bwd(g, idx, gx):  # pragma: no cover - compiled
    # dx[idx[y, x]] += g[y, x] in scan order (np.add.at's order); each plane to one thread
    n_, c_, h, w = gx.shape
    m = g.shape[2] * g.shape[3]
    gf = g.reshape(-1)
    kf = idx.reshape(-1)
    of = gx.reshape(-1)
    zero = gx.dtype.type(0)
    for p in prange(n_ * c_):
        base = p * h * w
        for a in range(base, base + h * w):
            of[a] = zero
        for a in range(p * m, (p + 1) * m):
            of[base + kf[a]] += gf[a]


def _bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive bins as int64 arrays (starts, ends): floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)."""
    i = np.arange(n_out, dtype=np.int64)
    return i * n_in // n_out, -(-((i + 1) * n_in) // n_out)


def adaptive_avg_pool2d_forward(x: np.ndarray, out_size: Pair) -> np.ndarray:
    """:func:`minidl.ops.pool.adaptive_avg_pool2d_forward`: (N, C, H, W) -> (N, C, oh, ow) bin means, bit for bit.

    Equal bins of at most 64 cells are summed in scan order, others as the reference's separable sums
    (rows of a bin in order, then numpy's pairwise sum along the columns). Measured (float32, 2 loaded
    cores): 0.5x numpy's time for global pooling of (128, 512, 2, 2), 0.1x of (32, 512, 7, 7) and for
    (6, 6) from (16, 256, 13, 13).
    """
    n, c, h, w = x.shape
    oh, ow = out_size
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    if out.size == 0:
        return out
    x = np.ascontiguousarray(x)
    if h % oh == 0 and w % ow == 0 and (h // oh) * (w // ow) <= 64:  # the reference's condition for this order
        _window_sums(x, np.full(out_size, (h // oh) * (w // ow), dtype=x.dtype), out, h // oh, w // ow)
        return out
    (rs, re), (cs, ce) = _bins(h, oh), _bins(w, ow)
    _adaptive_avg_fwd(x, out, rs, re, cs, ce, np.empty((n * c, oh * w), dtype=x.dtype))
    return out


def adaptive_avg_pool2d_backward(g: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """:func:`minidl.ops.pool.adaptive_avg_pool2d_backward`: g (N, C, oh, ow) / bin size spread over each bin.

    Not dispatched: numpy's gradient for equal bins is a broadcast view (10x cheaper than this copy), and
    for (6, 6) from (16, 256, 13, 13) this measured 0.4-3x numpy's time on the loaded machine.
    """
    n, c, h, w = input_shape
    oh, ow = g.shape[2:]
    gx = np.empty(input_shape, dtype=g.dtype)
    (rs, re), (cs, ce) = _bins(h, oh), _bins(w, ow)
    rows = np.empty((n * c, oh * w), dtype=g.dtype)
    _adaptive_avg_bwd(np.ascontiguousarray(g), gx, rs, re, cs, ce, rows)
    return gx


def adaptive_max_pool2d_forward(x: np.ndarray, out_size: Pair) -> tuple[np.ndarray, np.ndarray]:
    """:func:`minidl.ops.pool.adaptive_max_pool2d_forward`: (bin maxima, int64 flat indices into each H*W plane).

    The first maximum in scan order; a NaN wins, and of several the last (torch's kernel). Measured
    (float32, 2 loaded cores): 0.31x numpy's time for (3, 3) from (32, 64, 10, 10).
    """
    n, c, h, w = x.shape
    oh, ow = out_size
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    idx = np.empty((n, c, oh, ow), dtype=np.int64)
    (rs, re), (cs, ce) = _bins(h, oh), _bins(w, ow)
    _adaptive_max_fwd(np.ascontiguousarray(x), out, idx, rs, re, cs, ce)
    return out, idx


def adaptive_max_pool2d_backward(g: np.ndarray, indices: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """:func:`minidl.ops.pool.scatter_to_planes` for adaptive max-pool: g (N, C, oh, ow) added at ``indices``.

    ``indices`` are flat positions in each H*W plane (int64, from the forward, so inside the plane).
    Not dispatched: 0.7-1.0x numpy's ``add.at`` time (0.1 ms) for (3, 3) from (32, 64, 10, 10).
    """
    gx = np.empty(input_shape, dtype=g.dtype)
    _adaptive_max_bwd(np.ascontiguousarray(g), np.ascontiguousarray(indices, dtype=np.int64), gx)
    return gx


# ---------------------------------------------------------------------------- batch norm
# Per channel of x (N, C, L): the statistics, then the full-size pass, while that channel's N*L
# values are still in cache (one read of x from memory instead of numpy's one per pass).
# Sums accumulate in float64, as torch's CPU kernels do (acc_type of float is double); "reassoc"
# lets LLVM split them into vector lanes (a serial chain of adds does not vectorise); no other
# fast-math flag, so NaN and inf propagate as in numpy.
_BN_FASTMATH = {"reassoc", "contract"}
#: training batch norm on planes of fewer values than this (L = H*W) sums over whole sample rows
#: (``_bn_train_fwd_rows``) instead of channel by channel
BN_ROWS_BELOW = 64


@njit(cache=True, parallel=_PARALLEL, fastmath=_BN_FASTMATH, nogil=True)
def _bn_train_fwd(x, weight, bias, eps, out, mean, var, c0, c1):  # pragma: no cover - compiled
    # mean, var (biased) of each channel c0..c1-1 in two passes (float64), then out = (x - mean) * inv_std * gamma
    # + beta (the channel range: one thread's share, :func:`_by_channels`)
    n_, _, l_ = x.shape
    cnt = n_ * l_
    for c in prange(c0, c1):
        s = 0.0
        for n in range(n_):
            row = x[n, c]
            for i in range(l_):
                s += row[i]
        m = s / cnt
        q = 0.0
        for n in range(n_):
            row = x[n, c]
            for i in range(l_):
                d = row[i] - m
                q += d * d
        v = q / cnt
        mean[c] = m
        var[c] = v
        scale = weight[c] / np.sqrt(v + eps)
        # centre on m rounded to x's dtype (x - m32 is exact near m) and fold the rounding into the shift
        m32 = x.dtype.type(m)
        sc = out.dtype.type(scale)
        sh = out.dtype.type(bias[c] - (m - m32) * scale)
        for n in range(n_):
            row = x[n, c]
            dst = out[n, c]
            for i in range(l_):
                dst[i] = (row[i] - m32) * sc + sh


@njit(cache=True, parallel=_PARALLEL, fastmath=_BN_FASTMATH, nogil=True)
def _bn_train_bwd(g, x, mean, inv_std, weight, gx, sum_g, sum_gxhat, need_x, c0, c1):  # pragma: no cover
    # per channel c0..c1-1: sum(g), sum(g xhat) (float64), then dx = k (g - sum_g / n - xhat sum_gxhat / n),
    # k = gamma inv_std
    n_, _, l_ = x.shape
    cnt = n_ * l_
    for c in prange(c0, c1):
        m = mean[c]
        sg = 0.0
        sgx = 0.0
        for n in range(n_):
            grow = g[n, c]
            row = x[n, c]
            for i in range(l_):
                gv = grow[i]
                sg += gv
                sgx += gv * (row[i] - m)
        inv = inv_std[c]
        sgxh = sgx * inv
        sum_g[c] = sg
        sum_gxhat[c] = sgxh
        if not need_x:
            continue
        # with xhat = (x - m32 - (m - m32)) inv: dx = (x - m32) a + g k + b, per-channel a, k, b
        k = inv * weight[c]
        a = -k * inv * sgxh / cnt
        m32 = x.dtype.type(m)
        kk = gx.dtype.type(k)
        aa = gx.dtype.type(a)
        bb = gx.dtype.type(-k * sg / cnt - a * (m - m32))
        for n in range(n_):
            grow = g[n, c]
            row = x[n, c]
            dst = gx[n, c]
            for i in range(l_):
                dst[i] = (row[i] - m32) * aa + grow[i] * kk + bb


@njit(cache=True, inline="always")
def _per_position(values, l_, dtype):  # pragma: no cover - compiled
    # a (C,) per-channel vector spread over the (C*L) positions of a sample's row, as ``dtype``
    out = np.empty(values.size * l_, dtype=dtype)
    for c in range(values.size):
        for i in range(l_):
            out[c * l_ + i] = values[c]
    return out


@njit(cache=True, inline="always")
def _channel_sums(acc, l_):  # pragma: no cover - compiled
    # per-position sums (C*L,) -> per-channel sums (C,)
    c_ = acc.size // l_
    out = np.zeros(c_)
    for c in range(c_):
        for i in range(l_):
            out[c] += acc[c * l_ + i]
    return out


@njit(cache=True, fastmath=_BN_FASTMATH)
def _bn_train_fwd_rows(x, weight, bias, eps, out, mean, var):  # pragma: no cover - compiled
    # as _bn_train_fwd, for small planes: the sums taken down the samples over whole rows of C*L values
    # (per-position float64 partial sums, one long vectorised loop per sample: a channel's loops over
    # L < BN_ROWS_BELOW values were mostly overhead), then per channel; the output in memory order
    n_, c_, l_ = x.shape
    cl, cnt = c_ * l_, n_ * l_
    xf, of = x.reshape(n_, cl), out.reshape(n_, cl)
    acc = np.zeros(cl)
    for n in range(n_):
        row = xf[n]
        for j in range(cl):
            acc[j] += row[j]
    m = _channel_sums(acc, l_) / cnt
    mp = _per_position(m, l_, np.float64)
    acc[:] = 0.0
    for n in range(n_):
        row = xf[n]
        for j in range(cl):
            d = row[j] - mp[j]
            acc[j] += d * d
    v = _channel_sums(acc, l_) / cnt
    scale = weight / np.sqrt(v + eps)
    m32 = m.astype(x.dtype)
    shift = bias - (m - m32) * scale  # as _bn_train_fwd: centred on m rounded to x's dtype
    m32p, scp = _per_position(m32, l_, x.dtype), _per_position(scale, l_, x.dtype)
    shp = _per_position(shift, l_, x.dtype)
    for n in range(n_):
        row, dst = xf[n], of[n]
        for j in range(cl):
            dst[j] = (row[j] - m32p[j]) * scp[j] + shp[j]
    mean[:] = m
    var[:] = v


@njit(cache=True, fastmath=_BN_FASTMATH)
def _bn_train_bwd_rows(g, x, mean, inv_std, weight, gx, sum_g, sum_gxhat, need_x):  # pragma: no cover - compiled
    # as _bn_train_bwd, for small planes, over whole rows of C*L values (see _bn_train_fwd_rows)
    n_, c_, l_ = x.shape
    cl, cnt = c_ * l_, n_ * l_
    xf, gf = x.reshape(n_, cl), g.reshape(n_, cl)
    mp = _per_position(mean, l_, np.float64)
    acc_g, acc_gx = np.zeros(cl), np.zeros(cl)
    for n in range(n_):
        row, grow = xf[n], gf[n]
        for j in range(cl):
            gv = grow[j]
            acc_g[j] += gv
            acc_gx[j] += gv * (row[j] - mp[j])
    sg = _channel_sums(acc_g, l_)
    sgxh = _channel_sums(acc_gx, l_) * inv_std
    sum_g[:] = sg
    sum_gxhat[:] = sgxh
    if not need_x:
        return
    k = inv_std * weight
    a = -k * inv_std * sgxh / cnt
    m32 = mean.astype(x.dtype)
    b = -k * sg / cnt - a * (mean - m32)
    m32p, ap, kp, bp = (_per_position(m32, l_, x.dtype), _per_position(a, l_, x.dtype),
                        _per_position(k, l_, x.dtype), _per_position(b, l_, x.dtype))  # fmt: skip
    gxf = gx.reshape(n_, cl)
    for n in range(n_):
        row, grow, dst = xf[n], gf[n], gxf[n]
        for j in range(cl):
            dst[j] = (row[j] - m32p[j]) * ap[j] + grow[j] * kp[j] + bp[j]


@njit(cache=True, parallel=_PARALLEL)
def _bn_affine(x, scale, shift, out):  # pragma: no cover - compiled
    # out = x * scale + shift per channel, in x's dtype (eval-mode batch norm); no reduction, so the rows
    # go in memory order
    n_, c_, l_ = x.shape
    xf = x.reshape(-1)
    of = out.reshape(-1)
    lu = np.uint64(l_)
    for p in prange(n_ * c_):
        c = p % c_
        sc = out.dtype.type(scale[c])
        sh = out.dtype.type(shift[c])
        base = np.uint64(p) * lu
        for i in range(lu):
            of[base + i] = xf[base + i] * sc + sh


def _channel_param(v: np.ndarray | None, c: int, fill: float) -> np.ndarray:
    """A (C,) float64 copy of gamma or beta, or ``fill`` where the layer has none."""
    return np.full(c, fill) if v is None else np.ascontiguousarray(v, dtype=np.float64).reshape(c)


def batch_norm_train_forward(
    x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training batch norm of x (N, C, L): (out (N, C, L) in x's dtype, mean (C,), biased var (C,)) in float64.

    ``out = (x - mean) / sqrt(var + eps) * weight + bias``; the statistics are over axes 0 and 2,
    summed in float64. ``x`` must be C-contiguous (:func:`minidl.ops.norm` passes a view of it).
    """
    c = x.shape[1]
    out = np.empty_like(x)
    mean, var = np.empty(c), np.empty(c)
    args = (x, _channel_param(weight, c, 1.0), _channel_param(bias, c, 0.0), float(eps), out, mean, var)
    if x.shape[2] < BN_ROWS_BELOW:
        _bn_train_fwd_rows(*args)
    else:
        _by_channels(_bn_train_fwd, args, c, 2 * x.nbytes)
    return out, mean, var


def batch_norm_train_backward(
    g: np.ndarray, x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray, weight: np.ndarray | None, need_x: bool
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Training batch norm's backward: g, x (N, C, L) -> (dx or None, sum(g) (C,), sum(g xhat) (C,)).

    ``xhat = (x - mean) inv_std``; ``dx = gamma inv_std (g - sum(g)/n - xhat sum(g xhat)/n)``, n = N*L;
    the sums (float64) are dbeta and dgamma. ``mean``, ``inv_std``: (C,) float64 from the forward.
    """
    c = x.shape[1]
    g = np.ascontiguousarray(g, dtype=x.dtype)
    gx = np.empty_like(x) if need_x else np.empty((0, c, 0), dtype=x.dtype)
    sum_g, sum_gxhat = np.empty(c), np.empty(c)
    args = (g, x, mean, inv_std, _channel_param(weight, c, 1.0), gx, sum_g, sum_gxhat, bool(need_x))
    if x.shape[2] < BN_ROWS_BELOW:
        _bn_train_bwd_rows(*args)
    else:
        _by_channels(_bn_train_bwd, args, c, (3 if need_x else 2) * x.nbytes)
    return (gx if need_x else None), sum_g, sum_gxhat


def _by_channels(kernel: Any, args: tuple, c: int, nbytes: int) -> None:
    """``kernel(*args, c0, c1)`` for channel ranges [c0, c1) covering 0..c, on minidl's threads where the work
    (``nbytes`` moved) is worth it (:func:`minidl.backend.threads.threads_for`). Each channel's sums run as in
    one call (the same loop, the same order): the results are the serial call's, bit for bit."""
    ranges = even_ranges(c, threads_for(nbytes))
    parallel_for(lambda i: kernel(*args, *ranges[i]), len(ranges))


def batch_norm_affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Eval batch norm of x (N, C, L): ``x * scale + shift`` with per-channel (C,) float64 constants, in x's dtype."""
    out = np.empty_like(x)
    _bn_affine(np.ascontiguousarray(x), np.ascontiguousarray(scale, dtype=np.float64),
               np.ascontiguousarray(shift, dtype=np.float64), out)  # fmt: skip
    return out

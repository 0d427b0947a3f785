"""numba CPU kernels behind the numpy references of im2col/col2im and 2-D pooling.

Each kernel computes exactly what its reference computes (same shapes, same index
conventions, same order of floating-point additions, so float results match bit for bit):

- ``im2col``/``col2im``: :mod:`minidl.backend.im2col` (columns (C*kh*kw, N*oh*ow));
- ``max_pool2d_forward``/``max_pool2d_backward``/``avg_pool2d_forward``/
  ``avg_pool2d_backward``: :mod:`minidl.ops.pool` (max-pool's argmax as a tap code).
  Tested against the reference but NOT yet called by ``minidl.ops.pool``: measured slower
  than its numpy slices on the course CNN's 2x2 pools (they still index with signed ints,
  whose wraparound checks block vectorisation; see the unsigned loops of im2col/col2im).

Importing this module imports numba; :func:`minidl.backend.numba_kernels_or_none` does
so only when the numba path is enabled (``MINIDL_NUMBA=0`` or ``use_numba(False)`` turn
it off) and falls back to numpy where numba cannot be imported. The wrappers take numpy
arrays of float32/float64 only (:func:`supports`); the callers check that.

Parallelism (``prange``) never shares an output cell between threads: im2col gives each
thread whole rows of the columns (one (channel, tap) each), the other kernels whole
(sample, channel) planes of their output. Compiled code is cached on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

__all__ = [
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "col2im",
    "im2col",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "supports",
]

Pair = tuple[int, int]
#: im2col/col2im dispatch to these kernels only for output rows at least this wide: for rows of 2
#: windows numpy's whole-array slice-adds are faster than a loop per row (measured, 2 cores)
MIN_ROW = 4
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
#: serial for now: measured on 2 loaded cores, parallel regions between BLAS calls lost more to thread
#: wake-ups and oversubscription (numba's OpenMP threads beside OpenBLAS's) than they gained on these
#: memory-bound copies. The prange loops give each thread its own output slice, so flipping this is safe.
_PARALLEL = False


def supports(*arrays: Any) -> bool:
    """Whether the kernels take these arrays: numpy (not cupy) float32/float64."""
    return all(type(a) is np.ndarray and a.dtype in _FLOATS for a in arrays)


# ---------------------------------------------------------------------------- im2col / col2im
@njit(cache=True, parallel=_PARALLEL)
def _im2col(x, cols, kh, kw, sh, sw, top, left, dh, dw):  # pragma: no cover - compiled
    # x (N, C, H, W) -> cols (C, kh, kw, N, oh, ow), both C-contiguous, indexed flat (no per-row views):
    # cols[c, i, j, n, y, x] = xpad[n, c, y*sh + i*dh, x*sw + j*dw]
    n_, c_, h, w = x.shape
    oh, ow = cols.shape[4], cols.shape[5]
    xf = x.reshape(-1)
    cf = cols.reshape(-1)
    zero = cols.dtype.type(0)
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
                if sw == 1:  # contiguous; unsigned indices skip numba's negative-index wraparound: vectorised
                    ou, su = np.uint64(o), np.uint64(s)
                    for xx in range(np.uint64(lo), np.uint64(hi)):
                        cf[ou + xx] = xf[su + xx]
                else:
                    for xx in range(lo, hi):
                        cf[o + xx] = xf[s + xx * sw]
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


@njit(cache=True, parallel=_PARALLEL)
def _col2im(cols, out, kh, kw, sh, sw, top, left, dh, dw):  # pragma: no cover - compiled
    # cols (C, kh, kw, N, oh, ow) -> out (N, C, H, W), both C-contiguous, summed tap by tap (the reference's order)
    n_, c_, h, w = out.shape
    oh, ow = cols.shape[4], cols.shape[5]
    cf = cols.reshape(-1)
    of = out.reshape(-1)
    zero = out.dtype.type(0)
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
                    if sw == 1:  # unsigned indices: no wraparound check, vectorised
                        du, su = np.uint64(dst), np.uint64(src)
                        for xx in range(np.uint64(lo), np.uint64(hi)):
                            of[du + xx] += cf[su + xx]
                    else:
                        for xx in range(lo, hi):
                            of[dst + xx * sw] += cf[src + xx]


def im2col(x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Any, dilation: Pair, out_size: Pair) -> np.ndarray:
    """:func:`minidl.backend.im2col.im2col` (``padding`` as ((top, bottom), (left, right)))."""
    n, c = x.shape[:2]
    (kh, kw), (oh, ow) = kernel_size, out_size
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    x = np.ascontiguousarray(x)  # one compiled layout (a no-op for the usual contiguous input)
    _im2col(x, cols, kh, kw, stride[0], stride[1], padding[0][0], padding[1][0], dilation[0], dilation[1])
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
    _col2im(cols6, out, kh, kw, stride[0], stride[1], padding[0][0], padding[1][0], dilation[0], dilation[1])
    return out


# ---------------------------------------------------------------------------- max-pool
@njit(cache=True, parallel=_PARALLEL)
def _max_pool_fwd(x, best, code, kh, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    # torch's scan: the first tap inside the input starts the window; then (v > best or v is NaN) takes the tap
    n_, c_, h, w = x.shape
    oh, ow = best.shape[2], best.shape[3]
    lowest = best.dtype.type(-np.inf)
    none = kh * kw
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        src = x[n, c]
        for y in range(oh):
            for xx in range(ow):
                b = lowest
                k = none
                seen = False
                for i in range(kh):
                    iy = y * sh - ph + i * dh
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = xx * sw - pw + j * dw
                        if ix < 0 or ix >= w:
                            continue
                        v = src[iy, ix]
                        if not seen:
                            seen = True
                            b = v
                            k = i * kw + j
                        elif v > b or v != v:
                            b = v
                            k = i * kw + j
                best[n, c, y, xx] = b
                code[n, c, y, xx] = k


@njit(cache=True, parallel=_PARALLEL)
def _max_pool_bwd(g, code, gx, kh, kw, sh, sw, ph, pw, dh, dw):  # pragma: no cover - compiled
    # windows in reverse scan order: each input cell then receives its gradients in tap order (the reference's)
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    zero = gx.dtype.type(0)
    none = kh * kw
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        plane = gx[n, c]
        for a in range(h):
            for b in range(w):
                plane[a, b] = zero
        for y in range(oh - 1, -1, -1):
            for xx in range(ow - 1, -1, -1):
                k = code[n, c, y, xx]
                if k >= none:
                    continue
                i = k // kw
                j = k - i * kw
                plane[y * sh - ph + i * dh, xx * sw - pw + j * dw] += g[n, c, y, xx]


def max_pool2d_forward(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair, code_dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`minidl.ops.pool.max_pool2d_forward`: (window maxima, argmax tap codes of ``code_dtype``)."""
    n, c = x.shape[:2]
    best = np.empty((n, c, *out_size), dtype=x.dtype)
    code = np.empty((n, c, *out_size), dtype=code_dtype)
    _max_pool_fwd(np.ascontiguousarray(x), best, code, *kernel_size, *stride, *padding, *dilation)
    return best, code


def max_pool2d_backward(
    g: np.ndarray, code: np.ndarray, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair,
    dilation: Pair,
) -> np.ndarray:  # fmt: skip
    """:func:`minidl.ops.pool.max_pool2d_backward`: each window's gradient added at its argmax."""
    gx = np.empty(input_shape, dtype=g.dtype)
    _max_pool_bwd(np.ascontiguousarray(g), np.ascontiguousarray(code), gx, *kernel_size, *stride, *padding, *dilation)
    return gx


# ---------------------------------------------------------------------------- avg-pool
@njit(cache=True, parallel=_PARALLEL)
def _avg_pool_fwd(x, divisor, out, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    n_, c_, h, w = x.shape
    oh, ow = out.shape[2], out.shape[3]
    zero = out.dtype.type(0)
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        src = x[n, c]
        for y in range(oh):
            for xx in range(ow):
                s = zero
                for i in range(kh):  # taps in the reference's order
                    iy = y * sh - ph + i
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = xx * sw - pw + j
                        if ix >= 0 and ix < w:
                            s += src[iy, ix]
                out[n, c, y, xx] = s / divisor[y, xx]


@njit(cache=True, parallel=_PARALLEL)
def _avg_pool_bwd(g, divisor, gx, kh, kw, sh, sw, ph, pw):  # pragma: no cover - compiled
    # windows in reverse scan order: each cell receives its terms in tap order (the reference's)
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    zero = gx.dtype.type(0)
    for p in prange(n_ * c_):
        n = p // c_
        c = p % c_
        plane = gx[n, c]
        for a in range(h):
            for b in range(w):
                plane[a, b] = zero
        for y in range(oh - 1, -1, -1):
            for xx in range(ow - 1, -1, -1):
                v = g[n, c, y, xx] / divisor[y, xx]
                for i in range(kh):
                    iy = y * sh - ph + i
                    if iy < 0 or iy >= h:
                        continue
                    for j in range(kw):
                        ix = xx * sw - pw + j
                        if ix >= 0 and ix < w:
                            plane[iy, ix] += v


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair, divisor: np.ndarray
) -> np.ndarray:
    """:func:`minidl.ops.pool.avg_pool2d_forward` for floats (``divisor`` (oh, ow) of x's dtype)."""
    n, c = x.shape[:2]
    out = np.empty((n, c, *out_size), dtype=x.dtype)
    _avg_pool_fwd(
        np.ascontiguousarray(x), np.ascontiguousarray(divisor, dtype=x.dtype), out, *kernel_size, *stride, *padding
    )
    return out


def avg_pool2d_backward(
    g: np.ndarray, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, divisor: np.ndarray
) -> np.ndarray:
    """:func:`minidl.ops.pool.avg_pool2d_backward` for floats: g / divisor added over each window."""
    gx = np.empty(input_shape, dtype=g.dtype)
    _avg_pool_bwd(
        np.ascontiguousarray(g), np.ascontiguousarray(divisor, dtype=g.dtype), gx, *kernel_size, *stride, *padding
    )
    return gx

"""numba CPU kernels behind the numpy references of im2col/col2im, 2-D pooling and batch norm.

Each kernel computes what its reference computes (same shapes, same index conventions):

- ``im2col``/``col2im``: :mod:`minidl.backend.im2col` (columns (C*kh*kw, N*oh*ow)), adding in
  the reference's order, so float results match bit for bit;
- ``max_pool2d_forward``/``max_pool2d_backward``/``avg_pool2d_forward``/
  ``avg_pool2d_backward``: :mod:`minidl.ops.pool` (max-pool's argmax as a tap code), bit for bit.
  The general pooling kernels measured no faster than the numpy slices (they index with signed
  ints, whose wraparound checks block vectorisation); the 2x2 max-pool forward (unsigned flat
  indices, branch-free) is faster, and :func:`max_pool2d_fast` says where it applies;
- ``batch_norm_train_forward``/``batch_norm_train_backward``/``batch_norm_affine``:
  :class:`minidl.ops.norm.BatchNorm`, per channel, the statistics summed in float64 (another
  order than numpy's: equal to rounding, not bit for bit).

Importing this module imports numba; :func:`minidl.backend.numba_kernels_or_none` does
so only when the numba path is enabled (``MINIDL_NUMBA=0`` or ``use_numba(False)`` turn
it off) and falls back to numpy where numba cannot be imported. The wrappers take numpy
arrays of float32/float64 only (:func:`supports`); the callers check that.

Parallelism (``prange``) never shares an output cell between threads: im2col gives each
thread whole rows of the columns (one (channel, tap) each), the other kernels whole
(sample, channel) planes of their output, batch norm whole channels. Compiled code is cached
on disk (``cache=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

__all__ = [
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


@njit(cache=True, parallel=_PARALLEL)
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


@njit(cache=True, parallel=_PARALLEL)
def _max_pool_bwd_2x2(g, code, gx):  # pragma: no cover - compiled
    # 2x2 windows with stride 2 wholly inside the input (disjoint): each window writes its four cells, g at its
    # argmax tap and 0 at the others, so each covered cell is written once (no zeroing pass, no adds)
    n_, c_, h, w = gx.shape
    oh, ow = g.shape[2], g.shape[3]
    gf = g.reshape(-1)
    cf = code.reshape(-1)
    of = gx.reshape(-1)
    zero = gx.dtype.type(0)
    wu, owu = np.uint64(w), np.uint64(ow)
    one, two = np.uint64(1), np.uint64(2)  # uint64 throughout: uint64 + int64 would be float64 in numba
    for p in prange(n_ * c_):
        for y in range(oh):
            s = np.uint64(p * h + 2 * y) * wu
            o = np.uint64(p * oh + y) * owu
            for xx in range(owu):
                v = gf[o + xx]
                k = cf[o + xx]
                a = s + two * xx
                of[a] = v if k == 0 else zero
                of[a + one] = v if k == 1 else zero
                of[a + wu] = v if k == 2 else zero
                of[a + wu + one] = v if k == 3 else zero


def _windows_inside(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair) -> bool:
    """Whether every window lies wholly inside the input (no padding; ceil_mode adds no partial window)."""
    return padding == (0, 0) and all(
        (o - 1) * s + (k - 1) * d < n for n, k, s, d, o in zip(size, kernel_size, stride, dilation, out_size)
    )


def max_pool2d_fast(size: Pair, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair) -> bool:
    """Whether the numba max-pool forward beats the numpy reference for this geometry (``size``: (H, W)).

    True for 2x2 windows wholly inside the input (no padding, no partial ceil_mode window), which
    covers the course CNN's ``MaxPool2d(2, 2)``: measured 0.4-0.8x numpy's time (2 cores, float32,
    batch 128). Elsewhere the general kernel is about as fast as numpy's strided slices or slower. The
    backward (2x2, stride 2) measured 0.6-1.1x numpy's: no clear gain, so it has no such switch.
    """
    k, p, s, d = tuple(kernel_size), tuple(padding), tuple(stride), tuple(dilation)
    return k == (2, 2) and _windows_inside(tuple(size), k, s, p, d, tuple(out_size))


def max_pool2d_forward(
    x: np.ndarray, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair, code_dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`minidl.ops.pool.max_pool2d_forward`: (window maxima, argmax tap codes of ``code_dtype``)."""
    n, c = x.shape[:2]
    best = np.empty((n, c, *out_size), dtype=x.dtype)
    code = np.empty((n, c, *out_size), dtype=code_dtype)
    x = np.ascontiguousarray(x)
    if max_pool2d_fast(x.shape[2:], kernel_size, stride, padding, dilation, out_size):
        _max_pool_fwd_2x2(x, best, code, *stride, *dilation)
    else:
        _max_pool_fwd(x, best, code, *kernel_size, *stride, *padding, *dilation)
    return best, code


def max_pool2d_backward(
    g: np.ndarray, code: np.ndarray, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair,
    dilation: Pair,
) -> np.ndarray:  # fmt: skip
    """:func:`minidl.ops.pool.max_pool2d_backward`: each window's gradient added at its argmax."""
    g, code = np.ascontiguousarray(g), np.ascontiguousarray(code)
    size, out_size = tuple(input_shape[2:]), g.shape[2:]
    if (
        tuple(kernel_size) == tuple(stride) == (2, 2)
        and dilation == (1, 1)
        and _windows_inside(size, (2, 2), (2, 2), tuple(padding), (1, 1), out_size)
    ):
        tiled = size == (2 * out_size[0], 2 * out_size[1])  # every cell in a window: each written once
        gx = np.empty(input_shape, dtype=g.dtype) if tiled else np.zeros(input_shape, dtype=g.dtype)
        _max_pool_bwd_2x2(g, code, gx)
        return gx
    gx = np.empty(input_shape, dtype=g.dtype)
    _max_pool_bwd(g, code, gx, *kernel_size, *stride, *padding, *dilation)
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


# ---------------------------------------------------------------------------- batch norm
# Per channel of x (N, C, L): the statistics, then the full-size pass, while that channel's N*L
# values are still in cache (one read of x from memory instead of numpy's one per pass).
# Sums accumulate in float64, as torch's CPU kernels do (acc_type of float is double); "reassoc"
# lets LLVM split them into vector lanes (a serial chain of adds does not vectorise); no other
# fast-math flag, so NaN and inf propagate as in numpy.
_BN_FASTMATH = {"reassoc", "contract"}


@njit(cache=True, parallel=_PARALLEL, fastmath=_BN_FASTMATH)
def _bn_train_fwd(x, weight, bias, eps, out, mean, var):  # pragma: no cover - compiled
    # mean, var (biased) of each channel in two passes (float64), then out = (x - mean) * inv_std * gamma + beta
    n_, c_, l_ = x.shape
    cnt = n_ * l_
    for c in prange(c_):
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


@njit(cache=True, parallel=_PARALLEL, fastmath=_BN_FASTMATH)
def _bn_train_bwd(g, x, mean, inv_std, weight, gx, sum_g, sum_gxhat, need_x):  # pragma: no cover - compiled
    # per channel: sum(g), sum(g xhat) (float64), then dx = k (g - sum_g / n - xhat sum_gxhat / n), k = gamma inv_std
    n_, c_, l_ = x.shape
    cnt = n_ * l_
    for c in prange(c_):
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
    _bn_train_fwd(x, _channel_param(weight, c, 1.0), _channel_param(bias, c, 0.0), float(eps), out, mean, var)
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
    _bn_train_bwd(g, x, mean, inv_std, _channel_param(weight, c, 1.0), gx, sum_g, sum_gxhat, bool(need_x))
    return (gx if need_x else None), sum_g, sum_gxhat


def batch_norm_affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Eval batch norm of x (N, C, L): ``x * scale + shift`` with per-channel (C,) float64 constants, in x's dtype."""
    out = np.empty_like(x)
    _bn_affine(np.ascontiguousarray(x), np.ascontiguousarray(scale, dtype=np.float64),
               np.ascontiguousarray(shift, dtype=np.float64), out)  # fmt: skip
    return out

"""im2col convolutions one sample at a time, in cache (numba): columns, GEMM and result per sample.

The im2col path of :mod:`minidl.ops.conv` builds the columns of a slice of the batch, multiplies them
in one GEMM and swaps the result's (O, N) axes into (N, O, oh, ow) planes. Where the columns are short
and the planes large (a first layer: K = 3*3*3 = 27 rows against 1024 windows a sample), that GEMM is
memory-bound and the columns, the GEMM's rows and the swap each cross main memory. One sample at a time
nothing has to: ``W (O, K) @ cols_n (K, oh*ow)`` *is* sample n's output planes (O, oh*ow), so the GEMM
writes them in place (no swap, no rows buffer), and one sample's columns stay in the core's cache
between im2col and the GEMM. Backward the same per sample: the columns rebuilt from x (none are kept:
kh*kw copies of the input less to hold), ``dW += g_n (O, L) @ cols_n^T`` (summed in float64),
``dcols_n = W^T @ g_n`` and col2im into dx[n]. A 1x1 stride-1 convolution without padding needs no
columns: x[n] (C, H*W) is them, and dx[n] their gradient.

Shapes, G groups, K = C/G*kh*kw, L = oh*ow (one sample's windows)::

    forward    y[n, g] = w3[g] (O/G, K) @ cols_n[g] (K, L)   (+ bias)        y3 (N, O, L)
    backward   dw[g]  += g3[n, g] (O/G, L) @ cols_n[g]^T (L, K)              (G, O/G, K), float64
               dcols_n[g] = w3[g]^T (K, O/G) @ g3[n, g]  ->  col2im -> dx[n]

Measured on 2 cores (a Zen 4 with AVX-512), float32, paired against the sliced path in one process: the
course CNN's first layer (3->32 at 32x32, batch 128) forward 0.52-0.73x its time, forward + dW 0.58-0.60x,
forward + dW + dx 0.52x; the course LeNet's first layer (3->32, 5x5 at 32x32) forward + dW 0.85x, a
classic LeNet's (3->6) 0.48x; a 1x1 64->256 layer at 16x16 0.76-0.82x; eval of the course CNN 0.93x, of
the course LeNet 0.92x (their steps 0.99-1.0x: the first layer is a small part of them). With few windows
per sample the per-sample GEMMs re-read the whole weight for little work: a classic LeNet's second layer
(10x10 outputs) ran 1.0-1.16x the sliced path's time, stride-2 layers at 8x8 1.0-1.15x; the path applies
from :data:`MIN_WINDOWS` windows per sample.

The GEMMs are numba's ``np.dot`` (BLAS through scipy, called from compiled code without the GIL):
each kernel call takes a range of samples, and :func:`forward` / :func:`backward` hand the ranges to
minidl's threads (:func:`minidl.backend.threads.parallel_for`), BLAS held at one thread per call. The
numpy reference is the sliced im2col path itself (``MINIDL_NUMBA=0``): the same products summed in
another grouping, equal to rounding.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit

from minidl.backend import threads
from minidl.backend.numba_kernels import _col2im, _im2col, supports

__all__ = ["MIN_WINDOWS", "applies", "backward", "forward"]

#: windows per sample (oh*ow) from which a convolution takes this path (see the module docstring: at 64 and
#: 100 windows the sliced path was as fast or faster, from 256 on slower)
MIN_WINDOWS = 256

#: one sample's columns at most (each thread holds one set): beyond it the sliced path, which can cut
#: the batch into chunks of the memory limit
MAX_SAMPLE_COLUMNS_BYTES = 64 * 2**20


@functools.cache
def _blas_in_numba() -> bool:
    """numba's ``np.dot`` calls BLAS through scipy's cython_blas: without scipy there is no GEMM to call."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        return False
    return True


def applies(x: Any, w: Any, out_size: tuple[int, int]) -> bool:
    """Whether a conv2d of x (N, C, H, W) with w (O, C/G, kh, kw) takes this path: numpy float arrays (the
    caller checks that the numba kernels are on), samples, channels and filters to multiply, at least
    :data:`MIN_WINDOWS` windows per sample, one sample's columns within :data:`MAX_SAMPLE_COLUMNS_BYTES`,
    and not a strided 1x1 kernel (its columns, a subsample of x, the sliced path keeps from forward;
    rebuilt here per sample, its weight gradient's per-sample products ran 1.1-1.2x slower than the
    sliced path's one GEMM)."""
    oh, ow = out_size
    kh, kw = w.shape[2:]
    if kh * kw == 1 and (oh, ow) != x.shape[2:]:  # strided (or padded) 1x1: see the docstring
        return False
    if 0 in (x.shape[0], x.shape[1], w.shape[0]):  # nothing to multiply: the sliced path's empty results
        return False
    cols = x.shape[1] * kh * kw * oh * ow * x.itemsize
    return (oh * ow >= MIN_WINDOWS and cols <= MAX_SAMPLE_COLUMNS_BYTES and x.dtype == w.dtype
            and supports(x, w) and _blas_in_numba())  # fmt: skip


@njit(cache=True, inline="always")
def _columns(x, n, buf, plain, g_, k_, kh, kw, sh, sw, top, left, dh, dw, oh, ow):  # pragma: no cover - compiled
    # sample n's columns as (G, K, L): x[n] itself when ``plain`` (1x1, stride 1, no padding), else im2col into buf
    if plain:
        return x[n].reshape((g_, k_, oh * ow))
    _im2col(x[n : n + 1], buf.reshape((x.shape[1], kh, kw, 1, oh, ow)), kh, kw, sh, sw, top, left, dh, dw)
    return buf.reshape((g_, k_, oh * ow))


@njit(cache=True, nogil=True)
def _forward(x, w3, bias, has_bias, y3, plain, kh, kw, sh, sw, top, left, dh, dw, oh, ow, lo, hi):  # pragma: no cover
    # samples lo..hi-1: y3[n, g*O/G:(g+1)*O/G] = w3[g] @ cols_n[g] (+ bias), cols_n sample n's columns (G, K, L)
    g_, og, k_ = w3.shape
    buf = np.empty(0 if plain else k_ * g_ * oh * ow, dtype=x.dtype)
    for n in range(lo, hi):
        cols = _columns(x, n, buf, plain, g_, k_, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
        for g in range(g_):
            np.dot(w3[g], cols[g], y3[n, g * og : (g + 1) * og])
        if has_bias:
            for o in range(g_ * og):
                row, b = y3[n, o], bias[o]
                for t in range(oh * ow):
                    row[t] += b


@njit(cache=True, nogil=True, fastmath={"reassoc"})  # the plane sums vectorised (any order)
def _backward(x, w3, g3, want_x, dx, want_w, dw3, want_b, sums, plain, kh, kw, sh, sw, top, left, dh, dw, oh, ow,
              lo, hi):  # pragma: no cover - compiled  # fmt: skip
    # samples lo..hi-1: dw3[g] += g3[n, g] @ cols_n[g]^T (float64), sums[o] += each plane g3[n, o]'s sum (in the
    # dtype, added up in float64), dx[n] = col2im(w3[g]^T @ g3[n, g] for each g) (x[n]'s own layout when plain)
    g_, og, k_ = w3.shape
    l_ = oh * ow
    buf = np.empty(0 if plain else k_ * g_ * l_, dtype=g3.dtype)
    part = np.empty((og, k_), dtype=g3.dtype)
    for n in range(lo, hi):
        gn = g3[n]
        if want_b:
            for o in range(g_ * og):
                row = gn[o]
                total = row.dtype.type(0)
                for t in range(l_):
                    total += row[t]
                sums[o] += total
        if want_w:
            cols = _columns(x, n, buf, plain, g_, k_, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
            for g in range(g_):
                np.dot(gn[g * og : (g + 1) * og], cols[g].T, part)
                acc = dw3[g]
                for o in range(og):
                    for k in range(k_):
                        acc[o, k] += part[o, k]
        if want_x:
            if plain:
                dcols = dx[n].reshape((g_, k_, l_))
            else:
                dcols = buf.reshape((g_, k_, l_))
            for g in range(g_):
                np.dot(w3[g].T, gn[g * og : (g + 1) * og], dcols[g])
            if not plain:
                _col2im(buf.reshape((dx.shape[1], kh, kw, 1, oh, ow)), dx[n : n + 1], kh, kw, sh, sw, top, left, dh,
                        dw)  # fmt: skip


# ---------------------------------------------------------------------------- the wrappers
Geometry = tuple[tuple[int, int], tuple[int, int], Any, tuple[int, int]]  # (kernel, stride, padding, dilation)


def _args(geom: Geometry, out_size: tuple[int, ...]) -> tuple[Any, ...]:
    """The kernels' geometry arguments: (plain, kh, kw, sh, sw, top, left, dh, dw, oh, ow)."""
    (kh, kw), (sh, sw), ((top, bottom), (left, right)), (dh, dw) = geom
    oh, ow = out_size
    plain = (kh, kw, sh, sw, top, bottom, left, right) == (1, 1, 1, 1, 0, 0, 0, 0)
    return plain, kh, kw, sh, sw, top, left, dh, dw, oh, ow


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, geom: Geometry, out_size: tuple[int, int],
            groups: int) -> np.ndarray:  # fmt: skip
    """conv2d of x (N, C, H, W) with w (O, C/G, kh, kw) (+ b (O,)) -> y (N, O, oh, ow), where :func:`applies`;
    ``geom`` = ((kh, kw), stride, ((top, bottom), (left, right)), dilation)."""
    n = x.shape[0]
    o = w.shape[0]
    x = np.ascontiguousarray(x)
    w3 = np.ascontiguousarray(w).reshape(groups, o // groups, -1)
    y = np.empty((n, o, *out_size), dtype=x.dtype)
    y3 = y.reshape(n, o, out_size[0] * out_size[1])
    bias = np.zeros(0, dtype=x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    args = _args(geom, out_size)
    parts = threads.thread_ranges(n, x.nbytes + y.nbytes, 2 * w.size * y[0, 0].size * n)

    def piece(i: int) -> None:
        _forward(x, w3, bias, b is not None, y3, *args, *parts[i])

    with threads.blas_on_one_thread():  # on one thread too: numba's np.dot calls scipy's BLAS, which has a pool
        threads.parallel_for(piece, len(parts))
    return y


def backward(g: np.ndarray, x: np.ndarray | None, w: np.ndarray | None, x_shape: tuple[int, int, int, int],
             geom: Geometry, groups: int, need: tuple[bool, bool, bool]) -> tuple[Any, Any, Any]:  # fmt: skip
    """(dx, dw, db) of :func:`forward` from the output gradient g (N, O, oh, ow), each None unless ``need``
    asks for it (x is needed for dw, w for dx). dw and db are summed in float64, returned in g's dtype."""
    need_x, need_w, need_b = need
    n, o = g.shape[:2]
    c = x_shape[1]
    k = c // groups * geom[0][0] * geom[0][1]
    g3 = np.ascontiguousarray(g).reshape(n, o, g.shape[2] * g.shape[3])
    w3 = (np.ascontiguousarray(w) if need_x else np.empty((o, k), dtype=g.dtype)).reshape(groups, o // groups, k)
    xs = np.ascontiguousarray(x) if need_w else np.empty((0, c, 1, 1), dtype=g.dtype)  # (typed like x, unread)
    dx = np.empty(x_shape, dtype=g.dtype) if need_x else np.empty((0, c, 1, 1), dtype=g.dtype)
    args = _args(geom, g.shape[2:])
    parts = threads.thread_ranges(n, g.nbytes + dx.nbytes + xs.nbytes, 2 * (need_x + need_w) * o * k * g3.shape[2] * n)
    dws = [np.zeros((groups, o // groups, k) if need_w else (1, 1, 1)) for _ in parts]
    sums = [np.zeros(o if need_b else 0) for _ in parts]

    def piece(i: int) -> None:
        _backward(xs, w3, g3, need_x, dx, need_w, dws[i], need_b, sums[i], *args, *parts[i])

    with threads.blas_on_one_thread():  # on one thread too: numba's np.dot calls scipy's BLAS, which has a pool
        threads.parallel_for(piece, len(parts))
    dw = threads.add_up(dws).reshape(o, c // groups, *geom[0]).astype(g.dtype) if need_w else None
    db = threads.add_up(sums).astype(g.dtype) if need_b else None
    return (dx if need_x else None), dw, db

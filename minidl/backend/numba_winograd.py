"""numba CPU kernels for the Winograd F(2x2, 3x3) convolution's four tile transforms.

Each kernel computes what its numpy reference in :mod:`minidl.backend.winograd` computes (same
shapes, same index conventions; the formulas are written out there): the input transform
``B^T d B`` and its adjoint, the output transform ``A^T m A`` (plus the bias) and its adjoint.
Sums are taken in another order than numpy's vectorised reference: equal to rounding, not bit
for bit.

How they stream: a kernel works on one (sample, channel) plane at a time. The input side copies
the plane into a zero-bordered scratch plane once (so no tile needs a bounds check), applies
``B^T`` to each band of four rows as whole-row vector operations, then ``B`` across each band's
columns, writing the 16 transformed values of tile t to ``V[k, c, t]``: 16 contiguous output
streams. The output side reads the 16 streams ``M[k, o, t]`` of a band of tiles and writes two
output rows. The GEMMs between the transforms are numpy's (BLAS).

Importing this module imports numba; :mod:`minidl.backend.winograd` imports it only when the
numba path is on (:func:`minidl.backend.numba_kernels_or_none`). Serial, like the other kernels
(``minidl.backend.numba_kernels._PARALLEL``); the loops over planes give each plane its own
output cells, so they could run in parallel. Compiled code is cached on disk.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from minidl.backend.winograd import overlap, stack

__all__ = ["input_adjoint", "input_transform", "output_adjoint", "output_transform"]


@njit(cache=True)
def _input_transform(x, v, top, left, th, tw, i0, i1, j0, j1):  # pragma: no cover - compiled
    # x (N, C, H, W) -> v (16, >= C*T) holding V[k, c, t] at v[k, c*T + t], T = N*th*tw;
    # tile (ty, tx) reads input rows 2ty-top.., columns 2tx-left.. (top, left < 0: cropped); the tiles
    # reach input rows [i0, i1) and columns [j0, j1) (the wrapper's _reach)
    n_, c_, h, w = x.shape
    t_ = n_ * th * tw
    ph, pw = 2 * th + 2, 2 * tw + 2
    pad = np.zeros((ph, pw), dtype=x.dtype)  # borders stay 0: only the interior is overwritten
    q = np.empty((4, pw), dtype=x.dtype)
    xf, padf = x.reshape(-1), pad.reshape(-1)
    run = np.uint64(max(0, j1 - j0))  # a row's cells to copy; unsigned offsets: no wraparound checks, vectorised
    for c in range(c_):
        for n in range(n_):
            for i in range(i0, i1):
                src = np.uint64(((n * c_ + c) * h + i) * w + j0)
                dst = np.uint64((top + i) * pw + left + j0)
                for j in range(run):
                    padf[dst + j] = xf[src + j]
            for ty in range(th):
                r = 2 * ty
                for j in range(pw):  # B^T across the band's four rows
                    p0, p1, p2, p3 = pad[r, j], pad[r + 1, j], pad[r + 2, j], pad[r + 3, j]
                    q[0, j] = p0 - p2
                    q[1, j] = p1 + p2
                    q[2, j] = p2 - p1
                    q[3, j] = p1 - p3
                t0 = c * t_ + (n * th + ty) * tw
                for i in range(4):  # B across each tile's four columns
                    k = 4 * i
                    for tx in range(tw):
                        a0, a1, a2, a3 = q[i, 2 * tx], q[i, 2 * tx + 1], q[i, 2 * tx + 2], q[i, 2 * tx + 3]
                        v[k, t0 + tx] = a0 - a2
                        v[k + 1, t0 + tx] = a1 + a2
                        v[k + 2, t0 + tx] = a2 - a1
                        v[k + 3, t0 + tx] = a1 - a3


@njit(cache=True)
def _input_adjoint(dv, dx, top, left, th, tw, i0, i1, j0, j1):  # pragma: no cover - compiled
    # dv (16, >= C*T) holding dV[k, c, t] at dv[k, c*T + t] -> dx (N, C, H, W):
    # each tile's B dV B^T added onto its 4x4 input window (windows overlap)
    n_, c_, h, w = dx.shape
    t_ = n_ * th * tw
    ph, pw = 2 * th + 2, 2 * tw + 2
    acc = np.empty((ph, pw), dtype=dx.dtype)
    dq = np.empty((4, pw), dtype=dx.dtype)
    zero = dx.dtype.type(0)
    for c in range(c_):
        for n in range(n_):
            acc[:, :] = zero
            for ty in range(th):
                t0 = c * t_ + (n * th + ty) * tw
                dq[:, :] = zero
                for i in range(4):  # adjoint of B across the columns
                    k = 4 * i
                    for tx in range(tw):
                        t = t0 + tx
                        b0, b1, b2, b3 = dv[k, t], dv[k + 1, t], dv[k + 2, t], dv[k + 3, t]
                        dq[i, 2 * tx] += b0
                        dq[i, 2 * tx + 1] += b1 - b2 + b3
                        dq[i, 2 * tx + 2] += b1 + b2 - b0
                        dq[i, 2 * tx + 3] -= b3
                r = 2 * ty
                for j in range(pw):  # adjoint of B^T across the band's rows
                    d0, d1, d2, d3 = dq[0, j], dq[1, j], dq[2, j], dq[3, j]
                    acc[r, j] += d0
                    acc[r + 1, j] += d1 - d2 + d3
                    acc[r + 2, j] += d1 + d2 - d0
                    acc[r + 3, j] -= d3
            for i in range(h):  # cells no tile reaches get no gradient
                for j in range(w):
                    dx[n, c, i, j] = acc[top + i, left + j] if i0 <= i < i1 and j0 <= j < j1 else zero


@njit(cache=True)
def _output_transform(m, bias, y, th, tw):  # pragma: no cover - compiled
    # m (16, >= O*T) holding M[k, o, t] at m[k, o*T + t] -> y (N, O, oh, ow) = A^T m A + bias;
    # tile (ty, tx) writes output rows 2ty.., columns 2tx..
    n_, o_, oh, ow = y.shape
    t_ = n_ * th * tw
    yf = y.reshape(-1)
    for o in range(o_):
        b = bias[o]
        t = o * t_  # M[:, o, t] is m[:, o*T + t], t running over the tiles in (n, ty, tx) order
        for n in range(n_):
            for ty in range(th):
                r0 = ((n * o_ + o) * oh + 2 * ty) * ow  # y[n, o, 2ty, 0]
                down = 2 * ty + 1 < oh
                for tx in range(tw):
                    # A^T down the four columns, then A across: rows u (output row 2ty) and l (2ty + 1)
                    u0 = m[0, t] + m[4, t] + m[8, t]
                    u1 = m[1, t] + m[5, t] + m[9, t]
                    u2 = m[2, t] + m[6, t] + m[10, t]
                    u3 = m[3, t] + m[7, t] + m[11, t]
                    l0 = m[4, t] - m[8, t] - m[12, t]
                    l1 = m[5, t] - m[9, t] - m[13, t]
                    l2 = m[6, t] - m[10, t] - m[14, t]
                    l3 = m[7, t] - m[11, t] - m[15, t]
                    c = r0 + 2 * tx
                    right = 2 * tx + 1 < ow
                    yf[c] = u0 + u1 + u2 + b
                    if right:
                        yf[c + 1] = u1 - u2 - u3 + b
                    if down:
                        yf[c + ow] = l0 + l1 + l2 + b
                        if right:
                            yf[c + ow + 1] = l1 - l2 - l3 + b
                    t += 1


@njit(cache=True)
def _output_adjoint(g, dm, th, tw):  # pragma: no cover - compiled
    # g (N, O, oh, ow) -> dm (16, >= O*T) holding dM[k, o, t] at dm[k, o*T + t]:
    # each tile's A g A^T, cells past the output read as 0
    n_, o_, oh, ow = g.shape
    t_ = n_ * th * tw
    gf = g.reshape(-1)
    zero = g.dtype.type(0)
    for o in range(o_):
        t = o * t_
        for n in range(n_):
            for ty in range(th):
                r0 = ((n * o_ + o) * oh + 2 * ty) * ow
                down = 2 * ty + 1 < oh
                for tx in range(tw):
                    c = r0 + 2 * tx
                    right = 2 * tx + 1 < ow
                    a = gf[c]
                    b = gf[c + 1] if right else zero
                    e = gf[c + ow] if down else zero
                    f = gf[c + ow + 1] if down and right else zero
                    # A^T across each of the tile's two rows: (g0, g0 + g1, g0 - g1, -g1)
                    u0, u1, u2, u3 = a, a + b, a - b, -b
                    l0, l1, l2, l3 = e, e + f, e - f, -f
                    # A down the two rows: (u, u + l, u - l, -l)
                    dm[0, t] = u0
                    dm[1, t] = u1
                    dm[2, t] = u2
                    dm[3, t] = u3
                    dm[4, t] = u0 + l0
                    dm[5, t] = u1 + l1
                    dm[6, t] = u2 + l2
                    dm[7, t] = u3 + l3
                    dm[8, t] = u0 - l0
                    dm[9, t] = u1 - l1
                    dm[10, t] = u2 - l2
                    dm[11, t] = u3 - l3
                    dm[12, t] = -l0
                    dm[13, t] = -l1
                    dm[14, t] = -l2
                    dm[15, t] = -l3
                    t += 1


def _blocks(a3: np.ndarray) -> np.ndarray:
    """The (k, rows*cols) 2-D view of a (k, rows, cols) array whose blocks are C-contiguous (copied if not:
    only inputs may be; an output's copy would be lost). Strides of length-1 dims do not matter."""
    k, r, c = a3.shape
    if (c > 1 and a3.strides[2] != a3.itemsize) or (r > 1 and a3.strides[1] != c * a3.itemsize):
        a3 = np.ascontiguousarray(a3)
    return np.lib.stride_tricks.as_strided(a3, shape=(k, r * c), strides=(a3.strides[0], a3.itemsize))


def _reach(shape: tuple[int, ...], top: int, left: int, tiles: tuple[int, int]) -> tuple[int, int, int, int]:
    """(i0, i1, j0, j1): the input rows and columns the tiles read (:func:`minidl.backend.winograd.overlap`)."""
    return (*overlap(shape[2], top, 2 * tiles[0] + 2), *overlap(shape[3], left, 2 * tiles[1] + 2))


def _out_blocks(a3: np.ndarray) -> np.ndarray:
    """:func:`_blocks` of an array the kernel writes into: it must not be a copy."""
    blocks = _blocks(a3)
    if not np.shares_memory(blocks, a3):
        raise ValueError("out must be a (16, rows, cols) array of C-contiguous blocks (minidl.backend.winograd.stack)")
    return blocks


def input_transform(x: np.ndarray, top: int, left: int, tiles: tuple[int, int],
                    out: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """x (N, C, H, W) -> V (16, C, N*th*tw); see :func:`minidl.backend.winograd.input_transform`."""
    n, c = x.shape[:2]
    th, tw = tiles
    v = stack(16, c, n * th * tw, x.dtype) if out is None else out
    _input_transform(np.ascontiguousarray(x), _out_blocks(v), top, left, th, tw, *_reach(x.shape, top, left, tiles))
    return v


def input_adjoint(dv: np.ndarray, input_shape: tuple[int, int, int, int], top: int, left: int,
                  tiles: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """dV (16, C, T) -> dx (N, C, H, W); see :func:`minidl.backend.winograd.input_adjoint`."""
    dx = np.empty(input_shape, dtype=dv.dtype)
    _input_adjoint(_blocks(dv), dx, top, left, *tiles, *_reach(input_shape, top, left, tiles))
    return dx


def output_transform(m: np.ndarray, bias: np.ndarray | None, out_shape: tuple[int, int, int, int],
                     tiles: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """M (16, O, T) -> y (N, O, oh, ow); see :func:`minidl.backend.winograd.output_transform`."""
    y = np.empty(out_shape, dtype=m.dtype)
    b = np.zeros(out_shape[1], dtype=m.dtype) if bias is None else np.ascontiguousarray(bias, dtype=m.dtype)
    _output_transform(_blocks(m), b, y, *tiles)
    return y


def output_adjoint(g: np.ndarray, tiles: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
    """g (N, O, oh, ow) -> dM (16, O, T); see :func:`minidl.backend.winograd.output_adjoint`."""
    n, o = g.shape[:2]
    th, tw = tiles
    dm = stack(16, o, n * th * tw, g.dtype) if out is None else out
    _output_adjoint(np.ascontiguousarray(g), _out_blocks(dm), th, tw)
    return dm

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
output rows. The F(4x4) kernels work on chunks of tiles of one channel instead, with the tiles
side by side in vector lanes: each pass of a 1-D transform is then one long vectorised loop (the
input transform gathers each tile's 36 window cells into its lane first). The GEMMs between the
transforms are numpy's (BLAS).

numba compiles a loop over a slice of a non-contiguous 2-D array (layout 'A') without vector
instructions: the kernels take the (n*n, rows, cols) stacks as one flat 1-D view and a step
(:func:`_flat`), whose slices are contiguous. (The F(4x4) input transform wrote V through the 2-D
view before: 2x slower on its last pass.)

Importing this module imports numba; :mod:`minidl.backend.winograd` imports it only when the
numba path is on (:func:`minidl.backend.numba_kernels_or_none`). Serial, like the other kernels
(``minidl.backend.numba_kernels._PARALLEL``); the loops over planes give each plane its own
output cells, so they could run in parallel. Compiled code is cached on disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from minidl.backend.winograd import overlap, stack

__all__ = ["input_adjoint", "input_transform", "output_adjoint", "output_transform"]


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
def _band_buffers(x, m, th, tw):  # pragma: no cover - compiled
    # scratch for one (image, channel) plane: the zero-padded plane (borders stay 0, only the interior is
    # overwritten), its flat view, and one band of m + 2 rows after B^T
    pw = m * tw + 2
    pad = np.zeros((m * th + 2, pw), dtype=x.dtype)
    return pad, pad.reshape(-1), np.empty((m + 2, pw), dtype=x.dtype), pw


@njit(cache=True)
def _input_transform(x, v, top, left, th, tw, i0, i1, j0, j1):  # pragma: no cover - compiled
    # x (N, C, H, W) -> v (16, >= C*T) holding V[k, c, t] at v[k, c*T + t], T = N*th*tw;
    # tile (ty, tx) reads input rows 2ty-top.., columns 2tx-left.. (top, left < 0: cropped); the tiles
    # reach input rows [i0, i1) and columns [j0, j1) (the wrapper's _reach)
    n_, c_, h, w = x.shape
    t_ = n_ * th * tw
    pad, padf, q, pw = _band_buffers(x, 2, th, tw)
    xf = x.reshape(-1)
    for c in range(c_):
        for n in range(n_):
            _copy_rows(xf, padf, ((n * c_ + c) * h + i0) * w + j0, w, (top + i0) * pw + left + j0, pw, i1 - i0, j1 - j0)
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
    dxf = dx.reshape(-1)
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
            _crop_plane(acc.reshape(-1), 0, pw, dxf, (n * c_ + c) * h * w, h, w, top, left, i0, i1, j0, j1)


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


# ------------------------------------------------------------------------------------- F(4x4, 3x3)
# The same four passes for 4x4 output tiles of 6x6 windows (36 streams). Their matrices'
# (minidl.backend.winograd.F4) rows are written out in the four 1-D transforms below; the constants
# come in as ``k`` in the arrays' dtype (a float literal would turn float32 arithmetic into float64).

#: tiles the F(4x4) output-side kernels transform at once (their scratch stays in the L1 cache)
_CHUNK = 256
#: tiles the F(4x4) input transform gathers into vector lanes at once (2 x 36 x 128 floats: 36 KB of
#: scratch; 32 lanes measured 1.2-1.7x slower on 16x16 planes, 256 no faster)
_LANES = 128


@njit(cache=True, inline="always")
def _bt6(d0, d1, d2, d3, d4, d5, k):  # pragma: no cover - compiled
    # B^T (6, 6) times (d0..d5)
    h, h3, h5, two = k[0], k[1], k[2], k[3]
    return (
        d0 - h3 * d1 - two * d2 + h3 * d3 + d4,
        d1 - h5 * d2 + h * d3 + d4,
        -d1 + h * d2 + h5 * d3 + d4,
        -two * d1 - d2 + two * d3 + d4,
        h * d1 - d2 - h * d3 + d4,
        d1 - h3 * d2 - two * d3 + h3 * d4 + d5,
    )


@njit(cache=True, inline="always")
def _b6(d0, d1, d2, d3, d4, d5, k):  # pragma: no cover - compiled
    # B (6, 6) times (d0..d5): the adjoint of _bt6
    h, h3, h5, two = k[0], k[1], k[2], k[3]
    return (
        d0,
        -h3 * d0 + d1 - d2 - two * d3 + h * d4 + d5,
        -two * d0 - h5 * d1 + h * d2 - d3 - d4 - h3 * d5,
        h3 * d0 + h * d1 + h5 * d2 + two * d3 - h * d4 - two * d5,
        d0 + d1 + d2 + d3 + d4 + h3 * d5,
        d5,
    )


@njit(cache=True, inline="always")
def _at6(d0, d1, d2, d3, d4, d5, k):  # pragma: no cover - compiled
    # A^T (4, 6) times (d0..d5)
    h, two, q, four, e, eight = k[0], k[3], k[4], k[5], k[6], k[7]
    return (
        d0 + d1 + d2 + d3 + d4,
        -d1 + d2 + h * d3 - two * d4,
        d1 + d2 + q * d3 + four * d4,
        -d1 + d2 + e * d3 - eight * d4 + d5,
    )


@njit(cache=True, inline="always")
def _a4(d0, d1, d2, d3, k):  # pragma: no cover - compiled
    # A (6, 4) times (d0..d3): the adjoint of _at6
    h, two, q, four, e, eight = k[0], k[3], k[4], k[5], k[6], k[7]
    return (
        d0,
        d0 - d1 + d2 - d3,
        d0 + d1 + d2 + d3,
        d0 + h * d1 + q * d2 + e * d3,
        d0 - two * d1 + four * d2 - eight * d3,
        d3,
    )


@njit(cache=True, inline="always")
def _streams6(flat, start, stride, size):  # pragma: no cover - compiled
    # six 1-D views of ``size`` cells, at flat[start + j*stride] for j < 6: loops over slices like these
    # vectorise where computed flat indices (wraparound checks) did not (measured 7x)
    return (
        flat[start : start + size],
        flat[start + stride : start + stride + size],
        flat[start + 2 * stride : start + 2 * stride + size],
        flat[start + 3 * stride : start + 3 * stride + size],
        flat[start + 4 * stride : start + 4 * stride + size],
        flat[start + 5 * stride : start + 5 * stride + size],
    )


@njit(cache=True)
def _input_transform4(x, v, step, top, left, th, tw, i0, i1, j0, j1, k):  # pragma: no cover - compiled
    # as _input_transform: x (N, C, H, W) -> V[6a + b, c, t] at v[(6a + b)*step + c*T + t], (B^T d B)[a, b] of
    # the 6x6 window d at padded rows 4ty.., columns 4tx... Per channel: its N planes copied into zero-bordered
    # scratch planes, then in chunks of _LANES tiles: each tile's 36 window cells gathered into lane i of
    # 36 rows (the one scalar step), B^T down the columns and B across the rows of all the chunk's tiles at
    # once (vectorised), the last pass writing V's 36 streams directly. (Tile by tile, with the transforms
    # along a tile's short rows, measured 1.8-2x slower on the course CNN's 16x16, 8x8 and 4x4 planes.)
    n_, c_, h, w = x.shape
    t_ = n_ * th * tw
    ph, pw = 4 * th + 2, 4 * tw + 2
    pad = np.zeros(n_ * ph * pw, dtype=x.dtype)  # borders stay 0, only the interiors are overwritten
    xf = x.reshape(-1)
    d = np.empty((36, _LANES), dtype=x.dtype)
    s = np.empty((36, _LANES), dtype=x.dtype)
    upw = np.uint64(pw)
    for c in range(c_):
        for n in range(n_):
            _copy_rows(xf, pad, ((n * c_ + c) * h + i0) * w + j0, w, (n * ph + top + i0) * pw + left + j0, pw,
                       i1 - i0, j1 - j0)  # fmt: skip
        n = ty = tx = 0
        for t0 in range(0, t_, _LANES):
            size = min(_LANES, t_ - t0)
            for i in range(size):  # tile i's window into lane i: d[6a + j, i] = its cell (a, j)
                corner = np.uint64((n * ph + 4 * ty) * pw + 4 * tx)
                for a in range(6):
                    row = corner + np.uint64(a) * upw
                    for j in range(6):
                        d[6 * a + j, i] = pad[row + np.uint64(j)]
                tx += 1
                if tx == tw:
                    tx = 0
                    ty += 1
                    if ty == th:
                        ty, n = 0, n + 1
            for j in range(6):  # B^T down each column j
                d0, d1, d2, d3, d4, d5 = d[j], d[6 + j], d[12 + j], d[18 + j], d[24 + j], d[30 + j]
                s0, s1, s2, s3, s4, s5 = s[j], s[6 + j], s[12 + j], s[18 + j], s[24 + j], s[30 + j]
                for i in range(size):
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _bt6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
            for a in range(6):  # B across each row a, into V's streams 6a..6a+5
                d0, d1, d2, d3, d4, d5 = s[6 * a], s[6 * a + 1], s[6 * a + 2], s[6 * a + 3], s[6 * a + 4], s[6 * a + 5]
                v0, v1, v2, v3, v4, v5 = _streams6(v, 6 * a * step + c * t_ + t0, step, size)
                for i in range(size):
                    v0[i], v1[i], v2[i], v3[i], v4[i], v5[i] = _bt6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)


@njit(cache=True)
def _input_adjoint4(dv, step, dx, top, left, th, tw, i0, i1, j0, j1, k):  # pragma: no cover - compiled
    # as _input_adjoint: dV[6a + b, c, t] at dv[(6a + b)*step + c*T + t] -> dx (N, C, H, W), each tile's
    # B dV B^T added onto its 6x6 window. Per channel, in chunks of _CHUNK tiles: B^T's adjoint along the
    # rows and then the columns of all the chunk's tiles at once (contiguous, vectorised), then the
    # 36 values of each tile added onto the channel's N zero-bordered planes.
    n_, c_, h, w = dx.shape
    t_ = n_ * th * tw
    ph, pw = 4 * th + 2, 4 * tw + 2
    acc = np.empty((n_, ph, pw), dtype=dx.dtype)
    accf, dxf = acc.reshape(-1), dx.reshape(-1)
    s = np.empty((6, 6, _CHUNK), dtype=dx.dtype)
    r = np.empty((36, _CHUNK), dtype=dx.dtype)
    zero = dx.dtype.type(0)
    for c in range(c_):
        acc[:, :, :] = zero
        n = ty = tx = 0
        for t0 in range(0, t_, _CHUNK):
            size = min(_CHUNK, t_ - t0)
            base = c * t_ + t0
            for a in range(6):  # B across each tile row a: s[a, j]
                d0, d1, d2, d3, d4, d5 = _streams6(dv, 6 * a * step + base, step, size)
                s0, s1, s2, s3, s4, s5 = s[a, 0], s[a, 1], s[a, 2], s[a, 3], s[a, 4], s[a, 5]
                for i in range(size):
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _b6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
            for j in range(6):  # B down each column j: r[6i + j]
                d0, d1, d2, d3, d4, d5 = s[0, j], s[1, j], s[2, j], s[3, j], s[4, j], s[5, j]
                r0, r1, r2, r3, r4, r5 = r[j], r[6 + j], r[12 + j], r[18 + j], r[24 + j], r[30 + j]
                for i in range(size):
                    r0[i], r1[i], r2[i], r3[i], r4[i], r5[i] = _b6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
            for i in range(size):  # onto the windows
                y0, x0 = 4 * ty, 4 * tx
                for a in range(6):
                    for j in range(6):
                        acc[n, y0 + a, x0 + j] += r[6 * a + j, i]
                tx += 1
                if tx == tw:
                    tx = 0
                    ty += 1
                    if ty == th:
                        ty = 0
                        n += 1
        for n in range(n_):
            _crop_plane(accf, n * ph * pw, pw, dxf, (n * c_ + c) * h * w, h, w, top, left, i0, i1, j0, j1)


@njit(cache=True)
def _output_transform4(m, step, bias, y, th, tw, k):  # pragma: no cover - compiled
    # as _output_transform: M[6a + b, o, t] at m[(6a + b)*step + o*T + t] -> y (N, O, oh, ow) = A^T M A + bias,
    # tile (ty, tx) writing output rows 4ty.., columns 4tx.. (those inside the output). Per channel, a few
    # bands of tiles (a band: one ty of one sample, its tw tiles) at a time: A^T down the columns and then
    # across the rows of all their tiles at once (contiguous, vectorised) into the bands' output rows,
    # then each output row copied out whole.
    n_, o_, oh, ow = y.shape
    bands, per = n_ * th, max(1, _CHUNK // tw)  # bands per channel, per pass
    size_max = per * tw
    yf = y.reshape(-1)
    s = np.empty((4, 6, size_max), dtype=y.dtype)
    rows_out = np.empty((4, 4 * size_max), dtype=y.dtype)  # row r of tile i: rows_out[r, 4i : 4i + 4]
    u1, u2, u3, u4, uow = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(ow)
    for o in range(o_):
        b = bias[o]
        for band0 in range(0, bands, per):
            nb = min(per, bands - band0)
            size = nb * tw
            base = o * bands * tw + band0 * tw
            for col in range(6):  # A^T down each column: s[row, col]
                d0, d1, d2, d3, d4, d5 = _streams6(m, col * step + base, 6 * step, size)
                s0, s1, s2, s3 = s[0, col], s[1, col], s[2, col], s[3, col]
                for i in range(size):
                    s0[i], s1[i], s2[i], s3[i] = _at6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
            for row in range(4):  # A across each row, the tiles' four outputs side by side
                d0, d1, d2, d3, d4, d5 = s[row, 0], s[row, 1], s[row, 2], s[row, 3], s[row, 4], s[row, 5]
                out = rows_out[row]
                for i in range(np.uint64(size)):  # unsigned: no wraparound checks
                    y0, y1, y2, y3 = _at6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                    e = u4 * i
                    out[e], out[e + u1], out[e + u2], out[e + u3] = y0 + b, y1 + b, y2 + b, y3 + b
            n, ty = divmod(band0, th)
            for j in range(nb):  # the bands' rows inside the output, cut to ow
                for row in range(min(4, oh - 4 * ty)):
                    dst, src = np.uint64(((n * o_ + o) * oh + 4 * ty + row) * ow), np.uint64(4 * j * tw)
                    out = rows_out[row]
                    for x in range(uow):
                        yf[dst + x] = out[src + x]
                ty += 1
                if ty == th:
                    ty, n = 0, n + 1


@njit(cache=True)
def _output_adjoint4(g, dm, step, th, tw, k):  # pragma: no cover - compiled
    # as _output_adjoint: g (N, O, oh, ow) -> dM[6a + b, o, t] at dm[(6a + b)*step + o*T + t], each tile's
    # A g A^T, cells past the output read as 0. Per channel, a few bands of tiles at a time: their rows
    # of g copied in whole (zeros past the output), then A across the rows and down the columns of all
    # their tiles at once (vectorised).
    n_, o_, oh, ow = g.shape
    bands, per = n_ * th, max(1, _CHUNK // tw)
    size_max = per * tw
    gf = g.reshape(-1)
    zero = g.dtype.type(0)
    rows_in = np.empty((4, 4 * size_max), dtype=g.dtype)  # row r of tile i: rows_in[r, 4i : 4i + 4]
    u1, u2, u3, u4, uow, uw4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4), np.uint64(ow), np.uint64(4 * tw)
    s = np.empty((4, 6, size_max), dtype=g.dtype)
    for o in range(o_):
        for band0 in range(0, bands, per):
            nb = min(per, bands - band0)
            size = nb * tw
            base = o * bands * tw + band0 * tw
            n, ty = divmod(band0, th)
            for j in range(nb):
                for row in range(4):  # the row copied whole (vectorised), zeros past the output
                    dst, d = rows_in[row], np.uint64(4 * j * tw)
                    fill = d
                    if 4 * ty + row < oh:
                        src = np.uint64(((n * o_ + o) * oh + 4 * ty + row) * ow)
                        for x in range(uow):
                            dst[d + x] = gf[src + x]
                        fill = d + uow
                    for x in range(fill, d + uw4):
                        dst[x] = zero
                ty += 1
                if ty == th:
                    ty, n = 0, n + 1
            for row in range(4):  # A across each row: s[row, col]
                src = rows_in[row]
                s0, s1, s2, s3, s4, s5 = s[row, 0], s[row, 1], s[row, 2], s[row, 3], s[row, 4], s[row, 5]
                for i in range(np.uint64(size)):
                    e = u4 * i
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _a4(src[e], src[e + u1], src[e + u2], src[e + u3], k)
            for col in range(6):  # A down each column
                d0, d1, d2, d3 = s[0, col], s[1, col], s[2, col], s[3, col]
                s0, s1, s2, s3, s4, s5 = _streams6(dm, col * step + base, 6 * step, size)
                for i in range(size):
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _a4(d0[i], d1[i], d2[i], d3[i], k)


def _flat(a3: np.ndarray) -> tuple[np.ndarray, int]:
    """A (k, rows, cols) stack of C-contiguous blocks as (a 1-D contiguous view from block 0 on, the step
    between blocks in elements): block j's cell i is ``flat[j*step + i]`` (unit stride: the kernels vectorise)."""
    blocks = _blocks(a3)
    k, size = blocks.shape
    step = blocks.strides[0] // blocks.itemsize
    flat = np.lib.stride_tricks.as_strided(blocks, shape=((k - 1) * step + size,), strides=(blocks.itemsize,))
    return flat, step


def _constants(dtype: np.dtype) -> tuple[Any, ...]:
    """The F(4x4) kernels' ``k``: 1/2, 3/2, 5/2, 2, 1/4, 4, 1/8, 8 as scalars of ``dtype``."""
    return tuple(dtype.type(v) for v in (0.5, 1.5, 2.5, 2.0, 0.25, 4.0, 0.125, 8.0))


def _blocks(a3: np.ndarray) -> np.ndarray:
    """The (k, rows*cols) 2-D view of a (k, rows, cols) array whose blocks are C-contiguous (copied if not:
    only inputs may be; an output's copy would be lost). Strides of length-1 dims do not matter."""
    k, r, c = a3.shape
    if (c > 1 and a3.strides[2] != a3.itemsize) or (r > 1 and a3.strides[1] != c * a3.itemsize):
        a3 = np.ascontiguousarray(a3)
    return np.lib.stride_tricks.as_strided(a3, shape=(k, r * c), strides=(a3.strides[0], a3.itemsize))


def _reach(shape: tuple[int, ...], top: int, left: int, tiles: tuple[int, int],
           m: int = 2) -> tuple[int, int, int, int]:  # fmt: skip
    """(i0, i1, j0, j1): the input rows and columns the tiles of side m read
    (:func:`minidl.backend.winograd.overlap`)."""
    return (*overlap(shape[2], top, m * tiles[0] + 2), *overlap(shape[3], left, m * tiles[1] + 2))


def _out_blocks(a3: np.ndarray) -> np.ndarray:
    """:func:`_blocks` of an array the kernel writes into: it must not be a copy."""
    blocks = _blocks(a3)
    if not np.shares_memory(blocks, a3):
        raise ValueError("out must be a (16, rows, cols) array of C-contiguous blocks (minidl.backend.winograd.stack)")
    return blocks


def input_transform(x: np.ndarray, top: int, left: int, tiles: tuple[int, int],
                    out: np.ndarray | None = None, m: int = 2) -> np.ndarray:  # fmt: skip
    """x (N, C, H, W) -> V (n*n, C, N*th*tw); see :func:`minidl.backend.winograd.input_transform`."""
    n, c = x.shape[:2]
    th, tw = tiles
    v = stack((m + 2) ** 2, c, n * th * tw, x.dtype) if out is None else out
    blocks, reach = _out_blocks(v), _reach(x.shape, top, left, tiles, m)
    if m == 2:
        _input_transform(np.ascontiguousarray(x), blocks, top, left, th, tw, *reach)
    else:
        _input_transform4(np.ascontiguousarray(x), *_flat(v), top, left, th, tw, *reach, _constants(x.dtype))
    return v


def input_adjoint(dv: np.ndarray, input_shape: tuple[int, int, int, int], top: int, left: int,
                  tiles: tuple[int, int], m: int = 2) -> np.ndarray:  # fmt: skip
    """dV (n*n, C, T) -> dx (N, C, H, W); see :func:`minidl.backend.winograd.input_adjoint`."""
    dx = np.empty(input_shape, dtype=dv.dtype)
    args = (_blocks(dv), dx, top, left, *tiles, *_reach(input_shape, top, left, tiles, m))
    if m == 2:
        _input_adjoint(*args)
    else:
        _input_adjoint4(*_flat(dv), *args[1:], _constants(dx.dtype))
    return dx


def output_transform(prod: np.ndarray, bias: np.ndarray | None, out_shape: tuple[int, int, int, int],
                     tiles: tuple[int, int], m: int = 2) -> np.ndarray:  # fmt: skip
    """M (n*n, O, T) -> y (N, O, oh, ow); see :func:`minidl.backend.winograd.output_transform`."""
    y = np.empty(out_shape, dtype=prod.dtype)
    b = np.zeros(out_shape[1], dtype=prod.dtype) if bias is None else np.ascontiguousarray(bias, dtype=prod.dtype)
    if m == 2:
        _output_transform(_blocks(prod), b, y, *tiles)
    else:
        _output_transform4(*_flat(prod), b, y, *tiles, _constants(y.dtype))
    return y


def output_adjoint(g: np.ndarray, tiles: tuple[int, int], out: np.ndarray | None = None, m: int = 2) -> np.ndarray:
    """g (N, O, oh, ow) -> dM (n*n, O, T); see :func:`minidl.backend.winograd.output_adjoint`."""
    n, o = g.shape[:2]
    th, tw = tiles
    dm = stack((m + 2) ** 2, o, n * th * tw, g.dtype) if out is None else out
    if m == 2:
        _output_adjoint(np.ascontiguousarray(g), _out_blocks(dm), th, tw)
    else:
        _out_blocks(dm)  # checks that dm is a stack the kernel can write into
        _output_adjoint4(np.ascontiguousarray(g), *_flat(dm), th, tw, _constants(g.dtype))
    return dm

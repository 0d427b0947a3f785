"""numba CPU kernels for the Winograd F(2x2, 3x3) and F(4x4, 3x3) convolutions' four tile transforms.

Each kernel computes what its numpy reference in :mod:`minidl.backend.winograd` computes (same
shapes, same index conventions; the formulas are written out there): the input transform
``B^T d B`` and its adjoint, the output transform ``A^T m A`` (plus the bias) and its adjoint.
Sums are taken in another order than numpy's vectorised reference: equal to rounding, not bit
for bit.

How they stream: per channel, on chunks of tiles side by side in vector lanes, so that each pass
of a 1-D transform (down the columns of all the chunk's tiles, then across their rows) is one
long vectorised loop over contiguous rows. The input side copies the channel's N planes into
zero-bordered scratch planes once (no tile needs a bounds check) and gathers each tile's
(m+2) x (m+2) window into its lane (:func:`_move_windows`, the one scalar step), then writes the
transformed values straight into V's (m+2)^2 streams ``V[k, c, t]``; its adjoint adds each
tile's values back onto the scratch planes and crops them into dx. The output side reads the
streams ``M[k, o, t]`` of a few bands of tiles (a band: the tiles of one row of one sample) and
writes whole output rows (:func:`_rows_out`; the adjoint reads them, :func:`_rows_in`). A larger
kernel's 3x3 blocks share the scratch planes, each block's windows shifted. The GEMMs between
the transforms are numpy's (BLAS). (Tile by tile, with the transforms along each tile's short
rows, the kernels ran 1.1-2.2x slower on the course CNN's 16x16 to 2x2 planes.)

numba compiles a loop over a slice of a non-contiguous 2-D array (layout 'A') without vector
instructions: the kernels take the (n*n, rows, cols) stacks as one flat 1-D view and a step
(:func:`_flat`), whose slices are contiguous. (The F(4x4) input transform wrote V through the 2-D
view before: 2x slower on its last pass.)

The fused kernels (:func:`fused_forward`, :func:`fused_backward`) run the whole convolution per block of
samples (:data:`BLOCK_TILES` tiles) in compiled code: the block's input transform into a small V, its
(m+2)^2 GEMMs (numba's ``np.dot``: BLAS called without the GIL) into a small M, and its output transform;
backward likewise (dM, then dU += dM @ V^T from the kept V and dV = U^T @ dM with its input adjoint), so
V, M, dM and dV of a block stay in the core's cache and no Python runs between the stages (the course
CNN's 16x16 and 8x8 layers fwd+bwd 0.80-0.87x the Python-level slices and stages; its step 0.96x, LeNet's
0.91x, their eval forwards 0.91x and 0.87x).

Importing this module imports numba; :mod:`minidl.backend.winograd` imports it only when the
numba path is on (:func:`minidl.backend.numba_kernels_or_none`). Each kernel is serial and compiled
``nogil``: :func:`minidl.backend.winograd.forward` and ``backward`` call them from minidl's threads on
slices of the batch, each slice's tiles a range of columns of the whole batch's stacks (the kernels'
``span``, the stacks' row length, and ``tb``, the slice's first tile; the wrappers' ``start``).
Compiled code is cached on disk.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit

from minidl.backend import threads
from minidl.backend.im2col import overlap
from minidl.backend.numba_kernels import _crop_plane, _padded_planes
from minidl.backend.winograd import stack

__all__ = ["input_adjoint", "input_transform", "output_adjoint", "output_transform"]


@njit(cache=True, inline="always")
def _move_windows(planes, shift, ph, pw, m, th, tw, lanes, size, t0, gather):  # pragma: no cover - compiled
    # the (m+2) x (m+2) windows of tiles t0..t0+size-1 (tile t = (n*th + ty)*tw + tx: padded rows m*ty..,
    # columns m*tx.. of plane n of the flat (ph, pw) padded planes, ``shift`` cells further: a larger kernel's
    # 3x3 block) and the lanes: lanes[(m+2)*a + j, i] = cell (a, j) of tile t0 + i's window. gather: planes ->
    # lanes (the one scalar step of the input transforms); else the adjoint, lane i added onto its window
    # (windows overlap by two rows/columns, so each cell adds). ``gather`` is a constant at every call (the
    # branch compiles away)
    k = m + 2
    upw = np.uint64(pw)
    n, t = divmod(t0, th * tw)
    ty, tx = divmod(t, tw)
    for i in range(size):
        corner = np.uint64((n * ph + m * ty) * pw + m * tx + shift)
        for a in range(k):
            row = corner + np.uint64(a) * upw
            for j in range(k):
                if gather:
                    lanes[k * a + j, i] = planes[row + np.uint64(j)]
                else:
                    planes[row + np.uint64(j)] += lanes[k * a + j, i]
        tx += 1
        if tx == tw:
            tx = 0
            ty += 1
            if ty == th:
                ty, n = 0, n + 1


@njit(cache=True, inline="always")
def _rows_in(gf, rows_in, m, o, o_, oh, ow, th, tw, band0, nb):  # pragma: no cover - compiled
    # the output-side kernels' input: the m rows of g[:, o] under bands band0..band0+nb-1 (a band: the tw
    # tiles of one ty of one sample), each copied whole into rows_in[row, m*tw*j ..] with zeros past the
    # output, so that tile i's m x m block is rows_in[:, m*i : m*i + m]
    zero = rows_in.dtype.type(0)
    uow, uwm = np.uint64(ow), np.uint64(m * tw)
    n, ty = divmod(band0, th)
    for j in range(nb):
        for row in range(m):
            dst, d = rows_in[row], np.uint64(m * j * tw)
            fill = d
            if m * ty + row < oh:
                src = np.uint64(((n * o_ + o) * oh + m * ty + row) * ow)
                for x in range(uow):
                    dst[d + x] = gf[src + x]
                fill = d + uow
            for x in range(fill, d + uwm):
                dst[x] = zero
        ty += 1
        if ty == th:
            ty, n = 0, n + 1


@njit(cache=True, inline="always")
def _rows_out(rows_out, yf, m, o, o_, oh, ow, th, tw, band0, nb):  # pragma: no cover - compiled
    # the adjoint of _rows_in: rows_out's rows of bands band0..band0+nb-1 copied into y[:, o], cut to oh x ow
    uow = np.uint64(ow)
    n, ty = divmod(band0, th)
    for j in range(nb):
        for row in range(min(m, oh - m * ty)):
            dst, src = np.uint64(((n * o_ + o) * oh + m * ty + row) * ow), np.uint64(m * j * tw)
            out = rows_out[row]
            for x in range(uow):
                yf[dst + x] = out[src + x]
        ty += 1
        if ty == th:
            ty, n = 0, n + 1


@njit(cache=True, inline="always")
def _streams4(flat, start, stride, size):  # pragma: no cover - compiled
    # four 1-D views of ``size`` cells, at flat[start + j*stride] for j < 4 (see _streams6)
    return (
        flat[start : start + size],
        flat[start + stride : start + stride + size],
        flat[start + 2 * stride : start + 2 * stride + size],
        flat[start + 3 * stride : start + 3 * stride + size],
    )


@njit(cache=True, inline="always")
def _bt4(d0, d1, d2, d3):  # pragma: no cover - compiled
    # B^T (4, 4) times (d0..d3)
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(cache=True, inline="always")
def _b4(d0, d1, d2, d3):  # pragma: no cover - compiled
    # B (4, 4) times (d0..d3): the adjoint of _bt4
    return d0, d1 - d2 + d3, d1 + d2 - d0, -d3


# ------------------------------------------------------------------------------------- F(4x4, 3x3)
# 4x4 output tiles of 6x6 windows (36 streams): the matrices' (minidl.backend.winograd.F4) rows are written
# out in the four 1-D transforms below; the constants come in as ``k`` in the arrays' dtype (a float literal
# would turn float32 arithmetic into float64). The kernels take both tilings (``m``), a branch per chunk.

#: tiles the output-side kernels and the input adjoint transform at once (measured on F(4x4): 256 0.63-0.93x
#: the time of 64 on the output side, scratch of 24-40 KB)
_CHUNK = 256
#: tiles the input transform gathers into vector lanes at once (F(4x4): 2 x 36 x 128 floats, 36 KB of
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
    s0, s1, s2, s3 = _streams4(flat, start, stride, size)
    e = start + 4 * stride
    return s0, s1, s2, s3, flat[e : e + size], flat[e + stride : e + stride + size]


# ------------------------------------------------------------------------------------- the kernels
@njit(cache=True, nogil=True)
def _input_transform(x, v, step, span, tb, top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k):  # pragma: no cover
    # x (N, C, H, W) -> V[na + b, i*C + c, tb + t] at v[(na + b)*step + (i*C + c)*span + tb + t] (n = m + 2; t < N*th*tw
    # x's tiles, written from column tb of V's rows of span columns: a slice of the batch into its part of V):
    # (B^T d B)[a, b] of the n x n window d at padded rows m*ty.., columns m*tx.. (top/left zeros before the
    # input; negative: cropped), on F(2x2) or F(4x4) (m; k: F(4x4)'s constants), for each 3x3 block
    # i = a'*bw + b' of a larger kernel (:func:`minidl.backend.winograd.forward`): its windows sit 3a' rows
    # and 3b' columns further. The tiles reach input rows [i0, i1) and columns [j0, j1) (the wrapper's
    # _reach). Per channel: its N planes copied into zero-bordered scratch planes (shared by the blocks),
    # then per block, in chunks of _LANES tiles: each tile's window gathered into lane i of n*n rows (the
    # one scalar step), B^T down the columns and B across the rows of all the chunk's tiles at once
    # (vectorised), the last pass writing V's streams directly. (Tile by tile, with the transforms along a
    # tile's short rows, measured 1.8-2x slower on the course CNN's 16x16, 8x8 and 4x4 planes.)
    n_, c_ = x.shape[:2]
    t_ = n_ * th * tw
    ph, pw = m * th + 2 + 3 * (bh - 1), m * tw + 2 + 3 * (bw - 1)
    pad = np.zeros(n_ * ph * pw, dtype=x.dtype)
    d = np.empty(((m + 2) ** 2, _LANES), dtype=x.dtype)
    s = np.empty(((m + 2) ** 2, _LANES), dtype=x.dtype)
    for c in range(c_):
        _padded_planes(x, c, pad, ph, pw, top, i0, i1, left, j0, j1)
        for blk in range(bh * bw):
            shift = 3 * (blk // bw) * pw + 3 * (blk % bw)  # block (a', b'): 3a' rows, 3b' columns further
            for t0 in range(0, t_, _LANES):
                size = min(_LANES, t_ - t0)
                o = (blk * c_ + c) * span + tb + t0
                if m == 2:  # the window size a constant in each branch: unrolled gathers
                    _move_windows(pad, shift, ph, pw, 2, th, tw, d, size, t0, True)
                    for j in range(4):  # B^T down each column j
                        d0, d1, d2, d3 = d[j], d[4 + j], d[8 + j], d[12 + j]
                        s0, s1, s2, s3 = s[j], s[4 + j], s[8 + j], s[12 + j]
                        for i in range(size):
                            s0[i], s1[i], s2[i], s3[i] = _bt4(d0[i], d1[i], d2[i], d3[i])
                    for a in range(4):  # B across each row a, into V's streams 4a..4a+3
                        d0, d1, d2, d3 = s[4 * a], s[4 * a + 1], s[4 * a + 2], s[4 * a + 3]
                        v0, v1, v2, v3 = _streams4(v, 4 * a * step + o, step, size)
                        for i in range(size):
                            v0[i], v1[i], v2[i], v3[i] = _bt4(d0[i], d1[i], d2[i], d3[i])
                    continue
                _move_windows(pad, shift, ph, pw, 4, th, tw, d, size, t0, True)
                for j in range(6):
                    d0, d1, d2, d3, d4, d5 = d[j], d[6 + j], d[12 + j], d[18 + j], d[24 + j], d[30 + j]
                    s0, s1, s2, s3, s4, s5 = s[j], s[6 + j], s[12 + j], s[18 + j], s[24 + j], s[30 + j]
                    for i in range(size):
                        s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _bt6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                for a in range(6):
                    d0, d1, d2 = s[6 * a], s[6 * a + 1], s[6 * a + 2]
                    d3, d4, d5 = s[6 * a + 3], s[6 * a + 4], s[6 * a + 5]
                    v0, v1, v2, v3, v4, v5 = _streams6(v, 6 * a * step + o, step, size)
                    for i in range(size):
                        v0[i], v1[i], v2[i], v3[i], v4[i], v5[i] = _bt6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)


@njit(cache=True, nogil=True)
def _input_adjoint(dv, step, span, tb, dx, top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k):  # pragma: no cover
    # dV[na + b, i*C + c, tb + t] at dv[(na + b)*step + (i*C + c)*span + tb + t] (n = m + 2, t < N*th*tw: dx's
    # tiles, from column tb of dV's rows of span columns, as _input_transform; i = a'*bw + b': the
    # kernel's 3x3 block (a', b'), whose windows sit 3a' rows and 3b' columns further) -> dx (N, C, H, W): each
    # tile's B dV B^T added onto its n x n window, on F(2x2) or F(4x4) (m; k: F(4x4)'s constants). Per
    # channel, per block, per chunk of _CHUNK tiles: B across the rows and down the columns of all of them
    # at once (vectorised), the values of each tile added onto the channel's zero-bordered scratch planes
    # (one per sample, shared by the blocks, block 0's padding top/left), which are then cropped into dx
    # (cells outside input rows [i0, i1) x columns [j0, j1) are reached by no tile: 0)
    n_, c_, h, w = dx.shape
    t_ = n_ * th * tw
    ph, pw = m * th + 2 + 3 * (bh - 1), m * tw + 2 + 3 * (bw - 1)
    acc = np.empty(n_ * ph * pw, dtype=dx.dtype)
    dxf = dx.reshape(-1)
    s = np.empty(((m + 2) ** 2, _CHUNK), dtype=dx.dtype)
    r = np.empty(((m + 2) ** 2, _CHUNK), dtype=dx.dtype)
    zero = dx.dtype.type(0)
    for c in range(c_):
        acc[:] = zero
        for blk in range(bh * bw):
            shift = 3 * (blk // bw) * pw + 3 * (blk % bw)
            for t0 in range(0, t_, _CHUNK):
                size = min(_CHUNK, t_ - t0)
                base = (blk * c_ + c) * span + tb + t0
                if m == 2:  # the window size a constant in each branch: unrolled scatters
                    for a in range(4):  # B across each row a: s[4a + j]
                        d0, d1, d2, d3 = _streams4(dv, 4 * a * step + base, step, size)
                        s0, s1, s2, s3 = s[4 * a], s[4 * a + 1], s[4 * a + 2], s[4 * a + 3]
                        for i in range(size):
                            s0[i], s1[i], s2[i], s3[i] = _b4(d0[i], d1[i], d2[i], d3[i])
                    for j in range(4):  # B down each column j: r[4a + j]
                        d0, d1, d2, d3 = s[j], s[4 + j], s[8 + j], s[12 + j]
                        r0, r1, r2, r3 = r[j], r[4 + j], r[8 + j], r[12 + j]
                        for i in range(size):
                            r0[i], r1[i], r2[i], r3[i] = _b4(d0[i], d1[i], d2[i], d3[i])
                    _move_windows(acc, shift, ph, pw, 2, th, tw, r, size, t0, False)
                    continue
                for a in range(6):
                    d0, d1, d2, d3, d4, d5 = _streams6(dv, 6 * a * step + base, step, size)
                    s0, s1, s2 = s[6 * a], s[6 * a + 1], s[6 * a + 2]
                    s3, s4, s5 = s[6 * a + 3], s[6 * a + 4], s[6 * a + 5]
                    for i in range(size):
                        s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _b6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                for j in range(6):
                    d0, d1, d2, d3, d4, d5 = s[j], s[6 + j], s[12 + j], s[18 + j], s[24 + j], s[30 + j]
                    r0, r1, r2, r3, r4, r5 = r[j], r[6 + j], r[12 + j], r[18 + j], r[24 + j], r[30 + j]
                    for i in range(size):
                        r0[i], r1[i], r2[i], r3[i], r4[i], r5[i] = _b6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                _move_windows(acc, shift, ph, pw, 4, th, tw, r, size, t0, False)
        for n in range(n_):
            _crop_plane(acc, n * ph * pw, pw, dxf, (n * c_ + c) * h * w, h, w, top, left, i0, i1, j0, j1)


@njit(cache=True, nogil=True)
def _output_transform(prod, step, span, tb, bias, y, th, tw, m, k):  # pragma: no cover - compiled
    # M[na + b, o, tb + t] at prod[(na + b)*step + o*span + tb + t] (n = m + 2, t < N*th*tw: y's tiles, from
    # column tb of M's rows of span columns) -> y (N, O, oh, ow) = A^T M A + bias, tile
    # (ty, tx) writing output rows m*ty.., columns m*tx.. (those inside the output), on F(2x2) or F(4x4)
    # (m; k: F(4x4)'s constants). Per channel, a few bands of tiles (a band: one ty of one sample, its tw
    # tiles) at a time: A^T down the columns and then across the rows of all their tiles at once
    # (contiguous, vectorised) into the bands' output rows (row r of tile i: rows_out[r, m*i : m*i + m]),
    # then each output row copied out whole
    n_, o_, oh, ow = y.shape
    bands, per = n_ * th, max(1, _CHUNK // tw)  # bands per channel, per pass
    yf = y.reshape(-1)
    s = np.empty((m, m + 2, per * tw), dtype=y.dtype)
    rows_out = np.empty((m, m * per * tw), dtype=y.dtype)
    u1, u2, u3, u4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    for o in range(o_):
        b = bias[o]
        for band0 in range(0, bands, per):
            nb = min(per, bands - band0)
            size = nb * tw
            base = o * span + tb + band0 * tw
            if m == 2:  # the tile size a constant in each branch (the row copies' too)
                for col in range(4):  # A^T down each column: s[row, col]
                    d0, d1, d2, d3 = _streams4(prod, col * step + base, 4 * step, size)
                    s0, s1 = s[0, col], s[1, col]
                    for i in range(size):
                        s0[i], s1[i] = d0[i] + d1[i] + d2[i], d1[i] - d2[i] - d3[i]
                for row in range(2):  # A across each row, the tiles' two outputs side by side
                    d0, d1, d2, d3 = s[row, 0], s[row, 1], s[row, 2], s[row, 3]
                    out = rows_out[row]
                    for i in range(np.uint64(size)):  # unsigned: no wraparound checks
                        e = u2 * i
                        out[e], out[e + u1] = d0[i] + d1[i] + d2[i] + b, d1[i] - d2[i] - d3[i] + b
                _rows_out(rows_out, yf, 2, o, o_, oh, ow, th, tw, band0, nb)
            else:
                for col in range(6):
                    d0, d1, d2, d3, d4, d5 = _streams6(prod, col * step + base, 6 * step, size)
                    s0, s1, s2, s3 = s[0, col], s[1, col], s[2, col], s[3, col]
                    for i in range(size):
                        s0[i], s1[i], s2[i], s3[i] = _at6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                for row in range(4):
                    d0, d1, d2, d3, d4, d5 = s[row, 0], s[row, 1], s[row, 2], s[row, 3], s[row, 4], s[row, 5]
                    out = rows_out[row]
                    for i in range(np.uint64(size)):
                        y0, y1, y2, y3 = _at6(d0[i], d1[i], d2[i], d3[i], d4[i], d5[i], k)
                        e = u4 * i
                        out[e], out[e + u1], out[e + u2], out[e + u3] = y0 + b, y1 + b, y2 + b, y3 + b
                _rows_out(rows_out, yf, 4, o, o_, oh, ow, th, tw, band0, nb)


@njit(cache=True, nogil=True)
def _output_adjoint(g, dm, step, span, tb, th, tw, m, k):  # pragma: no cover - compiled
    # the adjoint of _output_transform: g (N, O, oh, ow) -> dM[na + b, o, tb + t] at
    # dm[(na + b)*step + o*span + tb + t] (t < N*th*tw: g's tiles, from column tb of dM's rows of span columns),
    # each tile's A g A^T, cells past the output read as 0. Per channel, a few bands of tiles at a time:
    # their rows of g copied in whole (zeros past the output), then A across the rows and down the columns
    # of all their tiles at once (vectorised)
    n_, o_, oh, ow = g.shape
    bands, per = n_ * th, max(1, _CHUNK // tw)
    gf = g.reshape(-1)
    rows_in = np.empty((m, m * per * tw), dtype=g.dtype)  # row r of tile i: rows_in[r, m*i : m*i + m]
    s = np.empty((m, m + 2, per * tw), dtype=g.dtype)
    u1, u2, u3, u4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    for o in range(o_):
        for band0 in range(0, bands, per):
            nb = min(per, bands - band0)
            size = nb * tw
            base = o * span + tb + band0 * tw
            if m == 2:  # the tile size a constant in each branch (the row copies' too)
                _rows_in(gf, rows_in, 2, o, o_, oh, ow, th, tw, band0, nb)
                for row in range(2):  # A across each row: (g0, g0 + g1, g0 - g1, -g1)
                    src = rows_in[row]
                    s0, s1, s2, s3 = s[row, 0], s[row, 1], s[row, 2], s[row, 3]
                    for i in range(np.uint64(size)):
                        e0, e1 = src[u2 * i], src[u2 * i + u1]
                        s0[i], s1[i], s2[i], s3[i] = e0, e0 + e1, e0 - e1, -e1
                for col in range(4):  # A down each column: (u, u + l, u - l, -l)
                    d0, d1 = s[0, col], s[1, col]
                    s0, s1, s2, s3 = _streams4(dm, col * step + base, 4 * step, size)
                    for i in range(size):
                        s0[i], s1[i], s2[i], s3[i] = d0[i], d0[i] + d1[i], d0[i] - d1[i], -d1[i]
                continue
            _rows_in(gf, rows_in, 4, o, o_, oh, ow, th, tw, band0, nb)
            for row in range(4):
                src = rows_in[row]
                s0, s1, s2, s3, s4, s5 = s[row, 0], s[row, 1], s[row, 2], s[row, 3], s[row, 4], s[row, 5]
                for i in range(np.uint64(size)):
                    e = u4 * i
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _a4(src[e], src[e + u1], src[e + u2], src[e + u3], k)
            for col in range(6):
                d0, d1, d2, d3 = s[0, col], s[1, col], s[2, col], s[3, col]
                s0, s1, s2, s3, s4, s5 = _streams6(dm, col * step + base, 6 * step, size)
                for i in range(size):
                    s0[i], s1[i], s2[i], s3[i], s4[i], s5[i] = _a4(d0[i], d1[i], d2[i], d3[i], k)


# ------------------------------------------------------------------------------- fused blocks of samples
#: tiles per block of the fused kernels: a block's V and M (or dM and dV) stay in the core's cache between the
#: transforms and the GEMMs (the course CNN's 16x16 layer: 36 x (32 + 64) x 64 floats, 0.9 MB)
BLOCK_TILES = 64


@njit(cache=True, nogil=True)
def _fused_forward(x, u, bias, y, vk, keep_v, top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k, groups, nb, b0,
                   b1):  # pragma: no cover - compiled  # fmt: skip
    # blocks b0..b1-1 of nb samples each (block i: samples i*nb.., the last one shorter): each block's V (n*n,
    # B*C, t) transformed into a contiguous buffer (block i's part of vk, kept for backward, when keep_v), its
    # n*n GEMMs M[q] = U[q] @ V[q] per group (numba's np.dot: BLAS), and A^T M A + bias written into y, while
    # the block is in cache. The same transforms as the stage-by-stage path (same sums, bit for bit)
    nn, o_, cg = u.shape
    bc, og, per = cg * groups, o_ // groups, th * tw
    size = nn * bc * nb * per  # one block's V
    vloc = np.empty(0 if keep_v else size, dtype=x.dtype)
    mb = np.empty(nn * o_ * nb * per, dtype=x.dtype)
    for blk in range(b0, b1):
        n0 = blk * nb
        n1 = min(n0 + nb, x.shape[0])
        t = (n1 - n0) * per
        vb = vk[blk * size : blk * size + nn * bc * t] if keep_v else vloc[: nn * bc * t]
        _input_transform(x[n0:n1], vb, bc * t, t, 0, top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k)
        v3, m3 = vb.reshape((nn, bc, t)), mb[: nn * o_ * t].reshape((nn, o_, t))
        for q in range(nn):
            for g in range(groups):
                np.dot(u[q, g * og : (g + 1) * og], v3[q, g * cg : (g + 1) * cg], m3[q, g * og : (g + 1) * og])
        _output_transform(mb, o_ * t, t, 0, bias, y[n0:n1], th, tw, m, k)


@njit(cache=True, nogil=True)
def _fused_backward(g, u, vk, has_v, du, need_x, dx, top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k, groups, nb, b0,
                    b1):  # pragma: no cover - compiled  # fmt: skip
    # the adjoint of _fused_forward on blocks b0..b1-1: each block's dM = A g A^T, then (has_v) du[q] += dM[q] @
    # V[q]^T from the block's kept V, and (need_x) dV[q] = U[q]^T @ dM[q] and its input adjoint into dx, while
    # the block is in cache. u: (n*n, O, B*C/G) (only its shape read unless need_x)
    nn, o_, cg = u.shape
    bc, og, per = cg * groups, o_ // groups, th * tw
    size = nn * bc * nb * per
    dmb = np.empty(nn * o_ * nb * per, dtype=g.dtype)
    dvb = np.empty(size if need_x else 0, dtype=g.dtype)
    part = np.empty((og, cg), dtype=g.dtype)
    for blk in range(b0, b1):
        n0 = blk * nb
        n1 = min(n0 + nb, g.shape[0])
        t = (n1 - n0) * per
        _output_adjoint(g[n0:n1], dmb, o_ * t, t, 0, th, tw, m, k)
        dm3 = dmb[: nn * o_ * t].reshape((nn, o_, t))
        if has_v:
            v3 = vk[blk * size : blk * size + nn * bc * t].reshape((nn, bc, t))
            for q in range(nn):
                for gi in range(groups):
                    np.dot(dm3[q, gi * og : (gi + 1) * og], v3[q, gi * cg : (gi + 1) * cg].T, part)
                    acc = du[q, gi * og : (gi + 1) * og]
                    for r in range(og):
                        for c in range(cg):
                            acc[r, c] += part[r, c]
        if need_x:
            dv3 = dvb[: nn * bc * t].reshape((nn, bc, t))
            for q in range(nn):
                for gi in range(groups):
                    np.dot(u[q, gi * og : (gi + 1) * og].T, dm3[q, gi * og : (gi + 1) * og],
                           dv3[q, gi * cg : (gi + 1) * cg])  # fmt: skip
            _input_adjoint(dvb, bc * t, t, 0, dx[n0:n1], top, left, th, tw, bh, bw, i0, i1, j0, j1, m, k)


def _flat(a3: np.ndarray) -> tuple[np.ndarray, int]:
    """A (k, rows, cols) stack of C-contiguous blocks as (a 1-D contiguous view from block 0 on, the step
    between blocks in elements): block j's cell i is ``flat[j*step + i]`` (unit stride: the kernels vectorise)."""
    blocks = _blocks(a3)
    k, size = blocks.shape
    step = blocks.strides[0] // blocks.itemsize
    flat = np.lib.stride_tricks.as_strided(blocks, shape=((k - 1) * step + size,), strides=(blocks.itemsize,))
    return flat, step


@functools.lru_cache(maxsize=8)
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


@functools.lru_cache(maxsize=1024)  # pure, and asked again with the same geometry on every step
def _reach(shape: tuple[int, ...], top: int, left: int, tiles: tuple[int, int], m: int = 2,
           blocks: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:  # fmt: skip
    """(i0, i1, j0, j1): the input rows and columns the tiles of side m read, for any of the 3x3 blocks of a
    larger kernel (block (a, b) with ``top - 3a``, ``left - 3b`` padding; :func:`minidl.backend.im2col.overlap`).
    Rows or columns between two blocks' spans that neither reads lie in the scratch planes as zeros."""
    reach = []
    for size, pad, t, nb in zip(shape[2:], (top, left), tiles, blocks):
        spans = [s for s in (overlap(size, pad - 3 * i, m * t + 2) for i in range(nb)) if s[1] > s[0]]
        reach += [min(s[0] for s in spans), max(s[1] for s in spans)] if spans else [0, 0]
    return tuple(reach)  # type: ignore[return-value]


def _out_blocks(a3: np.ndarray) -> np.ndarray:
    """:func:`_blocks` of an array the kernel writes into: it must not be a copy."""
    blocks = _blocks(a3)
    if not np.shares_memory(blocks, a3):
        raise ValueError("out must be a (16, rows, cols) array of C-contiguous blocks (minidl.backend.winograd.stack)")
    return blocks


def input_transform(x: np.ndarray, top: int, left: int, tiles: tuple[int, int], out: np.ndarray | None = None,
                    m: int = 2, blocks: tuple[int, int] = (1, 1), start: int = 0) -> np.ndarray:  # fmt: skip
    """x (N, C, H, W) -> V (n*n, B*C, N*th*tw), or x's tiles written into columns ``start``.. of ``out``;
    see :func:`minidl.backend.winograd.input_transform`."""
    n, c = x.shape[:2]
    th, tw = tiles
    v = stack((m + 2) ** 2, blocks[0] * blocks[1] * c, n * th * tw, x.dtype) if out is None else out
    _out_blocks(v)  # checks that v is a stack the kernel can write into
    _check_span(v, start, n * th * tw)
    _input_transform(np.ascontiguousarray(x), *_flat(v), v.shape[2], start, top, left, th, tw, *blocks,
                     *_reach(x.shape, top, left, tiles, m, blocks), m, _constants(x.dtype))  # fmt: skip
    return v


def input_adjoint(dv: np.ndarray, input_shape: tuple[int, int, int, int], top: int, left: int,
                  tiles: tuple[int, int], m: int = 2, blocks: tuple[int, int] = (1, 1), start: int = 0,
                  out: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """dV (n*n, B*C, T) -> dx (N, C, H, W) from dV's columns ``start``..; see
    :func:`minidl.backend.winograd.input_adjoint`."""
    dx = np.empty(input_shape, dtype=dv.dtype) if out is None else _out_array(out, input_shape)
    _check_span(dv, start, input_shape[0] * tiles[0] * tiles[1])
    _input_adjoint(*_flat(dv), dv.shape[2], start, dx, top, left, *tiles, *blocks,
                   *_reach(input_shape, top, left, tiles, m, blocks), m, _constants(dx.dtype))  # fmt: skip
    return dx


def output_transform(prod: np.ndarray, bias: np.ndarray | None, out_shape: tuple[int, int, int, int],
                     tiles: tuple[int, int], m: int = 2, start: int = 0,
                     out: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """M (n*n, O, T) -> y (N, O, oh, ow) from M's columns ``start``..; see
    :func:`minidl.backend.winograd.output_transform`."""
    y = np.empty(out_shape, dtype=prod.dtype) if out is None else _out_array(out, out_shape)
    _check_span(prod, start, out_shape[0] * tiles[0] * tiles[1])
    b = np.zeros(out_shape[1], dtype=prod.dtype) if bias is None else np.ascontiguousarray(bias, dtype=prod.dtype)
    _output_transform(*_flat(prod), prod.shape[2], start, b, y, *tiles, m, _constants(y.dtype))
    return y


def output_adjoint(g: np.ndarray, tiles: tuple[int, int], out: np.ndarray | None = None, m: int = 2,
                   start: int = 0) -> np.ndarray:
    """g (N, O, oh, ow) -> dM (n*n, O, T), or g's tiles written into columns ``start``.. of ``out``; see
    :func:`minidl.backend.winograd.output_adjoint`."""
    n, o = g.shape[:2]
    th, tw = tiles
    dm = stack((m + 2) ** 2, o, n * th * tw, g.dtype) if out is None else out
    _out_blocks(dm)  # checks that dm is a stack the kernel can write into
    _check_span(dm, start, n * th * tw)
    _output_adjoint(np.ascontiguousarray(g), *_flat(dm), dm.shape[2], start, th, tw, m, _constants(g.dtype))
    return dm


def block_samples(tiles: tuple[int, int]) -> int:
    """Samples per block of the fused kernels: :data:`BLOCK_TILES` tiles' worth, at least one."""
    return max(1, BLOCK_TILES // (tiles[0] * tiles[1]))


def fused_forward(x: np.ndarray, u: np.ndarray, bias: np.ndarray | None, out_size: tuple[int, int], top: int,
                  left: int, tiles: tuple[int, int], m: int, blocks: tuple[int, int], groups: int,
                  keep_v: bool) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """y (N, O, oh, ow) of x (N, C, H, W) and U (n*n, O, B*C/G), the batch in blocks of
    :func:`block_samples` samples, each transformed, multiplied and transformed back while in cache (see
    :func:`minidl.backend.winograd.forward`); with ``keep_v`` also every block's V, contiguous one after
    another (block i at ``i * n*n*B*C*nb*per``), for :func:`fused_backward`."""
    n, c = x.shape[:2]
    nn, o = u.shape[:2]
    per, nb = tiles[0] * tiles[1], block_samples(tiles)
    count = -(-n // nb)
    size = nn * blocks[0] * blocks[1] * c * nb * per
    x, u = np.ascontiguousarray(x), np.ascontiguousarray(u)
    y = np.empty((n, o, *out_size), dtype=x.dtype)
    vk = np.empty(count * size if keep_v else 0, dtype=x.dtype)
    b = np.zeros(o, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias, dtype=x.dtype)
    geometry = (top, left, *tiles, *blocks, *_reach(x.shape, top, left, tiles, m, blocks), m, _constants(x.dtype))
    vm_bytes = nn * (blocks[0] * blocks[1] * c + o) * n * per * x.itemsize  # every block's V and M
    parts = threads.thread_ranges(count, x.nbytes + y.nbytes + vm_bytes)
    threads.parallel_for(lambda i: _fused_forward(x, u, b, y, vk, keep_v, *geometry, groups, nb, *parts[i]),
                         len(parts))  # fmt: skip
    return y, (vk if keep_v else None)


def fused_backward(g: np.ndarray, u: np.ndarray | None, u_shape: tuple[int, int, int], vk: np.ndarray | None,
                   x_shape: tuple[int, int, int, int], top: int, left: int, tiles: tuple[int, int], m: int,
                   blocks: tuple[int, int], groups: int) -> tuple[np.ndarray | None, np.ndarray | None]:  # fmt: skip
    """(dx, dU) of :func:`fused_forward` from the output gradient g (N, O, oh, ow): dx when U is given, dU (n*n, O,
    B*C/G) when the blocks' V are (``vk``), the batch in the same blocks (see :func:`_fused_backward`); dU summed
    per range of blocks in the dtype, the ranges' sums added in order."""
    n, nb = g.shape[0], block_samples(tiles)
    count = -(-n // nb)
    g = np.ascontiguousarray(g)
    need_x, has_v = u is not None, vk is not None
    uu = np.ascontiguousarray(u) if need_x else np.empty(u_shape, dtype=g.dtype)
    dx = np.empty(x_shape, dtype=g.dtype) if need_x else np.empty((0, 1, 1, 1), dtype=g.dtype)
    v = vk if has_v else np.empty(0, dtype=g.dtype)
    geometry = (top, left, *tiles, *blocks, *_reach(x_shape, top, left, tiles, m, blocks), m, _constants(g.dtype))
    parts = threads.thread_ranges(count, g.nbytes + dx.nbytes + v.nbytes)
    dus = [np.zeros(u_shape if has_v else (1, 1, 1), dtype=g.dtype) for _ in parts]
    threads.parallel_for(lambda i: _fused_backward(g, uu, v, has_v, dus[i], need_x, dx, *geometry, groups, nb,
                                                   *parts[i]), len(parts))  # fmt: skip
    return (dx if need_x else None), (threads.add_up(dus) if has_v else None)


def _check_span(a3: np.ndarray, start: int, count: int) -> None:
    """The kernels index columns start..start+count-1 of a (k, rows, cols) stack without bounds checks."""
    if not 0 <= start <= start + count <= a3.shape[2]:
        raise ValueError(f"winograd: tiles {start}..{start + count} do not fit a stack of {a3.shape[2]} columns")


def _out_array(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``out`` checked as an array the kernels can write through: ``shape``, C-contiguous (a slice of samples)."""
    if out.shape != tuple(shape) or not out.flags.c_contiguous:
        raise ValueError(f"winograd: out must be a C-contiguous array of shape {tuple(shape)}, got {out.shape}")
    return out

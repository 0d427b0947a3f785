"""Winograd F(2x2, 3x3): a 3x3 stride-1 convolution with 2.25x fewer multiplications than im2col.

The readable numpy reference; numba kernels (:mod:`minidl.backend.numba_winograd`) take over the
four tile transforms for float numpy arrays when the numba path is on. Used by
:mod:`minidl.ops.conv` for stride 1, dilation 1 and one group (:func:`applies`): 3x3 kernels, and
larger kernels cut into 3x3 blocks (:func:`forward`; 5x5 and 7x7 gain 1.56x and 1.36x).

Switching it, e.g. to compare with im2col (``MINIDL_WINOGRAD=0`` starts with it off)::

    from minidl.backend import winograd
    winograd.use_winograd(False)      # every convolution on im2col
    winograd.winograd_enabled()       # False; True again after use_winograd(True) (needs numba)

The idea (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Cut the output
into 2x2 tiles; tile (ty, tx) of sample n needs the 4x4 input window ``d`` starting at padded
position (2ty, 2tx). In one dimension, two outputs of a 3-tap filter ``g`` over 4 inputs take 4
multiplications instead of 6; nested in two dimensions, 16 instead of 36::

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, 4x4)

    B^T = [[1, 0, -1,  0],     G = [[1,    0,   0 ],     A^T = [[1, 1,  1,  0],
           [0, 1,  1,  0],          [1/2, 1/2, 1/2],            [0, 1, -1, -1]]
           [0, -1, 1,  0],          [1/2,-1/2, 1/2],
           [0, 1,  0, -1]]          [0,    0,   1 ]]

Summed over input channels, the elementwise product becomes 16 independent matrix products, one
per position k = 4a + b of the 4x4 transformed tile. With T = N*th*tw tiles::

    forward     V  = input_transform(x)     (16, C, T)    B^T d B of every tile
                U  = weight_transform(w)    (16, O, C)    G g G^T of every filter
                M  = U @ V                  (16, O, T)    16 GEMMs of O x C x T
                y  = output_transform(M)    (N, O, oh, ow)  A^T m A (+ bias), tiles past oh/ow cut
    backward    dM = output_adjoint(g)      (16, O, T)    A g A^T: the adjoint of output_transform
                dU = dM @ V^T               (16, O, C) -> dw = weight_adjoint(dU) = G^T dU G
                dV = U^T @ dM               (16, C, T) -> dx = input_adjoint(dV) = B dV B^T, added
                                                          onto the overlapping 4x4 windows

Each backward stage is the transpose of a forward stage, so the gradients are exact (up to
rounding). The GEMMs do 16*O*C*T multiply-adds where im2col does 9*O*C*4T: 2.25x fewer; the
transforms move about 4x the input and output instead of im2col's 9x copy of the input. F(2x2,
3x3) keeps float32 error at the level of direct convolution (its constants are 0, 1 and 1/2;
measured against float64: 0.7-2.6e-6 on outputs of size ~5, as im2col's and torch's); larger tiles
(F(4x4, 3x3), 4x fewer multiplications) have larger constants, lose more float32 digits (Lavin &
Gray) and are not used.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from minidl.backend import array_module, numba_kernels_or_none

__all__ = [
    "applies",
    "backward",
    "forward",
    "input_adjoint",
    "input_transform",
    "kernel_blocks",
    "output_adjoint",
    "output_transform",
    "overlap",
    "stack",
    "tiles_for",
    "use_winograd",
    "weight_adjoint",
    "weight_transform",
    "winograd_enabled",
    "workspace",
]

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])

#: below this many input channels a layer stays on im2col: the 16 GEMMs' inner dimension is C,
#: and for thin C (the first layer's 3) BLAS runs far below its speed (measured on the course CNN)
MIN_CHANNELS = 16
#: Winograd must save at least this many GEMM multiply-adds per weight and 3x3 block (im2col's
#: kh*kw*N*oh*ow minus its own 16*B*T) to pay for transforming the weights and their gradient (16*O*C
#: values per block each way) and for the tile area cut off odd sizes. Measured (3x3, fwd+bwd, float32,
#: 2 threads): 512->512 at 2x2, batch 8 (160 saved) 1.5x slower than im2col, at 1x1, batch 32 (saving
#: < 0) 4.9x slower; 512->512 at 2x2, batch 32 (640) 0.83x; every course-CNN, ResNet-18 and VGG-11
#: layer above it 0.43-0.73x.
MIN_SAVED_PER_WEIGHT = 384

_wanted = [os.environ.get("MINIDL_WINOGRAD", "1").strip() != "0"]


def use_winograd(enabled: bool = True) -> None:
    """Turn the Winograd path of stride-1 convolutions on or off (``MINIDL_WINOGRAD=0`` starts off)."""
    _wanted[0] = bool(enabled)


def winograd_enabled() -> bool:
    """Whether eligible convolutions use Winograd: switched on, and the numba kernels available."""
    return _wanted[0] and numba_kernels_or_none() is not None


def applies(x: Any, weight_shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int],
            groups: int, out_size: tuple[int, int]) -> bool:  # fmt: skip
    """Whether conv2d of ``x`` (N, C, H, W) with this geometry, giving ``out_size`` (oh, ow), takes the
    Winograd path.

    Stride 1, dilation 1, one group, at least :data:`MIN_CHANNELS` input channels, a float32/float64
    numpy array, the path on (:func:`winograd_enabled`), any padding, and enough work saved: im2col's
    kh*kw*N*oh*ow multiply-adds per weight minus Winograd's 16*B*T (B 3x3 blocks cover the kernel,
    T 2x2 output tiles) at least :data:`MIN_SAVED_PER_WEIGHT` per block. That takes 3x3 kernels and
    larger ones that gain from blocks (5x5: 64 multiplications per tile where im2col does 100; 7x7:
    144 vs 196), never 1x1, 2x2 or 4x4 kernels (no gain).
    """
    if not (stride == (1, 1) and dilation == (1, 1) and groups == 1):
        return False
    n, c = x.shape[:2]
    kh, kw = weight_shape[2:]
    bh, bw = kernel_blocks(kh, kw)
    th, tw = tiles_for(*out_size)
    saved = kh * kw * n * out_size[0] * out_size[1] - 16 * bh * bw * n * th * tw  # per weight
    return (
        c >= MIN_CHANNELS
        and saved >= MIN_SAVED_PER_WEIGHT * bh * bw
        and type(x) is np.ndarray
        and x.dtype in (np.float32, np.float64)
        and winograd_enabled()
    )


def tiles_for(out_h: int, out_w: int) -> tuple[int, int]:
    """The number of 2x2 output tiles along each dim, (ceil(oh/2), ceil(ow/2))."""
    return (out_h + 1) // 2, (out_w + 1) // 2


def stack(k: int, rows: int, cols: int, dtype: Any, out: np.ndarray | None = None) -> np.ndarray:
    """An empty (k, rows, cols) numpy array whose k blocks are each C-contiguous, 64 bytes apart
    beyond their size: the kernels stream through all 16 blocks at once, and blocks a multiple
    of 4 KiB apart would share cache sets (measured: the transforms ran 2-4x slower).

    ``out``: a flat buffer to carve the array from (a reused workspace), long enough.
    """
    dtype = np.dtype(dtype)
    step = rows * cols + 64 // dtype.itemsize
    buf = np.empty(k * step, dtype=dtype) if out is None else out[: k * step]
    return buf.reshape(k, step)[:, : rows * cols].reshape(k, rows, cols)


#: workspaces larger than this are allocated afresh each time instead of being kept
MAX_WORKSPACE_BYTES = 256 * 2**20
_workspaces = threading.local()


def workspace(name: str, k: int, rows: int, cols: int, dtype: Any) -> np.ndarray:
    """A :func:`stack` carved from a buffer kept between calls under ``name`` (per thread).

    For the GEMM results that live only within one forward or backward call (M, dM, dV):
    reusing their memory saves the page faults of a fresh allocation (numpy gives large
    blocks back to the OS on free; about 2 ms per 32 MB here). The buffer grows as needed.
    """
    dtype = np.dtype(dtype)
    need = k * (rows * cols + 64 // dtype.itemsize)
    if need * dtype.itemsize > MAX_WORKSPACE_BYTES:
        return stack(k, rows, cols, dtype)
    buf = getattr(_workspaces, name, None)
    if buf is None or buf.dtype != dtype or buf.size < need:
        buf = np.empty(need, dtype=dtype)
        setattr(_workspaces, name, buf)
    return stack(k, rows, cols, dtype, buf)


def kernel_blocks(kh: int, kw: int) -> tuple[int, int]:
    """How many 3x3 blocks cover a (kh, kw) kernel, per dim: (ceil(kh/3), ceil(kw/3))."""
    return -(-kh // 3), -(-kw // 3)


def _block_weights(w: np.ndarray) -> np.ndarray:
    """w (O, C, kh, kw) -> (O, B*C, 3, 3): the kernel zero-padded to 3bh x 3bw and cut into its B 3x3
    blocks, block (a, b) = w[..., 3a:3a+3, 3b:3b+3] as input channels a*bw + b, each C of them."""
    o, c, kh, kw = w.shape
    bh, bw = kernel_blocks(kh, kw)
    if (kh, kw) != (3 * bh, 3 * bw):
        w = np.pad(w, ((0, 0), (0, 0), (0, 3 * bh - kh), (0, 3 * bw - kw)))
    return w.reshape(o, c, bh, 3, bw, 3).transpose(0, 2, 4, 1, 3, 5).reshape(o, bh * bw * c, 3, 3)


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: Any,
            keep: tuple[bool, bool]) -> tuple[np.ndarray, tuple[Any, ...]]:  # fmt: skip
    """conv2d of x (N, C, H, W) with w (O, C, kh, kw), stride 1, padding ((top, bottom), (left, right)).

    A kernel larger than 3x3 is cut into 3x3 blocks (zero-padded to a multiple of 3): block (a, b)
    is a 3x3 convolution of the input shifted by (3a, 3b), i.e. with ``top - 3a`` rows of padding
    (negative: rows cut off); the blocks' transformed inputs stack along the channels, so one set
    of 16 GEMMs sums them (K = B*C). Returns y (N, O, oh, ow) and what :func:`backward` needs: V
    when ``keep[0]`` (the weight gradient is wanted), U when ``keep[1]`` (the input gradient is).
    """
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (top, bottom), (left, right) = padding
    oh, ow = h + top + bottom - kh + 1, wd + left + right - kw + 1
    tiles = tiles_for(oh, ow)
    t = n * tiles[0] * tiles[1]
    bh, bw = kernel_blocks(kh, kw)
    v = stack(16, bh * bw * c, t, x.dtype)  # (16, B*C, T)
    for a in range(bh):
        for bb in range(bw):
            i = a * bw + bb
            input_transform(x, top - 3 * a, left - 3 * bb, tiles, out=v[:, i * c : (i + 1) * c])
    u = weight_transform(_block_weights(w))  # (16, O, B*C)
    m = np.matmul(u, v, out=workspace("m", 16, o, t, x.dtype))  # (16, O, T)
    y = output_transform(m, b, (n, o, oh, ow), tiles)
    return y, (v if keep[0] else None, u if keep[1] else None, x.shape, (kh, kw), (top, left), tiles)


def backward(g: np.ndarray, saved: tuple[Any, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dx, dw) from the output gradient g (N, O, oh, ow) and :func:`forward`'s saved values;
    dx is None when U was not kept, dw when V was not."""
    v, u, x_shape, (kh, kw), (top, left), tiles = saved
    n, o = g.shape[:2]
    c = x_shape[1]
    bh, bw = kernel_blocks(kh, kw)
    t = n * tiles[0] * tiles[1]
    dm = output_adjoint(g, tiles, out=workspace("dm", 16, o, t, g.dtype))  # (16, O, T)
    dw = dx = None
    if v is not None:  # dU (16, O, B*C) -> the blocks' gradients (O, B*C, 3, 3) -> the kernel's
        db = weight_adjoint(np.matmul(dm, v.transpose(0, 2, 1)))
        dw = db.reshape(o, bh, bw, c, 3, 3).transpose(0, 3, 1, 4, 2, 5).reshape(o, c, 3 * bh, 3 * bw)
        dw = np.ascontiguousarray(dw[:, :, :kh, :kw])
    if u is not None:
        dv = np.matmul(u.transpose(0, 2, 1), dm, out=workspace("dv", 16, bh * bw * c, t, g.dtype))
        for a in range(bh):
            for bb in range(bw):
                i = a * bw + bb
                part = input_adjoint(dv[:, i * c : (i + 1) * c], x_shape, top - 3 * a, left - 3 * bb, tiles)
                dx = part if dx is None else np.add(dx, part, out=dx)
    return dx, dw


def _kernels() -> Any:
    from minidl.backend import numba_winograd

    return numba_winograd


def _use_kernels(*arrays: Any) -> bool:
    return numba_kernels_or_none() is not None and all(type(a) is np.ndarray for a in arrays)


def _tiles_view(xpad: Any, th: int, tw: int, size: int) -> Any:
    """The (N, C, th, tw, size, size) view of the windows starting at (2ty, 2tx) of ``xpad``."""
    xp = array_module(xpad)
    s_n, s_c, s_h, s_w = xpad.strides
    shape = (*xpad.shape[:2], th, tw, size, size)
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=(s_n, s_c, 2 * s_h, 2 * s_w, s_h, s_w))


def _apply(mat: np.ndarray, a: Any, axis: int) -> Any:
    """Multiply the small constant matrix ``mat`` (r, s) into axis ``axis`` (of length s) of ``a``."""
    xp = array_module(a)
    m = xp.asarray(mat, dtype=a.dtype)
    return xp.moveaxis(xp.tensordot(m, a, axes=([1], [axis])), 0, axis)


def overlap(size: int, before: int, span: int) -> tuple[int, int]:
    """Input rows [lo, hi) that land in padded rows [0, span) when ``before`` rows are added in front
    (a negative ``before`` crops the first -before rows instead)."""
    lo = min(size, max(0, -before))
    return lo, max(lo, min(size, span - before))


def input_transform(x: Any, top: int, left: int, tiles: tuple[int, int], out: Any | None = None) -> Any:
    """x (N, C, H, W) -> V (16, C, T): ``B^T d B`` of each tile's 4x4 window, k = 4a + b.

    Tile t = (n*th + ty)*tw + tx reads padded rows 2ty..2ty+3 and columns 2tx..2tx+3, with
    ``top``/``left`` zeros before the input (negative: that many input rows/columns cut off) and
    as many as needed after it. ``out``: a (16, C, T) array with C-contiguous blocks to write V into
    (e.g. the channels of a larger :func:`stack`; the numba path), returned.
    """
    if _use_kernels(x):
        return _kernels().input_transform(x, top, left, tiles, out)
    xp = array_module(x)
    n, c, h, w = x.shape
    th, tw = tiles
    xpad = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    (r0, r1), (c0, c1) = overlap(h, top, 2 * th + 2), overlap(w, left, 2 * tw + 2)
    xpad[:, :, top + r0 : top + r1, left + c0 : left + c1] = x[:, :, r0:r1, c0:c1]
    d = _tiles_view(xpad, th, tw, 4)  # (N, C, th, tw, 4, 4)
    v = _apply(B_T, _apply(B_T, d, 4), 5)  # B^T d B
    v = xp.ascontiguousarray(v.transpose(4, 5, 1, 0, 2, 3)).reshape(16, c, n * th * tw)
    if out is not None:
        out[...] = v
        return out
    return v


def input_adjoint(dv: Any, input_shape: tuple[int, int, int, int], top: int, left: int,
                  tiles: tuple[int, int]) -> Any:  # fmt: skip
    """dV (16, C, T) -> dx (N, C, H, W): the adjoint of :func:`input_transform`.

    Each tile's ``B dV B^T`` is added onto the 4x4 window it came from; neighbouring windows
    overlap by two rows/columns, so this adds (16 strided slice-adds), and the padding is cut off.
    """
    if _use_kernels(dv):
        return _kernels().input_adjoint(dv, input_shape, top, left, tiles)
    xp = array_module(dv)
    n, c, h, w = input_shape
    th, tw = tiles
    d = dv.reshape(4, 4, c, n, th, tw).transpose(3, 2, 4, 5, 0, 1)  # (N, C, th, tw, 4, 4)
    d = _apply(B_T.T, _apply(B_T.T, d, 4), 5)  # B dV B^T
    acc = xp.zeros((n, c, 2 * th + 2, 2 * tw + 2), dtype=dv.dtype)
    for i in range(4):
        for j in range(4):
            acc[:, :, i : i + 2 * th : 2, j : j + 2 * tw : 2] += d[..., i, j]
    dx = xp.zeros(input_shape, dtype=dv.dtype)  # cells no tile reaches get no gradient
    (r0, r1), (c0, c1) = overlap(h, top, 2 * th + 2), overlap(w, left, 2 * tw + 2)
    dx[:, :, r0:r1, c0:c1] = acc[:, :, top + r0 : top + r1, left + c0 : left + c1]
    return dx


def output_transform(m: Any, bias: Any | None, out_shape: tuple[int, int, int, int], tiles: tuple[int, int]) -> Any:
    """M (16, O, T) -> y (N, O, oh, ow): ``A^T m A`` of each tile (+ ``bias`` (O,)), cut to oh x ow."""
    if _use_kernels(m):
        return _kernels().output_transform(m, bias, out_shape, tiles)
    xp = array_module(m)
    n, o, oh, ow = out_shape
    th, tw = tiles
    t = m.reshape(4, 4, o, n, th, tw)
    y = _apply(A_T, _apply(A_T, t, 0), 1)  # (2, 2, O, N, th, tw)
    full = y.transpose(3, 2, 4, 0, 5, 1).reshape(n, o, 2 * th, 2 * tw)
    out = xp.empty(out_shape, dtype=m.dtype)
    out[...] = full[:, :, :oh, :ow]
    if bias is not None:
        out += bias.reshape(o, 1, 1)
    return out


def output_adjoint(g: Any, tiles: tuple[int, int], out: np.ndarray | None = None) -> Any:
    """g (N, O, oh, ow) -> dM (16, O, T): the adjoint of :func:`output_transform`, ``A g A^T`` per tile.

    ``out``: a (16, O, T) array to write dM into (the numba path; e.g. a :func:`workspace`).
    """
    if _use_kernels(g):
        return _kernels().output_adjoint(g, tiles, out)
    xp = array_module(g)
    n, o, oh, ow = g.shape
    th, tw = tiles
    gpad = xp.zeros((n, o, 2 * th, 2 * tw), dtype=g.dtype)
    gpad[:, :, :oh, :ow] = g
    t = gpad.reshape(n, o, th, 2, tw, 2).transpose(3, 5, 1, 0, 2, 4)  # (2, 2, O, N, th, tw)
    dm = _apply(A_T.T, _apply(A_T.T, t, 0), 1)  # (4, 4, O, N, th, tw)
    return xp.ascontiguousarray(dm).reshape(16, o, n * th * tw)


#: G g G^T of a 3x3 filter g, flattened: kron(G, G) (16, 9) maps g's 9 taps (row-major) to the 16
#: values, k = 4a + b. One small-K GEMM transforms every filter at once.
GG = np.kron(G, G)


def weight_transform(w: Any) -> Any:
    """w (O, C, 3, 3) -> U (16, O, C): ``G g G^T`` of every filter, k = 4a + b."""
    xp = array_module(w)
    o, c = w.shape[:2]
    gg = xp.asarray(GG, dtype=w.dtype)
    return xp.matmul(gg, w.reshape(o * c, 9).T).reshape(16, o, c)


def weight_adjoint(du: Any) -> Any:
    """dU (16, O, C) -> dw (O, C, 3, 3): the adjoint of :func:`weight_transform`, ``G^T dU G``."""
    xp = array_module(du)
    o, c = du.shape[1:]
    gg = xp.asarray(GG, dtype=du.dtype)
    return xp.matmul(du.reshape(16, o * c).T, gg).reshape(o, c, 3, 3)

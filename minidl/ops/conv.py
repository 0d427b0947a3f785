"""2-D convolution and its adjoint, the transposed convolution (``conv2d``, ``conv_transpose2d``).

Both are one :class:`~minidl.autograd.Function` each, built from ``im2col``/``col2im``
(:mod:`minidl.backend.im2col`, where the column layout is explained) and ONE matrix
product per chunk of the batch. Shapes, with G groups, K = C/G*kh*kw (a column's length)
and L = N*oh*ow (the number of windows)::

    conv2d            x (N, C, H, W), w (O, C/G, kh, kw), b (O,)  ->  y (N, O, oh, ow)
      forward         cols = im2col(x)                   (G, K, L)
                      y    = w (G, O/G, K) @ cols + b    (G, O/G, L) -> (N, O, oh, ow)
      backward        dw   = g (G, O/G, L) @ cols^T      (G, O/G, K)
                      dx   = col2im(w^T @ g)             (G, K, L) -> (N, C, H, W)
                      db   = g summed over N, oh, ow

    conv_transpose2d  x (N, Cin, H, W), w (Cin, Cout/G, kh, kw), b (Cout,) -> y (N, Cout, Hout, Wout)
      forward         y    = col2im(w^T @ x) + b         (conv2d's dx, with x in g's place)
      backward        dx   = w @ im2col(g)               (conv2d's forward, on g)
                      dw   = x @ im2col(g)^T             (conv2d's dw, roles swapped)

Groups are a batched matmul over the leading G axis (depthwise: G = C). The GEMMs run on minidl's
threads (:func:`minidl.backend.threads.matmul`), never on BLAS's own.

Convolutions with stride 1, dilation 1, at least 16 input channels per group and enough
batch x output area (``winograd.plan``) take another path on the CPU when the numba kernels
are on: Winograd F(2x2, 3x3), or F(4x4, 3x3) on large layers (:mod:`minidl.backend.winograd`),
for 3x3 kernels (grouped ones too) and for larger ones cut into 3x3 blocks (5x5: 4 blocks, 64
multiplications per 2x2 tile where im2col does 100; one group only). Measured forward + backward:
F(2x2) 1.3-1.7x faster than im2col on the course CNN's 3x3 layers, 1.2-1.25x on LeNet's 5x5 layers;
F(4x4) another 1.3-1.4x on the course CNN's; a groups=4 128-channel layer at 8x8 1.9x. It runs when
its buffers ((m+2)^2*(B*C + O) values per m x m output tile, B blocks) fit the memory limit below.
A dilated stride-1 convolution whose padding and input size are multiples of the dilation d (the
"same" dilated layers of segmentation nets, on even maps) is d*d undilated ones on the input's
phases x[:, :, r::d, s::d]: those go through Winograd as a batch of N*d*d (``winograd.phases``;
the benchmark's 3x3 dilation-2 layer at 16x16 0.72x im2col's time, 256 channels at 32x32 0.39x).
A strided convolution with a large kernel (AlexNet's 11x11 stride 4, 5x5 stride 2) is a stride-1 one
of its input's phases stacked as channels, with kernels of ceil(k/s) taps (``winograd.strided``:
AlexNet's first layer as 48 channels of 3x3, fwd+bwd 0.52-0.66x im2col's time). ``_winograd_route``
picks the route.
``MINIDL_WINOGRAD=0`` or ``minidl.backend.winograd.use_winograd(False)`` keep every convolution on im2col.

The other convolutions on numpy floats with large output planes (at least 256 windows a sample: a first
layer, 1x1 layers at 16x16) run one sample at a time when the numba kernels are on
(:mod:`minidl.backend.numba_conv`): each sample's columns built, multiplied and written as its output
planes while in cache, no layout swap (the course CNN's first layer forward 0.52-0.73x the sliced path's
time, forward + dW 0.6x).

Taps at the kernel's edges that read only padding (every window puts them outside the input)
are cut off first, with as much padding: a 3x3 convolution with padding 1 of a 1x1 map, as in
ResNet's last stage on 32x32 images, runs as the 1x1 convolution it is (9x fewer multiply-adds;
ResNet-18's step 85-90 -> 77 ms). Their weight gradient is 0.

Threads: on numpy arrays the im2col path works on slices of the batch (:func:`_slices`, about
:data:`SLICE_BYTES` of columns and GEMM rows each), minidl's threads taking them in turn
(:func:`minidl.backend.threads.parallel_for`): a slice's columns, its GEMM and its layout swap, and in
backward its share of dw and db and its dx. Measured on 2 cores (AVX-512), fwd+bwd: the course CNN's
first layer 10.0 -> 8.5 ms, the benchmark's stride-2 layer 27-29 -> 24-25 ms (against the same GEMMs cut
over the threads, the rest on one).

Memory: the columns hold kh*kw copies of the input. When those of the whole batch would
exceed the limit (512 MB by default, :func:`set_im2col_memory_limit`), the batch is cut
into chunks that fit, and backward rebuilds each chunk's columns instead of keeping
them. Otherwise forward keeps the columns for the weight gradient (only when the weight
needs one). Backward holds a chunk's columns and their gradient at once: at most twice
the limit (the threads' slices together at most a chunk).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module, numba_kernels_or_none, threads, winograd
from minidl.backend.im2col import Pads, col2im, conv_output_size, im2col, tap_range
from minidl.errors import ShapeError
from minidl.tensor import Tensor

__all__ = [
    "conv2d",
    "conv_transpose2d",
    "get_im2col_memory_limit",
    "set_im2col_memory_limit",
]

_MEMORY_LIMIT = [512 * 2**20]


def set_im2col_memory_limit(nbytes: int) -> None:
    """Cap the bytes of im2col columns built at once (default 512 MB); larger batches run in chunks."""
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes <= 0:
        raise ValueError(f"set_im2col_memory_limit: expected a positive number of bytes, got {nbytes!r}")
    _MEMORY_LIMIT[0] = nbytes


def get_im2col_memory_limit() -> int:
    """The current cap, in bytes, on the im2col columns built at once."""
    return _MEMORY_LIMIT[0]


def _batch_chunks(n: int, bytes_per_sample: int) -> list[tuple[int, int]]:
    """Split samples 0..n into [lo, hi) ranges whose columns fit the memory limit (at least one sample each)."""
    per = max(1, _MEMORY_LIMIT[0] // max(bytes_per_sample, 1))
    if per >= n:
        return [(0, n)]
    return [(lo, min(lo + per, n)) for lo in range(0, n, per)]


#: bytes of one slice's columns and GEMM rows that one thread builds and multiplies in one go (see _slices).
#: Each slice's Python runs under the GIL: smaller slices serialise the threads (measured fwd+bwd, 2 cores:
#: the course CNN's first layer 19.1, 13.7, 11.6, 9.3-10.1, 9.0-9.9 ms at 0.5, 1, 2, 4 and 8 MB; the
#: stride-2 layer 37.8, 29.4, 26.8, 24.8-25.1, 24.4-24.7 ms)
SLICE_BYTES = 8 * 2**20


def _slices(x: Any, n: int, cols_bytes: int, rows_bytes: int, weight_bytes: int) -> list[tuple[int, int]]:
    """Samples 0..n cut into [lo, hi) slices for the im2col path, each built into columns, multiplied and laid
    out by one thread while in cache (:func:`minidl.backend.threads.parallel_for`): about :data:`SLICE_BYTES`
    of columns and rows each, at least two per thread; one per thread where the weights outweigh a slice's
    columns and rows (each slice's GEMM reads them all); never more columns at once than the memory limit
    (:func:`_batch_chunks`). One thread, or a cupy array: the memory limit's chunks only."""
    chunks = _batch_chunks(n, cols_bytes)
    workers = threads.threads_for(n * (cols_bytes + rows_bytes)) if type(x) is np.ndarray else 1
    if workers < 2 or n < 2:
        return chunks
    per = max(1, SLICE_BYTES // max(cols_bytes + rows_bytes, 1))
    fewest = workers if weight_bytes >= per * (cols_bytes + rows_bytes) else 2 * workers
    return threads.even_ranges(n, max(-(-n // per), fewest, -(-n // max(1, chunks[0][1] // workers))))


def _to_rows(a: Any, groups: int) -> Any:
    """(n, O, h, w) -> (G, O/G, n*h*w), contiguous: the GEMM operand layout (moves rows of h*w values)."""
    xp = array_module(a)
    n, o, h, w = a.shape
    return xp.ascontiguousarray(a.transpose(1, 0, 2, 3)).reshape(groups, o // groups, n * h * w)


def _from_rows(a3: Any, n: int, h: int, w: int) -> Any:
    """(G, O/G, n*h*w) -> (n, O, h, w), a view."""
    return a3.reshape(a3.shape[0] * a3.shape[1], n, h, w).transpose(1, 0, 2, 3)


def _bias_grad(g: Any) -> Any:
    """g (N, O, h, w) summed to (O,): first over the samples (whole contiguous rows of O*h*w values), then
    over each channel's h*w. numpy's ``g.sum(axis=(0, 2, 3))`` walks rows of w values: 2.5-30x slower
    on the course CNN's gradients (30x at 2x2)."""
    n, o, h, w = g.shape
    return g.reshape(n, o * h * w).sum(axis=0).reshape(o, h * w).sum(axis=1)


def _layout_kernels(*arrays: Any) -> Any:
    """The numba kernels module when it takes these arrays (numpy floats, numba path on), else None: its
    ``rows_to_planes`` / ``planes_to_rows`` do the layout swaps around im2col's GEMMs (the bias add, or the
    bias gradient's sums, in the same pass) at a third of numpy's time."""
    nk = numba_kernels_or_none()
    return nk if nk is not None and nk.supports(*arrays) else None


def _per_sample_kernels() -> Any:
    from minidl.backend import numba_conv

    return numba_conv


def _per_sample(x: Any, w: Any, out_size: tuple[int, int]) -> bool:
    """Whether the convolution runs one sample at a time in the numba kernels (:mod:`minidl.backend.numba_conv`:
    numba on, numpy floats, large output planes), else in slices of the batch."""
    return numba_kernels_or_none() is not None and _per_sample_kernels().applies(x, w, out_size)


def _matmul_t(a: Any, b: Any) -> Any:
    """a @ b^T for stacks of matrices (BLAS reads the transposed operand in place)."""
    return threads.matmul(a, b.transpose(0, 2, 1))


# ---------------------------------------------------------------------------- conv2d
@functools.lru_cache(maxsize=1024)  # pure, and asked again with the same geometry on every step
def _live_taps(
    kernel: tuple[int, int], size: tuple[int, int], stride: tuple[int, int], padding: Pads, dilation: tuple[int, int]
) -> tuple[tuple[int, int, int, int], Pads] | None:
    """The kernel rows/columns [i0, i1) x [j0, j1) that read some input cell, and the padding that gives
    the same output with only those taps; None when every tap is live or the padding would go negative.

    A tap at the kernel's edge whose every window position falls in the padding multiplies only zeros;
    cutting it off (and as many padding rows) changes no output.
    """
    live, pads = [], []
    for k, n_in, s, (before, after), d in zip(kernel, size, stride, padding, dilation):
        n_out = conv_output_size(n_in, k, s, (before, after), d)
        taps = [i for i in range(k) if n_out > 0 and _reads_input(tap_range(n_in, n_out, i * d, s, before))]
        if not taps:
            return None
        lo, hi = taps[0], taps[-1] + 1
        new = (before - lo * d, after - (k - hi) * d)
        if min(new) < 0:
            return None
        live.append((lo, hi))
        pads.append(new)
    if live[0] == (0, kernel[0]) and live[1] == (0, kernel[1]):
        return None
    return (*live[0], *live[1]), (pads[0], pads[1])


@functools.lru_cache(maxsize=256)
def _tap_index(kw: int, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
    """The flat positions i*kw + j of the kernel taps [i0, i1) x [j0, j1), row by row."""
    return (np.arange(i0, i1)[:, None] * kw + np.arange(j0, j1)[None, :]).reshape(-1)


def _kernel_taps(w: Any, i0: int, i1: int, j0: int, j1: int) -> Any:
    """w (O, C, kh, kw) -> the contiguous (O, C, i1-i0, j1-j0) block of taps [i0, i1) x [j0, j1).

    One gather over the flattened kernels: numpy's copy of the strided slice ``w[:, :, i0:i1, j0:j1]`` moves
    runs of 2-3 values and took 4x as long (ResNet-18's 256->512 3x3 stride-2 conv at 2x2: 0.9 vs 0.2 ms).
    ``take`` along the taps' axis writes its result C-contiguous; the fancy index ``[:, taps]`` writes it
    taps-major, and the GEMM's reshape then copied it again (0.3 ms more on that layer).
    """
    o, c, kh, kw = w.shape
    xp = array_module(w)
    taps = xp.asarray(_tap_index(kw, i0, i1, j0, j1))
    return xp.take(w.reshape(o * c, kh * kw), taps, axis=1).reshape(o, c, i1 - i0, j1 - j0)


def _reads_input(windows: tuple[int, int, slice]) -> bool:
    lo, hi, _ = windows
    return hi > lo


class _Route(NamedTuple):
    """How a convolution runs on Winograd (:func:`_winograd_route`)."""

    tile: int  # m of F(m x m, 3x3)
    padding: Pads  # of the stride-1 convolution Winograd computes
    phases: tuple[int, int] | None  # dilated: (dh, dw) phases stacked as samples (winograd.phases)
    space: tuple[int, int] | None  # strided: (sh, sw) phases stacked as channels (winograd.strided)


def _winograd_route(x: Any, w_shape: tuple[int, ...], stride: tuple[int, int], padding: Pads,
                    dilation: tuple[int, int], groups: int, out: tuple[int, int]) -> _Route | None:  # fmt: skip
    """The Winograd route of this convolution, or None for im2col: stride 1 and dilation 1 as it is; a dilated
    one with padding and size multiples of the dilation as dh*dw undilated ones of its input's phases; a
    strided one with a large kernel (AlexNet's 11x11 stride 4) as a stride-1 one of its phases' channels.
    Only where :func:`winograd.plan` takes the stride-1 convolution and its buffers ((m+2)^2*(B*C + O)
    values per m x m output tile, B 3x3 blocks) fit the memory limit."""
    if type(x) is not np.ndarray:
        return None
    n, c, h, wd = x.shape
    o, _, kh, kw = w_shape
    phases = winograd.phases(stride, padding, dilation, (h, wd))
    space = None if phases else winograd.strided((kh, kw), stride, dilation, groups)
    if phases:
        (dh, dw), pads = phases, tuple((a // d, z // d) for (a, z), d in zip(padding, phases))
        n, out = n * dh * dw, (out[0] // dh, out[1] // dw)
    elif space:
        (sh, sw), pads = space, ((0, 0), (0, 0))
        c, kh, kw = c * sh * sw, -(-kh // sh), -(-kw // sw)
    elif stride == (1, 1) and dilation == (1, 1):
        pads = padding
    else:
        return None
    probe = np.empty((n, c, 0, 0), dtype=x.dtype)  # plan reads the batch, the channels and the dtype
    tile = winograd.plan(probe, (o, c // groups, kh, kw), (1, 1), (1, 1), groups, out)
    if not tile:
        return None
    (bh, bw), (th, tw) = winograd.kernel_blocks(kh, kw), winograd.tiles_for(*out, tile)
    if (tile + 2) ** 2 * (bh * bw * c + o) * n * th * tw * x.itemsize > _MEMORY_LIMIT[0]:
        return None
    return _Route(tile, pads, phases, space)


class Convolution(Function):
    """y = conv2d(x, w) + b (see the module docstring for the shapes and formulas).

    ``padding`` is ((top, bottom), (left, right)); a 3-D x (C, H, W) is one sample.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, dilation, groups):
        # taps that read only padding, at the kernel's edges, are cut off (with as much padding): a 3x3
        # convolution with padding 1 of a 1x1 input (ResNet's last stage at 32x32) is a 1x1 convolution
        trim = _live_taps(tuple(w.shape[2:]), tuple(x.shape[-2:]), tuple(stride), tuple(map(tuple, padding)),
                          tuple(dilation))  # fmt: skip
        ctx.full_kernel = None
        if trim is not None:
            (i0, i1, j0, j1), padding = trim
            ctx.full_kernel = (w.shape, (i0, i1, j0, j1))
            w = _kernel_taps(w, i0, i1, j0, j1)
        return Convolution._forward(ctx, x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g):
        gx, gw, gb = Convolution._backward(ctx, g)
        if ctx.full_kernel is not None and gw is not None:  # the cut-off taps read only zeros: gradient 0
            shape, box = ctx.full_kernel
            o, c, kh, kw = shape
            xp = array_module(gw)
            full = xp.zeros((o * c, kh * kw), dtype=gw.dtype)
            full[:, xp.asarray(_tap_index(kw, *box))] = gw.reshape(o * c, -1)
            gw = full.reshape(shape)
        return gx, gw, gb

    @staticmethod
    def _forward(ctx, x, w, b, stride, padding, dilation, groups):
        xp = array_module(x)
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        geom = ((kh, kw), stride, padding, dilation)
        oh = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
        ow = conv_output_size(wd, kw, stride[1], padding[1], dilation[1])
        k = c // groups * kh * kw
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.x_shape, ctx.geom, ctx.groups = (n, c, h, wd), geom, groups
        # Winograd's transformed input and GEMM result (forward), or their gradients (backward), together hold
        # (m+2)^2*(B*C + O) values per m x m tile (B: 3x3 blocks of the kernel): within the column memory
        # limit, else im2col (which can chunk)
        ctx.route = _winograd_route(x, w.shape, stride, padding, dilation, groups, (oh, ow))
        ctx.winograd = ctx.route is not None
        if ctx.winograd:  # 3x3, stride 1: 2.25-4x fewer multiplications (minidl/backend/winograd.py)
            route = ctx.route
            xw, ww = x, w
            if route.phases:  # dilated: the phases as more samples
                xw = winograd.to_phases(x, *route.phases)
            if route.space:  # strided: the phases as more channels, unpadded, smaller kernels
                xw = winograd.space_to_depth(x, padding[0][0], padding[1][0], (oh, ow), (kh, kw), stride)
                ww = winograd.strided_weights(w, stride)
            out, saved = winograd.forward(xw, ww, b, route.padding, (need_w, need_x), route.tile, groups)
            if route.phases:
                out = winograd.from_phases(out, *route.phases)
            ctx.save_for_backward(*saved[:2])
            ctx.winograd_geometry = saved[2:]
            ctx.kernel_and_pads = ((kh, kw), (padding[0][0], padding[1][0]), stride)
            return out[0] if ctx.unbatched else out

        ctx.per_sample = _per_sample(x, w, (oh, ow))
        if ctx.per_sample:  # large planes: each sample's columns and GEMM in cache, written as its planes
            ctx.save_for_backward(w if need_x else None, x if need_w else None)
            out = _per_sample_kernels().forward(x, w, b, geom, (oh, ow), groups)
            return out[0] if ctx.unbatched else out

        w3 = w.reshape(groups, o // groups, k)  # (G, O/G, K)
        cols_bytes = c * kh * kw * oh * ow * x.itemsize  # one sample's columns
        keep_cols = need_w and len(_batch_chunks(n, cols_bytes)) == 1
        parts = _slices(x, n, cols_bytes, o * oh * ow * x.itemsize, w.nbytes)
        out = xp.empty((n, o, oh, ow), dtype=x.dtype)
        nk = _layout_kernels(x, w)
        kept: list[Any] = [None] * len(parts)

        def one_slice(i: int) -> None:  # columns, GEMM, and the rows laid out as planes, for samples lo..hi-1
            lo, hi = parts[i]
            cols = im2col(x[lo:hi], *geom).reshape(groups, k, (hi - lo) * oh * ow)  # (G, K, L)
            rows = threads.matmul(w3, cols)  # (G, O/G, L)
            if nk is not None:  # the (O, N) -> (N, O) swap and the bias add in one compiled pass
                nk.rows_to_planes(rows, b, out[lo:hi])
            elif b is None:
                out[lo:hi] = _from_rows(rows, hi - lo, oh, ow)
            else:  # the bias add and the (O, N) -> (N, O) swap in one pass
                xp.add(_from_rows(rows, hi - lo, oh, ow), b.reshape(o, 1, 1), out=out[lo:hi])
            if keep_cols:
                kept[i] = cols

        threads.parallel_for(one_slice, len(parts), threads=None if xp is np else 1)
        ctx.chunks, ctx.cols_kept = parts, keep_cols
        # each slice's columns (or x, to build them again) and w; saved one by one, so that every array is seen
        ctx.save_for_backward(w if need_x else None, None if keep_cols or not need_w else x, *kept)
        return out[0] if ctx.unbatched else out

    @staticmethod
    def _backward(ctx, g):
        xp = array_module(g)
        w, x, *kept = ctx.saved_tensors
        need = ctx.needs_input_grad
        need_x, need_w, need_b = need[0], need[1], len(need) > 2 and need[2]
        if ctx.unbatched:
            g = g[None]
        if ctx.winograd:
            route = ctx.route
            gw_in = winograd.to_phases(g, *route.phases) if route.phases else g
            gx, gw = winograd.backward(gw_in, (*ctx.saved_tensors, *ctx.winograd_geometry))  # (V, U, ...)
            if route.phases and gx is not None:
                gx = winograd.from_phases(gx, *route.phases)
            if route.space:
                kernel, (top, left), stride = ctx.kernel_and_pads
                gx = None if gx is None else winograd.depth_to_space(gx, top, left, ctx.x_shape, stride)
                gw = None if gw is None else winograd.strided_weight_grad(gw, kernel, stride)
            gb = _bias_grad(g) if need_b else None
            return (gx[0] if ctx.unbatched and gx is not None else gx), gw, gb
        if ctx.per_sample:
            gx, gw, gb = _per_sample_kernels().backward(g, x, w, ctx.x_shape, ctx.geom, ctx.groups,
                                                        (need_x, need_w, need_b))  # fmt: skip
            return (gx[0] if ctx.unbatched and gx is not None else gx), gw, gb
        n, c, h, wd = ctx.x_shape
        G, geom = ctx.groups, ctx.geom
        oh, ow = g.shape[2:]
        k = c // G * geom[0][0] * geom[0][1]
        parts = ctx.chunks
        gx = xp.empty((n, c, h, wd), dtype=g.dtype) if need_x and len(parts) > 1 else None
        nk = _layout_kernels(g)
        # thin weight gradients (a first layer's: K = 27) straight from g's planes, bias sums on the way
        direct = need_w and nk is not None and nk.wgrad_direct_applies(g.shape[1], k, G)
        gws: list[Any] = [None] * len(parts)
        gbs: list[Any] = [None] * len(parts)

        def one_slice(i: int) -> None:  # samples lo..hi-1: their share of dw and db, and their dx
            lo, hi = parts[i]
            g3 = None
            if need_x or not direct:
                if nk is not None:  # the (N, O) -> (O, N) swap and the bias gradient's sums in one compiled pass
                    rows, part = nk.planes_to_rows(g[lo:hi], need_b and not direct)
                    g3 = rows.reshape(G, g.shape[1] // G, rows.shape[-1])
                else:
                    g3 = _to_rows(g[lo:hi], G)  # (G, O/G, L)
                    part = g3.reshape(g.shape[1], g3.shape[-1]).sum(axis=1) if need_b else None
                if need_b and not direct:
                    gbs[i] = part
            if need_w:
                if ctx.cols_kept:
                    cols = kept[i]
                else:
                    cols = im2col(x[lo:hi], *geom).reshape(G, k, (hi - lo) * oh * ow)
                if direct:
                    part, gbs[i] = nk.wgrad_direct(g[lo:hi], cols[0], need_b)
                    gws[i] = part[None]
                else:
                    gws[i] = _matmul_t(g3, cols)  # (G, O/G, K)
            if need_x:
                o = w.shape[0]
                w3 = w.reshape(G, o // G, k)
                gcols = threads.matmul(w3.transpose(0, 2, 1), g3)  # (G, K, L)
                part = col2im(gcols, (hi - lo, c, h, wd), *geom)
                if gx is None:  # the only slice
                    gxs.append(part)
                else:
                    gx[lo:hi] = part

        gxs: list[Any] = []
        threads.parallel_for(one_slice, len(parts), threads=None if xp is np else 1)
        if gxs:
            gx = gxs[0]
        gw3 = threads.add_up(gws) if need_w else None
        gb = threads.add_up(gbs) if need_b else None
        if gx is not None and ctx.unbatched:
            gx = gx[0]
        gw = None
        if gw3 is not None:
            gw = gw3.reshape(gw3.shape[0] * gw3.shape[1], c // G, *geom[0])
        return gx, gw, gb


# ---------------------------------------------------------------------------- conv_transpose2d
def _transpose_geometry(
    size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int
) -> tuple[int, tuple[int, int], int]:
    """For one dim of a transposed convolution: (output size, the pads of the matching
    convolution, the size of the part of the output that col2im fills).

    The output is the full canvas of (size - 1)*stride + dilation*(kernel - 1) + 1 cells
    with ``padding`` cropped from both ends and ``output_padding`` cells added at the end.
    Seen from the convolution that maps the output back onto the input, that is padding
    (padding, padding - output_padding); when output_padding > padding the last cells are
    beyond every window: they stay 0 (and get no gradient), so col2im fills only the rest.
    """
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    after = padding - output_padding
    return out, (padding, max(after, 0)), out - max(-after, 0)


class ConvolutionTranspose(Function):
    """y = conv_transpose2d(x, w) + b, the adjoint of conv2d (module docstring for shapes).

    ``padding`` and ``output_padding`` are (h, w) pairs; a 3-D x (Cin, H, W) is one sample.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
        xp = array_module(x)
        ctx.unbatched = x.ndim == 3
        if ctx.unbatched:
            x = x[None]
        n, cin, h, wd = x.shape
        _, cog, kh, kw = w.shape
        cout = cog * groups
        out_h, pads_h, core_h = _transpose_geometry(h, kh, stride[0], padding[0], output_padding[0], dilation[0])
        out_w, pads_w, core_w = _transpose_geometry(wd, kw, stride[1], padding[1], output_padding[1], dilation[1])
        geom = ((kh, kw), stride, (pads_h, pads_w), dilation)
        k = cog * kh * kw
        w3 = w.reshape(groups, cin // groups, k)  # (G, Cin/G, K)
        chunks = _batch_chunks(n, cout * kh * kw * h * wd * x.itemsize)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        keep_rows = need_w and len(chunks) == 1
        filled = (core_h, core_w) == (out_h, out_w)

        out = None
        if len(chunks) > 1 or not filled:
            out = (xp.empty if filled else xp.zeros)((n, cout, out_h, out_w), dtype=x.dtype)
        x3 = None
        for lo, hi in chunks:
            x3 = _to_rows(x[lo:hi], groups)  # (G, Cin/G, L)
            cols = threads.matmul(w3.transpose(0, 2, 1), x3)  # (G, K, L)
            y = col2im(cols, (hi - lo, cout, core_h, core_w), *geom)
            if out is None:
                out = y
            else:
                out[lo:hi, :, :core_h, :core_w] = y
        if b is not None:
            out += b.reshape(cout, 1, 1)

        ctx.x_shape, ctx.geom, ctx.groups, ctx.chunks = (n, cin, h, wd), geom, groups, chunks
        ctx.core, ctx.rows_kept = (core_h, core_w), keep_rows
        ctx.save_for_backward(x3 if keep_rows else (x if need_w else None), w if need_x else None)
        return out[0] if ctx.unbatched else out

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        rows_or_x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        need_x, need_w, need_b = need[0], need[1], len(need) > 2 and need[2]
        if ctx.unbatched:
            g = g[None]
        n, cin, h, wd = ctx.x_shape
        G, geom = ctx.groups, ctx.geom
        core_h, core_w = ctx.core
        k = g.shape[1] // G * geom[0][0] * geom[0][1]
        gx = gw3 = None
        gb = _bias_grad(g) if need_b else None
        if need_x and len(ctx.chunks) > 1:
            gx = xp.empty((n, cin, h, wd), dtype=g.dtype)
        for lo, hi in ctx.chunks:
            if not (need_x or need_w):
                break
            cols = im2col(g[lo:hi, :, :core_h, :core_w], *geom).reshape(G, k, (hi - lo) * h * wd)  # (G, K, L)
            if need_x:
                w3 = w.reshape(G, cin // G, k)
                part = _from_rows(threads.matmul(w3, cols), hi - lo, h, wd)
                if gx is None:
                    gx = xp.ascontiguousarray(part)
                else:
                    gx[lo:hi] = part
            if need_w:
                x3 = rows_or_x if ctx.rows_kept else _to_rows(rows_or_x[lo:hi], G)
                part = _matmul_t(x3, cols)  # (G, Cin/G, K)
                gw3 = part if gw3 is None else gw3 + part
        if gx is not None and ctx.unbatched:
            gx = gx[0]
        gw = None
        if gw3 is not None:
            gw = gw3.reshape(cin, k // (geom[0][0] * geom[0][1]), *geom[0])
        return gx, gw, gb


# ---------------------------------------------------------------------------- argument checks
def _pair(op: str, name: str, value: Any) -> tuple[int, int]:
    """An int or a sequence of 1 or 2 ints as an (h, w) pair (torch's rule)."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a tuple of 2 ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            if len(items) == 1:
                return (items[0], items[0])
            if len(items) == 2:
                return (items[0], items[1])
            raise RuntimeError(
                f"{op}: expected {name} to be a single integer value or a list of 2 values to match the "
                f"convolution dimensions, but got {name}={items}"
            )
    raise TypeError(f"{op}: {name} must be an int or a tuple of 2 ints, got {value!r}")


def conv_padding(
    op: str, padding: Any, kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> Pads:
    """``padding`` (int, pair, 'valid' or 'same') as ((top, bottom), (left, right)).

    'same' pads d*(k - 1) in total per dim, the odd one at the bottom/right, as torch
    (which forbids it for strided convolutions).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise RuntimeError(f"{op}: Invalid padding string: {padding!r}; expected 'same', 'valid' or ints")
        if stride != (1, 1):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        total = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
        return ((total[0] // 2, total[0] - total[0] // 2), (total[1] // 2, total[1] - total[1] // 2))
    ph, pw = _pair(op, "padding", padding)
    if ph < 0 or pw < 0:
        raise RuntimeError(f"{op}: negative padding is not supported (padding={(ph, pw)})")
    return ((ph, ph), (pw, pw))


def _check_common(
    op: str, input: Any, weight: Any, bias: Any, stride: Any, dilation: Any, groups: Any
) -> tuple[tuple[int, int], tuple[int, int]]:
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    stride, dilation = _pair(op, "stride", stride), _pair(op, "dilation", dilation)
    if min(stride) <= 0:
        raise RuntimeError(f"{op}: non-positive stride is not supported (stride={stride})")
    if min(dilation) <= 0:
        raise RuntimeError(f"{op}: non-positive dilation is not supported (dilation={dilation})")
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (groups={groups})")
    if input.ndim not in (3, 4):
        raise ShapeError(
            f"Expected 3D (unbatched) or 4D (batched) input to {op}, but got input of size: {list(input.shape)}"
        )
    if weight.ndim != 4:
        raise ShapeError(
            f"{op}: expected a 4-D weight ({'in_channels, out_channels/groups' if 'transpose' in op else 'out_channels, in_channels/groups'}, kH, kW), "  # noqa: E501
            f"got weight of size {list(weight.shape)}"
        )
    dt, wdt = input._data.dtype, weight._data.dtype
    if dt != wdt or (bias is not None and bias._data.dtype != dt):
        raise RuntimeError(
            f"{op}: Input type ({dt}), weight type ({wdt})"
            + (f" and bias type ({bias._data.dtype})" if bias is not None else "")
            + " should be the same"
        )
    if dt.kind not in "fiu":
        raise RuntimeError(f"{op}: not implemented for dtype {dt}")
    return stride, dilation


def _check_bias(op: str, bias: Tensor | None, weight: Tensor, channels: int) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ShapeError(
            f"{op}: Given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with {channels} "
            f"elements, but got bias of size {list(bias.shape)} instead"
        )


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (a cross-correlation, as torch): ``F.conv2d``.

    input (N, C, H, W) or (C, H, W); weight (O, C/groups, kh, kw); bias (O,) or None ->
    (N, O, oh, ow) with ``oh = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1`` (ow alike).
    ``padding``: an int, (ph, pw), 'valid' (no padding) or 'same' (output size = input
    size; stride 1 only).
    """
    op = "conv2d"
    stride, dilation = _check_common(op, input, weight, bias, stride, dilation, groups)
    o, cg, kh, kw = weight.shape
    pads = conv_padding(op, padding, (kh, kw), stride, dilation)
    if o == 0 or o % groups:
        raise ShapeError(
            f"{op}: Given groups={groups}, expected weight to be divisible by {groups} and at least 1 at "
            f"dimension 0, but got weight of size {list(weight.shape)} instead"
        )
    c, h, w = input.shape[-3:]
    if c != cg * groups:
        raise ShapeError(
            f"{op}: Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(input.shape)} "
            f"to have {cg * groups} channels, but got {c} channels instead"
        )
    _check_bias(op, bias, weight, o)
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    eff = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    if padded[0] < eff[0] or padded[1] < eff[1]:
        raise ShapeError(
            f"{op}: Calculated padded input size per channel: ({padded[0]} x {padded[1]}). Kernel size: "
            f"({eff[0]} x {eff[1]}). Kernel size can't be greater than actual input size "
            f"(input {tuple(input.shape)}, padding {pads}, dilation {dilation})"
        )
    kwargs = dict(stride=stride, padding=pads, dilation=dilation, groups=groups)
    if bias is None:
        return Convolution.apply(input, weight, **kwargs)
    return Convolution.apply(input, weight, bias, **kwargs)


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution"): ``F.conv_transpose2d``, the adjoint of conv2d.

    input (N, Cin, H, W) or (Cin, H, W); weight (Cin, Cout/groups, kh, kw); bias (Cout,)
    -> (N, Cout, Hout, Wout), ``Hout = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph + 1``.
    ``output_padding`` (< stride or < dilation) adds rows/columns at the bottom/right, to
    pick among the input sizes that a strided conv2d maps onto the same output size.
    """
    op = "conv_transpose2d"
    stride, dilation = _check_common(op, input, weight, bias, stride, dilation, groups)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of 2 ints, not a string ({padding!r})")
    padding = _pair(op, "padding", padding)
    output_padding = _pair(op, "output_padding", output_padding)
    if min(padding) < 0:
        raise RuntimeError(f"{op}: negative padding is not supported (padding={padding})")
    if min(output_padding) < 0:
        raise RuntimeError(f"{op}: negative output_padding is not supported (output_padding={output_padding})")
    for p, s, d in zip(output_padding, stride, dilation):
        if p >= s and p >= d:
            raise RuntimeError(
                f"{op}: output padding must be smaller than either stride or dilation, but got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    cin, cog, kh, kw = weight.shape
    if cin == 0 or cin % groups:
        raise ShapeError(
            f"{op}: Given groups={groups}, expected weight to be divisible by {groups} and at least 1 at "
            f"dimension 0, but got weight of size {list(weight.shape)} instead"
        )
    c, h, w = input.shape[-3:]
    if c != cin:
        raise ShapeError(
            f"{op}: Given transposed=1, weight of size {list(weight.shape)}, expected input{list(input.shape)} "
            f"to have {cin} channels, but got {c} channels instead"
        )
    _check_bias(op, bias, weight, cog * groups)
    out_hw = [
        _transpose_geometry(n, k, s, p, q, d)[0]
        for n, k, s, p, q, d in zip((h, w), (kh, kw), stride, padding, output_padding, dilation)
    ]
    if min(out_hw) < 1 or min(h, w) < 1:
        raise ShapeError(
            f"{op}: Given input size per channel: ({h} x {w}). Calculated output size per channel: "
            f"({out_hw[0]} x {out_hw[1]}). Output size is too small"
        )
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    if bias is None:
        return ConvolutionTranspose.apply(input, weight, **kwargs)
    return ConvolutionTranspose.apply(input, weight, bias, **kwargs)

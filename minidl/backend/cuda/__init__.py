"""Hand-written CUDA kernels for cupy arrays: im2col/col2im and 2-D pooling (forward and backward).

The CUDA C lives beside this loader, one file per family (``im2col.cu``, ``pool.cu``). Each
kernel gives one thread to each OUTPUT element, which gathers its inputs: col2im and the
pooling backwards are gathers too (one thread per input cell visiting the windows that
contain it), so no two threads write one cell, no atomics are needed, and every run gives
the same bits. Index math is 64-bit (sizes are passed as ``numpy.int64``), and grid-stride
loops let any grid cover any size.

The functions here take and return cupy arrays with the signatures and outputs of the
numpy references they replace (:func:`minidl.backend.im2col.im2col`, ``col2im``, and the
array kernels of :mod:`minidl.ops.pool`); those references call them through
:func:`kernels_for` for float32/float64 cupy arrays. GEMMs stay with CuPy (cuBLAS).

How a launch works:

1. the source is compiled once per (file, dtype) by NVRTC through ``cupy.RawModule``, with
   ``-Dscalar_t=float`` or ``-Dscalar_t=double`` (and ``-Dcode_t`` for max-pool's tap
   codes); CuPy caches the binary on disk too (``CUPY_CACHE_DIR``);
2. inputs are made C-contiguous (the kernels index them flat), outputs are allocated;
3. ``kernel((blocks,), (THREADS,), (arrays..., sizes as int64...))`` in the order of the
   kernel's parameter list.

Nothing here imports cupy at import time: ``import minidl.backend.cuda`` works without it.
Without a GPU, :mod:`minidl.backend.cuda.mirror` runs the same launches on numpy arrays
(the tests swap :func:`_compile` and :func:`_xp`), and ``nvcc`` compiles the sources.
``MINIDL_CUDA_KERNELS=0`` (or :func:`use_cuda_kernels`) sends cupy arrays to the numpy
references instead (they run on cupy through ``array_module``), e.g. to compare the two.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from minidl.backend import array_module, cupy_or_none, tap_code_dtype

__all__ = [
    "KERNELS",
    "MAX_BLOCKS",
    "SOURCE_DIR",
    "THREADS",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "col2im",
    "compile_options",
    "im2col",
    "kernels_for",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "supports",
    "use_cuda_kernels",
]

Pair = tuple[int, int]
Pads = tuple[tuple[int, int], tuple[int, int]]

SOURCE_DIR = Path(__file__).resolve().parent
#: every kernel the loader launches, by source file (the compile test checks each is in the PTX)
KERNELS: dict[str, tuple[str, ...]] = {
    "im2col.cu": ("im2col", "col2im"),
    "pool.cu": (
        "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
        "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
        "adaptive_max_pool2d_forward", "adaptive_max_pool2d_backward",
    ),
}  # fmt: skip
#: threads per block: a multiple of the warp size that every GPU since Kepler runs at full occupancy
THREADS = 256
#: at most this many blocks (2^16 * 256 = 16.7M threads, far more than any GPU runs at once); the
#: kernels' grid-stride loops cover larger outputs, so the grid never nears its 2^31 - 1 limit
MAX_BLOCKS = 1 << 16
#: the C type each float dtype compiles as (-Dscalar_t=...)
SCALAR_TYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
#: the C type of max-pool's tap codes (-Dcode_t=...): the reference's uint8, or int32 from 255 taps on
CODE_TYPES = {np.dtype(np.uint8): "uint8", np.dtype(np.int32): "int"}

_enabled = os.environ.get("MINIDL_CUDA_KERNELS", "1").strip() != "0"


def use_cuda_kernels(enabled: bool = True) -> None:
    """Turn these kernels on or off for cupy arrays (``MINIDL_CUDA_KERNELS=0`` starts with them off)."""
    global _enabled
    _enabled = bool(enabled)


def supports(*arrays: Any) -> bool:
    """Whether the kernels take these arrays: cupy (not numpy) float32/float64."""
    return all(type(a) is not np.ndarray and array_module(a) is not np and a.dtype in SCALAR_TYPES for a in arrays)


def kernels_for(*arrays: Any) -> ModuleType | None:
    """This module when the kernels are on and take ``arrays`` (:func:`supports`), else None.

    The references dispatch with ``ck = kernels_for(x)``, ``if ck is not None: return ck.im2col(...)``.
    """
    return sys.modules[__name__] if _enabled and supports(*arrays) else None


# ---------------------------------------------------------------------------- compiling and launching
def _xp() -> ModuleType:
    """cupy (the tests put numpy here to run the launches through the mirror)."""
    cp = cupy_or_none()
    if cp is None:
        raise RuntimeError("minidl's CUDA kernels need CuPy (pip install 'minidl[cuda12]' or 'minidl[cuda13]')")
    return cp


def compile_options(dtype: Any, code_dtype: Any = np.uint8) -> tuple[str, ...]:
    """NVRTC options for one instantiation: ``("-Dscalar_t=float", "-Dcode_t=uint8")`` and the like."""
    return (f"-Dscalar_t={SCALAR_TYPES[np.dtype(dtype)]}", f"-Dcode_t={CODE_TYPES[np.dtype(code_dtype)]}")


def _compile(source: str, options: tuple[str, ...]) -> Any:
    """A ``cupy.RawModule`` of ``source`` (compiled on first use of a kernel; the tests replace this)."""
    return _xp().RawModule(code=(SOURCE_DIR / source).read_text(), options=options)


@functools.cache
def _module(source: str, options: tuple[str, ...]) -> Any:
    return _compile(source, options)  # once per (source, dtype): NVRTC takes a while, kernels are reused


def _launch(source: str, name: str, total: int, args: tuple[Any, ...], dtype: Any, code_dtype: Any = np.uint8) -> None:
    """Run kernel ``name`` of ``source`` with one thread per each of ``total`` outputs (grid-stride beyond)."""
    if total == 0:
        return  # a grid of 0 blocks is a launch error, and there is nothing to compute
    kernel = _module(source, compile_options(dtype, code_dtype)).get_function(name)
    blocks = min(-(-total // THREADS), MAX_BLOCKS)
    kernel((blocks,), (THREADS,), args)


def _sizes(*values: int) -> tuple[np.int64, ...]:
    """Sizes as the kernels' ``long long`` (a Python int would not say its C type)."""
    return tuple(np.int64(v) for v in values)


def _on_device(a: Any) -> Any:
    """The context that makes ``a``'s GPU current (outputs and the launch must be on its device)."""
    dev = getattr(a, "device", None)
    return dev if hasattr(dev, "__enter__") else contextlib.nullcontext()  # numpy (mirror runs): no device


def _pair(v: Any) -> Pair:
    return (int(v[0]), int(v[1]))


# ---------------------------------------------------------------------------- im2col / col2im
def im2col(
    x: Any,
    kernel_size: Pair,
    stride: Pair = (1, 1),
    padding: Pads = ((0, 0), (0, 0)),
    dilation: Pair = (1, 1),
    out_size: Pair | None = None,
) -> Any:
    """The columns of ``x``: (N, C, H, W) -> (C*kh*kw, N*oh*ow), as :func:`minidl.backend.im2col.im2col`.

    ``cols[(c*kh + i)*kw + j, (n*oh + oy)*ow + ox] = x[n, c, oy*sh - top + i*dh, ox*sw - left + j*dw]``
    (0 in the padding). ``out_size`` (oh, ow) when the caller has it, else computed.
    """
    xp = _xp()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel_size), _pair(stride), _pair(dilation)
    top, left = int(padding[0][0]), int(padding[1][0])  # the far sides only shape (oh, ow)
    oh, ow = out_size if out_size is not None else _conv_out(h, w, kernel_size, stride, padding, dilation)
    with _on_device(x):
        x = xp.ascontiguousarray(x)
        cols = xp.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
        sizes = _sizes(n, c, h, w, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
        _launch("im2col.cu", "im2col", cols.size, (x, cols, *sizes), x.dtype)
    return cols


def col2im(
    cols: Any,
    input_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair = (1, 1),
    padding: Pads = ((0, 0), (0, 0)),
    dilation: Pair = (1, 1),
    out_size: Pair | None = None,
) -> Any:
    """The adjoint of :func:`im2col`: (C*kh*kw, N*oh*ow) -> (N, C, H, W), each pixel the sum of its entries.

    Input pixel h receives tap i of window oy when ``oy*sh = h + top - i*dh`` (and alike along w),
    summed over taps in the reference's order (:func:`minidl.backend.im2col.col2im`).
    """
    xp = _xp()
    n, c, h, w = (int(s) for s in input_shape)
    (kh, kw), (sh, sw), (dh, dw) = _pair(kernel_size), _pair(stride), _pair(dilation)
    top, left = int(padding[0][0]), int(padding[1][0])  # the far sides only shape (oh, ow)
    oh, ow = out_size if out_size is not None else _conv_out(h, w, kernel_size, stride, padding, dilation)
    with _on_device(cols):
        cols = xp.ascontiguousarray(cols)
        x = xp.empty((n, c, h, w), dtype=cols.dtype)
        sizes = _sizes(n, c, h, w, kh, kw, sh, sw, top, left, dh, dw, oh, ow)
        _launch("im2col.cu", "col2im", x.size, (cols, x, *sizes), cols.dtype)
    return x


def _conv_out(h: int, w: int, kernel_size: Pair, stride: Pair, padding: Pads, dilation: Pair) -> Pair:
    from minidl.backend.im2col import conv_output_size  # imported here: im2col.py imports this module

    return (
        conv_output_size(h, kernel_size[0], stride[0], tuple(padding[0]), dilation[0]),
        conv_output_size(w, kernel_size[1], stride[1], tuple(padding[1]), dilation[1]),
    )


# ---------------------------------------------------------------------------- max-pool

def max_pool2d_forward(
    x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair, out_size: Pair
) -> tuple[Any, Any]:
    """(N, C, H, W) -> (window maxima, argmax tap codes ``i*kw + j``), both (N, C, oh, ow).

    As :func:`minidl.ops.pool.max_pool2d_forward`: the first maximum in scan order, the last
    NaN; a window wholly in the padding gets -inf and code kh*kw. Codes are uint8 below 255
    taps, else int32.
    """
    xp = _xp()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = (_pair(v) for v in (kernel_size, stride, padding, dilation,
                                                                              out_size))  # fmt: skip
    code_dtype = tap_code_dtype(kh * kw)
    with _on_device(x):
        x = xp.ascontiguousarray(x)
        out = xp.empty((n, c, oh, ow), dtype=x.dtype)
        code = xp.empty((n, c, oh, ow), dtype=code_dtype)
        sizes = _sizes(n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)
        _launch("pool.cu", "max_pool2d_forward", out.size, (x, out, code, *sizes), x.dtype, code_dtype)
    return out, code


def max_pool2d_backward(
    g: Any, code: Any, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair,
    dilation: Pair, disjoint: bool,
) -> Any:  # fmt: skip
    """g (N, C, oh, ow) -> (N, C, H, W): each input cell sums g of the windows whose code names it.

    A gather, so ``disjoint`` (which lets the reference assign instead of add) changes nothing here.
    """
    xp = _xp()
    n, c, h, w = (int(s) for s in input_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(v) for v in (kernel_size, stride, padding, dilation))
    oh, ow = g.shape[2:]
    with _on_device(g):
        g = xp.ascontiguousarray(g)
        code = xp.ascontiguousarray(code)
        if code.dtype not in CODE_TYPES:
            code = code.astype(np.int32)
        gx = xp.empty((n, c, h, w), dtype=g.dtype)
        sizes = _sizes(n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw)
        _launch("pool.cu", "max_pool2d_backward", gx.size, (g, code, gx, *sizes), g.dtype, code.dtype)
    return gx


# ---------------------------------------------------------------------------- avg-pool
def _divisor(xp: ModuleType, divisor: Any, dtype: Any, out_size: Pair) -> Any:
    """The per-window divisor as a C-contiguous (oh, ow) array of the data's dtype."""
    return xp.ascontiguousarray(xp.broadcast_to(xp.asarray(divisor, dtype=dtype), out_size))


def avg_pool2d_forward(x: Any, kernel_size: Pair, stride: Pair, padding: Pair, out_size: Pair, divisor: Any) -> Any:
    """(N, C, H, W) -> (N, C, oh, ow): each window's sum over its input cells / ``divisor`` (oh, ow)."""
    xp = _xp()
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = (_pair(v) for v in (kernel_size, stride, padding, out_size))
    with _on_device(x):
        x = xp.ascontiguousarray(x)
        div = _divisor(xp, divisor, x.dtype, (oh, ow))
        out = xp.empty((n, c, oh, ow), dtype=x.dtype)
        sizes = _sizes(n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
        _launch("pool.cu", "avg_pool2d_forward", out.size, (x, div, out, *sizes), x.dtype)
    return out


def avg_pool2d_backward(
    g: Any, input_shape: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: Pair, divisor: Any,
    disjoint: bool = False,
) -> Any:  # fmt: skip
    """g (N, C, oh, ow) -> (N, C, H, W): each input cell sums g / divisor of the windows containing it."""
    xp = _xp()
    n, c, h, w = (int(s) for s in input_shape)
    (kh, kw), (sh, sw), (ph, pw) = (_pair(v) for v in (kernel_size, stride, padding))
    oh, ow = g.shape[2:]
    with _on_device(g):
        g = xp.ascontiguousarray(g)
        div = _divisor(xp, divisor, g.dtype, (oh, ow))
        gx = xp.empty((n, c, h, w), dtype=g.dtype)
        sizes = _sizes(n, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw)
        _launch("pool.cu", "avg_pool2d_backward", gx.size, (g, div, gx, *sizes), g.dtype)
    return gx


# ---------------------------------------------------------------------------- adaptive pooling
def adaptive_avg_pool2d_forward(x: Any, out_size: Pair) -> Any:
    """(N, C, H, W) -> (N, C, oh, ow): the mean of each bin ``[floor(o*n/n_out), ceil((o+1)*n/n_out))``."""
    xp = _xp()
    n, c, h, w = x.shape
    oh, ow = _pair(out_size)
    with _on_device(x):
        x = xp.ascontiguousarray(x)
        out = xp.empty((n, c, oh, ow), dtype=x.dtype)
        _launch("pool.cu", "adaptive_avg_pool2d_forward", out.size, (x, out, *_sizes(n, c, h, w, oh, ow)), x.dtype)
    return out


def adaptive_avg_pool2d_backward(g: Any, input_shape: tuple[int, ...]) -> Any:
    """g (N, C, oh, ow) -> (N, C, H, W): each input cell sums g / bin size of the bins containing it."""
    xp = _xp()
    n, c, h, w = (int(s) for s in input_shape)
    oh, ow = g.shape[2:]
    with _on_device(g):
        g = xp.ascontiguousarray(g)
        gx = xp.empty((n, c, h, w), dtype=g.dtype)
        _launch("pool.cu", "adaptive_avg_pool2d_backward", gx.size, (g, gx, *_sizes(n, c, h, w, oh, ow)), g.dtype)
    return gx


def adaptive_max_pool2d_forward(x: Any, out_size: Pair) -> tuple[Any, Any]:
    """(N, C, H, W) -> (bin maxima, int64 flat indices h*W + w into each plane), both (N, C, oh, ow).

    As :func:`minidl.ops.pool.adaptive_max_pool2d_forward`: the first maximum in scan order, or the last NaN (as torch).
    """
    xp = _xp()
    n, c, h, w = x.shape
    oh, ow = _pair(out_size)
    with _on_device(x):
        x = xp.ascontiguousarray(x)
        out = xp.empty((n, c, oh, ow), dtype=x.dtype)
        index = xp.empty((n, c, oh, ow), dtype=np.int64)
        sizes = _sizes(n, c, h, w, oh, ow)
        _launch("pool.cu", "adaptive_max_pool2d_forward", out.size, (x, out, index, *sizes), x.dtype)
    return out, index


def adaptive_max_pool2d_backward(g: Any, indices: Any, input_shape: tuple[int, ...]) -> Any:
    """g (N, C, oh, ow) -> (N, C, H, W): each input cell sums g of the bins whose index names it.

    A gather: input row h lies in bins ``[floor(h*oh/H), ceil((h+1)*oh/H))`` (and alike for
    columns), so ``indices`` must be :func:`adaptive_max_pool2d_forward`'s (each in its own bin):
    :func:`minidl.ops.pool.adaptive_max_pool2d_backward` calls it for cupy arrays instead of ``scatter_to_planes``.
    """
    xp = _xp()
    n, c, h, w = (int(s) for s in input_shape)
    oh, ow = g.shape[2:]
    with _on_device(g):
        g = xp.ascontiguousarray(g)
        index = xp.ascontiguousarray(xp.asarray(indices, dtype=np.int64))
        gx = xp.empty((n, c, h, w), dtype=g.dtype)
        sizes = _sizes(n, c, h, w, oh, ow)
        _launch("pool.cu", "adaptive_max_pool2d_backward", gx.size, (g, index, gx, *sizes), g.dtype)
    return gx

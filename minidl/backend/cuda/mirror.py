"""The CUDA kernels of ``im2col.cu`` and ``pool.cu``, line by line in numpy (for tests without a GPU).

Each function here has the name and the parameter list of one ``extern "C"`` kernel, the
same variable names and the same order of index decomposition. Where the kernel's thread
``tid`` runs ``for (tid ...; tid < total; ...)``, the mirror takes ``tid = arange(total)``
(int64) and computes every thread at once: a scalar ``h`` of the kernel is an array ``h``
of one value per thread, an ``if (...) continue;`` is a mask ``ok``, and a loop over the
kernel taps stays a Python loop in the same order (so float sums add in the kernel's
order). Read a kernel and its mirror side by side: they should match line for line.

Pointers are C-contiguous arrays of any shape (the mirror indexes them flat, as the kernel
does); sizes are ints (the kernel's ``i64``). Outputs are written in place, as the kernel
writes them. :class:`MirrorModule` stands in for a CuPy ``RawModule`` so that the launch
code in :mod:`minidl.backend.cuda` runs unchanged on numpy arrays and every launch is
checked against the kernel's signature parsed from the ``.cu`` source.

The ``*_indices`` functions are the pure thread-id decompositions (tid -> indices) and
their inverses; the tests call them on a handful of tids beyond 2^31 without allocating.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MirrorModule",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_bins_of",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "cell_id",
    "cell_indices",
    "col2im",
    "col2im_indices",
    "im2col",
    "im2col_id",
    "im2col_indices",
    "kernel_signatures",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "window_indices",
]

SOURCE_DIR = Path(__file__).resolve().parent
i64 = np.int64


# ---------------------------------------------------------------------------- thread ids -> indices
def im2col_indices(tid: Any, C: int, kh: int, kw: int, N: int, oh: int, ow: int) -> tuple[Any, ...]:
    """im2col's thread -> (c, i, j, n, oy, ox): column entry ``tid`` of cols (C*kh*kw, N*oh*ow)."""
    L = i64(N) * oh * ow
    row, col = tid // L, tid % L
    j, i, c = row % kw, (row // kw) % kh, row // (kw * kh)
    ox, oy, n = col % ow, (col // ow) % oh, col // (ow * oh)
    return c, i, j, n, oy, ox


def im2col_id(c: Any, i: Any, j: Any, n: Any, oy: Any, ox: Any, kh: int, kw: int, N: int, oh: int, ow: int) -> Any:
    """The inverse of :func:`im2col_indices`: ``((c*kh + i)*kw + j) * N*oh*ow + (n*oh + oy)*ow + ox``."""
    return ((c * kh + i) * kw + j) * (i64(N) * oh * ow) + (n * oh + oy) * ow + ox


def col2im_indices(tid: Any, C: int, H: int, W: int) -> tuple[Any, Any, Any, Any]:
    """col2im's thread -> (n, c, h, w): input pixel ``tid`` of (N, C, H, W)."""
    W, H, C = i64(W), i64(H), i64(C)
    return tid // (W * H * C), (tid // (W * H)) % C, (tid // W) % H, tid % W


def window_indices(tid: Any, oh: int, ow: int) -> tuple[Any, Any, Any]:
    """A pooling forward thread -> (plane, oy, ox): output ``tid`` of (N, C, oh, ow), plane = n*C + c."""
    oh, ow = i64(oh), i64(ow)
    return tid // (ow * oh), (tid // ow) % oh, tid % ow


def cell_indices(tid: Any, H: int, W: int) -> tuple[Any, Any, Any]:
    """A pooling backward thread -> (plane, h, w): input cell ``tid`` of (N, C, H, W), plane = n*C + c."""
    H, W = i64(H), i64(W)
    return tid // (W * H), (tid // W) % H, tid % W


def cell_id(plane: Any, h: Any, w: Any, H: int, W: int) -> Any:
    """The inverse of :func:`cell_indices` (and of :func:`window_indices` with (oh, ow)): ``(plane*H + h)*W + w``."""
    return (plane * i64(H) + h) * W + w


def adaptive_bins_of(p: Any, n: int, n_out: int) -> tuple[Any, Any]:
    """The adaptive bins containing input position ``p``: ``[floor(p*n_out/n), ceil((p+1)*n_out/n))``.

    Inverts bin o = ``[floor(o*n/n_out), ceil((o+1)*n/n_out))`` (tested against it).
    """
    return _floor_div(p * n_out, n), _ceil_div((p + 1) * n_out, n)


def _floor_div(a: Any, b: Any) -> Any:
    return a // b  # a, b >= 0: C's truncating division and Python's floor agree


def _ceil_div(a: Any, b: Any) -> Any:
    return (a + b - 1) // b


def _flat(a: np.ndarray) -> np.ndarray:
    """The flat view a kernel's pointer sees (the launcher passes C-contiguous arrays)."""
    assert a.flags.c_contiguous, "kernels take C-contiguous arrays"
    return a.reshape(-1)


def _threads(total: Any) -> np.ndarray:
    return np.arange(int(total), dtype=np.int64)


# ---------------------------------------------------------------------------- im2col.cu
def im2col(
    x: np.ndarray, cols: np.ndarray, N: int, C: int, H: int, W: int, kh: int, kw: int, sh: int, sw: int,
    top: int, left: int, dh: int, dw: int, oh: int, ow: int,
) -> None:
    """Mirror of ``im2col`` (im2col.cu): cols[tid] = the input cell tap (i, j) of window (oy, ox) reads, or 0."""
    x, cols = _flat(x), _flat(cols)
    L = i64(N) * oh * ow
    total = C * kh * kw * L
    tid = _threads(total)
    c, i, j, n, oy, ox = im2col_indices(tid, C, kh, kw, N, oh, ow)
    h = oy * sh - top + i * dh
    w = ox * sw - left + j * dw
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    cols[tid] = 0
    cols[tid[inside]] = x[(((n * C + c) * H + h) * W + w)[inside]]


def col2im(
    cols: np.ndarray, x: np.ndarray, N: int, C: int, H: int, W: int, kh: int, kw: int, sh: int, sw: int,
    top: int, left: int, dh: int, dw: int, oh: int, ow: int,
) -> None:
    """Mirror of ``col2im`` (im2col.cu): each input pixel sums the column entries of the windows covering it."""
    cols, x = _flat(cols), _flat(x)
    L = i64(N) * oh * ow
    total = i64(N) * C * H * W
    tid = _threads(total)
    n, c, h, w = col2im_indices(tid, C, H, W)
    acc = np.zeros(tid.shape, dtype=x.dtype)  # the kernel's per-thread `sum`
    for i in range(kh):
        ty = h + top - i * dh
        ok_y = (ty >= 0) & (ty % sh == 0) & (ty // sh < oh)
        oy = ty // sh
        for j in range(kw):
            tx = w + left - j * dw
            ok = ok_y & (tx >= 0) & (tx % sw == 0) & (tx // sw < ow)
            ox = tx // sw
            acc[ok] += cols[(((c * kh + i) * kw + j) * L + (n * oh + oy) * ow + ox)[ok]]
    x[tid] = acc


# ---------------------------------------------------------------------------- pool.cu
def max_pool2d_forward(
    x: np.ndarray, out: np.ndarray, code: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
    kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int,
) -> None:
    """Mirror of ``max_pool2d_forward`` (pool.cu): window maxima and their tap codes i*kw + j."""
    x, out, code = _flat(x), _flat(out), _flat(code)
    total = i64(N) * C * oh * ow
    tid = _threads(total)
    plane, oy, ox = window_indices(tid, oh, ow)
    best = np.full(tid.shape, -np.inf, dtype=out.dtype)
    arg = np.full(tid.shape, kh * kw, dtype=np.int64)
    for i in range(kh):
        h = oy * sh - ph + i * dh
        ok_h = (h >= 0) & (h < H)
        for j in range(kw):
            w = ox * sw - pw + j * dw
            ok = ok_h & (w >= 0) & (w < W)
            v = np.zeros(tid.shape, dtype=out.dtype)
            v[ok] = x[(plane * H * W + h * W + w)[ok]]
            with np.errstate(invalid="ignore"):
                take = ok & ((arg == kh * kw) | (v > best) | (v != v))  # first input tap, larger, or NaN
            best[take] = v[take]
            arg[take] = i * kw + j
    out[tid] = best
    code[tid] = arg.astype(code.dtype)


def max_pool2d_backward(
    g: np.ndarray, code: np.ndarray, gx: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int, kh: int,
    kw: int, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int,
) -> None:
    """Mirror of ``max_pool2d_backward`` (pool.cu): each input cell sums g of the windows whose code names it."""
    g, code, gx = _flat(g), _flat(code), _flat(gx)
    total = i64(N) * C * H * W
    tid = _threads(total)
    plane, h, w = cell_indices(tid, H, W)
    base = plane * oh * ow
    acc = np.zeros(tid.shape, dtype=gx.dtype)
    for i in range(kh):
        ty = h + ph - i * dh
        ok_y = (ty >= 0) & (ty % sh == 0) & (ty // sh < oh)
        oy = ty // sh
        for j in range(kw):
            tx = w + pw - j * dw
            ok = ok_y & (tx >= 0) & (tx % sw == 0) & (tx // sw < ow)
            ox = tx // sw
            o = (base + oy * ow + ox)[ok]
            hit = code[o].astype(np.int64) == i * kw + j
            acc[np.flatnonzero(ok)[hit]] += g[o[hit]]
    gx[tid] = acc


def avg_pool2d_forward(
    x: np.ndarray, divisor: np.ndarray, out: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
    kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
) -> None:
    """Mirror of ``avg_pool2d_forward`` (pool.cu): each window's sum over its input cells / divisor[oy, ox]."""
    x, divisor, out = _flat(x), _flat(divisor), _flat(out)
    total = i64(N) * C * oh * ow
    tid = _threads(total)
    plane, oy, ox = window_indices(tid, oh, ow)
    acc = np.zeros(tid.shape, dtype=out.dtype)
    for i in range(kh):
        h = oy * sh - ph + i
        ok_h = (h >= 0) & (h < H)
        for j in range(kw):
            w = ox * sw - pw + j
            ok = ok_h & (w >= 0) & (w < W)
            acc[ok] += x[(plane * H * W + h * W + w)[ok]]
    out[tid] = acc / divisor[oy * ow + ox]


def avg_pool2d_backward(
    g: np.ndarray, divisor: np.ndarray, gx: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
    kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
) -> None:
    """Mirror of ``avg_pool2d_backward`` (pool.cu): each input cell sums g / divisor of the windows containing it."""
    g, divisor, gx = _flat(g), _flat(divisor), _flat(gx)
    total = i64(N) * C * H * W
    tid = _threads(total)
    plane, h, w = cell_indices(tid, H, W)
    base = plane * oh * ow
    acc = np.zeros(tid.shape, dtype=gx.dtype)
    for i in range(kh):
        ty = h + ph - i
        ok_y = (ty >= 0) & (ty % sh == 0) & (ty // sh < oh)
        oy = ty // sh
        for j in range(kw):
            tx = w + pw - j
            ok = ok_y & (tx >= 0) & (tx % sw == 0) & (tx // sw < ow)
            ox = tx // sw
            acc[ok] += (g[(base + oy * ow + ox)[ok]] / divisor[(oy * ow + ox)[ok]])
    gx[tid] = acc


def adaptive_avg_pool2d_forward(
    x: np.ndarray, out: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
) -> None:
    """Mirror of ``adaptive_avg_pool2d_forward`` (pool.cu): each bin's cells summed in scan order / its size."""
    x, out = _flat(x), _flat(out)
    total = i64(N) * C * oh * ow
    tid = _threads(total)
    plane, oy, ox = window_indices(tid, oh, ow)
    h0, h1 = _floor_div(oy * H, oh), _ceil_div((oy + 1) * H, oh)
    w0, w1 = _floor_div(ox * W, ow), _ceil_div((ox + 1) * W, ow)
    acc = np.zeros(tid.shape, dtype=out.dtype)
    # the kernel's `for (h = h0; h < h1; ++h) for (w = w0; w < w1; ++w)`, as offsets into each bin
    for dh in range(int((h1 - h0).max(initial=0))):
        for dw in range(int((w1 - w0).max(initial=0))):
            h, w = h0 + dh, w0 + dw
            ok = (h < h1) & (w < w1)
            acc[ok] += x[(plane * H * W + h * W + w)[ok]]
    out[tid] = acc / ((h1 - h0) * (w1 - w0)).astype(out.dtype)


def adaptive_avg_pool2d_backward(
    g: np.ndarray, gx: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
) -> None:
    """Mirror of ``adaptive_avg_pool2d_backward`` (pool.cu): each cell sums g / bin size over its bins."""
    g, gx = _flat(g), _flat(gx)
    total = i64(N) * C * H * W
    tid = _threads(total)
    plane, h, w = cell_indices(tid, H, W)
    oy0, oy1 = adaptive_bins_of(h, H, oh)
    ox0, ox1 = adaptive_bins_of(w, W, ow)
    acc = np.zeros(tid.shape, dtype=gx.dtype)
    for d_oy in range(int((oy1 - oy0).max(initial=0))):
        oy = oy0 + d_oy
        ok_y = oy < oy1
        rows = _ceil_div((oy + 1) * H, oh) - _floor_div(oy * H, oh)
        row_sum = np.zeros(tid.shape, dtype=gx.dtype)
        for d_ox in range(int((ox1 - ox0).max(initial=0))):
            ox = ox0 + d_ox
            ok = ok_y & (ox < ox1)
            cols = _ceil_div((ox + 1) * W, ow) - _floor_div(ox * W, ow)
            row_sum[ok] += g[(plane * oh * ow + oy * ow + ox)[ok]] / (rows * cols)[ok].astype(gx.dtype)
        acc[ok_y] += row_sum[ok_y]
    gx[tid] = acc


def adaptive_max_pool2d_forward(
    x: np.ndarray, out: np.ndarray, index: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
) -> None:
    """Mirror of ``adaptive_max_pool2d_forward`` (pool.cu): each bin's first maximum (or last NaN) and its h*W + w."""
    x, out, index = _flat(x), _flat(out), _flat(index)
    total = i64(N) * C * oh * ow
    tid = _threads(total)
    plane, oy, ox = window_indices(tid, oh, ow)
    h0, h1 = _floor_div(oy * H, oh), _ceil_div((oy + 1) * H, oh)
    w0, w1 = _floor_div(ox * W, ow), _ceil_div((ox + 1) * W, ow)
    arg = h0 * W + w0
    best = x[plane * H * W + arg] if total else np.zeros(0, dtype=out.dtype)
    for dh in range(int((h1 - h0).max(initial=0))):
        for dw in range(int((w1 - w0).max(initial=0))):
            h, w = h0 + dh, w0 + dw
            ok = (h < h1) & (w < w1)
            v = np.zeros(tid.shape, dtype=out.dtype)
            v[ok] = x[(plane * H * W + h * W + w)[ok]]
            with np.errstate(invalid="ignore"):
                take = ok & ((v > best) | (v != v))  # larger, or a NaN (the last NaN wins, as in torch)
            best = np.where(take, v, best)
            arg = np.where(take, h * W + w, arg)
    out[tid] = best
    index[tid] = arg


def adaptive_max_pool2d_backward(
    g: np.ndarray, index: np.ndarray, gx: np.ndarray, N: int, C: int, H: int, W: int, oh: int, ow: int,
) -> None:
    """Mirror of ``adaptive_max_pool2d_backward`` (pool.cu): each cell sums g of its bins whose index names it."""
    g, index, gx = _flat(g), _flat(index), _flat(gx)
    total = i64(N) * C * H * W
    tid = _threads(total)
    plane, h, w = cell_indices(tid, H, W)
    base = plane * oh * ow
    oy0, oy1 = adaptive_bins_of(h, H, oh)
    ox0, ox1 = adaptive_bins_of(w, W, ow)
    acc = np.zeros(tid.shape, dtype=gx.dtype)
    for d_oy in range(int((oy1 - oy0).max(initial=0))):
        for d_ox in range(int((ox1 - ox0).max(initial=0))):
            oy, ox = oy0 + d_oy, ox0 + d_ox
            ok = (oy < oy1) & (ox < ox1)
            o = (base + oy * ow + ox)[ok]
            hit = index[o] == (h * W + w)[ok]
            acc[np.flatnonzero(ok)[hit]] += g[o[hit]]
    gx[tid] = acc


# ---------------------------------------------------------------------------- a RawModule stand-in
_PARAM = re.compile(r"^(?:const\s+)?(\w+)\s*(\*?)\s*(?:__restrict__\s+)?(\w+)$")


def kernel_signatures(source: str) -> dict[str, list[tuple[str, str]]]:
    """Every ``extern "C" __global__`` kernel of ``source`` (a file in this folder): name -> [(type, param)].

    Pointer types end in ``*`` (``scalar_t*``, ``code_t*``, ``i64*``); sizes are ``i64``.
    """
    text = re.sub(r"//[^\n]*", "", (SOURCE_DIR / source).read_text())
    kernels = {}
    for name, params in re.findall(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', text):
        parsed = []
        for p in params.split(","):
            m = _PARAM.match(" ".join(p.split()))
            if m is None:
                raise ValueError(f"{source}: cannot parse parameter {p.strip()!r} of kernel {name}")
            parsed.append((m.group(1) + m.group(2), m.group(3)))
        kernels[name] = parsed
    return kernels


class MirrorModule:
    """Stands in for ``cupy.RawModule(code=<source>, options=options)``: its kernels run this module's mirrors.

    Each launch is checked against the kernel's signature in the ``.cu`` file: the number of
    arguments, C-contiguous arrays of the dtype each pointer names (``scalar_t`` and
    ``code_t`` from the ``-D`` options) and ``numpy.int64`` for every ``i64`` size.
    """

    _CTYPES = {"float": np.float32, "double": np.float64, "uint8": np.uint8, "int": np.int32, "i64": np.int64}

    def __init__(self, source: str, options: tuple[str, ...]) -> None:
        self.source = source
        defines = dict(o[2:].split("=", 1) for o in options if o.startswith("-D"))
        self.types = {k: np.dtype(self._CTYPES[v]) for k, v in defines.items()}
        self.types["i64"] = np.dtype(np.int64)
        self.signatures = kernel_signatures(source)
        self.launches: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []

    def get_function(self, name: str) -> Any:
        if name not in self.signatures:
            raise KeyError(f"{self.source} defines no kernel {name!r}")
        signature = self.signatures[name]

        def launch(grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
            assert len(grid) == 1 and len(block) == 1 and 1 <= grid[0] < 2**31 and 1 <= block[0] <= 1024
            assert len(args) == len(signature), f"{name}: {len(args)} arguments for {len(signature)} parameters"
            for a, (ctype, param) in zip(args, signature):
                if ctype.endswith("*"):
                    assert isinstance(a, np.ndarray) and a.flags.c_contiguous, f"{name}: {param} not C-contiguous"
                    assert a.dtype == self.types[ctype[:-1]], f"{name}: {param} is {a.dtype}, kernel wants {ctype}"
                else:
                    assert type(a) is np.int64, f"{name}: size {param} passed as {type(a).__name__}, not int64"
            self.launches.append((name, tuple(grid), tuple(block)))
            globals()[name](*args)

        return launch

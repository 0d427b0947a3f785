"""im2col / col2im: a convolution as one matrix product (the readable numpy reference).

A 2-D convolution slides a (kh, kw) window over every padded input plane. ``im2col``
copies each window into a column, so that the whole convolution (every channel, every
window, the whole batch) becomes ONE matrix product with the flattened weight::

    x     (N, C, H, W) --pad once--> xpad (N, C, H + top + bottom, W + left + right)
    view  (C, kh, kw, N, oh, ow)     a strided view of xpad, no copy:
          view[c, i, j, n, y, x] = xpad[n, c, y*sh + i*dh, x*sw + j*dw]
    cols  (C*kh*kw, N*oh*ow)         that view copied: K = C*kh*kw rows, L = N*oh*ow columns
    out   (O, N*oh*ow) = weight.reshape(O, K) @ cols

Dilation is just the stride *between the taps* of a window, stride the step *between
windows*; both are strides of the view. Output size per dim (``conv_output_size``):
``floor((n + pad_before + pad_after - d*(k - 1) - 1) / s) + 1``.

Why this column layout (channels and kernel taps first, batch and positions last):

- the view is copied with the output positions (rows of ``ow`` values, contiguous when
  the stride is 1) innermost, which streams through memory;
- grouped convolution splits K into (groups, C/groups*kh*kw) with a free reshape, so the
  groups are one batched matmul;
- the forward product ``W @ cols``, the weight gradient ``g @ cols.T`` and the column
  gradient ``W.T @ g`` are each ONE large GEMM with contiguous (or BLAS-transposed)
  operands; only the (O, N, oh*ow) <-> (N, O, oh*ow) swap of the output moves data, and
  it moves whole rows of oh*ow values.

``col2im`` is the adjoint of ``im2col``: it adds every column back onto the window it
came from, as kh*kw slice-adds (one per kernel tap, each covering all windows of the
batch at once, restricted to the cells inside the input: ``tap_range``). Windows overlap
whenever stride < d*(k - 1) + 1, so it must ADD (``+=``); ``=`` would be wrong, and
``np.add.at`` would be right but about 10x slower.

A numba (CPU) or CuPy (GPU) kernel can replace ``im2col``/``col2im`` behind the same
signatures: arrays in, arrays out, shapes and index conventions as documented here, no
tensors or autograd. ``array_module`` picks numpy or cupy, so this reference also runs on
cupy arrays. The numba kernels (:mod:`minidl.backend.numba_kernels`) take over for float
numpy arrays when enabled (:func:`minidl.backend.use_numba`, ``MINIDL_NUMBA=0``) and the
planes of windows are not tiny (``oh*ow >= MIN_WINDOWS``: below it these slice-adds win).
"""

from __future__ import annotations

from typing import Any

from minidl.backend import array_module, numba_kernels_or_none
from minidl.backend.cuda import kernels_for as cuda_kernels_for

__all__ = ["Pads", "col2im", "conv_output_size", "im2col", "overlap", "pad2d", "tap_range", "window_view"]

#: padding of the two spatial dims as ((top, bottom), (left, right)), like numpy.pad widths
Pads = tuple[tuple[int, int], tuple[int, int]]


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Number of windows along one dim (the one formula convolution and pooling share).

    ``floor((size + before + after - dilation*(kernel_size - 1) - 1) / stride) + 1``, or
    the ceiling with ``ceil_mode`` (pooling), where, as in torch, a last window that would
    start in the right/bottom padding (or beyond) is dropped: it must start inside the
    input or the left/top padding. ``padding`` is one int (both sides) or (before, after).
    May return 0 or less: the caller decides whether that is an error.
    """
    before, after = (padding, padding) if isinstance(padding, int) else padding
    span = size + before + after - dilation * (kernel_size - 1) - 1
    if not ceil_mode:
        return span // stride + 1  # // floors, also for a negative span (torch's div_rtn)
    out = -(-span // stride) + 1  # ceil
    if (out - 1) * stride >= size + before:
        out -= 1
    return out


def pad2d(x: Any, padding: Pads) -> Any:
    """``x`` (N, C, H, W) with zeros around each plane; ``x`` itself when nothing is padded.

    The buffer is laid out channel-major in memory, (C, N, H', W'), and returned as its
    (N, C, H', W') view: ``im2col`` then reads it in the columns' (C, ..., N, ...) order.
    """
    (top, bottom), (left, right) = padding
    if not (top or bottom or left or right):
        return x
    xp = array_module(x)
    n, c, h, w = x.shape
    buf = xp.zeros((c, n, h + top + bottom, w + left + right), dtype=x.dtype).transpose(1, 0, 2, 3)
    buf[:, :, top : top + h, left : left + w] = x
    return buf


def window_view(
    xpad: Any, kernel_size: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
    out_size: tuple[int, int],
) -> Any:  # fmt: skip
    """The read-only strided view (C, kh, kw, N, oh, ow) of the windows of ``xpad`` (N, C, H', W').

    ``view[c, i, j, n, y, x] = xpad[n, c, y*sh + i*dh, x*sw + j*dw]``; works for any
    memory layout of ``xpad`` because it starts from xpad's own strides.
    """
    xp = array_module(xpad)
    n, c = xpad.shape[:2]
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel_size, stride, dilation, out_size
    s_n, s_c, s_h, s_w = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad,
        shape=(c, kh, kw, n, oh, ow),
        strides=(s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w),
    )


def _out_size(
    h: int, w: int, kernel_size: tuple[int, int], stride: tuple[int, int], padding: Pads, dilation: tuple[int, int]
) -> tuple[int, int]:
    return (
        conv_output_size(h, kernel_size[0], stride[0], padding[0], dilation[0]),
        conv_output_size(w, kernel_size[1], stride[1], padding[1], dilation[1]),
    )


def im2col(
    x: Any,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: Pads = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
) -> Any:
    """The columns of ``x``: (N, C, H, W) -> (C*kh*kw, N*oh*ow), a new contiguous array.

    Row ``(c*kh + i)*kw + j`` holds tap (i, j) of channel c of every window; column
    ``(n*oh + y)*ow + x`` is window (y, x) of sample n. Every output position needs at
    least one window (oh, ow >= 1; the caller checks).
    """
    n, c, h, w = x.shape
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    ck = cuda_kernels_for(x)
    if ck is not None:  # a float cupy array: the CUDA kernel (minidl/backend/cuda/im2col.cu)
        return ck.im2col(x, kernel_size, stride, padding, dilation, (oh, ow))
    nk = numba_kernels_or_none()
    if nk is not None and oh * ow >= nk.MIN_WINDOWS and nk.supports(x):
        return nk.im2col(x, kernel_size, stride, padding, dilation, (oh, ow))
    xp = array_module(x)
    view = window_view(pad2d(x, padding), kernel_size, stride, dilation, (oh, ow))
    cols = xp.empty(view.shape, dtype=x.dtype)
    cols[...] = view  # the one copy: (C, kh, kw, N, oh, ow), rows of ow values innermost
    return cols.reshape(c * kernel_size[0] * kernel_size[1], n * oh * ow)


def tap_range(n_in: int, n_out: int, tap: int, stride: int, pad: int) -> tuple[int, int, slice]:
    """Along one dim: which windows see their tap at offset ``tap`` (dilation included) inside
    the input, and where. Window o reads input position ``o*stride - pad + tap``.

    Returns (lo, hi, input slice): windows lo..hi-1 read the positions of the slice, one
    each, in order; lo == hi when the tap always falls in the padding. col2im and the
    pooling kernels use it to touch only real input cells (no padded buffer).
    """
    lo = max(0, -((tap - pad) // stride))  # ceil((pad - tap) / stride)
    hi = min(n_out, (n_in - 1 + pad - tap) // stride + 1)
    if hi <= lo:
        return 0, 0, slice(0, 0)
    start = lo * stride - pad + tap
    return lo, hi, slice(start, start + (hi - lo - 1) * stride + 1, stride)


def overlap(size: int, before: int, span: int) -> tuple[int, int]:
    """Input rows [lo, hi) that land in padded rows [0, span) when ``before`` rows are added in front
    (a negative ``before`` crops the first -before rows instead): what a kernel copies into a
    zero-bordered scratch plane of ``span`` rows (the Winograd transforms, the gathering im2col).

        >>> overlap(5, 1, 6)    # 1 row of padding in front: input rows 0..4 land in padded rows 1..5
        (0, 5)
        >>> overlap(5, -2, 2)   # 2 rows cropped, a 2-row plane: input rows 2 and 3
        (2, 4)
    """
    lo = min(size, max(0, -before))
    return lo, max(lo, min(size, span - before))


def col2im(
    cols: Any,
    input_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: Pads = ((0, 0), (0, 0)),
    dilation: tuple[int, int] = (1, 1),
) -> Any:
    """The adjoint of :func:`im2col`: columns (C*kh*kw, N*oh*ow) -> (N, C, H, W), summed.

    Every input pixel receives the sum of the column entries that copied it (one per
    window covering it), so ``<im2col(x), cols> == <x, col2im(cols)>``. Tap (i, j) of all
    windows is one strided slice of the input: kh*kw slice-adds, each restricted to the
    windows whose tap lands inside the input (what im2col read from the padding belongs to
    no input pixel).
    """
    xp = array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    (top, _), (left, _) = padding
    oh, ow = _out_size(h, w, kernel_size, stride, padding, dilation)
    ck = cuda_kernels_for(cols)
    if ck is not None:  # a float cupy array: the CUDA gather kernel (minidl/backend/cuda/im2col.cu)
        return ck.col2im(cols, input_shape, kernel_size, stride, padding, dilation, (oh, ow))
    nk = numba_kernels_or_none()
    if nk is not None and oh * ow >= nk.MIN_WINDOWS and nk.supports(cols):
        return nk.col2im(cols, input_shape, kernel_size, stride, padding, dilation, (oh, ow))
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    # channel-major like the columns, so each slice-add streams through both arrays
    acc = xp.zeros((c, n, h, w), dtype=cols.dtype)
    for i in range(kh):
        lo_h, hi_h, rows = tap_range(h, oh, i * dh, sh, top)
        for j in range(kw):
            lo_w, hi_w, cs = tap_range(w, ow, j * dw, sw, left)
            if hi_h > lo_h and hi_w > lo_w:
                acc[:, :, rows, cs] += cols[:, i, j, :, lo_h:hi_h, lo_w:hi_w]
    out = xp.empty((n, c, h, w), dtype=cols.dtype)
    out[...] = acc.transpose(1, 0, 2, 3)
    return out

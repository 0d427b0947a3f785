"""Winograd F(2x2, 3x3) and F(4x4, 3x3): a 3x3 stride-1 convolution with 2.25x / 4x fewer multiplications.

The readable numpy reference; numba kernels (:mod:`minidl.backend.numba_winograd`) take over the
four tile transforms for float numpy arrays when the numba path is on. Used by
:mod:`minidl.ops.conv` for stride 1 and dilation 1 (:func:`applies`): 3x3 kernels, and larger kernels
cut into 3x3 blocks (:func:`forward`; 5x5 and 7x7 gain 1.56x and 1.36x); grouped 3x3 convolutions with
at least 16 channels per group too, the groups' GEMMs batched beside the positions'; and dilated
stride-1 layers whose padding and size are multiples of the dilation, as d*d undilated convolutions
of the input's phases stacked along the batch (:func:`phases`); strided layers with large kernels
(AlexNet's 11x11 stride 4) as stride-1 ones of the input's phases stacked as channels (:func:`strided`).

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
measured against float64: 0.7-2.6e-6 on outputs of size ~5, as im2col's and torch's).

F(4x4, 3x3) (:data:`F4`, every formula above with 4x4 output tiles of 6x6 windows, n*n = 36 GEMMs):
36 products per 16 outputs where F(2x2) does 64 and im2col 144, and the transforms move 2.25x the
activations instead of 4x. Its constants (up to 8 and 16/15) cost float32 digits: measured against
float64 on a course-sized layer, relative to the largest value, outputs and input gradients 2e-6
(F(2x2) 3-4e-7), weight gradients 2e-6 (8e-7; torch's own float32 1.2e-6). :func:`plan` takes it only
on large layers (:data:`F4_MIN_OUTPUTS`), where it is 1.3-1.4x faster than F(2x2) (the course
CNN's 16x16, 8x8 and 4x4 layers at batch 128, forward + backward); ``use_winograd(max_tile=2)`` or
``MINIDL_WINOGRAD=2`` keep every layer on F(2x2).

Threads: :func:`forward` and :func:`backward` cut the batch into slices of about :data:`SLICE_TILES`
tiles that minidl's threads take in turn (:func:`minidl.backend.threads.parallel_for`, BLAS on one
thread per GEMM), each slice transformed, multiplied on its columns of V and M and transformed back
while they are in cache; where U outweighs a slice's V and M, each stage runs over the whole batch
instead, the GEMMs shared by position (:func:`_fused`). Measured on 2 cores (AVX-512), the course
CNN's 3x3 layers fwd+bwd 0.75-0.85x the time of transforms on one thread around two-thread GEMMs.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, NamedTuple

import numpy as np

from minidl.backend import array_module, numba_kernels_or_none, threads
from minidl.backend.im2col import overlap
from minidl.backend.threads import blas_on_one_thread, parallel_for

__all__ = [
    "applies",
    "backward",
    "depth_to_space",
    "forward",
    "from_phases",
    "grouped",
    "input_adjoint",
    "input_transform",
    "kernel_blocks",
    "output_adjoint",
    "output_transform",
    "overlap",
    "phases",
    "plan",
    "space_to_depth",
    "stack",
    "strided",
    "strided_weight_grad",
    "strided_weights",
    "tiles_for",
    "to_phases",
    "use_winograd",
    "weight_adjoint",
    "weight_transform",
    "winograd_enabled",
    "workspace",
]

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])


class Tiling(NamedTuple):
    """F(m x m, 3x3): output tiles of side ``m`` from (m+2) x (m+2) input windows, ``Y = A^T [(G g G^T) *
    (B^T d B)] A``, ``n*n`` GEMMs (n = m + 2)."""

    m: int
    b_t: np.ndarray  # (n, n)
    g: np.ndarray  # (n, 3)
    a_t: np.ndarray  # (m, n)

    @property
    def n(self) -> int:
        return self.m + 2

    @property
    def gg(self) -> np.ndarray:
        """kron(G, G) (n*n, 9): maps a 3x3 filter's taps (row-major) to its n*n transformed values."""
        return np.kron(self.g, self.g)


def _toom_cook(m: int, points: tuple[float, ...]) -> Tiling:
    """F(m, 3)'s matrices for the interpolation points ``points`` (m + 1 finite ones, plus infinity):
    A^T evaluates at the points, G is the filter's Lagrange-weighted evaluation, B^T solves
    ``sum_k A^T[i, k] G[k, t] B^T[k, s] = [s == i + t]`` (every output i is its 3 taps t)."""
    n = m + 2
    a_t, g = np.zeros((m, n)), np.zeros((n, 3))
    for j, p in enumerate(points):
        a_t[:, j] = [p**i for i in range(m)]
        g[j] = [p**k / np.prod([p - q for q in points if q != p]) for k in range(3)]
    a_t[m - 1, n - 1] = g[n - 1, 2] = 1.0
    eqs = np.einsum("ik,kt,su->itsku", a_t, g, np.eye(n)).reshape(m * 3 * n, n * n)
    rhs = np.array([float(s == i + t) for i in range(m) for t in range(3) for s in range(n)])
    b_t = np.linalg.lstsq(eqs, rhs, rcond=None)[0].reshape(n, n)
    return Tiling(m, np.round(b_t * 8) / 8, g, a_t)  # B^T's entries are multiples of 1/2: exact


#: F(2x2, 3x3): the matrices above
F2 = Tiling(2, B_T, G, A_T)
#: F(4x4, 3x3) at the points 0, -1, 1, 1/2, -2 (and infinity): 36 products per 16 outputs (im2col: 144),
#: its float32 error 4-7x F(2x2)'s (the points of the smallest error among those tried: 0, +-1, +-2
#: loses 3x more); used only where it pays (:func:`plan`)
F4 = _toom_cook(4, (0.0, -1.0, 1.0, 0.5, -2.0))
TILINGS = {2: F2, 4: F4}

#: below this many input channels a layer stays on im2col: the GEMMs' inner dimension is C,
#: and for thin C (the first layer's 3) BLAS runs far below its speed (measured on the course CNN)
MIN_CHANNELS = 16
#: Winograd must save at least this many GEMM multiply-adds per weight and 3x3 block (im2col's
#: kh*kw*N*oh*ow minus its own 16*B*T) to pay for transforming the weights and their gradient (16*O*C
#: values per block each way) and for the tile area cut off odd sizes. Measured (3x3, fwd+bwd, float32,
#: 2 threads): 512->512 at 2x2, batch 8 (160 saved) 1.5x slower than im2col, at 1x1, batch 32 (saving
#: < 0) 4.9x slower; 512->512 at 2x2, batch 32 (640) 0.83x; every course-CNN, ResNet-18 and VGG-11
#: layer above it 0.43-0.73x.
MIN_SAVED_PER_WEIGHT = 384

#: F(4x4, 3x3) only for layers with at least this many outputs per filter (N*oh*ow): below it the
#: time saved is small (measured: 4x4 maps at batch 32, 512 outputs, 1.07x slower than F(2x2); batch 64
#: 0.77x; 8x8 maps at batch 8 1.3x slower), and F(2x2)'s smaller float32 error is kept
F4_MIN_OUTPUTS = 2048

_setting = os.environ.get("MINIDL_WINOGRAD", "1").strip()
_wanted = [_setting != "0"]
_max_tile = [2 if _setting == "2" else 4]


def use_winograd(enabled: bool = True, max_tile: int = 4) -> None:
    """Turn the Winograd path of stride-1 convolutions on or off; ``max_tile=2`` keeps every layer on
    F(2x2, 3x3) (float32 error as im2col's). ``MINIDL_WINOGRAD=0`` starts off, ``=2`` with max_tile 2."""
    if max_tile not in TILINGS:
        raise ValueError(f"max_tile must be one of {sorted(TILINGS)}, got {max_tile!r}")
    _wanted[0] = bool(enabled)
    _max_tile[0] = max_tile


def winograd_enabled() -> bool:
    """Whether eligible convolutions use Winograd: switched on, and the numba kernels available."""
    return _wanted[0] and numba_kernels_or_none() is not None


def plan(x: Any, weight_shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int],
         groups: int, out_size: tuple[int, int]) -> int:  # fmt: skip
    """The output tile side conv2d of ``x`` (N, C, H, W) with this geometry, giving ``out_size`` (oh, ow),
    takes on the Winograd path: 2 (F(2x2, 3x3)), 4 (F(4x4, 3x3)), or 0 (im2col).

    Stride 1, dilation 1, at least :data:`MIN_CHANNELS` input channels per group (groups: kernels up to
    3x3 only), a float32/float64 numpy array, the path on (:func:`winograd_enabled`), any padding, and
    enough work saved: im2col's kh*kw*N*oh*ow multiply-adds per weight minus Winograd's n*n*B*T (B 3x3
    blocks cover the kernel, T output tiles of side m = n - 2) at least :data:`MIN_SAVED_PER_WEIGHT` per
    block. That takes 3x3
    kernels and larger ones that gain from blocks (5x5 on F(2x2): 64 multiplications per tile where
    im2col does 100), never 1x1, 2x2 or 4x4 kernels (no gain). F(4x4) where it saves more than F(2x2)
    and the layer is large (:data:`F4_MIN_OUTPUTS` outputs per filter and channel: a training batch), up
    to :func:`use_winograd`'s ``max_tile``.
    """
    if not (stride == (1, 1) and dilation == (1, 1)):
        return 0
    n, c = x.shape[:2]
    kh, kw = weight_shape[2:]
    if groups > 1 and max(kh, kw) > 3:  # groups: kernels of one 3x3 block only
        return 0
    if not (c // groups >= MIN_CHANNELS and type(x) is np.ndarray and x.dtype in (np.float32, np.float64)
            and winograd_enabled()):  # fmt: skip
        return 0
    bh, bw = kernel_blocks(kh, kw)
    blocks = bh * bw
    outputs = n * out_size[0] * out_size[1]

    def saved(m: int) -> int:  # multiply-adds per weight
        th, tw = tiles_for(*out_size, m)
        return kh * kw * outputs - (m + 2) ** 2 * blocks * n * th * tw

    best = 0 if saved(2) < MIN_SAVED_PER_WEIGHT * blocks else 2
    if best and _max_tile[0] >= 4 and outputs >= F4_MIN_OUTPUTS and saved(4) > saved(2):
        best = 4
    return best


def applies(x: Any, weight_shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int],
            groups: int, out_size: tuple[int, int]) -> bool:  # fmt: skip
    """Whether conv2d takes the Winograd path at all (:func:`plan` is not 0)."""
    return plan(x, weight_shape, stride, dilation, groups, out_size) != 0


def phases(stride: tuple[int, int], padding: Any, dilation: tuple[int, int],
           size: tuple[int, int]) -> tuple[int, int] | None:  # fmt: skip
    """(dh, dw) when a dilated stride-1 convolution splits into dh*dw undilated ones, else None.

    With dilation d, output row i = d*q + r reads input rows i + d*a - top (taps a): all of phase r
    when ``top`` is a multiple of d. If the input size and every padding are multiples of d too, every
    phase plane x[r::d, s::d] (H/d x W/d) gives output phase y[r::d, s::d] as the undilated convolution
    with padding/d ("same" dilated layers, DeepLab's, on even maps): :func:`to_phases` stacks the
    phases as dh*dw times the batch, and Winograd takes it (a 3x3 dilation-2 layer at 16x16:
    fwd+bwd 0.6-0.7x im2col's time).
    """
    if stride != (1, 1) or dilation == (1, 1):
        return None
    for d, n, pads in zip(dilation, size, padding):
        if n % d or pads[0] % d or pads[1] % d:
            return None
    return dilation[0], dilation[1]


def to_phases(x: np.ndarray, dh: int, dw: int) -> np.ndarray:
    """x (N, C, H, W) -> (dh*dw*N, C, H/dh, W/dw): phase (r, s) = x[:, :, r::dh, s::dw] at samples
    (r*dw + s)*N + n (:func:`phases`)."""
    n, c, h, w = x.shape
    out = np.empty((dh, dw, n, c, h // dh, w // dw), dtype=x.dtype)
    _split(x, dh, dw, out)
    return out.reshape(dh * dw * n, c, h // dh, w // dw)


def from_phases(y: np.ndarray, dh: int, dw: int) -> np.ndarray:
    """The inverse of :func:`to_phases`: (dh*dw*N, C, h, w) -> (N, C, dh*h, dw*w)."""
    b, c, h, w = y.shape
    n = b // (dh * dw)
    out = np.empty((n, c, dh * h, dw * w), dtype=y.dtype)
    _merge(y.reshape(dh, dw, n, c, h, w), dh, dw, out)
    return out


def _split(x: np.ndarray, dh: int, dw: int, out: np.ndarray) -> None:
    """out[r, s] = x[:, :, r::dh, s::dw] for every phase (r, s); ``out`` (dh, dw, N, C, H/dh, W/dw), a view
    of any layout. One strided copy per phase: 2.7-3.3 ms for 8 MB here, as fast as the numba loops
    tried (2.3-2.7 ms; 6-7 ms gathering whole planes)."""
    for r in range(dh):
        for s in range(dw):
            out[r, s] = x[:, :, r::dh, s::dw]


def _merge(y: np.ndarray, dh: int, dw: int, out: np.ndarray) -> None:
    """The inverse of :func:`_split`: out[:, :, r::dh, s::dw] = y[r, s]."""
    for r in range(dh):
        for s in range(dw):
            out[:, :, r::dh, s::dw] = y[r, s]


def strided(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
            groups: int) -> tuple[int, int] | None:  # fmt: skip
    """(sh, sw) when a strided convolution pays as a stride-1 one of its input's phases stacked as channels
    ("space to depth"), else None.

    With stride s, output i reads padded input rows s*i + a (taps a = s*b + r): row s*(i + b) + r, i.e.
    row i + b of phase r. So the convolution is a stride-1 one, unpadded, of the C*sh*sw phase planes
    (:func:`space_to_depth`) with kernels of ceil(k/s) taps (:func:`strided_weights`; the taps past k
    are 0). Taken when that kernel is at most 3x3 (one Winograd block) and F(4x4)'s 2.25 products per
    output and phase channel come to at most 0.4x im2col's kh*kw per input channel: AlexNet's 11x11
    stride-4 first layer (48 channels of 3x3: 0.30x), 5x5 stride 2 (0.36x); never a 3x3 stride-2 one.

        >>> strided((11, 11), (4, 4), (1, 1), 1), strided((5, 5), (2, 2), (1, 1), 1), strided((3, 3), (2, 2), (1, 1), 1)
        ((4, 4), (2, 2), None)
    """
    if stride == (1, 1) or dilation != (1, 1) or groups != 1:
        return None
    (kh, kw), (sh, sw) = kernel, stride
    if max(-(-kh // sh), -(-kw // sw)) > 3 or 2.25 * sh * sw > 0.4 * kh * kw:
        return None
    return sh, sw


def space_to_depth(x: np.ndarray, top: int, left: int, out_size: tuple[int, int], kernel: tuple[int, int],
                   stride: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """x (N, C, H, W) -> (N, C*sh*sw, oh + kh' - 1, ow + kw' - 1): the phases of x padded by ``top`` and
    ``left`` (zeros past its end), channel c*sh*sw + r*sw + s = phase (r, s) of channel c (:func:`strided`;
    kh' = ceil(kh/sh)). AlexNet's first layer (11x11, stride 4, padding 2, 55x55 outputs):

        >>> space_to_depth(np.zeros((16, 3, 224, 224), np.float32), 2, 2, (55, 55), (11, 11), (4, 4)).shape
        (16, 48, 57, 57)
    """
    n, c, h, w = x.shape
    (sh, sw), rows, cols = stride, *(o + -(-k // s) - 1 for o, k, s in zip(out_size, kernel, stride))
    xs = np.zeros((n, c, rows * sh, cols * sw), dtype=x.dtype)
    keep_h, keep_w = min(h, rows * sh - top), min(w, cols * sw - left)
    xs[:, :, top:top + keep_h, left:left + keep_w] = x[:, :, :keep_h, :keep_w]
    out = np.empty((n, c, sh, sw, rows, cols), dtype=x.dtype)
    _split(xs, sh, sw, out.transpose(2, 3, 0, 1, 4, 5))
    return out.reshape(n, c * sh * sw, rows, cols)


def depth_to_space(g: np.ndarray, top: int, left: int, x_shape: tuple[int, ...],
                   stride: tuple[int, int]) -> np.ndarray:  # fmt: skip
    """The adjoint of :func:`space_to_depth`: the gradient (N, C*sh*sw, rows, cols) of its result -> that of x."""
    n, c, h, w = x_shape
    (sh, sw), (rows, cols) = stride, g.shape[2:]
    gs = np.empty((n, c, rows * sh, cols * sw), dtype=g.dtype)
    _merge(g.reshape(n, c, sh, sw, rows, cols).transpose(2, 3, 0, 1, 4, 5), sh, sw, gs)
    gx = np.zeros(x_shape, dtype=g.dtype)
    keep_h, keep_w = min(h, rows * sh - top), min(w, cols * sw - left)
    gx[:, :, :keep_h, :keep_w] = gs[:, :, top:top + keep_h, left:left + keep_w]
    return gx


def strided_weights(w: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    """w (O, C, kh, kw) -> (O, C*sh*sw, kh', kw'): tap (b, e) of phase channel (c, r, s) is w[:, c, sh*b + r,
    sw*e + s], 0 past the kernel (:func:`strided`).

        >>> strided_weights(np.zeros((64, 3, 11, 11), np.float32), (4, 4)).shape
        (64, 48, 3, 3)
    """
    o, c, kh, kw = w.shape
    sh, sw = stride
    bh, bw = -(-kh // sh), -(-kw // sw)
    wpad = np.zeros((o, c, bh * sh, bw * sw), dtype=w.dtype)
    wpad[:, :, :kh, :kw] = w
    phased = wpad.reshape(o, c, bh, sh, bw, sw).transpose(0, 1, 3, 5, 2, 4)  # (O, C, sh, sw, kh', kw')
    return np.ascontiguousarray(phased).reshape(o, c * sh * sw, bh, bw)


def strided_weight_grad(gw: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The adjoint of :func:`strided_weights`: (O, C*sh*sw, kh', kw') -> (O, C, kh, kw)."""
    o, cs, bh, bw = gw.shape
    sh, sw = stride
    full = gw.reshape(o, cs // (sh * sw), sh, sw, bh, bw).transpose(0, 1, 4, 2, 5, 3)
    return np.ascontiguousarray(full.reshape(o, cs // (sh * sw), bh * sh, bw * sw)[:, :, :kernel[0], :kernel[1]])


def tiles_for(out_h: int, out_w: int, m: int = 2) -> tuple[int, int]:
    """The number of m x m output tiles along each dim, (ceil(oh/m), ceil(ow/m))."""
    return -(-out_h // m), -(-out_w // m)


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


def grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """A (k, rows, cols) stack as (k, G, rows/G, cols), a view (the GEMMs write through it): the GEMMs of G
    groups as one batched matmul. Groups split the channels of every transformed position, so V, M, dM, dV
    and dU need no other layout: ``U[k, g] @ V[k, g]`` is group g's product at position k.

        >>> grouped(stack(16, 8, 5, np.float32), 4).shape   # 16 positions, 8 channels in 4 groups, 5 tiles
        (16, 4, 2, 5)
    """
    if groups == 1:
        return a
    view = a.reshape(a.shape[0], groups, a.shape[1] // groups, a.shape[2])
    if not np.may_share_memory(view, a):  # a copy would lose what a GEMM writes into it
        raise ValueError("winograd: a stack whose blocks are not C-contiguous cannot be split into groups")
    return view


def _t(a: np.ndarray) -> np.ndarray:
    """The stack of transposed matrices (the last two axes swapped), a view."""
    return np.swapaxes(a, -1, -2)


#: tiles per slice of the batch that one thread transforms and multiplies in one go (see :func:`forward`)
SLICE_TILES = 256


def _slices(n: int, per: int, workers: int) -> list[tuple[int, int]]:
    """Samples 0..n cut into [lo, hi) slices of about :data:`SLICE_TILES` tiles (``per`` per sample), at
    least two per thread (``workers``) where the batch allows: small enough for a slice's V and M to stay in cache, and
    enough of them for the threads to share evenly."""
    return threads.even_ranges(n, max(-(-n * per // SLICE_TILES), 2 * workers if workers > 1 else 1))


#: the layouts of the V that :func:`forward` keeps for :func:`backward`: one (n*n, B*C, T) stack (the stages and
#: the slices), or the compiled blocks' (numba_winograd.fused_forward: each block's (n*n, B*C, t) in turn)
STACKED, BLOCKED = "stacked", "blocked"


def _compiled_blocks(u_bytes: int, tile_bytes: int, tiles: tuple[int, int], n: int) -> bool:
    """Whether forward and backward run the compiled blocks (numba_winograd.fused_forward/backward): each block of
    samples (numba_winograd.BLOCK_TILES tiles) transformed, multiplied and transformed back while in cache. They
    pay where U (``u_bytes``: every block's GEMMs read all of it) is at most 0.7x a block's V and M
    (``tile_bytes`` a tile) and the batch makes at least 8 blocks (fewer, their weight-gradient products are
    too short). Measured fwd+bwd on 2 cores (Zen 4), against the Python-level slices or stages: the course CNN's
    16x16 layer (U 0.33x a block) 0.80-0.82x, its 8x8 one (0.67x) 0.82-0.84x, its 4x4 one (1.3x) 1.0x, its 2x2
    one (2.7x) 1.7x; ResNet-18's 8x8 layer at batch 32 (2 blocks) 1.06x."""
    nb = _kernels().block_samples(tiles)
    return 10 * u_bytes <= 7 * tile_bytes * nb * tiles[0] * tiles[1] and -(-n // nb) >= 8


def _fused(u_bytes: int, vm_bytes: int, slices: int) -> bool:
    """Whether each slice of the batch should go through all three stages at once (its V and M still in cache
    for the next), or each stage over the whole batch, the GEMMs split by position instead (each U[k] read
    once): unless U is small beside a slice's V and M (an eighth), re-reading it per slice costs more than the
    cache saves. Measured fwd+bwd on 2 cores (AVX-512), by stages / by slices: the course CNN's 8x8, 4x4 and 2x2
    layers 0.87-0.93, 0.84, 0.79-0.81, LeNet's 5x5 layers 0.91-0.95; its 16x16 layer, U an eleventh of a
    slice's V and M, 1.04-1.07."""
    return 8 * u_bytes <= vm_bytes // slices


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, padding: Any,
            keep: tuple[bool, bool], m: int = 2, groups: int = 1) -> tuple[np.ndarray, tuple[Any, ...]]:  # fmt: skip
    """conv2d of x (N, C, H, W) with w (O, C, kh, kw), stride 1, padding ((top, bottom), (left, right)),
    on F(m x m, 3x3) (m = 2 or 4, :data:`TILINGS`; n = m + 2 below).

    A kernel larger than 3x3 is cut into 3x3 blocks (zero-padded to a multiple of 3): block (a, b)
    is a 3x3 convolution of the input shifted by (3a, 3b), i.e. with ``top - 3a`` rows of padding
    (negative: rows cut off); the blocks' transformed inputs stack along the channels, so one set
    of n*n GEMMs sums them (K = B*C). Returns y (N, O, oh, ow) and what :func:`backward` needs: V
    when ``keep[0]`` (the weight gradient is wanted), U when ``keep[1]`` (the input gradient is).

    The batch goes in slices (:func:`_slices`), each transformed, multiplied (its columns of V and M)
    and transformed back by one thread while its V and M are in cache, the threads taking slices in
    turn (:func:`minidl.backend.threads.parallel_for`; its BLAS on one thread each); or, by stages, each
    stage over the whole batch (:func:`_fused`). With the numba kernels, where U is small beside a block's
    V and M (:func:`_compiled_blocks`), the whole loop runs compiled instead (``numba_winograd.fused_forward``:
    blocks of 64 tiles, the GEMMs numba's ``np.dot``), V kept block after block (layout ``BLOCKED``, which
    :func:`backward` then takes through ``numba_winograd.fused_backward``).
    """
    nn = (m + 2) ** 2
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (top, bottom), (left, right) = padding
    oh, ow = h + top + bottom - kh + 1, wd + left + right - kw + 1
    tiles = tiles_for(oh, ow, m)
    per = tiles[0] * tiles[1]
    bh, bw = kernel_blocks(kh, kw)
    geometry = (x.shape, (kh, kw), (top, left), tiles, m, groups)
    if _use_kernels(x, w):  # the compiled blocks, where U is small beside a block's V and M
        if _compiled_blocks(nn * o * (bh * bw * c // groups) * x.itemsize, nn * (bh * bw * c + o) * x.itemsize,
                            tiles, n):  # fmt: skip
            with blas_on_one_thread():
                u = weight_transform(_block_weights(w), m)  # (n*n, O, B*C/G)
                y, vk = _kernels().fused_forward(x, u, b, (oh, ow), top, left, tiles, m, (bh, bw), groups, keep[0])
            return y, (vk, u if keep[1] else None, *geometry, BLOCKED)
    v = stack(nn, bh * bw * c, n * per, x.dtype) if keep[0] else workspace("v", nn, bh * bw * c, n * per, x.dtype)
    prod = workspace("m", nn, o, n * per, x.dtype)  # (n*n, O, T)
    y = np.empty((n, o, oh, ow), dtype=x.dtype)
    parts = _slices(n, per, threads.threads_for(v.nbytes + prod.nbytes))

    def transform_in(i: int) -> None:
        lo, hi = parts[i]
        input_transform(x[lo:hi], top, left, tiles, out=v, m=m, blocks=(bh, bw), start=lo * per)

    def multiply(k0: int, k1: int, t0: int, t1: int) -> None:
        np.matmul(grouped(u[k0:k1], groups), grouped(v[k0:k1, :, t0:t1], groups),
                  out=grouped(prod[k0:k1, :, t0:t1], groups))  # fmt: skip

    def transform_out(i: int) -> None:
        lo, hi = parts[i]
        output_transform(prod, b, (hi - lo, o, oh, ow), tiles, m=m, start=lo * per, out=y[lo:hi])

    def one_slice(i: int) -> None:
        transform_in(i)
        multiply(0, nn, parts[i][0] * per, parts[i][1] * per)
        transform_out(i)

    with blas_on_one_thread():
        u = weight_transform(_block_weights(w), m)  # (n*n, O, B*C/G)
        if _fused(u.nbytes, v.nbytes + prod.nbytes, len(parts)):
            parallel_for(one_slice, len(parts))
        else:
            spans = _slices(nn, 1, threads.threads_for(2 * nn * o * v.shape[1] * n * per // 8))  # flops / 8
            parallel_for(transform_in, len(parts))
            parallel_for(lambda i: multiply(*spans[i], 0, n * per), len(spans))
            parallel_for(transform_out, len(parts))
    return y, (v if keep[0] else None, u if keep[1] else None, *geometry, STACKED)


def backward(g: np.ndarray, saved: tuple[Any, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(dx, dw) from the output gradient g (N, O, oh, ow) and :func:`forward`'s saved values;
    dx is None when U was not kept, dw when V was not.

    As :func:`forward`, in slices of the batch over the threads: dM of a slice and, for dx, its dV and
    its input adjoint; then dU = dM @ V^T over the whole batch, the threads taking the n*n positions in turn.
    By stages where :func:`_fused` says so: every slice's dM, then dU and dV by positions, then every
    slice's input adjoint. Where forward ran the compiled blocks (V's layout ``BLOCKED``), backward runs
    them too (``numba_winograd.fused_backward``: per block dM, dU += dM @ V^T, dV and its input adjoint).
    """
    v, u, x_shape, (kh, kw), (top, left), tiles, m, groups, layout = saved
    nn = (m + 2) ** 2
    n, o = g.shape[:2]
    c = x_shape[1]
    bh, bw = kernel_blocks(kh, kw)
    per = tiles[0] * tiles[1]
    if layout == BLOCKED:  # forward ran the compiled blocks: so does backward, on their kept V
        with blas_on_one_thread():
            dx, du = _kernels().fused_backward(g, u, (nn, o, bh * bw * c // groups), v, x_shape, top, left, tiles, m,
                                               (bh, bw), groups)  # fmt: skip
            return dx, (None if du is None else _kernel_grad(weight_adjoint(du, m), o, c // groups, kh, kw))
    dm = workspace("dm", nn, o, n * per, g.dtype)  # (n*n, O, T)
    dw = dx = dv = du = None
    if u is not None:
        dx = np.empty(x_shape, dtype=g.dtype)
        dv = workspace("dv", nn, bh * bw * c, n * per, g.dtype)
    if v is not None:
        du = np.empty((nn, o, v.shape[1] // groups), dtype=g.dtype)  # (n*n, O, B*C/G)
    parts = _slices(n, per, threads.threads_for(dm.nbytes + (0 if dv is None else dv.nbytes)))
    spans = _slices(nn, 1, threads.threads_for(2 * nn * o * c * bh * bw * n * per // 8))  # a GEMM's flops / 8

    def adjoint_out(i: int) -> None:
        lo, hi = parts[i]
        output_adjoint(g[lo:hi], tiles, out=dm, m=m, start=lo * per)

    def input_grad(k0: int, k1: int, t0: int, t1: int) -> None:  # dV = U^T @ dM
        np.matmul(_t(grouped(u[k0:k1], groups)), grouped(dm[k0:k1, :, t0:t1], groups),
                  out=grouped(dv[k0:k1, :, t0:t1], groups))  # fmt: skip

    def adjoint_in(i: int) -> None:
        lo, hi = parts[i]
        input_adjoint(dv, (hi - lo, *x_shape[1:]), top, left, tiles, m=m, blocks=(bh, bw), start=lo * per,
                      out=dx[lo:hi])  # fmt: skip

    def one_slice(i: int) -> None:
        adjoint_out(i)
        if u is not None:
            input_grad(0, nn, parts[i][0] * per, parts[i][1] * per)
            adjoint_in(i)

    def positions(i: int, with_dv: bool) -> None:  # dU = dM @ V^T (and dV) for positions k0..k1-1
        k0, k1 = spans[i]
        if v is not None:
            np.matmul(grouped(dm[k0:k1], groups), _t(grouped(v[k0:k1], groups)), out=grouped(du[k0:k1], groups))
        if with_dv:
            input_grad(k0, k1, 0, n * per)

    with blas_on_one_thread():
        fused = u is None or _fused(u.nbytes, dv.nbytes + dm.nbytes, len(parts))
        parallel_for(one_slice if fused else adjoint_out, len(parts))
        if v is not None or not fused:
            parallel_for(lambda i: positions(i, not fused), len(spans))
        if not fused:
            parallel_for(adjoint_in, len(parts))
        db = weight_adjoint(du, m) if v is not None else None
    if v is not None:
        dw = _kernel_grad(db, o, c // groups, kh, kw)
    return dx, dw


def _kernel_grad(db: np.ndarray, o: int, cg: int, kh: int, kw: int) -> np.ndarray:
    """The 3x3 blocks' gradients (O, B*C/G, 3, 3) (:func:`weight_adjoint` of dU) -> the (O, C/G, kh, kw) kernel's."""
    bh, bw = kernel_blocks(kh, kw)
    dw = db.reshape(o, bh, bw, cg, 3, 3).transpose(0, 3, 1, 4, 2, 5).reshape(o, cg, 3 * bh, 3 * bw)
    return np.ascontiguousarray(dw[:, :, :kh, :kw])


def _kernels() -> Any:
    from minidl.backend import numba_winograd

    return numba_winograd


def _use_kernels(*arrays: Any) -> bool:
    return numba_kernels_or_none() is not None and all(type(a) is np.ndarray for a in arrays)


def _written(a: Any, out: Any | None) -> Any:
    """``a``, or ``a`` copied into ``out`` and ``out`` returned."""
    if out is None:
        return a
    out[...] = a
    return out


def _tiles_view(xpad: Any, th: int, tw: int, m: int) -> Any:
    """The (N, C, th, tw, m+2, m+2) view of the windows starting at (m*ty, m*tx) of ``xpad``."""
    xp = array_module(xpad)
    s_n, s_c, s_h, s_w = xpad.strides
    shape = (*xpad.shape[:2], th, tw, m + 2, m + 2)
    return xp.lib.stride_tricks.as_strided(xpad, shape=shape, strides=(s_n, s_c, m * s_h, m * s_w, s_h, s_w))


def _apply(mat: np.ndarray, a: Any, axis: int) -> Any:
    """Multiply the small constant matrix ``mat`` (r, s) into axis ``axis`` (of length s) of ``a``."""
    xp = array_module(a)
    mt = xp.asarray(mat, dtype=a.dtype)
    return xp.moveaxis(xp.tensordot(mt, a, axes=([1], [axis])), 0, axis)


def input_transform(x: Any, top: int, left: int, tiles: tuple[int, int], out: Any | None = None,
                    m: int = 2, blocks: tuple[int, int] = (1, 1), start: int = 0) -> Any:  # fmt: skip
    """x (N, C, H, W) -> V (n*n, C, T): ``B^T d B`` of each tile's n x n window (n = m + 2), k = n*a + b.

    Tile t = (n*th + ty)*tw + tx reads padded rows m*ty..m*ty+n-1 and columns m*tx..m*tx+n-1, with
    ``top``/``left`` zeros before the input (negative: that many input rows/columns cut off) and
    as many as needed after it. ``out``: a (n*n, C, T) array with C-contiguous blocks to write V into
    (e.g. the channels of a larger :func:`stack`; the numba path), returned. ``blocks`` (bh, bw): V of
    the B = bh*bw 3x3 blocks of a larger kernel (:func:`forward`), (n*n, B*C, T), block (a, b) in channels
    [(a*bw + b)*C, ...), its input with ``top - 3a``, ``left - 3b`` padding. ``start``: with ``out``, x's
    T tiles go into its columns start..start+T-1 (a slice of the batch into its part of a larger V).
    """
    if _use_kernels(x):
        return _kernels().input_transform(x, top, left, tiles, out, m, blocks, start)
    (bh, bw), c = blocks, x.shape[1]
    if bh * bw > 1:
        out = stack((m + 2) ** 2, bh * bw * c, x.shape[0] * tiles[0] * tiles[1], x.dtype) if out is None else out
        for a in range(bh):
            for b in range(bw):
                i = a * bw + b
                input_transform(x, top - 3 * a, left - 3 * b, tiles, out=out[:, i * c : (i + 1) * c], m=m, start=start)
        return out
    xp = array_module(x)
    b_t, k = TILINGS[m].b_t, m + 2
    n, c, h, w = x.shape
    th, tw = tiles
    xpad = xp.zeros((n, c, m * th + 2, m * tw + 2), dtype=x.dtype)
    (r0, r1), (c0, c1) = overlap(h, top, m * th + 2), overlap(w, left, m * tw + 2)
    xpad[:, :, top + r0 : top + r1, left + c0 : left + c1] = x[:, :, r0:r1, c0:c1]
    d = _tiles_view(xpad, th, tw, m)  # (N, C, th, tw, n, n)
    v = _apply(b_t, _apply(b_t, d, 4), 5)  # B^T d B
    v = xp.ascontiguousarray(v.transpose(4, 5, 1, 0, 2, 3)).reshape(k * k, c, n * th * tw)
    if out is not None:
        out[:, :, start : start + v.shape[2]] = v
        return out
    return v


def input_adjoint(dv: Any, input_shape: tuple[int, int, int, int], top: int, left: int,
                  tiles: tuple[int, int], m: int = 2, blocks: tuple[int, int] = (1, 1), start: int = 0,
                  out: Any | None = None) -> Any:  # fmt: skip
    """dV (n*n, C, T) -> dx (N, C, H, W): the adjoint of :func:`input_transform`.

    Each tile's ``B dV B^T`` is added onto the n x n window it came from; neighbouring windows
    overlap by two rows/columns, so this adds (n*n strided slice-adds), and the padding is cut off.
    ``blocks`` (bh, bw): dV holds the B = bh*bw blocks of a larger kernel (:func:`forward`), block (a, b)
    in channels [(a*bw + b)*C, ...) with ``top - 3a``, ``left - 3b`` padding; their gradients are summed.
    ``start``: the N samples' tiles are dV's columns start..start+T-1 (a slice of the batch); ``out``: an
    array of ``input_shape`` to write dx into (C-contiguous: a slice of a larger dx's samples).
    """
    if _use_kernels(dv):
        return _kernels().input_adjoint(dv, input_shape, top, left, tiles, m, blocks, start, out)
    c, (bh, bw) = input_shape[1], blocks
    dv = dv[:, :, start : start + input_shape[0] * tiles[0] * tiles[1]]
    if bh * bw > 1:
        parts = (input_adjoint(dv[:, (a * bw + b) * c : (a * bw + b + 1) * c], input_shape, top - 3 * a, left - 3 * b,
                               tiles, m) for a in range(bh) for b in range(bw))  # fmt: skip
        return _written(sum(parts), out)
    xp = array_module(dv)
    b_t, k = TILINGS[m].b_t, m + 2
    n, c, h, w = input_shape
    th, tw = tiles
    d = dv.reshape(k, k, c, n, th, tw).transpose(3, 2, 4, 5, 0, 1)  # (N, C, th, tw, n, n)
    d = _apply(b_t.T, _apply(b_t.T, d, 4), 5)  # B dV B^T
    acc = xp.zeros((n, c, m * th + 2, m * tw + 2), dtype=dv.dtype)
    for i in range(k):
        for j in range(k):
            acc[:, :, i : i + m * th : m, j : j + m * tw : m] += d[..., i, j]
    dx = xp.zeros(input_shape, dtype=dv.dtype)  # cells no tile reaches get no gradient
    (r0, r1), (c0, c1) = overlap(h, top, m * th + 2), overlap(w, left, m * tw + 2)
    dx[:, :, r0:r1, c0:c1] = acc[:, :, top + r0 : top + r1, left + c0 : left + c1]
    return _written(dx, out)


def output_transform(prod: Any, bias: Any | None, out_shape: tuple[int, int, int, int], tiles: tuple[int, int],
                     m: int = 2, start: int = 0, out: Any | None = None) -> Any:  # fmt: skip
    """M (n*n, O, T) -> y (N, O, oh, ow): ``A^T M A`` of each tile (+ ``bias`` (O,)), cut to oh x ow.

    ``start``: y's tiles are M's columns start..start+N*th*tw-1 (a slice of the batch); ``out``: an array of
    ``out_shape`` to write y into (C-contiguous: a slice of a larger y's samples).
    """
    if _use_kernels(prod):
        return _kernels().output_transform(prod, bias, out_shape, tiles, m, start, out)
    xp = array_module(prod)
    a_t, k = TILINGS[m].a_t, m + 2
    n, o, oh, ow = out_shape
    th, tw = tiles
    t = prod[:, :, start : start + n * th * tw].reshape(k, k, o, n, th, tw)
    y = _apply(a_t, _apply(a_t, t, 0), 1)  # (m, m, O, N, th, tw)
    full = y.transpose(3, 2, 4, 0, 5, 1).reshape(n, o, m * th, m * tw)
    out = xp.empty(out_shape, dtype=prod.dtype) if out is None else out
    out[...] = full[:, :, :oh, :ow]
    if bias is not None:
        out += bias.reshape(o, 1, 1)
    return out


def output_adjoint(g: Any, tiles: tuple[int, int], out: np.ndarray | None = None, m: int = 2,
                   start: int = 0) -> Any:
    """g (N, O, oh, ow) -> dM (n*n, O, T): the adjoint of :func:`output_transform`, ``A g A^T`` per tile.

    ``out``: a (n*n, O, T') array to write dM into (e.g. a :func:`workspace`), g's T tiles in its columns
    start..start+T-1 (a slice of the batch into its part of a larger dM).
    """
    if _use_kernels(g):
        return _kernels().output_adjoint(g, tiles, out, m, start)
    xp = array_module(g)
    a_t, k = TILINGS[m].a_t, m + 2
    n, o, oh, ow = g.shape
    th, tw = tiles
    gpad = xp.zeros((n, o, m * th, m * tw), dtype=g.dtype)
    gpad[:, :, :oh, :ow] = g
    t = gpad.reshape(n, o, th, m, tw, m).transpose(3, 5, 1, 0, 2, 4)  # (m, m, O, N, th, tw)
    dm = _apply(a_t.T, _apply(a_t.T, t, 0), 1)  # (n, n, O, N, th, tw)
    dm = xp.ascontiguousarray(dm).reshape(k * k, o, n * th * tw)
    if out is not None:
        out[:, :, start : start + dm.shape[2]] = dm
        return out
    return dm


#: G g G^T of a 3x3 filter g on F(2x2), flattened: kron(G, G) (16, 9) maps g's 9 taps (row-major) to the
#: 16 values, k = 4a + b. One small-K GEMM transforms every filter at once.
GG = F2.gg


@functools.lru_cache(maxsize=8)
def _gg(m: int, dtype: np.dtype) -> np.ndarray:
    """:attr:`Tiling.gg` of F(m x m, 3x3) in ``dtype``, made once (read-only): 13 us a call otherwise."""
    gg = TILINGS[m].gg.astype(dtype)
    gg.flags.writeable = False
    return gg


def weight_transform(w: Any, m: int = 2) -> Any:
    """w (O, C, 3, 3) -> U (n*n, O, C): ``G g G^T`` of every filter, k = n*a + b (n = m + 2)."""
    xp = array_module(w)
    o, c = w.shape[:2]
    gg = xp.asarray(_gg(m, np.dtype(w.dtype)))
    return threads.matmul(gg, w.reshape(o * c, 9).T).reshape(gg.shape[0], o, c)


def weight_adjoint(du: Any, m: int = 2) -> Any:
    """dU (n*n, O, C) -> dw (O, C, 3, 3): the adjoint of :func:`weight_transform`, ``G^T dU G``."""
    xp = array_module(du)
    o, c = du.shape[1:]
    gg = xp.asarray(_gg(m, np.dtype(du.dtype)))
    return threads.matmul(du.reshape(gg.shape[0], o * c).T, gg).reshape(o, c, 3, 3)

"""Resampling: ``interpolate`` (nearest, nearest-exact, linear, bilinear, trilinear).

input (N, C, L), (N, C, H, W) or (N, C, D, H, W)  ->  (N, C, *out_size).

Every mode is separable: the output is the input resampled along one spatial dim at a
time, ``out[..., j] = sum_k lam[j, k] * x[..., src[j, k]]`` with one tap (nearest) or
two (linear). The last dim is done first, which gives torch's summation order
``lam_h0 (lam_w0 x00 + lam_w1 x01) + lam_h1 (...)`` exactly. Backward is the adjoint,
dim by dim in the opposite order: the gradient of output j goes back to input
``src[j, k]`` with weight ``lam[j, k]``. ``src`` never decreases with j, so that
scatter-add is a segment sum (``np.add.reduceat``), not ``np.add.at``.

The source indices are torch's (aten/src/ATen/native/UpSample.h), computed in the
input's float type: ``scale = 1 / scale_factor`` when a scale factor is given, else
``in / out``;

* nearest:        src = min(floor(j * scale), in - 1), floored in single precision;
                  for 4-D input (torch's ``nearest_idx``) the scale is single precision
                  too, out == in copies and out == 2 * in takes ``j // 2``
* nearest-exact:  src = min(floor(max(scale (j + 0.5) - 0.5, 0) + 0.5), in - 1)
* linear:         real = scale * j with align_corners (scale = (in - 1) / (out - 1)),
                  else max(scale (j + 0.5) - 0.5, 0);  i0 = min(floor(real), in - 1),
                  i1 = min(i0 + 1, in - 1),  lam1 = clamp(real - i0, 0, 1),  lam0 = 1 - lam1;
                  a dim whose size does not change is copied.

A torch quirk, copied: for 3-D and 5-D input, torch's 'nearest' forward does not
special-case out == in and out == 2 * in but its backward does (it uses the 4-D rule).
With a scale factor such as 1.3 on a size of 3 (out = 3) or 2.1 on a size of 5 (out =
10), torch's gradient is therefore not the exact adjoint of its own forward. minidl
gives torch's numbers in both directions; everywhere else (4-D nearest, every size
given explicitly, other scale factors, and all other modes) backward is the exact
adjoint of forward.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module, scatter_add
from minidl.ops.elementwise import DtypeNotImplementedError
from minidl.tensor import Tensor

__all__ = ["interpolate"]

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
_ALL_MODES = "nearest | linear | bilinear | bicubic | trilinear | lanczos | area | nearest-exact"


# ---------------------------------------------------------------------------- index math
@functools.lru_cache(maxsize=256)
def _axis_plan(mode: str, n_in: int, n_out: int, scale_factor: float | None, align_corners: bool,
               dtype: str) -> tuple[np.ndarray, ...] | None:  # fmt: skip
    """Taps of one dim: ``(src,)`` for nearest, ``(i0, i1, lam0, lam1)`` for linear, or
    None when the dim is copied unchanged. Arrays are shared (cached): never write to them.

    ``mode`` is 'nearest' (3-D/5-D input), 'nearest-2d' (4-D input: torch's
    ``nearest_idx``), 'nearest-exact' or 'linear'.
    """
    if mode == "nearest-2d":
        if n_out == n_in:
            return None
        if n_out == 2 * n_in:
            return (np.arange(n_out) // 2,)
        f = np.float32
        scale32 = f(1.0 / scale_factor) if scale_factor is not None and scale_factor > 0 else f(n_in) / f(n_out)
        return (np.minimum(np.floor(np.arange(n_out, dtype=f) * scale32).astype(np.int64), n_in - 1),)
    opmath = np.dtype(np.float32) if np.dtype(dtype).itemsize < 4 else np.dtype(dtype)
    o = opmath.type
    j = np.arange(n_out, dtype=opmath)
    if mode == "linear" and align_corners:
        scale = o(n_in - 1) / o(n_out - 1) if n_out > 1 else o(0)
    elif scale_factor is not None and scale_factor > 0:
        scale = o(1.0 / scale_factor)
    else:
        scale = o(n_in) / o(n_out)
    if mode == "nearest":
        # torch floors in single precision (floorf) whatever the input's type
        src = np.minimum(np.floor((j * scale).astype(np.float32)).astype(np.int64), n_in - 1)
        return None if n_in == n_out and np.array_equal(src, np.arange(n_in)) else (src,)
    if mode == "nearest-exact":
        real = np.maximum(scale * (j + o(0.5)) - o(0.5), o(0))
        src = np.minimum(np.floor((real + o(0.5)).astype(np.float32)).astype(np.int64), n_in - 1)
        return None if n_in == n_out and np.array_equal(src, np.arange(n_in)) else (src,)
    if n_in == n_out:  # torch copies a dim whose size does not change
        return None
    real = scale * j if align_corners else np.maximum(scale * (j + o(0.5)) - o(0.5), o(0))
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n_in - 1)
    lam1 = np.clip(real - i0.astype(opmath), o(0), o(1))
    i1 = i0 + (i0 < n_in - 1)
    lam0 = o(1) - lam1
    return i0, i1, lam0.astype(dtype), lam1.astype(dtype)


def _along(v: Any, axis: int, ndim: int) -> Any:
    """A 1-D array shaped to broadcast along ``axis`` of an ``ndim``-dim array."""
    return v.reshape((-1,) + (1,) * (ndim - 1 - axis))


def _segment_sum(g: Any, src: np.ndarray, n_in: int, axis: int) -> Any:
    """``out[..., i, ...] = sum of g[..., j, ...] over j with src[j] == i`` (src non-decreasing)."""
    xp = array_module(g)
    shape = (*g.shape[:axis], n_in, *g.shape[axis + 1 :])
    if xp is not np:  # the GPU: one scatter-add
        out = xp.zeros(shape, dtype=g.dtype)
        moved = xp.moveaxis(out, axis, 0)
        scatter_add(moved, xp.asarray(src), xp.moveaxis(g, axis, 0))
        return out
    n_out = src.shape[0]
    if n_out % n_in == 0 and np.array_equal(src, np.arange(n_out) // (n_out // n_in)):
        # integer upscaling: each input gets k consecutive outputs
        k = n_out // n_in
        return g.reshape((*g.shape[:axis], n_in, k, *g.shape[axis + 1 :])).sum(axis=axis + 1)
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    sums = np.add.reduceat(g, starts, axis=axis)
    hit = src[starts]
    if hit.shape[0] == n_in:  # every input index received something (in order)
        return sums
    out = np.zeros(shape, dtype=g.dtype)
    out[(slice(None),) * axis + (hit,)] = sums
    return out


def _resample(x: Any, plan: tuple[Any, ...], axis: int) -> Any:
    """Apply one dim's taps to ``x`` along ``axis``."""
    xp = array_module(x)
    if len(plan) == 1:
        return xp.take(x, xp.asarray(plan[0]), axis=axis)
    i0, i1, lam0, lam1 = (xp.asarray(a) for a in plan)
    return xp.take(x, i0, axis=axis) * _along(lam0, axis, x.ndim) + xp.take(x, i1, axis=axis) * _along(
        lam1, axis, x.ndim
    )


def _resample_adjoint(g: Any, plan: tuple[Any, ...], axis: int, n_in: int) -> Any:
    """The transpose of :func:`_resample`: push ``g`` back to ``n_in`` positions along ``axis``."""
    if len(plan) == 1:
        return _segment_sum(g, plan[0], n_in, axis)
    xp = array_module(g)
    i0, i1, lam0, lam1 = plan
    return _segment_sum(g * _along(xp.asarray(lam0), axis, g.ndim), i0, n_in, axis) + _segment_sum(
        g * _along(xp.asarray(lam1), axis, g.ndim), i1, n_in, axis
    )


class Interpolate(Function):
    """out = x resampled along each spatial dim (see the module docstring);
    dx = g pushed back through the same taps (their adjoint), dim by dim.

    x: (N, C, *in_size) -> (N, C, *out_size). ``specs[k]`` = (mode, scale_factor,
    align_corners) of spatial dim k.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, out_size, specs):
        ctx.in_size, ctx.out_size, ctx.specs = x.shape[2:], out_size, specs
        out = x
        for k in reversed(range(len(out_size))):  # last dim first: torch's summation order
            mode, sf, ac = specs[k]
            plan = _axis_plan(mode, x.shape[2 + k], out_size[k], sf, ac, x.dtype.str)
            if plan is not None:
                out = _resample(out, plan, 2 + k)
        return out if out is not x else x.copy()

    @staticmethod
    def backward(ctx, g):
        for k in range(len(ctx.out_size)):
            mode, sf, ac = ctx.specs[k]
            if mode == "nearest":  # torch's backward uses the 4-D index rule (module docstring)
                mode = "nearest-2d"
            plan = _axis_plan(mode, ctx.in_size[k], ctx.out_size[k], sf, ac, g.dtype.str)
            if plan is not None:
                g = _resample_adjoint(g, plan, 2 + k, ctx.in_size[k])
        return g


# ---------------------------------------------------------------------------- public function
def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer))


def _sizes_message(in_size: Sequence[int], out_size: Sequence[int]) -> str:
    names = ("D", "H", "W")[3 - len(in_size) :]
    a = ", ".join(f"{n}: {s}" for n, s in zip(names, in_size))
    b = ", ".join(f"{n}: {s}" for n, s in zip(names, out_size))
    return f"input ({a}) output ({b})"


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample ``input`` (N, C, *spatial) to ``size`` or by ``scale_factor`` (torch's ``F.interpolate``).

    Exactly one of ``size`` (an int or one per spatial dim) and ``scale_factor`` (a float
    or one per spatial dim; out = floor(in * scale_factor)) is given. ``mode``: 'nearest',
    'nearest-exact' (3-D/4-D/5-D input), 'linear' (3-D), 'bilinear' (4-D), 'trilinear'
    (5-D); ``align_corners`` (linear modes only, default False) maps the corner pixels'
    centres onto each other. A given scale factor is also used for the source index, as
    in torch, unless ``recompute_scale_factor=True``.
    """
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                f"{op}: align_corners option can only be set with the interpolating modes: "
                f"linear | bilinear | bicubic | trilinear (got mode={mode!r}, align_corners={align_corners})"
            )
    elif align_corners is None:
        align_corners = False
    shape = tuple(input.shape)
    dim = input.ndim - 2
    out_size: list[int] | None
    scales: list[float] | None
    if size is not None and scale_factor is not None:
        raise ValueError(f"{op}: only one of size or scale_factor should be defined (got size={size}, "
                         f"scale_factor={scale_factor})")  # fmt: skip
    if size is not None:
        scales = None
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    f"{op}: Input and output must have the same number of spatial dimensions, but got input with "
                    f"spatial dimensions of {list(shape[2:])} and output size of {size}. Please provide input tensor "
                    "in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError(
                    f"{op}: expected size to be one of int or Tuple[int] or Tuple[int, int] or Tuple[int, int, int], "
                    f"but got size with types {[type(s) for s in size]}"
                )
            out_size = [int(s) for s in size]
        else:
            if not _is_int(size):
                raise TypeError(f"{op}: expected size to be an int or a tuple of ints, got {type(size).__name__}")
            out_size = [int(size)] * max(dim, 0)
    elif scale_factor is not None:
        out_size = None
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    f"{op}: Input and scale_factor must have the same number of spatial dimensions, but got input "
                    f"with spatial dimensions of {list(shape[2:])} and scale_factor of shape {scale_factor}. Please "
                    "provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format."
                )
            scales = [float(s) for s in scale_factor]
        else:
            scales = [float(scale_factor)] * max(dim, 0)
    else:
        raise ValueError(f"{op}: either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size.")
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
        raise ValueError(
            f"{op}: Anti-alias option is restricted to bilinear, bicubic, and lanczos modes and requires a 4-D "
            "tensor as input"
        )

    supported = mode in ("nearest", "nearest-exact") and input.ndim in (3, 4, 5)
    supported = supported or _LINEAR_MODES.get(mode) == input.ndim
    if not supported:
        if mode in _LINEAR_MODES and input.ndim in (3, 4, 5):
            raise NotImplementedError(
                f"{op}: Got {input.ndim}D input, but {mode} mode needs {_LINEAR_MODES[mode]}D input "
                f"(input shape {shape})"
            )
        if mode in ("area", "bicubic", "lanczos") and input.ndim in (3, 4, 5):
            raise NotImplementedError(
                f"{op}: mode {mode!r} is not implemented in minidl; use 'nearest', 'nearest-exact' or "
                "'linear'/'bilinear'/'trilinear'"
            )
        raise NotImplementedError(
            f"{op}: Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the modes: "
            f"{_ALL_MODES} (got {mode})"
        )
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not implemented in minidl")
    if input._data.dtype.kind != "f":
        raise DtypeNotImplementedError(
            f"{op}: upsampling is not implemented for {input.dtype} input (shape {shape}); convert it with .float()"
        )

    in_size = shape[2:]
    if out_size is None:
        assert scales is not None
        if recompute_scale_factor:
            out_size = [math.floor(n * s) for n, s in zip(in_size, scales)]
            scales = None
        else:
            out_size = [int(n * s) for n, s in zip(in_size, scales)]  # C++ truncation, as torch
    if any(n <= 0 for n in in_size) or any(n <= 0 for n in out_size):
        raise RuntimeError(
            f"{op}: Input and output sizes should be greater than 0, but got {_sizes_message(in_size, out_size)}"
        )
    if shape[1] == 0:
        raise RuntimeError(
            f"{op}: Non-empty {input.ndim}D data tensor expected but got a tensor with sizes {list(shape)}"
        )
    plan_mode = "linear" if mode in _LINEAR_MODES else mode
    if mode == "nearest" and input.ndim == 4:
        plan_mode = "nearest-2d"
    specs = tuple((plan_mode, None if scales is None else scales[k], bool(align_corners)) for k in range(dim))
    return Interpolate.apply(input, out_size=tuple(out_size), specs=specs)

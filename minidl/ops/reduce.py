"""Reductions: sum, mean, var, std, prod, max/min, amax/amin, argmax/argmin, logsumexp, norm.

Shapes: ``dim`` (an int, a tuple, or None for every dimension) is reduced; with
``keepdim=True`` it stays as size 1. Backward first restores the reduced axes as size 1
(``_unsqueeze_to``) so the gradient broadcasts against the input.

Gradients at ties follow torch: ``max()``/``min()`` without ``dim`` and ``amax``/``amin``
share the gradient evenly among the tied elements; ``max(dim)``/``min(dim)`` send it to
the one index they return (the first maximum).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from minidl import dtypes
from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.errors import normalize_dim, normalize_dims
from minidl.ops.elementwise import _float_input, cast
from minidl.tensor import Tensor

__all__ = [
    "all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "logsumexp", "max", "mean",
    "min", "norm", "prod", "std", "sum", "var",
]  # fmt: skip

#: what ``max(dim)`` and ``min(dim)`` return, as torch's ``return_types``
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _unsqueeze_to(g: Any, axes: tuple[int, ...], keepdim: bool) -> Any:
    """Put the reduced ``axes`` back into ``g`` as size-1 dims (a no-op with keepdim)."""
    if keepdim or not axes:
        return g
    return array_module(g).expand_dims(g, axes)


class Sum(Function):
    """out = sum of x over ``axes``;  dx = g broadcast back to x's shape."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim, dtype):
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        return x.sum(axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        return array_module(g).broadcast_to(g, ctx.shape)


class Mean(Function):
    """out = sum(x) / n over ``axes``;  dx = g / n broadcast back."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim):
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, x.shape
        n = _count(x.shape, axes)
        acc = np.float32 if x.dtype == np.float16 else None  # float16 sums in float32, as numpy and torch
        with np.errstate(invalid="ignore", divide="ignore"):  # an empty mean is nan, silently (torch)
            return (x.sum(axis=axes, keepdims=keepdim, dtype=acc) / n).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        n = _count(ctx.shape, ctx.axes)
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        return array_module(g).broadcast_to(g / (n if n > 0 else 1), ctx.shape)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Var(Function):
    """out = sum((x - mean)**2) / (n - correction);  dx = g * 2 (x - mean) / (n - correction)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim, correction):
        ctx.axes, ctx.keepdim = axes, keepdim
        n = _count(x.shape, axes)
        centered = x - x.mean(axis=axes, keepdims=True)
        ctx.denom = n - correction if n > correction else 0  # (this module's max is the op)
        ctx.save_for_backward(centered)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (centered * centered).sum(axis=axes, keepdims=keepdim) / x.dtype.type(ctx.denom)

    @staticmethod
    def backward(ctx, g):
        (centered,) = ctx.saved_tensors
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        with np.errstate(invalid="ignore", divide="ignore"):
            return g * centered * (2 / centered.dtype.type(ctx.denom))


class Std(Function):
    """out = sqrt(var);  dx = g * (x - mean) / ((n - correction) * out)  (0 where out = 0, as torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim, correction):
        xp = array_module(x)
        ctx.axes, ctx.keepdim = axes, keepdim
        n = _count(x.shape, axes)
        centered = x - x.mean(axis=axes, keepdims=True)
        denom = x.dtype.type(n - correction if n > correction else 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            full = xp.sqrt((centered * centered).sum(axis=axes, keepdims=True) / denom)
        ctx.save_for_backward(centered, full * denom)
        return full if keepdim else full.reshape([s for i, s in enumerate(full.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        centered, scale = ctx.saved_tensors
        xp = array_module(g)
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        with np.errstate(invalid="ignore", divide="ignore"):
            gx = g * centered / scale
        return xp.where(scale == 0, xp.zeros((), dtype=gx.dtype), gx)


class Prod(Function):
    """out = product of x along ``axis``;  dx = g * (product of the other elements).

    The product of the others is computed with cumulative products from both sides, so
    zeros in x are handled exactly (no division by x).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axis, keepdim):
        ctx.axis, ctx.keepdim = axis, keepdim
        ctx.save_for_backward(x)
        if axis is None:
            return x.prod()
        return x.prod(axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        axis, shape = ctx.axis, x.shape
        if axis is None:
            x = x.reshape(-1)
            ax = 0
        else:
            ax = axis
            g = _unsqueeze_to(g, (axis,), ctx.keepdim)
        ones = xp.ones_like(xp.take(x, [0], axis=ax))
        left = xp.cumprod(xp.concatenate([ones, xp.take(x, range(x.shape[ax] - 1), axis=ax)], axis=ax), axis=ax)
        rev = xp.flip(x, axis=ax)
        right = xp.flip(
            xp.cumprod(xp.concatenate([ones, xp.take(rev, range(x.shape[ax] - 1), axis=ax)], axis=ax), axis=ax),
            axis=ax,
        )
        return (g * (left * right)).reshape(shape) if axis is None else g * left * right


class MaxMinAll(Function):
    """out = max (or min) of all elements;  dx = g / k at the k tied extreme elements."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, mode):
        out = x.max() if mode == "max" else x.min()
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        mask = x == out
        return mask * (g / mask.sum()).astype(g.dtype)


class AmaxAmin(Function):
    """out = max (or min) over ``axes``;  dx = g / k at the k tied extremes of each slice."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim, mode):
        ctx.axes, ctx.keepdim = axes, keepdim
        full = x.max(axis=axes, keepdims=True) if mode == "max" else x.min(axis=axes, keepdims=True)
        ctx.save_for_backward(x, full)
        return full if keepdim else full.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, full = ctx.saved_tensors
        mask = x == full
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        return mask * (g / mask.sum(axis=ctx.axes, keepdims=True)).astype(g.dtype)


class MaxMinDim(Function):
    """(values, indices) of the max (or min) along ``dim``;  dx = g at the returned index."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dim, keepdim, mode):
        xp = array_module(x)
        idx = (x.argmax if mode == "max" else x.argmin)(axis=dim, keepdims=True)
        values = xp.take_along_axis(x, idx, axis=dim)
        ctx.dim, ctx.keepdim, ctx.shape = dim, keepdim, x.shape
        ctx.save_for_backward(idx)
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        return values, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, g, _g_indices):
        (idx,) = ctx.saved_tensors
        xp = array_module(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        g = _unsqueeze_to(g, (ctx.dim,), ctx.keepdim)
        xp.put_along_axis(gx, idx, g, axis=ctx.dim)
        return gx


class LogSumExp(Function):
    """out = max + log(sum(e**(x - max))) over ``axes``;  dx = g * e**(x - out)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim):
        xp = array_module(x)
        ctx.axes, ctx.keepdim = axes, keepdim
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isinf(m), 0, m).astype(x.dtype)  # rows of -inf (or inf) stay finite-safe
        with np.errstate(divide="ignore"):
            full = m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        ctx.save_for_backward(x, full)
        return full if keepdim else full.squeeze(axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, full = ctx.saved_tensors
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        return g * array_module(x).exp(x - full)


class Norm2(Function):
    """out = sqrt(sum(x**2)) over ``axes``;  dx = g * x / out  (0 where out = 0, as torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, axes, keepdim):
        ctx.axes, ctx.keepdim = axes, keepdim
        full = array_module(x).sqrt((x * x).sum(axis=axes, keepdims=True))
        ctx.save_for_backward(x, full)
        return full if keepdim else full.reshape([n for i, n in enumerate(full.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        x, full = ctx.saved_tensors
        xp = array_module(x)
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        safe = xp.where(full == 0, 1, full).astype(x.dtype)
        return xp.where(full == 0, 0, g * x / safe).astype(x.dtype)


class NormP(Function):
    """out = sum(|x|**p)**(1/p) over ``axes``;  dx = g * sign(x) |x|**(p-1) / out**(p-1).

    As torch: 0 where ``out == 0``, and ``|x|**(p-1)`` taken as 0 at ``x == 0`` for p < 1.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, p, axes, keepdim):
        xp = array_module(x)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        full = ((xp.abs(x) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, full)
        return full if keepdim else full.reshape([n for i, n in enumerate(full.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        x, full = ctx.saved_tensors
        xp = array_module(x)
        p = ctx.p
        g = _unsqueeze_to(g, ctx.axes, ctx.keepdim)
        zero = xp.zeros((), dtype=x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = xp.sign(x) * xp.abs(x) ** (p - 1)
            if p < 1:
                scaled = xp.where(x == 0, zero, scaled)
            scale = xp.where(full == 0, zero, g / full ** (p - 1))
        return (scaled * scale).astype(x.dtype, copy=False)


class CumSum(Function):
    """out[i] = x[0] + ... + x[i] along ``dim``;  dx[i] = g[i] + ... + g[n-1]."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dim):
        ctx.dim = dim
        return array_module(x).cumsum(x, axis=dim).reshape(x.shape)  # dim None: a 0-d x

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.flip(xp.cumsum(xp.flip(g, axis=ctx.dim), axis=ctx.dim), axis=ctx.dim).reshape(g.shape)


# ---------------------------------------------------------------------------- public forms
def _reduce_dims(op: str, dim: Any, ndim: int) -> tuple[int, ...]:
    """The axes to reduce: ``dim`` None or empty (``()``, ``[]``) means every dim, as torch."""
    if dim is not None and not isinstance(dim, int) and len(dim) == 0:
        dim = None
    return normalize_dims(op, dim, ndim)


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (all dims when None). Bool and integer tensors sum to int64."""
    axes = _reduce_dims("sum", dim, input.ndim)
    if dtype is not None:
        dt = dtypes.to_dtype(dtype).numpy_dtype
    else:
        dt = np.dtype(np.int64) if input._data.dtype.kind in "biu" else None
    return Sum.apply(input, axes=axes, keepdim=keepdim, dtype=dt)


def mean(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean over ``dim``; needs a float tensor (or ``dtype=``), as torch."""
    if dtype is not None:
        input = cast(input, dtypes.to_dtype(dtype).numpy_dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {input.dtype.name}"
        )
    return Mean.apply(input, axes=_reduce_dims("mean", dim, input.ndim), keepdim=keepdim)


def _correction(op: str, unbiased: Any, correction: Any) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give either unbiased or correction, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def _var_args(op: str, input: Tensor, dim: Any, unbiased: Any, correction: Any) -> tuple[tuple[int, ...], float]:
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}(): std and var only support floating point dtypes, got {input.dtype.name}")
    if isinstance(dim, bool):  # var(x, True): torch's old positional `unbiased`
        dim, unbiased = None, dim
    return _reduce_dims(op, dim, input.ndim), _correction(op, unbiased, correction)


def var(
    input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Tensor:
    """Variance over ``dim``: sum((x - mean)**2) / (n - correction); correction 1 by default."""
    axes, c = _var_args("var", input, dim, unbiased, correction)
    return Var.apply(input, axes=axes, keepdim=keepdim, correction=c)


def std(
    input: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> Tensor:
    """Standard deviation: sqrt(var(...)); its gradient is 0 where it is 0 (torch)."""
    axes, c = _var_args("std", input, dim, unbiased, correction)
    return Std.apply(input, axes=axes, keepdim=keepdim, correction=c)


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    axis = None if dim is None else normalize_dim("prod", dim, input.ndim)
    if input._data.dtype.kind in "biu":
        return Tensor._make(input._data.prod(axis=axis, keepdims=keepdim and axis is not None, dtype=np.int64))
    return Prod.apply(input, axis=axis if input.ndim else None, keepdim=keepdim)


def _max_min(op: str, input: Tensor, dim: Any, keepdim: bool) -> Any:
    if isinstance(dim, Tensor):  # torch.max(a, b) is maximum(a, b)
        from minidl.ops.elementwise import maximum, minimum

        return (maximum if op == "max" else minimum)(input, dim)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(
                f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        return MaxMinAll.apply(input, mode=op)
    d = normalize_dim(op, dim, input.ndim)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._make(np.zeros((), dtype=np.int64)))
    if input.shape[d] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    values, indices = MaxMinDim.apply(input, dim=d, keepdim=keepdim, mode=op)
    return ValuesIndices(values, indices)


def max(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The largest element; with ``dim``, ``(values, indices)`` along it."""
    return _max_min("max", input, dim, keepdim)


def min(input: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The smallest element; with ``dim``, ``(values, indices)`` along it."""
    return _max_min("min", input, dim, keepdim)


def _amax_amin(op: str, input: Tensor, dim: Any, keepdim: bool) -> Tensor:
    axes = _reduce_dims(op, dim, input.ndim)
    if input.numel() == 0 and (dim is None or (not isinstance(dim, int) and len(dim) == 0)):
        raise RuntimeError(
            f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    for a in axes:
        if input.shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")
    return AmaxAmin.apply(input, axes=axes, keepdim=keepdim, mode=op[1:])


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Maximum over ``dim`` (all dims when ``()``); ties share the gradient evenly."""
    return _amax_amin("amax", input, dim, keepdim)


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """Minimum over ``dim`` (all dims when ``()``); ties share the gradient evenly."""
    return _amax_amin("amin", input, dim, keepdim)


def _arg(op: str, input: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    x = input._data
    if x.size == 0 and dim is None:
        raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
    fn = x.argmax if op == "argmax" else x.argmin
    if dim is None:
        out = fn()
        if keepdim:
            out = array_module(x).asarray(out).reshape((1,) * x.ndim)
    elif x.ndim == 0:
        normalize_dim(op, dim, 0)
        out = fn()
    else:
        d = normalize_dim(op, dim, x.ndim)
        if x.shape[d] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        out = fn(axis=d, keepdims=keepdim)
    return Tensor._make(array_module(x).asarray(out, dtype=np.int64))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) largest element, flattened when ``dim`` is None."""
    return _arg("argmax", input, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the (first) smallest element, flattened when ``dim`` is None."""
    return _arg("argmin", input, dim, keepdim)


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """log(sum(exp(input))) over ``dim``, without overflow."""
    x = _float_input("logsumexp", input)
    return LogSumExp.apply(x, axes=normalize_dims("logsumexp", dim, x.ndim), keepdim=keepdim)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default): 'fro'/2, 1, inf, -inf, or any p > 0.

    As torch, only for floating-point tensors; the gradient is 0 where the norm is 0.
    """
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"norm(): expected a floating-point tensor as input, got {input.dtype.name}")
    axes = _reduce_dims("norm", dim, input.ndim)
    if p in ("fro", 2, 2.0):
        return Norm2.apply(input, axes=axes, keepdim=keepdim)
    if p in (1, 1.0):
        return input.abs().sum(axes, keepdim)
    if p == float("inf"):
        return input.abs().amax(axes, keepdim)
    if p == float("-inf"):
        return input.abs().amin(axes, keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0:
        return NormP.apply(input, p=float(p), axes=axes, keepdim=keepdim)
    raise ValueError(f"norm: unsupported p={p!r} (use 'fro', 1, 2, inf, -inf or a positive number)")


def cumsum(input: Tensor, dim: int) -> Tensor:
    """Running sum along ``dim``."""
    d = normalize_dim("cumsum", dim, input.ndim)
    if input._data.dtype.kind in "biu":
        x = input._data
        return Tensor._make(array_module(x).cumsum(x, axis=d if x.ndim else None, dtype=np.int64).reshape(x.shape))
    return CumSum.apply(input, dim=d if input.ndim else None)


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims("any", dim, input.ndim)
    return Tensor._make(array_module(input._data).asarray(input._data.any(axis=axes, keepdims=keepdim)))


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims("all", dim, input.ndim)
    return Tensor._make(array_module(input._data).asarray(input._data.all(axis=axes, keepdims=keepdim)))

"""Activation functions: relu, sigmoid, tanh, softmax, log_softmax.

Shapes: relu/sigmoid/tanh keep the input's shape; softmax and log_softmax normalise
along ``dim`` and keep the shape too. Every exponential subtracts the row maximum first,
so large logits never overflow (as torch).
"""

from __future__ import annotations

from typing import Any

from minidl import dtypes
from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.errors import normalize_dim
from minidl.ops.elementwise import _float_input, cast
from minidl.tensor import Tensor

__all__ = ["log_softmax", "relu", "sigmoid", "softmax", "tanh"]


class ReLU(Function):
    """out = max(x, 0);  dx = g where out > 0 (0 at x = 0, as torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = array_module(x).maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out > 0)


class Sigmoid(Function):
    """out = 1 / (1 + e**-x);  dx = g * out * (1 - out).

    Computed from e**-|x|, which never overflows, so tiny outputs keep full precision.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))
        out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out * (1 - out)


class Tanh(Function):
    """out = tanh x;  dx = g * (1 - out**2)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = array_module(x).tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out * out)


class Softmax(Function):
    """out = e**(x - max) / sum(e**(x - max)) along ``dim``;  dx = out * (g - sum(g * out))."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dim):
        ctx.dim = dim
        e = array_module(x).exp(x - x.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return out * (g - (g * out).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """out = x - max - log(sum(e**(x - max))) along ``dim``;  dx = g - e**out * sum(g)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dim):
        ctx.dim = dim
        xp = array_module(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - array_module(g).exp(out) * g.sum(axis=ctx.dim, keepdims=True)


def relu(input: Tensor) -> Tensor:
    """max(input, 0) elementwise."""
    return ReLU.apply(input)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-input)) elementwise."""
    return Sigmoid.apply(_float_input("sigmoid", input))


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(_float_input("tanh", input))


def _softmax_input(op: str, input: Tensor, dim: Any, dtype: Any) -> tuple[Tensor, int]:
    if dim is None:
        raise TypeError(f"{op}: dim must be given (the dimension to normalise over)")
    x = input if dtype is None else cast(input, dtypes.to_dtype(dtype).numpy_dtype)
    return _float_input(op, x), normalize_dim(op, dim, input.ndim)


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """exp(input) / sum(exp(input)) along ``dim`` (rows sum to 1)."""
    x, d = _softmax_input("softmax", input, dim, dtype)
    return Softmax.apply(x, dim=d if x.ndim else None)


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """log(softmax(input, dim)), computed without forming the softmax (no log(0))."""
    x, d = _softmax_input("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(x, dim=d if x.ndim else None)

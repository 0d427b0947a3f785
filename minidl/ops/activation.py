"""Activation functions: relu, sigmoid, tanh, softmax, log_softmax.

Shapes: relu/sigmoid/tanh keep the input's shape; softmax and log_softmax normalise
along ``dim`` and keep the shape too. Every exponential subtracts the row maximum first,
so large logits never overflow (as torch).
"""

from __future__ import annotations

import math
from typing import Any

from minidl import dtypes
from minidl.autograd.function import Function
from minidl.backend import array_module, numba_kernels_or_none
from minidl.errors import normalize_dim
from minidl.ops.elementwise import DtypeNotImplementedError, _float_input, cast
from minidl.tensor import Tensor

__all__ = ["log_softmax", "relu", "sigmoid", "softmax", "tanh"]


class ReLU(Function):
    """out = max(x, 0);  dx = g where out > 0 (0 at x = 0, as torch).

    Exactly torch's rules at the edges: out = 0 where x < 0, else x (so -0 and NaN pass through);
    dx = 0 where out <= 0, else g (so a NaN input passes g on, and g = inf meets 0, not NaN).

    The numpy lines are the reference; C-contiguous float arrays take the numba kernels
    (:func:`minidl.backend.numba_kernels.relu_forward`, ``relu_backward``), which compute the same
    bits in one pass each (no bool temporary in backward).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, out=None):
        # ``out``: an array of x's shape and dtype to write the result into (``x`` itself for inplace=True)
        nb = numba_kernels_or_none()
        if nb is not None and nb.supports_flat(x) and (out is None or nb.supports_flat(x, out)):
            out = nb.relu_forward(x) if out is None else nb.relu_forward(x, out)
        elif out is None:
            out = array_module(x).where(x < 0, 0, x)
        else:
            out[...] = array_module(x).where(x < 0, 0, x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        nb = numba_kernels_or_none()
        if nb is not None and nb.supports_flat(g, out):
            return nb.relu_backward(g, out)
        return array_module(g).where(out <= 0, 0, g)


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


def _maybe_inplace(input: Tensor, inplace: bool, name: str, compute: Any, compute_into: Any = None) -> Tensor:
    """``compute()``, or with ``inplace`` its result written into ``input`` (torch's ``inplace=True``:
    the input tensor itself becomes the output; minidl.ops.inplace has the rules in a graph, and
    ``compute_into``'s use outside one)."""
    if not inplace:
        return compute()
    from minidl.ops.inplace import apply_inplace

    return apply_inplace(input, name, compute, compute_into)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0) elementwise (integer tensors stay integer, as torch); ``inplace``: into ``input``."""
    if not isinstance(input, Tensor):
        raise TypeError(f"relu(): argument 'input' must be Tensor, not {type(input).__name__}")
    return _maybe_inplace(input, inplace, "relu_", lambda: ReLU.apply(input),
                          lambda array: ReLU.apply(input, out=array))  # fmt: skip


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-input)) elementwise."""
    return Sigmoid.apply(_float_input("sigmoid", input))


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(_float_input("tanh", input))


def _softmax_input(op: str, input: Tensor, dim: Any, dtype: Any) -> tuple[Tensor, int]:
    if dim is None:
        raise TypeError(f"{op}: dim must be given (the dimension to normalise over)")
    if dtype is None and input._data.dtype.kind != "f":
        # as torch: integer logits need an explicit float dtype=
        raise DtypeNotImplementedError(f"{op}: not implemented for {input.dtype.name} tensors; pass dtype=")
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


# ---------------------------------------------------------------------------- nn's activations
class LeakyReLU(Function):
    """out = x if x > 0 else slope * x;  dx = g * (1 if x > 0 else slope)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, slope):
        ctx.slope = slope
        ctx.save_for_backward(x)
        return array_module(x).where(x > 0, x, x * x.dtype.type(slope))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return array_module(g).where(x > 0, g, g * g.dtype.type(ctx.slope))


class ELU(Function):
    """out = x if x > 0 else alpha (e**x - 1);  dx = g if x > 0 else g * (out + alpha)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, alpha):
        xp = array_module(x)
        out = xp.where(x > 0, x, x.dtype.type(alpha) * xp.expm1(xp.minimum(x, 0)))
        ctx.alpha = alpha
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        return array_module(g).where(x > 0, g, g * (out + out.dtype.type(ctx.alpha)))


class GELU(Function):
    """out = x * Phi(x), Phi the standard normal CDF (or its tanh approximation);
    dx = g * (Phi(x) + x * phi(x)), phi the normal density."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, approximate):
        xp = array_module(x)
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate == "tanh":
            k = x.dtype.type(math.sqrt(2 / math.pi))
            return 0.5 * x * (1 + xp.tanh(k * (x + 0.044715 * x * x * x)))
        return 0.5 * x * (1 + erf(x * x.dtype.type(1 / math.sqrt(2))))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        if ctx.approximate == "tanh":
            k = x.dtype.type(math.sqrt(2 / math.pi))
            inner = k * (x + 0.044715 * x * x * x)
            t = xp.tanh(inner)
            d_inner = k * (1 + 3 * 0.044715 * x * x)
            return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + erf(x * x.dtype.type(1 / math.sqrt(2))))
        pdf = xp.exp(-0.5 * x * x) * x.dtype.type(1 / math.sqrt(2 * math.pi))
        return g * (cdf + x * pdf)


class Softplus(Function):
    """out = log(1 + e**(beta x)) / beta (x where beta x > threshold);  dx = g * sigmoid(beta x)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, beta, threshold):
        xp = array_module(x)
        ctx.beta, ctx.threshold = beta, threshold
        ctx.save_for_backward(x)
        bx = x * x.dtype.type(beta)
        soft = (xp.maximum(bx, 0) + xp.log1p(xp.exp(-xp.abs(bx)))) / x.dtype.type(beta)
        return xp.where(bx > threshold, x, soft)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = array_module(x)
        bx = x * x.dtype.type(ctx.beta)
        e = xp.exp(-xp.abs(bx))
        sig = xp.where(bx >= 0, 1 / (1 + e), e / (1 + e))
        return xp.where(bx > ctx.threshold, g, g * sig)


class Hardtanh(Function):
    """out = clamp(x, lo, hi);  dx = g where lo < x < hi (strictly, as torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        xp = array_module(x)
        return xp.minimum(xp.maximum(x, x.dtype.type(lo)), x.dtype.type(hi))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > ctx.lo) & (x < ctx.hi))


def erf(x):
    """The error function on numpy (scipy) or cupy (cupyx) arrays."""
    if type(x).__module__.startswith("cupy"):
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    from scipy.special import erf as scipy_erf

    return scipy_erf(x).astype(x.dtype, copy=False)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, "leaky_relu_",
                          lambda: LeakyReLU.apply(_float_input("leaky_relu", input), slope=negative_slope))  # fmt: skip


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, "elu_", lambda: ELU.apply(_float_input("elu", input), alpha=alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(_float_input("gelu", input), approximate=approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus.apply(_float_input("softplus", input), beta=beta, threshold=threshold)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    return _maybe_inplace(input, inplace, "silu_", lambda: input * sigmoid(input))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    return _maybe_inplace(input, inplace, "hardtanh_",
                          lambda: Hardtanh.apply(_float_input("hardtanh", input), lo=min_val, hi=max_val))  # fmt: skip


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)

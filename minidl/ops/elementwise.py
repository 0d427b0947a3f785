"""Elementwise ops: arithmetic, math functions, clamp, maximum/minimum, where, comparisons.

Shapes: inputs broadcast against each other as in numpy/torch; the output has the
broadcast shape. Backward returns gradients of the *broadcast* shape: the engine sums
them back to each input's shape (``engine.sum_to_shape``), so no op repeats that logic.

Each op is a :class:`~minidl.autograd.Function` on raw arrays: ``forward`` computes the
value, ``backward`` the vector-Jacobian product, side by side. The functions at the
bottom of each section (``add``, ``exp``, ...) are the public forms: they turn Python
numbers into arrays of the right dtype (torch's promotion rules, ``minidl.dtypes``) and
call ``Fn.apply``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from minidl import dtypes
from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.errors import ShapeError
from minidl.tensor import Tensor

__all__ = [
    "DtypeError", "DtypeNotImplementedError", "abs", "add", "bitwise_not", "cast", "ceil",
    "clamp", "clone", "compare", "cos", "div", "exp", "expm1", "floor", "floor_divide",
    "isfinite", "isinf", "isnan", "log", "log1p", "logical", "logical_not", "masked_fill",
    "maximum", "minimum", "mul", "neg", "pow", "reciprocal", "remainder", "round", "rsqrt",
    "sign", "sin", "sqrt", "square", "sub", "trunc", "where",
]  # fmt: skip


class DtypeError(RuntimeError, TypeError):
    """An operand of a dtype the op refuses (torch raises RuntimeError, e.g. ``bool - bool``)."""


class DtypeNotImplementedError(NotImplementedError, TypeError):
    """An op with no kernel for the dtype (torch raises NotImplementedError: ``float & float``)."""


# ---------------------------------------------------------------------------- helpers
def as_tensor_operand(x: Any, ref: Tensor) -> Tensor:
    """A tensor for ``x``: tensors pass through, numbers and arrays become constants."""
    if isinstance(x, Tensor):
        return x
    return Tensor._make(array_module(ref._data).asarray(x))


def promote(a: Any, b: Any, op: str, *, floating: bool = False) -> tuple[Any, Any]:
    """Bring two operands to torch's common dtype.

    Numbers become 0-d arrays of that dtype (constants: no grad); a tensor of another
    dtype goes through the differentiable :func:`cast`. ``floating=True`` (true division)
    promotes integer results to the default float dtype, as torch does.
    """
    # fast paths for the common cases: same-dtype tensors, a float tensor and a Python number
    ta, tb = type(a) is Tensor, type(b) is Tensor
    if ta and tb and a._data.dtype == b._data.dtype and (not floating or a._data.dtype.kind == "f"):
        return a, b
    if ta and type(b) in (float, int) and a._data.dtype.kind == "f":
        return a, array_module(a._data).asarray(b, dtype=a._data.dtype)
    if tb and type(a) in (float, int) and b._data.dtype.kind == "f":
        return array_module(b._data).asarray(a, dtype=b._data.dtype), b
    ref = a if isinstance(a, Tensor) else b
    if not isinstance(ref, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}")
    if not isinstance(a, (Tensor, bool, int, float, np.number, np.bool_, np.ndarray)):
        raise TypeError(f"{op}: unsupported operand type {type(a).__name__}")
    if not isinstance(b, (Tensor, bool, int, float, np.number, np.bool_, np.ndarray)):
        raise TypeError(f"{op}: unsupported operand type {type(b).__name__}")
    rd = dtypes.result_type(a, b)
    if floating and rd.kind != "f":
        rd = dtypes.get_default_dtype().numpy_dtype
    xp = array_module(ref._data)
    return _to(a, rd, xp), _to(b, rd, xp)


def _to(x: Any, rd: np.dtype, xp: Any) -> Any:
    if isinstance(x, Tensor):
        return x if x._data.dtype == rd else cast(x, rd)
    if isinstance(x, int) and not isinstance(x, bool) and rd.kind in "iu":
        # a Python int wraps around in a narrow integer dtype, as in torch (uint8 + 300)
        return xp.asarray(np.asarray(x).astype(rd))
    return xp.asarray(x, dtype=rd)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if hasattr(x, "shape") else ()


def apply_binary(fn: type[Function], a: Any, b: Any, op: str) -> Tensor:
    """``fn.apply(a, b)``, turning numpy's broadcasting failure into a clear error."""
    try:
        return fn.apply(a, b)
    except ValueError:
        sa, sb = _shape(a), _shape(b)
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ShapeError(
                f"{op}: shapes {sa} and {sb} cannot be broadcast together (sizes must match or "
                "be 1 in every dimension, counted from the right)"
            ) from None
        raise


# ---------------------------------------------------------------------------- arithmetic
class Add(Function):
    """out = a + b."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    """out = a - b."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """out = a * b;  da = g * b,  db = g * a."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (
            g * b if ctx.needs_input_grad[0] else None,
            g * a if ctx.needs_input_grad[1] else None,
        )


class Div(Function):
    """out = a / b;  da = g / b,  db = -g * a / b**2."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Function):
    """out = a ** b (both tensors);  da = g * b * a**(b-1),  db = g * out * log(a).

    As torch, ``db`` is 0 where ``a == 0`` and ``b >= 0`` (instead of ``0 * -inf``).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        xp = array_module(g)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                ga = xp.where(b == 0, 0, g * b * a ** (b - 1)).astype(g.dtype, copy=False)
            if ctx.needs_input_grad[1]:
                gb = xp.where((a == 0) & (b >= 0), 0, g * out * xp.log(a)).astype(g.dtype, copy=False)
        return ga, gb


class PowScalar(Function):
    """out = x ** p for a Python number p;  dx = g * p * x**(p-1)  (0 when p == 0)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, exponent):
        ctx.exponent = exponent
        ctx.save_for_backward(x)
        return x**exponent

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 0:
            return g * 0
        return g * (p * x ** (p - 1)).astype(g.dtype, copy=False)


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other`` with broadcasting."""
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    a, b = promote(input, other, "add")
    return apply_binary(Add, a, b, "add")


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other`` with broadcasting."""
    if _is_bool(input) or _is_bool(other):
        raise DtypeError(
            "sub: subtraction, the `-` operator, with a bool tensor or a bool is not supported; "
            "use ^ or logical_xor (to invert a mask, ~ or logical_not)"
        )
    if alpha != 1:
        other = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    a, b = promote(input, other, "sub")
    return apply_binary(Sub, a, b, "sub")


def _is_bool(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x._data.dtype == np.bool_
    return isinstance(x, (bool, np.bool_))


def mul(input: Any, other: Any) -> Tensor:
    """``input * other`` with broadcasting."""
    a, b = promote(input, other, "mul")
    return apply_binary(Mul, a, b, "mul")


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """True division (integers give floats, as in torch); ``rounding_mode`` 'floor'/'trunc'."""
    if rounding_mode is None:
        a, b = promote(input, other, "div", floating=True)
        return apply_binary(Div, a, b, "div")
    if rounding_mode not in ("floor", "trunc"):
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    if dtypes.result_type(input, other).kind != "f":  # integer division, no gradient
        a, b = promote(input, other, "div")
        return floor_divide(a, b) if rounding_mode == "floor" else _int_trunc_div(a, b)
    q = div(input, other)
    return floor(q) if rounding_mode == "floor" else trunc(q)


def _int_trunc_div(a: Any, b: Any) -> Tensor:
    xa = a._data if isinstance(a, Tensor) else a
    xb = b._data if isinstance(b, Tensor) else b
    xp = array_module(xa, xb)
    q = xp.abs(xa) // xp.abs(xb)
    return Tensor._make(q * xp.sign(xa) * xp.sign(xb))


def floor_divide(input: Any, other: Any) -> Tensor:
    """``input // other`` (no gradient, as torch's floor_divide)."""
    a, b = promote(input, other, "floor_divide")
    xa = a._data if isinstance(a, Tensor) else a
    xb = b._data if isinstance(b, Tensor) else b
    return Tensor._make(xa // xb)


def remainder(input: Any, other: Any) -> Tensor:
    """``input % other`` with the sign of the divisor (Python's and torch's rule); no gradient."""
    a, b = promote(input, other, "remainder")
    xa = a._data if isinstance(a, Tensor) else a
    xb = b._data if isinstance(b, Tensor) else b
    return Tensor._make(xa % xb)


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent``; either side may be a Python number."""
    if isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        if not isinstance(exponent, (int, float, np.number)):
            raise TypeError(f"pow: exponent must be a number or Tensor, got {type(exponent).__name__}")
        rd = dtypes.result_type(input, exponent)
        x = input if input._data.dtype == rd else cast(input, rd)
        if rd.kind in "iu" and exponent < 0:
            raise RuntimeError("pow: integers to negative integer powers are not allowed")
        if rd.kind == "f":
            exponent = float(exponent) if not float(exponent).is_integer() else int(exponent)
        return PowScalar.apply(x, exponent=exponent)
    a, b = promote(input, exponent, "pow")
    return apply_binary(Pow, a, b, "pow")


# ---------------------------------------------------------------------------- unary math
class Neg(Function):
    """out = -x."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    """out = e**x;  dx = g * out."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = array_module(x).exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Expm1(Function):
    """out = e**x - 1 (exact for small x);  dx = g * (out + 1)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = array_module(x).expm1(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (out + 1)


class Log(Function):
    """out = ln x;  dx = g / x."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


class Log1p(Function):
    """out = ln(1 + x) (exact for small x);  dx = g / (1 + x)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (1 + x)


class Sqrt(Function):
    """out = sqrt(x);  dx = g / (2 out)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = array_module(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Rsqrt(Function):
    """out = 1 / sqrt(x);  dx = -g * out**3 / 2."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        out = 1 / array_module(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -0.5 * g * out * out * out


class Abs(Function):
    """out = |x|;  dx = g * sign(x)  (0 at x = 0, as torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * array_module(x).sign(x)


class Sin(Function):
    """out = sin x;  dx = g cos x."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * array_module(x).cos(x)


class Cos(Function):
    """out = cos x;  dx = -g sin x."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cos(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return -g * array_module(x).sin(x)


class Piecewise(Function):
    """Step functions (sign, floor, ceil, round, trunc): gradient 0 everywhere, as torch."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, fn):
        return fn(x)

    @staticmethod
    def backward(ctx, g):
        return array_module(g).zeros_like(g)


def neg(input: Tensor) -> Tensor:
    if input._data.dtype == np.bool_:
        raise DtypeError("neg: negation, the `-` operator, on a bool tensor is not supported; use ~ instead")
    return Neg.apply(input)


def _float_input(op: str, x: Tensor) -> Tensor:
    """Math functions of integer tensors give the default float dtype (torch: exp(int) is float)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x._data.dtype.kind != "f":
        return cast(x, dtypes.get_default_dtype().numpy_dtype)
    return x


def exp(input: Tensor) -> Tensor:
    return Exp.apply(_float_input("exp", input))


def expm1(input: Tensor) -> Tensor:
    return Expm1.apply(_float_input("expm1", input))


def log(input: Tensor) -> Tensor:
    return Log.apply(_float_input("log", input))


def log1p(input: Tensor) -> Tensor:
    return Log1p.apply(_float_input("log1p", input))


def sqrt(input: Tensor) -> Tensor:
    return Sqrt.apply(_float_input("sqrt", input))


def rsqrt(input: Tensor) -> Tensor:
    return Rsqrt.apply(_float_input("rsqrt", input))


def sin(input: Tensor) -> Tensor:
    return Sin.apply(_float_input("sin", input))


def cos(input: Tensor) -> Tensor:
    return Cos.apply(_float_input("cos", input))


def abs(input: Tensor) -> Tensor:
    if input._data.dtype == np.bool_:
        raise DtypeNotImplementedError("abs: not implemented for bool tensors (as in torch)")
    return Abs.apply(input)


def square(input: Tensor) -> Tensor:
    return pow(input, 2)


def reciprocal(input: Tensor) -> Tensor:
    return div(1, input)


def sign(input: Tensor) -> Tensor:
    if input._data.dtype == np.bool_:  # sign(True) is True, as torch
        return Tensor._make(input._data.copy())
    return Piecewise.apply(input, fn=array_module(input._data).sign)


def floor(input: Tensor) -> Tensor:
    return input if input._data.dtype.kind != "f" else Piecewise.apply(input, fn=array_module(input._data).floor)


def ceil(input: Tensor) -> Tensor:
    return input if input._data.dtype.kind != "f" else Piecewise.apply(input, fn=array_module(input._data).ceil)


def trunc(input: Tensor) -> Tensor:
    return input if input._data.dtype.kind != "f" else Piecewise.apply(input, fn=array_module(input._data).trunc)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even, as torch and numpy."""
    if input._data.dtype.kind != "f":
        return input
    xp = array_module(input._data)
    return Piecewise.apply(input, fn=lambda a: xp.round(a, decimals))


# ---------------------------------------------------------------------------- clamp, max/min
class Clamp(Function):
    """out = min(max(x, lo), hi) for numbers lo/hi;  dx = g where lo <= x <= hi, else 0."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.lo, ctx.hi = lo, hi
        ctx.save_for_backward(x)
        xp = array_module(x)
        out = x
        if lo is not None:
            out = xp.maximum(out, xp.asarray(lo, dtype=x.dtype))
        if hi is not None:
            out = xp.minimum(out, xp.asarray(hi, dtype=x.dtype))
        return out if out is not x else x.copy()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        keep = True
        if ctx.lo is not None:
            keep = x >= ctx.lo
        if ctx.hi is not None:
            keep = keep & (x <= ctx.hi)
        return g * keep


class Maximum(Function):
    """out = max(a, b) elementwise; at ties each side gets half the gradient (torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_at_ties(g, a > b, a == b, ctx.needs_input_grad)


class Minimum(Function):
    """out = min(a, b) elementwise; at ties each side gets half the gradient (torch)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _split_at_ties(g, a < b, a == b, ctx.needs_input_grad)


def _split_at_ties(g: Any, a_wins: Any, tie: Any, needs: tuple[bool, ...]) -> tuple[Any, Any]:
    half = g * 0.5
    xp = array_module(g)
    ga = xp.where(tie, half, g * a_wins) if needs[0] else None
    gb = xp.where(tie, half, g * ~(a_wins | tie)) if needs[1] else None
    return ga, gb


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to ``[min, max]`` (numbers or tensors; either may be None)."""
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = where(out >= min, out, min)
        if max is not None:
            out = where(out <= max, out, max)
        return out
    rd = dtypes.result_type(input, *(v for v in (min, max) if v is not None))
    x = input if input._data.dtype == rd else cast(input, rd)
    return Clamp.apply(x, lo=min, hi=max)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    a, b = promote(input, other, "maximum")
    return apply_binary(Maximum, a, b, "maximum")


def minimum(input: Tensor, other: Tensor) -> Tensor:
    a, b = promote(input, other, "minimum")
    return apply_binary(Minimum, a, b, "minimum")


# ---------------------------------------------------------------------------- where
class Where(Function):
    """out = x where cond else y;  dx = g where cond,  dy = g where not cond."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, y, *, cond):
        ctx.save_for_backward(cond)
        return array_module(x).where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        xp = array_module(g)
        zero = xp.zeros((), dtype=g.dtype)
        return (
            xp.where(cond, g, zero) if ctx.needs_input_grad[0] else None,
            xp.where(cond, zero, g) if ctx.needs_input_grad[1] else None,
        )


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other`` (all broadcast together).

    With only ``condition``, the indices of its True elements, one tensor per dimension.
    """
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        xp = array_module(cond)
        return tuple(Tensor._make(i.astype(np.int64)) for i in xp.nonzero(cond))
    if cond.dtype != np.bool_:
        raise DtypeError(f"where: condition must be a bool tensor, got {cond.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        rd = dtypes.result_type(input, other)  # two numbers: torch gives their common dtype
        input = Tensor._make(array_module(cond).asarray(input, dtype=rd))
    ref = input if isinstance(input, Tensor) else other
    x, y = promote(input, other, "where")
    x = as_tensor_operand(x, ref)
    y = as_tensor_operand(y, ref)
    try:
        return Where.apply(x, y, cond=cond)
    except ValueError:
        raise ShapeError(
            f"where: condition {tuple(cond.shape)}, input {tuple(x.shape)} and other "
            f"{tuple(y.shape)} cannot be broadcast together"
        ) from None


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` where ``mask`` is True, else ``input``; keeps input's dtype.

    Shapes: mask and input broadcast together, as torch's out-of-place ``masked_fill``
    (``masked_fill_`` then refuses a result larger than the tensor it writes into).
    """
    m = mask._data if isinstance(mask, Tensor) else mask
    if m.dtype != np.bool_:
        raise DtypeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    if isinstance(value, Tensor):
        value = value.to(input.dtype)
    else:
        value = array_module(input._data).asarray(value, dtype=input._data.dtype)
    try:
        return where(mask, value, input)
    except ShapeError:
        raise ShapeError(
            f"masked_fill: mask {tuple(m.shape)} and input {tuple(input.shape)} cannot be broadcast together"
        ) from None


# ---------------------------------------------------------------------------- casts, copies
class Cast(Function):
    """out = x as another dtype;  dx = g (the engine casts it back to x's dtype)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g


class Clone(Function):
    """out = a copy of x;  dx = g."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def cast(input: Tensor, dtype: Any) -> Tensor:
    return Cast.apply(input, dtype=np.dtype(dtype))


def clone(input: Tensor) -> Tensor:
    return Clone.apply(input)


# ---------------------------------------------------------------------------- no-grad ops
_COMPARE = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
    "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}  # fmt: skip


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def compare(op: str, a: Any, b: Any) -> Tensor:
    """Elementwise comparison: a bool tensor, outside the graph."""
    if not isinstance(b, (Tensor, bool, int, float, np.number, np.bool_, np.ndarray)):
        if op in ("eq", "ne"):
            return NotImplemented  # lets `tensor == None` fall back to identity, as Python does
        raise TypeError(f"{op}: cannot compare a Tensor with {type(b).__name__}")
    xa, xb = _raw(a), _raw(b)
    try:
        with np.errstate(invalid="ignore"):
            out = _COMPARE[op](xa, xb)
    except ValueError:
        raise ShapeError(f"{op}: shapes {_shape(xa)} and {_shape(xb)} cannot be broadcast together") from None
    return Tensor._make(out)


def logical(op: str, a: Any, b: Any) -> Tensor:
    """Bitwise/logical and, or, xor of bool or integer tensors (torch's dtype for the result)."""
    name = f"bitwise_{op}"
    for x in (a, b):
        if (isinstance(x, Tensor) and x._data.dtype.kind == "f") or isinstance(x, (float, np.floating)):
            raise DtypeNotImplementedError(f"{name}: not implemented for floating-point operands (use bool or ints)")
    a, b = promote(a, b, name)
    fn = {"and": operator.and_, "or": operator.or_, "xor": operator.xor}[op]
    xa, xb = _raw(a), _raw(b)
    try:
        return Tensor._make(fn(xa, xb))
    except ValueError:
        raise ShapeError(f"{name}: shapes {_shape(xa)} and {_shape(xb)} cannot be broadcast together") from None


def logical_not(input: Tensor) -> Tensor:
    """True where ``input`` is zero (False), as a bool tensor (``torch.logical_not``)."""
    x = input._data
    return Tensor._make(~x if x.dtype == np.bool_ else x == 0)


def bitwise_not(input: Tensor) -> Tensor:
    """``~input`` as torch: bool and integer tensors only."""
    x = input._data
    if x.dtype.kind not in "biu":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return Tensor._make(~x)


def isnan(input: Tensor) -> Tensor:
    return Tensor._make(array_module(input._data).isnan(input._data))


def isinf(input: Tensor) -> Tensor:
    return Tensor._make(array_module(input._data).isinf(input._data))


def isfinite(input: Tensor) -> Tensor:
    return Tensor._make(array_module(input._data).isfinite(input._data))

"""Elementwise ops against torch: values, dtypes, every gradient, finite differences, errors.

Every differentiable op is checked twice: ``check_op`` against torch (forward, dtype and
the gradient of each input for a random upstream gradient) and ``check_gradcheck`` (float64
finite differences, inputs kept away from kinks and poles). Shapes come from hypothesis:
mutually broadcastable pairs include 0-d tensors, missing leading dims and size-1 dims.
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl as md
from tests.helpers import check_gradcheck, check_op, raises_like_torch, to_numpy
from tests.strategies import arrays, broadcastable_pair, float_dtypes, shapes

# small shapes for finite differences: one backward per output element
small_shapes = shapes(max_dims=3, max_side=3)


# ---------------------------------------------------------------------------- strategies
@st.composite
def small_arrays(draw: Any, dtype: Any = np.float64, low: float = -3.0, high: float = 3.0) -> np.ndarray:
    """At most 27 elements: cheap enough for finite differences."""
    return draw(arrays(shape=draw(small_shapes), dtype=dtype, low=low, high=high))


@st.composite
def signed_away_from_zero(
    draw: Any, shape: Any = None, dtype: Any = None, low: float = 0.5, high: float = 3.0
) -> np.ndarray:
    """Values with |x| in [low, high) and random signs (divisors, kinks of abs/sign)."""
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    x = draw(arrays(shape=shape, dtype=dtype, low=low, high=high))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (x * rng.choice(np.array([-1, 1], dtype=x.dtype), size=x.shape)).astype(x.dtype)


@st.composite
def int_arrays(draw: Any, shape: Any = None, low: int = -5, high: int = 6, dtype: Any = np.int64) -> np.ndarray:
    shape = draw(shapes()) if shape is None else shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.integers(low, high, size=shape).astype(dtype)


@st.composite
def bool_arrays(draw: Any, shape: Any = None) -> np.ndarray:
    shape = draw(shapes()) if shape is None else shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.random(shape) < 0.5


@st.composite
def broadcastable_shapes(draw: Any, n: int) -> tuple[tuple[int, ...], ...]:
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=4, max_side=4))
    return bs.input_shapes


@st.composite
def small_pair(draw: Any, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """A float64 broadcastable pair small enough for finite differences."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    a = draw(arrays(shape=bs.input_shapes[0], dtype=dtype))
    b = draw(arrays(shape=bs.input_shapes[1], dtype=dtype))
    return a, b


@st.composite
def pair_with_ties(draw: Any, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """A broadcastable pair of small integers as floats: many equal elements."""
    a, b = draw(broadcastable_pair(dtype=dtype))
    return np.round(a), np.round(b)


@st.composite
def mask_shape_for(draw: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts *to* ``shape`` (suffix of it, some sizes set to 1)."""
    k = draw(st.integers(0, len(shape)))
    suffix = shape[len(shape) - k :]
    ones = draw(st.lists(st.booleans(), min_size=k, max_size=k))
    return tuple(1 if o else n for n, o in zip(suffix, ones))


numbers = st.one_of(
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False, width=32),
    st.sampled_from([2.5, 0.5, -1.5]),
)
nonzero_numbers = st.one_of(
    st.sampled_from([1, 2, -3, 2.5, -0.5, 0.25]),
    st.floats(0.5, 3, width=32),
    st.floats(-3, -0.5, width=32),
)


# ---------------------------------------------------------------------------- arithmetic
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
}


@pytest.mark.parametrize("name", list(BINARY))
@given(pair=broadcastable_pair())
def test_binary_matches_torch(name: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
    check_op(BINARY[name], pair)


@given(a=arrays(), data=st.data())
def test_div_matches_torch(a: np.ndarray, data: st.DataObject) -> None:
    bs = data.draw(hnp.broadcastable_shapes(a.shape, min_dims=0, max_dims=4, max_side=4))
    b = data.draw(signed_away_from_zero(shape=bs, dtype=a.dtype))
    check_op(operator.truediv, [a, b])
    check_op(lambda x, y: x.div(y), [a, b])


@given(pair=broadcastable_pair(), alpha=st.sampled_from([2, -0.5, 1.5]))
def test_add_sub_alpha(pair: tuple[np.ndarray, np.ndarray], alpha: float) -> None:
    check_op(lambda x, y: md.add(x, y, alpha=alpha), pair, torch_fn=lambda x, y: torch.add(x, y, alpha=alpha))
    check_op(lambda x, y: x.sub(y, alpha=alpha), pair)


@given(
    dtypes=st.tuples(float_dtypes, float_dtypes),
    shapes_=broadcastable_shapes(2),
    op=st.sampled_from(["add", "sub", "mul", "maximum"]),
    data=st.data(),
)
def test_binary_mixed_float_dtypes(dtypes: Any, shapes_: Any, op: str, data: st.DataObject) -> None:
    """float32 with float64: result dtype as torch, each gradient in its input's dtype."""
    a = data.draw(arrays(shape=shapes_[0], dtype=dtypes[0]))
    b = data.draw(arrays(shape=shapes_[1], dtype=dtypes[1]))
    fn = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}.get(op)
    if fn is None:
        check_op(md.maximum, [a, b], torch_fn=torch.maximum, rtol=1e-4, atol=1e-5)
    else:
        check_op(fn, [a, b], rtol=1e-4, atol=1e-5)


@given(x=arrays(), s=numbers)
def test_python_scalar_either_side(x: np.ndarray, s: float) -> None:
    check_op(lambda t: t + s, [x])
    check_op(lambda t: s + t, [x])
    check_op(lambda t: t - s, [x])
    check_op(lambda t: s - t, [x])
    check_op(lambda t: t * s, [x])
    check_op(lambda t: s * t, [x])


@given(x=signed_away_from_zero(), s=nonzero_numbers)
def test_python_scalar_division(x: np.ndarray, s: float) -> None:
    check_op(lambda t: t / s, [x])
    check_op(lambda t: s / t, [x])


@given(x=int_arrays(), s=st.sampled_from([2, -3, 0.5, 2.5, True]))
def test_integer_arithmetic(x: np.ndarray, s: Any) -> None:
    """Integer tensors: exact values and torch's dtypes (true division gives float32)."""
    for fn in (
        lambda t: t + s,
        lambda t: s * t,
        lambda t: t - 2,
        lambda t: t / 2,
        lambda t: t * 2.5,
    ):
        check_op(fn, [x])
    y = np.abs(x) % 4 + 1  # nonzero divisors
    check_op(lambda a, b: a / b, [x, y])
    check_op(lambda a, b: a / b, [x, y[..., :1]] if y.ndim else [x, y])


@given(pair=small_pair())
def test_binary_gradcheck(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    for fn in (operator.add, operator.sub, operator.mul):
        check_gradcheck(fn, [a, b])


@given(a=small_arrays(), b=signed_away_from_zero(shape=small_shapes, dtype=np.float64))
def test_div_gradcheck(a: np.ndarray, b: np.ndarray) -> None:
    check_gradcheck(operator.truediv, [a.reshape(-1)[:1].reshape(()), b])
    check_gradcheck(lambda x: 2.5 / x, [b])
    check_gradcheck(lambda x: x / 3, [a])


def test_neg_and_unary_minus() -> None:
    x = np.array([[1.5, -2.0, 0.0]], dtype=np.float32)
    check_op(operator.neg, [x])
    check_op(lambda t: t.neg(), [x])
    check_op(operator.neg, [np.array([1, -2, 3])])
    check_gradcheck(operator.neg, [x])


@given(x=arrays())
def test_neg_property(x: np.ndarray) -> None:
    check_op(operator.neg, [x])


# ---------------------------------------------------------------------------- pow
@given(pair=broadcastable_pair(low=-2, high=2))
def test_pow_tensor_tensor(pair: tuple[np.ndarray, np.ndarray]) -> None:
    base, exponent = pair
    base = np.abs(base) + np.asarray(0.5, dtype=base.dtype)  # positive: real powers, finite log
    check_op(operator.pow, [base, exponent])
    check_op(lambda a, b: a.pow(b), [base, exponent])


@given(x=arrays(low=0.5, high=3), p=st.sampled_from([-2, -1, -0.5, 0, 0.5, 1, 2, 2.5, 3]))
def test_pow_tensor_number(x: np.ndarray, p: float) -> None:
    check_op(lambda t: t**p, [x])


@given(x=arrays(), p=st.sampled_from([0, 1, 2, 3, 4]))
def test_pow_integer_exponent_negative_base(x: np.ndarray, p: int) -> None:
    check_op(lambda t: t**p, [x])
    check_op(lambda t: md.square(t), [x], torch_fn=torch.square)


@given(x=arrays(low=-2, high=2), base=st.sampled_from([2, 0.5, 2.5, 10, 1]))
def test_pow_number_tensor(x: np.ndarray, base: float) -> None:
    check_op(lambda t: base**t, [x])


def test_pow_zero_base_gradient() -> None:
    """0 ** b: torch's gradient wrt b is 0 where b >= 0 (not 0 * log 0 = nan)."""
    a = np.array([0.0, 0.0, 2.0, 0.0], dtype=np.float64)
    b = np.array([2.0, 0.0, 0.5, 1.0], dtype=np.float64)
    check_op(operator.pow, [a, b])
    check_op(lambda t: t**0, [a])
    check_op(lambda t: t**2, [a])


@given(x=int_arrays(low=-3, high=4), p=st.sampled_from([0, 1, 2, 3]))
def test_pow_integer_tensor(x: np.ndarray, p: int) -> None:
    check_op(lambda t: t**p, [x])
    check_op(lambda t: t**2.5, [np.abs(x)])
    check_op(lambda t: 2**t, [np.abs(x)])


def test_pow_integer_negative_exponent_raises() -> None:
    raises_like_torch(lambda: md.tensor([1, 2]) ** -1, lambda: torch.tensor([1, 2]) ** -1, "negative")


@given(base=small_arrays(low=0.5, high=2), e=small_arrays(low=-2, high=2))
def test_pow_gradcheck(base: np.ndarray, e: np.ndarray) -> None:
    check_gradcheck(operator.pow, [base, e.reshape(-1)[:1].reshape(())])
    check_gradcheck(lambda t: t**2.5, [base])
    check_gradcheck(lambda t: t**-2, [base])
    check_gradcheck(lambda t: t**3, [e])
    check_gradcheck(lambda t: 2.5**t, [e])


# ---------------------------------------------------------------------------- unary math
# name -> (minidl fn, torch fn, strategy of valid inputs)
UNARY = {
    "exp": (md.exp, torch.exp, arrays()),
    "log": (md.log, torch.log, arrays(low=0.1, high=5)),
    "log1p": (md.log1p, torch.log1p, arrays(low=-0.9, high=3)),
    "expm1": (md.expm1, torch.expm1, arrays()),
    "sqrt": (md.sqrt, torch.sqrt, arrays(low=0.1, high=5)),
    "rsqrt": (md.rsqrt, torch.rsqrt, arrays(low=0.1, high=5)),
    "abs": (md.abs, torch.abs, signed_away_from_zero(low=0.05)),
    "sin": (md.sin, torch.sin, arrays(low=-6, high=6)),
    "cos": (md.cos, torch.cos, arrays(low=-6, high=6)),
    "reciprocal": (md.reciprocal, torch.reciprocal, signed_away_from_zero()),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_unary_matches_torch(name: str, data: st.DataObject) -> None:
    m_fn, t_fn, strategy = UNARY[name]
    x = data.draw(strategy)
    check_op(m_fn, [x], torch_fn=t_fn)
    check_op(lambda t: getattr(t, name)(), [x])  # the Tensor method


@pytest.mark.parametrize("name", list(UNARY))
@given(data=st.data())
def test_unary_gradcheck(name: str, data: st.DataObject) -> None:
    m_fn, _, strategy = UNARY[name]
    x = data.draw(strategy).astype(np.float64)
    check_gradcheck(m_fn, [x.reshape(-1)[:12]])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "expm1", "log1p", "rsqrt"])
def test_unary_on_integer_gives_float32(name: str) -> None:
    x = np.array([1, 2, 4])
    check_op(getattr(md, name), [x], torch_fn=getattr(torch, name))


def test_unary_small_values_exact() -> None:
    """log1p and expm1 keep full relative precision near 0."""
    x = np.array([1e-10, -1e-12, 3e-8], dtype=np.float64)
    check_op(md.log1p, [x], torch_fn=torch.log1p, rtol=1e-14, atol=0)
    check_op(md.expm1, [x], torch_fn=torch.expm1, rtol=1e-14, atol=0)


def test_abs_gradient_at_zero_is_zero() -> None:
    check_op(md.abs, [np.array([0.0, -0.0, 1.0, -2.0], dtype=np.float32)], torch_fn=torch.abs)


def test_unary_rejects_non_tensor() -> None:
    raises_like_torch(lambda: md.exp([1.0]), lambda: torch.exp([1.0]), "exp")


# ---------------------------------------------------------------------------- step functions
STEP = ["sign", "floor", "ceil", "round", "trunc"]


@pytest.mark.parametrize("name", STEP)
@given(x=arrays(low=-4, high=4))
def test_step_functions(name: str, x: np.ndarray) -> None:
    """Values as torch, gradient exactly 0 everywhere."""
    check_op(getattr(md, name), [x], torch_fn=getattr(torch, name))
    check_op(lambda t: getattr(t, name)(), [x])


@pytest.mark.parametrize("name", STEP)
def test_step_functions_halves_and_integers(name: str) -> None:
    """Round half to even; integer tensors stay integer (as torch)."""
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, 3.0, -0.49], dtype=np.float32)
    check_op(getattr(md, name), [x], torch_fn=getattr(torch, name))
    check_op(getattr(md, name), [np.array([-3, 0, 2])], torch_fn=getattr(torch, name))


def test_sign_of_bool_tensor() -> None:
    check_op(md.sign, [np.array([True, False])], torch_fn=torch.sign)


@pytest.mark.parametrize("name", STEP)
def test_step_functions_gradcheck(name: str) -> None:
    x = np.array([0.3, -1.2, 2.7, -0.6], dtype=np.float64)  # away from the jumps
    check_gradcheck(getattr(md, name), [x])


def test_round_decimals() -> None:
    x = np.array([1.234, -5.678, 0.125], dtype=np.float64)
    check_op(lambda t: t.round(decimals=2), [x])


# ---------------------------------------------------------------------------- clamp
bounds = st.floats(-2, 2, allow_nan=False, width=32)


@given(x=arrays(), lo=bounds, hi=bounds)
def test_clamp_numbers(x: np.ndarray, lo: float, hi: float) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    check_op(lambda t: md.clamp(t, lo, hi), [x], torch_fn=lambda t: torch.clamp(t, lo, hi))
    check_op(lambda t: t.clamp(min=lo), [x])
    check_op(lambda t: t.clamp(max=hi), [x])
    check_op(lambda t: t.clip(lo, hi), [x])


def test_clamp_min_above_max_gives_max() -> None:
    x = np.array([-3.0, 0.0, 3.0], dtype=np.float32)
    check_op(lambda t: t.clamp(1.0, -1.0), [x])


def test_clamp_at_the_bounds() -> None:
    """At x == min or x == max the gradient passes (torch: min <= x <= max)."""
    x = np.array([-1.0, 1.0, 0.0, 2.0, -2.0], dtype=np.float32)
    check_op(lambda t: t.clamp(-1.0, 1.0), [x])


@given(x=arrays(), data=st.data())
def test_clamp_tensor_bounds(x: np.ndarray, data: st.DataObject) -> None:
    """Tensor bounds that broadcast to x's shape (torch's own clamp backward fails otherwise)."""
    lo = data.draw(arrays(shape=data.draw(mask_shape_for(x.shape)), dtype=x.dtype, low=-2, high=0))
    hi = data.draw(arrays(shape=data.draw(mask_shape_for(x.shape)), dtype=x.dtype, low=0, high=2))
    check_op(lambda t, a, b: md.clamp(t, a, b), [x, lo, hi], torch_fn=lambda t, a, b: torch.clamp(t, a, b))
    check_op(lambda t, a: t.clamp(min=a), [x, lo])
    check_op(lambda t, b: t.clamp(max=b), [x, hi])


@given(shapes_=broadcastable_shapes(3), dtype=float_dtypes, data=st.data())
def test_clamp_tensor_bounds_broadcast_forward(shapes_: Any, dtype: Any, data: st.DataObject) -> None:
    """Bounds may also enlarge the result (forward only: torch's backward cannot sum x's gradient back)."""
    x = data.draw(arrays(shape=shapes_[0], dtype=dtype))
    lo = data.draw(arrays(shape=shapes_[1], dtype=dtype, low=-2, high=0))
    hi = data.draw(arrays(shape=shapes_[2], dtype=dtype, low=-1, high=2))  # sometimes hi < lo
    check_op(
        lambda t, a, b: md.clamp(t, a, b), [x, lo, hi], torch_fn=lambda t, a, b: torch.clamp(t, a, b), check_grad=False
    )


@given(x=int_arrays(), lo=st.sampled_from([-2, 0, 1.5]), hi=st.sampled_from([3, 2.5]))
def test_clamp_integer_tensor(x: np.ndarray, lo: Any, hi: Any) -> None:
    check_op(lambda t: t.clamp(lo, hi), [x])
    check_op(lambda t: t.clamp(min=lo), [x])


@given(x=small_arrays())
def test_clamp_gradcheck(x: np.ndarray) -> None:
    # bounds at +-0.05 from the nearest grid point of x: keep away from the kinks
    x = np.where(np.abs(np.abs(x) - 1) < 0.05, x + 0.2, x)
    check_gradcheck(lambda t: t.clamp(-1.0, 1.0), [x])
    check_gradcheck(lambda t: t.clamp(min=-1.0), [x])
    lo = np.full(x.shape, -1.0)
    hi = np.full(x.shape, 1.0)
    check_gradcheck(lambda t, a, b: md.clamp(t, a, b), [x, lo, hi])


def test_clamp_without_bounds_raises() -> None:
    raises_like_torch(lambda: md.clamp(md.ones(2)), lambda: torch.clamp(torch.ones(2)), "clamp", "min", "max")


# ---------------------------------------------------------------------------- maximum, minimum
@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(pair=broadcastable_pair())
def test_maximum_minimum(name: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
    check_op(getattr(md, name), pair, torch_fn=getattr(torch, name))
    check_op(lambda a, b: getattr(a, name)(b), pair)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(pair=pair_with_ties())
def test_maximum_minimum_ties_split_gradient(name: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Equal inputs share the gradient half/half, as torch."""
    check_op(getattr(md, name), pair, torch_fn=getattr(torch, name))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_equal_inputs(name: str) -> None:
    a = np.array([[1.0, 2.0, -3.0]], dtype=np.float32)
    check_op(getattr(md, name), [a, a.copy()], torch_fn=getattr(torch, name))
    check_op(getattr(md, name), [a, np.array(2.0, dtype=np.float32)], torch_fn=getattr(torch, name))
    # the same tensor on both sides: the two halves add up to the whole gradient
    check_op(lambda x: getattr(md, name)(x, x), [a], torch_fn=lambda x: getattr(torch, name)(x, x))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_of_two_tensors(name: str) -> None:
    a, b = np.array([1.0, 5.0, 2.0], dtype=np.float32), np.array([3.0, 5.0, 0.0], dtype=np.float32)
    check_op(lambda x, y: getattr(md, name)(x, y), [a, b], torch_fn=lambda x, y: getattr(torch, name)(x, y))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(a=small_arrays(), b=small_arrays())
def test_maximum_minimum_gradcheck(name: str, a: np.ndarray, b: np.ndarray) -> None:
    b0 = b.reshape(-1)[:1].reshape(())
    while np.any(np.abs(a - b0) < 0.01):  # no ties: they are a kink
        b0 = b0 + 0.013
    check_gradcheck(getattr(md, name), [a, b0])


@given(x=int_arrays(), y=arrays())
def test_maximum_integer_and_float(x: np.ndarray, y: np.ndarray) -> None:
    check_op(md.maximum, [x, y.reshape(-1)[:1].reshape(()) if y.size else y], torch_fn=torch.maximum)
    check_op(md.minimum, [x, x[..., :1] if x.ndim else x], torch_fn=torch.minimum)


# ---------------------------------------------------------------------------- where, masked_fill
@given(shapes_=broadcastable_shapes(3), dtype=float_dtypes, data=st.data())
def test_where(shapes_: Any, dtype: Any, data: st.DataObject) -> None:
    cond = data.draw(bool_arrays(shape=shapes_[0]))
    x = data.draw(arrays(shape=shapes_[1], dtype=dtype))
    y = data.draw(arrays(shape=shapes_[2], dtype=dtype))
    check_op(md.where, [cond, x, y], torch_fn=torch.where)
    check_op(lambda c, a, b: a.where(c, b), [cond, x, y])


@given(shapes_=broadcastable_shapes(2), s=numbers, data=st.data())
def test_where_with_a_number(shapes_: Any, s: float, data: st.DataObject) -> None:
    cond = data.draw(bool_arrays(shape=shapes_[0]))
    x = data.draw(arrays(shape=shapes_[1]))
    check_op(lambda c, a: md.where(c, a, s), [cond, x], torch_fn=lambda c, a: torch.where(c, a, s))
    check_op(lambda c, a: md.where(c, s, a), [cond, x], torch_fn=lambda c, a: torch.where(c, s, a))


def test_where_two_numbers_and_condition_only() -> None:
    cond = np.array([[True, False], [False, True]])
    check_op(lambda c: md.where(c, 1.0, 0), [cond], torch_fn=lambda c: torch.where(c, 1.0, 0))
    check_op(lambda c: md.where(c, 1, 0), [cond], torch_fn=lambda c: torch.where(c, 1, 0))
    check_op(lambda c: md.where(c), [cond], torch_fn=lambda c: torch.where(c))


@given(shapes_=broadcastable_shapes(3))
def test_where_gradcheck(shapes_: Any) -> None:
    rng = np.random.default_rng(0)
    cond = rng.random(shapes_[0]) < 0.5
    x, y = rng.standard_normal(shapes_[1]), rng.standard_normal(shapes_[2])
    if x.size * y.size > 64:
        x = x.reshape(-1)[:1].reshape(())
    check_gradcheck(lambda a, b: md.where(md.tensor(cond), a, b), [x, y])


@given(x=arrays(), data=st.data(), value=numbers)
def test_masked_fill(x: np.ndarray, data: st.DataObject, value: float) -> None:
    mask = data.draw(bool_arrays(shape=data.draw(mask_shape_for(x.shape))))
    check_op(lambda t, m: t.masked_fill(m, value), [x, mask])
    check_op(lambda t, m: md.masked_fill(t, m, value), [x, mask], torch_fn=lambda t, m: torch.masked_fill(t, m, value))


@given(x=arrays(), data=st.data())
def test_masked_fill_tensor_value(x: np.ndarray, data: st.DataObject) -> None:
    """A 0-d tensor value gets the gradient of the filled elements (torch)."""
    mask = data.draw(bool_arrays(shape=data.draw(mask_shape_for(x.shape))))
    v = np.asarray(1.25, dtype=x.dtype)
    check_op(lambda t, m, val: t.masked_fill(m, val), [x, mask, v])


def test_masked_fill_integer_keeps_dtype() -> None:
    x = np.array([[1, 2, 3]])
    mask = np.array([True, False, True])
    check_op(lambda t, m: t.masked_fill(m, 2.5), [x, mask])


def test_masked_fill_mask_broadcasts_the_input() -> None:
    """Out of place, torch broadcasts input and mask together."""
    check_op(lambda t, m: t.masked_fill(m, -1.0), [np.arange(3.0, dtype=np.float32), np.eye(3, dtype=bool)])


@given(x=small_arrays())
def test_masked_fill_gradcheck(x: np.ndarray) -> None:
    mask = md.tensor(np.arange(x.size).reshape(x.shape) % 2 == 0)
    check_gradcheck(lambda t: t.masked_fill(mask, 3.0), [x])
    check_gradcheck(lambda t, v: t.masked_fill(mask, v), [x, np.asarray(0.5)])


# ---------------------------------------------------------------------------- comparisons, logic
COMPARISONS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _check_no_graph(out: md.Tensor) -> None:
    assert out.dtype == md.bool
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("name", list(COMPARISONS))
@given(pair=pair_with_ties())
def test_comparisons(name: str, pair: tuple[np.ndarray, np.ndarray]) -> None:
    fn = COMPARISONS[name]
    check_op(fn, pair)
    check_op(lambda a, b: getattr(a, name)(b), pair)
    a, b = (md.tensor(v, requires_grad=True) for v in pair)
    _check_no_graph(fn(a, b))


@pytest.mark.parametrize("name", list(COMPARISONS))
@given(x=int_arrays(), s=st.sampled_from([0, 1, 1.5, -2.0, True]))
def test_comparisons_with_numbers(name: str, x: np.ndarray, s: Any) -> None:
    fn = COMPARISONS[name]
    check_op(lambda t: fn(t, s), [x])
    check_op(lambda t: fn(s, t), [x])  # reflected: 1 < t is t > 1
    check_op(lambda t: fn(t, s), [x.astype(np.float32) / 2])
    _check_no_graph(fn(md.tensor(x.astype(np.float32), requires_grad=True), s))


def test_comparison_with_none_is_identity() -> None:
    t = md.tensor([1.0])
    assert (t == None) is False  # noqa: E711 - the point of the test
    assert (t != None) is True  # noqa: E711
    raises_like_torch(lambda: t < None, lambda: torch.tensor([1.0]) < None)


LOGICAL = {"and": operator.and_, "or": operator.or_, "xor": operator.xor}


@pytest.mark.parametrize("name", list(LOGICAL))
@given(shapes_=broadcastable_shapes(2), data=st.data())
def test_logical_on_bool(name: str, shapes_: Any, data: st.DataObject) -> None:
    a = data.draw(bool_arrays(shape=shapes_[0]))
    b = data.draw(bool_arrays(shape=shapes_[1]))
    check_op(LOGICAL[name], [a, b])
    check_op(lambda x: LOGICAL[name](x, True), [a])
    check_op(lambda x: LOGICAL[name](False, x), [a])


@given(a=bool_arrays(), x=int_arrays())
def test_invert_and_logical_not(a: np.ndarray, x: np.ndarray) -> None:
    check_op(operator.invert, [a])
    check_op(lambda t: t.logical_not(), [a])
    check_op(operator.invert, [x])
    check_op(lambda t: t.logical_not(), [x.astype(np.float32)])
    check_op(md.ops.elementwise.bitwise_not, [x], torch_fn=torch.bitwise_not)


def test_logical_not_of_integer_is_bool() -> None:
    check_op(lambda t: t.logical_not(), [np.array([0, 1, -2])])


@pytest.mark.parametrize("name", list(LOGICAL))
@given(a=int_arrays(), b=int_arrays())
def test_bitwise_on_integers(name: str, a: np.ndarray, b: np.ndarray) -> None:
    b = b.reshape(-1)[:1].reshape(()) if b.size else b
    check_op(LOGICAL[name], [a, b])


@pytest.mark.parametrize("name", list(LOGICAL))
def test_bitwise_on_float_raises(name: str) -> None:
    fn = LOGICAL[name]
    raises_like_torch(lambda: fn(md.ones(2), md.ones(2)), lambda: fn(torch.ones(2), torch.ones(2)), name)
    raises_like_torch(lambda: fn(md.ones(2).bool(), 1.5), lambda: fn(torch.ones(2).bool(), 1.5), name)


def test_bitwise_not_float_raises() -> None:
    raises_like_torch(lambda: md.ops.elementwise.bitwise_not(md.ones(2)), lambda: ~torch.ones(2), "~")


def test_invert_float_raises() -> None:
    raises_like_torch(lambda: ~md.ones(2), lambda: ~torch.ones(2), "~")


def test_abs_of_bool_raises() -> None:
    raises_like_torch(lambda: md.abs(md.tensor([True])), lambda: torch.abs(torch.tensor([True])), "abs")


@given(x=arrays(), data=st.data())
def test_isnan_isinf_isfinite(x: np.ndarray, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    special = rng.choice(np.array([np.nan, np.inf, -np.inf, 0.0], dtype=x.dtype), size=x.shape)
    x = np.where(rng.random(x.shape) < 0.4, special, x)
    for name in ("isnan", "isinf", "isfinite"):
        check_op(getattr(md, name), [x], torch_fn=getattr(torch, name))
        check_op(lambda t, n=name: getattr(t, n)(), [x])
        out = getattr(md, name)(md.tensor(x, requires_grad=True))
        _check_no_graph(out)
        check_op(getattr(md, name), [np.array([1, 2])], torch_fn=getattr(torch, name))


# ---------------------------------------------------------------------------- dtype promotion
def _t(lib: Any, value: Any, dtype: str) -> Any:
    return lib.tensor(value, dtype=getattr(lib, dtype))


# (name, fn(lib) -> result): the result dtype must be torch's
PROMOTION_CASES = [
    ("f32 * 2.5", lambda L: _t(L, [1.0, 2.0], "float32") * 2.5),
    ("f64 * 2.5", lambda L: _t(L, [1.0, 2.0], "float64") * 2.5),
    ("f32 * 2", lambda L: _t(L, [1.0, 2.0], "float32") * 2),
    ("i64 + 0.5", lambda L: _t(L, [1, 2], "int64") + 0.5),
    ("0.5 + i64", lambda L: 0.5 + _t(L, [1, 2], "int64")),
    ("i64 / i64", lambda L: _t(L, [1, 2], "int64") / _t(L, [3, 4], "int64")),
    ("i32 / 2", lambda L: _t(L, [1, 2], "int32") / 2),
    ("2 / i32", lambda L: 2 / _t(L, [1, 2], "int32")),
    ("f32 + f64 0-d", lambda L: _t(L, [1.0], "float32") + _t(L, 2.0, "float64")),
    ("f64 0-d + f32", lambda L: _t(L, 2.0, "float64") + _t(L, [1.0], "float32")),
    ("f32 + f64 1-d", lambda L: _t(L, [1.0], "float32") + _t(L, [2.0], "float64")),
    ("f32 0-d + f64 0-d", lambda L: _t(L, 1.0, "float32") + _t(L, 2.0, "float64")),
    ("f16 + f32", lambda L: _t(L, [1.0], "float16") + _t(L, [1.0], "float32")),
    ("f16 + 1e5", lambda L: _t(L, [1.0], "float16") + 1e5),
    ("i32 + i64", lambda L: _t(L, [1], "int32") + _t(L, [1], "int64")),
    ("i32 + 5", lambda L: _t(L, [1], "int32") + 5),
    ("i32 + i64 0-d", lambda L: _t(L, [1], "int32") + _t(L, 1, "int64")),
    ("i64 + f64 0-d", lambda L: _t(L, [1], "int64") + _t(L, 1.0, "float64")),
    ("i32 + f32 0-d", lambda L: _t(L, [1], "int32") + _t(L, 1.5, "float32")),
    ("u8 + i8", lambda L: _t(L, [1], "uint8") + _t(L, [1], "int8")),
    ("u8 + 300", lambda L: _t(L, [1], "uint8") + 300),
    ("i8 - 1", lambda L: _t(L, [1], "int8") - 1),
    ("bool + bool", lambda L: _t(L, [True], "bool") + _t(L, [False], "bool")),
    ("bool * bool", lambda L: _t(L, [True], "bool") * _t(L, [True], "bool")),
    ("bool + 1", lambda L: _t(L, [True], "bool") + 1),
    ("bool + 1.5", lambda L: _t(L, [True], "bool") + 1.5),
    ("bool / bool", lambda L: _t(L, [True], "bool") / _t(L, [True], "bool")),
    ("i64 * True", lambda L: _t(L, [1, 2], "int64") * True),
    ("f32 * True", lambda L: _t(L, [1.0], "float32") * True),
    ("i32 ** 2.0", lambda L: _t(L, [1, 2], "int32") ** 2.0),
    ("i32 ** 2", lambda L: _t(L, [1, 2], "int32") ** 2),
    ("i32 ** f64 0-d", lambda L: _t(L, [1, 2], "int32") ** _t(L, 2.0, "float64")),
    ("i32 ** i64 0-d", lambda L: _t(L, [1, 2], "int32") ** _t(L, 2, "int64")),
    ("2 ** i32", lambda L: 2 ** _t(L, [1, 2], "int32")),
    ("2.5 ** i32", lambda L: 2.5 ** _t(L, [1, 2], "int32")),
    ("f32 ** f64", lambda L: _t(L, [1.0], "float32") ** _t(L, [2.0], "float64")),
    ("i64 > 1.5", lambda L: _t(L, [1, 2], "int64") > 1.5),
    ("where(c, i64, 0.5)", lambda L: L.where(_t(L, [True, False], "bool"), _t(L, [1, 2], "int64"), 0.5)),
    ("where(c, i32, 7)", lambda L: L.where(_t(L, [True, False], "bool"), _t(L, [1, 2], "int32"), 7)),
    ("where(c, 1, 0.5)", lambda L: L.where(_t(L, [True, False], "bool"), 1, 0.5)),
    ("where(c, 1, 0)", lambda L: L.where(_t(L, [True, False], "bool"), 1, 0)),
    ("where(c, f32, f64)", lambda L: L.where(_t(L, [True], "bool"), _t(L, [1.0], "float32"), _t(L, [1.0], "float64"))),
    ("maximum(i64, f32)", lambda L: L.maximum(_t(L, [1], "int64"), _t(L, [0.5], "float32"))),
    ("maximum(i64, f64 0-d)", lambda L: L.maximum(_t(L, [1], "int64"), _t(L, 0.5, "float64"))),
    ("minimum(f32, f64 0-d)", lambda L: L.minimum(_t(L, [1.0], "float32"), _t(L, 0.5, "float64"))),
    ("clamp(i64, 0.5)", lambda L: L.clamp(_t(L, [1, 2], "int64"), 0.5)),
    ("clamp(i32, 0, 5)", lambda L: L.clamp(_t(L, [1, 2], "int32"), 0, 5)),
    ("clamp(f32, f64 tensor)", lambda L: L.clamp(_t(L, [1.0], "float32"), _t(L, [0.0], "float64"))),
    ("clamp(i64, f32 tensor)", lambda L: L.clamp(_t(L, [1], "int64"), _t(L, [0.0], "float32"))),
    ("masked_fill(i64, 2.5)", lambda L: _t(L, [1, 2], "int64").masked_fill(_t(L, [True, False], "bool"), 2.5)),
    (
        "masked_fill(f32, f64 0-d)",
        lambda L: _t(L, [1.0], "float32").masked_fill(_t(L, [True], "bool"), _t(L, 2.5, "float64")),
    ),
    ("exp(i64)", lambda L: L.exp(_t(L, [1, 2], "int64"))),
    ("sqrt(i32)", lambda L: L.sqrt(_t(L, [1, 2], "int32"))),
    ("abs(i32)", lambda L: L.abs(_t(L, [-1, 2], "int32"))),
    ("neg(u8)", lambda L: -_t(L, [4], "uint8")),
    ("floor(i32)", lambda L: L.floor(_t(L, [1], "int32"))),
    ("sign(i32)", lambda L: L.sign(_t(L, [-1], "int32"))),
    ("i64 // 2.5", lambda L: _t(L, [3], "int64") // 2.5),
    ("i64 % 2.5", lambda L: _t(L, [3], "int64") % 2.5),
]


@pytest.mark.parametrize("case", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_dtype_promotion_table(case: Any) -> None:
    _, fn = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float16 overflow
        expected = fn(torch)
        got = fn(md)
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    if isinstance(expected, tuple):
        return
    np.testing.assert_allclose(to_numpy(got).astype(np.float64), to_numpy(expected).astype(np.float64), rtol=1e-6)


def test_promotion_follows_default_dtype() -> None:
    md.set_default_dtype(md.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for _, fn in [PROMOTION_CASES[3], PROMOTION_CASES[5], PROMOTION_CASES[0]]:
            assert str(fn(md).dtype).split(".")[-1] == str(fn(torch).dtype).split(".")[-1]
    finally:
        md.set_default_dtype(md.float32)
        torch.set_default_dtype(torch.float32)


# ---------------------------------------------------------------------------- errors
BROADCAST_OPS = {
    "add": (operator.add, operator.add),
    "sub": (operator.sub, operator.sub),
    "mul": (operator.mul, operator.mul),
    "div": (operator.truediv, operator.truediv),
    "pow": (operator.pow, operator.pow),
    "maximum": (md.maximum, torch.maximum),
    "minimum": (md.minimum, torch.minimum),
    "eq": (operator.eq, operator.eq),
    "lt": (operator.lt, operator.lt),
    "ge": (operator.ge, operator.ge),
}


@pytest.mark.parametrize("name", list(BROADCAST_OPS))
def test_broadcast_error_names_op_and_shapes(name: str) -> None:
    m_fn, t_fn = BROADCAST_OPS[name]
    raises_like_torch(
        lambda: m_fn(md.ones(2, 3), md.ones(4)), lambda: t_fn(torch.ones(2, 3), torch.ones(4)), name, "(2, 3)", "(4,)"
    )


@pytest.mark.parametrize("name", list(LOGICAL))
def test_logical_broadcast_error(name: str) -> None:
    fn = LOGICAL[name]
    raises_like_torch(
        lambda: fn(md.ones(2, 3).bool(), md.ones(4).bool()),
        lambda: fn(torch.ones(2, 3).bool(), torch.ones(4).bool()),
        name,
        "(2, 3)",
        "(4,)",
    )


@given(shape=shapes(min_dims=1, max_side=4), data=st.data())
def test_broadcast_error_property(shape: tuple[int, ...], data: st.DataObject) -> None:
    """Change one size of a shape to neither itself nor 1: both libraries refuse, naming both shapes."""
    i = data.draw(st.integers(0, len(shape) - 1))
    a_shape = list(shape)
    a_shape[i] = max(a_shape[i], 2)
    b_shape = list(a_shape[data.draw(st.integers(0, i)) :])  # maybe fewer leading dims
    b_shape[i - (len(a_shape) - len(b_shape))] += data.draw(st.integers(1, 3))
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    op = data.draw(st.sampled_from(["add", "mul", "sub"]))
    m_fn = getattr(operator, op)
    raises_like_torch(
        lambda: m_fn(md.ones(*a_shape), md.ones(*b_shape)),
        lambda: m_fn(torch.ones(*a_shape), torch.ones(*b_shape)),
        op,
        str(a_shape),
        str(b_shape),
    )


def test_where_errors() -> None:
    raises_like_torch(
        lambda: md.where(md.ones(2, 3) > 0, md.ones(4), 0.0),
        lambda: torch.where(torch.ones(2, 3) > 0, torch.ones(4), 0.0),
        "where",
        "(2, 3)",
        "(4,)",
    )
    raises_like_torch(
        lambda: md.where(md.ones(2, 3), 1.0, 0.0), lambda: torch.where(torch.ones(2, 3), 1.0, 0.0), "where", "bool"
    )


def test_masked_fill_errors() -> None:
    raises_like_torch(
        lambda: md.ones(2, 3).masked_fill(md.ones(4) > 0, 0.0),
        lambda: torch.ones(2, 3).masked_fill(torch.ones(4) > 0, 0.0),
        "masked_fill",
        "(2, 3)",
        "(4,)",
    )
    raises_like_torch(
        lambda: md.ones(2, 3).masked_fill(md.ones(2, 3), 0.0),
        lambda: torch.ones(2, 3).masked_fill(torch.ones(2, 3), 0.0),
        "masked_fill",
        "bool",
    )


def test_bool_subtraction_and_negation_raise() -> None:
    b = [True, False]
    raises_like_torch(lambda: md.tensor(b) - md.tensor(b), lambda: torch.tensor(b) - torch.tensor(b), "sub", "bool")
    raises_like_torch(lambda: md.ones(2) - True, lambda: torch.ones(2) - True, "sub", "bool")
    raises_like_torch(lambda: True - md.ones(2), lambda: True - torch.ones(2), "sub", "bool")
    raises_like_torch(lambda: -md.tensor(b), lambda: -torch.tensor(b), "neg", "bool")


def test_unsupported_operand_types() -> None:
    raises_like_torch(lambda: md.ones(2) + "a", lambda: torch.ones(2) + "a")
    raises_like_torch(lambda: md.ones(2) * None, lambda: torch.ones(2) * None)

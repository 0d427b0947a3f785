"""Reductions against torch: values, dtypes, every gradient (ties included), errors.

``dim`` is drawn as None, an int (negative too) or a tuple of distinct dims; ``keepdim``
both ways. Gradients at ties follow torch: ``max()``/``min()`` without dim and
``amax``/``amin`` share the gradient evenly among tied elements, so those tests use
deliberately tied inputs; ``max(dim)`` returns indices, so it gets tie-free inputs.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import check_gradcheck, check_op, raises_like_torch
from tests.strategies import array_and_dim, arrays, shapes

small_shapes = shapes(max_dims=3, max_side=3)


# ---------------------------------------------------------------------------- strategies
@st.composite
def dims_for(draw: Any, ndim: int, allow_none: bool = True) -> Any:
    """None, an int in [-ndim, ndim - 1], or a tuple of distinct dims (mixed signs)."""
    n = max(ndim, 1)
    options = ["int", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(options))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    if ndim == 0:
        return draw(st.sampled_from([(0,), (-1,)]))
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


@st.composite
def array_dims(draw: Any, allow_none: bool = True, **kwargs: Any) -> tuple[np.ndarray, Any]:
    x = draw(arrays(**kwargs))
    return x, draw(dims_for(x.ndim, allow_none))


@st.composite
def small_array_dims(draw: Any, allow_none: bool = True, **kwargs: Any) -> tuple[np.ndarray, Any]:
    """float64, at most 27 elements: for finite differences."""
    x = draw(arrays(shape=draw(small_shapes), dtype=np.float64, **kwargs))
    return x, draw(dims_for(x.ndim, allow_none))


@st.composite
def small_arrays(draw: Any, **kwargs: Any) -> np.ndarray:
    """float64, at most 27 elements: for finite differences."""
    return draw(arrays(shape=draw(small_shapes), dtype=np.float64, **kwargs))


@st.composite
def tied_arrays(draw: Any, shape: Any = None) -> np.ndarray:
    """Small integers as floats: many ties."""
    x = draw(arrays(shape=shape, low=-2, high=2))
    return np.round(x)


@st.composite
def int_arrays(draw: Any, dtype: Any = np.int64) -> np.ndarray:
    shape = draw(shapes())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) < 0.5
    return rng.integers(0 if np.dtype(dtype).kind == "u" else -5, 6, size=shape).astype(dtype)


def n_reduced(shape: tuple[int, ...], dim: Any) -> int:
    if dim is None:
        return int(np.prod(shape))
    dims = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in dims])) if shape else 1


# ---------------------------------------------------------------------------- sum, mean
@pytest.mark.parametrize("name", ["sum", "mean"])
@given(xd=array_dims(), keepdim=st.booleans())
def test_sum_mean(name: str, xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    if dim is None:
        check_op(lambda t: getattr(t, name)(), [x])
        check_op(lambda t: getattr(md, name)(t), [x], torch_fn=lambda t: getattr(torch, name)(t))
    else:
        check_op(lambda t: getattr(t, name)(dim, keepdim), [x])
        check_op(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim), [x])


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "norm"])
def test_empty_dim_tuple_reduces_everything(name: str) -> None:
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    # torch's var/std backward takes dim=() as "no dim" (n = 1, so 2 / (n - 1) = inf): its
    # forward reduces everything, so only the forward is compared there
    grad = name not in ("var", "std")
    check_op(lambda t: getattr(t, name)(dim=()), [x], check_grad=grad)
    check_op(lambda t: getattr(t, name)(dim=(), keepdim=True), [x], check_grad=grad)
    if not grad:
        check_op(lambda t: getattr(t, name)(dim=()), [x], torch_fn=lambda t: getattr(t, name)())


@given(x=arrays(), dtype_name=st.sampled_from(["float64", "float32"]))
def test_sum_with_dtype(x: np.ndarray, dtype_name: str) -> None:
    tol = {"rtol": 1e-5, "atol": 1e-6}  # the result may be float32 for a float64 input
    check_op(
        lambda t: t.sum(dtype=getattr(md, dtype_name)),
        [x],
        torch_fn=lambda t: t.sum(dtype=getattr(torch, dtype_name)),
        **tol,
    )
    check_op(
        lambda t: t.mean(dtype=getattr(md, dtype_name)),
        [x],
        torch_fn=lambda t: t.mean(dtype=getattr(torch, dtype_name)),
        **tol,
    )


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_])
@given(data=st.data())
def test_integer_and_bool_sums_are_int64(dtype: Any, data: st.DataObject) -> None:
    x = data.draw(int_arrays(dtype=dtype))
    dim = data.draw(dims_for(x.ndim))
    check_op(lambda t: t.sum() if dim is None else t.sum(dim), [x])
    check_op(lambda t: t.sum(dim=dim, keepdim=True) if dim is not None else t.sum(), [x])
    check_op(lambda t: t.prod(), [x])
    if x.ndim:
        check_op(lambda t: t.cumsum(-1), [x])
        check_op(lambda t: t.prod(-1, keepdim=True), [x])


def test_mean_of_integer_raises() -> None:
    raises_like_torch(lambda: md.tensor([1, 2]).mean(), lambda: torch.tensor([1, 2]).mean(), "mean", "dtype")
    check_op(lambda t: t.mean(dtype=md.float32), [np.array([1, 2])], torch_fn=lambda t: t.mean(dtype=torch.float32))


@given(xd=small_array_dims(), keepdim=st.booleans())
def test_sum_mean_gradcheck(xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    check_gradcheck(lambda t: t.sum(dim, keepdim) if dim is not None else t.sum(), [x])
    check_gradcheck(lambda t: t.mean(dim, keepdim) if dim is not None else t.mean(), [x])


# ---------------------------------------------------------------------------- var, std
@pytest.mark.parametrize("name", ["var", "std"])
@given(xd=array_dims(), keepdim=st.booleans(), mode=st.sampled_from(["default", "unbiased", "biased", 0, 1, 2]))
def test_var_std(name: str, xd: tuple[np.ndarray, Any], keepdim: bool, mode: Any) -> None:
    x, dim = xd
    kwargs: dict[str, Any] = {"dim": dim, "keepdim": keepdim}
    if mode == "unbiased":
        kwargs["unbiased"] = True
    elif mode == "biased":
        kwargs["unbiased"] = False
    elif mode != "default":
        kwargs["correction"] = mode
    correction = {"default": 1, "unbiased": 1, "biased": 0}.get(mode, mode)
    enough = n_reduced(x.shape, dim) > correction
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "degrees of freedom is <= 0"
        # too few elements: inf/nan values, as torch; their gradients are not compared
        check_op(lambda t: getattr(t, name)(**kwargs), [x], check_grad=enough)
        check_op(
            lambda t: getattr(md, name)(t, **kwargs),
            [x],
            torch_fn=lambda t: getattr(torch, name)(t, **kwargs),
            check_grad=enough,
        )


@pytest.mark.parametrize("name", ["var", "std"])
@given(xd=array_and_dim(), unbiased=st.booleans())
def test_var_std_positional(name: str, xd: tuple[np.ndarray, int], unbiased: bool) -> None:
    x, dim = xd
    if x.shape[dim] < 2:
        x = np.concatenate([x, x + 1], axis=dim)
    check_op(lambda t: getattr(t, name)(dim, unbiased), [x])
    check_op(lambda t: getattr(t, name)(dim, unbiased, True), [x])
    check_op(lambda t: getattr(t, name)(unbiased), [x.reshape(-1)])


@pytest.mark.parametrize("name", ["var", "std"])
@given(xd=small_array_dims(), keepdim=st.booleans(), correction=st.sampled_from([0, 1, 2]))
def test_var_std_gradcheck(name: str, xd: tuple[np.ndarray, Any], keepdim: bool, correction: int) -> None:
    x, dim = xd
    if n_reduced(x.shape, dim) <= correction:
        dim = None
        x = np.concatenate([x.reshape(-1), [0.5, -1.25, 2.0]])
    check_gradcheck(lambda t: getattr(t, name)(dim, keepdim=keepdim, correction=correction), [x])


def test_std_gradient_of_constant_is_zero() -> None:
    """std is 0 for constant rows: torch's gradient there is 0, not nan."""
    x = np.array([[1.5, 1.5, 1.5], [1.0, 2.0, 4.0]], dtype=np.float32)
    check_op(lambda t: t.std(1), [x])
    check_op(lambda t: t.std(), [np.full((2, 2), 3.0, dtype=np.float64)])


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_errors(name: str) -> None:
    raises_like_torch(lambda: getattr(md.tensor([1, 2]), name)(), lambda: getattr(torch.tensor([1, 2]), name)(), name)
    raises_like_torch(
        lambda: getattr(md.ones(2, 3), name)(0, unbiased=False, correction=1),
        lambda: getattr(torch.ones(2, 3), name)(0, unbiased=False, correction=1),
        name,
    )


# ---------------------------------------------------------------------------- prod
@given(xd=array_and_dim(), keepdim=st.booleans(), data=st.data())
def test_prod(xd: tuple[np.ndarray, int], keepdim: bool, data: st.DataObject) -> None:
    x, dim = xd
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_zeros = data.draw(st.sampled_from([0, 0, 1, 2]))
    flat = x.reshape(-1).copy()
    flat[rng.permutation(flat.size)[:n_zeros]] = 0  # zeros: the gradient may not divide by x
    x = flat.reshape(x.shape)
    check_op(lambda t: t.prod(dim, keepdim), [x])
    check_op(lambda t: t.prod(), [x])
    check_op(
        lambda t: md.prod(t, dim=dim, keepdim=keepdim), [x], torch_fn=lambda t: torch.prod(t, dim=dim, keepdim=keepdim)
    )


def test_prod_of_0d() -> None:
    x = np.array(2.5, dtype=np.float32)
    check_op(lambda t: t.prod(), [x])
    check_op(lambda t: t.prod(0), [x])
    check_op(lambda t: t.prod(-1, keepdim=True), [x])


@given(x=small_arrays(), data=st.data())
def test_prod_gradcheck(x: np.ndarray, data: st.DataObject) -> None:
    check_gradcheck(lambda t: t.prod(), [x])
    if x.ndim:
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        zeroed = x.copy()
        zeroed.reshape(-1)[0] = 0
        check_gradcheck(lambda t: t.prod(dim), [zeroed])


# ---------------------------------------------------------------------------- max, min
@pytest.mark.parametrize("name", ["max", "min"])
@given(x=tied_arrays())
def test_max_min_all_ties_share_gradient(name: str, x: np.ndarray) -> None:
    check_op(lambda t: getattr(t, name)(), [x])
    check_op(lambda t: getattr(md, name)(t), [x], torch_fn=lambda t: getattr(torch, name)(t))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_all_explicit_ties(name: str) -> None:
    x = np.array([[3.0, -1.0, 3.0], [3.0, -1.0, 0.5]], dtype=np.float32)
    check_op(lambda t: getattr(t, name)(), [x])


@pytest.mark.parametrize("name", ["max", "min"])
@given(xd=array_and_dim(distinct=True), keepdim=st.booleans())
def test_max_min_dim(name: str, xd: tuple[np.ndarray, int], keepdim: bool) -> None:
    x, dim = xd
    check_op(lambda t: tuple(getattr(t, name)(dim, keepdim)), [x])
    check_op(
        lambda t: tuple(getattr(md, name)(t, dim=dim, keepdim=keepdim)),
        [x],
        torch_fn=lambda t: tuple(getattr(torch, name)(t, dim=dim, keepdim=keepdim)),
    )
    out = getattr(md.tensor(x), name)(dim, keepdim)
    assert isinstance(out, tuple) and len(out) == 2
    assert out.values is out[0] and out.indices is out[1]
    assert out.indices.dtype == md.int64


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_of_0d(name: str) -> None:
    x = np.array(1.5, dtype=np.float32)
    check_op(lambda t: tuple(getattr(t, name)(0)), [x])
    check_op(lambda t: tuple(getattr(t, name)(-1, True)), [x])


@pytest.mark.parametrize("name", ["max", "min"])
@given(x=small_arrays(distinct=True), data=st.data())
def test_max_min_gradcheck(name: str, x: np.ndarray, data: st.DataObject) -> None:
    check_gradcheck(lambda t: getattr(t, name)(), [x])
    if x.ndim:
        dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
        check_gradcheck(lambda t: getattr(t, name)(dim)[0], [x])


# ---------------------------------------------------------------------------- amax, amin
@pytest.mark.parametrize("name", ["amax", "amin"])
@given(data=st.data(), keepdim=st.booleans())
def test_amax_amin_ties_share_gradient(name: str, data: st.DataObject, keepdim: bool) -> None:
    x = data.draw(tied_arrays())
    dim = data.draw(dims_for(x.ndim))
    if dim is None:
        check_op(lambda t: getattr(t, name)(), [x])
        check_op(lambda t: getattr(t, name)(keepdim=keepdim), [x])
    else:
        check_op(lambda t: getattr(t, name)(dim, keepdim), [x])
        check_op(
            lambda t: getattr(md, name)(t, dim=dim, keepdim=keepdim),
            [x],
            torch_fn=lambda t: getattr(torch, name)(t, dim=dim, keepdim=keepdim),
        )


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_explicit_ties(name: str) -> None:
    x = np.array([[[2.0, 2.0], [-2.0, 2.0]], [[-2.0, 0.0], [1.0, -2.0]]], dtype=np.float32)
    for dim in [(), 0, (0, 2), (1, 2), (-1, 0, 1)]:
        check_op(lambda t, d=dim: getattr(t, name)(d), [x])


@pytest.mark.parametrize("name", ["amax", "amin"])
@given(xd=small_array_dims(distinct=True), keepdim=st.booleans())
def test_amax_amin_gradcheck(name: str, xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    check_gradcheck(lambda t: getattr(t, name)(() if dim is None else dim, keepdim), [x])


# ---------------------------------------------------------------------------- argmax, argmin
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(x=tied_arrays(), data=st.data(), keepdim=st.booleans())
def test_argmax_argmin(name: str, x: np.ndarray, data: st.DataObject, keepdim: bool) -> None:
    """Ties: the first index, as torch."""
    dim = data.draw(st.one_of(st.none(), st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)))
    check_op(lambda t: getattr(t, name)(dim, keepdim), [x])
    check_op(lambda t: getattr(md, name)(t, dim=dim), [x], torch_fn=lambda t: getattr(torch, name)(t, dim=dim))
    check_op(lambda t: getattr(t, name)(), [x.astype(np.int64)])


# ---------------------------------------------------------------------------- logsumexp
@given(xd=array_dims(allow_none=False), keepdim=st.booleans())
def test_logsumexp(xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    check_op(lambda t: t.logsumexp(dim, keepdim), [x])
    check_op(
        lambda t: md.logsumexp(t, dim, keepdim=keepdim),
        [x],
        torch_fn=lambda t: torch.logsumexp(t, dim, keepdim=keepdim),
    )


@given(xd=array_dims(allow_none=False), shift=st.sampled_from([1000.0, -1000.0, 80.0]))
def test_logsumexp_large_values_stay_finite(xd: tuple[np.ndarray, Any], shift: float) -> None:
    x, dim = xd
    x = x + np.asarray(shift, dtype=x.dtype)
    out = md.tensor(x).logsumexp(dim)
    assert np.all(np.isfinite(out.numpy()))
    check_op(lambda t: t.logsumexp(dim), [x], rtol=1e-5)


def test_logsumexp_rows_of_minus_inf() -> None:
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0], [np.inf, 0.0, 1.0]], dtype=np.float32)
    check_op(lambda t: t.logsumexp(1), [x])
    check_op(lambda t: t.logsumexp(0, keepdim=True), [x])


def test_logsumexp_of_integer_is_float() -> None:
    check_op(lambda t: t.logsumexp(0), [np.array([1, 2, 3])])


@given(xd=small_array_dims(allow_none=False), keepdim=st.booleans())
def test_logsumexp_gradcheck(xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    check_gradcheck(lambda t: t.logsumexp(dim, keepdim), [x])


# ---------------------------------------------------------------------------- norm
P_VALUES = ["fro", 2, 1, float("inf"), 3, 1.5, float("-inf")]


@pytest.mark.parametrize("p", P_VALUES, ids=str)
@given(xd=array_dims(), keepdim=st.booleans())
def test_norm(p: Any, xd: tuple[np.ndarray, Any], keepdim: bool) -> None:
    x, dim = xd
    # torch takes 'fro' over more than 2 dims as a (refused) matrix norm; minidl's is the 2-norm
    tp = 2 if p == "fro" and isinstance(dim, tuple) and len(dim) > 2 else p
    check_op(lambda t: t.norm(p, dim, keepdim), [x], torch_fn=lambda t: t.norm(tp, dim, keepdim))
    check_op(
        lambda t: md.norm(t, p=p, dim=dim, keepdim=keepdim),
        [x],
        torch_fn=lambda t: torch.norm(t, p=tp, dim=dim, keepdim=keepdim),
    )


def test_norm_default_is_2_norm() -> None:
    x = np.array([[3.0, -4.0], [1.0, 2.0]], dtype=np.float32)
    check_op(lambda t: t.norm(), [x])
    check_op(lambda t: t.norm(dim=1), [x])


@pytest.mark.parametrize("p", P_VALUES, ids=str)
def test_norm_gradient_at_zero(p: Any) -> None:
    """An all-zero input (or row): torch's gradient is 0, not nan."""
    x = np.zeros((2, 3), dtype=np.float32)
    check_op(lambda t: t.norm(p), [x])
    x[1] = [1.0, -2.0, 0.0]
    check_op(lambda t: t.norm(p, dim=1), [x])


@pytest.mark.parametrize("p", [float("inf"), float("-inf")], ids=str)
def test_norm_inf_ties_share_gradient(p: float) -> None:
    x = np.array([[2.0, -2.0, 1.0], [0.5, -0.5, 0.5]], dtype=np.float32)
    check_op(lambda t: t.norm(p), [x])
    check_op(lambda t: t.norm(p, dim=1), [x])


@pytest.mark.parametrize("p", P_VALUES, ids=str)
@given(xd=small_array_dims(low=0.2, high=2), keepdim=st.booleans(), data=st.data())
def test_norm_gradcheck(p: Any, xd: tuple[np.ndarray, Any], keepdim: bool, data: st.DataObject) -> None:
    x, dim = xd
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = x * rng.choice([-1.0, 1.0], size=x.shape)  # away from 0, the kink of |x|
    if p in (float("inf"), float("-inf")):
        x = np.sign(x) * (np.argsort(np.argsort(np.abs(x).reshape(-1))).reshape(x.shape) + 1) * 0.3  # no ties
    check_gradcheck(lambda t: t.norm(p, dim, keepdim), [x])


def test_norm_errors() -> None:
    raises_like_torch(lambda: md.tensor([1, 2]).norm(), lambda: torch.tensor([1, 2]).norm(), "norm")
    raises_like_torch(lambda: md.ones(2, 3).norm(dim=2), lambda: torch.ones(2, 3).norm(dim=2), "[-2, 1]", "2")


# ---------------------------------------------------------------------------- cumsum
@given(xd=array_and_dim())
def test_cumsum(xd: tuple[np.ndarray, int]) -> None:
    x, dim = xd
    check_op(lambda t: t.cumsum(dim), [x])
    check_op(lambda t: md.cumsum(t, dim), [x], torch_fn=lambda t: torch.cumsum(t, dim))


def test_cumsum_of_0d() -> None:
    check_op(lambda t: t.cumsum(0), [np.array(2.0, dtype=np.float32)])


@given(x=small_arrays(), data=st.data())
def test_cumsum_gradcheck(x: np.ndarray, data: st.DataObject) -> None:
    dim = data.draw(st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1))
    check_gradcheck(lambda t: t.cumsum(dim), [x])


# ---------------------------------------------------------------------------- any, all
@pytest.mark.parametrize("name", ["any", "all"])
@given(data=st.data(), kind=st.sampled_from(["bool", "int", "float"]), keepdim=st.booleans())
def test_any_all(name: str, data: st.DataObject, kind: str, keepdim: bool) -> None:
    x = data.draw(int_arrays(dtype=np.bool_))
    if kind == "int":
        x = x.astype(np.int64) * 3
    elif kind == "float":
        x = x.astype(np.float32) * 0.5
    dim = data.draw(dims_for(x.ndim))
    if dim is None:
        check_op(lambda t: getattr(t, name)(), [x])
    else:
        check_op(lambda t: getattr(t, name)(dim, keepdim), [x])
        check_op(
            lambda t: getattr(md, name)(t, dim, keepdim=keepdim),
            [x],
            torch_fn=lambda t: getattr(torch, name)(t, dim, keepdim=keepdim),
        )


@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all_no_graph(name: str) -> None:
    out = getattr(md.tensor([0.5, 0.0], requires_grad=True), name)()
    assert out.dtype == md.bool and not out.requires_grad and out.grad_fn is None


# ---------------------------------------------------------------------------- errors
DIM_OPS = {
    "sum": lambda t, d: t.sum(d),
    "mean": lambda t, d: t.mean(d),
    "var": lambda t, d: t.var(d),
    "std": lambda t, d: t.std(d),
    "prod": lambda t, d: t.prod(d),
    "max": lambda t, d: t.max(d),
    "min": lambda t, d: t.min(d),
    "amax": lambda t, d: t.amax(d),
    "amin": lambda t, d: t.amin(d),
    "argmax": lambda t, d: t.argmax(d),
    "argmin": lambda t, d: t.argmin(d),
    "logsumexp": lambda t, d: t.logsumexp(d),
    "norm": lambda t, d: t.norm(dim=d),
    "cumsum": lambda t, d: t.cumsum(d),
    "any": lambda t, d: t.any(d),
    "all": lambda t, d: t.all(d),
}


@pytest.mark.parametrize("name", list(DIM_OPS))
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data())
def test_bad_dim_raises_index_error(name: str, shape: tuple[int, ...], data: st.DataObject) -> None:
    n = len(shape)
    dim = data.draw(st.one_of(st.integers(n, n + 3), st.integers(-n - 3, -n - 1)))
    fn = DIM_OPS[name]
    raises_like_torch(
        lambda: fn(md.ones(*shape), dim), lambda: fn(torch.ones(*shape), dim), name, f"[{-n}, {n - 1}]", str(dim)
    )


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp", "norm"])
def test_repeated_dims_raise(name: str) -> None:
    fn = DIM_OPS[name]
    raises_like_torch(
        lambda: fn(md.ones(2, 3), (0, -2)), lambda: fn(torch.ones(2, 3), (0, -2)), "appears multiple times"
    )


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin", "argmax", "argmin"])
def test_empty_input_without_dim_raises(name: str) -> None:
    raises_like_torch(lambda: getattr(md.ones(0), name)(), lambda: getattr(torch.ones(0), name)(), name, "numel() == 0")


@pytest.mark.parametrize("name", ["max", "min"])
def test_empty_reduced_dim_raises(name: str) -> None:
    raises_like_torch(
        lambda: getattr(md.ones(0, 3), name)(0), lambda: getattr(torch.ones(0, 3), name)(0), name, "non-zero size"
    )
    check_op(lambda t: tuple(getattr(t, name)(1)), [np.ones((0, 3), dtype=np.float32)])


def test_empty_sum_and_mean() -> None:
    x = np.ones((0, 3), dtype=np.float32)
    check_op(lambda t: t.sum(0), [x])
    check_op(lambda t: t.sum(), [x])
    check_op(lambda t: t.mean(0), [x])


@pytest.mark.parametrize("name", ["amax", "amin", "argmax", "argmin"])
def test_empty_reduced_dim_raises_index_error(name: str) -> None:
    raises_like_torch(
        lambda: getattr(md.ones(0, 2), name)(0), lambda: getattr(torch.ones(0, 2), name)(0), name, "non-zero size"
    )
    check_op(lambda t: getattr(t, name)(1), [np.ones((0, 2), dtype=np.float32)])

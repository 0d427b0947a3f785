"""Activations against torch: relu, sigmoid, tanh, softmax, log_softmax.

Values, dtypes and gradients via ``check_op``; float64 finite differences via
``check_gradcheck``; extreme inputs (sigmoid of +-100/1000, softmax of logits near 1000)
must stay finite, raise no numpy warnings, and keep tiny results exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import check_gradcheck, check_op, no_numpy_warnings, raises_like_torch
from tests.strategies import array_and_dim, arrays, float_dtypes, shapes

small_shapes = shapes(max_dims=3, max_side=3)


@st.composite
def small_arrays(draw: Any, **kwargs: Any) -> np.ndarray:
    """float64, at most 27 elements: for finite differences."""
    return draw(arrays(shape=draw(small_shapes), dtype=np.float64, **kwargs))


@st.composite
def small_array_and_dim(draw: Any) -> tuple[np.ndarray, int]:
    x = draw(arrays(shape=draw(shapes(min_dims=1, max_dims=3, max_side=3)), dtype=np.float64))
    return x, draw(st.integers(-x.ndim, x.ndim - 1))


@st.composite
def away_from_zero(draw: Any, dtype: Any = None, low: float = 0.1) -> np.ndarray:
    x = draw(arrays(dtype=dtype, low=low, high=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (x * rng.choice(np.array([-1, 1], dtype=x.dtype), size=x.shape)).astype(x.dtype)


ELEMENTWISE = {
    "relu": (md.relu, torch.relu),
    "sigmoid": (md.sigmoid, torch.sigmoid),
    "tanh": (md.tanh, torch.tanh),
}


# ---------------------------------------------------------------------------- relu, sigmoid, tanh
@pytest.mark.parametrize("name", list(ELEMENTWISE))
@given(x=arrays(low=-6, high=6))
def test_elementwise_activations(name: str, x: np.ndarray) -> None:
    m_fn, t_fn = ELEMENTWISE[name]
    check_op(m_fn, [x], torch_fn=t_fn)
    check_op(lambda t: getattr(t, name)(), [x])


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@given(x=small_arrays())
def test_elementwise_activations_gradcheck(name: str, x: np.ndarray) -> None:
    if name == "relu":
        x = np.where(np.abs(x) < 0.05, x + 0.1, x)  # away from the kink
    check_gradcheck(ELEMENTWISE[name][0], [x])


def test_relu_at_zero_and_on_integers() -> None:
    """relu'(0) = 0 as torch; integer tensors stay integer."""
    check_op(md.relu, [np.array([0.0, -0.0, 1.0, -1.0], dtype=np.float32)], torch_fn=torch.relu)
    check_op(md.relu, [np.array([-2, 0, 3])], torch_fn=torch.relu)


@given(x=away_from_zero())
def test_relu_property(x: np.ndarray) -> None:
    check_op(md.relu, [x], torch_fn=torch.relu)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_stay_finite_without_warnings(name: str, dtype: Any) -> None:
    x = np.array([-1000.0, -100.0, -88.0, -20.0, 0.0, 20.0, 88.0, 100.0, 1000.0], dtype=dtype)
    with no_numpy_warnings():
        out = getattr(md, name)(md.tensor(x, requires_grad=True))
        out.backward(md.ones_like(out))
    assert np.all(np.isfinite(out.detach().numpy()))
    check_op(getattr(md, name), [x], torch_fn=getattr(torch, name))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(x=arrays(low=-100, high=100))
def test_sigmoid_wide_range_no_warnings(dtype: Any, x: np.ndarray) -> None:
    x = x.astype(dtype)
    with no_numpy_warnings():
        out = md.sigmoid(md.tensor(x, requires_grad=True))
        out.sum().backward()
    check_op(md.sigmoid, [x], torch_fn=torch.sigmoid)


def test_sigmoid_small_values_exact() -> None:
    """Tiny outputs keep full relative precision (no 1 - (1 - e) cancellation)."""
    x64 = np.array([-700.0, -300.0, -100.0, -40.0, -30.0, -20.0], dtype=np.float64)
    check_op(md.sigmoid, [x64], torch_fn=torch.sigmoid, rtol=1e-12, atol=0)
    x32 = np.array([-80.0, -60.0, -40.0, -17.0, -10.0], dtype=np.float32)
    check_op(md.sigmoid, [x32], torch_fn=torch.sigmoid, rtol=1e-5, atol=0)
    # and at the other end, 1 - sigmoid(x) = sigmoid(-x)
    got = md.sigmoid(md.tensor(-x64)).numpy()
    np.testing.assert_allclose(1 - got, torch.sigmoid(torch.tensor(x64)).numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_on_integer_gives_float32(name: str) -> None:
    check_op(getattr(md, name), [np.array([-2, 0, 3])], torch_fn=getattr(torch, name))


# ---------------------------------------------------------------------------- softmax, log_softmax
SOFTMAX = {
    "softmax": (md.softmax, torch.softmax),
    "log_softmax": (md.log_softmax, torch.log_softmax),
}


@pytest.mark.parametrize("name", list(SOFTMAX))
@given(xd=array_and_dim())
def test_softmax(name: str, xd: tuple[np.ndarray, int]) -> None:
    x, dim = xd
    m_fn, t_fn = SOFTMAX[name]
    check_op(lambda t: m_fn(t, dim), [x], torch_fn=lambda t: t_fn(t, dim))
    check_op(lambda t: getattr(t, name)(dim), [x])
    check_op(lambda t: getattr(t, name)(dim=dim), [x])


@pytest.mark.parametrize("name", list(SOFTMAX))
@given(xd=array_and_dim(), dtype=float_dtypes)
def test_softmax_dtype_argument(name: str, xd: tuple[np.ndarray, int], dtype: Any) -> None:
    x, dim = xd
    t_dtype = torch.float64 if dtype == np.float64 else torch.float32
    check_op(
        lambda t: getattr(t, name)(dim, dtype=md.float64 if dtype == np.float64 else md.float32),
        [x],
        torch_fn=lambda t: getattr(t, name)(dim, dtype=t_dtype),
        rtol=1e-5,
        atol=1e-6,
    )
    # integer input with a float dtype is allowed, as torch
    check_op(
        lambda t: getattr(t, name)(dim, dtype=md.float32),
        [np.round(x).astype(np.int64)],
        torch_fn=lambda t: getattr(t, name)(dim, dtype=torch.float32),
    )


@pytest.mark.parametrize("name", list(SOFTMAX))
@given(xd=array_and_dim(), shift=st.sampled_from([1000.0, -1000.0, 1e4]), scale=st.sampled_from([1.0, 300.0]))
def test_softmax_large_logits_stay_finite(name: str, xd: tuple[np.ndarray, int], shift: float, scale: float) -> None:
    x, dim = xd
    x = (x * scale + shift).astype(x.dtype)
    m_fn, t_fn = SOFTMAX[name]
    with no_numpy_warnings():
        out = m_fn(md.tensor(x, requires_grad=True), dim)
        out.backward(md.ones_like(out))
    assert np.all(np.isfinite(out.detach().numpy()))
    check_op(lambda t: m_fn(t, dim), [x], torch_fn=lambda t: t_fn(t, dim), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_minus_inf_entries(name: str) -> None:
    """-inf logits get probability 0 (log_softmax -inf) and no nan gradient elsewhere."""
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf], [1000.0, -np.inf, -1000.0]], dtype=np.float32)
    m_fn, t_fn = SOFTMAX[name]
    check_op(lambda t: m_fn(t, 1), [x], torch_fn=lambda t: t_fn(t, 1))


@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_of_0d(name: str) -> None:
    m_fn, t_fn = SOFTMAX[name]
    x = np.array(2.5, dtype=np.float32)
    check_op(lambda t: m_fn(t, 0), [x], torch_fn=lambda t: t_fn(t, 0))
    check_op(lambda t: m_fn(t, -1), [x], torch_fn=lambda t: t_fn(t, -1))


@pytest.mark.parametrize("name", list(SOFTMAX))
@given(xd=small_array_and_dim())
def test_softmax_gradcheck(name: str, xd: tuple[np.ndarray, int]) -> None:
    x, dim = xd
    m_fn, _ = SOFTMAX[name]
    check_gradcheck(lambda t: m_fn(t, dim), [x])


@given(xd=array_and_dim())
def test_softmax_rows_sum_to_one_and_log_matches(xd: tuple[np.ndarray, int]) -> None:
    x, dim = xd
    t = md.tensor(x)
    np.testing.assert_allclose(md.softmax(t, dim).sum(dim).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(md.log_softmax(t, dim).exp().numpy(), md.softmax(t, dim).numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name", list(SOFTMAX))
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data())
def test_softmax_bad_dim(name: str, shape: tuple[int, ...], data: st.DataObject) -> None:
    n = len(shape)
    dim = data.draw(st.one_of(st.integers(n, n + 3), st.integers(-n - 3, -n - 1)))
    m_fn, t_fn = SOFTMAX[name]
    raises_like_torch(
        lambda: m_fn(md.ones(*shape), dim), lambda: t_fn(torch.ones(*shape), dim), name, f"[{-n}, {n - 1}]", str(dim)
    )


@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_needs_dim(name: str) -> None:
    m_fn, t_fn = SOFTMAX[name]
    raises_like_torch(lambda: m_fn(md.ones(2, 3)), lambda: t_fn(torch.ones(2, 3)), name, "dim")


@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax_of_integer_without_dtype_raises(name: str) -> None:
    m_fn, t_fn = SOFTMAX[name]
    raises_like_torch(lambda: m_fn(md.tensor([1, 2]), 0), lambda: t_fn(torch.tensor([1, 2]), 0), name)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu"])
def test_rejects_non_tensor(name: str) -> None:
    raises_like_torch(lambda: getattr(md, name)([1.0]), lambda: getattr(torch, name)([1.0]), name)


# ---------------------------------------------------------------------------- inplace=True, as torch
_INPLACE = [
    ("relu", lambda F, x: F.relu(x, inplace=True), lambda nn: nn.ReLU(inplace=True)),
    ("leaky_relu", lambda F, x: F.leaky_relu(x, 0.2, inplace=True), lambda nn: nn.LeakyReLU(0.2, inplace=True)),
    ("elu", lambda F, x: F.elu(x, 0.5, inplace=True), lambda nn: nn.ELU(0.5, inplace=True)),
    ("relu6", lambda F, x: F.relu6(x, inplace=True), lambda nn: nn.ReLU6(inplace=True)),
    ("hardtanh", lambda F, x: F.hardtanh(x, -0.5, 0.5, inplace=True), None),
    ("silu", lambda F, x: F.silu(x, inplace=True), lambda nn: nn.SiLU(inplace=True)),
]


@pytest.mark.parametrize("name, functional, module", _INPLACE, ids=[c[0] for c in _INPLACE])
def test_inplace_activations_write_into_their_input(name, functional, module):
    import torch.nn as tnn
    import torch.nn.functional as TF

    import minidl.nn as mnn
    import minidl.nn.functional as MF

    data = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0, 7.0]])
    makers = [(lambda F, x: functional(F, x))]
    if module is not None:
        makers.append(lambda F, x: (module(mnn) if F is MF else module(tnn))(x))
    for make in makers:
        mx, tx = md.tensor(data.copy()), torch.tensor(data.copy())
        my, ty = make(MF, mx), make(TF, tx)
        assert my is mx and ty is tx  # the input itself is the output
        np.testing.assert_allclose(mx.numpy(), tx.numpy(), rtol=1e-12, atol=1e-12)
        # a leaf that requires grad refuses, as torch
        with pytest.raises(RuntimeError, match="leaf"):
            make(MF, md.tensor(data.copy(), requires_grad=True))
        with pytest.raises(RuntimeError, match="leaf"):
            make(TF, torch.tensor(data.copy(), requires_grad=True))
        # inside a graph: the intermediate takes the result and its history; gradients as torch's
        ma, ta = md.tensor(data.copy(), requires_grad=True), torch.tensor(data.copy(), requires_grad=True)
        mb, tb = ma * 3, ta * 3
        mc, tc = make(MF, mb), make(TF, tb)
        assert mc is mb
        (mc * mc).sum().backward()
        (tc * tc).sum().backward()
        np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grad_mode", ["no_grad", "plain data"])
def test_inplace_relu_without_a_graph_writes_straight_into_its_input(dtype, grad_mode):
    """No graph (no_grad, or a tensor that needs no grad): the kernel writes into the input's own array (no new
    array, no copy back): every alias sees it, the version goes up, the bits are the out-of-place result's
    (-0 and NaN pass through) and torch's; a view that is not contiguous takes the general path."""
    import contextlib

    import torch.nn.functional as TF

    import minidl.nn.functional as MF

    data = np.array([[-2.0, -0.0, 0.0, np.nan, 3.0, -np.inf, 7.0, 1e-40]] * 3, dtype=dtype)
    want = MF.relu(md.tensor(data.copy())).numpy()
    tx = torch.tensor(data.copy())
    TF.relu(tx, inplace=True)
    ctx = md.no_grad() if grad_mode == "no_grad" else contextlib.nullcontext()
    mx = md.tensor(data.copy(), requires_grad=grad_mode == "no_grad")
    alias, array, version = mx.detach(), mx._data, mx._version[0]
    with ctx, md.profiler.profile() as prof:
        out = MF.relu(mx, inplace=True)
    assert out is mx and mx._data is array and mx._version[0] == version + 1
    assert [r.key for r in prof.key_averages() if r.kind == "op"] == ["ReLU"]  # still the ReLU op, profiled
    bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(mx.detach().numpy().view(bits), want.view(bits))
    np.testing.assert_array_equal(alias.numpy().view(bits), tx.numpy().view(bits))
    strided = md.tensor(data.copy())[:, ::2]
    with ctx:
        MF.relu(strided, inplace=True)
    np.testing.assert_array_equal(strided.numpy().view(bits), want[:, ::2].view(bits))


def test_inplace_relu_in_a_model_trains_like_out_of_place():
    from minidl import nn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    grads = []
    for inplace in (False, True):
        md.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=inplace), nn.Conv2d(4, 2, 3))
        inp = md.tensor(x)
        net(inp).sum().backward()
        assert np.array_equal(inp.numpy(), x)  # the conv's output was overwritten, not the input
        grads.append([p.grad.numpy() for p in net.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)

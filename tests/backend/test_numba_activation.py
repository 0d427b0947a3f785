"""The numba ReLU kernels against the numpy reference (bit for bit), and ReLU against torch on both paths.

The reference is torch's rule, ``out = where(x < 0, 0, x)`` and ``dx = where(out <= 0, 0, g)``: the
kernels must give the same bits, -0 and NaN included (-0 and NaN inputs pass through; where out <= 0
the gradient is +0 whatever g is, and a NaN output passes g on), so results are compared as unsigned
integers. Shapes stay small, plus one long array for the kernels' vectorised loops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl as md
from tests.helpers import check_gradcheck, numba_path

nk = pytest.importorskip("minidl.backend.numba_kernels")

DTYPES = [np.float32, np.float64]
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1.0, -1.0]


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_same_bits(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(_bits(got), _bits(ref))


@st.composite
def float_arrays(draw: Any, shape: tuple[int, ...] | None = None, dtype: Any = None) -> np.ndarray:
    """Any float32/float64 values (NaN with payloads, +-0, +-inf, subnormals), rank 0 to 4."""
    dtype = np.dtype(dtype or draw(st.sampled_from(DTYPES)))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    elements = st.floats(width=32 if dtype == np.float32 else 64)
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _relu_arrays(x: np.ndarray, g: np.ndarray, enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """(out, dx) of minidl's relu on the numba path (enabled) or the numpy reference."""
    with numba_path(enabled):
        t = md.tensor(x, requires_grad=True)
        out = md.relu(t)
        out.backward(md.tensor(g))
    return out.detach().numpy(), t.grad.numpy()


def _ref_forward(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0, x.dtype.type(0), x)


def _ref_backward(g: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.where(out <= 0, g.dtype.type(0), g)


# ---------------------------------------------------------------------------- kernels vs reference
@given(data=st.data())
def test_relu_kernels_match_reference_bit_for_bit(data):
    x = data.draw(float_arrays())
    g = data.draw(float_arrays(shape=x.shape, dtype=x.dtype))
    out = nk.relu_forward(x)
    assert_same_bits(out, _ref_forward(x))
    assert_same_bits(nk.relu_backward(g, out), _ref_backward(g, out))


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernels_long_array_with_special_values(dtype, split, monkeypatch):
    """Long enough for the vectorised loop and its remainder; every special value as input and as gradient.
    ``split``: the arrays cut between two threads (nk.split), as large activations are."""
    if split:
        monkeypatch.setattr(nk, "SPLIT_MIN", 0)
        monkeypatch.setattr(nk, "get_num_threads", lambda: 2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 101)).astype(dtype)
    x.flat[rng.integers(0, x.size, 300)] = rng.choice(np.array(SPECIAL, dtype=dtype), 300)
    g = rng.standard_normal(x.shape).astype(dtype)
    g.flat[rng.integers(0, g.size, 300)] = rng.choice(np.array(SPECIAL, dtype=dtype), 300)
    out = nk.relu_forward(x)
    assert_same_bits(out, _ref_forward(x))
    assert_same_bits(nk.relu_backward(g, out), _ref_backward(g, out))
    assert not np.shares_memory(nk.relu_backward(g, out), g)  # g is never reused: the engine may share it


@given(data=st.data())
def test_relu_both_paths_same_bits(data):
    """Through the op (dispatch, autograd): the numba path and the numpy path give the same bits."""
    x = data.draw(float_arrays())
    g = data.draw(float_arrays(shape=x.shape, dtype=x.dtype))
    with np.errstate(invalid="ignore"):
        out_nb, gx_nb = _relu_arrays(x, g, True)
        out_np, gx_np = _relu_arrays(x, g, False)
    assert_same_bits(out_nb, out_np)
    assert_same_bits(gx_nb, gx_np)


# ---------------------------------------------------------------------------- dispatch
def test_relu_dispatch(monkeypatch):
    """C-contiguous floats take the kernels on the numba path; the numpy path, integers and strided views
    do not (and still give the reference's values)."""
    calls = []
    for name in ("relu_forward", "relu_backward"):
        real = getattr(nk, name)
        monkeypatch.setattr(nk, name, lambda *a, _n=name, _r=real: calls.append(_n) or _r(*a))
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    for enabled in (True, False):
        calls.clear()
        with numba_path(enabled):
            t = md.tensor(x, requires_grad=True)
            md.relu(t).sum().backward()  # sum's gradient is a broadcast view: not C-contiguous
            assert sorted(calls) == (["relu_forward"] if enabled else [])
            calls.clear()
            t2 = md.tensor(x, requires_grad=True)
            md.relu(t2).backward(md.ones(4, 6))
            assert sorted(calls) == (["relu_backward", "relu_forward"] if enabled else [])
            calls.clear()
            for view, ref in ((md.tensor(x).T, x.T), (md.tensor(x)[:, ::2], x[:, ::2])):  # numpy's path
                np.testing.assert_array_equal(md.relu(view).numpy(), _ref_forward(ref))
            ints = md.relu(md.tensor(np.array([[-2, 0, 3]])))
            assert ints.dtype == md.int64 and ints.numpy().tolist() == [[0, 0, 3]]
            assert calls == []
        np.testing.assert_array_equal(t.grad.numpy(), (x > 0).astype(np.float32))
        np.testing.assert_array_equal(t2.grad.numpy(), (x > 0).astype(np.float32))


# ---------------------------------------------------------------------------- vs torch, both paths
@pytest.mark.parametrize("enabled", [True, False])
@given(data=st.data())
def test_relu_matches_torch(enabled, data):
    """Values and gradients bit for bit as torch's: -0, +-inf and NaN as inputs and as gradients."""
    dtype = data.draw(st.sampled_from(DTYPES))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(width=32)))
    g = data.draw(hnp.arrays(dtype, shape, elements=st.floats(width=32)))
    out, gx = _relu_arrays(x, g, enabled)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.relu(tx)
    tout.backward(torch.tensor(g))
    assert gx.dtype == dtype
    assert_same_bits(out, tout.detach().numpy())
    assert_same_bits(gx, tx.grad.numpy())


@pytest.mark.parametrize("enabled", [True, False])
def test_relu_gradcheck_both_paths(enabled):
    """float64 finite differences through the kernels (points away from the kink at 0)."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    x = np.where(np.abs(x) < 0.05, x + 0.1, x)
    with numba_path(enabled):
        check_gradcheck(md.relu, [x])
        check_gradcheck(lambda t: md.nn.ReLU(inplace=True)(t * 2.0), [x])

"""matmul / mm / bmm / dot against torch: every 1-D/2-D/batched combination, forward and
gradients (check_op), float64 finite differences (check_gradcheck), and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl as md
from tests.helpers import check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes

side = st.integers(1, 4)


@st.composite
def matmul_pair(draw, a_dims: int, b_dims: int, dtype=None):
    """Two arrays whose shapes matmul accepts: a is ``a_dims``-D, b is ``b_dims``-D.

    For batched operands the batch dims are drawn to broadcast (size-1 dims, missing
    leading dims), as in (2, 1, 3, 4) @ (5, 4, 2).
    """
    dtype = draw(float_dtypes) if dtype is None else dtype
    m, n, p = draw(side), draw(side), draw(side)
    na, nb = max(a_dims - 2, 0), max(b_dims - 2, 0)
    full = draw(hnp.array_shapes(min_dims=max(na, nb), max_dims=max(na, nb), min_side=1, max_side=3))

    def batch_of(k):  # the last k dims of the full batch shape, some of them 1
        return tuple(1 if draw(st.booleans()) else s for s in full[len(full) - k :]) if k else ()

    ba, bb = batch_of(na), batch_of(nb)
    a_shape = (n,) if a_dims == 1 else (*ba, m, n)
    b_shape = (n,) if b_dims == 1 else (*bb, n, p)
    a = draw(arrays(shape=a_shape, dtype=dtype))
    b = draw(arrays(shape=b_shape, dtype=dtype))
    return a, b


DIM_COMBOS = [
    (1, 1),
    (2, 1),
    (1, 2),
    (2, 2),
    (3, 3),
    (4, 3),
    (3, 4),
    (4, 4),
    (1, 3),
    (3, 1),
    (1, 4),
    (4, 1),
    (2, 3),
    (3, 2),
    (2, 4),
]


@pytest.mark.parametrize(("a_dims", "b_dims"), DIM_COMBOS)
@given(data=st.data())
def test_matmul(a_dims, b_dims, data):
    a, b = data.draw(matmul_pair(a_dims, b_dims))
    check_op(lambda x, y: x @ y, [a, b])
    check_op(lambda x, y: x.matmul(y), [a, b])


@pytest.mark.parametrize(("a_dims", "b_dims"), [(1, 1), (2, 1), (1, 2), (2, 2), (3, 3), (3, 2), (1, 3), (4, 3)])
@given(data=st.data())
def test_matmul_gradcheck(a_dims, b_dims, data):
    a, b = data.draw(matmul_pair(a_dims, b_dims, dtype=np.float64))
    check_gradcheck(md.matmul, [a, b])


def test_matmul_broadcast_batch_example():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 1, 3, 4)).astype(np.float32)
    b = rng.standard_normal((5, 4, 2)).astype(np.float32)
    check_op(lambda x, y: x @ y, [a, b])
    assert tuple((md.tensor(a) @ md.tensor(b)).shape) == (2, 5, 3, 2)


@given(data=st.data())
def test_matmul_one_side_requires_grad(data):
    a, b = data.draw(matmul_pair(3, 2))
    check_op(lambda x, y: x @ y, [a, b], requires_grad=[True, False])
    check_op(lambda x, y: x @ y, [a, b], requires_grad=[False, True])


@given(a=st.integers(1, 4), b=st.integers(1, 4), c=st.integers(1, 4), seed=st.integers(0, 1000))
def test_matmul_int64(a, b, c, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-5, 5, (a, b))
    y = rng.integers(-5, 5, (b, c))
    check_op(lambda p, q: p @ q, [x, y])


@given(data=st.data())
def test_mm(data):
    a, b = data.draw(matmul_pair(2, 2))
    check_op(md.mm, [a, b], torch_fn=torch.mm)
    check_op(lambda x, y: x.mm(y), [a, b])
    check_gradcheck(md.mm, [a, b])


@given(bsz=side, m=side, n=side, p=side, dtype=float_dtypes, data=st.data())
def test_bmm(bsz, m, n, p, dtype, data):
    a = data.draw(arrays(shape=(bsz, m, n), dtype=dtype))
    b = data.draw(arrays(shape=(bsz, n, p), dtype=dtype))
    check_op(md.bmm, [a, b], torch_fn=torch.bmm)
    check_op(lambda x, y: x.bmm(y), [a, b])
    check_gradcheck(md.bmm, [a, b])


@given(n=side, dtype=float_dtypes, data=st.data())
def test_dot(n, dtype, data):
    a = data.draw(arrays(shape=(n,), dtype=dtype))
    b = data.draw(arrays(shape=(n,), dtype=dtype))
    check_op(md.dot, [a, b], torch_fn=torch.dot)
    check_op(lambda x, y: x.dot(y), [a, b])
    check_gradcheck(md.dot, [a, b])


# ---------------------------------------------------------------------------- errors
def _both_raise(fn_md, fn_torch, a_shape, b_shape, exc=RuntimeError):
    a, b = np.zeros(a_shape, np.float32), np.zeros(b_shape, np.float32)
    with pytest.raises(exc):
        fn_torch(torch.tensor(a), torch.tensor(b))
    with pytest.raises(exc) as info:
        fn_md(md.tensor(a), md.tensor(b))
    return str(info.value)


def test_matmul_inner_mismatch_message():
    msg = _both_raise(md.matmul, torch.matmul, (2, 3), (4, 5))
    assert msg == "matmul: (2, 3) @ (4, 5): inner sizes 3 and 4 differ"


@given(a_dims=st.integers(1, 4), b_dims=st.integers(1, 4), k=side, delta=st.integers(1, 3), data=st.data())
def test_matmul_inner_mismatch(a_dims, b_dims, k, delta, data):
    lead_a = data.draw(hnp.array_shapes(min_dims=a_dims - 1, max_dims=a_dims - 1, max_side=3)) if a_dims > 1 else ()
    lead_b = data.draw(hnp.array_shapes(min_dims=b_dims - 2, max_dims=b_dims - 2, max_side=3)) if b_dims > 2 else ()
    a_shape = (*lead_a, k)
    b_shape = (k + delta,) if b_dims == 1 else (*lead_b, k + delta, data.draw(side))
    msg = _both_raise(md.matmul, torch.matmul, a_shape, b_shape)
    assert "matmul" in msg and str(a_shape) in msg and str(b_shape) in msg
    assert f"inner sizes {k} and {k + delta} differ" in msg


def test_matmul_batch_mismatch():
    msg = _both_raise(md.matmul, torch.matmul, (2, 3, 4), (3, 4, 5))
    assert "matmul" in msg and "(2, 3, 4)" in msg and "(3, 4, 5)" in msg


def test_matmul_zero_dim():
    msg = _both_raise(md.matmul, torch.matmul, (), (3,))
    assert "matmul" in msg and "()" in msg and "(3,)" in msg


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((2, 3), (4, 5)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (2, 3, 2))]
)
def test_mm_errors(a_shape, b_shape):
    msg = _both_raise(md.mm, torch.mm, a_shape, b_shape)
    assert "mm" in msg and str(a_shape) in msg and str(b_shape) in msg


@pytest.mark.parametrize(
    ("a_shape", "b_shape"), [((2, 3, 4), (2, 5, 2)), ((2, 3, 4), (3, 4, 2)), ((3, 4), (4, 2)), ((2, 3, 4), (4, 2))]
)
def test_bmm_errors(a_shape, b_shape):
    msg = _both_raise(md.bmm, torch.bmm, a_shape, b_shape)
    assert "bmm" in msg and str(a_shape) in msg and str(b_shape) in msg


@pytest.mark.parametrize(("a_shape", "b_shape"), [((3,), (4,)), ((2, 3), (3,)), ((3,), (3, 1)), ((), ())])
def test_dot_errors(a_shape, b_shape):
    msg = _both_raise(md.dot, torch.dot, a_shape, b_shape)
    assert "dot" in msg and str(a_shape) in msg and str(b_shape) in msg

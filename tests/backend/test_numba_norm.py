"""The numba batch-norm kernels against the numpy reference (``MINIDL_NUMBA=0``'s path) and torch.

The kernels sum in float64 in another order than the reference, so results are compared
with tolerances: float64 to 1e-10, float32 to a few float32 ulps of the values involved.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.ops import norm
from minidl.ops.norm import batch_norm
from tests.helpers import check_gradcheck, numba_path

nk = pytest.importorskip("minidl.backend.numba_kernels")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@st.composite
def bn_case(draw):
    """(x (N, C, L) with per-channel offsets and scales, weight or None, bias or None, dtype)."""
    n, c, ll = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 9))
    if n * ll == 1:
        n = 2
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loc = rng.uniform(-5, 5, (1, c, 1))
    x = (rng.standard_normal((n, c, ll)) * rng.uniform(0.2, 3, (1, c, 1)) + loc).astype(dtype)
    weight = rng.uniform(0.5, 2, c).astype(dtype) if draw(st.booleans()) else None
    bias = rng.uniform(-1, 1, c).astype(dtype) if draw(st.booleans()) else None
    g = rng.standard_normal(x.shape).astype(dtype)
    return x, weight, bias, g


def reference(x, weight, bias, g, eps, training=True, running=None):
    """The numpy path (numba off) through the op: out, dx, dweight, dbias, running stats after."""
    rm, rv = running if running is not None else (None, None)
    rm = None if rm is None else md.tensor(rm.copy())
    rv = None if rv is None else md.tensor(rv.copy())
    xt = md.tensor(x, requires_grad=True)
    wt = None if weight is None else md.tensor(weight, requires_grad=True)
    bt = None if bias is None else md.tensor(bias, requires_grad=True)
    out = batch_norm(xt, rm, rv, wt, bt, training=training, momentum=0.3, eps=eps)
    out.backward(md.tensor(g))
    grads = [None if t is None else t.grad.numpy() for t in (xt, wt, bt)]
    stats = [None if t is None else t.numpy() for t in (rm, rv)]
    return out.detach().numpy(), *grads, *stats, out.grad_fn


@pytest.mark.parametrize("rows", [True, False], ids=["rows", "channels"])
@given(case=bn_case(), eps=st.sampled_from([1e-5, 1e-3]))
def test_train_kernels_match_numpy_reference(rows, case, eps):
    """Both kernel pairs (sums over whole sample rows for small planes, channel by channel for larger)."""
    x, weight, bias, g = case
    dt = x.dtype.type
    with numba_path(False):
        out_ref, gx_ref, gw_ref, gb_ref, *_ = reference(x, weight, bias, g, eps)
    saved = nk.BN_ROWS_BELOW
    nk.BN_ROWS_BELOW = 10**9 if rows else 0
    try:
        _check_train_kernels(x, weight, bias, g, eps, dt, out_ref, gx_ref, gw_ref, gb_ref)
    finally:
        nk.BN_ROWS_BELOW = saved


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("need_x", [True, False])
@given(case=bn_case())
def test_channel_kernels_split_over_threads_same_bits(workers, need_x, case):
    """The per-channel kernels on ranges of channels from several threads (nk._by_channels) give the serial
    call's results bit for bit: each channel's sums run the same loop."""
    x, weight, bias, g = case
    from minidl.backend import threads

    saved = (nk.BN_ROWS_BELOW, threads.PARALLEL_MIN_BYTES, threads.get_num_threads())
    nk.BN_ROWS_BELOW = 0
    try:
        results = []
        for split in (False, True):
            threads.PARALLEL_MIN_BYTES = 0 if split else 1 << 62
            threads.set_num_threads(workers)
            out, mean, var = nk.batch_norm_train_forward(x, weight, bias, 1e-5)
            inv_std = 1 / np.sqrt(var + 1e-5)
            results.append((out, mean, var, *nk.batch_norm_train_backward(g, x, mean, inv_std, weight, need_x)))
    finally:
        nk.BN_ROWS_BELOW, threads.PARALLEL_MIN_BYTES = saved[:2]
        threads.set_num_threads(saved[2])
    for whole, cut in zip(*results):
        if whole is None:
            assert cut is None
            continue
        np.testing.assert_array_equal(cut.view(np.uint8), whole.view(np.uint8))


def test_batch_norm_kernel_choice():
    """Planes of fewer than BN_ROWS_BELOW values take the row kernels: ResNet-18's 8x8 to 1x1 maps."""
    assert nk.BN_ROWS_BELOW == 64


def _check_train_kernels(x, weight, bias, g, eps, dt, out_ref, gx_ref, gw_ref, gb_ref):
    out, mean, var = nk.batch_norm_train_forward(x, weight, bias, eps)
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, out_ref, **TOL[dt])
    inv_std = 1 / np.sqrt(var + eps)
    gx, sum_g, sum_gxhat = nk.batch_norm_train_backward(g, x, mean, inv_std, weight, True)
    assert gx.dtype == x.dtype and gx.shape == x.shape
    np.testing.assert_allclose(gx, gx_ref, **TOL[dt])
    np.testing.assert_allclose(sum_g, g.astype(np.float64).sum(axis=(0, 2)), rtol=1e-10, atol=1e-10)
    xhat = (x.astype(np.float64) - mean[None, :, None]) * inv_std[None, :, None]
    np.testing.assert_allclose(sum_gxhat, (g * xhat).sum(axis=(0, 2)), rtol=1e-9, atol=1e-9)
    if weight is not None:
        np.testing.assert_allclose(sum_gxhat, gw_ref, **TOL[dt])
    if bias is not None:
        np.testing.assert_allclose(sum_g, gb_ref, **TOL[dt])
    none, sum_g2, sum_gxhat2 = nk.batch_norm_train_backward(g, x, mean, inv_std, weight, False)
    assert none is None
    np.testing.assert_array_equal(sum_g2, sum_g)
    np.testing.assert_array_equal(sum_gxhat2, sum_gxhat)


@given(case=bn_case())
def test_affine_kernel_matches_numpy(case):
    x = case[0]
    rng = np.random.default_rng(x.size)
    scale, shift = rng.uniform(-2, 2, x.shape[1]), rng.uniform(-2, 2, x.shape[1])
    got = nk.batch_norm_affine(x, scale, shift)
    want = x * scale.astype(x.dtype)[None, :, None] + shift.astype(x.dtype)[None, :, None]
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, want, **TOL[x.dtype.type])


@pytest.mark.parametrize("use", [True, False])
@pytest.mark.parametrize("training", [True, False])
@given(case=bn_case())
def test_both_paths_match_torch(use, training, case):
    """The op on the numba path and on the numpy path against torch: out, grads, running stats."""
    x, weight, bias, g = case
    dt = x.dtype.type
    c = x.shape[1]
    rng = np.random.default_rng(c)
    running = (rng.standard_normal(c).astype(dt), rng.uniform(0.5, 2, c).astype(dt))
    with numba_path(use):
        out, gx, gw, gb, rm, rv, node = reference(x, weight, bias, g, 1e-5, training, running)
    # the numba kernels run exactly when on and the rows are long enough
    assert (node.kernels is not None) == (use and training and x.shape[2] >= norm._FUSED_MIN_L)
    t_rm, t_rv = torch.tensor(running[0]), torch.tensor(running[1])
    xt = torch.tensor(x, requires_grad=True)
    wt = None if weight is None else torch.tensor(weight, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    to = torch.nn.functional.batch_norm(xt, t_rm, t_rv, wt, bt, training, 0.3, 1e-5)
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(out, to.detach().numpy(), **TOL[dt])
    np.testing.assert_allclose(gx, xt.grad.numpy(), **TOL[dt])
    for mine, theirs in ((gw, wt), (gb, bt)):
        if theirs is not None:
            assert mine.dtype == x.dtype
            np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=TOL[dt]["rtol"], atol=TOL[dt]["atol"] * x.size)
    np.testing.assert_allclose(rm, t_rm.numpy(), **TOL[dt])
    np.testing.assert_allclose(rv, t_rv.numpy(), **TOL[dt])


@pytest.mark.parametrize("shape", [(3, 2, 4), (2, 3, 2, 3)])
def test_numba_path_gradcheck(shape):
    rng = np.random.default_rng(1)
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)
    with numba_path(True):
        check_gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True, eps=1e-3), [x, w, b])
        check_gradcheck(lambda x: batch_norm(x, None, None, training=True), [x])


def test_float32_large_offset_stays_accurate():
    """A mean far from 0 (|mean| / std = 1e3): both paths centre x on the float32-rounded mean and fold the
    rounding into per-channel constants, so float32 stays within 1e-5 of float64 torch (torch's own float32
    x * scale + shift is 4e-5 off here)."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((8, 3, 6, 6)) + 1000).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    to = torch.nn.functional.batch_norm(xt, None, None, training=True)
    to.backward(torch.tensor(g, dtype=torch.float64))
    for use in (True, False):
        with numba_path(use):
            xm = md.tensor(x, requires_grad=True)
            out = batch_norm(xm, None, None, training=True)
            out.backward(md.tensor(g))
        np.testing.assert_allclose(out.detach().numpy(), to.detach().numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-5)


def test_numba_path_takes_strided_input_and_nan():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 3, 5, 8)).astype(np.float32)
    x = base[..., ::2]  # not contiguous
    x[1, 2, 0, 0] = np.nan
    outs = []
    for use in (True, False):
        with numba_path(use):
            outs.append(batch_norm(md.tensor(x), None, None, training=True).numpy())
    want = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True).numpy()
    for out in outs:
        assert np.isnan(out[:, 2]).all() and not np.isnan(out[:, :2]).any()
        np.testing.assert_allclose(out[:, :2], want[:, :2], rtol=1e-5, atol=1e-5)


def test_numba_path_refuses_backward_after_input_changed_in_place():
    """The kernels save the input itself (no copy): an in-place change before backward is an error, as in torch."""
    x = md.tensor(np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    with numba_path(True):
        y = x * 2
        out = batch_norm(y, None, None, training=True)
        assert out.grad_fn.kernels is not None
        with md.no_grad():
            y += 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.backward(md.ones_like(out))


def test_backward_keeps_the_forward_path_when_switched():
    """Switching numba off between forward and backward still gives the right gradient."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 5))
    g = rng.standard_normal(x.shape)
    with numba_path(False):
        x_ref = md.tensor(x, requires_grad=True)
        batch_norm(x_ref, None, None, training=True).backward(md.tensor(g))
    xm = md.tensor(x, requires_grad=True)
    with numba_path(True):
        out = batch_norm(xm, None, None, training=True)
    assert out.grad_fn.kernels is not None
    with numba_path(False):
        out.backward(md.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), x_ref.grad.numpy(), rtol=1e-10, atol=1e-10)

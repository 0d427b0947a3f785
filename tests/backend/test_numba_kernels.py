"""The numba kernels (minidl.backend.numba_kernels) against the numpy references and torch.

The kernels add in the reference's order, so float results are compared for equality.
Shapes stay small: the first run compiles each kernel (cached on disk afterwards).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.nn.functional as F
from minidl import backend
from minidl.backend import im2col as ic
from minidl.ops import pool
from tests.helpers import numba_path

nk = pytest.importorskip("minidl.backend.numba_kernels")

DTYPES = [np.float32, np.float64]


@st.composite
def conv_geometry(draw):
    """(x shape, kernel, stride, pads, dilation) with at least one window per dim."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ks, ss, ds, pads, sizes = [], [], [], [], []
    for _ in range(2):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        before, after = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        span = d * (k - 1) + 1
        size = draw(st.integers(max(1, span - before - after), 7))
        ks.append(k), ss.append(s), ds.append(d), pads.append((before, after)), sizes.append(size)
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(pads), tuple(ds)


@contextlib.contextmanager
def im2col_kernel(kind):
    """Force the row-by-row ("rows") or the gathering ("gather") im2col/col2im kernels for any row width."""
    saved = nk.GATHER_BELOW, nk.GATHER_BELOW_STRIDED
    nk.GATHER_BELOW = nk.GATHER_BELOW_STRIDED = 10**9 if kind == "gather" else 0
    try:
        yield
    finally:
        nk.GATHER_BELOW, nk.GATHER_BELOW_STRIDED = saved


@pytest.mark.parametrize("kind", ["rows", "gather"])
@given(geom=conv_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_im2col_col2im_match_reference(kind, geom, dtype, seed):
    shape, k, s, p, d = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    with numba_path(False):
        ref = ic.im2col(x, k, s, p, d)
    out = ic._out_size(*shape[2:], k, s, p, d)
    with im2col_kernel(kind):  # the kernel itself (the dispatch skips the kernels for planes of < 4 windows)
        got = nk.im2col(x, k, s, p, d, out)
    assert got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    cols = rng.standard_normal(ref.shape).astype(dtype)
    with numba_path(False):
        ref2 = ic.col2im(cols, shape, k, s, p, d)
    with im2col_kernel(kind):
        got2 = nk.col2im(cols, shape, k, s, p, d, out)
    assert got2.dtype == dtype and got2.shape == shape
    np.testing.assert_array_equal(got2, ref2)


@pytest.mark.parametrize("kind", ["rows", "gather"])
def test_im2col_takes_strided_input(kind):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 10)).astype(np.float32)[..., ::2]
    with numba_path(False):
        ref = ic.im2col(x, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    with im2col_kernel(kind):
        np.testing.assert_array_equal(nk.im2col(x, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), (6, 5)), ref)


@pytest.mark.parametrize(("ow", "stride", "gathers"), [(8, 1, True), (15, 1, True), (16, 1, False), (32, 1, False),
                                                       (32, 2, True), (63, 4, True), (64, 2, False)])  # fmt: skip
def test_im2col_kernel_choice(ow, stride, gathers):
    """Rows narrower than a vector's lanes (and strided rows up to 64 windows) go to the gathering kernels."""
    assert nk._gathers(ow, stride) is gathers


def test_im2col_dispatch_at_both_widths_matches_reference():
    """The dispatch as wired (no forcing): a 24-wide stride-1 layer on the row kernels, an 8-wide on the gathers."""
    rng = np.random.default_rng(1)
    for shape, stride in (((2, 3, 24, 24), (1, 1)), ((2, 3, 16, 16), (2, 2)), ((3, 2, 8, 8), (1, 1))):
        x = rng.standard_normal(shape).astype(np.float32)
        geom = ((3, 3), stride, ((1, 1), (1, 1)), (1, 1))
        with numba_path(False):
            ref = ic.im2col(x, *geom)
            ref2 = ic.col2im(ref, shape, *geom)
        with numba_path(True):
            np.testing.assert_array_equal(ic.im2col(x, *geom), ref)
            np.testing.assert_array_equal(ic.col2im(ref, shape, *geom), ref2)


@st.composite
def pool_geometry(draw, dilate=True):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ks, ss, ps, ds, sizes = [], [], [], [], []
    for _ in range(2):
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if dilate else 1
        p = draw(st.integers(0, k // 2))
        size = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 7))
        ks.append(k), ss.append(s), ps.append(p), ds.append(d), sizes.append(size)
    ceil_mode = draw(st.booleans())
    out = tuple(ic.conv_output_size(n_, k, s, p, d, ceil_mode) for n_, k, s, p, d in zip(sizes, ks, ss, ps, ds))
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(ps), tuple(ds), out


def _check_max_pool_kernels(x, shape, k, s, p, d, out, rng) -> None:
    """The numba max-pool forward and backward equal the numpy reference (maxima, tap codes, gradient) bit for bit."""
    dtype = x.dtype
    with numba_path(False):
        best_r, code_r = pool.max_pool2d_forward(x, k, s, p, d, out)
    best, code = nk.max_pool2d_forward(x, k, s, p, d, out, code_r.dtype)
    assert best.dtype == dtype and code.dtype == code_r.dtype
    np.testing.assert_array_equal(best, best_r)
    np.testing.assert_array_equal(code, code_r)
    g = rng.standard_normal(best.shape).astype(dtype)
    disjoint = all(pool._windows_disjoint(*a) for a in zip(out, k, s, d))
    with numba_path(False):
        gx_r = pool.max_pool2d_backward(g, code, shape, k, s, p, d, disjoint)
    gx = nk.max_pool2d_backward(g, code, shape, k, s, p, d)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, gx_r)


@given(geom=pool_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool_matches_reference(geom, dtype, seed, ties):
    shape, k, s, p, d, out = geom
    rng = np.random.default_rng(seed)
    # ties: the first maximum wins (all -inf: the first tap inside the input)
    x = rng.choice(np.array([-np.inf, -1.0, 0.0, 1.0]), shape) if ties else rng.standard_normal(shape)
    x = x.astype(dtype)
    if x.size > 1 and not ties:
        x.flat[rng.integers(0, x.size, 2)] = np.nan  # NaN wins (the last one of a window)
    _check_max_pool_kernels(x, shape, k, s, p, d, out, rng)


@st.composite
def pool2x2_geometry(draw):
    """2x2 windows without padding (the fast kernels' case, the course CNN's MaxPool2d(2, 2)), ceil_mode too."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    s, d, sizes = [], [], []
    for _ in range(2):
        s.append(draw(st.integers(1, 3)))
        d.append(draw(st.integers(1, 2)))
        sizes.append(draw(st.integers(d[-1] + 1, 9)))
    ceil_mode = draw(st.booleans())
    out = tuple(ic.conv_output_size(*a, 0, b, ceil_mode) for a, b in zip(zip(sizes, (2, 2), s), d))
    return (n, c, *sizes), (2, 2), tuple(s), (0, 0), tuple(d), out


@given(geom=pool2x2_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16), ties=st.booleans())
def test_max_pool_2x2_fast_kernels_match_reference(geom, dtype, seed, ties):
    """The 2x2 kernels: the same maxima and tap codes (ties: first tap; NaN: the last; -inf windows: the
    first tap) and, for stride 2, the same gradient as the numpy reference."""
    shape, k, s, p, d, out = geom
    rng = np.random.default_rng(seed)
    if ties:
        x = rng.choice(np.array([-np.inf, -1.0, 0.0, 1.0]), shape)
    else:
        x = rng.standard_normal(shape)
        x.flat[rng.integers(0, x.size, 3)] = np.nan
    x = x.astype(dtype)
    inside = all((o - 1) * st_ + d_ < n_ for o, st_, d_, n_ in zip(out, s, d, shape[2:]))
    assert nk.max_pool2d_fast(shape[2:], k, s, p, d, out) == (inside or s[1] <= 2)
    _check_max_pool_kernels(x, shape, k, s, p, d, out, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size,ceil_mode", [((8, 6), False), ((7, 9), False), ((7, 9), True), ((2, 2), False)])
def test_max_pool_2x2_stride2_backward_matches_reference(dtype, size, ceil_mode):
    """MaxPool2d(2, 2)'s gradient: tiled planes (each cell written once) and odd ones (the last row/column
    in no window stays 0; with ceil_mode the partial windows take the general kernels)."""
    shape = (2, 3, *size)
    rng = np.random.default_rng(sum(size))
    x = rng.standard_normal(shape).astype(dtype)
    out = tuple(ic.conv_output_size(n_, 2, 2, 0, 1, ceil_mode) for n_ in size)
    geo = ((2, 2), (2, 2), (0, 0), (1, 1))
    with numba_path(False):
        _, code = pool.max_pool2d_forward(x, *geo, out)
    g = rng.standard_normal(code.shape).astype(dtype)
    with numba_path(False):
        gx_r = pool.max_pool2d_backward(g, code, shape, *geo, True)
    gx = nk.max_pool2d_backward(g, code, shape, *geo)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, gx_r)
    assert np.count_nonzero(gx) == g.size  # one cell per (disjoint) window; the rest, odd edges too, is 0


def test_max_pool_2x2_fast_kernel_takes_strided_input():
    x = np.random.default_rng(5).standard_normal((2, 3, 8, 12)).astype(np.float32)[..., ::2]
    with numba_path(False):
        best_r, code_r = pool.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), (4, 3))
    best, code = nk.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), (4, 3), code_r.dtype)
    np.testing.assert_array_equal(best, best_r)
    np.testing.assert_array_equal(code, code_r)


@given(geom=pool_geometry(dilate=False), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       include_pad=st.booleans())  # fmt: skip
def test_avg_pool_matches_reference(geom, dtype, seed, include_pad):
    shape, k, s, p, _, out = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    div = pool.avg_pool2d_divisor(shape[2:], k, s, p, out, include_pad, None).astype(dtype)
    with numba_path(False):
        ref = pool.avg_pool2d_forward(x, k, s, p, out, div)
    got = nk.avg_pool2d_forward(x, k, s, p, out, div)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, ref)
    g = rng.standard_normal(ref.shape).astype(dtype)
    with numba_path(False):
        gx_r = pool.avg_pool2d_backward(g, shape, k, s, p, div)
    gx = nk.avg_pool2d_backward(g, shape, k, s, p, div)
    assert gx.dtype == dtype
    np.testing.assert_allclose(gx, gx_r, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_switch_and_env():
    with numba_path(False):
        assert not backend.numba_enabled()
        assert backend.numba_kernels_or_none() is None
    with numba_path(True):
        assert backend.numba_enabled()


# ---------------------------------------------------------------------------- end to end vs torch
def _run(enabled, fn, *arrays):
    with numba_path(enabled):
        ts = [md.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*ts)
        out.backward(md.tensor(np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(arrays[0].dtype)))
        return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 0, 1, 1), (1, 2, 2, 2), (3, 1, 1, 1)])
def test_conv2d_both_paths_match_torch(dtype, enabled, stride, padding, dilation, groups):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 4 // groups, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    out, grads = _run(enabled, lambda x, w, b: F.conv2d(x, w, b, **kw), x, w, b)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    tout.backward(torch.tensor(np.linspace(-1, 1, tout.numel()).reshape(tout.shape).astype(dtype)))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=tol, atol=tol)
    for g, t in zip(grads, (tx, tw, tb)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("enabled", [False, True])
@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil", [(2, 2, 0, 1, False), (3, 2, 1, 1, True),
                                                                 (3, 1, 1, 2, False)])  # fmt: skip
def test_pools_both_paths_match_torch(dtype, enabled, kernel, stride, padding, dilation, ceil):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 7)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    geo = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil)
    for ours, theirs, extra in [(F.max_pool2d, torch.nn.functional.max_pool2d, dict(dilation=dilation)),
                                (F.avg_pool2d, torch.nn.functional.avg_pool2d, {})]:  # fmt: skip
        out, (gx,) = _run(enabled, lambda t, ours=ours, extra=extra: ours(t, **geo, **extra), x)
        tx = torch.tensor(x, requires_grad=True)
        tout = theirs(tx, **geo, **extra)
        tout.backward(torch.tensor(np.linspace(-1, 1, tout.numel()).reshape(tout.shape).astype(dtype)))
        np.testing.assert_allclose(out, tout.detach().numpy(), rtol=tol, atol=tol)
        assert gx.dtype == dtype
        np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("enabled", [False, True])
def test_float32_conv_step_makes_no_float64_array(enabled, monkeypatch):
    """Every array an op's forward or backward returns in a float32 conv/pool/linear step is float32."""
    from minidl import nn
    from minidl.autograd.function import Function, Node

    seen: list[tuple[str, object]] = []
    apply, run_backward = Function.apply.__func__, Node.run_backward

    def spy_apply(cls, *args, **kwargs):
        out = apply(cls, *args, **kwargs)
        for o in out if isinstance(out, tuple) else (out,):
            seen.append((f"{cls.__name__}.forward", o._data.dtype))
        return out

    def spy_backward(self, grads):
        res = run_backward(self, grads)
        seen.extend((f"{self.name()}", g.dtype) for g in res if g is not None)
        return res

    monkeypatch.setattr(Function, "apply", classmethod(spy_apply))
    monkeypatch.setattr(Node, "run_backward", spy_backward)
    real_im2col, real_col2im = ic.im2col, ic.col2im
    md.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, stride=2, padding=1, dilation=1), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(4, 3))  # fmt: skip
    x = md.randn(2, 3, 8, 8)
    y = md.tensor([0, 2])
    with numba_path(enabled):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    assert ic.im2col is real_im2col and ic.col2im is real_col2im
    assert seen and loss.dtype == md.float32
    bad = [(name, dt) for name, dt in seen if dt == np.float64]
    assert not bad, bad
    assert all(p.grad.dtype == md.float32 for p in model.parameters())


@pytest.mark.parametrize("setup", ["sys.modules['numba'] = None", "os.environ['MINIDL_NUMBA'] = '0'"])
def test_numpy_path_without_numba(setup):
    """Where numba cannot be imported (or MINIDL_NUMBA=0) the package runs its numpy path."""
    import subprocess
    import sys

    code = (f"import os, sys\n{setup}\nimport minidl as md, minidl.nn.functional as F\nfrom minidl import backend\n"
            "assert not backend.numba_enabled()\n"
            "x = md.randn(1, 2, 16, 16, requires_grad=True); w = md.randn(3, 2, 3, 3, requires_grad=True)\n"
            "F.max_pool2d(F.conv2d(x, w, padding=1), 2).sum().backward()\n"  # 256 windows: numba_conv's size
            "assert 'minidl.backend.numba_kernels' not in sys.modules\n"
            "assert 'minidl.backend.numba_conv' not in sys.modules\n"
            "print(x.grad.shape)\n")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------------------- GEMM rows <-> NCHW planes
@given(n=st.integers(0, 3), g=st.integers(1, 2), per=st.integers(1, 3), h=st.integers(0, 4), w=st.integers(1, 5),
       dtype=st.sampled_from(DTYPES), bias=st.booleans(), seed=st.integers(0, 2**16))  # fmt: skip
def test_layout_swaps_match_numpy(n, g, per, h, w, dtype, bias, seed):
    """rows_to_planes / planes_to_rows: conv2d's (O, N*L) <-> (N, O, h, w) swaps (the bias added, or the
    per-channel sums of the gradient taken, on the way) equal numpy's transposes, bit for bit."""
    rng = np.random.default_rng(seed)
    o = g * per
    rows = rng.standard_normal((g, per, n * h * w)).astype(dtype)  # grouped rows (G, O/G, N*L)
    b = rng.standard_normal(o).astype(dtype) if bias else None
    out = np.empty((n, o, h, w), dtype=dtype)
    nk.rows_to_planes(rows, b, out)
    want = rows.reshape(o, n, h, w).transpose(1, 0, 2, 3)
    np.testing.assert_array_equal(out, want + b.reshape(o, 1, 1) if bias else want)
    back, sums = nk.planes_to_rows(out, want_sums=True)
    assert back.shape == (o, n * h * w) and back.dtype == dtype and sums.dtype == dtype
    np.testing.assert_array_equal(back, np.ascontiguousarray(out.transpose(1, 0, 2, 3)).reshape(o, -1))
    np.testing.assert_allclose(sums, out.sum(axis=(0, 2, 3), dtype=np.float64), rtol=1e-5, atol=1e-5)
    assert nk.planes_to_rows(out, want_sums=False)[1] is None


def test_layout_swaps_keep_negative_zero_and_nan():
    """Without a bias the values move untouched (-0.0 stays -0.0: no 0 is added); NaN goes through."""
    rows = np.array([[-0.0, np.nan, 1.0, -2.0]], dtype=np.float32)  # O = 1, N = 2, L = 2
    out = np.empty((2, 1, 1, 2), dtype=np.float32)
    nk.rows_to_planes(rows, None, out)
    assert np.signbit(out[0, 0, 0, 0]) and np.isnan(out[0, 0, 0, 1])
    _, sums = nk.planes_to_rows(out, want_sums=True)
    assert np.isnan(sums[0])
    with pytest.raises(ValueError, match="C-contiguous"):
        nk.rows_to_planes(rows, None, np.empty((2, 1, 2, 2), dtype=np.float32)[..., ::2])


@pytest.mark.parametrize("bias", [True, False])
def test_conv_im2col_path_uses_the_layout_kernels(monkeypatch, bias):
    """conv2d on im2col (here stride 2) hands its layout swaps to the kernels on the numba path, not off it;
    both paths give torch's output and gradients."""
    calls = []
    for name in ("rows_to_planes", "planes_to_rows"):
        real = getattr(nk, name)
        monkeypatch.setattr(nk, name, lambda *a, _n=name, _r=real, **k: calls.append(_n) or _r(*a, **k))
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb if bias else None, stride=2, padding=1)
    ty.backward(torch.ones_like(ty))
    for enabled in (True, False):
        calls.clear()
        with numba_path(enabled):
            mx, mw, mb = (md.tensor(a, requires_grad=True) for a in (x, w, b))
            my = F.conv2d(mx, mw, mb if bias else None, stride=2, padding=1)
            my.backward(md.ones(*my.shape))
        assert sorted(set(calls)) == (["planes_to_rows", "rows_to_planes"] if enabled else [])  # once per slice
        np.testing.assert_allclose(my.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        for m, t in ((mx, tx), (mw, tw)) + (((mb, tb),) if bias else ()):
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- thin weight gradients
@given(n=st.integers(0, 3), o4=st.integers(1, 3), k3=st.integers(1, 16), size=st.integers(1, 40),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))  # fmt: skip
def test_wgrad_direct_matches_the_gemm(n, o4, k3, size, dtype, seed):
    """dW = g's rows @ cols^T and the bias sums, from g's planes (O a multiple of 4, K of 3; empty batches too)."""
    rng = np.random.default_rng(seed)
    o, k = 4 * o4, 3 * k3
    g = rng.standard_normal((n, o, 1, size)).astype(dtype)
    cols = rng.standard_normal((k, n * size)).astype(dtype)
    dw, sums = nk.wgrad_direct(g, cols, True)
    rows = g.transpose(1, 0, 2, 3).reshape(o, n * size).astype(np.float64)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert dw.dtype == dtype and sums.dtype == dtype
    np.testing.assert_allclose(dw, rows @ cols.T.astype(np.float64), **tol)
    np.testing.assert_allclose(sums, rows.sum(axis=1), **tol)
    assert nk.wgrad_direct(g, cols, False)[1] is None


@pytest.mark.parametrize(("o", "k", "groups", "applies"), [
    (32, 27, 1, True), (8, 48, 1, True), (32, 75, 1, False), (30, 27, 1, False), (32, 28, 1, False), (32, 27, 2, False),
])  # fmt: skip
def test_wgrad_direct_applies(o, k, groups, applies):
    assert nk.wgrad_direct_applies(o, k, groups) is applies


@pytest.mark.parametrize("x_grad", [False, True])
def test_first_layer_weight_gradient_matches_torch(x_grad, monkeypatch):
    """A course-CNN-like first layer (3 -> 8 channels, 3x3): conv2d's weight and bias gradients come from the
    direct kernel on the numba path (the input's gradient, when wanted, from the GEMM as before), as torch's."""
    used = []
    real = nk.wgrad_direct
    monkeypatch.setattr(nk, "wgrad_direct", lambda *a: used.append(1) or real(*a))
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((4, 3, 9, 9)), rng.standard_normal((8, 3, 3, 3)), rng.standard_normal(8)
    g = rng.standard_normal((4, 8, 9, 9))
    tx, tw, tb = (torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv2d(tx if x_grad else tx.detach(), tw, tb, padding=1).backward(torch.tensor(g).float())
    with numba_path(True):
        mx, mw, mb = (md.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
        F.conv2d(mx if x_grad else mx.detach(), mw, mb, padding=1).backward(md.tensor(g.astype(np.float32)))
    assert used
    np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-4)
    if x_grad:
        np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)

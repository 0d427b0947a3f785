"""The numba pooling kernels against the numpy references, and the layers against torch.

The kernels add the reference's terms in the reference's order (numpy's pairwise sum included), so
float results are compared for equality, on float32 and float64. ``MaxPool2d(2)``'s kernels are
compared bit for bit (-0 and NaN payloads included: its gradient is the reference's product
g * (tap is the argmax), -0 for a negative g). The layers run with the numba path on and off
(``numba_path``) against torch. Shapes stay small: the first run compiles each kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl as md
from minidl import nn
from minidl.backend.im2col import conv_output_size
from minidl.ops import pool
from tests.helpers import check_gradcheck, numba_path

nk = pytest.importorskip("minidl.backend.numba_kernels")

DTYPES = [np.float32, np.float64]


def _reference(fn, *args):
    with numba_path(False):
        return fn(*args)


# ---------------------------------------------------------------------------- avg-pool kernels vs reference
@st.composite
def avg_geometry(draw, tiled=False):
    """(x shape, kernel, stride, padding, out size, divisor (oh, ow) int64): torch's avg_pool2d arguments.

    ``tiled``: kernel == stride and no padding (AvgPool2d(k)), the kernels' window-sum path, on sizes the
    windows need not divide (floor mode drops the rest, ceil_mode adds partial windows).
    """
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ks, ss, ps, sizes = [], [], [], []
    for _ in range(2):
        k = draw(st.integers(1, 4))
        s = k if tiled else draw(st.integers(1, 3))
        p = 0 if tiled else draw(st.integers(0, k // 2))
        ks.append(k), ss.append(s), ps.append(p), sizes.append(draw(st.integers(max(1, k - 2 * p), 9)))
    ceil_mode = draw(st.booleans())
    out = tuple(conv_output_size(*a, 1, ceil_mode) for a in zip(sizes, ks, ss, ps))
    override = draw(st.one_of(st.none(), st.integers(-3, 7).filter(bool)))
    div = pool.avg_pool2d_divisor(tuple(sizes), tuple(ks), tuple(ss), tuple(ps), out, draw(st.booleans()), override)
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(ps), out, div


def _check_avg_kernels(geom, dtype, seed):
    shape, k, s, p, out, div = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    div = div.astype(dtype)
    ref = _reference(pool.avg_pool2d_forward, x, k, s, p, out, div)
    got = nk.avg_pool2d_forward(x, k, s, p, out, div)
    assert got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    g = rng.standard_normal(ref.shape).astype(dtype)
    disjoint = all(pool._windows_disjoint(o, kk, ss, 1) for o, kk, ss in zip(out, k, s))
    gx_r = _reference(pool.avg_pool2d_backward, g, shape, k, s, p, div, disjoint)
    gx = nk.avg_pool2d_backward(g, shape, k, s, p, div)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_array_equal(gx, gx_r)


@given(geom=avg_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_avg_pool_kernels_match_reference(geom, dtype, seed):
    """Overlapping windows, padding, ceil_mode, count_include_pad, divisor_override: bit for bit."""
    _check_avg_kernels(geom, dtype, seed)


@given(geom=avg_geometry(tiled=True), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_avg_pool_tiled_kernels_match_reference(geom, dtype, seed):
    """AvgPool2d(k) (the window-sum and spread kernels where the windows lie inside the input)."""
    _check_avg_kernels(geom, dtype, seed)


def test_avg_pool_kernels_take_strided_input():
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 12)).astype(np.float32)[..., ::2]
    div = np.full((4, 3), 4, dtype=np.float32)
    ref = _reference(pool.avg_pool2d_forward, x, (2, 2), (2, 2), (0, 0), (4, 3), div)
    np.testing.assert_array_equal(nk.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (4, 3), div), ref)
    g = np.random.default_rng(4).standard_normal((2, 3, 8, 3)).astype(np.float32)[:, :, ::2]
    ref = _reference(pool.avg_pool2d_backward, g, (2, 3, 8, 6), (2, 2), (2, 2), (0, 0), div, True)
    np.testing.assert_array_equal(nk.avg_pool2d_backward(g, (2, 3, 8, 6), (2, 2), (2, 2), (0, 0), div), ref)


# ---------------------------------------------------------------------------- adaptive kernels vs reference
@st.composite
def adaptive_geometry(draw):
    """(x shape, out size): out sizes that divide the input, that do not, larger than it, and 0."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    out = tuple(draw(st.one_of(st.integers(0, n_ + 3), st.sampled_from([1, n_]), st.sampled_from(
        [d for d in range(1, n_ + 1) if n_ % d == 0])))
        for n_ in (h, w))  # fmt: skip
    return (n, c, h, w), out


def _check_adaptive_avg(shape, out, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    ref = _reference(pool.adaptive_avg_pool2d_forward, x, out)
    got = nk.adaptive_avg_pool2d_forward(x, out)
    assert got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    g = rng.standard_normal(ref.shape).astype(dtype)
    gx_r = _reference(pool.adaptive_avg_pool2d_backward, g, shape)
    gx = nk.adaptive_avg_pool2d_backward(g, shape)
    assert gx.dtype == dtype and gx.shape == shape
    np.testing.assert_array_equal(gx, gx_r)


@given(geom=adaptive_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_adaptive_avg_kernels_match_reference(geom, dtype, seed):
    _check_adaptive_avg(*geom, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,out", [((2, 3, 13, 13), (1, 1)), ((1, 2, 9, 300), (2, 1)), ((1, 1, 3, 700), (1, 3)),
                                       ((2, 2, 7, 7), (1, 1)), ((3, 4, 2, 2), (1, 1)), ((2, 3, 13, 13), (6, 6))])
def test_adaptive_avg_kernels_wide_bins(dtype, shape, out):
    """Bins of over 64 cells take the separable sums, whose column sums are numpy's pairwise ones (8 partial sums
    from 8 terms, halves above 128): still bit for bit; global pooling of 2x2 and 7x7 takes the window sums."""
    _check_adaptive_avg(shape, out, dtype, sum(shape))


@given(geom=adaptive_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["normal", "ties", "nan"]))  # fmt: skip
def test_adaptive_max_kernels_match_reference(geom, dtype, seed, kind):
    """Maxima and flat indices equal (ties: the first maximum; NaN wins, the last NaN in scan order; all -inf:
    the bin's first cell); the gradient equals the reference's scatter."""
    shape, out = geom
    rng = np.random.default_rng(seed)
    if kind == "ties":
        x = rng.choice(np.array([-np.inf, -1.0, 0.0, 1.0]), shape)
    else:
        x = rng.standard_normal(shape)
        if kind == "nan":
            x.flat[rng.integers(0, x.size, max(1, x.size // 4))] = np.nan
    x = x.astype(dtype)
    best_r, idx_r = _reference(pool.adaptive_max_pool2d_forward, x, out)
    best, idx = nk.adaptive_max_pool2d_forward(x, out)
    assert best.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(best, best_r)
    np.testing.assert_array_equal(idx, idx_r)
    g = rng.standard_normal(best.shape).astype(dtype)
    gx_r = _reference(pool.scatter_to_planes, g, idx, shape, False)
    gx = nk.adaptive_max_pool2d_backward(g, idx, shape)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, gx_r)


def test_adaptive_max_last_nan_as_torch():
    """Several NaNs in one bin: the index is the last in scan order, as torch's kernel reports."""
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 2, 5, 6)
    x[0, 0, 1, 4] = x[0, 0, 3, 0] = x[0, 0, 3, 2] = np.nan
    x[0, 1, 4, 5] = 1e9
    best, idx = nk.adaptive_max_pool2d_forward(x, (2, 1))
    t_best, t_idx = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), (2, 1), return_indices=True)
    np.testing.assert_array_equal(idx, t_idx.numpy())
    np.testing.assert_array_equal(best, t_best.numpy())
    assert idx[0, 0, 1, 0] == 3 * 6 + 2 and idx[0, 1, 1, 0] == 4 * 6 + 5


# ---------------------------------------------------------------------------- MaxPool2d(2) kernels vs reference
def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0])


def _at_code(x: np.ndarray, code: np.ndarray) -> np.ndarray:
    """MaxPool2d(2)'s input value at each window's argmax tap (code i*2 + j)."""
    n, c, oh, ow = code.shape
    y = 2 * np.arange(oh)[:, None] + code // 2
    xx = 2 * np.arange(ow)[None, :] + code % 2
    return x[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], y, xx]


@st.composite
def max_pool_2x2s2_case(draw):
    """(x, g, shape, out size) for MaxPool2d(2): even and odd sizes (floor mode leaves the last row/column
    out; ceil_mode adds partial windows, which take the general kernels), values with ties, +-0, +-inf and
    NaN (the last NaN of a window wins), gradients with -0, +-inf and NaN."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(2, 11)), draw(st.integers(2, 11))
    ceil_mode = draw(st.booleans())
    out = (conv_output_size(h, 2, 2, 0, 1, ceil_mode), conv_output_size(w, 2, 2, 0, 1, ceil_mode))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["normal", "ties", "special"]))
    shape = (n, c, h, w)
    if kind == "ties":
        x = rng.choice(np.array([-np.inf, -1.0, -0.0, 0.0, 1.0]), shape)
    else:
        x = rng.standard_normal(shape)
        if kind == "special":
            x.flat[rng.integers(0, x.size, max(1, x.size // 4))] = rng.choice(SPECIAL, max(1, x.size // 4))
    g = rng.standard_normal((n, c, *out))
    g.flat[rng.integers(0, g.size, max(1, g.size // 4))] = rng.choice(SPECIAL, max(1, g.size // 4))
    return x.astype(dtype), g.astype(dtype), shape, out


@given(case=max_pool_2x2s2_case())
def test_max_pool_2x2_stride2_kernels_same_bits(case):
    """MaxPool2d(2)'s kernels (strides built in): tap codes and gradient equal the numpy reference's bits;
    each maximum is its argmax tap's value, bit for bit (as torch), which equals the reference's maximum as a
    number: on a tie of +0 and -0, or several NaNs, ``np.maximum`` returns either one. The backward fast path
    applies exactly where every window lies inside the input."""
    x, g, shape, out = case
    geo = ((2, 2), (2, 2), (0, 0), (1, 1))
    with numba_path(False):
        best_r, code_r = pool.max_pool2d_forward(x, *geo, out)
    best, code = nk.max_pool2d_forward(x, *geo, out, code_r.dtype)
    assert best.dtype == x.dtype and code.dtype == code_r.dtype == np.uint8
    np.testing.assert_array_equal(code, code_r)
    np.testing.assert_array_equal(best, best_r)  # NaN == NaN, -0 == +0
    np.testing.assert_array_equal(_bits(best), _bits(_at_code(x, code)))
    with numba_path(False), np.errstate(invalid="ignore"):
        gx_r = pool.max_pool2d_backward(g, code, shape, *geo, True)
    with np.errstate(invalid="ignore"), numba_path(True):  # the op's dispatch: the kernel where it applies
        gx = pool.max_pool2d_backward(g, code, shape, *geo, True)
    assert gx.dtype == x.dtype and gx.shape == shape
    np.testing.assert_array_equal(_bits(gx), _bits(gx_r))
    np.testing.assert_array_equal(_bits(nk.max_pool2d_backward(g, code, shape, *geo)), _bits(gx_r))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize(
    "geo, size",
    [
        (((2, 2), (2, 2), (0, 0), (1, 1)), (12, 12)),  # MaxPool2d(2)'s kernels
        (((3, 3), (1, 1), (1, 1), (1, 1)), (8, 9)),  # MaxPool2d(3, 1, 1)
        (((3, 3), (2, 2), (1, 1), (1, 1)), (10, 12)),  # the stem pool on even planes
        (((2, 2), (1, 1), (0, 0), (1, 1)), (7, 7)),  # 2x2 windows inside the input
        (((3, 2), (2, 1), (1, 0), (1, 2)), (9, 8)),  # the general kernel
    ],
)
def test_max_pool_kernels_split_over_threads_same_bits(geo, size, threads, monkeypatch):
    """Cut into slices of the batch on several threads (nk.split), the kernels give the whole call's bits."""
    rng = np.random.default_rng(7)
    x = rng.integers(-3, 3, (5, 3, *size)).astype(np.float32)
    x.flat[rng.integers(0, x.size, 20)] = rng.choice(np.array(SPECIAL, dtype=np.float32), 20)
    out = tuple(conv_output_size(s, k, st_, p, d) for s, k, st_, p, d in zip(size, *geo))
    g = rng.standard_normal((5, 3, *out)).astype(np.float32)
    results = []
    for split in (False, True):
        monkeypatch.setattr(nk, "SPLIT_MIN", 0 if split else 1 << 62)
        monkeypatch.setattr(nk, "get_num_threads", lambda: threads)
        best, code = nk.max_pool2d_forward(x, *geo, out, np.uint8)
        results.append((best, code, nk.max_pool2d_backward(g, code, x.shape, *geo)))
    (best, code, gx), (best_s, code_s, gx_s) = results
    np.testing.assert_array_equal(code_s, code)
    np.testing.assert_array_equal(_bits(best_s), _bits(best))
    np.testing.assert_array_equal(_bits(gx_s), _bits(gx))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(32, 32), (16, 18), (9, 35)])
def test_max_pool_2x2_stride2_kernels_long_rows(dtype, size):
    """Rows long enough for the vectorised loops and their remainders, with ties and NaNs."""
    rng = np.random.default_rng(sum(size))
    shape = (2, 3, *size)
    x = rng.integers(-3, 3, shape).astype(dtype)
    x.flat[rng.integers(0, x.size, 40)] = np.nan
    out = (size[0] // 2, size[1] // 2)
    geo = ((2, 2), (2, 2), (0, 0), (1, 1))
    with numba_path(False):
        best_r, code_r = pool.max_pool2d_forward(x, *geo, out)
    best, code = nk.max_pool2d_forward(x, *geo, out, code_r.dtype)
    np.testing.assert_array_equal(best, best_r)
    np.testing.assert_array_equal(_bits(best), _bits(_at_code(x, code)))
    np.testing.assert_array_equal(code, code_r)
    g = rng.standard_normal(best.shape).astype(dtype)
    with numba_path(False):
        gx_r = pool.max_pool2d_backward(g, code, shape, *geo, True)
    np.testing.assert_array_equal(_bits(nk.max_pool2d_backward(g, code, shape, *geo)), _bits(gx_r))


def test_max_pool_dispatch(monkeypatch):
    """On the numba path float max-pools hand forward and backward to the kernels (2x2 windows, padded or
    partial ceil_mode ones, 3x3 stride 1 and 2); a stride of 3 along the width only the backward (numpy's
    slices are faster there); off, or on integers, none."""
    calls = []
    for name in ("max_pool2d_forward", "max_pool2d_backward"):
        real = getattr(nk, name)
        monkeypatch.setattr(nk, name, lambda *a, _n=name, _r=real: calls.append(_n) or _r(*a))
    x = md.randn(2, 3, 7, 6, requires_grad=True)
    both = ["max_pool2d_backward", "max_pool2d_forward"]
    for enabled in (True, False):
        with numba_path(enabled):
            for layer in (nn.MaxPool2d(2), nn.MaxPool2d(2, ceil_mode=True), nn.MaxPool2d(2, padding=1),
                          nn.MaxPool2d(3, 1, 1), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, (3, 2))):  # fmt: skip
                calls.clear()
                layer(x).sum().backward()
                assert sorted(calls) == (both if enabled else []), layer
            calls.clear()
            nn.MaxPool2d(3)(x).sum().backward()
            assert calls == (["max_pool2d_backward"] if enabled else [])
            calls.clear()
            nn.MaxPool2d(2)(md.tensor(np.arange(36).reshape(1, 1, 6, 6)))  # int64: the numpy path
            assert calls == []


@pytest.mark.parametrize("enabled", [True, False])
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16), ties=st.booleans(), batched=st.booleans())
def test_max_pool_2x2_layer_matches_torch(enabled, n, c, h, w, dtype, seed, ties, batched):
    """MaxPool2d(2) values, gradient and return_indices as torch's, both paths (ties: the first maximum)."""
    rng = np.random.default_rng(seed)
    shape = (n, c, h, w) if batched else (c, h, w)
    x = (rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _vs_torch(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x, enabled, tol)
    with numba_path(enabled):
        _, idx = nn.MaxPool2d(2, return_indices=True)(md.tensor(x))
    _, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.from_numpy(x))
    np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())


# ---------------------------------------------------------------------------- dispatch
def test_ops_dispatch_to_the_kernels(monkeypatch):
    """With numba on, the array functions hand floats to the kernels; off (or for int64 avg-pool) they do not."""
    calls = []
    for name in ("avg_pool2d_forward", "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
                 "adaptive_max_pool2d_forward"):  # fmt: skip
        real = getattr(nk, name)
        monkeypatch.setattr(nk, name, lambda *a, _n=name, _r=real: calls.append(_n) or _r(*a))
    x = md.randn(2, 3, 6, 6, requires_grad=True)
    for enabled in (True, False):
        calls.clear()
        with numba_path(enabled):
            y = nn.AvgPool2d(2)(x).sum() + nn.AdaptiveAvgPool2d(1)(x).sum() + nn.AdaptiveMaxPool2d(2)(x).sum()
            y.backward()
            nn.AvgPool2d(2)(md.tensor(np.arange(36).reshape(1, 1, 6, 6)))  # int64: the numpy path
        expected = ["avg_pool2d_forward", "adaptive_avg_pool2d_forward", "adaptive_max_pool2d_forward",
                    "avg_pool2d_backward"]  # fmt: skip
        assert sorted(calls) == (sorted(expected) if enabled else [])


# ---------------------------------------------------------------------------- layers vs torch, both paths
def _vs_torch(ours, theirs, x, enabled, tol):
    with numba_path(enabled):
        t = md.tensor(x, requires_grad=True)
        out = ours(t)
        out = out[0] if isinstance(out, tuple) else out
        g = np.linspace(-1, 1, out.numel()).reshape(out.shape).astype(x.dtype)
        out.backward(md.tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    tout = theirs(tx)
    tout = tout[0] if isinstance(tout, tuple) else tout
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=tol, atol=tol)
    assert t.grad.dtype == x.dtype
    np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("enabled", [True, False])
@given(geom=avg_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16), include_pad=st.booleans(),
       override=st.one_of(st.none(), st.integers(1, 5)))  # fmt: skip
def test_avg_pool_layer_matches_torch(enabled, geom, dtype, seed, include_pad, override):
    shape, k, s, p, out, _ = geom
    ceil = any(o != conv_output_size(n, kk, ss, pp, 1, False) for o, n, kk, ss, pp in zip(out, shape[2:], k, s, p))
    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=include_pad,
              divisor_override=override)  # fmt: skip
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _vs_torch(nn.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), x, enabled, tol)


@pytest.mark.parametrize("enabled", [True, False])
@given(geom=adaptive_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["avg", "max"]))  # fmt: skip
def test_adaptive_layers_match_torch(enabled, geom, dtype, seed, kind):
    shape, out = geom
    out = tuple(max(o, 1) for o in out)  # torch's adaptive backward refuses empty outputs (kernel tests have them)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)  # distinct values: no ties
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if kind == "avg":
        _vs_torch(nn.AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out), x, enabled, tol)
    else:
        _vs_torch(nn.AdaptiveMaxPool2d(out), torch.nn.AdaptiveMaxPool2d(out), x, enabled, tol)
        with numba_path(enabled):
            _, idx = nn.AdaptiveMaxPool2d(out, return_indices=True)(md.tensor(x))
        _, t_idx = torch.nn.AdaptiveMaxPool2d(out, return_indices=True)(torch.from_numpy(x))
        np.testing.assert_array_equal(idx.numpy(), t_idx.numpy())


@pytest.mark.parametrize("enabled", [True, False])
def test_gradcheck_both_paths(enabled):
    """float64 finite differences through the kernels: overlapping padded windows, tiled ones, adaptive bins,
    MaxPool2d(2)."""
    x = np.random.default_rng(7).standard_normal((2, 2, 7, 6))
    with numba_path(enabled):
        check_gradcheck(lambda t: md.nn.functional.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                        [x])  # fmt: skip
        check_gradcheck(lambda t: md.nn.functional.avg_pool2d(t, 2), [x])
        check_gradcheck(lambda t: md.nn.functional.adaptive_avg_pool2d(t, (3, 4)), [x])
        check_gradcheck(lambda t: md.nn.functional.adaptive_max_pool2d(t, (4, 4)), [x])
        check_gradcheck(lambda t: md.nn.functional.max_pool2d(t, 2), [x])  # odd H: the last row in no window
        check_gradcheck(lambda t: md.nn.functional.max_pool2d(t, 2), [x[..., :6, :]])  # tiled


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)])
def test_max_pool_gradient_with_special_values_as_torch(enabled, kwargs):
    """inf, -inf, NaN and negative upstream gradients reach only the argmax cells; every other cell gets 0
    (as torch: not inf * 0 = NaN, not -0), for the 2x2 kernel and the general path."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, **kwargs)
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    g.flat[rng.integers(0, g.size, 20)] = rng.choice(np.array([np.inf, -np.inf, np.nan, -1.0, -0.0], np.float32), 20)
    ty.backward(torch.tensor(g))
    with numba_path(enabled):
        mx = md.tensor(x, requires_grad=True)
        md.nn.functional.max_pool2d(mx, **kwargs).backward(md.tensor(g))
    # overlapping windows add in another order: equal to rounding; NaN and inf exactly where torch has them
    # (allclose with equal_nan checks NaN positions)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6, equal_nan=True)
    assert not np.isnan(tx.grad.numpy()).all()  # the premise: NaN stays where torch puts it, not everywhere
    if kwargs == dict(kernel_size=2):  # no overlaps, so no sums to round: torch's bits, +0 for a -0 g too
        np.testing.assert_array_equal(_bits(mx.grad.numpy()), _bits(tx.grad.numpy()))


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), k=st.integers(1, 3),
       s=st.integers(1, 3), d=st.integers(1, 2), ceil=st.booleans(), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16), data=st.data())
def test_general_max_pool_backward_kernel_same_bits(n, c, h, w, k, s, d, ceil, dtype, seed, data):
    """Any geometry (overlapping windows, padding, dilation, ceil_mode): the numba backward gives the numpy
    reference's bits, special upstream values included."""
    p = data.draw(st.integers(0, k // 2))
    if (k - 1) * d + 1 > h + 2 * p or (k - 1) * d + 1 > w + 2 * p:
        return
    out = (conv_output_size(h, k, s, p, d, ceil), conv_output_size(w, k, s, p, d, ceil))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    g = rng.standard_normal((n, c, *out)).astype(dtype)
    some = max(1, g.size // 4)
    g.flat[rng.integers(0, g.size, some)] = rng.choice(np.array(SPECIAL, dtype=dtype), some)
    geo = ((k, k), (s, s), (p, p), (d, d))
    _, code = pool.max_pool2d_forward(x, *geo, out)
    disjoint = s >= (k - 1) * d + 1
    results = []
    for enabled in (False, True):
        with numba_path(enabled), np.errstate(invalid="ignore"):
            results.append(pool.max_pool2d_backward(g, code, x.shape, *geo, disjoint))
    np.testing.assert_array_equal(_bits(results[1]), _bits(results[0]))


# ---------------------------------------------------------------------------- MaxPool2d(3, 2, 1) on even planes
def _pool_values(rng: np.random.Generator, shape: tuple[int, ...], values: str, dtype) -> np.ndarray:
    """Inputs for the 3x3 kernels: normal values, ties (-inf, +-0, +-1: all-zero windows as after a ReLU),
    or special values (+-0, +-inf, NaN of both signs)."""
    if values == "normal":
        x = rng.standard_normal(shape)
    elif values == "ties":
        x = rng.choice(np.array([-np.inf, -1.0, -0.0, 0.0, 1.0]), shape)
    else:
        x = rng.choice(SPECIAL, shape)
    return x.astype(dtype)


def _value_at_tap(x: np.ndarray, code: np.ndarray, stride: int) -> np.ndarray:
    """x at each window's tap code (3x3 windows, padding 1): the value a kernel must return, bit for bit."""
    n, c, h, w = x.shape
    oh, ow = code.shape[2:]
    rows = np.clip(stride * np.arange(oh)[:, None] - 1 + code // 3, 0, h - 1)
    cols = np.clip(stride * np.arange(ow)[None, :] - 1 + code % 3, 0, w - 1)
    return x[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]


def _check_3x3_kernel(x: np.ndarray, geo: tuple, out: tuple[int, int], rng: np.random.Generator) -> None:
    """A 3x3 max-pool kernel (padding 1) against the numpy reference: the same tap codes and values (the
    reference's NaN may carry another sign bit), the value at the argmax bit for bit, the same gradient."""
    best_r, code_r = _reference(pool.max_pool2d_forward, x, *geo, out)
    best, code = nk.max_pool2d_forward(x, *geo, out, code_r.dtype)
    np.testing.assert_array_equal(code, code_r)
    np.testing.assert_array_equal(best, best_r)
    at = _value_at_tap(x, code, geo[1][0])
    np.testing.assert_array_equal(_bits(best), _bits(at))  # the value at the argmax, bit for bit
    g = rng.standard_normal(best.shape).astype(x.dtype)
    gx_r = _reference(pool.max_pool2d_backward, g, code_r, x.shape, *geo, False)
    np.testing.assert_array_equal(nk.max_pool2d_backward(g, code, x.shape, *geo), gx_r)


def _check_layer_vs_torch(x: np.ndarray, stride: int, padding: Any, ceil_mode: bool) -> None:
    """MaxPool2d(3, stride, padding, ceil_mode) through minidl's functional API: torch's values (bits) and
    indices."""
    out, idx = md.nn.functional.max_pool2d(md.tensor(x), 3, stride, padding, ceil_mode=ceil_mode,
                                           return_indices=True)  # fmt: skip
    tout, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, stride, padding, ceil_mode=ceil_mode,
                                                return_indices=True)  # fmt: skip
    np.testing.assert_array_equal(_bits(out.numpy()), _bits(tout.numpy()))
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@given(n=st.integers(1, 2), c=st.integers(1, 3), oh=st.integers(1, 6), ow=st.integers(1, 6),
       values=st.sampled_from(["normal", "ties", "special"]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_max_pool_3x3_stride2_kernel_matches_reference(n, c, oh, ow, values, dtype, seed):
    """ResNet's stem pool on even planes (the two-pass kernel): torch's scan order bit for bit: the first
    maximum in (i, j) order (ties between rows, e.g. all-zero ReLU windows), the last NaN, windows of -inf
    on their first tap inside the input; the value at the argmax (its sign of zero); the gradient."""
    rng = np.random.default_rng(seed)
    shape = (n, c, 2 * oh, 2 * ow)
    x = _pool_values(rng, shape, values, dtype)
    geo = ((3, 3), (2, 2), (1, 1), (1, 1))
    assert nk._pool_3x3s2p1_even(shape[2:], *geo, (oh, ow))
    _check_3x3_kernel(x, geo, (oh, ow), rng)


def test_max_pool_3x3_stride2_kernel_only_on_even_planes():
    geo = ((3, 3), (2, 2), (1, 1), (1, 1))
    assert nk._pool_3x3s2p1_even((16, 16), *geo, (8, 8))
    assert not nk._pool_3x3s2p1_even((15, 16), *geo, (8, 8))  # odd height: the general kernel
    assert not nk._pool_3x3s2p1_even((16, 16), (3, 3), (2, 2), (0, 0), (1, 1), (7, 7))
    assert not nk._pool_3x3s2p1_even((16, 16), (3, 3), (2, 2), (1, 1), (2, 2), (7, 7))


# ---------------------------------------------------------------------------- MaxPool2d(3, 1, 1)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       values=st.sampled_from(["normal", "ties", "special"]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_max_pool_3x3_stride1_kernel_matches_reference(n, c, h, w, values, dtype, seed):
    """GoogLeNet's MaxPool2d(3, 1, 1) (the two-pass kernel, every window as if inside, then the edges
    again): torch's scan order bit for bit, as the numpy reference: the first maximum in (i, j) order, the
    last NaN, a window of -inf on its first tap inside the input; the value at the argmax (its sign of
    zero); the gradient; and through the layer, torch's output and indices."""
    rng = np.random.default_rng(seed)
    shape = (n, c, h, w)
    x = _pool_values(rng, shape, values, dtype)
    geo = ((3, 3), (1, 1), (1, 1), (1, 1))
    assert nk._pool_3x3s1p1(shape[2:], *geo, (h, w))
    _check_3x3_kernel(x, geo, (h, w), rng)
    if values != "special":  # NaN-free: torch's values and indices through the layer
        _check_layer_vs_torch(x, 1, 1, False)


def test_max_pool_3x3_stride1_kernel_only_where_it_applies():
    geo = ((3, 3), (1, 1), (1, 1), (1, 1))
    assert nk._pool_3x3s1p1((16, 16), *geo, (16, 16))
    assert nk._pool_3x3s1p1((2, 5), *geo, (2, 5))
    assert not nk._pool_3x3s1p1((1, 5), *geo, (1, 5))  # a single row: the general kernel
    assert not nk._pool_3x3s1p1((16, 16), (3, 3), (1, 1), (0, 0), (1, 1), (14, 14))
    assert not nk._pool_3x3s1p1((16, 16), (3, 3), (1, 1), (1, 1), (2, 2), (14, 14))


# ---------------------------------------------------------------------------- MaxPool2d(3, 2) with padding 0 or 1
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12),
       pad=st.tuples(st.integers(0, 1), st.integers(0, 1)), ceil_mode=st.booleans(),
       values=st.sampled_from(["normal", "ties", "special"]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_max_pool_3x3_stride2_any_plane_kernel_matches_reference(n, c, h, w, pad, ceil_mode, values, dtype, seed):
    """AlexNet's and GoogLeNet's MaxPool2d(3, 2) (padding 0 or 1, odd and even planes, ceil_mode's partial
    windows): the two-pass kernel gives the general kernel's (torch's scan order) codes and values; the
    value at the argmax bit for bit; through the layer, torch's output and indices."""
    assume(h + 2 * pad[0] >= 3 and w + 2 * pad[1] >= 3)
    out = tuple(conv_output_size(s, 3, 2, p, 1, ceil_mode) for s, p in zip((h, w), pad))
    x = _pool_values(np.random.default_rng(seed), (n, c, h, w), values, dtype)
    geo = ((3, 3), (2, 2), pad, (1, 1))
    assert nk._pool_3x3s2((h, w), *geo, out)
    best_r = np.empty((n, c, *out), dtype=dtype)
    code_r = np.empty((n, c, *out), dtype=np.uint8)
    nk._max_pool_fwd(x, best_r, code_r, 3, 3, 2, 2, *pad, 1, 1)  # the general kernel
    best, code = nk.max_pool2d_forward(x, *geo, out, np.uint8)
    np.testing.assert_array_equal(code, code_r)
    np.testing.assert_array_equal(_bits(best), _bits(best_r))
    if values != "special":  # NaN-free: torch's values and indices through the layer
        _check_layer_vs_torch(x, 2, pad, ceil_mode)


def test_max_pool_3x3_stride2_any_plane_kernel_where_it_applies():
    assert nk._pool_3x3s2((55, 55), (3, 3), (2, 2), (0, 0), (1, 1), (27, 27))
    assert nk._pool_3x3s2((33, 33), (3, 3), (2, 2), (1, 1), (1, 1), (17, 17))
    assert not nk._pool_3x3s2((33, 33), (3, 3), (2, 2), (2, 2), (1, 1), (18, 18))  # padding 2: general
    assert not nk._pool_3x3s2((33, 33), (3, 3), (2, 2), (0, 0), (2, 2), (15, 15))  # dilated: general

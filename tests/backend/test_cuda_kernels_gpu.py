"""The CUDA kernels on a real GPU against the numpy reference (``gpu`` tests).

They skip without a CUDA device and fail instead when ``MINIDL_REQUIRE_GPU=1``
(tests/conftest.py). Inputs are made on the host, copied to the GPU, and the kernels'
results copied back with ``cupy.asnumpy``: exact equality for im2col/col2im, max-pool
(values, tap codes, indices) and the gathers that add in the reference's order;
allclose for the averages (the GPU may divide or add with different rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl import backend
from minidl.backend import cuda
from minidl.backend import im2col as ic
from minidl.ops import pool

pytestmark = pytest.mark.gpu
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _cp():
    cp = backend.cupy_or_none()
    assert cp is not None, "the gpu tests need CuPy"
    return cp


def numpy_reference(fn, *args):
    """``fn`` on host arrays with the numba kernels off: the readable numpy reference."""
    prev = backend._numba_wanted
    backend.use_numba(False)
    try:
        return fn(*args)
    finally:
        backend.use_numba(prev)


def exact(got, ref) -> None:
    got = _cp().asnumpy(got)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


def close(got, ref) -> None:
    got = _cp().asnumpy(got)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, **TOL[ref.dtype.type])


@st.composite
def conv_geometry(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ks, ss, ds, pads, sizes = [], [], [], [], []
    for _ in range(2):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        lo = max(1, d * (k - 1) + 1 - before - after)
        ks.append(k), ss.append(s), ds.append(d), pads.append((before, after))
        sizes.append(draw(st.integers(lo, lo + 9)))
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(pads), tuple(ds)


@settings(max_examples=20)
@given(geom=conv_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_im2col_col2im_on_gpu(geom, dtype, seed):
    cp = _cp()
    shape, k, s, p, d = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    ref = numpy_reference(ic.im2col, x, k, s, p, d)
    exact(ic.im2col(cp.asarray(x), k, s, p, d), ref)  # through the dispatch in im2col.py
    cols = rng.standard_normal(ref.shape).astype(dtype)
    exact(ic.col2im(cp.asarray(cols), shape, k, s, p, d), numpy_reference(ic.col2im, cols, shape, k, s, p, d))


@settings(max_examples=20)
@given(n=st.integers(1, 2), c=st.integers(1, 3), size=st.integers(4, 12), k=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), ceil_mode=st.booleans(), dtype=st.sampled_from(DTYPES),
       kind=st.sampled_from(["random", "ties", "special"]), seed=st.integers(0, 2**16))  # fmt: skip
def test_max_pool2d_on_gpu(n, c, size, k, s, d, ceil_mode, dtype, kind, seed):
    cp = _cp()
    rng = np.random.default_rng(seed)
    p = min(k // 2, ((k - 1) * d + 1) // 2)
    o = ic.conv_output_size(size, k, s, p, d, ceil_mode)
    if o < 1:
        return
    x = rng.integers(-2, 3, (n, c, size, size)).astype(dtype) if kind == "ties" else \
        rng.standard_normal((n, c, size, size)).astype(dtype)  # fmt: skip
    if kind == "special":
        x[rng.random(x.shape) < 0.15] = np.nan
        x[rng.random(x.shape) < 0.15] = -np.inf
    geom = ((k, k), (s, s), (p, p), (d, d))
    ref_out, ref_code = numpy_reference(pool.max_pool2d_forward, x, *geom, (o, o))
    out, code = pool.max_pool2d_forward(cp.asarray(x), *geom, (o, o))
    exact(out, ref_out)
    exact(code, ref_code)
    g = rng.standard_normal(ref_out.shape).astype(dtype)
    ref_gx = numpy_reference(pool.max_pool2d_backward, g, ref_code, x.shape, *geom, False)
    exact(pool.max_pool2d_backward(cp.asarray(g), code, x.shape, *geom, False), ref_gx)


@settings(max_examples=20)
@given(n=st.integers(1, 2), c=st.integers(1, 3), size=st.integers(3, 12), k=st.integers(1, 4), s=st.integers(1, 3),
       include_pad=st.booleans(), ceil_mode=st.booleans(), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_avg_pool2d_on_gpu(n, c, size, k, s, include_pad, ceil_mode, dtype, seed):
    cp = _cp()
    rng = np.random.default_rng(seed)
    p = k // 2
    o = ic.conv_output_size(size, k, s, p, 1, ceil_mode)
    if o < 1:
        return
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    geom = ((k, k), (s, s), (p, p))
    div = pool.avg_pool2d_divisor((size, size), *geom, (o, o), include_pad, None).astype(dtype)
    close(pool.avg_pool2d_forward(cp.asarray(x), *geom, (o, o), cp.asarray(div)),
          numpy_reference(pool.avg_pool2d_forward, x, *geom, (o, o), div))  # fmt: skip
    g = rng.standard_normal((n, c, o, o)).astype(dtype)
    close(pool.avg_pool2d_backward(cp.asarray(g), x.shape, *geom, cp.asarray(div), False),
          numpy_reference(pool.avg_pool2d_backward, g, x.shape, *geom, div, False))  # fmt: skip


@settings(max_examples=20)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 13), w=st.integers(1, 13), oh=st.integers(0, 9),
       ow=st.integers(1, 9), dtype=st.sampled_from(DTYPES), kind=st.sampled_from(["random", "ties", "special"]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_adaptive_pools_on_gpu(n, c, h, w, oh, ow, dtype, kind, seed):
    cp = _cp()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    close(pool.adaptive_avg_pool2d_forward(cp.asarray(x), (oh, ow)),
          numpy_reference(pool.adaptive_avg_pool2d_forward, x, (oh, ow)))  # fmt: skip
    g = rng.standard_normal((n, c, oh, ow)).astype(dtype)
    close(pool.adaptive_avg_pool2d_backward(cp.asarray(g), x.shape),
          numpy_reference(pool.adaptive_avg_pool2d_backward, g, x.shape))  # fmt: skip
    if kind == "ties":
        x = rng.integers(-2, 3, x.shape).astype(dtype)
    elif kind == "special":
        x[rng.random(x.shape) < 0.15] = np.nan
    ref_out, ref_idx = numpy_reference(pool.adaptive_max_pool2d_forward, x, (oh, ow))
    out, idx = pool.adaptive_max_pool2d_forward(cp.asarray(x), (oh, ow))
    exact(out, ref_out)
    exact(idx, ref_idx)
    ref_gx = numpy_reference(pool.scatter_to_planes, g, ref_idx, x.shape, False)
    exact(pool.adaptive_max_pool2d_backward(cp.asarray(g), idx, x.shape, False), ref_gx)


def test_grid_stride_loop_covers_more_outputs_than_threads(monkeypatch):
    cp = _cp()
    monkeypatch.setattr(cuda, "MAX_BLOCKS", 3)  # 768 threads for 9,216 columns x 9 rows
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 48, 48)).astype(np.float32)
    geom = ((3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    ref = numpy_reference(ic.im2col, x, *geom)
    cols = cuda.im2col(cp.asarray(x), *geom)
    exact(cols, ref)
    exact(cuda.col2im(cols, x.shape, *geom), numpy_reference(ic.col2im, ref, x.shape, *geom))


def test_non_contiguous_inputs_and_other_device_dtypes():
    cp = _cp()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2, 9, 8))
    xt = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # (N, C, H, W) view of (C, N, H, W)
    geom = ((2, 2), (2, 2), (0, 0), (1, 1))
    ref_out, ref_code = numpy_reference(pool.max_pool2d_forward, x, *geom, (4, 4))
    out, code = pool.max_pool2d_forward(cp.asarray(xt), *geom, (4, 4))
    exact(out, ref_out)
    exact(code, ref_code)
    # integer data is not the kernels' (float only): the reference runs on cupy instead
    xi = cp.asarray(rng.integers(-5, 5, x.shape))
    assert cuda.kernels_for(xi) is None
    out_i, _ = pool.max_pool2d_forward(xi, *geom, (4, 4))
    np.testing.assert_array_equal(cp.asnumpy(out_i), numpy_reference(pool.max_pool2d_forward,
                                                                     cp.asnumpy(xi), *geom, (4, 4))[0])  # fmt: skip

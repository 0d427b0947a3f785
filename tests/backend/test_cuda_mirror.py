"""The CUDA kernels' index math, without a GPU: the numpy mirror of each kernel against the numpy reference.

``emulated`` runs the real launch code of :mod:`minidl.backend.cuda` on numpy arrays: its
``RawModule`` is swapped for :class:`~minidl.backend.cuda.mirror.MirrorModule`, which checks
every launch against the kernel's signature in the ``.cu`` source (argument count, dtypes,
C-contiguity, int64 sizes) and runs the line-by-line numpy mirror of that kernel. The
mirrors add in the reference's order, so results are compared for exact equality
(adaptive average pooling on integer-valued data, where every order of addition is exact).
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minidl import backend
from minidl.backend import cuda
from minidl.backend import im2col as ic
from minidl.backend.cuda import mirror
from minidl.ops import pool

DTYPES = [np.float32, np.float64]
#: the `emulated` fixture only swaps two loader functions, so sharing it between examples is safe
fixture_ok = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[mirror.MirrorModule]]:
    """The loader on numpy arrays through the mirrors; yields the modules it built (their launches)."""
    built: list[mirror.MirrorModule] = []

    def compile_mirror(source: str, options: tuple[str, ...]) -> mirror.MirrorModule:
        built.append(mirror.MirrorModule(source, options))
        return built[-1]

    monkeypatch.setattr(cuda, "_xp", lambda: np)
    monkeypatch.setattr(cuda, "_compile", compile_mirror)
    cuda._module.cache_clear()
    prev = backend._numba_wanted
    backend.use_numba(False)  # compare with the readable numpy reference itself
    yield built
    backend.use_numba(prev)
    cuda._module.cache_clear()


def launched(built: list[mirror.MirrorModule]) -> list[str]:
    return [name for m in built for name, _, _ in m.launches]


def assert_same(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.shape, ref.dtype)
    np.testing.assert_array_equal(got, ref, strict=True)


# ---------------------------------------------------------------------------- im2col / col2im
@st.composite
def conv_geometry(draw: st.DrawFn) -> tuple:
    """(x shape, kernel, stride, asymmetric pads, dilation) with at least one window per dim."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ks, ss, ds, pads, sizes = [], [], [], [], []
    for _ in range(2):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        span = d * (k - 1) + 1
        lo = max(1, span - before - after)
        size = draw(st.integers(lo, lo + 7))
        ks.append(k), ss.append(s), ds.append(d), pads.append((before, after)), sizes.append(size)
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(pads), tuple(ds)


@given(geom=conv_geometry(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
@fixture_ok
def test_im2col_col2im_match_reference(emulated, geom, dtype, seed):
    shape, k, s, p, d = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    ref = ic.im2col(x, k, s, p, d)
    assert_same(cuda.im2col(x, k, s, p, d), ref)
    cols = rng.standard_normal(ref.shape).astype(dtype)
    assert_same(cuda.col2im(cols, shape, k, s, p, d), ic.col2im(cols, shape, k, s, p, d))
    # a non-contiguous input is made contiguous by the loader (the mirror asserts the kernel sees one)
    assert_same(cuda.col2im(np.asfortranarray(cols), shape, k, s, p, d), ic.col2im(cols, shape, k, s, p, d))
    assert {"im2col", "col2im"} <= set(launched(emulated))


# ---------------------------------------------------------------------------- max / avg pool
@st.composite
def pool_geometry(draw: st.DrawFn, dilation: bool = True) -> tuple:
    """(x shape, kernel, stride, padding, dilation, ceil_mode, out size) as minidl.ops.pool accepts them."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    ceil_mode = draw(st.booleans())
    ks, ss, ps, ds, sizes, outs = [], [], [], [], [], []
    for _ in range(2):
        k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        d = draw(st.integers(1, 3)) if dilation else 1
        p = draw(st.integers(0, min(k // 2, ((k - 1) * d + 1) // 2)))
        span = d * (k - 1) + 1
        lo = max(1, span - 2 * p)
        size = draw(st.integers(lo, lo + 7))
        ks.append(k), ss.append(s), ps.append(p), ds.append(d), sizes.append(size)
        outs.append(ic.conv_output_size(size, k, s, p, d, ceil_mode))
    return (n, c, *sizes), tuple(ks), tuple(ss), tuple(ps), tuple(ds), ceil_mode, tuple(outs)


def pool_input(rng: np.random.Generator, shape: tuple, dtype: type, kind: str) -> np.ndarray:
    """Random data, small integers (many ties), or data with NaNs and -infs."""
    if kind == "ties":
        return rng.integers(-2, 3, shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if kind == "special":
        x[rng.random(shape) < 0.15] = np.nan
        x[rng.random(shape) < 0.15] = -np.inf
    return x


@given(geom=pool_geometry(), dtype=st.sampled_from(DTYPES), kind=st.sampled_from(["random", "ties", "special"]),
       seed=st.integers(0, 2**16))  # fmt: skip
@fixture_ok
def test_max_pool2d_matches_reference(emulated, geom, dtype, kind, seed):
    shape, k, s, p, d, _, out_size = geom
    rng = np.random.default_rng(seed)
    x = pool_input(rng, shape, dtype, kind)
    ref_out, ref_code = pool.max_pool2d_forward(x, k, s, p, d, out_size)
    out, code = cuda.max_pool2d_forward(x, k, s, p, d, out_size)
    assert_same(out, ref_out)
    assert_same(code, ref_code)  # the argmax taps: ties to the first, the last NaN, kh*kw for no tap
    g = rng.standard_normal(out.shape).astype(dtype)
    disjoint = all(pool._windows_disjoint(*a) for a in zip(out_size, k, s, d))
    ref_gx = pool.max_pool2d_backward(g, ref_code, shape, k, s, p, d, disjoint)
    assert_same(cuda.max_pool2d_backward(g, code, shape, k, s, p, d, disjoint), ref_gx)


def test_max_pool2d_window_wholly_in_padding(emulated):
    # dilation 3 with padding 1: the last window's taps sit at -1 (padding) and 2 (beyond a 2-wide input)
    x = np.arange(2.0 * 2).reshape(1, 1, 2, 2)
    geom = ((2, 2), (2, 2), (1, 1), (3, 3))
    out_size = (ic.conv_output_size(2, 2, 2, 1, 3, True),) * 2
    ref_out, ref_code = pool.max_pool2d_forward(x, *geom, out_size)
    out, code = cuda.max_pool2d_forward(x, *geom, out_size)
    assert (ref_code == 4).any()  # the case under test occurs: a window with no input cell
    assert_same(out, ref_out)
    assert_same(code, ref_code)


def test_max_pool2d_many_taps_use_int32_codes(emulated):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (1, 2, 17, 16)).astype(np.float32)  # a 16x16 kernel: 256 taps, codes need int32
    ref_out, ref_code = pool.max_pool2d_forward(x, (16, 16), (1, 1), (0, 0), (1, 1), (2, 1))
    out, code = cuda.max_pool2d_forward(x, (16, 16), (1, 1), (0, 0), (1, 1), (2, 1))
    assert code.dtype == np.int32
    assert_same(out, ref_out)
    assert_same(code, ref_code)
    g = rng.standard_normal(out.shape).astype(np.float32)
    assert_same(cuda.max_pool2d_backward(g, code, x.shape, (16, 16), (1, 1), (0, 0), (1, 1), False),
                pool.max_pool2d_backward(g, code, x.shape, (16, 16), (1, 1), (0, 0), (1, 1), False))  # fmt: skip


@given(geom=pool_geometry(dilation=False), dtype=st.sampled_from(DTYPES), include_pad=st.booleans(),
       override=st.sampled_from([None, 1, 3, -2]), seed=st.integers(0, 2**16))  # fmt: skip
@fixture_ok
def test_avg_pool2d_matches_reference(emulated, geom, dtype, include_pad, override, seed):
    shape, k, s, p, _, _, out_size = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    divisor = pool.avg_pool2d_divisor(shape[2:], k, s, p, out_size, include_pad, override).astype(dtype)
    assert_same(cuda.avg_pool2d_forward(x, k, s, p, out_size, divisor),
                pool.avg_pool2d_forward(x, k, s, p, out_size, divisor))  # fmt: skip
    g = rng.standard_normal((*shape[:2], *out_size)).astype(dtype)
    disjoint = all(pool._windows_disjoint(o, kk, ss, 1) for o, kk, ss in zip(out_size, k, s))
    assert_same(cuda.avg_pool2d_backward(g, shape, k, s, p, divisor, disjoint),
                pool.avg_pool2d_backward(g, shape, k, s, p, divisor, disjoint))  # fmt: skip


# ---------------------------------------------------------------------------- adaptive pooling
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
       oh=st.integers(0, 12), ow=st.integers(1, 12), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))  # fmt: skip
@fixture_ok
def test_adaptive_avg_pool2d_matches_reference(emulated, n, c, h, w, oh, ow, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-8, 9, (n, c, h, w)).astype(dtype)  # integers: the sums are exact in every order
    assert_same(cuda.adaptive_avg_pool2d_forward(x, (oh, ow)), pool.adaptive_avg_pool2d_forward(x, (oh, ow)))
    g = rng.standard_normal((n, c, oh, ow)).astype(dtype)  # the backward adds in the reference's order
    assert_same(cuda.adaptive_avg_pool2d_backward(g, x.shape), pool.adaptive_avg_pool2d_backward(g, x.shape))


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
       oh=st.integers(0, 12), ow=st.integers(1, 12), dtype=st.sampled_from(DTYPES),
       kind=st.sampled_from(["random", "ties", "special"]), seed=st.integers(0, 2**16))  # fmt: skip
@fixture_ok
def test_adaptive_max_pool2d_matches_reference(emulated, n, c, h, w, oh, ow, dtype, kind, seed):
    rng = np.random.default_rng(seed)
    x = pool_input(rng, (n, c, h, w), dtype, kind)
    ref_out, ref_idx = pool.adaptive_max_pool2d_forward(x, (oh, ow))
    out, idx = cuda.adaptive_max_pool2d_forward(x, (oh, ow))
    assert_same(out, ref_out)
    assert_same(idx, ref_idx)
    g = rng.standard_normal(out.shape).astype(dtype)
    disjoint = all(pool._bins_disjoint(*pool._adaptive_bins(a, b)) for a, b in zip((h, w), (oh, ow)))
    assert_same(cuda.adaptive_max_pool2d_backward(g, idx, x.shape), pool.scatter_to_planes(g, ref_idx, x.shape,
                                                                                             disjoint))  # fmt: skip


@given(n=st.integers(1, 60), n_out=st.integers(1, 60))
def test_adaptive_bins_inverse_matches_bin_definition(n, n_out):
    # bin o covers [floor(o*n/n_out), ceil((o+1)*n/n_out)); the kernels walk, per input p, the bins of adaptive_bins_of
    starts, ends = pool._adaptive_bins(n, n_out)
    p = np.arange(n, dtype=np.int64)
    lo, hi = mirror.adaptive_bins_of(p, n, n_out)
    for q in range(n):
        assert list(range(lo[q], hi[q])) == [o for o in range(n_out) if starts[o] <= q < ends[o]]


# ---------------------------------------------------------------------------- beyond 2^31
BIG_TIDS = [2**31 - 1, 2**31, 2**31 + 1, 2**32 - 1, 2**32, 2**32 + 7]


def big_tids(total: int) -> np.ndarray:
    assert total > 2**32 + 7
    return np.array([*BIG_TIDS, total - 1], dtype=np.int64)


def test_index_math_beyond_2_31_round_trips():
    # sizes whose totals pass 2^33 (computed, never allocated): a batch of 2048 64-channel 256x256 images
    N, C, H, W = 2048, 64, 256, 256
    kh, kw, sh, sw, top, left, dh, dw = 3, 3, 1, 1, 1, 1, 1, 1
    oh, ow = ic.conv_output_size(H, kh, sh, 1, dh), ic.conv_output_size(W, kw, sw, 1, dw)
    cells = N * C * H * W
    assert cells == 2**33

    tid = big_tids(C * kh * kw * N * oh * ow)  # im2col: one thread per column entry
    c, i, j, n, oy, ox = mirror.im2col_indices(tid, C, kh, kw, N, oh, ow)
    for v, bound in ((c, C), (i, kh), (j, kw), (n, N), (oy, oh), (ox, ow)):
        assert ((v >= 0) & (v < bound)).all()
    np.testing.assert_array_equal(mirror.im2col_id(c, i, j, n, oy, ox, kh, kw, N, oh, ow), tid)
    h, w = oy * sh - top + i * dh, ox * sw - left + j * dw
    src = ((n * C + c) * H + h) * W + w
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
    assert (src[inside] >= 0).all() and (src[inside] < cells).all() and (src[inside] >= 2**31).any()

    tid = big_tids(cells)  # col2im, pool backward: one thread per input cell
    n, c, h, w = mirror.col2im_indices(tid, C, H, W)
    np.testing.assert_array_equal(((n * C + c) * H + h) * W + w, tid)
    plane, h2, w2 = mirror.cell_indices(tid, H, W)
    np.testing.assert_array_equal(mirror.cell_id(plane, h2, w2, H, W), tid)
    assert (plane < N * C).all() and (h2 < H).all() and (w2 < W).all()

    tid = big_tids(N * C * oh * ow)  # pool forward: one thread per output
    plane, oy, ox = mirror.window_indices(tid, oh, ow)
    np.testing.assert_array_equal(mirror.cell_id(plane, oy, ox, oh, ow), tid)
    assert (plane < N * C).all() and (oy < oh).all() and (ox < ow).all()

    # the same math in 32-bit ints wraps: the thread ids themselves, and the flat index rebuilt from in-range parts
    assert (tid.astype(np.int32) != tid).any()
    tid = big_tids(cells)
    n32, c32, h32, w32 = (v.astype(np.int32) for v in mirror.col2im_indices(tid, C, H, W))
    rebuilt32 = ((n32 * np.int32(C) + c32) * np.int32(H) + h32) * np.int32(W) + w32
    np.testing.assert_array_equal(rebuilt32 == tid, tid < 2**31)  # right only below 2^31


def test_kernels_take_only_int64_sizes():
    # the kernels' sizes are all i64 (no 32-bit int parameter or local anywhere in the sources)
    for source in cuda.KERNELS:
        for name, params in mirror.kernel_signatures(source).items():
            assert all(t.endswith("*") or t == "i64" for t, _ in params), (source, name, params)
        text = (cuda.SOURCE_DIR / source).read_text()
        assert not [line for line in text.splitlines() if " int " in f" {line.strip()}" and "=" in line], source


# ---------------------------------------------------------------------------- loader and dispatch
def test_dispatch_and_loader_without_cupy(monkeypatch):
    x = np.zeros((1, 1, 3, 3), dtype=np.float32)
    assert cuda.kernels_for(x) is None  # numpy arrays never go to the CUDA kernels
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", True)  # as where cupy is not installed
    with pytest.raises(RuntimeError, match="CuPy"):
        cuda.im2col(x, (2, 2))


class FakeCupyArray(np.ndarray):
    """A numpy array that minidl.backend.array_module takes for a cupy array."""


def test_references_dispatch_cupy_arrays_to_the_kernels(emulated, monkeypatch):
    monkeypatch.setattr(backend, "_cupy", types.SimpleNamespace(ndarray=FakeCupyArray))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 6, 5))
    gpu = x.view(FakeCupyArray)
    assert cuda.kernels_for(gpu) is cuda and cuda.kernels_for(gpu.astype(np.int64)) is None
    k, s, p, d = (2, 3), (1, 2), ((1, 0), (2, 1)), (2, 1)
    cols = ic.im2col(gpu, k, s, p, d)
    gx = ic.col2im(cols.view(FakeCupyArray), x.shape, k, s, p, d)
    out, code = pool.max_pool2d_forward(gpu, (2, 2), (2, 2), (1, 1), (1, 1), (4, 3))
    pool.max_pool2d_backward(out.view(FakeCupyArray), code, x.shape, (2, 2), (2, 2), (1, 1), (1, 1), True)
    div = pool.avg_pool2d_divisor((6, 5), (2, 2), (2, 2), (1, 1), (4, 3), True, None).astype(x.dtype)
    avg = pool.avg_pool2d_forward(gpu, (2, 2), (2, 2), (1, 1), (4, 3), div)
    pool.avg_pool2d_backward(avg.view(FakeCupyArray), x.shape, (2, 2), (2, 2), (1, 1), div, True)
    a = pool.adaptive_avg_pool2d_forward(gpu, (4, 3))
    pool.adaptive_avg_pool2d_backward(a.view(FakeCupyArray), x.shape)
    m, idx = pool.adaptive_max_pool2d_forward(gpu, (4, 3))
    pool.adaptive_max_pool2d_backward(m.view(FakeCupyArray), idx, x.shape, False)
    assert launched(emulated) == [
        "im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
        "avg_pool2d_backward", "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
        "adaptive_max_pool2d_forward", "adaptive_max_pool2d_backward",
    ]  # fmt: skip
    backend.use_numba(False)
    assert_same(np.asarray(gx), ic.col2im(np.asarray(cols), x.shape, k, s, p, d))
    cuda.use_cuda_kernels(False)
    try:
        assert cuda.kernels_for(gpu) is None  # MINIDL_CUDA_KERNELS=0: cupy arrays take the references
    finally:
        cuda.use_cuda_kernels(True)


def test_launch_configuration(emulated, monkeypatch):
    x = np.ones((3, 1, 40, 40), dtype=np.float64)
    out, _ = cuda.max_pool2d_forward(x, (1, 1), (1, 1), (0, 0), (1, 1), (40, 40))
    ((_, grid, block),) = emulated[-1].launches
    assert block == (cuda.THREADS,) and grid == (-(-out.size // cuda.THREADS),)
    monkeypatch.setattr(cuda, "MAX_BLOCKS", 2)  # fewer threads than outputs: the grid-stride loop covers the rest
    cuda.max_pool2d_forward(x, (1, 1), (1, 1), (0, 0), (1, 1), (40, 40))
    assert emulated[-1].launches[-1][1] == (2,)
    # nothing to compute: no launch (a grid of 0 blocks is a CUDA launch error)
    n_launches = len(launched(emulated))
    assert cuda.adaptive_avg_pool2d_forward(x, (0, 4)).shape == (3, 1, 0, 4)
    assert len(launched(emulated)) == n_launches


def test_mirror_module_rejects_bad_launches(emulated):
    module = mirror.MirrorModule("im2col.cu", cuda.compile_options(np.float32))
    kernel = module.get_function("im2col")
    x, cols = np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 4), np.float32)
    sizes = [np.int64(v) for v in (1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 2, 2)]
    kernel((1,), (256,), (x, cols, *sizes))
    np.testing.assert_array_equal(cols.reshape(-1), x.reshape(-1))
    with pytest.raises(AssertionError, match="int64"):
        kernel((1,), (256,), (x, cols, *sizes[:-1], 2))  # a Python int size
    with pytest.raises(AssertionError, match="float64"):
        kernel((1,), (256,), (x.astype(np.float64), cols, *sizes))
    with pytest.raises(AssertionError, match="arguments"):
        kernel((1,), (256,), (x, cols, *sizes[:-1]))
    with pytest.raises(KeyError):
        module.get_function("im2col_v2")

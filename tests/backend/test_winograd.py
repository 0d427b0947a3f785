"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution (minidl/backend/winograd.py and its numba kernels).

- both tilings' matrices compute a 3-tap correlation exactly (float64);
- the numpy reference's four transforms, chained with the GEMMs, compute torch's conv2d and
  both gradients, for any padding (asymmetric too), odd and even output sizes, 1x1 outputs,
  and kernels from 3x3 to 7x7 (cut into 3x3 blocks);
- each numba kernel computes its reference's values (float32 and float64), also on the
  padded-stride stacks the conv path hands them;
- conv2d / Conv2d take the path exactly where it applies (3x3, stride 1, dilation 1, enough
  channels per group, grouped only with 3x3 kernels, numba on, switch on, columns within the
  memory limit) and then match
  torch forward and backward, batched and unbatched, with any subset of inputs requiring
  grad; float64 gradcheck through it; the workspaces are reused and bounded;
- F(4x4) is planned only where it saves more than F(2x2) on a large enough layer (and not with
  ``max_tile=2``); its float32 error stays within a bound measured against float64.
"""

from __future__ import annotations

import itertools
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.backend import winograd as wg
from minidl.ops.conv import _live_taps, conv2d, get_im2col_memory_limit, set_im2col_memory_limit
from tests.helpers import check_gradcheck, check_op, numba_path

TOL32 = dict(rtol=1e-4, atol=1e-4)
# torch warns that it copies the input for 'same' with even kernels: not our concern here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


@pytest.fixture(autouse=True)
def winograd_on(monkeypatch):
    """Every test starts with the path and the numba kernels switched on (also under MINIDL_WINOGRAD=0
    or MINIDL_NUMBA=0), restored after."""
    monkeypatch.setattr(wg, "_wanted", [True])
    with numba_path(True):
        if not wg.winograd_enabled():
            pytest.skip("numba cannot be imported here")
        yield


@pytest.fixture
def any_channels(monkeypatch):
    """Let layers with few input channels and little work take the Winograd path (small, fast test cases)."""
    monkeypatch.setattr(wg, "MIN_CHANNELS", 1)
    monkeypatch.setattr(wg, "MIN_SAVED_PER_WEIGHT", -(2**62))


@pytest.fixture(params=[2, 4], ids=["F2", "F4"])
def tile(request, monkeypatch):
    """Run a conv2d test on each tiling: F(4x4) wherever it saves more than F(2x2), or F(2x2) only."""
    monkeypatch.setattr(wg, "F4_MIN_OUTPUTS", 0)
    monkeypatch.setattr(wg, "_max_tile", [request.param])
    return request.param


@pytest.fixture
def calls(monkeypatch):
    """Count the conv forwards that take the Winograd path (``calls.tiles``: the tile sides they used)."""
    count = CallCount([0])
    real = wg.forward

    def spy(*args, **kwargs):
        count[0] += 1
        count.tiles.add(args[5] if len(args) > 5 else kwargs.get("m", 2))
        return real(*args, **kwargs)

    monkeypatch.setattr(wg, "forward", spy)
    return count


class CallCount(list):
    """[count], with the set of tile sides seen."""

    def __init__(self, *args):
        super().__init__(*args)
        self.tiles = set()


def test_tilings_compute_a_correlation_exactly():
    rng = np.random.default_rng(0)
    for m, tiling in wg.TILINGS.items():
        assert tiling.m == m and tiling.b_t.shape == (m + 2, m + 2) and tiling.a_t.shape == (m, m + 2)
        d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
        got = tiling.a_t @ ((tiling.g @ g) * (tiling.b_t @ d))
        np.testing.assert_allclose(got, np.correlate(d, g, "valid"), rtol=1e-13, atol=1e-13)


@st.composite
def geometry(draw, square3=False):
    """(x, w, b, ((top, bottom), (left, right))) with every output size from 1 up, odd and even; kernels
    3x3 (``square3``) or 3 to 7 per side (cut into 3x3 blocks)."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = (3, 3) if square3 else (draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    pads = ((draw(st.integers(0, 3)), draw(st.integers(0, 3))), (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    h = draw(st.integers(max(1, kh - sum(pads[0])), 9))
    w = draw(st.integers(max(1, kw - sum(pads[1])), 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return (rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o), pads)


def _torch_conv(x, w, b, pads, g):
    """torch's output and (dx, dw) for the upstream gradient g, float64."""
    (top, bottom), (left, right) = pads
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = F.conv2d(F.pad(tx, (left, right, top, bottom)), tw, torch.tensor(b))
    if g is None:
        return y.detach().numpy(), None, None
    y.backward(torch.tensor(g))
    return y.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()


def _winograd(x, w, b, pads, g, m=2):
    """y, dx, dw through the four transforms and the GEMMs (forward/backward drivers) on F(m x m, 3x3)."""
    y, saved = wg.forward(x, w, b, pads, (True, True), m)
    dx, dw = wg.backward(g, saved)
    return y, dx, dw


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
@pytest.mark.parametrize("kernels", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("fused", [True, False], ids=["slices", "stages"])
@given(setup=geometry())
def test_transforms_compute_torchs_convolution_and_gradients(fused, kernels, m, setup):
    """Each slice of the batch through all the stages at once, or each stage over the whole batch (the GEMMs
    by position); the batch's 1-3 samples are 1-3 slices (wg._slices), shared by the threads."""
    x, w, b, pads = setup  # any kernel from 3x3 to 7x7: blocks of 3x3 beyond 3
    ref_y, _, _ = _torch_conv(x, w, b, pads, None)
    g = np.random.default_rng(0).standard_normal(ref_y.shape)
    ref_y, ref_dx, ref_dw = _torch_conv(x, w, b, pads, g)
    with numba_path(kernels), mock.patch.object(wg, "_fused", lambda *a: fused), \
            mock.patch.object(wg.threads, "PARALLEL_MIN_BYTES", 0):  # fmt: skip
        y, dx, dw = _winograd(x, w, b, pads, g, m)
    for got, want in ((y, ref_y), (dx, ref_dx), (dw, ref_dw)):
        assert got.shape == want.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shift", [0, 3], ids=["block0", "shifted"])
@given(setup=geometry(square3=True))
def test_numba_kernels_match_the_numpy_reference(dtype, shift, m, setup):
    """The four transforms, also with the input shifted by a 3x3 block (top/left reduced by 3: rows and
    columns cut off in front), as the blocks of a larger kernel read it."""
    x, w, b, pads = setup
    x, w, b = x.astype(dtype), w.astype(dtype), b.astype(dtype)
    (top, bottom), (left, right) = pads
    oh, ow = x.shape[2] + top + bottom - 2, x.shape[3] + left + right - 2
    tiles, nn = wg.tiles_for(oh, ow, m), (m + 2) ** 2
    t = x.shape[0] * tiles[0] * tiles[1]
    rng = np.random.default_rng(1)
    prod = rng.standard_normal((nn, w.shape[0], t)).astype(dtype)
    dv = rng.standard_normal((nn, x.shape[1], t)).astype(dtype)
    g = rng.standard_normal((x.shape[0], w.shape[0], oh, ow)).astype(dtype)
    # the kernels also read the padded-stride stacks the conv path builds
    m_stack, dv_stack = wg.stack(nn, *prod.shape[1:], dtype), wg.stack(nn, *dv.shape[1:], dtype)
    m_stack[...], dv_stack[...] = prod, dv
    results = {}
    for kernels in (False, True):
        with numba_path(kernels):
            results[kernels] = (
                wg.input_transform(x, top - shift, left - shift, tiles, m=m),
                wg.input_adjoint(dv_stack if kernels else dv, x.shape, top - shift, left - shift, tiles, m=m),
                wg.output_transform(m_stack if kernels else prod, b, (x.shape[0], w.shape[0], oh, ow), tiles, m=m),
                wg.output_adjoint(g, tiles, m=m),
            )
    # F(4x4)'s constants (up to 8) lose more float32 digits on these unscaled normal values
    tol = dict(rtol=1e-5 * m**2, atol=1e-5 * m**2) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for ref, got in zip(results[False], results[True]):
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, **tol)


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
@pytest.mark.parametrize("kernels", [False, True], ids=["numpy", "numba"])
@given(setup=geometry())
def test_transforms_of_slices_of_the_batch(kernels, m, setup):
    """Each transform on samples [lo, hi) writes (or reads) exactly their tiles' columns of a whole batch's
    stack (``start``) and their samples of a whole output (``out``): the slices' results make the whole's."""
    x, w, b, pads = setup
    (top, bottom), (left, right) = pads
    kh, kw = w.shape[2:]
    blocks = wg.kernel_blocks(kh, kw)
    oh, ow = x.shape[2] + top + bottom - kh + 1, x.shape[3] + left + right - kw + 1
    tiles, nn, n = wg.tiles_for(oh, ow, m), (m + 2) ** 2, x.shape[0]
    per = tiles[0] * tiles[1]
    rng = np.random.default_rng(3)
    prod = wg.stack(nn, w.shape[0], n * per, x.dtype)
    prod[...] = rng.standard_normal(prod.shape)
    dv = wg.stack(nn, blocks[0] * blocks[1] * x.shape[1], n * per, x.dtype)
    dv[...] = rng.standard_normal(dv.shape)
    g = rng.standard_normal((n, w.shape[0], oh, ow))
    cuts = [(0, n)] if n == 1 else [(0, 1), (1, n)]
    with numba_path(kernels):
        whole = (wg.input_transform(x, top, left, tiles, m=m, blocks=blocks),
                 wg.output_transform(prod, b, g.shape, tiles, m=m), wg.output_adjoint(g, tiles, m=m),
                 wg.input_adjoint(dv, x.shape, top, left, tiles, m=m, blocks=blocks))  # fmt: skip
        v, dm = wg.stack(nn, dv.shape[1], n * per, x.dtype), wg.stack(nn, w.shape[0], n * per, x.dtype)
        y, dx = np.empty(g.shape), np.empty(x.shape)
        for lo, hi in cuts:
            got = wg.input_transform(x[lo:hi], top, left, tiles, out=v, m=m, blocks=blocks, start=lo * per)
            assert got is v
            wg.output_transform(prod, b, (hi - lo, *g.shape[1:]), tiles, m=m, start=lo * per, out=y[lo:hi])
            wg.output_adjoint(g[lo:hi], tiles, out=dm, m=m, start=lo * per)
            wg.input_adjoint(dv, (hi - lo, *x.shape[1:]), top, left, tiles, m=m, blocks=blocks, start=lo * per,
                             out=dx[lo:hi])  # fmt: skip
    for got, want in zip((v, y, dm, dx), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@given(setup=geometry(), keep=st.sampled_from([(True, True), (True, False), (False, True)]))
def test_compiled_blocks_of_samples(threads, m, setup, keep):
    """The compiled blocks (numba_winograd.fused_forward / fused_backward), one sample a block, the blocks'
    ranges over 1-3 threads, the weight gradient summed over the ranges: torch's y, dx and dw (each only where
    forward kept what it needs: V for dw, U for dx)."""
    from minidl.backend import numba_winograd as nw

    x, w, b, pads = setup
    ref_y, _, _ = _torch_conv(x, w, b, pads, None)
    g = np.random.default_rng(1).standard_normal(ref_y.shape)
    ref_y, ref_dx, ref_dw = _torch_conv(x, w, b, pads, g)
    with numba_path(True), mock.patch.object(wg, "_compiled_blocks", lambda *a: True), \
            mock.patch.object(nw, "BLOCK_TILES", 1), mock.patch.object(wg.threads, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(wg.threads, "get_num_threads", lambda: threads):  # fmt: skip
        y, saved = wg.forward(x, w, b, pads, keep, m)
        assert saved[-1] == wg.BLOCKED
        dx, dw = wg.backward(g, saved)
    np.testing.assert_allclose(y, ref_y, rtol=1e-10, atol=1e-10)
    assert (dw is None) is not keep[0] and (dx is None) is not keep[1]
    for got, want in ((dx, ref_dx), (dw, ref_dw)):
        if got is not None:
            assert got.shape == want.shape and got.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", [2, 3])
@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
def test_compiled_blocks_of_grouped_convolutions(groups, m):
    """Grouped 3x3 layers on the compiled blocks (each group's products per position), float32 against torch."""
    from minidl.backend import numba_winograd as nw

    rng = np.random.default_rng(groups)
    x = rng.standard_normal((5, 4 * groups, 7, 6)).astype(np.float32)
    w = (rng.standard_normal((3 * groups, 4, 3, 3)) / 6).astype(np.float32)
    b = rng.standard_normal(3 * groups).astype(np.float32)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = F.conv2d(tx, tw, torch.tensor(b), padding=1, groups=groups)
    g = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.tensor(g))
    with numba_path(True), mock.patch.object(wg, "_compiled_blocks", lambda *a: True), \
            mock.patch.object(nw, "BLOCK_TILES", 8):  # fmt: skip
        y, saved = wg.forward(x, w, b, ((1, 1), (1, 1)), (True, True), m, groups)
        assert saved[-1] == wg.BLOCKED
        dx, dw = wg.backward(g, saved)
    for got, want in ((y, ty), (dx, tx.grad), (dw, tw.grad)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want.detach().numpy(), **TOL32)



@pytest.mark.parametrize(
    "n, c, o, size, m, taken",
    [(128, 32, 64, 16, 4, True), (128, 64, 128, 8, 4, True), (32, 32, 64, 16, 4, True),  # U <= 0.7x a block
     (128, 128, 256, 4, 4, False), (128, 256, 512, 2, 2, False),  # U larger than a block's V and M
     (16, 32, 64, 16, 4, False), (32, 64, 64, 8, 4, False)],  # fewer than 8 blocks
)  # fmt: skip
def test_compiled_blocks_where_u_is_small_beside_a_block(n, c, o, size, m, taken):
    nn, tiles = (m + 2) ** 2, wg.tiles_for(size, size, m)
    assert wg._compiled_blocks(nn * o * c * 4, nn * (c + o) * 4, tiles, n) is taken


def test_course_16x16_layer_on_compiled_blocks_float32(calls):
    """The course CNN's 32 -> 64 layer at 16x16 (batch 32: 8 blocks) takes the compiled blocks with the default
    thresholds; forward and both gradients within 1e-5 of their largest value from torch's float64 (torch's own
    float32 is 2e-6 off on the weight gradient, which sums 8192 products an element)."""
    from minidl.backend import numba_winograd as nw

    rng = np.random.default_rng(8)
    x = rng.standard_normal((32, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
    b, g = rng.standard_normal(64).astype(np.float32), rng.standard_normal((32, 64, 16, 16)).astype(np.float32)
    real, used = nw.fused_forward, []
    xm, wm, bm = (md.tensor(a, requires_grad=True) for a in (x, w, b))
    with mock.patch.object(nw, "fused_forward", lambda *a, **k: used.append(1) or real(*a, **k)):
        ym = conv2d(xm, wm, bm, padding=1)
    ym.backward(md.tensor(g))
    tx, tw, tb = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, padding=1)
    ty.backward(torch.tensor(g.astype(np.float64)))
    assert calls[0] == 1 and used
    for got, want in ((ym.detach(), ty), (xm.grad, tx.grad), (wm.grad, tw.grad), (bm.grad, tb.grad)):
        got, want = got.numpy(), want.detach().numpy()
        assert got.dtype == np.float32
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()

def test_slices_cover_the_batch():
    for n, per, threads in [(1, 1, 2), (3, 16, 2), (128, 16, 2), (128, 1, 2), (5, 1000, 1), (7, 1, 3)]:
        parts = wg._slices(n, per, threads)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts)) and all(hi > lo for lo, hi in parts)
        assert len(parts) >= min(n, 2 * threads if threads > 1 else 1)
    assert len(wg._slices(128, 16, 2)) == 128 * 16 // wg.SLICE_TILES


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
def test_weight_transform_and_its_adjoint(m):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3, 2, 3, 3))
    u = wg.weight_transform(w, m)
    g = wg.TILINGS[m].g
    expected = np.einsum("ai,ocij,bj->aboc", g, w, g).reshape((m + 2) ** 2, 3, 2)
    np.testing.assert_allclose(u, expected, rtol=1e-13)
    du = rng.standard_normal(u.shape)  # <U(w), dU> == <w, U^T(dU)>
    np.testing.assert_allclose(np.sum(u * du), np.sum(w * wg.weight_adjoint(du, m)), rtol=1e-12)
    assert wg.weight_transform(w.astype(np.float32), m).dtype == np.float32


def test_stack_blocks_are_contiguous_and_off_the_4k_grid():
    s = wg.stack(16, 64, 128, np.float32)
    assert s.shape == (16, 64, 128) and s.strides[1:] == (128 * 4, 4)
    assert s.strides[0] == 64 * 128 * 4 + 64  # 64 bytes beyond each block
    out = np.empty(16 * (64 * 128 + 16), np.float32)
    assert np.shares_memory(wg.stack(16, 64, 128, np.float32, out), out)


def test_workspace_is_reused_grown_and_bounded(monkeypatch):
    a = wg.workspace("test", 16, 4, 8, np.float32)
    b = wg.workspace("test", 16, 4, 8, np.float32)
    assert np.shares_memory(a, b)
    c = wg.workspace("test", 16, 8, 8, np.float32)  # larger: a new buffer, then kept
    assert c.shape == (16, 8, 8) and np.shares_memory(c, wg.workspace("test", 16, 2, 2, np.float32))
    assert wg.workspace("test", 16, 2, 2, np.float64).dtype == np.float64
    monkeypatch.setattr(wg, "MAX_WORKSPACE_BYTES", 100)
    big1, big2 = wg.workspace("big", 16, 4, 8, np.float32), wg.workspace("big", 16, 4, 8, np.float32)
    assert not np.shares_memory(big1, big2)


# ---------------------------------------------------------------------------- through conv2d
@st.composite
def conv_case(draw, dtype=np.float32):
    """(x, w, b, padding, groups): groups > 1 with 3x3 kernels only (larger ones, cut into blocks, take the
    Winograd path with one group only)."""
    kh, kw = draw(st.sampled_from([(3, 3), (3, 3), (5, 5), (5, 3), (4, 6), (7, 7)]))
    groups = draw(st.sampled_from([1, 1, 2, 3])) if (kh, kw) == (3, 3) else 1
    n, c, o = draw(st.integers(1, 3)), groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    padding = draw(st.sampled_from([0, 1, 2, (1, 0), (0, 2), "same"]))
    if padding == "same":
        ph, pw = kh // 2, kw // 2
    else:
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
    h, w = draw(st.integers(max(1, kh - 2 * ph), 9)), draw(st.integers(max(1, kw - 2 * pw), 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if draw(st.booleans()) else None
    return x, wt, b, padding, groups


def _check(x, w, b, padding, groups=1, dilation=1, **kw):
    conv = dict(padding=padding, groups=groups, dilation=dilation)
    if b is None:
        check_op(lambda x, w: conv2d(x, w, None, **conv), [x, w],
                 torch_fn=lambda x, w: F.conv2d(x, w, None, **conv), **kw)  # fmt: skip
    else:
        check_op(lambda x, w, b: conv2d(x, w, b, **conv), [x, w, b],
                 torch_fn=lambda x, w, b: F.conv2d(x, w, b, **conv), **kw)  # fmt: skip


# the fixtures hold for every example (a patched threshold, a call counter that only grows)
shared_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@shared_fixtures
@given(case=conv_case())
def test_conv2d_on_the_winograd_path_matches_torch(any_channels, tile, calls, case):
    x, w, b, padding, groups = case
    before = calls[0]
    _check(x, w, b, padding, groups, **TOL32)
    assert calls[0] > before


@shared_fixtures
@given(case=conv_case())
def test_conv2d_unbatched_on_the_winograd_path(any_channels, tile, calls, case):
    x, w, b, padding, groups = case
    _check(x[0], w, b, padding, groups, **TOL32)
    assert calls[0] > 0


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_layer_float32_matches_torch(calls, groups):
    """A grouped 3x3 layer with 32 channels per group, the default thresholds (F(2x2) at batch 16): the
    products per group, forward and backward, as torch's in float32 (F(4x4)'s grouped path is checked on
    small cases above)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 32 * groups, 8, 8)).astype(np.float32)
    w = (rng.standard_normal((16 * groups, 32, 3, 3)) / 17).astype(np.float32)
    _check(x, w, rng.standard_normal(16 * groups).astype(np.float32), 1, groups, **TOL32)
    assert calls[0] == 1 and calls.tiles == {2}


def test_gradcheck_grouped_float64(any_channels, tile, calls):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    check_gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1, groups=2), [x, w, b])
    assert calls[0] > 0


@pytest.mark.parametrize("requires_grad", [[True, False, False], [False, True, False], [False, False, True],
                                           [False, True, True], [True, True, True]])  # fmt: skip
def test_only_some_inputs_require_grad(any_channels, tile, calls, requires_grad):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    check_op(lambda x, w, b: conv2d(x, w, b, padding=1), [x, w, b],
             torch_fn=lambda x, w, b: F.conv2d(x, w, b, padding=1), requires_grad=requires_grad)  # fmt: skip
    assert calls[0] == 1 and calls.tiles == {tile}


def test_gradcheck_float64(any_channels, tile, calls):
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    check_gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), [x, w, b])
    assert calls[0] > 0


def test_course_layer_size_float32_matches_torch(calls):
    """A real course-CNN layer shape (64 -> 128 channels at 8x8, batch 16) with the default threshold."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 64, 8, 8)).astype(np.float32)
    w = (rng.standard_normal((128, 64, 3, 3)) / 24).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    _check(x, w, b, 1, **TOL32)
    assert calls[0] == 1


@pytest.mark.parametrize(
    "kwargs, channels, shape",
    [
        (dict(stride=2, padding=1), 16, (3, 3)),
        (dict(dilation=2, padding=1), 16, (3, 3)),  # padding not a multiple of the dilation: no phases
        (dict(dilation=2, padding=2, stride=2), 16, (3, 3)),
        (dict(groups=2, padding=1), 16, (3, 3)),  # 8 channels per group
        (dict(groups=2, padding=2), 32, (5, 5)),  # groups: one 3x3 block only
        (dict(padding=1), 16, (4, 4)),  # 4 blocks of 16 products per tile: no fewer than im2col's 64
        (dict(padding=0), 16, (1, 1)),
        (dict(padding=1), 16, (2, 2)),
        (dict(padding=1), 3, (3, 3)),  # too few channels: the GEMMs' inner dimension would be 3
    ],
)
def test_path_taken_only_where_it_applies(calls, kwargs, channels, shape):
    groups = kwargs.get("groups", 1)
    x = md.tensor(np.ones((4, channels, 6, 6), np.float32))  # enough work: only the listed condition fails
    w = md.tensor(np.ones((4, channels // groups, *shape), np.float32))
    conv2d(x, w, **kwargs)
    assert calls[0] == 0


@pytest.mark.parametrize(
    "n, size, taken",
    [
        (4, 6, True),  # saves 9*4*36 - 16*4*9 = 720 multiply-adds per weight
        (2, 6, False),  # 360: too little to pay for the weight transforms
        (32, 1, False),  # a 1x1 output uses a quarter of its 2x2 tile: Winograd does more work than im2col
        (8, 2, False),  # 512->512 at 2x2 with batch 8: measured 1.5x slower than im2col
        (32, 2, True),
        (4, 7, True),  # odd: 9*4*49 - 16*4*16 = 740
    ],
)
def test_path_needs_enough_work_per_weight(calls, n, size, taken):
    x = md.tensor(np.ones((n, 16, size, size), np.float32))
    y = conv2d(x, md.tensor(np.ones((2, 16, 3, 3), np.float32)), padding=1)
    assert calls[0] == int(taken)
    np.testing.assert_allclose(y.numpy()[0, 0, (size - 1) // 2, (size - 1) // 2], 16 * 9 if size > 2 else 16 * size**2)


def test_switches_and_memory_limit_fall_back_to_im2col(calls):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((4, 16, 6, 6)), rng.standard_normal((3, 16, 3, 3))
    want = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()

    def run():
        return conv2d(md.tensor(x), md.tensor(w), padding=1).numpy()

    wg.use_winograd(False)
    try:
        assert not wg.winograd_enabled()
        np.testing.assert_allclose(run(), want, rtol=1e-10)
        assert calls[0] == 0
    finally:
        wg.use_winograd(True)
    with numba_path(False):  # the transforms' speed comes from the numba kernels: off with them
        np.testing.assert_allclose(run(), want, rtol=1e-10)
        assert calls[0] == 0
    limit = get_im2col_memory_limit()
    need = 16 * (16 + 3) * 4 * 9 * 8  # V and M: 16*(C + O) float64 values per tile, 4 images of 3x3 tiles
    set_im2col_memory_limit(need - 1)  # they would not fit: im2col, which can chunk
    try:
        np.testing.assert_allclose(run(), want, rtol=1e-10)
        assert calls[0] == 0
        set_im2col_memory_limit(need)
        np.testing.assert_allclose(run(), want, rtol=1e-10)
        assert calls[0] == 1
        calls[0] = 0
    finally:
        set_im2col_memory_limit(limit)
    np.testing.assert_allclose(run(), want, rtol=1e-10)
    assert calls[0] == 1


@pytest.mark.parametrize(
    "n, size, taken",
    [
        (4, 8, True),  # 5x5, 4 blocks: 25*4*64 - 64*4*16 = 2304 saved per weight, >= 4*384
        (2, 8, False),  # 1152 < 1536
        (16, 4, True),  # LeNet's third layer shape class: 25*16*16 - 64*16*4 = 2304
    ],
)
def test_larger_kernels_need_enough_work_per_block(calls, n, size, taken):
    x = md.tensor(np.ones((n, 16, size, size), np.float32))
    y = conv2d(x, md.tensor(np.ones((2, 16, 5, 5), np.float32)), padding=2)
    assert calls[0] == int(taken)
    mid = size // 2
    taps = min(size - 1, mid + 2) - max(0, mid - 2) + 1  # rows (and columns) of the window inside the input
    np.testing.assert_allclose(y.numpy()[:, :, mid, mid], 16 * taps**2)


def test_kernel_blocks_and_their_weights():
    assert wg.kernel_blocks(3, 3) == (1, 1) and wg.kernel_blocks(5, 7) == (2, 3) and wg.kernel_blocks(6, 4) == (2, 2)
    w = np.arange(2 * 3 * 5 * 4, dtype=np.float64).reshape(2, 3, 5, 4)
    blocks = wg._block_weights(w)  # (O, B*C, 3, 3), block (a, b) as channels (a*bw + b)*C + c
    assert blocks.shape == (2, 4 * 3, 3, 3)
    np.testing.assert_array_equal(blocks[:, 0:3], w[:, :, 0:3, 0:3])
    np.testing.assert_array_equal(blocks[:, 3:6, :, :1], w[:, :, 0:3, 3:4])
    np.testing.assert_array_equal(blocks[:, 3:6, :, 1:], 0)  # the zero padding beyond the kernel
    np.testing.assert_array_equal(blocks[:, 6:9, :2], w[:, :, 3:5, 0:3])


def test_gradcheck_5x5_float64(any_channels, tile, calls):
    rng = np.random.default_rng(10)
    x, w, b = rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((2, 2, 5, 5)), rng.standard_normal(2)
    check_gradcheck(lambda x, w, b: conv2d(x, w, b, padding=2), [x, w, b])
    assert calls[0] > 0


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
@pytest.mark.parametrize("shift", [(3, 0), (0, 3), (6, 6)])
def test_transforms_of_a_block_that_misses_the_input(shift, m):
    """A kernel block can lie wholly beyond a small input (a 7x7 kernel's third block over a 1-pixel-wide
    map): its transformed input is 0, and it sends no gradient back."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 8, 1))
    tiles = (8 // m, 1)
    dv = rng.standard_normal(((m + 2) ** 2, 3, 2 * tiles[0]))
    out = {}
    for kernels in (False, True):
        with numba_path(kernels):
            out[kernels] = (wg.input_transform(x, 1 - shift[0], 0 - shift[1], tiles, m=m),
                            wg.input_adjoint(dv, x.shape, 1 - shift[0], 0 - shift[1], tiles, m=m))  # fmt: skip
    for ref, got in zip(out[False], out[True]):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    if shift[1]:
        assert not out[True][0].any() and not out[True][1].any()


# ---------------------------------------------------------------------------- F(4x4, 3x3)
@pytest.mark.parametrize(
    "n, size, max_tile, want",
    [
        (32, 8, 4, 4),  # 2048 outputs per filter, F(4x4) saves more: 9*2048 - 36*128 vs 9*2048 - 16*512
        (16, 8, 4, 2),  # 1024 outputs: below F4_MIN_OUTPUTS, F(2x2)
        (512, 2, 4, 2),  # 2x2 maps: a 4x4 tile would be 3/4 padding (36 products for 4 outputs vs 16)
        (32, 8, 2, 2),  # max_tile=2
        (1, 1, 4, 0),  # 1x1 output: im2col
    ],
)
def test_plan_picks_the_tile_that_saves_most(n, size, max_tile, want, monkeypatch):
    monkeypatch.setattr(wg, "_max_tile", [max_tile])
    x = np.ones((n, 16, size, size), np.float32)
    assert wg.plan(x, (8, 16, 3, 3), (1, 1), (1, 1), 1, (size, size)) == want
    assert wg.applies(x, (8, 16, 3, 3), (1, 1), (1, 1), 1, (size, size)) == bool(want)


def test_use_winograd_max_tile(calls):
    x = md.tensor(np.random.default_rng(7).standard_normal((32, 16, 8, 8)).astype(np.float32))
    w = md.tensor(np.random.default_rng(8).standard_normal((4, 16, 3, 3)).astype(np.float32))
    try:
        wg.use_winograd(True, max_tile=2)
        conv2d(x, w, padding=1)
        assert calls.tiles == {2}
        wg.use_winograd(True)
        conv2d(x, w, padding=1)
        assert calls.tiles == {2, 4}
        with pytest.raises(ValueError, match="max_tile"):
            wg.use_winograd(True, max_tile=3)
    finally:
        wg.use_winograd(True)


@pytest.mark.parametrize("m", [2, 4], ids=["F2", "F4"])
def test_float32_error_against_float64(m):
    """A course-sized layer in float32 (unit-scale inputs, default-initialised weights): the outputs and both
    gradients stay within 2e-6 (F(2x2), as im2col) / 1e-5 (F(4x4)) of the float64 result, relative to the
    largest value; measured: F(2x2) 2-4e-7, F(4x4) 1-2e-6."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 64, 8, 8))
    bound = 1 / np.sqrt(64 * 9)
    w, b = rng.uniform(-bound, bound, (128, 64, 3, 3)), rng.uniform(-bound, bound, 128)
    g = rng.standard_normal((16, 128, 8, 8))
    pads = ((1, 1), (1, 1))
    want = _winograd(x, w, b, pads, g, m)
    got = _winograd(*(a.astype(np.float32) for a in (x, w, b)), pads, g.astype(np.float32), m)
    for a, r in zip(got, want):
        assert a.dtype == np.float32
        assert np.abs(a - r).max() / np.abs(r).max() < (2e-6 if m == 2 else 1e-5)


# ---------------------------------------------------------------------------- dilated layers, on the phases
@pytest.mark.parametrize(
    "stride, padding, dilation, size, want",
    [
        ((1, 1), ((2, 2), (2, 2)), (2, 2), (16, 16), (2, 2)),
        ((1, 1), ((0, 4), (3, 0)), (2, 3), (8, 9), (2, 3)),
        ((1, 1), ((2, 2), (1, 1)), (2, 1), (6, 5), (2, 1)),  # dilated along one axis only
        ((1, 1), ((1, 1), (1, 1)), (1, 1), (8, 8), None),  # not dilated
        ((2, 2), ((2, 2), (2, 2)), (2, 2), (8, 8), None),  # strided
        ((1, 1), ((1, 1), (2, 2)), (2, 2), (8, 8), None),  # a padding not a multiple of the dilation
        ((1, 1), ((2, 2), (2, 2)), (2, 2), (8, 7), None),  # a size not a multiple of the dilation
    ],
)
def test_phases_of_a_dilated_convolution(stride, padding, dilation, size, want):
    assert wg.phases(stride, padding, dilation, size) == want


@pytest.mark.parametrize("dh, dw", [(2, 2), (2, 3), (1, 2)])
def test_to_phases_and_back(dh, dw):
    x = np.arange(2 * 3 * 4 * dh * 5 * dw, dtype=np.float32).reshape(2, 3, 4 * dh, 5 * dw)
    ph = wg.to_phases(x, dh, dw)
    assert ph.shape == (dh * dw * 2, 3, 4, 5)
    for r in range(dh):
        for s in range(dw):
            np.testing.assert_array_equal(ph[(r * dw + s) * 2:(r * dw + s + 1) * 2], x[:, :, r::dh, s::dw])
    np.testing.assert_array_equal(wg.from_phases(ph, dh, dw), x)


@st.composite
def dilated_case(draw):
    """(x, w, b, padding, groups, dilation) whose padding and size are multiples of the dilation."""
    dh, dw = draw(st.sampled_from([(2, 2), (2, 1), (1, 3), (3, 2)]))
    kh, kw = draw(st.sampled_from([(3, 3), (3, 3), (5, 5)]))
    groups = draw(st.sampled_from([1, 2])) if (kh, kw) == (3, 3) else 1
    n, c, o = draw(st.integers(1, 2)), groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    if draw(st.booleans()):
        padding, (ph, pw) = "same", (dh * (kh // 2), dw * (kw // 2))
    else:
        ph, pw = dh * draw(st.integers(0, 2)), dw * draw(st.integers(0, 2))
        padding = (ph, pw)
    h = dh * draw(st.integers(max(1, -(-(dh * (kh - 1) + 1 - 2 * ph) // dh)), 5))
    w = dw * draw(st.integers(max(1, -(-(dw * (kw - 1) + 1 - 2 * pw) // dw)), 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c // groups, kh, kw)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if draw(st.booleans()) else None
    return x, wt, b, padding, groups, (dh, dw)


def _count_calls(monkeypatch, name):
    """[number of calls] of ``wg.<name>`` from now on."""
    count = [0]
    real = getattr(wg, name)

    def spy(*args):
        count[0] += 1
        return real(*args)

    monkeypatch.setattr(wg, name, spy)
    return count


@pytest.fixture
def phase_calls(monkeypatch):
    """Count the inputs (and output gradients) split into phases."""
    return _count_calls(monkeypatch, "to_phases")


@shared_fixtures
@given(case=dilated_case())
def test_dilated_conv2d_on_the_phases_matches_torch(any_channels, tile, calls, phase_calls, case):
    x, w, b, padding, groups, dilation = case
    before, split = calls[0], phase_calls[0]
    _check(x, w, b, padding, groups, dilation, **TOL32)
    _check(x[0], w, b, padding, groups, dilation, **TOL32)  # unbatched
    assert calls[0] == before + 2 and phase_calls[0] >= split + 4  # x, then g, for each


def test_dilated_layer_float32_matches_torch(calls, phase_calls):
    """The benchmark's dilated layer (64 channels, 3x3, dilation 2, padding 2 at 16x16; batch 8) with the
    default thresholds: 4 phases of 8x8 as a batch of 32 on F(2x2). x is scaled down so that the weight
    gradient's sums of 2048 products stay near 1, within float32's absolute tolerance."""
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((8, 64, 16, 16)) / 8).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    _check(x, w, rng.standard_normal(64).astype(np.float32), 2, 1, 2, **TOL32)
    assert calls[0] == 1 and phase_calls[0] == 2


# ---------------------------------------------------------------------------- strided layers, phases as channels
@pytest.mark.parametrize(
    "kernel, stride, dilation, groups, want",
    [
        ((11, 11), (4, 4), (1, 1), 1, (4, 4)),  # AlexNet's first layer: 48 channels of 3x3
        ((5, 5), (2, 2), (1, 1), 1, (2, 2)),
        ((6, 6), (2, 2), (1, 1), 1, (2, 2)),
        ((5, 3), (2, 1), (1, 1), 1, (2, 1)),
        ((3, 3), (2, 2), (1, 1), 1, None),  # 2x2 kernels of 4x the channels: no fewer products
        ((7, 7), (2, 2), (1, 1), 1, None),  # ResNet's stem: 4x4 kernels, more than one block
        ((4, 4), (2, 2), (1, 1), 1, None),  # DCGAN's
        ((8, 8), (4, 4), (1, 1), 1, None),  # DQN's first layer
        ((5, 5), (1, 1), (1, 1), 1, None),  # not strided
        ((11, 11), (4, 4), (2, 2), 1, None),  # dilated
        ((11, 11), (4, 4), (1, 1), 2, None),  # grouped
    ],
)
def test_strided_layers_that_take_the_phase_channels(kernel, stride, dilation, groups, want):
    assert wg.strided(kernel, stride, dilation, groups) == want


@pytest.mark.parametrize("kernel, stride, padding, size", [((11, 11), (4, 4), (2, 2), (30, 27)),
                                                            ((5, 3), (2, 1), (1, 0), (7, 6)),
                                                            ((6, 6), (2, 2), (3, 1), (10, 11)),
                                                            ((9, 9), (3, 3), (0, 4), (9, 10))])  # fmt: skip
def test_space_to_depth_is_the_strided_convolution_and_its_adjoints(kernel, stride, padding, size):
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 3, *size)), rng.standard_normal((4, 3, *kernel))
    want = F.conv2d(torch.tensor(x), torch.tensor(w), stride=stride, padding=padding).numpy()
    xs = wg.space_to_depth(x, padding[0], padding[1], want.shape[2:], kernel, stride)
    ws = wg.strided_weights(w, stride)
    assert xs.shape[1] == ws.shape[1] == 3 * stride[0] * stride[1]
    np.testing.assert_allclose(F.conv2d(torch.tensor(xs), torch.tensor(ws)).numpy(), want, rtol=1e-10, atol=1e-10)
    a, b = rng.standard_normal(xs.shape), rng.standard_normal(ws.shape)  # <Ax, a> = <x, A^T a>
    gx = wg.depth_to_space(a, padding[0], padding[1], x.shape, stride)
    np.testing.assert_allclose((xs * a).sum(), (x * gx).sum())
    np.testing.assert_allclose((ws * b).sum(), (w * wg.strided_weight_grad(b, kernel, stride)).sum())


@st.composite
def strided_case(draw):
    """(x, w, b, stride, padding) of a strided layer that takes the phase channels."""
    (kh, kw), (sh, sw) = draw(st.sampled_from([((11, 11), (4, 4)), ((5, 5), (2, 2)), ((6, 5), (2, 2)),
                                               ((5, 3), (2, 1)), ((9, 9), (3, 3))]))  # fmt: skip
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(max(1, kh - 2 * ph), kh + 3 * sh)), draw(st.integers(max(1, kw - 2 * pw), kw + 3 * sw))
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((o, c, kh, kw)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if draw(st.booleans()) else None
    return x, wt, b, (sh, sw), (ph, pw)


@pytest.fixture
def space_calls(monkeypatch):
    """Count the inputs stacked as phase channels."""
    return _count_calls(monkeypatch, "space_to_depth")


def _check_strided(x, w, b, stride, padding, **kw):
    args, conv = ([x, w] if b is None else [x, w, b]), dict(stride=stride, padding=padding)
    check_op(lambda *a: conv2d(*a, **conv), args, torch_fn=lambda *a: F.conv2d(*a, **conv), **kw)


@shared_fixtures
@given(case=strided_case())
def test_strided_conv2d_on_the_phase_channels_matches_torch(any_channels, tile, calls, space_calls, case):
    x, w, b, stride, padding = case
    before, stacked = calls[0], space_calls[0]
    _check_strided(x, w, b, stride, padding, **TOL32)
    _check_strided(x[0], w, b, stride, padding, **TOL32)  # unbatched
    pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    if _live_taps(w.shape[2:], x.shape[2:], stride, pads, (1, 1)) is None:  # else a smaller kernel may not pay
        assert calls[0] == before + 2 and space_calls[0] == stacked + 2


@pytest.mark.parametrize("split, x_shape, w_shape, conv", [
    ("to_phases", (2, 2, 4, 6), (3, 2, 3, 3), dict(padding=2, dilation=2)),  # dilated: phases as samples
    ("space_to_depth", (2, 2, 7, 8), (3, 2, 5, 5), dict(stride=2, padding=1)),  # strided: as channels
])  # fmt: skip
def test_gradcheck_phase_routes_float64(any_channels, tile, calls, monkeypatch, split, x_shape, w_shape, conv):
    splits = _count_calls(monkeypatch, split)
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    check_gradcheck(lambda x, w, b: conv2d(x, w, b, **conv), [x, w, b])
    assert calls[0] > 0 and splits[0] > 0


def test_alexnet_first_layer_float32_matches_torch(calls, space_calls):
    """AlexNet's first layer (3 -> 64, 11x11, stride 4, padding 2) on two 224x224 images with the default
    thresholds: F(4x4) on 48 phase channels. x is scaled down so that the weight gradient's sums of 6050
    products stay near 1, within float32's absolute tolerance."""
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((2, 3, 224, 224)) / 8).astype(np.float32)
    w = (rng.standard_normal((64, 3, 11, 11)) / 18).astype(np.float32)
    _check_strided(x, w, rng.standard_normal(64).astype(np.float32), 4, 2, **TOL32)
    assert calls.tiles == {4} and space_calls[0] == 1

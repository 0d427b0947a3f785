"""conv2d / conv_transpose2d and the Conv2d / ConvTranspose2d layers against torch.

Forward and every gradient (input, weight, bias) over hypothesis-drawn configurations
(kernel, stride, padding incl. 'same'/'valid', dilation, groups incl. depthwise, padding
modes, output_padding, batch and spatial sizes), float64 gradchecks, the chunked-columns
path, im2col/col2im as adjoints, the output-size helper, init, repr and errors, and the
course's hand-computed examples.
"""

from __future__ import annotations

import itertools
import math
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.backend.im2col import col2im, conv_output_size, im2col
from minidl.errors import ShapeError
from minidl.nn.modules.conv import Conv2d, ConvTranspose2d
from minidl.ops import conv as conv_ops
from minidl.ops.conv import conv2d, conv_transpose2d, get_im2col_memory_limit, set_im2col_memory_limit
from tests.helpers import check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes

# torch warns that it copies the input for 'same' with even kernels: not our concern here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

# float32 sums of up to ~50 products: torch's and numpy's GEMMs round differently
TOL32 = dict(rtol=1e-4, atol=1e-4)


def _tol(dtype):
    return TOL32 if np.dtype(dtype) == np.float32 else {}


side = st.integers(1, 3)
pair_or_int = st.one_of(side, st.tuples(side, side))


def _as_pair(v):
    return v if isinstance(v, tuple) else (v, v)


@st.composite
def conv_setup(draw, depthwise=False, dtype=None, max_groups=3):
    """(x, w, b or None, kwargs) for conv2d, with an input just large enough for the kernel."""
    dtype = draw(float_dtypes) if dtype is None else dtype
    if depthwise:
        groups = draw(st.integers(1, 4))
        cin_g, cout_g = 1, draw(st.integers(1, 2))
    else:
        groups = draw(st.integers(1, max_groups))
        cin_g, cout_g = draw(side), draw(side)
    kernel = (draw(side), draw(side))
    stride = draw(pair_or_int)
    dilation = draw(st.one_of(st.just(1), st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    choices = [st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)), st.just("valid")]
    if _as_pair(stride) == (1, 1):
        choices.append(st.just("same"))
    padding = draw(st.one_of(*choices))
    pads = (0, 0) if isinstance(padding, str) else _as_pair(padding)
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, _as_pair(dilation))]
    h = draw(st.integers(max(1, eff[0] - 2 * pads[0]), max(1, eff[0] - 2 * pads[0]) + 4))
    w = draw(st.integers(max(1, eff[1] - 2 * pads[1]), max(1, eff[1] - 2 * pads[1]) + 4))
    n = draw(st.integers(1, 3))
    x = draw(arrays(shape=(n, cin_g * groups, h, w), dtype=dtype, low=-1, high=1))
    wt = draw(arrays(shape=(cout_g * groups, cin_g, *kernel), dtype=dtype, low=-1, high=1))
    b = draw(arrays(shape=(cout_g * groups,), dtype=dtype, low=-1, high=1)) if draw(st.booleans()) else None
    return x, wt, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _check_conv(x, w, b, kw, **tol):
    if b is None:
        check_op(lambda x, w: conv2d(x, w, None, **kw), [x, w],
                 torch_fn=lambda x, w: F.conv2d(x, w, None, **kw), **tol)  # fmt: skip
    else:
        check_op(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b],
                 torch_fn=lambda x, w, b: F.conv2d(x, w, b, **kw), **tol)  # fmt: skip


# ---------------------------------------------------------------------------- conv2d
@given(setup=conv_setup())
def test_conv2d_matches_torch(setup):
    x, w, b, kw = setup
    _check_conv(x, w, b, kw, **_tol(x.dtype))


@pytest.mark.parametrize("threads", [2, 3])
@given(setup=conv_setup())
def test_conv2d_in_slices_over_threads_matches_torch(threads, setup):
    """Every batch cut into slices (conv_ops._slices) that the threads take in turn, columns kept or rebuilt."""
    x, w, b, kw = setup
    with mock.patch.object(conv_ops.threads, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(conv_ops.threads, "get_num_threads", lambda: threads):  # fmt: skip
        _check_conv(x, w, b, kw, **_tol(x.dtype))


@given(setup=conv_setup(depthwise=True))
def test_conv2d_depthwise_matches_torch(setup):
    x, w, b, kw = setup
    _check_conv(x, w, b, kw, **_tol(x.dtype))


@given(setup=conv_setup(dtype=np.float32))
def test_conv2d_unbatched_input(setup):
    x, w, b, kw = setup
    _check_conv(x[0], w, b, kw, **TOL32)


@pytest.mark.parametrize("stride", [2, (2, 3), 3])
def test_conv2d_grouped_strided_weight_gradient(stride):
    """The trap: a grouped conv with stride > 1 must get its *weight* gradient right."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 9, 10))
    w = rng.standard_normal((9, 2, 3, 2))
    b = rng.standard_normal(9)
    mx, mw, mb = (md.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    g = rng.standard_normal(tuple(F.conv2d(tx, tw, tb, stride, 1, 1, 3).shape))
    conv2d(mx, mw, mb, stride, 1, 1, 3).backward(md.tensor(g))
    F.conv2d(tx, tw, tb, stride, 1, 1, 3).backward(torch.tensor(g))
    np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kernel", [(2, 2), (4, 3), (2, 5)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
def test_conv2d_same_padding_even_kernels(kernel, dilation):
    """'same' with an odd total padding puts the extra row/column at the bottom/right (torch)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 8))
    w = rng.standard_normal((4, 3, *kernel))
    check_op(lambda x, w: conv2d(x, w, padding="same", dilation=dilation), [x, w],
             torch_fn=lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation))  # fmt: skip
    assert tuple(conv2d(md.tensor(x), md.tensor(w), padding="same", dilation=dilation).shape) == (2, 4, 7, 8)


@pytest.mark.parametrize("requires_grad", [[True, False, False], [False, True, False], [False, False, True],
                                           [False, True, True]])  # fmt: skip
def test_conv2d_only_some_inputs_require_grad(requires_grad):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 6, 6)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    kw = dict(stride=2, padding=1, groups=2)
    check_op(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b], torch_fn=lambda x, w, b: F.conv2d(x, w, b, **kw),
             requires_grad=requires_grad)  # fmt: skip


def test_conv2d_keeps_float32():
    rng = np.random.default_rng(4)
    x = md.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    layer = Conv2d(3, 5, 3, padding=1)
    out = layer(x)
    out.sum().backward()
    assert out.dtype == md.float32
    assert x.grad.dtype == md.float32 and layer.weight.grad.dtype == md.float32 and layer.bias.grad.dtype == md.float32


def test_conv2d_empty_batch_and_integers():
    w = np.ones((2, 3, 3, 3))
    check_op(lambda x, w: conv2d(x, w), [np.zeros((0, 3, 5, 5)), w], torch_fn=F.conv2d)
    xi = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5) % 7
    wi = np.arange(2 * 3 * 3 * 3).reshape(2, 3, 3, 3) % 3 - 1
    check_op(lambda x, w: conv2d(x, w, stride=2, padding=1), [xi, wi],
             torch_fn=lambda x, w: F.conv2d(x, w, stride=2, padding=1))  # fmt: skip


# ---------------------------------------------------------------------------- conv_transpose2d
def _min_transpose_input(k, s, p, q, d):
    """The smallest input size whose transposed-conv output has at least one cell."""
    lo = 1
    while (lo - 1) * s - 2 * p + d * (k - 1) + q + 1 < 1:
        lo += 1
    return lo


@st.composite
def conv_transpose_setup(draw, dtype=None):
    dtype = draw(float_dtypes) if dtype is None else dtype
    groups = draw(st.integers(1, 3))
    cin_g, cout_g = draw(side), draw(side)
    kernel = (draw(side), draw(side))
    stride = (draw(side), draw(side))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = [
        draw(st.integers(lo, lo + 3))
        for lo in map(_min_transpose_input, kernel, stride, padding, output_padding, dilation)
    ]
    n = draw(st.integers(1, 3))
    x = draw(arrays(shape=(n, cin_g * groups, *size), dtype=dtype, low=-1, high=1))
    w = draw(arrays(shape=(cin_g * groups, cout_g, *kernel), dtype=dtype, low=-1, high=1))
    b = draw(arrays(shape=(cout_g * groups,), dtype=dtype, low=-1, high=1)) if draw(st.booleans()) else None
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    return x, w, b, kw


def _check_conv_transpose(x, w, b, kw, **tol):
    if b is None:
        check_op(lambda x, w: conv_transpose2d(x, w, None, **kw), [x, w],
                 torch_fn=lambda x, w: F.conv_transpose2d(x, w, None, **kw), **tol)  # fmt: skip
    else:
        check_op(lambda x, w, b: conv_transpose2d(x, w, b, **kw), [x, w, b],
                 torch_fn=lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), **tol)  # fmt: skip


@given(setup=conv_transpose_setup())
def test_conv_transpose2d_matches_torch(setup):
    x, w, b, kw = setup
    _check_conv_transpose(x, w, b, kw, **_tol(x.dtype))


@given(setup=conv_transpose_setup(dtype=np.float32))
def test_conv_transpose2d_unbatched_input(setup):
    x, w, b, kw = setup
    _check_conv_transpose(x[0], w, b, kw, **TOL32)


def test_conv_transpose2d_output_padding_beyond_padding():
    """output_padding > padding: the last rows/columns lie beyond every window (stay 0 + bias)."""
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 3, 4, 3)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(2)
    kw = dict(stride=(3, 1), padding=(0, 1), output_padding=(2, 1), dilation=(1, 2))
    check_op(lambda x, w, b: conv_transpose2d(x, w, b, **kw), [x, w, b],
             torch_fn=lambda x, w, b: F.conv_transpose2d(x, w, b, **kw))  # fmt: skip


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same weight and geometry."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 2))
    y = conv2d(md.tensor(x), md.tensor(w), stride=2, padding=1, dilation=(1, 2), groups=2).numpy()
    r = rng.standard_normal(y.shape)
    back = conv_transpose2d(md.tensor(r), md.tensor(w), stride=2, padding=1, output_padding=(0, 1),
                            dilation=(1, 2), groups=2).numpy()  # fmt: skip
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y, r), np.vdot(x, back), rtol=1e-10)


# ---------------------------------------------------------------------------- gradchecks (float64)
@given(setup=conv_setup(dtype=np.float64, max_groups=2))
def test_conv2d_gradcheck(setup):
    x, w, b, kw = setup
    if b is None:
        check_gradcheck(lambda x, w: conv2d(x, w, None, **kw), [x, w])
    else:
        check_gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b])


@given(setup=conv_transpose_setup(dtype=np.float64))
def test_conv_transpose2d_gradcheck(setup):
    x, w, b, kw = setup
    if b is None:
        check_gradcheck(lambda x, w: conv_transpose2d(x, w, None, **kw), [x, w])
    else:
        check_gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, **kw), [x, w, b])


# ---------------------------------------------------------------------------- memory: chunked columns
@pytest.fixture
def tiny_im2col_limit():
    old = get_im2col_memory_limit()
    set_im2col_memory_limit(200)  # bytes: a chunk of one or two samples
    yield
    set_im2col_memory_limit(old)


def test_chunked_columns_match_torch(tiny_im2col_limit):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((5, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6)
    assert len(conv_ops._batch_chunks(5, 4 * 9 * 7 * 6 * 8)) == 5
    kw = dict(stride=(2, 1), padding=1, dilation=1, groups=2)
    check_op(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b], torch_fn=lambda x, w, b: F.conv2d(x, w, b, **kw))
    check_op(lambda x, w: conv2d(x, w, **kw), [x, w], torch_fn=lambda x, w: F.conv2d(x, w, **kw),
             requires_grad=[False, True])  # fmt: skip
    wt = rng.standard_normal((4, 3, 3, 2))
    kt = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    check_op(lambda x, w, b: conv_transpose2d(x, w, b, **kt), [x, wt, b],
             torch_fn=lambda x, w, b: F.conv_transpose2d(x, w, b, **kt))  # fmt: skip


def test_chunks_cover_the_batch(tiny_im2col_limit):
    assert conv_ops._batch_chunks(7, 80) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert conv_ops._batch_chunks(7, 10_000) == [(i, i + 1) for i in range(7)]  # never empty chunks
    set_im2col_memory_limit(10**9)
    assert conv_ops._batch_chunks(7, 80) == [(0, 7)]
    assert conv_ops._batch_chunks(0, 80) == [(0, 0)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_slices_cover_the_batch_within_the_memory_limit(threads, monkeypatch):
    """The im2col path's slices: the whole batch in order, enough for the threads, small enough for the cache
    (SLICE_BYTES) and, all threads' columns together, for the memory limit; one thread: the limit's chunks."""
    monkeypatch.setattr(conv_ops.threads, "get_num_threads", lambda: threads)
    monkeypatch.setattr(conv_ops.threads, "PARALLEL_MIN_BYTES", 0)
    x = np.empty((1,))
    old = get_im2col_memory_limit()
    try:
        for limit, n, cols, rows, weights in [(10**9, 128, 110_000, 131_000, 3456), (10**9, 7, 10, 10, 10),
                                              (10**9, 32, 40_000, 10_000, 10**8), (300_000, 64, 100_000, 0, 0),
                                              (10**9, 1, 10, 10, 10), (10**9, 0, 10, 10, 10)]:  # fmt: skip
            set_im2col_memory_limit(limit)
            parts = conv_ops._slices(x, n, cols, rows, weights)
            if threads == 1 or n < 2:
                assert parts == conv_ops._batch_chunks(n, cols)
                continue
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in itertools.pairwise(parts)) and all(hi > lo for lo, hi in parts)
            assert len(parts) >= min(n, threads)
            biggest = max(hi - lo for lo, hi in parts)
            assert threads * biggest * cols <= max(limit, threads * cols)
            if weights < conv_ops.SLICE_BYTES:
                assert len(parts) >= min(n, 2 * threads)
                assert biggest * (cols + rows) <= max(conv_ops.SLICE_BYTES, cols + rows) or len(parts) == n
    finally:
        set_im2col_memory_limit(old)


@pytest.mark.parametrize("bad", [0, -5, 1.5, None, True])
def test_memory_limit_must_be_positive_int(bad):
    with pytest.raises(ValueError, match="positive"):
        set_im2col_memory_limit(bad)


# ---------------------------------------------------------------------------- backend: im2col / col2im
@given(
    n=st.integers(1, 2), c=side, h=st.integers(1, 7), w=st.integers(1, 7), kernel=st.tuples(side, side),
    stride=st.tuples(side, side), dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    pads=st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    seed=st.integers(0, 1000),
)  # fmt: skip
def test_im2col_and_col2im_are_adjoint(n, c, h, w, kernel, stride, dilation, pads, seed):
    oh = conv_output_size(h, kernel[0], stride[0], pads[0], dilation[0])
    ow = conv_output_size(w, kernel[1], stride[1], pads[1], dilation[1])
    if oh < 1 or ow < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    cols = im2col(x, kernel, stride, pads, dilation)
    assert cols.shape == (c * kernel[0] * kernel[1], n * oh * ow)
    # one column, read by hand: window (0, 0) of sample 0
    xpad = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    window = xpad[0, :, : dilation[0] * (kernel[0] - 1) + 1 : dilation[0], : dilation[1] * (kernel[1] - 1) + 1 :
                  dilation[1]]  # fmt: skip
    np.testing.assert_array_equal(cols[:, 0], window.reshape(-1))
    r = rng.standard_normal(cols.shape)
    back = col2im(r, x.shape, kernel, stride, pads, dilation)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(cols, r), np.vdot(x, back), rtol=1e-10, atol=1e-10)


def test_col2im_adds_overlapping_windows():
    """3x3 windows with stride 1 on a 4x4 plane: each pixel gets one count per window covering it."""
    ones = np.ones((9, 4), dtype=np.float32)  # 9 taps x (1 sample * 2*2 windows)
    counts = col2im(ones, (1, 1, 4, 4), (3, 3))
    expected = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=np.float32)
    np.testing.assert_array_equal(counts[0, 0], expected)
    assert counts.dtype == np.float32


@given(
    size=st.integers(1, 12), kernel=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
    dilation=st.integers(1, 3), ceil_mode=st.booleans(),
)  # fmt: skip
def test_output_size_helper_matches_torch(size, kernel, stride, padding, dilation, ceil_mode):
    expected = conv_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    x = torch.zeros(1, 1, size, size)
    if not ceil_mode:
        padded_ok = size + 2 * padding >= dilation * (kernel - 1) + 1
        if padded_ok:
            out = F.conv2d(x, torch.zeros(1, 1, kernel, kernel), stride=stride, padding=padding, dilation=dilation)
            assert out.shape[-1] == expected
    if padding <= kernel // 2:  # what max_pool2d allows
        try:
            out = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
        except RuntimeError:  # output too small
            assert expected < 1
        else:
            assert out.shape[-1] == expected


def test_output_size_helper_ceil_mode_drops_a_window_starting_in_the_padding():
    # size 5, kernel 2, stride 2, padding 1: ceil gives 4 windows, but the 4th would start at
    # position 6 - 1 = 5, in the right padding, so torch keeps 3
    assert conv_output_size(5, 2, 2, 1, 1, ceil_mode=True) == 3
    assert conv_output_size(5, 2, 2, 0, 1, ceil_mode=True) == 3
    assert conv_output_size(5, 2, 2, 0, 1, ceil_mode=False) == 2
    assert conv_output_size(10, 3, 1, (1, 0), 1) == 9  # asymmetric padding, as 'same' uses


# ---------------------------------------------------------------------------- layers
def _md_layer_from_torch(md_layer, torch_layer):
    md_layer.load_state_dict({k: v.detach().numpy() for k, v in torch_layer.state_dict().items()})
    return md_layer


def _check_layer(md_layer, torch_layer, x, rtol=1e-4, atol=1e-4, **call):
    """Forward and the gradients of input, weight and bias against the torch layer."""
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mo, to = md_layer(mx, **call), torch_layer(tx, **call)
    assert tuple(mo.shape) == tuple(to.shape)
    np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(tuple(to.shape)).astype(x.dtype)
    mo.backward(md.tensor(g))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol, err_msg="input grad")
    for name, tp in torch_layer.named_parameters():
        mp = dict(md_layer.named_parameters())[name]
        assert mp.grad.dtype == mp.dtype
        np.testing.assert_allclose(mp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"{name} grad")


@st.composite
def conv_layer_setup(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(side), groups * draw(side)
    kernel = draw(st.one_of(side, st.tuples(side, side)))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    stride = draw(st.one_of(st.just(1), pair_or_int))
    dilation = draw(st.one_of(st.just(1), st.integers(1, 2)))
    choices = [st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)), st.just("valid")]
    if _as_pair(stride) == (1, 1):
        choices.append(st.just("same"))
    padding = draw(st.one_of(*choices))
    bias = draw(st.booleans())
    pads = _as_pair(padding) if not isinstance(padding, str) else (2, 2)
    eff = [d * (k - 1) + 1 for k, d in zip(_as_pair(kernel), _as_pair(dilation))]
    # large enough for the kernel and for reflect padding (pad < size)
    h = draw(st.integers(max(eff[0], pads[0] + 1), max(eff[0], pads[0] + 1) + 3))
    w = draw(st.integers(max(eff[1], pads[1] + 1), max(eff[1], pads[1] + 1) + 3))
    n = draw(st.integers(1, 2))
    x = draw(arrays(shape=(n, cin, h, w), dtype=np.float32, low=-1, high=1))
    args = (cin, cout, kernel)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias, padding_mode=mode)
    return args, kw, x


@given(setup=conv_layer_setup())
def test_conv2d_layer_matches_torch(setup):
    args, kw, x = setup
    t = torch.nn.Conv2d(*args, **kw)
    m = _md_layer_from_torch(Conv2d(*args, **kw), t)
    _check_layer(m, t, x)
    assert repr(m) == repr(t)


@st.composite
def conv_transpose_layer_setup(draw):
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(side), groups * draw(side)
    kernel = draw(st.one_of(side, st.tuples(side, side)))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, 1))
    output_padding = draw(st.integers(0, max(stride, dilation) - 1))
    bias = draw(st.booleans())
    size = [
        draw(st.integers(lo, lo + 3))
        for lo in (_min_transpose_input(k, stride, padding, output_padding, dilation) for k in _as_pair(kernel))
    ]
    x = draw(arrays(shape=(draw(st.integers(1, 2)), cin, *size), dtype=np.float32, low=-1, high=1))
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, bias=bias,
              dilation=dilation)  # fmt: skip
    return (cin, cout, kernel), kw, x


@given(setup=conv_transpose_layer_setup())
def test_conv_transpose2d_layer_matches_torch(setup):
    args, kw, x = setup
    t = torch.nn.ConvTranspose2d(*args, **kw)
    m = _md_layer_from_torch(ConvTranspose2d(*args, **kw), t)
    _check_layer(m, t, x)
    assert repr(m) == repr(t)


@pytest.mark.parametrize("output_size", [[11, 11], [12, 11], (1, 3, 12, 12), [11, 12]])
def test_conv_transpose2d_layer_output_size(output_size):
    t = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    m = _md_layer_from_torch(ConvTranspose2d(3, 2, 3, stride=2), t)
    x = np.random.default_rng(8).standard_normal((1, 3, 5, 5)).astype(np.float32)
    _check_layer(m, t, x, output_size=output_size)
    with pytest.raises(ValueError, match="valid sizes range from"):
        m(md.tensor(x), output_size=[14, 14])


@pytest.mark.parametrize(
    ("cls", "args", "kw", "weight_shape"),
    [
        ("Conv2d", (3, 32, 3), {}, (32, 3, 3, 3)),
        ("Conv2d", (4, 8, (3, 5)), {"groups": 2}, (8, 2, 3, 5)),
        ("ConvTranspose2d", (4, 8, 3), {"groups": 2}, (4, 4, 3, 3)),
        ("ConvTranspose2d", (6, 3, (2, 4)), {}, (6, 3, 2, 4)),
    ],
)
def test_conv_layer_weight_shapes_and_default_init(cls, args, kw, weight_shape):
    m = {"Conv2d": Conv2d, "ConvTranspose2d": ConvTranspose2d}[cls](*args, **kw)
    t = getattr(torch.nn, cls)(*args, **kw)
    assert tuple(m.weight.shape) == tuple(t.weight.shape) == weight_shape
    assert tuple(m.bias.shape) == (args[1],)
    assert m.weight.dtype == md.float32 and m.bias.dtype == md.float32
    # torch's bound: 1/sqrt(fan_in), fan_in = weight.shape[1] * kh * kw (also for the transposed weight)
    bound = 1 / math.sqrt(weight_shape[1] * weight_shape[2] * weight_shape[3])
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.5 * bound  # spread over the range, not near zero
    assert np.abs(t.weight.detach().numpy()).max() <= bound


def test_conv_layer_dtype_and_no_bias():
    m = Conv2d(2, 3, 3, bias=False, dtype=md.float64)
    assert m.bias is None and m.weight.dtype == md.float64
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    assert list(m.state_dict()) == list(torch.nn.Conv2d(2, 3, 3, bias=False).state_dict())
    assert list(Conv2d(2, 3, 3).state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize(
    ("args", "kw"),
    [
        ((3, 32, 3), {"padding": 1}),
        ((3, 32, (3, 5)), {"stride": 2, "padding": (1, 2), "dilation": 2, "bias": False, "padding_mode": "reflect"}),
        ((4, 8, 3), {"padding": "same", "groups": 2}),
        ((4, 8, 3), {"padding": "valid"}),
        ((4, 8, 3), {"padding": 0, "dilation": (1, 1), "stride": (1, 1)}),
        ((4, 8, [3, 3]), {"padding": [0, 1], "padding_mode": "circular"}),
    ],
)
def test_conv2d_repr_matches_torch(args, kw):
    assert repr(Conv2d(*args, **kw)) == repr(torch.nn.Conv2d(*args, **kw))


@pytest.mark.parametrize(
    ("args", "kw"),
    [
        ((4, 8, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
        ((4, 8, 3), {"groups": 2, "bias": False, "dilation": 2}),
        ((3, 8, (3, 3)), {"output_padding": (0, 0)}),
    ],
)
def test_conv_transpose2d_repr_matches_torch(args, kw):
    assert repr(ConvTranspose2d(*args, **kw)) == repr(torch.nn.ConvTranspose2d(*args, **kw))


def test_conv_layer_attributes_match_torch():
    for kw in [{"padding": 1}, {"padding": "same", "kernel_size": 4}, {"padding": (1, 2), "stride": (1, 2)}]:
        kw = {"kernel_size": 3, **kw}
        m, t = Conv2d(3, 8, **kw), torch.nn.Conv2d(3, 8, **kw)
        for attr in ("kernel_size", "stride", "padding", "dilation", "groups", "padding_mode", "transposed",
                     "output_padding"):  # fmt: skip
            assert getattr(m, attr) == getattr(t, attr), attr
        assert list(m._reversed_padding_repeated_twice) == list(t._reversed_padding_repeated_twice)


@pytest.mark.parametrize(
    ("cls", "args", "kw", "message"),
    [
        ("Conv2d", (3, 8, 3), {"groups": 2}, "in_channels must be divisible by groups"),
        ("Conv2d", (4, 9, 3), {"groups": 2}, "out_channels must be divisible by groups"),
        ("Conv2d", (4, 8, 3), {"groups": 0}, "groups must be a positive integer"),
        ("Conv2d", (4, 8, 3), {"padding": "foo"}, "Invalid padding string 'foo'"),
        ("Conv2d", (4, 8, 3), {"padding": "same", "stride": 2}, "padding='same' is not supported for strided"),
        ("Conv2d", (4, 8, 3), {"padding_mode": "foo"}, "padding_mode must be one of"),
        ("ConvTranspose2d", (4, 8, 3), {"padding_mode": "reflect"}, 'Only "zeros" padding mode is supported'),
        ("ConvTranspose2d", (3, 8, 3), {"groups": 2}, "in_channels must be divisible by groups"),
    ],
)
def test_conv_layer_constructor_errors(cls, args, kw, message):
    with pytest.raises(ValueError, match=message):
        getattr(torch.nn, cls)(*args, **kw)
    with pytest.raises(ValueError, match=message):
        {"Conv2d": Conv2d, "ConvTranspose2d": ConvTranspose2d}[cls](*args, **kw)


def test_conv2d_layer_forward_errors_name_the_layer_and_shapes():
    layer = Conv2d(3, 8, kernel_size=3)
    with pytest.raises(RuntimeError) as e:
        layer(md.zeros(2, 4, 8, 8))
    assert str(e.value) == "Conv2d(3, 8, kernel_size=(3, 3)): expected input (N, 3, H, W), got (2, 4, 8, 8)"
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\)\): expected input .*got \(8, 8\)"):
        layer(md.zeros(8, 8))
    with pytest.raises(RuntimeError, match=r"got \(1, 1, 3, 8, 8\)"):
        layer(md.zeros(1, 1, 3, 8, 8))
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8.*\(1, 3, 2, 2\).*Kernel size can't be greater"):
        layer(md.zeros(1, 3, 2, 2))
    with pytest.raises(RuntimeError, match="dtype"):
        layer(md.zeros(1, 3, 5, 5, dtype=md.float64))
    with pytest.raises(TypeError, match="Conv2d"):
        layer(np.zeros((1, 3, 5, 5)))
    with pytest.raises(RuntimeError, match=r"ConvTranspose2d\(4, 2.*expected input \(N, 4, H, W\), got \(1, 3, 5, 5\)"):
        ConvTranspose2d(4, 2, 3)(md.zeros(1, 3, 5, 5))
    with pytest.raises(RuntimeError, match=r"Conv2d\(3, 8.*reflect.*padding size should be less than"):
        Conv2d(3, 8, 3, padding=5, padding_mode="reflect")(md.zeros(1, 3, 4, 4))
    assert tuple(layer(md.zeros(3, 5, 5)).shape) == (8, 3, 3)  # unbatched input


_X = np.zeros((2, 4, 8, 8), dtype=np.float32)
_W = np.zeros((6, 2, 3, 3), dtype=np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda M, x, w: M.conv2d(x[:, :3], w, groups=2), "expected input.* to have 4 channels, but got 3"),
        (lambda M, x, w: M.conv2d(x, w[:5], groups=2), "expected weight to be divisible by 2"),
        (lambda M, x, w: M.conv2d(x[0, 0], w, groups=2), "Expected 3D \\(unbatched\\) or 4D \\(batched\\) input"),
        (lambda M, x, w: M.conv2d(x[:, :, :2, :2], w, groups=2), "Kernel size can't be greater than actual input"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, padding=-1), "negative padding is not supported"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, stride=0), "non-positive stride is not supported"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, dilation=0), "non-positive dilation is not supported"),
        (lambda M, x, w: M.conv2d(x, w, groups=0), "non-positive groups is not supported"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, stride=2, padding="same"), "padding='same' is not supported"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, padding="foo"), "Invalid padding string"),
        (lambda M, x, w: M.conv2d(x, w, w[0, 0, 0, :2], groups=2), "expected bias to be 1-dimensional with 6"),
        (lambda M, x, w: M.conv2d(x, w, groups=2, padding=(1, 1, 1)), "padding to be a single integer value or a"),
        (lambda M, x, w: M.conv2d(x.double(), w, groups=2), "should be the same|expected scalar type"),
        (lambda M, x, w: M.conv_transpose2d(x, w[:4], stride=2, output_padding=2),
         "output padding must be smaller than either stride or dilation"),
        (lambda M, x, w: M.conv_transpose2d(x, w[:5], groups=2), "expected weight to be divisible by 2"),
        (lambda M, x, w: M.conv_transpose2d(x, w, groups=2), "expected input.* to have 6 channels, but got 4"),
        (lambda M, x, w: M.conv_transpose2d(x[:1, :, :1, :1], w[:4], padding=2), "Output size is too small"),
    ],
)  # fmt: skip
def test_functional_errors_match_torch(call, message):
    """Same error type as torch, and a message with torch's words and the shapes."""
    with pytest.raises(RuntimeError, match=message):
        call(F, torch.tensor(_X), torch.tensor(_W))

    class M:
        conv2d, conv_transpose2d = conv2d, conv_transpose2d

    x, w = md.tensor(_X), md.tensor(_W)
    with pytest.raises(RuntimeError, match=message):
        call(M, x, w)


def test_functional_type_errors():
    with pytest.raises(TypeError):
        conv2d(md.zeros(1, 1, 3, 3), 3)
    with pytest.raises(TypeError):
        conv2d(np.zeros((1, 1, 3, 3)), md.zeros(1, 1, 1, 1))
    with pytest.raises(TypeError):
        conv_transpose2d(md.zeros(1, 1, 3, 3), md.zeros(1, 1, 1, 1), padding="same")
    with pytest.raises(ShapeError, match=r"4-D weight.*\[6, 4, 3\]"):
        conv2d(md.zeros(1, 4, 5, 5), md.zeros(6, 4, 3))


# ---------------------------------------------------------------------------- the course's examples
IMAGE = np.array(
    [[1, 2, 3, 0, 1],
     [0, 1, 2, 3, 1],
     [1, 0, 1, 2, 2],
     [2, 1, 0, 1, 0],
     [1, 2, 1, 0, 1]], dtype=np.float32,
)  # fmt: skip
VERTICAL_EDGE = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], dtype=np.float32)


def _course_conv(**kw):
    x = md.tensor(IMAGE[None, None])
    w = md.tensor(VERTICAL_EDGE[None, None])
    out = conv2d(x, w, **kw).numpy()[0, 0]
    ref = F.conv2d(torch.tensor(IMAGE[None, None]), torch.tensor(VERTICAL_EDGE[None, None]), **kw).numpy()[0, 0]
    np.testing.assert_array_equal(out, ref)
    return out


def test_course_5x5_image_3x3_filter_no_padding():
    # out[i, j] = sum over the 3 rows of the window of (left column - right column)
    expected = np.array([[-4, -2, 2], [0, -4, 0], [2, 0, -1]], dtype=np.float32)
    np.testing.assert_array_equal(_course_conv(), expected)


def test_course_5x5_image_3x3_filter_zero_padding_keeps_the_size():
    out = _course_conv(padding=1)
    assert out.shape == (5, 5)
    np.testing.assert_array_equal(out[1:4, 1:4], _course_conv())  # the interior is the unpadded result
    assert out[0, 0] == -(IMAGE[0, 1] + IMAGE[1, 1])  # only the right column of taps sees the image: -3
    assert out[2, 4] == IMAGE[1:4, 3].sum()  # only the left column of taps: 2 + 2 + 1 = 5


def test_course_5x5_image_dilation_2_with_padding_2():
    out = _course_conv(dilation=2, padding=2)
    assert out.shape == (5, 5)  # effective kernel 5x5, padding 2
    # the centre window reads rows 0, 2, 4 and columns 0 (weight 1) and 4 (weight -1)
    assert out[2, 2] == (1 - 1) + (1 - 2) + (1 - 1)


def test_course_2x2_max_pool():
    from minidl.ops.pool import max_pool2d

    x = md.tensor(np.array([[1, 3, 2, 1], [4, 2, 0, 1], [5, 6, 1, 2], [7, 0, 3, 4]], dtype=np.float32)[None, None],
                  requires_grad=True)  # fmt: skip
    out, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.detach().numpy()[0, 0], [[4, 2], [7, 4]])
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[4, 2], [12, 15]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]])


@pytest.mark.parametrize(
    ("hwc", "filters", "kw", "out_hwc"),
    [
        ((128, 128, 32), (16, 3), {}, (126, 126, 16)),  # 128 - 3 + 1
        ((128, 128, 32), (16, 3), {"stride": 2}, (63, 63, 16)),  # floor((128 - 3) / 2) + 1
        ((64, 64, 32), (16, 1), {}, (64, 64, 16)),  # a 1x1 conv changes only the channels
    ],
)
def test_course_output_size_rule(hwc, filters, kw, out_hwc):
    h, w, c = hwc
    n_filters, k = filters
    layer = Conv2d(c, n_filters, k, **kw)
    with md.no_grad():
        out = layer(md.zeros(1, c, h, w))
    assert tuple(out.shape) == (1, out_hwc[2], out_hwc[0], out_hwc[1])
    assert conv_output_size(h, k, kw.get("stride", 1)) == out_hwc[0]


# ---------------------------------------------------------------------------- taps that read only padding
@pytest.mark.parametrize(
    "kernel, size, stride, pads, dilation, expected",
    [
        ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), (1, 1), ((1, 2, 1, 2), ((0, 0), (0, 0)))),  # -> a 1x1 conv
        ((3, 3), (2, 2), (2, 2), ((1, 1), (1, 1)), (1, 1), ((1, 3, 1, 3), ((0, 1), (0, 1)))),
        ((3, 3), (4, 4), (1, 1), ((1, 1), (1, 1)), (1, 1), None),  # every tap reads the input
        ((3, 1), (1, 5), (1, 1), ((1, 1), (0, 0)), (1, 1), ((1, 2, 0, 1), ((0, 0), (0, 0)))),
        ((3, 3), (1, 1), (1, 1), ((3, 3), (3, 3)), (2, 2), ((1, 2, 1, 2), ((1, 1), (1, 1)))),  # dilated
        ((3, 3), (3, 3), (1, 1), ((1, 1), (1, 1)), (2, 2), None),  # cutting tap 0 would leave padding -1
    ],
)
def test_live_taps(kernel, size, stride, pads, dilation, expected):
    assert conv_ops._live_taps(kernel, size, stride, pads, dilation) == expected


@pytest.mark.parametrize("size, stride, padding", [(1, 1, 1), (2, 2, 1), (1, 1, 2), (3, 2, 2)])
def test_conv2d_with_taps_reading_only_padding_matches_torch(size, stride, padding):
    """ResNet's last stage at 32x32 inputs: 3x3 convolutions of 1x1 maps. The cut-off taps still get
    their (zero) weight gradient, in the full kernel's shape."""
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal((3, 4, size, size)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    check_op(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding), [x, w, b],
             torch_fn=lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding))  # fmt: skip
    mw = md.tensor(w, requires_grad=True)
    conv2d(md.tensor(x), mw, None, stride=stride, padding=padding).sum().backward()
    assert mw.grad.shape == (5, 4, 3, 3)
    if size == 1 and padding == 1:
        assert np.all(mw.grad.numpy()[:, :, [0, 2], :] == 0) and np.all(mw.grad.numpy()[:, :, :, [0, 2]] == 0)

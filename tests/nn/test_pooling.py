"""max/avg/adaptive pooling and the pooling layers against torch.

Forward, indices (``return_indices``) and gradients over hypothesis-drawn kernels,
strides (overlapping windows included), paddings, dilations, ceil_mode,
count_include_pad, divisor_override, output sizes that do not divide the input, batched
and unbatched inputs; tie-free inputs where the argmax matters, plus torch's tie and NaN
rules; float64 gradchecks; layers' repr; errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl as md
from minidl.backend.im2col import conv_output_size
from minidl.errors import ShapeError
from minidl.nn.modules.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from minidl.ops.pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    max_pool2d,
    max_pool2d_with_indices,
)
from tests.helpers import check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes

side = st.integers(1, 3)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@st.composite
def pool_setup(draw, dilation=True, dtype=None, distinct=True, batched=None):
    """(x, kwargs) for max_pool2d (or avg_pool2d with ``dilation=False``), with a valid output."""
    dtype = draw(float_dtypes) if dtype is None else dtype
    kernel = draw(st.one_of(side, st.tuples(side, side)))
    stride = draw(st.one_of(st.none(), side, st.tuples(side, side)))
    k2 = _pair(kernel)
    padding = draw(st.one_of(st.integers(0, min(k2) // 2), st.tuples(*(st.integers(0, k // 2) for k in k2))))
    dil = draw(st.one_of(st.just(1), st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))))
    dil = dil if dilation else 1
    ceil_mode = draw(st.booleans())
    eff = [d * (k - 1) + 1 - 2 * p for k, d, p in zip(k2, _pair(dil), _pair(padding))]
    h, w = (draw(st.integers(max(1, e), max(1, e) + 5)) for e in eff)
    # a window wholly in the padding (possible with dilation) gives -inf, and torch's backward
    # then writes out of bounds: such cases are tested on their own
    for n, k, s, p, d in zip((h, w), k2, _pair(stride or kernel), _pair(padding), _pair(dil)):
        for o in range(conv_output_size(n, k, s, p, d, ceil_mode)):
            assume(any(0 <= o * s - p + i * d < n for i in range(k)))
    batched = draw(st.booleans()) if batched is None else batched
    shape = (draw(st.integers(1, 2)), draw(side), h, w) if batched else (draw(side), h, w)
    x = draw(arrays(shape=shape, dtype=dtype, distinct=distinct))
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if dilation:
        kw["dilation"] = dil
    return x, kw


# ---------------------------------------------------------------------------- max_pool2d
@given(setup=pool_setup())
def test_max_pool2d_matches_torch(setup):
    x, kw = setup
    check_op(lambda x: max_pool2d(x, **kw, return_indices=True), [x],
             torch_fn=lambda x: F.max_pool2d(x, **kw, return_indices=True))  # fmt: skip
    check_op(lambda x: max_pool2d(x, **kw), [x], torch_fn=lambda x: F.max_pool2d(x, **kw))


@given(data=st.data())
def test_max_pool2d_overlapping_windows_add_gradients(data):
    """stride < kernel: an input that is the max of several windows gets all their gradients."""
    k = data.draw(st.integers(2, 3))
    s = data.draw(st.integers(1, k - 1))
    x = data.draw(arrays(shape=(2, 2, data.draw(st.integers(k, 7)), data.draw(st.integers(k, 7))), distinct=True))
    check_op(lambda x: max_pool2d(x, k, s, return_indices=True), [x],
             torch_fn=lambda x: F.max_pool2d(x, k, s, return_indices=True))  # fmt: skip


def test_max_pool2d_overlap_gradient_counts():
    """A single peak seen by all four 2x2 windows (stride 1) of a 3x3 plane gets 4x the gradient."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0
    t = md.tensor(x, requires_grad=True)
    out, idx = max_pool2d(t, 2, 1, return_indices=True)
    assert (idx.numpy() == 4).all()
    out.sum().backward()
    assert t.grad.numpy()[0, 0, 1, 1] == 4.0 and t.grad.numpy().sum() == 4.0


@given(data=st.data())
def test_max_pool2d_ties_go_to_the_first_max_in_scan_order(data):
    """Inputs full of ties (few distinct integers): indices and gradients as torch."""
    k = data.draw(st.integers(2, 3))
    s = data.draw(st.integers(1, 3))
    p = data.draw(st.integers(0, k // 2))
    h, w = data.draw(st.integers(k, 6)), data.draw(st.integers(k, 6))
    x = np.random.default_rng(data.draw(st.integers(0, 1000))).integers(0, 3, (2, 2, h, w)).astype(np.float64)
    check_op(lambda x: max_pool2d(x, k, s, p, return_indices=True), [x],
             torch_fn=lambda x: F.max_pool2d(x, k, s, p, return_indices=True))  # fmt: skip
    check_op(lambda x: max_pool2d_with_indices(x, k, s, p), [x],
             torch_fn=lambda x: F.max_pool2d_with_indices(x, k, s, p))  # fmt: skip


def test_max_pool2d_nan_and_inf_as_torch():
    x = np.array([[[[np.nan, 1.0, 3.0], [np.nan, 2.0, -np.inf], [-np.inf, -np.inf, 0.0]]]])
    for kw in [dict(kernel_size=2, stride=1), dict(kernel_size=3, padding=1, stride=2), dict(kernel_size=2)]:
        check_op(lambda x, kw=kw: max_pool2d(x, **kw, return_indices=True), [x],
                 torch_fn=lambda x, kw=kw: F.max_pool2d(x, **kw, return_indices=True))  # fmt: skip
    ninf = np.full((1, 1, 2, 2), -np.inf)  # all -inf: the index still names a real input cell
    check_op(lambda x: max_pool2d(x, 2, padding=1, return_indices=True), [ninf],
             torch_fn=lambda x: F.max_pool2d(x, 2, padding=1, return_indices=True))  # fmt: skip


@pytest.mark.parametrize("out", [(1, 1), (1, 2), (2, 3)])
def test_adaptive_max_pool2d_nan_as_torch(out):
    """A NaN wins the bin, and of several the LAST in scan order is the index (torch's kernel)."""
    x = np.array([[[[1.0, np.nan, 3.0, np.nan], [np.nan, 2.0, -np.inf, 0.5], [4.0, -1.0, np.nan, 2.0]]]])
    check_op(lambda x: adaptive_max_pool2d(x, out, return_indices=True), [x],
             torch_fn=lambda x: F.adaptive_max_pool2d(x, out, return_indices=True))  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 1, 1), dict(kernel_size=2, padding=1, dilation=2)),
        ((1, 1, 3, 3), dict(kernel_size=2, stride=1, padding=1, dilation=4)),
    ],
)
def test_max_pool2d_window_wholly_in_the_padding(shape, kw):
    """With dilation a window can miss the input: -inf and torch's (out-of-plane) index; such a
    window sends no gradient (torch's backward writes it out of bounds, so not compared)."""
    x = np.random.default_rng(0).standard_normal(shape)
    check_op(lambda x: max_pool2d(x, **kw, return_indices=True), [x],
             torch_fn=lambda x: F.max_pool2d(x, **kw, return_indices=True), check_grad=False)  # fmt: skip
    t = md.tensor(x, requires_grad=True)
    out = max_pool2d(t, **kw)
    out.backward(md.ones(*out.shape))
    assert not t.grad.numpy().any()


def test_max_pool2d_integers():
    x = np.random.default_rng(0).integers(-50, 50, (2, 3, 5, 6))
    check_op(lambda x: max_pool2d(x, 3, 2, 1, return_indices=True), [x],
             torch_fn=lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True))  # fmt: skip


@given(setup=pool_setup(dtype=np.float64))
def test_max_pool2d_gradcheck(setup):
    x, kw = setup
    check_gradcheck(lambda x: max_pool2d(x, **kw), [x])


# ---------------------------------------------------------------------------- avg_pool2d
@st.composite
def avg_setup(draw, dtype=None):
    x, kw = draw(pool_setup(dilation=False, dtype=dtype, distinct=False))
    kw["count_include_pad"] = draw(st.booleans())
    kw["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    return x, kw


@given(setup=avg_setup())
def test_avg_pool2d_matches_torch(setup):
    x, kw = setup
    check_op(lambda x: avg_pool2d(x, **kw), [x], torch_fn=lambda x: F.avg_pool2d(x, **kw))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode", [True, False])
def test_avg_pool2d_border_divisors(count_include_pad, ceil_mode):
    """Ones in, so each output is (input cells in the window) / divisor: torch's border rules."""
    x = np.ones((1, 1, 6, 5))
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    check_op(lambda x: avg_pool2d(x, **kw), [x], torch_fn=lambda x: F.avg_pool2d(x, **kw))
    out = avg_pool2d(md.tensor(x), **kw).numpy()[0, 0]
    if not count_include_pad:
        np.testing.assert_allclose(out, 1.0)  # only real cells, each 1
    else:
        assert out[0, 0] == pytest.approx(4 / 9)  # 2x2 real cells of a 3x3 window that includes padding


def test_avg_pool2d_integers_truncate():
    x = np.array([[[[-3, -4], [0, 0]]], [[[3, 4], [0, 0]]]])
    check_op(lambda x: avg_pool2d(x, 2), [x], torch_fn=lambda x: F.avg_pool2d(x, 2))
    np.testing.assert_array_equal(avg_pool2d(md.tensor(x), 2).numpy().ravel(), [-1, 1])
    for dtype in (np.int32, np.uint8):  # torch's only integer kernel is int64
        with pytest.raises(NotImplementedError):
            F.avg_pool2d(torch.tensor(x.astype(dtype)), 2)
        with pytest.raises(NotImplementedError, match="avg_pool2d"):
            avg_pool2d(md.tensor(x.astype(dtype)), 2)


@given(setup=avg_setup(dtype=np.float64))
def test_avg_pool2d_gradcheck(setup):
    x, kw = setup
    check_gradcheck(lambda x: avg_pool2d(x, **kw), [x])


# ---------------------------------------------------------------------------- adaptive pools
@st.composite
def adaptive_setup(draw, dtype=None, distinct=True):
    dtype = draw(float_dtypes) if dtype is None else dtype
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = st.integers(1, 9)
    out = draw(st.one_of(size, st.tuples(size, size), st.tuples(st.none(), size), st.tuples(size, st.none())))
    batched = draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(side), h, w) if batched else (draw(side), h, w)
    return draw(arrays(shape=shape, dtype=dtype, distinct=distinct)), out


@given(setup=adaptive_setup())
def test_adaptive_avg_pool2d_matches_torch(setup):
    x, out = setup
    check_op(lambda x: adaptive_avg_pool2d(x, out), [x], torch_fn=lambda x: F.adaptive_avg_pool2d(x, out))


@given(setup=adaptive_setup())
def test_adaptive_max_pool2d_matches_torch(setup):
    x, out = setup
    check_op(lambda x: adaptive_max_pool2d(x, out, return_indices=True), [x],
             torch_fn=lambda x: F.adaptive_max_pool2d(x, out, return_indices=True))  # fmt: skip
    check_op(lambda x: adaptive_max_pool2d(x, out), [x], torch_fn=lambda x: F.adaptive_max_pool2d(x, out))


@pytest.mark.parametrize(("size", "out"), [((5, 7), (3, 4)), ((10, 10), (7, 3)), ((2, 3), (5, 7)), ((6, 6), 1)])
def test_adaptive_pools_uneven_bins(size, out):
    """Bins start at floor(i*n/out) and end at ceil((i+1)*n/out): overlapping, unequal sizes."""
    x = np.random.default_rng(1).permutation(2 * 3 * size[0] * size[1]).reshape(2, 3, *size) / 10.0
    check_op(lambda x: adaptive_avg_pool2d(x, out), [x], torch_fn=lambda x: F.adaptive_avg_pool2d(x, out))
    check_op(lambda x: adaptive_max_pool2d(x, out, True), [x],
             torch_fn=lambda x: F.adaptive_max_pool2d(x, out, True))  # fmt: skip


def test_adaptive_pools_zero_output_size():
    x = np.random.default_rng(2).standard_normal((2, 2, 6, 4))
    check_op(lambda x: adaptive_avg_pool2d(x, (0, 2)), [x], torch_fn=lambda x: F.adaptive_avg_pool2d(x, (0, 2)),
             check_grad=False)  # fmt: skip
    check_op(lambda x: adaptive_max_pool2d(x, 0, True), [x], torch_fn=lambda x: F.adaptive_max_pool2d(x, 0, True),
             check_grad=False)  # fmt: skip


@given(setup=adaptive_setup(dtype=np.float64))
def test_adaptive_pools_gradcheck(setup):
    x, out = setup
    check_gradcheck(lambda x: adaptive_avg_pool2d(x, out), [x])
    check_gradcheck(lambda x: adaptive_max_pool2d(x, out), [x])


def test_pools_keep_float32():
    x = md.tensor(np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    for f in (lambda t: max_pool2d(t, 2), lambda t: avg_pool2d(t, 3, 2, 1), lambda t: adaptive_avg_pool2d(t, 4),
              lambda t: adaptive_max_pool2d(t, 4)):  # fmt: skip
        x.grad = None
        out = f(x)
        out.backward(md.ones(*out.shape))
        assert out.dtype == md.float32 and x.grad.dtype == md.float32


# ---------------------------------------------------------------------------- layers
@given(setup=pool_setup(dtype=np.float32), return_indices=st.booleans())
def test_max_pool_layer_matches_torch(setup, return_indices):
    x, kw = setup
    m, t = MaxPool2d(**kw, return_indices=return_indices), torch.nn.MaxPool2d(**kw, return_indices=return_indices)
    check_op(m, [x], torch_fn=t)
    assert repr(m) == repr(t)


@given(setup=avg_setup(dtype=np.float32))
def test_avg_pool_layer_matches_torch(setup):
    x, kw = setup
    m, t = AvgPool2d(**kw), torch.nn.AvgPool2d(**kw)
    check_op(m, [x], torch_fn=t)
    assert repr(m) == repr(t)


@given(setup=adaptive_setup(dtype=np.float32), return_indices=st.booleans())
def test_adaptive_pool_layers_match_torch(setup, return_indices):
    x, out = setup
    pairs = [(AdaptiveAvgPool2d(out), torch.nn.AdaptiveAvgPool2d(out)),
             (AdaptiveMaxPool2d(out, return_indices), torch.nn.AdaptiveMaxPool2d(out, return_indices))]  # fmt: skip
    for m, t in pairs:
        check_op(m, [x], torch_fn=t)
        assert repr(m) == repr(t)


@pytest.mark.parametrize(
    ("make", "args", "kw"),
    [
        ("MaxPool2d", (2,), {}),
        (
            "MaxPool2d",
            ((2, 3),),
            {"stride": 1, "padding": 1, "dilation": 2, "return_indices": True, "ceil_mode": True},
        ),  # fmt: skip
        ("MaxPool2d", (3,), {"stride": (1, 2)}),
        ("AvgPool2d", (2,), {}),
        (
            "AvgPool2d",
            ((2, 3),),
            {"stride": (1, 2), "padding": 1, "ceil_mode": True, "count_include_pad": False, "divisor_override": 3},
        ),  # fmt: skip
        ("AdaptiveAvgPool2d", ((5, None),), {}),
        ("AdaptiveAvgPool2d", (1,), {}),
        ("AdaptiveMaxPool2d", ((5, 7),), {"return_indices": True}),
        ("AdaptiveMaxPool2d", (3,), {}),
    ],
)
def test_pool_layer_repr_and_attributes_match_torch(make, args, kw):
    import minidl.nn.modules.pooling as pooling

    m, t = getattr(pooling, make)(*args, **kw), getattr(torch.nn, make)(*args, **kw)
    assert repr(m) == repr(t)
    for attr in ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices", "count_include_pad",
                 "divisor_override", "output_size"):  # fmt: skip
        if hasattr(t, attr):
            assert getattr(m, attr) == getattr(t, attr), attr


def test_max_pool_repr_example():
    assert repr(MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"


def test_pool_layer_errors_name_the_layer():
    with pytest.raises(RuntimeError, match=r"MaxPool2d\(kernel_size=2.*\(8, 8\)"):
        MaxPool2d(2)(md.zeros(8, 8))
    with pytest.raises(RuntimeError, match=r"AdaptiveAvgPool2d\(output_size=1\).*\(1, 1, 1, 8, 8\)"):
        AdaptiveAvgPool2d(1)(md.zeros(1, 1, 1, 8, 8))
    with pytest.raises(TypeError):
        AvgPool2d(2)(np.zeros((1, 1, 4, 4)))


# ---------------------------------------------------------------------------- errors
_X = np.zeros((2, 4, 8, 8), dtype=np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda F, x: F.max_pool2d(x, 2, padding=2), "pad should be at most half of effective kernel size"),
        (lambda F, x: F.max_pool2d(x, 2, padding=2, dilation=3), "pad should be smaller than or equal to half"),
        (lambda F, x: F.max_pool2d(x[:1, :1, :2, :2], 3), "Output size is too small"),
        (lambda F, x: F.max_pool2d(x, 2, stride=0), "stride should not be zero"),
        (lambda F, x: F.max_pool2d(x, 0), "stride should not be zero"),
        (lambda F, x: F.max_pool2d(x, 2, dilation=0), "dilation should be greater than zero"),
        (lambda F, x: F.max_pool2d(x[0, 0], 2), "non-empty 3D or 4D \\(batch mode\\) tensor expected"),
        (lambda F, x: F.max_pool2d(x[None], 2), "non-empty 3D or 4D \\(batch mode\\) tensor expected"),
        (lambda F, x: F.max_pool2d(x, (2, 2, 2)), "kernel_size must either be a single int, or a tuple of two"),
        (lambda F, x: F.max_pool2d(x, 2, padding=-1), "pad must be non-negative"),
        (lambda F, x: F.avg_pool2d(x, 2, padding=2), "pad should be at most half of effective kernel size"),
        (lambda F, x: F.avg_pool2d(x[:1, :1, :2, :2], 3), "Output size is too small"),
        (lambda F, x: F.avg_pool2d(x, 2, divisor_override=0), "divisor must be not zero"),
        (lambda F, x: F.avg_pool2d(x, 2, stride=0), "stride should not be zero"),
        (lambda F, x: F.adaptive_avg_pool2d(x, (-1, 2)), "elements of output_size must be greater than or equal"),
        (lambda F, x: F.adaptive_avg_pool2d(x, (1, 2, 3)), "output_size must be 2"),
        (lambda F, x: F.adaptive_avg_pool2d(x[0, 0], 2), "Expected 3D or 4D tensor"),
        (lambda F, x: F.adaptive_max_pool2d(x[0, 0], 2), "Expected 3D or 4D tensor"),
        (lambda F, x: F.adaptive_avg_pool2d(x[:, :, :0], 2), "Expected input to have non-zero size for non-batch"),
    ],
)
def test_errors_match_torch(call, message):
    with pytest.raises(RuntimeError, match=message):
        call(F, torch.tensor(_X))

    class M:
        max_pool2d, avg_pool2d = max_pool2d, avg_pool2d
        adaptive_avg_pool2d, adaptive_max_pool2d = adaptive_avg_pool2d, adaptive_max_pool2d

    with pytest.raises(RuntimeError, match=message):
        call(M, md.tensor(_X))


def test_errors_say_the_shapes():
    with pytest.raises(ShapeError, match=r"max_pool2d.*\(1, 1, 2, 2\)"):
        max_pool2d(md.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ShapeError, match=r"\(8, 8\)"):
        avg_pool2d(md.zeros(8, 8), 2)
    with pytest.raises(TypeError):
        max_pool2d(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(RuntimeError, match="floating-point"):
        adaptive_avg_pool2d(md.zeros(1, 1, 4, 4, dtype=md.int64), 2)


def test_empty_batch():
    x = np.zeros((0, 3, 4, 4))
    check_op(lambda x: max_pool2d(x, 2), [x], torch_fn=lambda x: F.max_pool2d(x, 2))
    check_op(lambda x: avg_pool2d(x, 2), [x], torch_fn=lambda x: F.avg_pool2d(x, 2))

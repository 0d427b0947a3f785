"""interpolate / Upsample / UpsamplingNearest2d / UpsamplingBilinear2d and the padding
layers against torch: forward and input gradient for drawn sizes and scale factors
(integer, non-integer like 1.5, downsampling), every mode and align_corners, float64
finite differences, reprs, and torch's error types for invalid combinations."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.nn.modules import padding as P
from minidl.nn.modules import upsampling as U
from minidl.ops.upsample import _segment_sum, interpolate
from tests.helpers import check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes

LINEAR = {3: "linear", 4: "bilinear", 5: "trilinear"}
SCALES = [0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 1.7, 2.0, 2.5, 3.0]


@st.composite
def resample_case(draw, ndim=None):
    """input (N, C, *spatial), a mode, align_corners, and size or scale_factor (scalar or per dim)."""
    ndim = draw(st.sampled_from([3, 4, 4, 5])) if ndim is None else ndim
    k = ndim - 2
    max_side = 6 if k < 3 else 4
    spatial = tuple(draw(st.lists(st.integers(1, max_side), min_size=k, max_size=k)))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    x = draw(arrays(shape=(n, c, *spatial), dtype=draw(float_dtypes)))
    mode, ac = draw(st.sampled_from([("nearest", None), ("nearest-exact", None), (LINEAR[ndim], False),
                                     (LINEAR[ndim], True)]))  # fmt: skip
    how = draw(st.sampled_from(["scale", "scales", "size", "sizes"]))
    kw: dict = {}
    if how == "scale":
        kw["scale_factor"] = draw(st.sampled_from(SCALES))
    elif how == "scales":
        kw["scale_factor"] = tuple(draw(st.sampled_from(SCALES)) for _ in range(k))
    elif how == "size":
        kw["size"] = draw(st.integers(1, 8))
    else:
        kw["size"] = tuple(draw(st.integers(1, 8)) for _ in range(k))
    # scale factors that shrink a dim to 0 are an error (tested below)
    sf = kw.get("scale_factor")
    if sf is not None:
        sfs = sf if isinstance(sf, tuple) else (sf,) * k
        if any(int(s * f) < 1 for s, f in zip(spatial, sfs)):
            kw["scale_factor"] = tuple(max(f, 1.0) for f in sfs)
    return x, mode, ac, kw


@given(case=resample_case())
def test_interpolate_matches_torch(case):
    x, mode, ac, kw = case
    check_op(lambda a: interpolate(a, mode=mode, align_corners=ac, **kw), [x],
             torch_fn=lambda a: F.interpolate(a, mode=mode, align_corners=ac, **kw))  # fmt: skip


@given(case=resample_case(ndim=4), recompute=st.sampled_from([None, False, True]))
def test_upsample_module_matches_torch(case, recompute):
    x, mode, ac, kw = case
    if "size" in kw:
        recompute = None  # not meaningful with a size (an error, tested below)
    m = U.Upsample(mode=mode, align_corners=ac, recompute_scale_factor=recompute, **kw)
    t = tnn.Upsample(mode=mode, align_corners=ac, recompute_scale_factor=recompute, **kw)
    assert repr(m) == repr(t)
    check_op(lambda a: m(a), [x], torch_fn=lambda a: t(a))


@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(scale_factor=1.5), dict(scale_factor=(0.5, 3)),
                                dict(size=(5, 3)), dict(size=7)])  # fmt: skip
def test_upsampling_nearest_and_bilinear_2d(name, kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 6)).astype(np.float32)
    mine, theirs = getattr(U, name)(**kw), getattr(tnn, name)(**kw)
    assert repr(mine) == repr(theirs)
    assert mine.align_corners == theirs.align_corners and mine.mode == theirs.mode
    check_op(mine, [x], torch_fn=theirs)


@pytest.mark.parametrize("kw", [
    dict(scale_factor=2, mode="nearest"), dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=2, mode="bilinear", align_corners=True), dict(size=(16, 16), mode="bilinear"),
    dict(scale_factor=0.5, mode="bilinear"), dict(scale_factor=1 / 3, mode="nearest"),
])  # fmt: skip
def test_common_training_shapes(kw):
    x = np.random.default_rng(1).standard_normal((4, 8, 7, 9)).astype(np.float32)
    check_op(lambda a: interpolate(a, **kw), [x], torch_fn=lambda a: F.interpolate(a, **kw))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("kw", [dict(scale_factor=1.1), dict(scale_factor=2.1), dict(scale_factor=0.7),
                                dict(size=(3, 8))])  # fmt: skip
def test_single_channel(mode, kw):
    # (N, 1, H, W) is channels-last contiguous too, which sends torch down another kernel
    x = np.random.default_rng(2).standard_normal((2, 1, 5, 5)).astype(np.float32)
    check_op(lambda a: interpolate(a, mode=mode, **kw), [x], torch_fn=lambda a: F.interpolate(a, mode=mode, **kw))


def test_batch_of_zero():
    empty = np.zeros((0, 2, 3, 3), np.float32)
    check_op(lambda a: interpolate(a, size=5, mode="bilinear"), [empty],
             torch_fn=lambda a: F.interpolate(a, size=5, mode="bilinear"))  # fmt: skip


def test_nearest_1d_copies_torchs_gradient_quirk():
    # torch: 1-D 'nearest' forward floors j / 1.3 (out == in == 3), its backward copies
    x = np.arange(3, dtype=np.float32).reshape(1, 1, 3)
    check_op(lambda a: interpolate(a, scale_factor=1.3), [x], torch_fn=lambda a: F.interpolate(a, scale_factor=1.3))
    assert interpolate(md.tensor(x), scale_factor=1.3).numpy().ravel().tolist() == [0, 0, 1]
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 5)
    check_op(lambda a: interpolate(a, scale_factor=2.1), [x], torch_fn=lambda a: F.interpolate(a, scale_factor=2.1))


def test_output_keeps_dtype_and_no_aliasing():
    x = md.tensor(np.ones((1, 2, 3, 3), np.float32), requires_grad=True)
    y = interpolate(x, scale_factor=1.0)
    assert y.dtype == md.float32 and tuple(y.shape) == (1, 2, 3, 3)
    y.backward(md.ones_like(y))
    assert x.grad.dtype == md.float32
    y2 = interpolate(x.detach(), size=3)
    assert not np.shares_memory(y2.numpy(), x.detach().numpy())


# ---------------------------------------------------------------------------- gradchecks (float64)
@pytest.mark.parametrize("mode, ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                      ("bilinear", True)])  # fmt: skip
@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(scale_factor=1.5), dict(scale_factor=(0.6, 1.7)),
                                dict(size=(4, 2))])  # fmt: skip
def test_interpolate_gradcheck(mode, ac, kw):
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 3))
    g = md.tensor(np.random.default_rng(4).standard_normal(tuple(F.interpolate(torch.tensor(x), **kw).shape)))
    check_gradcheck(lambda a: interpolate(a, mode=mode, align_corners=ac, **kw) * g, [x])


@pytest.mark.parametrize("ndim", [3, 5])
@pytest.mark.parametrize("mode, ac", [("nearest", None), ("linear", False), ("linear", True)])
def test_interpolate_gradcheck_1d_and_3d(ndim, mode, ac):
    x = np.random.default_rng(5).standard_normal((1, 1) + (3,) * (ndim - 2))
    mode = LINEAR[ndim] if mode == "linear" else mode
    check_gradcheck(lambda a: interpolate(a, scale_factor=1.5, mode=mode, align_corners=ac), [x])


def test_segment_sum_is_the_scatter_add():
    rng = np.random.default_rng(6)
    for n_in, n_out in [(4, 8), (5, 3), (3, 7), (6, 6), (1, 4), (9, 2)]:
        src = np.sort(rng.integers(0, n_in, n_out))
        g = rng.standard_normal((2, n_out, 3))
        expected = np.zeros((2, n_in, 3))
        np.add.at(expected, (slice(None), src), g)
        np.testing.assert_allclose(_segment_sum(g, src, n_in, axis=1), expected, rtol=1e-12, atol=1e-12)
        k = max(n_out // n_in, 1)
        src = np.arange(n_in * k) // k  # the integer-upscaling fast path
        g = rng.standard_normal((2, n_in * k))
        expected = np.zeros((2, n_in))
        np.add.at(expected, (slice(None), src), g)
        np.testing.assert_allclose(_segment_sum(g, src, n_in, axis=1), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- errors
def _same_error(md_call, torch_call, *fragments):
    """torch raises; minidl raises an instance of the same type whose message has every fragment."""
    with pytest.raises(Exception) as t_info:
        torch_call()
    with pytest.raises(type(t_info.value)) as m_info:
        md_call()
    msg = str(m_info.value)
    for f in fragments:
        assert re.search(f, msg), f"{f!r} not in {msg!r}"
    return msg


X4 = np.random.default_rng(7).standard_normal((1, 2, 3, 3)).astype(np.float32)


@pytest.mark.parametrize("kwargs, fragments", [
    (dict(size=4, scale_factor=2), ["only one of size or scale_factor should be defined"]),
    (dict(), ["either size or scale_factor should be defined"]),
    (dict(size=4, align_corners=True), ["align_corners option can only be set with the interpolating modes"]),
    (dict(size=4, mode="nearest-exact", align_corners=False), ["align_corners option can only be set"]),
    (dict(size=(2, 2, 2)), ["same number of spatial dimensions", r"\[3, 3\]"]),
    (dict(scale_factor=(2, 2, 2)), ["same number of spatial dimensions"]),
    (dict(size=(2.0, 2)), ["expected size to be one of int"]),
    (dict(size=0), ["Input and output sizes should be greater than 0", "H: 3, W: 3", "H: 0, W: 0"]),
    (dict(scale_factor=0.2), ["Input and output sizes should be greater than 0"]),
    (dict(size=4, mode="linear"), ["Got 4D input, but linear mode needs 3D input"]),
    (dict(size=4, mode="trilinear"), ["Got 4D input, but trilinear mode needs 5D input"]),
    (dict(size=4, mode="bogus"), ["Only 3D, 4D and 5D input Tensors supported", "bogus"]),
    (dict(size=4, recompute_scale_factor=True), ["recompute_scale_factor is not meaningful with an explicit size"]),
    (dict(size=4, mode="nearest", antialias=True), ["Anti-alias option is restricted"]),
])  # fmt: skip
def test_interpolate_errors(kwargs, fragments):
    _same_error(lambda: interpolate(md.tensor(X4), **kwargs), lambda: F.interpolate(torch.tensor(X4), **kwargs),
                *fragments)  # fmt: skip


def test_interpolate_errors_for_shapes_and_dtypes():
    _same_error(lambda: interpolate(md.tensor(X4[0]), size=4, mode="bilinear"),
                lambda: F.interpolate(torch.tensor(X4[0]), size=4, mode="bilinear"),
                "Got 3D input, but bilinear mode needs 4D input")  # fmt: skip
    _same_error(lambda: interpolate(md.tensor(X4[0, 0]), size=4),
                lambda: F.interpolate(torch.tensor(X4[0, 0]), size=4), r"got 2D")  # fmt: skip
    _same_error(lambda: interpolate(md.tensor(X4).long(), size=4),
                lambda: F.interpolate(torch.tensor(X4).long(), size=4), "int64")  # fmt: skip
    empty_c = np.zeros((1, 0, 3, 3), np.float32)
    _same_error(lambda: interpolate(md.tensor(empty_c), size=4), lambda: F.interpolate(torch.tensor(empty_c), size=4),
                "Non-empty 4D data tensor expected")  # fmt: skip
    empty_h = np.zeros((1, 2, 0, 3), np.float32)
    _same_error(lambda: interpolate(md.tensor(empty_h), size=4), lambda: F.interpolate(torch.tensor(empty_h), size=4),
                "greater than 0")  # fmt: skip
    with pytest.raises(NotImplementedError, match="bicubic"):
        interpolate(md.tensor(X4), size=4, mode="bicubic")


# ---------------------------------------------------------------------------- padding layers
_PADS = [
    ("ZeroPad1d", (), 3, [1, (2, 0), (-1, 2)]),
    ("ZeroPad2d", (), 4, [2, (1, 2, 0, 3), (-1, 1, 2, -2)]),
    ("ZeroPad3d", (), 5, [1, (1, 0, 2, 1, 0, 1)]),
    ("ConstantPad1d", (2.5,), 3, [2, (0, 3)]),
    ("ConstantPad2d", (-1.5,), 4, [1, (3, 1, 0, 2), (-1, 0, 1, 1)]),
    ("ConstantPad3d", (3,), 5, [1, (0, 1, 1, 0, 2, 0)]),
    ("ReflectionPad1d", (), 3, [2, (0, 3), (-1, 2)]),
    ("ReflectionPad2d", (), 4, [1, (3, 1, 0, 2), (2, -1, 1, 3)]),
    ("ReflectionPad3d", (), 5, [1, (0, 2, 1, 0, 2, 1)]),
    ("ReplicationPad1d", (), 3, [3, (0, 4)]),
    ("ReplicationPad2d", (), 4, [2, (4, 1, 0, 3), (-1, 2, 3, -2)]),
    ("ReplicationPad3d", (), 5, [1, (2, 0, 1, 3, 0, 1)]),
    ("CircularPad1d", (), 3, [2, (0, 3)]),
    ("CircularPad2d", (), 4, [1, (3, 1, 0, 2)]),
    ("CircularPad3d", (), 5, [1, (0, 2, 1, 0, 2, 1)]),
]


@pytest.mark.parametrize("name, extra, ndim, paddings", _PADS)
@given(data=st.data())
def test_padding_layers_match_torch(name, extra, ndim, paddings, data):
    padding = data.draw(st.sampled_from(paddings))
    batched = data.draw(st.booleans())
    spatial = tuple(data.draw(st.integers(4, 5)) for _ in range(ndim - 2))
    shape = ((2,) if batched else ()) + (data.draw(st.integers(1, 3)),) + spatial
    x = data.draw(arrays(shape=shape))
    mine, theirs = getattr(P, name)(padding, *extra), getattr(tnn, name)(padding, *extra)
    assert repr(mine) == repr(theirs)
    assert mine.padding == theirs.padding
    check_op(lambda a: mine(a), [x], torch_fn=lambda a: theirs(a))


def test_padding_layer_errors():
    x = md.tensor(np.zeros((1, 3, 4, 4), np.float32))
    tx = torch.zeros((1, 3, 4, 4))
    _same_error(lambda: P.ReflectionPad2d(4)(x), lambda: tnn.ReflectionPad2d(4)(tx), "4")
    x5, tx5 = md.tensor(np.zeros((1, 2, 3, 4, 4), np.float32)), torch.zeros((1, 2, 3, 4, 4))
    _same_error(lambda: P.ReflectionPad2d(1)(x5), lambda: tnn.ReflectionPad2d(1)(tx5),
                "Padding size 4 is not supported for 5D input")  # fmt: skip
    _same_error(lambda: P.ReplicationPad1d(1)(x), lambda: tnn.ReplicationPad1d(1)(tx),
                "Padding size 2 is not supported for 4D input")  # fmt: skip
    _same_error(lambda: P.CircularPad2d(1)(x5), lambda: tnn.CircularPad2d(1)(tx5), "expected 3D or 4D input")
    empty, tempty = md.tensor(np.zeros((2, 0, 4, 4), np.float32)), torch.zeros((2, 0, 4, 4))
    _same_error(lambda: P.ReflectionPad2d(1)(empty), lambda: tnn.ReflectionPad2d(1)(tempty),
                r"possibly 0 batch size and other non-zero dimensions")  # fmt: skip
    _same_error(lambda: P.ZeroPad2d((1, 2, 3))(x), lambda: tnn.ZeroPad2d((1, 2, 3))(tx), "divisible by 2")
    _same_error(lambda: P.ZeroPad2d(1.5)(x), lambda: tnn.ZeroPad2d(1.5)(tx), "int")
    # a batch of zero samples is fine
    check_op(lambda a: P.ReflectionPad2d(1)(a), [np.zeros((0, 2, 3, 3), np.float32)],
             torch_fn=lambda a: tnn.ReflectionPad2d(1)(a))  # fmt: skip

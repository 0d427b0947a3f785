"""im2col convolutions one sample at a time (minidl/backend/numba_conv.py), through conv2d.

- conv2d takes the path exactly where ``applies`` says (numba on, numpy floats, enough windows per
  sample, not a strided 1x1 kernel) and then matches torch forward and backward over hypothesis-drawn
  kernels, strides, paddings, dilations and groups, batched and unbatched, float32 and float64, with
  any subset of the inputs requiring grad, on one thread and on several;
- a plain 1x1 convolution (x[n] its own columns) and a course CNN's first layer at full size;
- float64 gradcheck through it;
- ``MINIDL_NUMBA=0`` (the numba switch) keeps every convolution on the sliced im2col path.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings

from minidl.backend import numba_kernels_or_none
from minidl.ops import conv as conv_ops
from minidl.ops.conv import conv2d
from tests.helpers import check_gradcheck, check_op, numba_path
from tests.nn.test_conv import _check_conv, _tol, conv_setup

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

TOL32 = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(autouse=True)
def numba_on():
    with numba_path(True):
        if numba_kernels_or_none() is None:
            pytest.skip("numba cannot be imported here")
        yield


@pytest.fixture
def nc():
    from minidl.backend import numba_conv

    return numba_conv


@pytest.fixture
def calls(nc, monkeypatch):
    """Count the conv forwards and backwards that take the per-sample path."""
    count = {"forward": 0, "backward": 0}
    for name in count:
        real = getattr(nc, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            count[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(nc, name, spy)
    return count


@pytest.fixture
def any_size(nc, monkeypatch):
    """Let every plane size take the path (small, fast test cases)."""
    monkeypatch.setattr(nc, "MIN_WINDOWS", 1)


# the fixtures hold for every example (a patched threshold, a call counter that only grows)
shared_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@shared_fixtures
@given(setup=conv_setup())
def test_conv2d_on_the_per_sample_path_matches_torch(any_size, calls, nc, setup):
    x, w, b, kw = setup
    kernels = []  # the kernels conv2d asked about: the drawn one, or its taps that read the input (_live_taps)
    real = nc.applies
    with mock.patch.object(nc, "applies", lambda x, w, size: kernels.append(w.shape[2:]) or real(x, w, size)):
        before = calls["forward"]
        _check_conv(x, w, b, kw, **_tol(x.dtype))
    # every convolution but a strided or padded 1x1 one takes the path
    assert (calls["forward"] > before) or set(kernels) == {(1, 1)}


@shared_fixtures
@pytest.mark.parametrize("threads", [2, 3])
@given(setup=conv_setup())
def test_per_sample_path_over_threads_matches_torch(any_size, calls, threads, setup):
    """Every batch cut into ranges of samples that the threads take in turn."""
    x, w, b, kw = setup
    with mock.patch.object(conv_ops.threads, "PARALLEL_MIN_BYTES", 0), \
            mock.patch.object(conv_ops.threads, "get_num_threads", lambda: threads):  # fmt: skip
        _check_conv(x, w, b, kw, **_tol(x.dtype))


@shared_fixtures
@given(setup=conv_setup(dtype=np.float32))
def test_per_sample_path_unbatched_input(any_size, setup):
    x, w, b, kw = setup
    _check_conv(x[0], w, b, kw, **TOL32)


@pytest.mark.parametrize("requires_grad", [[True, False, False], [False, True, False], [False, False, True],
                                           [False, True, True], [True, True, False], [True, True, True]])  # fmt: skip
@pytest.mark.parametrize("kernel, stride", [(3, 1), (3, 2), (1, 1)])
def test_only_some_inputs_require_grad(any_size, calls, requires_grad, kernel, stride):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((6, 2, kernel, kernel)), rng.standard_normal(6)
    padding = kernel // 2
    check_op(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=padding, groups=2), [x, w, b],
             torch_fn=lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, groups=2),
             requires_grad=requires_grad)  # fmt: skip
    assert calls["forward"] == 1
    assert calls["backward"] == 1


def test_plain_1x1_layer_float32(calls):
    """ResNet's 1x1 layers at 16x16 take the path with the default threshold, x[n] as its own columns."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 64, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 64, 1, 1)) / 8).astype(np.float32)
    _check_conv(x, w, rng.standard_normal(32).astype(np.float32), {}, **TOL32)
    assert calls == {"forward": 1, "backward": 1}


def test_course_first_layer_float32(calls):
    """The course CNN's first layer (3 -> 32, 3x3, padding 1, 32x32) with the default threshold."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    w = (rng.standard_normal((32, 3, 3, 3)) / 5).astype(np.float32)
    _check_conv(x, w, rng.standard_normal(32).astype(np.float32), {"padding": 1}, **TOL32)
    assert calls == {"forward": 1, "backward": 1}


@pytest.mark.parametrize(
    "kw", [dict(padding=1), dict(stride=2, padding=(2, 1), dilation=(2, 1)), dict(groups=2, padding="same"), {}],
)
def test_gradcheck_float64(any_size, calls, kw):
    rng = np.random.default_rng(4)
    kernel = (3, 3) if kw else (1, 1)  # {}: a plain 1x1 convolution
    x, b = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal(4)
    w = rng.standard_normal((4, 4 // kw.get("groups", 1), *kernel))
    check_gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b])
    assert calls["forward"] > 0


@pytest.mark.parametrize(
    "shape, weight, kw, taken",
    [
        ((2, 3, 16, 16), (8, 3, 3, 3), dict(padding=1), True),  # 256 windows a sample
        ((2, 3, 16, 16), (8, 3, 3, 3), {}, False),  # 14x14 = 196 < MIN_WINDOWS
        ((2, 8, 16, 16), (8, 8, 1, 1), {}, True),  # plain 1x1
        ((2, 8, 32, 32), (8, 8, 1, 1), dict(stride=2), False),  # strided 1x1: the sliced path keeps its columns
        ((2, 8, 16, 16), (8, 8, 1, 1), dict(padding=1), False),  # padded 1x1
        ((2, 3, 40, 40), (8, 3, 5, 5), dict(stride=2), True),  # 18x18
    ],
)
def test_path_taken_only_where_it_applies(calls, shape, weight, kw, taken):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(weight).astype(np.float32)
    _check_conv(x, w, None, kw, **TOL32)
    assert (calls["forward"] == 1) is taken


def test_float16_and_numba_off_keep_the_sliced_path(any_size, calls, nc):
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    assert not nc.applies(x.astype(np.float16), w.astype(np.float16), (6, 6))
    assert not nc.applies(x.astype(np.float32), w, (6, 6))  # mixed dtypes
    with numba_path(False):
        _check_conv(x, w, None, {})
    assert calls["forward"] == 0
    _check_conv(x, w, None, {})
    assert calls["forward"] == 1


def test_empty_batch_keeps_the_sliced_path(calls, nc):
    """An empty batch (a large plane, no samples) gives torch's empty output and gradients."""
    rng = np.random.default_rng(7)
    x, w = np.zeros((0, 3, 16, 16), np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    assert not nc.applies(x, w, (16, 16))
    _check_conv(x, w, rng.standard_normal(4).astype(np.float32), {"padding": 1}, **TOL32)
    assert calls["forward"] == 0

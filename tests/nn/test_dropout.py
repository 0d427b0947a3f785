"""dropout, dropout2d, Dropout, Dropout2d.

torch's random stream is another algorithm, so masks cannot be compared with torch's;
these tests compare structure and statistics instead: the fraction zeroed, the scale of
the kept values (the same float as torch's), eval is the identity, the gradient is the
mask times the scale, a seed repeats a mask, and Dropout2d zeroes whole channels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.nn.modules.dropout import Dropout, Dropout2d
from minidl.ops.dropout import dropout, dropout2d
from tests.strategies import arrays, shapes

PS = [0.1, 0.5, 0.9]


def positive(shape, dtype=np.float32, seed=0):
    """Values in [1, 2): never zero, so a zero in the output is a dropped element."""
    return (np.random.default_rng(seed).random(shape) + 1).astype(dtype)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_statistics_and_scale_match_torch(p, dtype):
    x = positive((400, 500), dtype)
    md.manual_seed(0)
    out = dropout(md.tensor(x), p).numpy()
    t_out = torch.nn.functional.dropout(torch.tensor(x), p).numpy()
    assert out.dtype == dtype
    n = x.size
    zeroed = (out == 0).mean()
    assert abs(zeroed - p) < 5 * np.sqrt(p * (1 - p) / n), f"fraction zeroed {zeroed} for p={p}"
    kept = out != 0
    # kept values are x * (1 / (1 - p)) rounded to the dtype once: the same floats as torch's
    scale = dtype(1 / (1 - p))
    np.testing.assert_array_equal(out[kept], x[kept] * scale)
    t_kept = t_out != 0
    np.testing.assert_array_equal(t_out[t_kept], x[t_kept] * scale)
    assert abs(zeroed - (t_out == 0).mean()) < 10 * np.sqrt(p * (1 - p) / n)


@given(data=st.data(), p=st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0]), seed=st.integers(0, 2**31))
def test_dropout_output_and_gradient_are_mask_times_scale(data, p, seed):
    x = data.draw(arrays(shape=data.draw(shapes(min_dims=0, max_dims=4, max_side=6))))
    md.manual_seed(seed)
    mx = md.tensor(x, requires_grad=True)
    out = dropout(mx, p)
    o = out.detach().numpy()
    assert o.shape == x.shape and o.dtype == x.dtype
    scale = x.dtype.type(1 / (1 - p)) if p < 1 else x.dtype.type(0)
    mask = (o != 0) | (x == 0)  # x == 0 drawn by chance: either way the output is 0
    np.testing.assert_array_equal(o, np.where(mask, x * scale, 0))
    g = np.random.default_rng(seed).standard_normal(x.shape).astype(x.dtype)
    out.backward(md.tensor(g))
    kept = o != 0
    expected = np.where(kept, g * scale, 0)
    np.testing.assert_array_equal(mx.grad.numpy()[kept | (x != 0)], expected[kept | (x != 0)])
    if p == 1:
        assert not np.any(o) and not np.any(mx.grad.numpy())


def test_dropout_gradient_is_the_saved_mask():
    md.manual_seed(3)
    x = md.tensor(positive((50, 40)), requires_grad=True)
    out = dropout(x, 0.3)
    out.backward(md.ones(50, 40))
    mask = (out.detach().numpy() != 0) * np.float32(1 / 0.7)
    np.testing.assert_array_equal(x.grad.numpy(), mask)


def test_eval_is_identity_and_p0_too():
    x = md.tensor(positive((3, 4)), requires_grad=True)
    assert dropout(x, 0.5, training=False) is x  # as torch: the input itself
    assert dropout(x, 0.0) is x
    assert torch.nn.functional.dropout(torch.ones(2), 0.5, training=False).equal(torch.ones(2))
    layer = Dropout(0.7).eval()
    np.testing.assert_array_equal(layer(x).detach().numpy(), x.detach().numpy())
    layer2d = Dropout2d(0.7).eval()
    y = md.tensor(positive((2, 3, 4, 4)))
    assert layer2d(y) is y


def test_same_seed_same_mask_and_draws_from_minidl_generator():
    x = md.tensor(positive((64, 64)))
    md.manual_seed(123)
    a = dropout(x, 0.5).numpy()
    b = dropout(x, 0.5).numpy()
    md.manual_seed(123)
    c = dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b), "the generator must advance between calls"
    md.manual_seed(123)
    d = Dropout2d(0.5)(md.tensor(positive((8, 16, 3, 3)))).numpy()
    md.manual_seed(123)
    e = dropout2d(md.tensor(positive((8, 16, 3, 3))), 0.5).numpy()
    np.testing.assert_array_equal(d, e)
    # the state of minidl's generator decides the mask
    md.manual_seed(5)
    state = md.random.get_rng_state()
    f = dropout(x, 0.5).numpy()
    md.random.set_rng_state(state)
    np.testing.assert_array_equal(dropout(x, 0.5).numpy(), f)


@pytest.mark.parametrize("p", PS)
def test_dropout2d_zeroes_whole_channels(p):
    md.manual_seed(1)
    x = positive((64, 32, 5, 5))
    mx = md.tensor(x, requires_grad=True)
    out = dropout2d(mx, p)
    o = out.detach().numpy()
    zero = (o == 0).all(axis=(2, 3))
    assert np.array_equal(zero, (o == 0).any(axis=(2, 3))), "a channel is dropped whole or kept whole"
    np.testing.assert_array_equal(o[~zero], x[~zero] * np.float32(1 / (1 - p)))
    assert abs(zero.mean() - p) < 5 * np.sqrt(p * (1 - p) / zero.size)
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    out.backward(md.tensor(g))
    np.testing.assert_array_equal(mx.grad.numpy(), np.where(zero[:, :, None, None], 0, g * np.float32(1 / (1 - p))))
    # torch's mask has the same structure
    t = torch.nn.functional.dropout2d(torch.tensor(x), p).numpy()
    assert np.array_equal((t == 0).all(axis=(2, 3)), (t == 0).any(axis=(2, 3)))


def test_dropout2d_3d_input_is_read_as_n_c_l_like_torch():
    x = positive((6, 7, 9))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        o = dropout2d(md.tensor(x), 0.5).numpy()
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        t = torch.nn.functional.dropout2d(torch.tensor(x), 0.5).numpy()
    for out in (o, t):  # rows [i, j, :] are dropped whole
        assert np.array_equal((out == 0).all(axis=2), (out == 0).any(axis=2))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        dropout2d(md.tensor(positive((4, 5))), 0.5)


def test_p_one_gives_zeros_and_zero_gradient():
    x = md.tensor(positive((4, 5)), requires_grad=True)
    out = dropout(x, 1.0)
    assert not np.any(out.detach().numpy())
    out.backward(md.ones(4, 5))
    assert not np.any(x.grad.numpy())
    assert not np.any(dropout2d(md.tensor(positive((2, 3, 4, 4))), 1.0).numpy())


def test_inplace():
    md.manual_seed(0)
    x = md.tensor(positive((20, 20)))
    before = x.numpy().copy()
    out = dropout(x, 0.5, inplace=True)
    assert out is x
    o = x.numpy()
    assert (o == 0).any()
    np.testing.assert_array_equal(o[o != 0], before[o != 0] * np.float32(2))
    # inside a graph: a non-leaf takes the result and its history
    w = md.tensor(positive((20, 20)), requires_grad=True)
    h = w * 1
    out = Dropout(0.5, inplace=True)(h)
    out.backward(md.ones(20, 20))
    np.testing.assert_array_equal(w.grad.numpy(), (out.detach().numpy() != 0) * np.float32(2))
    with pytest.raises(RuntimeError, match="leaf"):
        dropout(md.tensor(positive((2, 2)), requires_grad=True), 0.5, inplace=True)


def test_layers_repr_and_modes():
    assert repr(Dropout()) == repr(torch.nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(Dropout2d(0.3, inplace=True)) == repr(torch.nn.Dropout2d(0.3, inplace=True))
    layer = Dropout(0.5)
    x = md.tensor(positive((30, 30)))
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert (layer(x).numpy() == 0).any()


def test_errors():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
            dropout(md.ones(3), p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            dropout2d(md.ones(2, 3, 4, 4), p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            Dropout(p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            Dropout2d(p)
        with pytest.raises(ValueError):
            torch.nn.Dropout(p)
    with pytest.raises(TypeError):
        dropout([1.0, 2.0], 0.5)
    with pytest.raises(RuntimeError, match="floating point"):
        dropout(md.arange(5), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="at least 2 dimensions"):
            dropout2d(md.ones(5), 0.5)

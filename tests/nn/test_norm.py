"""BatchNorm1d/2d/3d, LayerNorm and their functional forms against torch.

Layers are compared after copying torch's state (``load_state_dict`` with numpy arrays),
over several training steps and then eval: outputs, every gradient under a *random*
upstream gradient (the gradient of ``out.sum()`` through a normalisation is ~0), and the
running statistics after each step. Finite differences check the float64 gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.errors import ShapeError
from minidl.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from minidl.nn.modules.normalization import LayerNorm
from minidl.ops.norm import batch_norm, layer_norm
from tests.helpers import assert_close, check_gradcheck, check_op
from tests.strategies import float_dtypes

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-9)}
LAYERS = {  # input rank -> (minidl layer, torch layer)
    2: (BatchNorm1d, torch.nn.BatchNorm1d),
    3: (BatchNorm1d, torch.nn.BatchNorm1d),
    4: (BatchNorm2d, torch.nn.BatchNorm2d),
    5: (BatchNorm3d, torch.nn.BatchNorm3d),
}


def copy_state(m_layer, t_layer) -> None:
    m_layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})


def batch(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Per-channel shifted and scaled normals, so the statistics are far from (0, 1)."""
    c = shape[1]
    loc = rng.uniform(-3, 3, size=(1, c) + (1,) * (len(shape) - 2))
    scale = rng.uniform(0.5, 3, size=loc.shape)
    return (rng.standard_normal(shape) * scale + loc).astype(dtype)


@st.composite
def bn_configs(draw):
    rank = draw(st.sampled_from([2, 3, 4, 5]))
    c = draw(st.integers(1, 4))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(rank - 2))
    n_min = 2 if math.prod(spatial) == 1 else 1  # training needs more than 1 value per channel
    n = draw(st.integers(n_min, 4))
    return dict(
        shape=(n, c, *spatial),
        eps=draw(st.sampled_from([1e-5, 1e-3, 0.1])),
        momentum=draw(st.sampled_from([0.1, 0.5, None, 0.0, 1.0])),
        affine=draw(st.booleans()),
        track=draw(st.booleans()),
        dtype=draw(float_dtypes),
        steps=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@given(cfg=bn_configs())
def test_batchnorm_layer_matches_torch(cfg):
    shape, dtype = cfg["shape"], cfg["dtype"]
    rng = np.random.default_rng(cfg["seed"])
    m_cls, t_cls = LAYERS[len(shape)]
    kwargs = dict(eps=cfg["eps"], momentum=cfg["momentum"], affine=cfg["affine"], track_running_stats=cfg["track"])
    t_bn = t_cls(shape[1], **kwargs).to(torch.float64 if dtype == np.float64 else torch.float32)
    m_bn = m_cls(shape[1], **kwargs, dtype=dtype)
    if cfg["affine"]:  # not the ones/zeros init, so a swapped weight and bias would show
        with torch.no_grad():
            t_bn.weight.copy_(torch.tensor(rng.uniform(0.5, 2, shape[1])))
            t_bn.bias.copy_(torch.tensor(rng.uniform(-1, 1, shape[1])))
    assert list(m_bn.state_dict()) == list(t_bn.state_dict())
    copy_state(m_bn, t_bn)
    tol = TOL[dtype]

    def step(what):
        x = batch(rng, shape, dtype)
        g = rng.standard_normal(shape).astype(dtype)
        mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        m_bn.zero_grad()
        t_bn.zero_grad()
        m_out, t_out = m_bn(mx), t_bn(tx)
        assert_close(m_out, t_out, what=f"{what}: output", **tol)
        m_out.backward(md.tensor(g))
        t_out.backward(torch.tensor(g))
        assert_close(mx.grad, tx.grad, what=f"{what}: input gradient", **tol)
        for name, tp in t_bn.named_parameters():
            mp = getattr(m_bn, name)
            assert mp.grad is not None, f"{what}: no gradient for {name}"
            assert_close(mp.grad, tp.grad, what=f"{what}: {name} gradient", **tol)
        t_state = t_bn.state_dict()
        m_state = m_bn.state_dict()
        assert list(m_state) == list(t_state)
        for k in t_state:
            assert_close(m_state[k], t_state[k], what=f"{what}: {k}", **tol)

    for i in range(cfg["steps"]):
        step(f"training step {i}")
    m_bn.eval()
    t_bn.eval()
    step("eval")
    m_bn.train()
    t_bn.train()
    step("training after eval")


def test_batchnorm2d_repeated_steps_float32_and_dtypes():
    """A realistic float32 layer over 5 steps; everything stays float32."""
    rng = np.random.default_rng(0)
    t_bn = torch.nn.BatchNorm2d(8, momentum=None)
    m_bn = BatchNorm2d(8, momentum=None)
    copy_state(m_bn, t_bn)
    for _ in range(5):
        x = batch(rng, (16, 8, 6, 6), np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        mo, to = m_bn(mx), t_bn(tx)
        mo.backward(md.tensor(g))
        to.backward(torch.tensor(g))
        assert_close(mo, to, 1e-4, 1e-4, "output")
        assert_close(mx.grad, tx.grad, 1e-4, 1e-4, "input gradient")
    for k, v in t_bn.state_dict().items():
        assert_close(m_bn.state_dict()[k], v, 1e-4, 1e-4, k)
    assert m_bn.weight.grad.dtype == md.float32 and m_bn.bias.grad.dtype == md.float32
    assert m_bn.running_var.dtype == md.float32
    assert int(m_bn.num_batches_tracked.item()) == 5


def test_running_var_is_unbiased_and_momentum_none_is_cumulative():
    rng = np.random.default_rng(1)
    bn = BatchNorm1d(3, momentum=None, dtype=md.float64)
    xs = [rng.standard_normal((5, 3)) for _ in range(4)]
    for x in xs:
        bn(md.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in xs], axis=0), rtol=1e-5)
    bn = BatchNorm1d(3, momentum=0.1, dtype=md.float64)
    x = xs[0]
    out = bn(md.tensor(x))
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    # the output uses the biased variance
    np.testing.assert_allclose(out.detach().numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_functional_batch_norm_matches_torch(training, shape, affine):
    rng = np.random.default_rng(2)
    c = shape[1]
    x = batch(rng, shape, np.float64)
    w, b = rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    m_rm, m_rv, t_rm, t_rv = md.tensor(rm), md.tensor(rv), torch.tensor(rm), torch.tensor(rv)
    if affine:
        check_op(
            lambda x, w, b: batch_norm(x, m_rm, m_rv, w, b, training, 0.3, 1e-3),
            [x, w, b],
            torch_fn=lambda x, w, b: torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b, training, 0.3, 1e-3),
        )
    else:
        check_op(
            lambda x: batch_norm(x, m_rm, m_rv, None, None, training, 0.3, 1e-3),
            [x],
            torch_fn=lambda x: torch.nn.functional.batch_norm(x, t_rm, t_rv, None, None, training, 0.3, 1e-3),
        )
    # check_op ran one forward on each side: the running stats moved the same way
    assert_close(m_rm, t_rm, 1e-9, 1e-9, "running_mean")
    assert_close(m_rv, t_rv, 1e-9, 1e-9, "running_var")


def test_functional_batch_norm_without_running_stats_float32():
    x = batch(np.random.default_rng(3), (6, 4, 3), np.float32)
    check_op(
        lambda x: batch_norm(x, None, None, training=True),
        [x],
        torch_fn=lambda x: torch.nn.functional.batch_norm(x, None, None, training=True),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 2, 2, 3)])
def test_batch_norm_gradcheck_training(shape):
    rng = np.random.default_rng(4)
    c = shape[1]
    x, w, b = batch(rng, shape, np.float64), rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)
    check_gradcheck(lambda x, w, b: batch_norm(x, None, None, w, b, training=True, eps=1e-3), [x, w, b])
    check_gradcheck(lambda x: batch_norm(x, None, None, training=True), [x])


@pytest.mark.parametrize("shape", [(4, 3), (2, 2, 2, 3)])
def test_batch_norm_gradcheck_eval(shape):
    rng = np.random.default_rng(5)
    c = shape[1]
    x, w, b = batch(rng, shape, np.float64), rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)
    rm, rv = md.tensor(rng.standard_normal(c)), md.tensor(rng.uniform(0.5, 2, c))
    check_gradcheck(lambda x, w, b: batch_norm(x, rm, rv, w, b, training=False), [x, w, b])


@pytest.mark.parametrize(("shape", "normalized"), [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 2, 2, 3), (3,))])
def test_layer_norm_gradcheck(shape, normalized):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.uniform(0.5, 2, normalized), rng.uniform(-1, 1, normalized)
    check_gradcheck(lambda x, w, b: layer_norm(x, normalized, w, b, eps=1e-3), [x, w, b])
    check_gradcheck(lambda x: layer_norm(x, normalized), [x])


@st.composite
def ln_configs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    return dict(
        shape=shape,
        normalized=shape[len(shape) - k :],
        eps=draw(st.sampled_from([1e-5, 1e-2])),
        affine=draw(st.booleans()),
        bias=draw(st.booleans()),
        dtype=draw(float_dtypes),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


@given(cfg=ln_configs())
def test_layernorm_layer_matches_torch(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype, shape, normalized = cfg["dtype"], cfg["shape"], cfg["normalized"]
    t_dtype = torch.float64 if dtype == np.float64 else torch.float32
    kwargs = dict(eps=cfg["eps"], elementwise_affine=cfg["affine"], bias=cfg["bias"])
    t_ln = torch.nn.LayerNorm(normalized, **kwargs).to(t_dtype)
    m_ln = LayerNorm(normalized, **kwargs, dtype=dtype)
    with torch.no_grad():
        for p in t_ln.parameters():
            p.copy_(torch.tensor(rng.uniform(0.5, 1.5, p.shape)))
    copy_state(m_ln, t_ln)
    assert repr(m_ln) == repr(t_ln)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mo, to = m_ln(mx), t_ln(tx)
    tol = TOL[dtype]
    assert_close(mo, to, what="output", **tol)
    mo.backward(md.tensor(g))
    to.backward(torch.tensor(g))
    assert_close(mx.grad, tx.grad, what="input gradient", **tol)
    for name, tp in t_ln.named_parameters():
        assert_close(getattr(m_ln, name).grad, tp.grad, what=f"{name} gradient", **tol)


def test_layer_norm_functional_int_shape_and_float32():
    x = np.random.default_rng(7).standard_normal((3, 6)).astype(np.float32)
    check_op(lambda x: layer_norm(x, 6), [x], torch_fn=lambda x: torch.nn.functional.layer_norm(x, (6,)))


# ---------------------------------------------------------------------------- layer details
def test_batchnorm_parameters_buffers_and_repr():
    for m_cls, t_cls in [(BatchNorm1d, torch.nn.BatchNorm1d), (BatchNorm2d, torch.nn.BatchNorm2d)]:
        for kwargs in [{}, dict(eps=1e-3, momentum=None), dict(affine=False, track_running_stats=False),
                       dict(momentum=0.5, bias=False)]:  # fmt: skip
            m, t = m_cls(64, **kwargs), t_cls(64, **kwargs)
            assert repr(m) == repr(t)
            assert list(m.state_dict()) == list(t.state_dict())
            for k, v in t.state_dict().items():
                assert_close(m.state_dict()[k], v, 0, 0, k)
            assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    bn = BatchNorm2d(64)
    assert repr(bn) == "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == md.int64 and bn.num_batches_tracked.shape == ()
    off = BatchNorm2d(4, track_running_stats=False)
    assert off.running_mean is None and off.running_var is None and off.num_batches_tracked is None


def test_batchnorm_eval_without_tracking_uses_batch_stats():
    x = batch(np.random.default_rng(8), (5, 3, 2, 2), np.float32)
    m, t = BatchNorm2d(3, track_running_stats=False).eval(), torch.nn.BatchNorm2d(3, track_running_stats=False).eval()
    assert_close(m(md.tensor(x)), t(torch.tensor(x)), 1e-4, 1e-5, "output")


def test_batchnorm_eval_accepts_batch_of_one_and_training_does_not_count_it():
    bn = BatchNorm1d(3)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(md.randn(1, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        batch_norm(md.randn(1, 3, 1), None, None, training=True)
    bn(md.randn(1, 3, 2))  # (1, C, L) with L > 1 is fine
    bn.eval()
    assert bn(md.randn(1, 3)).shape == (1, 3)


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        BatchNorm1d(3)(md.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        BatchNorm2d(3)(md.randn(2, 3, 4))
    with pytest.raises(RuntimeError, match=r"BatchNorm2d\(3\).*3 channels.*\(2, 4, 5, 5\)"):
        BatchNorm2d(3)(md.randn(2, 4, 5, 5))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*\(8, 5\)"):
        BatchNorm1d(3, affine=False)(md.randn(8, 5))
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        batch_norm(md.randn(2, 3), md.zeros(4), md.ones(4), training=True)
    with pytest.raises(RuntimeError, match="weight should contain 3 elements not 4"):
        batch_norm(md.randn(2, 3), None, None, md.ones(4), training=True)
    with pytest.raises(RuntimeError, match="evaluation mode"):
        batch_norm(md.randn(2, 3), None, None, training=False)
    with pytest.raises(RuntimeError, match="at least 2 dims"):
        batch_norm(md.randn(3), None, None, training=True)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        batch_norm(md.randn(2, 3, dtype=md.float64), md.zeros(3), md.ones(3), training=True)
    with pytest.raises(ValueError, match="eps must be positive during training"):
        batch_norm(md.randn(2, 3), None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be non-negative"):
        batch_norm(md.randn(2, 3), md.zeros(3), md.ones(3), training=False, eps=-1e-5)
    with pytest.raises(TypeError, match="momentum"):
        batch_norm(md.randn(2, 3), md.zeros(3), md.ones(3), training=True, momentum=None)


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"normalized_shape=\[4\], expected input with shape \[\*, 4\]"):
        layer_norm(md.randn(2, 3), (4,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape as normalized_shape"):
        layer_norm(md.randn(2, 3), (3,), weight=md.ones(4))
    with pytest.raises(RuntimeError, match="Expected bias to be of same shape"):
        layer_norm(md.randn(2, 3), (3,), bias=md.ones(2))
    with pytest.raises(RuntimeError, match="at least 1-dimensional"):
        layer_norm(md.randn(2, 3), ())
    with pytest.raises(RuntimeError, match="expected input with shape"):
        LayerNorm(5)(md.randn(5, 4))


def test_batch_norm_saved_values_survive_a_later_training_step():
    """Eval-mode backward uses the running stats of its forward, not later ones."""
    rng = np.random.default_rng(9)
    m, t = BatchNorm1d(2, dtype=md.float64), torch.nn.BatchNorm1d(2, dtype=torch.float64)
    copy_state(m, t)
    m.eval()
    t.eval()
    x = batch(rng, (4, 2), np.float64)
    mx, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mo, to = m(mx), t(tx)
    m.train()
    m(md.tensor(batch(rng, (4, 2), np.float64)))  # changes running stats in place
    g = rng.standard_normal((4, 2))
    mo.backward(md.tensor(g))
    to.backward(torch.tensor(g))
    assert_close(m.weight.grad, t.weight.grad, 1e-9, 1e-9, "weight gradient")
    assert_close(mx.grad, tx.grad, 1e-9, 1e-9, "input gradient")

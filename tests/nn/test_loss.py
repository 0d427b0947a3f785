"""Losses against torch: every loss in functional and module form, every reduction, class
weights, ignore_index (targets equal to it included), label smoothing, probability
targets, pos_weight broadcasting, (N, C, H, W) inputs; forward and every input gradient
with a random upstream gradient (check_op), float64 finite differences, and torch's
error types and messages for bad input."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl as md
from minidl.nn.modules import loss as L
from minidl.ops import loss as ops
from tests.helpers import check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes

REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


def _t(a):
    return None if a is None else torch.tensor(a)


def _m(a):
    return None if a is None else md.tensor(a)


# ---------------------------------------------------------------------------- strategies
@st.composite
def class_problem(draw, max_spatial: int = 2, dtype=None):
    """Logits (N, C, *d), integer targets (N, *d) (some equal to ignore_index), weight or None."""
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 6))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=max_spatial)))
    dtype = draw(float_dtypes) if dtype is None else dtype
    x = draw(arrays(shape=(n, c, *spatial), dtype=dtype, low=-4.0, high=4.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ignore_index = draw(st.sampled_from([-100, -1, 0, c - 1, 9]))
    target = rng.integers(0, c, size=(n, *spatial))
    target[rng.random(target.shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = ignore_index
    weight = rng.uniform(0.2, 2.0, c).astype(dtype) if draw(st.booleans()) else None
    return x, target, weight, ignore_index


@st.composite
def prob_problem(draw, dtype=None):
    """Logits (N, C, *d) and target probabilities of the same shape."""
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 5))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    dtype = draw(float_dtypes) if dtype is None else dtype
    x = draw(arrays(shape=(n, c, *spatial), dtype=dtype, low=-4.0, high=4.0))
    logits = draw(arrays(shape=x.shape, dtype=np.float64, low=-3.0, high=3.0))
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weight = rng.uniform(0.2, 2.0, c).astype(dtype) if draw(st.booleans()) else None
    return x, q.astype(dtype), weight


@st.composite
def fitting_shape(draw, shape):
    """A shape that broadcasts to ``shape`` without growing it (for weight / pos_weight)."""
    k = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - k :]
    return tuple(s if draw(st.booleans()) else 1 for s in tail)


# ---------------------------------------------------------------------------- cross_entropy
@given(case=class_problem(), reduction=REDUCTIONS, eps=st.sampled_from([0.0, 0.0, 0.1, 0.55, 1.0]))
def test_cross_entropy_class_indices(case, reduction, eps):
    x, target, weight, ii = case
    kw = dict(ignore_index=ii, reduction=reduction, label_smoothing=eps)
    check_op(
        lambda a: ops.cross_entropy(a, md.tensor(target), weight=_m(weight), **kw),
        [x],
        torch_fn=lambda a: F.cross_entropy(a, torch.tensor(target), weight=_t(weight), **kw),
    )
    check_op(
        lambda a: L.CrossEntropyLoss(weight=_m(weight), **kw)(a, md.tensor(target)),
        [x],
        torch_fn=lambda a: tnn.CrossEntropyLoss(weight=_t(weight), **kw)(a, torch.tensor(target)),
    )


@given(case=prob_problem(), reduction=REDUCTIONS, eps=st.sampled_from([0.0, 0.0, 0.2, 1.0]))
def test_cross_entropy_class_probabilities(case, reduction, eps):
    x, q, weight = case
    kw = dict(reduction=reduction, label_smoothing=eps)
    # gradients of both the logits and the target probabilities
    check_op(
        lambda a, b: ops.cross_entropy(a, b, weight=_m(weight), **kw),
        [x, q],
        torch_fn=lambda a, b: F.cross_entropy(a, b, weight=_t(weight), **kw),
    )
    check_op(
        lambda a, b: L.CrossEntropyLoss(weight=_m(weight), **kw)(a, b),
        [x, q],
        torch_fn=lambda a, b: tnn.CrossEntropyLoss(weight=_t(weight), **kw)(a, b),
    )


def test_cross_entropy_probabilities_weight_gradient():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float64)
    q = rng.dirichlet(np.ones(3), 4)
    w = rng.uniform(0.5, 2.0, 3)
    for red in ("none", "mean", "sum"):
        kw = dict(reduction=red, label_smoothing=0.3)
        check_op(lambda a, b, c, kw=kw: ops.cross_entropy(a, b, weight=c, **kw), [x, q, w],
                 torch_fn=lambda a, b, c, kw=kw: F.cross_entropy(a, b, weight=c, **kw))  # fmt: skip


@given(reduction=REDUCTIONS, eps=st.sampled_from([0.0, 0.3]), data=st.data())
def test_cross_entropy_unbatched(reduction, eps, data):
    c = data.draw(st.integers(1, 5))
    x = data.draw(arrays(shape=(c,)))
    t = np.int64(data.draw(st.integers(0, c - 1)))
    kw = dict(reduction=reduction, label_smoothing=eps)
    check_op(lambda a: ops.cross_entropy(a, md.tensor(t), **kw), [x],
             torch_fn=lambda a: F.cross_entropy(a, torch.tensor(t), **kw))  # fmt: skip
    check_op(lambda a: ops.nll_loss(a, md.tensor(t), reduction=reduction), [x],
             torch_fn=lambda a: F.nll_loss(a, torch.tensor(t), reduction=reduction))  # fmt: skip
    q = np.full(c, 1.0 / c, dtype=x.dtype)
    check_op(lambda a, b: ops.cross_entropy(a, b, **kw), [x, q], torch_fn=lambda a, b: F.cross_entropy(a, b, **kw))


def test_cross_entropy_every_target_ignored_is_nan_with_zero_gradient():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    t = np.full(3, -100)
    for eps in (0.0, 0.2):
        check_op(lambda a, eps=eps: ops.cross_entropy(a, md.tensor(t), label_smoothing=eps), [x],
                 torch_fn=lambda a, eps=eps: F.cross_entropy(a, torch.tensor(t), label_smoothing=eps))  # fmt: skip
    xm = md.tensor(x, requires_grad=True)
    loss = ops.cross_entropy(xm, md.tensor(t))
    loss.backward()
    assert np.isnan(loss.item()) and not xm.grad.numpy().any()


def test_cross_entropy_empty_batch():
    x = np.zeros((0, 3), np.float32)
    t = np.zeros(0, np.int64)
    for red in ("none", "mean", "sum"):
        check_op(lambda a, red=red: ops.cross_entropy(a, md.tensor(t), reduction=red), [x],
                 torch_fn=lambda a, red=red: F.cross_entropy(a, torch.tensor(t), reduction=red))  # fmt: skip


def test_cross_entropy_is_stable_and_one_node():
    x = np.array([[1e4, -1e4, 0.0], [-5e3, 5e3, 5e3]], dtype=np.float32)
    t = np.array([1, 2])
    check_op(lambda a: ops.cross_entropy(a, md.tensor(t)), [x],
             torch_fn=lambda a: F.cross_entropy(a, torch.tensor(t)))  # fmt: skip
    xm = md.tensor(x, requires_grad=True)
    loss = ops.cross_entropy(xm, md.tensor(t))
    assert np.isfinite(loss.item())
    # fused: the loss node links straight to the leaf (no log_softmax node in between)
    (node, _), = loss.grad_fn.next_functions
    assert node.name() == "AccumulateGrad"


def test_cross_entropy_uint8_target_and_float32_stays_float32():
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 2], dtype=np.uint8)
    check_op(lambda a: ops.cross_entropy(a, md.tensor(t)), [x], torch_fn=lambda a: F.cross_entropy(a, torch.tensor(t)))
    xm = md.tensor(x, requires_grad=True)
    ops.cross_entropy(xm, md.tensor(t)).backward()
    assert xm.grad.dtype == md.float32


def test_cross_entropy_probabilities_promote_like_torch():
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    q = np.full((2, 3), 1 / 3, dtype=np.float64)
    check_op(lambda a, b: ops.cross_entropy(a, b), [x, q], torch_fn=lambda a, b: F.cross_entropy(a, b))


# ---------------------------------------------------------------------------- nll_loss
@given(case=class_problem(), reduction=REDUCTIONS)
def test_nll_loss(case, reduction):
    x, target, weight, ii = case
    kw = dict(ignore_index=ii, reduction=reduction)
    check_op(lambda a: ops.nll_loss(a, md.tensor(target), weight=_m(weight), **kw), [x],
             torch_fn=lambda a: F.nll_loss(a, torch.tensor(target), weight=_t(weight), **kw))  # fmt: skip
    check_op(lambda a: L.NLLLoss(weight=_m(weight), **kw)(a, md.tensor(target)), [x],
             torch_fn=lambda a: tnn.NLLLoss(weight=_t(weight), **kw)(a, torch.tensor(target)))  # fmt: skip


def test_nll_loss_after_log_softmax_matches_cross_entropy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5, 2, 3)).astype(np.float32)
    t = rng.integers(0, 5, (6, 2, 3))
    w = rng.uniform(0.5, 2, 5).astype(np.float32)
    check_op(lambda a: ops.nll_loss(md.log_softmax(a, 1), md.tensor(t), weight=md.tensor(w)), [x],
             torch_fn=lambda a: F.cross_entropy(a, torch.tensor(t), weight=torch.tensor(w)))  # fmt: skip


# ---------------------------------------------------------------------------- binary cross-entropy
@given(data=st.data(), reduction=REDUCTIONS)
def test_binary_cross_entropy(data, reduction):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    dtype = data.draw(float_dtypes)
    x = data.draw(arrays(shape=shape, dtype=dtype, low=0.02, high=0.98))
    y = data.draw(arrays(shape=shape, dtype=dtype, low=0.0, high=1.0))
    w = data.draw(arrays(shape=data.draw(fitting_shape(shape)), dtype=dtype, low=0.1, high=2)) if data.draw(
        st.booleans()) else None  # fmt: skip
    check_op(lambda a, b: ops.binary_cross_entropy(a, b, weight=_m(w), reduction=reduction), [x, y],
             torch_fn=lambda a, b: F.binary_cross_entropy(a, b, weight=_t(w), reduction=reduction))  # fmt: skip
    check_op(lambda a, b: L.BCELoss(weight=_m(w), reduction=reduction)(a, b), [x, y],
             torch_fn=lambda a, b: tnn.BCELoss(weight=_t(w), reduction=reduction)(a, b))  # fmt: skip


def test_binary_cross_entropy_clamps_logs_at_minus_100():
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5], dtype=np.float32)
    for red in ("none", "mean", "sum"):
        check_op(lambda a, b, red=red: ops.binary_cross_entropy(a, b, reduction=red), [x, y],
                 torch_fn=lambda a, b, red=red: F.binary_cross_entropy(a, b, reduction=red))  # fmt: skip
    out = ops.binary_cross_entropy(md.tensor(x), md.tensor(y), reduction="none").numpy()
    assert out[0] == 100 and out[1] == 100


@given(data=st.data(), reduction=REDUCTIONS)
def test_binary_cross_entropy_with_logits(data, reduction):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    dtype = data.draw(float_dtypes)
    x = data.draw(arrays(shape=shape, dtype=dtype, low=-6, high=6))
    y = data.draw(arrays(shape=shape, dtype=dtype, low=0.0, high=1.0))
    w = data.draw(arrays(shape=data.draw(fitting_shape(shape)), dtype=dtype, low=0.1, high=2)) if data.draw(
        st.booleans()) else None  # fmt: skip
    pw = data.draw(arrays(shape=data.draw(fitting_shape(shape)), dtype=dtype, low=0.1, high=3)) if data.draw(
        st.booleans()) else None  # fmt: skip
    kw = dict(reduction=reduction)
    check_op(lambda a, b: ops.binary_cross_entropy_with_logits(a, b, weight=_m(w), pos_weight=_m(pw), **kw),
             [x, y],
             torch_fn=lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=_t(w), pos_weight=_t(pw), **kw))
    check_op(lambda a, b: L.BCEWithLogitsLoss(weight=_m(w), pos_weight=_m(pw), **kw)(a, b), [x, y],
             torch_fn=lambda a, b: tnn.BCEWithLogitsLoss(weight=_t(w), pos_weight=_t(pw), **kw)(a, b))  # fmt: skip


def test_binary_cross_entropy_with_logits_pos_weight_per_class_on_images():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = (rng.random((2, 3, 4, 5)) > 0.5).astype(np.float32)
    pw = rng.uniform(0.5, 3, (3, 1, 1)).astype(np.float32)  # one weight per channel
    check_op(lambda a, b: ops.binary_cross_entropy_with_logits(a, b, pos_weight=md.tensor(pw)), [x, y],
             torch_fn=lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=torch.tensor(pw)))  # fmt: skip


@pytest.mark.parametrize("pw", [None, np.array([2.0], dtype=np.float32)])
def test_binary_cross_entropy_with_logits_is_stable(pw):
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0], dtype=np.float32)
    y = np.array([1.0, 0.0, 0.5, 1.0, 0.0], dtype=np.float32)
    check_op(lambda a, b: ops.binary_cross_entropy_with_logits(a, b, pos_weight=_m(pw), reduction="none"), [x, y],
             torch_fn=lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=_t(pw), reduction="none"))
    out = ops.binary_cross_entropy_with_logits(md.tensor(x), md.tensor(y), reduction="none").numpy()
    assert np.isfinite(out).all() and out[0] == pytest.approx(200.0)


# ---------------------------------------------------------------------------- regression losses
@st.composite
def regression_problem(draw):
    """input and target of the same shape, or (rarely) broadcastable shapes."""
    if draw(st.integers(0, 3)) == 0:
        bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
        sa, sb = bs.input_shapes
    else:
        sa = sb = draw(hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
    dtype = draw(float_dtypes)
    return draw(arrays(shape=sa, dtype=dtype)), draw(arrays(shape=sb, dtype=dtype))


_REGRESSION = [
    ("mse_loss", "MSELoss", {}),
    ("l1_loss", "L1Loss", {}),
    ("smooth_l1_loss", "SmoothL1Loss", {"beta": 1.0}),
    ("smooth_l1_loss", "SmoothL1Loss", {"beta": 0.0}),
    ("smooth_l1_loss", "SmoothL1Loss", {"beta": 0.4}),
    ("huber_loss", "HuberLoss", {"delta": 1.0}),
    ("huber_loss", "HuberLoss", {"delta": 2.5}),
    ("huber_loss", "HuberLoss", {"delta": 0.3}),
]


@pytest.mark.parametrize("fname, cname, opts", _REGRESSION)
@given(case=regression_problem(), reduction=REDUCTIONS)
def test_regression_losses(fname, cname, opts, case, reduction):
    x, y = case
    mf, tf = getattr(ops, fname), getattr(F, fname)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broadcasting shapes warn in both libraries
        check_op(lambda a, b: mf(a, b, reduction=reduction, **opts), [x, y],
                 torch_fn=lambda a, b: tf(a, b, reduction=reduction, **opts))  # fmt: skip
        check_op(lambda a, b: getattr(L, cname)(reduction=reduction, **opts)(a, b), [x, y],
                 torch_fn=lambda a, b: getattr(tnn, cname)(reduction=reduction, **opts)(a, b))  # fmt: skip


@pytest.mark.parametrize("fname", ["mse_loss", "l1_loss", "huber_loss"])
@given(data=st.data(), reduction=REDUCTIONS)
def test_regression_losses_with_elementwise_weight(fname, data, reduction):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    dtype = data.draw(float_dtypes)
    x, y = data.draw(arrays(shape=shape, dtype=dtype)), data.draw(arrays(shape=shape, dtype=dtype))
    w = data.draw(arrays(shape=shape, dtype=dtype, low=0.1, high=2.0))
    # the weight is differentiable too (torch composes it from ordinary ops)
    check_op(lambda a, b, c: getattr(ops, fname)(a, b, reduction=reduction, weight=c), [x, y, w],
             torch_fn=lambda a, b, c: getattr(F, fname)(a, b, reduction=reduction, weight=c))  # fmt: skip


def test_regression_losses_promote_mixed_dtypes_like_torch():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    y = np.linspace(1, -2, 6).reshape(2, 3)
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        # huber keeps the input's dtype; torch's own huber backward fails on mixed dtypes
        check_op(getattr(ops, name), [x, y], torch_fn=getattr(F, name), check_grad=name != "huber_loss")
    t = np.arange(6).reshape(2, 3)  # an integer target
    check_op(lambda a, b: ops.mse_loss(a, b), [x, t], torch_fn=lambda a, b: F.mse_loss(a, b))
    for a, b in [(x, y), (y, x)]:  # torch: the result takes the target's dtype
        check_op(lambda a, b: ops.binary_cross_entropy_with_logits(a, b), [a, np.abs(b) / 2],
                 torch_fn=lambda a, b: F.binary_cross_entropy_with_logits(a, b), rtol=1e-4, atol=1e-6)  # fmt: skip
        check_op(lambda a, b: ops.kl_div(a, b, reduction="sum"), [a, np.abs(b)],
                 torch_fn=lambda a, b: F.kl_div(a, b, reduction="sum"), rtol=1e-4, atol=1e-6)  # fmt: skip


# ---------------------------------------------------------------------------- kl_div
@given(data=st.data(), reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]), log_target=st.booleans())
def test_kl_div(data, reduction, log_target):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    dtype = data.draw(float_dtypes)
    x = np.log(data.draw(arrays(shape=shape, dtype=dtype, low=0.05, high=1.0)))
    if log_target:
        t = data.draw(arrays(shape=shape, dtype=dtype, low=-4.0, high=0.0))
    else:
        t = data.draw(arrays(shape=shape, dtype=dtype, low=0.0, high=1.0))
        t[t < 0.2] = 0  # zero targets contribute 0 (xlogy), and torch's nan target gradient there
    kw = dict(reduction=reduction, log_target=log_target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'mean' warns in both libraries
        check_op(lambda a, b: ops.kl_div(a, b, **kw), [x, t], torch_fn=lambda a, b: F.kl_div(a, b, **kw))
        check_op(lambda a, b: L.KLDivLoss(**kw)(a, b), [x, t], torch_fn=lambda a, b: tnn.KLDivLoss(**kw)(a, b))


def test_kl_div_mean_warns_and_broadcasts_like_torch():
    x = np.log(np.full((2, 3), 1 / 3, dtype=np.float32))
    t = np.array([0.2, 0.3, 0.5], dtype=np.float32)
    with pytest.warns(UserWarning, match="batchmean"):
        ops.kl_div(md.tensor(x), md.tensor(t))
    check_op(lambda a, b: ops.kl_div(a, b, reduction="batchmean"), [x, t],
             torch_fn=lambda a, b: F.kl_div(a, b, reduction="batchmean"))  # fmt: skip
    check_op(lambda a, b: ops.kl_div(a, b, reduction="batchmean"), [t, x],
             torch_fn=lambda a, b: F.kl_div(a, b, reduction="batchmean"))  # fmt: skip


# ---------------------------------------------------------------------------- gradchecks (float64)
@pytest.mark.parametrize("red", ["none", "mean", "sum"])
def test_gradcheck_every_loss(red):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 2))
    t = md.tensor(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = md.tensor(rng.uniform(0.5, 2.0, 4))
    pw = md.tensor(rng.uniform(0.5, 2.0, 4))
    check_gradcheck(lambda a: ops.cross_entropy(a, t, weight=w, reduction=red, label_smoothing=0.2) * 1.5, [x])
    check_gradcheck(lambda a: ops.nll_loss(a, t, weight=w, reduction=red), [x])
    q = rng.dirichlet(np.ones(4), (3, 2)).transpose(0, 2, 1)
    check_gradcheck(lambda a, b: ops.cross_entropy(a, b, weight=w, reduction=red, label_smoothing=0.1), [x, q])
    p = rng.uniform(0.1, 0.9, (3, 4))
    y = rng.uniform(0, 1, (3, 4))
    check_gradcheck(lambda a, b: ops.binary_cross_entropy(a, b, reduction=red), [p, y])
    check_gradcheck(lambda a, b: ops.binary_cross_entropy_with_logits(a, b, weight=pw, pos_weight=pw, reduction=red),
                    [x[:, :, 0].copy(), y])  # fmt: skip
    a0, b0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    check_gradcheck(lambda a, b: ops.mse_loss(a, b, reduction=red), [a0, b0])
    check_gradcheck(lambda a, b: ops.l1_loss(a, b, reduction=red), [a0, b0])
    check_gradcheck(lambda a, b: ops.smooth_l1_loss(a, b, reduction=red, beta=0.7), [a0, b0])
    check_gradcheck(lambda a, b: ops.huber_loss(a, b, reduction=red, delta=0.7), [a0, b0])
    lp = np.log(rng.dirichlet(np.ones(4), 3))
    check_gradcheck(lambda a, b: ops.kl_div(a, b, reduction="batchmean"), [lp, rng.dirichlet(np.ones(4), 3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        check_gradcheck(lambda a, b: ops.kl_div(a, b, reduction=red, log_target=True), [lp, lp[::-1].copy()])


# ---------------------------------------------------------------------------- modules
def test_module_defaults_buffers_and_repr():
    w = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    pairs = [
        (L.CrossEntropyLoss(), tnn.CrossEntropyLoss()),
        (L.CrossEntropyLoss(weight=md.tensor(w), ignore_index=1, label_smoothing=0.1),
         tnn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1, label_smoothing=0.1)),
        (L.NLLLoss(weight=md.tensor(w)), tnn.NLLLoss(weight=torch.tensor(w))),
        (L.BCELoss(weight=md.tensor(w)), tnn.BCELoss(weight=torch.tensor(w))),
        (L.BCEWithLogitsLoss(pos_weight=md.tensor(w)), tnn.BCEWithLogitsLoss(pos_weight=torch.tensor(w))),
        (L.MSELoss(reduction="sum"), tnn.MSELoss(reduction="sum")),
        (L.L1Loss(), tnn.L1Loss()),
        (L.SmoothL1Loss(beta=0.5), tnn.SmoothL1Loss(beta=0.5)),
        (L.HuberLoss(delta=2.0), tnn.HuberLoss(delta=2.0)),
        (L.KLDivLoss(reduction="batchmean", log_target=True), tnn.KLDivLoss(reduction="batchmean", log_target=True)),
    ]  # fmt: skip
    for m, t in pairs:
        assert repr(m) == repr(t)
        assert list(m.state_dict()) == list(t.state_dict())
        assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
        assert list(m.parameters()) == []
        for attr in ("reduction", "ignore_index", "label_smoothing", "beta", "delta", "log_target"):
            if hasattr(t, attr):
                assert getattr(m, attr) == getattr(t, attr), attr
    assert L.CrossEntropyLoss().weight is None and L.BCEWithLogitsLoss().pos_weight is None


def test_legacy_size_average_and_reduce():
    x = np.random.default_rng(7).standard_normal((3, 2)).astype(np.float32)
    y = np.zeros((3, 2), np.float32)
    for sa, rd in [(False, None), (None, False), (True, True), (False, True)]:
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            m = L.MSELoss(size_average=sa, reduce=rd)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert m.reduction == tnn.MSELoss(size_average=sa, reduce=rd).reduction
            kw = dict(size_average=sa, reduce=rd)
            check_op(lambda a, b, kw=kw: ops.l1_loss(a, b, **kw), [x, y],
                     torch_fn=lambda a, b, kw=kw: F.l1_loss(a, b, **kw))  # fmt: skip


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


X = np.random.default_rng(8).standard_normal((3, 5)).astype(np.float32)
X4 = np.random.default_rng(9).standard_normal((2, 5, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_class_target_errors(fn):
    mf, tf = getattr(ops, fn), getattr(F, fn)

    def both(x, t, *frags, **kw):
        t = np.asarray(t)
        mkw = {k: (md.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        tkw = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        return _same_error(lambda: mf(md.tensor(x), md.tensor(t), **mkw),
                           lambda: tf(torch.tensor(x), torch.tensor(t), **tkw), *frags)  # fmt: skip

    msg = both(X, [0, 5, 1], "Target 5 is out of bounds")
    assert "C = 5" in msg and fn in msg
    both(X, [0, -1, 1], "Target -1 is out of bounds")
    both(X4, np.full((2, 3, 4), 7), "Target 7 is out of bounds")
    both(X, [0, 1], r"Expected input batch_size \(3\) to match target batch_size \(2\)")
    both(X4, np.zeros((2, 3, 5), np.int64), r"\(2, 3, 5\)", r"\(2, 5, 3, 4\)")
    both(X4, np.zeros((2, 3), np.int64), r"\(2, 3\)")
    both(X, np.array([0, 1, 1], np.int32), "expected target dtype to be Long or Byte, but got Int")
    both(X, [0, 1, 1], "weight tensor should be defined either for all 5 classes", weight=np.ones(4, np.float32))
    both(X, [0, 1, 1], "weight tensor should be defined", weight=np.ones((5, 1), np.float32))
    both(X, [0, 1, 1], "avg is not a valid value for reduction", reduction="avg")
    both(X.astype(np.int64), [0, 1, 1], fn)
    both(X.astype(np.float64), [0, 1, 1], "expected scalar type Double but found Float", weight=np.ones(5, np.float32))
    both(np.zeros(5, np.float32), [1, 2], "1D target must have size 1")


def test_cross_entropy_specific_errors():
    q = np.full((3, 5), 0.2, np.float32)
    _same_error(lambda: ops.cross_entropy(md.tensor(X), md.tensor([0, 1, 1]), label_smoothing=1.5),
                lambda: F.cross_entropy(torch.tensor(X), torch.tensor([0, 1, 1]), label_smoothing=1.5),
                "label_smoothing must be between 0.0 and 1.0. Got: 1.5")  # fmt: skip
    _same_error(lambda: ops.cross_entropy(md.tensor(X), md.tensor(q), ignore_index=1),
                lambda: F.cross_entropy(torch.tensor(X), torch.tensor(q), ignore_index=1),
                "ignore_index is not supported for floating point target")  # fmt: skip
    _same_error(lambda: ops.cross_entropy(md.tensor(X), md.tensor(q[:, :4])),
                lambda: F.cross_entropy(torch.tensor(X), torch.tensor(q[:, :4])), r"\(3, 4\)")  # fmt: skip
    _same_error(lambda: ops.cross_entropy(md.tensor(X), md.tensor(np.zeros((3, 5), np.int64))),
                lambda: F.cross_entropy(torch.tensor(X), torch.zeros((3, 5), dtype=torch.long)),
                "Expected floating point type for target with class probabilities")  # fmt: skip
    _same_error(lambda: ops.cross_entropy(md.tensor(X), md.tensor(q), weight=md.ones(4)),
                lambda: F.cross_entropy(torch.tensor(X), torch.tensor(q), weight=torch.ones(4)),
                "weight tensor should be defined either for all 5 classes")  # fmt: skip
    w = md.ones(5, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        ops.cross_entropy(md.tensor(X, requires_grad=True), md.tensor([0, 1, 1]), weight=w)
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        ops.cross_entropy(md.tensor(X), [0, 1, 1])


def test_binary_and_regression_errors():
    p = np.full((2, 3), 0.5, np.float32)
    bad = p.copy()
    bad[0, 0] = 1.5
    _same_error(lambda: ops.binary_cross_entropy(md.tensor(bad), md.tensor(p)),
                lambda: F.binary_cross_entropy(torch.tensor(bad), torch.tensor(p)),
                "all elements of input should be between 0 and 1", "1.5")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy(md.tensor(-bad), md.tensor(p)),
                lambda: F.binary_cross_entropy(torch.tensor(-bad), torch.tensor(p)),
                "all elements of input should be between 0 and 1")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy(md.tensor(p), md.tensor(bad)),
                lambda: F.binary_cross_entropy(torch.tensor(p), torch.tensor(bad)),
                "all elements of target should be between 0 and 1")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy(md.tensor(p), md.tensor(p[0])),
                lambda: F.binary_cross_entropy(torch.tensor(p), torch.tensor(p[0])),
                r"\(3,\)", r"\(2, 3\)")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy(md.tensor(p), md.tensor(p), weight=md.ones(4, 2, 3)),
                lambda: F.binary_cross_entropy(torch.tensor(p), torch.tensor(p), weight=torch.ones(4, 2, 3)),
                r"\(4, 2, 3\)")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy_with_logits(md.tensor(p), md.tensor(p[0])),
                lambda: F.binary_cross_entropy_with_logits(torch.tensor(p), torch.tensor(p[0])),
                r"Target size \(\(3,\)\) must be the same as input size \(\(2, 3\)\)")  # fmt: skip
    _same_error(lambda: ops.binary_cross_entropy_with_logits(md.tensor(p), md.tensor(p), pos_weight=md.ones(4)),
                lambda: F.binary_cross_entropy_with_logits(torch.tensor(p), torch.tensor(p), pos_weight=torch.ones(4)),
                "pos_weight", r"\(4,\)")  # fmt: skip
    w3 = np.ones((2, 2, 3), np.float32)
    _same_error(lambda: ops.binary_cross_entropy_with_logits(md.tensor(p), md.tensor(p), weight=md.tensor(w3)),
                lambda: F.binary_cross_entropy_with_logits(torch.tensor(p), torch.tensor(p), weight=torch.tensor(w3)),
                "weight")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same_error(lambda: ops.mse_loss(md.tensor(p), md.ones(4)), lambda: F.mse_loss(torch.tensor(p), torch.ones(4)),
                    r"\(2, 3\)", r"\(4,\)")  # fmt: skip
    with pytest.warns(UserWarning, match="different to the input size"):
        ops.mse_loss(md.tensor(p), md.ones(3))
    _same_error(lambda: ops.mse_loss(md.tensor(p), md.tensor(p), weight=md.ones(3)),
                lambda: F.mse_loss(torch.tensor(p), torch.tensor(p), weight=torch.ones(3)),
                "Weights and input must have the same size")  # fmt: skip
    _same_error(lambda: ops.smooth_l1_loss(md.tensor(p), md.tensor(p), beta=-1.0),
                lambda: F.smooth_l1_loss(torch.tensor(p), torch.tensor(p), beta=-1.0),
                "does not support negative values for beta")  # fmt: skip
    for delta in (0.0, -1.0):
        _same_error(lambda delta=delta: ops.huber_loss(md.tensor(p), md.tensor(p), delta=delta),
                    lambda delta=delta: F.huber_loss(torch.tensor(p), torch.tensor(p), delta=delta),
                    "does not support non-positive values for delta")  # fmt: skip
    ints = np.ones(2, np.int64)
    _same_error(lambda: ops.mse_loss(md.tensor(ints), md.tensor(ints)),
                lambda: F.mse_loss(torch.tensor(ints), torch.tensor(ints)), "int64")  # fmt: skip
    with pytest.raises(TypeError, match="delta must be a float or int"):
        L.HuberLoss(delta="1")


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss",
                                  "huber_loss", "kl_div"])  # fmt: skip
def test_invalid_reduction_is_a_value_error(name):
    if name in ("cross_entropy", "nll_loss"):
        args = (np.full((2, 3), 0.1, np.float32), np.array([0, 2]))
    else:
        args = (np.full((2, 3), 0.5, np.float32), np.full((2, 3), 0.5, np.float32))
    _same_error(lambda: getattr(ops, name)(*map(md.tensor, args), reduction="average"),
                lambda: getattr(F, name)(*map(torch.tensor, args), reduction="average"),
                "average is not a valid value for reduction", name)  # fmt: skip

"""Every optimiser follows torch.optim's trajectory, float64, for every drawn setting.

Two models per setting:
* a quadratic objective over a 20-element parameter (120 steps): its gradients are
  bitwise equal in both libraries, so only the optimisers' arithmetic is compared;
* a small MLP (40 steps): real layers, real gradients. Later steps are not compared:
  numpy's and torch's BLAS round matmuls differently (1e-16), and training dynamics
  amplify that (measured: NAdam on one seed grows from 1e-16 at step 60 to 1e-8 at 100).

Tolerance rtol 1e-6: torch's CPU kernels for ``add(alpha=)``, ``addcmul`` and ``lerp``
use fused multiply-adds (up to 14% of elements differ from the unfused result by one
ulp), which numpy cannot reproduce; a wrong formula gives differences of 1e-2 and more.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import nn, optim

STEPS = 120  # quadratic objective
MLP_STEPS = 40


def _twins(seed: int):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2)).double()
    m = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


def assert_same_trajectory(m_cls, t_cls, kwargs, seed=0, steps=MLP_STEPS, groups=False, rtol=1e-6):
    m, t = _twins(seed)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 2))
    if groups:  # two parameter groups, the second with its own lr
        m_params = [{"params": m[0].parameters()}, {"params": m[2].parameters(), "lr": kwargs["lr"] * 0.5}]
        t_params = [{"params": t[0].parameters()}, {"params": t[2].parameters(), "lr": kwargs["lr"] * 0.5}]
    else:
        m_params, t_params = m.parameters(), t.parameters()
    om, ot = m_cls(m_params, **kwargs), t_cls(t_params, **kwargs)
    # maximising -MSE follows a stable path (maximising MSE diverges and amplifies rounding)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for step in range(steps):
        om.zero_grad()
        ot.zero_grad()
        (sign * ((m(md.tensor(x)) - md.tensor(y)) ** 2).mean()).backward()
        (sign * ((t(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()).backward()
        om.step()
        ot.step()
        if step in (0, steps - 1):
            for (name, p), q in zip(m.named_parameters(), t.parameters()):
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=rtol, atol=1e-9,
                                           err_msg=f"{name} after step {step}")  # fmt: skip


def check_both(m_cls, t_cls, kwargs, seed):
    assert_same_quadratic_trajectory(m_cls, t_cls, kwargs, seed)
    assert_same_trajectory(m_cls, t_cls, kwargs, seed)


lrs = st.sampled_from([1e-3, 1e-2, 0.1])
wds = st.sampled_from([0.0, 1e-4, 1e-2])


@given(lr=lrs, momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       wd=wds, nesterov=st.booleans(), maximize=st.booleans(), seed=st.integers(0, 100))  # fmt: skip
def test_sgd(lr, momentum, dampening, wd, nesterov, maximize, seed):
    if nesterov and (momentum == 0 or dampening != 0):
        return
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov, maximize=maximize)
    check_both(optim.SGD, torch.optim.SGD, kw, seed)


@given(lr=lrs, b1=st.sampled_from([0.8, 0.9]), b2=st.sampled_from([0.99, 0.999]), eps=st.sampled_from([1e-8, 1e-6]),
       wd=wds, amsgrad=st.booleans(), maximize=st.booleans(), seed=st.integers(0, 100))  # fmt: skip
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_family(name, lr, b1, b2, eps, wd, amsgrad, maximize, seed):
    kw = dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad, maximize=maximize)
    check_both(getattr(optim, name), getattr(torch.optim, name), kw, seed)


def assert_same_quadratic_trajectory(m_cls, t_cls, kwargs, seed=0, steps=STEPS):
    """A quadratic objective whose gradients are bitwise equal in both libraries.

    RMSprop divides by sqrt(v): where a gradient crosses zero, the 1e-17 differences of two
    BLAS libraries' matmuls are amplified, so its own arithmetic is compared on this objective
    over all the steps (and on the MLP over the first 40).
    """
    rng = np.random.default_rng(seed)
    w0, curv = rng.standard_normal(20), rng.uniform(0.1, 2, 20)
    # targets farther than adaptive optimisers travel in 120 steps (about lr per step): at the
    # minimum they oscillate by +-lr with the sign of a vanishing gradient, which is chaotic
    target = w0 + rng.choice([-1.0, 1.0], 20) * rng.uniform(15, 30, 20)
    pm, pt = nn.Parameter(md.tensor(w0)), torch.nn.Parameter(torch.tensor(w0))
    om, ot = m_cls([pm], **kwargs), t_cls([pt], **kwargs)
    for _ in range(steps):
        for lib, p, o in ((md, pm, om), (torch, pt, ot)):
            o.zero_grad()
            sign = -1.0 if kwargs.get("maximize") else 1.0
            (sign * (lib.tensor(curv) * (p - lib.tensor(target)) ** 2).sum()).backward()
            o.step()
    np.testing.assert_allclose(pm.detach().numpy(), pt.detach().numpy(), rtol=1e-6, atol=1e-10)


@given(lr=st.sampled_from([1e-3, 1e-2, 0.1]), alpha=st.sampled_from([0.9, 0.99]), wd=wds,
       momentum=st.sampled_from([0.0, 0.5]), centered=st.booleans(), seed=st.integers(0, 100))  # fmt: skip
def test_rmsprop(lr, alpha, wd, momentum, centered, seed):
    kw = dict(lr=lr, alpha=alpha, weight_decay=wd, momentum=momentum, centered=centered)
    if not centered:
        # centered RMSprop on a quadratic sees near-constant gradients: sqrt(v - mean**2)
        # cancels catastrophically and amplifies single ulps; the MLP checks it instead
        assert_same_quadratic_trajectory(optim.RMSprop, torch.optim.RMSprop, kw, seed)
    assert_same_trajectory(optim.RMSprop, torch.optim.RMSprop, kw, seed)


@given(lr=lrs, lr_decay=st.sampled_from([0.0, 1e-2]), wd=wds, init=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 100))  # fmt: skip
def test_adagrad(lr, lr_decay, wd, init, seed):
    kw = dict(lr=lr, lr_decay=lr_decay, weight_decay=wd, initial_accumulator_value=init)
    check_both(optim.Adagrad, torch.optim.Adagrad, kw, seed)


@given(lr=st.sampled_from([2e-3, 1e-2]), wd=wds, decoupled=st.booleans(), psi=st.sampled_from([4e-3, 1e-2]),
       seed=st.integers(0, 100))  # fmt: skip
def test_nadam(lr, wd, decoupled, psi, seed):
    kw = dict(lr=lr, weight_decay=wd, decoupled_weight_decay=decoupled, momentum_decay=psi)
    check_both(optim.NAdam, torch.optim.NAdam, kw, seed)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)), ("Adam", dict(lr=1e-2)),
                                     ("RMSprop", dict(lr=1e-2, momentum=0.5))])  # fmt: skip
def test_param_groups_with_own_lr(name, kw):
    assert_same_trajectory(getattr(optim, name), getattr(torch.optim, name), kw, groups=True, steps=30)


def test_sgd_float32_stays_float32():
    p = nn.Parameter(md.randn(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4)
    for _ in range(3):
        p.grad = md.randn(3)
        opt.step()
    assert p.dtype == md.float32 and opt.state[p]["momentum_buffer"].dtype == np.float32


def test_invalid_arguments_like_torch():
    p = [nn.Parameter(md.zeros(1))]
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam(p, lr=-1)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(nn.Parameter(md.zeros(1)), lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": p}, {"params": p}], lr=0.1)


def test_zero_grad_and_skipping_params_without_grad():
    a, b = nn.Parameter(md.ones(2)), nn.Parameter(md.ones(2))
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = md.ones(2)
    opt.step()
    assert a.tolist() == [0.0, 0.0] and b.tolist() == [1.0, 1.0] and b not in opt.state
    opt.zero_grad()
    assert a.grad is None
    a.grad = md.ones(2)
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0]


def test_state_dict_round_trip_continues_the_same_trajectory():
    m1, _ = _twins(0)
    m2, _ = _twins(0)
    o1 = optim.Adam(m1.parameters(), lr=1e-2, amsgrad=True)
    o2 = optim.Adam(m2.parameters(), lr=1e-2, amsgrad=True)
    x = md.randn(4, 5, dtype=md.float64)
    for _ in range(3):
        o1.zero_grad()
        m1(x).sum().backward()
        o1.step()
    sd = o1.state_dict()
    assert sorted(sd) == ["param_groups", "state"] and sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    m2.load_state_dict(m1.state_dict())
    o2.load_state_dict(sd)
    for m, o in ((m1, o1), (m2, o2)):
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_state_keys_match_torch():
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)), ("RMSprop", dict(centered=True,
                     momentum=0.1)), ("Adagrad", {}), ("NAdam", {})]:  # fmt: skip
        pm, pt = nn.Parameter(md.ones(2)), torch.nn.Parameter(torch.ones(2))
        om, ot = getattr(optim, name)([pm], **kw), getattr(torch.optim, name)([pt], **kw)
        pm.grad, pt.grad = md.ones(2), torch.ones(2)
        om.step()
        ot.step()
        assert sorted(om.state_dict()["state"][0]) == sorted(ot.state_dict()["state"][0]), name
        hyper = {k for k in ot.state_dict()["param_groups"][0] if k in om.state_dict()["param_groups"][0]}
        assert {"lr", "params"} <= hyper


def test_clip_grad_norm_and_value_like_torch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]
    for norm_type in (2.0, 1.0, float("inf"), 3.0):
        pm = [md.zeros(g.shape, requires_grad=True) for g in grads]
        pt = [torch.zeros(g.shape, requires_grad=True) for g in grads]
        for p, q, g in zip(pm, pt, grads):
            p.grad, q.grad = md.tensor(g), torch.tensor(g)
        total_m = nn.utils.clip_grad_norm_(pm, 1.5, norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(pt, 1.5, norm_type)
        np.testing.assert_allclose(float(total_m), float(total_t), rtol=1e-6)
        for p, q in zip(pm, pt):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)
    pm = [md.zeros(3, requires_grad=True)]
    pm[0].grad = md.tensor([-2.0, 0.5, 3.0])
    nn.utils.clip_grad_value_(pm, 1.0)
    assert pm[0].grad.tolist() == [-1.0, 0.5, 1.0]


# ---------------------------------------------------------------------------- SGD's numba kernel
@given(lr=st.sampled_from([0.0, 0.01, 0.3]), momentum=st.sampled_from([0.0, 0.5, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), wd=st.sampled_from([0.0, 1e-4, 0.1]), nesterov=st.booleans(),
       maximize=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 1000))  # fmt: skip
def test_sgd_kernel_gives_the_numpy_reference_bits(lr, momentum, dampening, wd, nesterov, maximize, dtype, seed):
    """The one-pass numba update and the numpy lines beside it: the same bits after several steps (the state's
    momentum buffer too), float32 and float64; a strided gradient takes the numpy lines."""
    from tests.helpers import numba_path

    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    kw = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov, maximize=maximize)
    rng = np.random.default_rng(seed)
    start = rng.standard_normal((6, 5)).astype(dtype)
    grads = [rng.standard_normal((6, 10)).astype(dtype) for _ in range(4)]
    results = []
    for enabled in (False, True):
        with numba_path(enabled):
            p = md.tensor(start.copy(), requires_grad=True)
            opt = optim.SGD([p], **kw)
            for i, g in enumerate(grads):
                gi = g[:, ::2] if i == 2 else np.ascontiguousarray(g[:, ::2])  # step 3: a strided gradient
                p.grad = md.tensor(gi) if i != 2 else md.Tensor._make(gi)
                opt.step()
            buf = opt.state[p].get("momentum_buffer")
            results.append((p.detach().numpy().copy(), None if buf is None else np.array(buf)))
    (p0, b0), (p1, b1) = results
    assert p1.dtype == dtype
    np.testing.assert_array_equal(p1, p0)
    assert (b0 is None) == (b1 is None) and (b0 is None or np.array_equal(b0, b1))


# ---------------------------------------------------------------------------- Adam's and RMSprop's numba kernels
def _kernel_and_numpy_give_the_same_bits(make, dtype, seed) -> None:
    """Five steps of the optimiser ``make([p])`` with the numba path on and off: the same bits in the
    parameter and every state array. The gradients hold inf, NaN and a 0 (0 / 0 with eps 0: NaN, not an
    exception); step 3's is strided, which takes the numpy lines on both paths."""
    from tests.helpers import numba_path

    rng = np.random.default_rng(seed)
    start = rng.standard_normal((6, 5)).astype(dtype)
    grads = [rng.standard_normal((6, 10)).astype(dtype) for _ in range(5)]
    grads[3][0, 0], grads[3][1, 2] = np.inf, np.nan  # they spread through the state as in numpy
    grads[0][2, 4] = 0.0
    results = []
    for enabled in (False, True):
        with numba_path(enabled), np.errstate(all="ignore"):
            p = md.tensor(start.copy(), requires_grad=True)
            opt = make([p])
            for i, g in enumerate(grads):
                gi = g[:, ::2] if i == 2 else np.ascontiguousarray(g[:, ::2])
                p.grad = md.tensor(gi) if i != 2 else md.Tensor._make(gi)
                opt.step()
            state = {k: np.array(v) for k, v in opt.state[p].items()}
            results.append((p.detach().numpy().copy(), state))
    (p0, s0), (p1, s1) = results
    assert p1.dtype == dtype
    np.testing.assert_array_equal(p1, p0)
    assert s0.keys() == s1.keys()
    for k in s0:
        np.testing.assert_array_equal(s1[k], s0[k], err_msg=k)


@given(cls=st.sampled_from(["Adam", "AdamW"]), lr=st.sampled_from([0.0, 1e-3, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.0)]), eps=st.sampled_from([1e-8, 1e-3, 0.0]),
       wd=st.sampled_from([0.0, 1e-2, 0.3]), amsgrad=st.booleans(), maximize=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 1000))  # fmt: skip
def test_adam_kernel_gives_the_numpy_reference_bits(cls, lr, betas, eps, wd, amsgrad, maximize, dtype, seed):
    """Adam's and AdamW's one-pass numba update and the numpy lines beside it, float32 and float64."""
    kw = dict(lr=lr, betas=betas, eps=eps, weight_decay=wd, amsgrad=amsgrad, maximize=maximize)
    _kernel_and_numpy_give_the_same_bits(lambda ps: getattr(optim, cls)(ps, **kw), dtype, seed)


@given(lr=st.sampled_from([0.0, 1e-2, 0.1]), alpha=st.sampled_from([0.99, 0.5, 0.0]),
       eps=st.sampled_from([1e-8, 0.0]), wd=st.sampled_from([0.0, 1e-2]), momentum=st.sampled_from([0.0, 0.9]),
       centered=st.booleans(), maximize=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 1000))  # fmt: skip
def test_rmsprop_kernel_gives_the_numpy_reference_bits(lr, alpha, eps, wd, momentum, centered, maximize, dtype, seed):
    """RMSprop's one-pass numba update (centred, momentum) and the numpy lines beside it."""
    kw = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum, centered=centered, maximize=maximize)
    _kernel_and_numpy_give_the_same_bits(lambda ps: optim.RMSprop(ps, **kw), dtype, seed)


@pytest.mark.parametrize("name, make", [
    ("adam_step", lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True)),
    ("adam_step", lambda ps: optim.AdamW(ps, lr=0.1)),
    ("rmsprop_step", lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.9, centered=True)),
])  # fmt: skip
def test_optimisers_dispatch_to_their_kernels(monkeypatch, name, make):
    """On the numba path the optimisers hand contiguous float parameters to their kernel; off it, not."""
    from minidl.backend import numba_kernels as nk
    from tests.helpers import numba_path

    calls = []
    real = getattr(nk, name)
    monkeypatch.setattr(nk, name, lambda *a: calls.append(1) or real(*a))
    for enabled in (True, False):
        calls.clear()
        with numba_path(enabled):
            p = md.tensor(np.ones((3, 4), np.float32), requires_grad=True)
            p.grad = md.ones(3, 4)
            make([p]).step()
        assert len(calls) == (1 if enabled else 0)

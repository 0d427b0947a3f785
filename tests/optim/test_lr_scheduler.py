"""Every scheduler gives torch's learning-rate sequence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minidl as md
from minidl import optim

S, T = optim.lr_scheduler, torch.optim.lr_scheduler


def sequences(make, n=40, metrics=None, opt="SGD", groups=1):
    out = []
    for lib, sched_lib in ((md, S), (torch, T)):
        params = [lib.zeros(1, requires_grad=True) for _ in range(groups)]
        opt_lib = optim if lib is md else torch.optim
        kw = dict(lr=0.1, momentum=0.9) if opt == "SGD" else dict(lr=0.1)
        o = getattr(opt_lib, opt)([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)], **kw)
        s = make(sched_lib, o)
        lrs, moms = [], []
        for i in range(n):
            o.step()
            s.step(metrics[i]) if metrics else s.step()
            lrs.append(list(s.get_last_lr()))
            g = o.param_groups[0]
            moms.append(g.get("momentum", g.get("betas", (0,))[0]))
        out.append((np.array(lrs), np.array(moms)))
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda L, o: L.StepLR(o, step_size=5, gamma=0.5),
        lambda L, o: L.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3),
        lambda L, o: L.ExponentialLR(o, gamma=0.9),
        lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
        lambda L, o: L.CosineAnnealingLR(o, T_max=10),
        lambda L, o: L.LambdaLR(o, lr_lambda=lambda e: 0.95**e),
        lambda L, o: L.LinearLR(o, start_factor=0.2, end_factor=1.0, total_iters=10),
        lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5),
        lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=41),
        lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 2.0][: len(o.param_groups)], epochs=4, steps_per_epoch=11,
                                  three_phase=True, anneal_strategy="linear"),  # fmt: skip
    ],
)
@pytest.mark.parametrize("groups", [1, 2])
def test_sequences_equal_torch(make, groups):
    (m_lr, m_mom), (t_lr, t_mom) = sequences(make, groups=groups)
    np.testing.assert_allclose(m_lr, t_lr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(m_mom, t_mom, rtol=1e-12)


def test_one_cycle_with_adam_cycles_beta1():
    (m_lr, m_mom), (t_lr, t_mom) = sequences(lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=41), opt="Adam")
    np.testing.assert_allclose(m_lr, t_lr, rtol=1e-12)
    np.testing.assert_allclose(m_mom, t_mom, rtol=1e-12)


@pytest.mark.parametrize("kw", [dict(patience=2, cooldown=1), dict(mode="max", factor=0.5, patience=1),
                                dict(threshold_mode="abs", threshold=0.05, patience=0, min_lr=0.02)])  # fmt: skip
def test_reduce_on_plateau_equals_torch(kw):
    metrics = [1, 0.9, 0.95, 0.95, 0.95, 0.8, 0.9, 0.9, 0.9, 0.9, 0.7, 0.7, 0.71, 0.72, 0.7] * 3
    (m_lr, _), (t_lr, _) = sequences(lambda L, o: L.ReduceLROnPlateau(o, **kw), n=len(metrics), metrics=metrics)
    np.testing.assert_allclose(m_lr, t_lr, rtol=1e-12)


def test_initial_lr_set_at_construction_and_state_dict():
    p = md.zeros(1, requires_grad=True)
    o = optim.SGD([p], lr=0.1)
    s = S.StepLR(o, step_size=2, gamma=0.1)
    assert s.get_last_lr() == [0.1] and o.param_groups[0]["initial_lr"] == 0.1
    s.step()
    s.step()
    sd = s.state_dict()
    assert sd["last_epoch"] == 2 and "optimizer" not in sd
    s2 = S.StepLR(optim.SGD([md.zeros(1, requires_grad=True)], lr=0.1), step_size=2)
    s2.load_state_dict(sd)
    assert s2.last_epoch == 2


def test_one_cycle_bad_arguments():
    o = optim.SGD([md.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(o, max_lr=1.0)
    with pytest.raises(ValueError, match="same length"):
        S.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=10)

"""descend: trajectories equal torch.optim's, stop reasons, traces, batch runs, argument errors."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

import minidl as md
from minidl import landscapes as L
from minidl.landscapes import SampledFunction

ROSENBROCK_START = (-1.5, 2.0)


def torch_path(f, start, cls, steps, **kwargs):
    """The same function driven by torch.optim on a float64 torch point."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = cls([p], **kwargs)
    points = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        f(p[0], p[1]).backward()
        opt.step()
        points.append(p.detach().numpy().copy())
    return np.array(points)


@pytest.mark.parametrize(
    ("name", "cls", "kwargs"),
    [
        ("sgd", torch.optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
        ("adam", torch.optim.Adam, dict(lr=0.02)),
        ("sgd", torch.optim.SGD, dict(lr=5e-4, momentum=0.8, dampening=0.1, weight_decay=0.01)),
        ("adamw", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
        ("rmsprop", torch.optim.RMSprop, dict(lr=1e-3, momentum=0.5, centered=True)),
        ("adagrad", torch.optim.Adagrad, dict(lr=0.1)),
        ("nadam", torch.optim.NAdam, dict(lr=0.01)),
    ],
)
def test_trajectory_equals_torch_optim_on_rosenbrock(name, cls, kwargs):
    f = L.get("rosenbrock")
    trace = L.descend(f, ROSENBROCK_START, name, steps=200, tol=0, **kwargs)
    assert trace.stop_reason == "steps" and trace.points.shape == (201, 2)
    ref = torch_path(f, ROSENBROCK_START, cls, 200, **kwargs)
    np.testing.assert_allclose(trace.points, ref, rtol=0, atol=1e-10)
    assert np.abs(trace.points[-1] - trace.points[0]).max() > 0.1  # it really moved


def test_trace_contents_and_settings(tmp_path):
    f = L.get("quadratic", condition=4)
    t = L.descend(f, (2.0, 1.0), "sgd", steps=50, tol=0, lr=0.1, momentum=0.9)
    n = t.n_steps
    assert n == 50 and t.points.shape == (n + 1, 2) and t.values.shape == (n + 1,) and t.grad_norms.shape == (n + 1,)
    assert tuple(t.points[0]) == (2.0, 1.0) and tuple(t.start) == (2.0, 1.0)
    np.testing.assert_allclose(t.values, f(t.points[:, 0], t.points[:, 1]), rtol=1e-12)
    np.testing.assert_allclose(t.grad_norms, np.hypot(*f.gradient(t.points[:, 0], t.points[:, 1]).T), rtol=1e-12)
    s = t.settings
    assert s["function"] == "quadratic" and s["optimizer"] == "sgd" and s["lr"] == 0.1 and s["momentum"] == 0.9
    assert s["steps"] == 50 and s["tol"] == 0 and s["gradient"] == "analytic" and s["start"] == (2.0, 1.0)
    assert t.label == "Momentum lr=0.1 β=0.9" and "50 steps" in repr(t)
    t.to_csv(tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0].startswith("# function: quadratic") and any(ln == "# stop_reason: steps" for ln in lines)
    rows = list(csv.reader(ln for ln in lines if not ln.startswith("#")))
    assert rows[0] == ["step", "x", "y", "value", "grad_norm", "lookahead_x", "lookahead_y"]
    assert len(rows) == n + 2
    np.testing.assert_array_equal(np.array(rows[1:], dtype=float)[:, 1:3], t.points)  # full precision


def test_lookahead_is_where_the_momentum_carries_the_point():
    t = L.descend("rosenbrock", ROSENBROCK_START, "sgd", steps=30, tol=0, lr=1e-3, momentum=0.9)
    # plain momentum: p_k = p_{k-1} - lr * buf_{k-1}, so p_k - lr * mu * buf_{k-1} = p_k - mu (p_{k-1} - p_k)
    np.testing.assert_allclose(t.lookahead[0], t.points[0])
    expect = t.points[1:] - 0.9 * (t.points[:-1] - t.points[1:])
    np.testing.assert_allclose(t.lookahead[1:], expect, rtol=1e-10, atol=1e-12)
    assert L.descend("rosenbrock", ROSENBROCK_START, "sgd", steps=3, lr=1e-3).lookahead is None
    tn = L.descend("rosenbrock", ROSENBROCK_START, "sgd", steps=5, lr=1e-3, momentum=0.9, nesterov=True)
    assert tn.lookahead.shape == tn.points.shape


def test_stop_reason_tol():
    f = L.get("quadratic", condition=2)
    t = L.descend(f, (1.0, 1.0), "sgd", steps=10_000, tol=1e-8, lr=0.3)
    assert t.stop_reason == "tol" and t.converged and t.n_steps < 200
    assert t.grad_norms[-1] < 1e-8 <= t.grad_norms[-2]
    assert "converged" in t.message
    at_min = L.descend(f, (0.0, 0.0), steps=100, tol=1e-6, lr=0.1)  # already there: no step
    assert at_min.stop_reason == "tol" and at_min.n_steps == 0
    never = L.descend(f, (0.0, 0.0), steps=100, tol=0, lr=0.1)  # tol=0 never stops early
    assert never.stop_reason == "steps" and never.n_steps == 100


def test_stop_reason_divergence_and_left_domain():
    f = L.get("quadratic", condition=10)  # GD is stable only for lr < 2 / 10
    out = L.descend(f, (1.0, 1.0), "sgd", steps=500, lr=0.25)
    assert out.stop_reason == "left domain" and not f.contains(*out.end) and f.contains(*out.points[-2])
    assert math.isnan(out.grad_norms[-1]) and np.isfinite(out.values[-1])
    assert "left the domain" in out.message
    div = L.descend(f, (1.0, 1.0), "sgd", steps=5000, lr=0.25, stop_outside=False)
    assert div.stop_reason == "divergence" and abs(div.values[-1]) > 1e12
    nan = L.descend(lambda x, y: x.log() + y * y, (1.0, 1.0), steps=50, lr=10.0)  # log of a negative number
    assert nan.stop_reason == "divergence" and not np.isfinite(nan.values[-1])


def test_sampled_function_stops_when_it_leaves_the_image(tmp_path):
    L.render_image("booth", tmp_path / "b.png", (40, 40))
    img = SampledFunction.from_image(tmp_path / "b.png")
    t = L.descend(img, (3, 3), "sgd", steps=500, eps=1, lr=5000)
    assert t.stop_reason == "left domain" and math.isnan(t.values[-1]) and not img.contains(*t.end)
    ok = L.descend(img, (3, 3), "sgd", steps=2000, eps=1, lr=30, momentum=0.9)
    (mx, my, _), = img.minima  # fmt: skip
    assert ok.stop_reason in ("tol", "steps") and math.hypot(ok.end[0] - mx, ok.end[1] - my) < 1.5


def test_numeric_gradient_follows_the_analytic_path():
    a = L.descend("himmelblau", (0.0, 0.0), "sgd", steps=100, tol=0, lr=0.01, momentum=0.9)
    n = L.descend("himmelblau", (0.0, 0.0), "sgd", steps=100, tol=0, lr=0.01, momentum=0.9, gradient="numeric",
                  eps=1e-5)  # fmt: skip
    f = L.descend("himmelblau", (0.0, 0.0), "sgd", steps=100, tol=0, lr=0.01, momentum=0.9, gradient="numeric",
                  eps=1e-7, difference="forward")  # fmt: skip
    np.testing.assert_allclose(n.points, a.points, atol=1e-6)
    np.testing.assert_allclose(f.points, a.points, atol=1e-3)
    assert n.settings["eps"] == 1e-5 and n.settings["difference"] == "central"


def test_descend_many_equals_single_runs():
    f = L.get("himmelblau")
    starts = np.array([[0.0, 0.0], [-1.0, -0.5], [0.5, -4.5], [4.9, 4.9], [-3.0, 3.0]])
    kw = dict(steps=300, tol=1e-6, lr=0.01, momentum=0.9, nesterov=True)
    many = L.descend_many(f, starts, "sgd", **kw)
    for i, s in enumerate(starts):
        one = L.descend(f, s, "sgd", **kw)
        assert many.stop_reasons[i] == one.stop_reason
        assert many.n_steps[i] == one.n_steps
        np.testing.assert_allclose(many.ends[i], one.end, rtol=1e-9, atol=1e-9)
    assert set(many.stop_reasons) == {"tol", "steps", "left domain"}


def test_descend_configs_equals_single_runs():
    cfgs = [dict(optimizer="sgd", lr=1e-3), dict(optimizer="adam", lr=0.05, label="Adam!"),
            dict(optimizer="sgd", lr=3e-3, momentum=0.9)]  # fmt: skip
    traces = L.descend_configs("rosenbrock", ROSENBROCK_START, cfgs, steps=150)
    assert traces[1].label == "Adam!"
    for cfg, t in zip(cfgs, traces):
        cfg = {k: v for k, v in cfg.items() if k != "label"}
        one = L.descend("rosenbrock", ROSENBROCK_START, steps=150, **cfg)
        assert one.stop_reason == t.stop_reason and one.n_steps == t.n_steps
        np.testing.assert_allclose(one.points, t.points, rtol=0, atol=1e-12)


def test_user_functions():
    t = L.descend(lambda x, y: (x - 1) ** 2 + md.sin(y) ** 2, (0.0, 0.5), steps=500, lr=0.1)
    assert t.stop_reason == "tol" and np.allclose(t.end, (1, 0), atol=1e-5)
    numpy_only = lambda x, y: (np.asarray(x) - 1) ** 2 + np.asarray(y) ** 2  # noqa: E731
    t2 = L.descend(numpy_only, (0.0, 0.5), steps=500, lr=0.1, gradient="numeric", eps=1e-6)
    assert t2.stop_reason == "tol"
    with pytest.raises(TypeError, match="gradient='numeric'"):
        L.descend(numpy_only, (0.0, 0.5), steps=5, lr=0.1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown optimizer 'sdg'"):
        L.descend("booth", (0, 0), "sdg")
    with pytest.raises(TypeError, match="takes no argument beta"):
        L.descend("booth", (0, 0), "sgd", beta=0.9)
    with pytest.raises(ValueError, match="Nesterov"):
        L.descend("booth", (0, 0), "sgd", lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="gradient must be"):
        L.descend("booth", (0, 0), gradient="exact")
    with pytest.raises(ValueError, match="outside the domain"):
        L.descend("booth", (20, 0))
    with pytest.raises(ValueError, match="steps"):
        L.descend("booth", (0, 0), steps=-1)
    with pytest.raises(ValueError, match="start must be"):
        L.descend("booth", (0, 0, 0))
    with pytest.raises(KeyError, match="unknown function"):
        L.descend("bootg", (0, 0))
    t = L.descend("booth", (20, 0), stop_outside=False, steps=3, lr=0.01)
    assert t.stop_reason == "steps"
    assert L.descend("booth", (0, 0), md.optim.Adam, steps=3, lr=0.1).optimizer == "adam"

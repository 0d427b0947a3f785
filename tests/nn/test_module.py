"""nn.Module, Parameter, containers, Linear, activations, init: against torch.nn."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.nn.functional as F
from minidl import nn
from tests.helpers import assert_close, check_gradcheck, check_op


def copy_weights(m_model: nn.Module, t_model: torch.nn.Module) -> None:
    m_model.load_state_dict({k: v.detach().numpy() for k, v in t_model.state_dict().items()})


class MLPm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.blocks = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3, bias=False))
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 1)])
        self.register_buffer("scale", md.ones(1))
        self.register_buffer("cache", md.zeros(1), persistent=False)

    def forward(self, x):
        h = self.blocks(self.act(self.fc1(x))) * self.scale
        return self.heads[0](h), self.heads[1](h)


class MLPt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.act = torch.nn.ReLU()
        self.blocks = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3, bias=False))
        self.heads = torch.nn.ModuleList([torch.nn.Linear(3, 2), torch.nn.Linear(3, 1)])
        self.register_buffer("scale", torch.ones(1))
        self.register_buffer("cache", torch.zeros(1), persistent=False)

    def forward(self, x):
        h = self.blocks(self.act(self.fc1(x))) * self.scale
        return self.heads[0](h), self.heads[1](h)


MLPm.__name__ = MLPt.__name__ = "MLP"  # same class name, so reprs can be compared


def test_state_dict_keys_order_and_named_members_match_torch():
    m, t = MLPm(), MLPt()
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in t.parameters()]


def test_model_matches_torch_after_copying_weights():
    m, t = MLPm(), MLPt()
    copy_weights(m, t)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    mo, to = m(md.tensor(x)), t(torch.tensor(x))
    for a, b in zip(mo, to):
        assert_close(a, b, 1e-5, 1e-6, "output")
    (mo[0].sum() + mo[1].sum() * 2).backward()
    (to[0].sum() + to[1].sum() * 2).backward()
    for (name, p), q in zip(m.named_parameters(), t.parameters()):
        assert_close(p.grad, q.grad, 1e-4, 1e-5, f"grad of {name}")


def test_load_state_dict_reports_every_problem_at_once():
    m = MLPm()
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    del sd["fc1.bias"], sd["heads.1.weight"]
    sd["blocks.0.weight"] = np.zeros((3, 3), dtype=np.float32)
    sd["extra.weight"] = np.zeros(2, dtype=np.float32)
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(sd)
    msg = str(err.value)
    for part in ('"fc1.bias"', '"heads.1.weight"', '"extra.weight"', "size mismatch for blocks.0.weight",
                 "(3, 3)", "(8, 8)", "Missing key(s)", "Unexpected key(s)"):  # fmt: skip
        assert part in msg, part
    # strict=False still refuses wrong shapes but reports the rest
    del sd["blocks.0.weight"]
    result = m.load_state_dict(sd, strict=False)
    assert set(result.missing_keys) == {"fc1.bias", "heads.1.weight", "blocks.0.weight"}
    assert result.unexpected_keys == ["extra.weight"]


def test_load_state_dict_copies_values_and_keeps_identity():
    a, b = MLPm(), MLPm()
    w = b.fc1.weight
    b.load_state_dict(a.state_dict())
    assert b.fc1.weight is w
    np.testing.assert_array_equal(b.fc1.weight.detach().numpy(), a.fc1.weight.detach().numpy())
    b.fc1.weight.data.add_(1)  # a copy, not shared
    assert not np.allclose(b.fc1.weight.detach().numpy(), a.fc1.weight.detach().numpy())


def test_train_eval_flags_propagate():
    m = MLPm()
    assert m.training and m.blocks[0].training
    m.eval()
    assert not m.training and not m.blocks[1].training and not m.heads[0].training
    m.train()
    assert all(mod.training for mod in m.modules())


def test_freezing_gives_no_grad_and_skips_work():
    m = MLPm()
    m.fc1.requires_grad_(False)
    for p in m.blocks.parameters():
        p.requires_grad = False
    out = m(md.randn(2, 4))
    (out[0].sum() + out[1].sum()).backward()
    assert m.fc1.weight.grad is None and m.blocks[0].weight.grad is None
    assert m.heads[0].weight.grad is not None
    m.zero_grad()
    assert m.heads[0].weight.grad is None


def test_zero_grad_set_to_none_false():
    lin = nn.Linear(2, 2)
    lin(md.ones(1, 2)).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and not lin.weight.grad.numpy().any()


def test_apply_and_to_dtype():
    m = MLPm()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    t_seen = []
    MLPt().apply(lambda mod: t_seen.append(type(mod).__name__))
    assert seen == t_seen
    m.double()
    assert all(p.dtype == md.float64 for p in m.parameters())
    assert m(md.randn(2, 4, dtype=md.float64))[0].dtype == md.float64
    with pytest.raises(TypeError, match="floating point"):
        m.to(md.int64)


def test_repr_matches_torch():
    assert repr(MLPm()) == repr(MLPt())
    assert repr(nn.Linear(3, 4, bias=False)) == repr(torch.nn.Linear(3, 4, bias=False))
    for m, t in [(nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.ELU(), torch.nn.ELU()),
                 (nn.GELU(), torch.nn.GELU()), (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
                 (nn.Softplus(), torch.nn.Softplus()), (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
                 (nn.Flatten(), torch.nn.Flatten()), (nn.Identity(), torch.nn.Identity()),
                 (nn.Unflatten(1, (2, 3)), torch.nn.Unflatten(1, (2, 3)))]:  # fmt: skip
        assert repr(m) == repr(t)
    p = nn.Parameter(md.tensor([1.0]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0])))


def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(md.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.plain = md.zeros(1)  # a plain tensor attribute is not registered
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError):
        m.w = md.zeros(2)
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(KeyError):
        m.register_buffer("a.b", md.zeros(1))
    del m.sub
    assert list(m.named_children()) == []

    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(md.zeros(1))

    with pytest.raises(AttributeError, match=r"before Module\.__init__"):
        NoInit()


def test_shared_parameters_appear_once():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_sequential_indexing_like_torch():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    s = nn.Sequential(*layers)
    assert len(s) == 3 and s[0] is layers[0] and s[-1] is layers[2]
    assert isinstance(s[1:], nn.Sequential) and len(s[1:]) == 2 and s[1:][0] is layers[1]
    assert list(s) == layers
    s.append(nn.Sigmoid())
    assert len(s) == 4 and list(s.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    od = nn.Sequential(OrderedDict([("conv", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(od.state_dict()) == ["conv.weight", "conv.bias"] and od.act is od[1]
    del s[1]
    assert [type(x).__name__ for x in s] == ["Linear", "Linear", "Sigmoid"]
    with pytest.raises(IndexError):
        s[10]


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and isinstance(ml[-1], nn.ReLU) and len(list(ml.parameters())) == 6
    md_ = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    assert "a" in md_ and list(md_.keys()) == ["a", "b"] and list(md_.state_dict()) == ["a.weight", "a.bias"]


def test_parameter_basics():
    p = nn.Parameter(md.randn(3))
    assert p.requires_grad and p.is_leaf and isinstance(p, md.Tensor)
    assert not nn.Parameter(md.randn(3), requires_grad=False).requires_grad
    y = p * 2
    assert type(y) is md.Tensor and y.requires_grad


@given(st.integers(1, 6), st.integers(1, 6), st.booleans(), st.integers(0, 2**31 - 1))
def test_linear_matches_torch(inf, outf, bias, seed):
    t = torch.nn.Linear(inf, outf, bias=bias).double()
    m = nn.Linear(inf, outf, bias=bias).double()
    copy_weights(m, t)
    x = np.random.default_rng(seed).standard_normal((3, 2, inf))
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(seed + 1).standard_normal((3, 2, outf))
    m(xm).backward(md.tensor(g))
    t(xt).backward(torch.tensor(g))
    assert_close(xm.grad, xt.grad, 1e-9, 1e-10, "input grad")
    assert_close(m.weight.grad, t.weight.grad, 1e-9, 1e-10, "weight grad")
    if bias:
        assert_close(m.bias.grad, t.bias.grad, 1e-9, 1e-10, "bias grad")


def test_linear_gradcheck_and_errors():
    rng = np.random.default_rng(0)
    check_gradcheck(lambda x, w, b: F.linear(x, w, b), [rng.standard_normal((2, 3)), rng.standard_normal((4, 3)),
                                                         rng.standard_normal(4)])  # fmt: skip
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3, out_features=2\).*\(4, 5\)"):
        nn.Linear(3, 2)(md.zeros(4, 5))


@pytest.mark.parametrize(
    "m_fn,t_fn",
    [
        (lambda x: F.leaky_relu(x, 0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2)),
        (lambda x: F.elu(x, 0.7), lambda x: torch.nn.functional.elu(x, 0.7)),
        (F.gelu, torch.nn.functional.gelu),
        (lambda x: F.gelu(x, approximate="tanh"), lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
        (lambda x: F.softplus(x, 2.0, 3.0), lambda x: torch.nn.functional.softplus(x, 2.0, 3.0)),
        (F.silu, torch.nn.functional.silu),
        (F.relu6, torch.nn.functional.relu6),
        (lambda x: F.hardtanh(x, -0.5, 0.7), lambda x: torch.nn.functional.hardtanh(x, -0.5, 0.7)),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=-1), torch.nn.LogSoftmax(dim=-1)),
    ],
)
@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_activations_match_torch(m_fn, t_fn, seed, dtype):
    x = (np.random.default_rng(seed).standard_normal((3, 5)) * 4).astype(dtype)
    check_op(m_fn, [x], torch_fn=t_fn)


def test_activations_gradcheck():
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    x = np.where(np.abs(x) < 0.05, 0.3, x)  # away from the kinks
    for fn in (lambda t: F.leaky_relu(t, 0.1), F.elu, F.gelu, lambda t: F.gelu(t, approximate="tanh"),
               lambda t: F.softplus(t, 1.5, 4.0), F.silu):  # fmt: skip
        check_gradcheck(fn, [x])


def test_one_hot_like_torch():
    idx = [3, 0, 2, 2]
    expected = torch.nn.functional.one_hot(torch.tensor(idx)).numpy()
    np.testing.assert_array_equal(F.one_hot(md.tensor(idx)).numpy(), expected)
    assert F.one_hot(md.tensor(idx), 6).shape == (4, 6)
    with pytest.raises(RuntimeError):
        F.one_hot(md.tensor([5]), 3)


# ---------------------------------------------------------------------------- init


def test_default_linear_init_bounds_like_torch():
    md.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-k, k) has std k / sqrt(3)


@pytest.mark.parametrize(
    "nl,param",
    [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("leaky_relu", None), ("selu", None),
     ("sigmoid", None), ("conv2d", None)],
)  # fmt: skip
def test_calculate_gain_like_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


@pytest.mark.parametrize(
    "fn,kwargs,expected_std",
    [
        ("xavier_uniform_", {}, math.sqrt(2 / (64 * 9 + 32 * 9))),
        ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / (64 * 9 + 32 * 9))),
        ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(64 * 9)),
        ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2) / math.sqrt(32 * 9)),
        ("kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(3 * 64 * 9)),
    ],
)
def test_init_statistics(fn, kwargs, expected_std):
    md.manual_seed(1)
    w = md.empty(32, 64, 3, 3)
    getattr(nn.init, fn)(w, **kwargs)
    assert abs(w.numpy().std() - expected_std) < 0.03 * expected_std
    assert abs(w.numpy().mean()) < 0.05 * expected_std
    if "uniform" in fn:
        assert np.abs(w.numpy()).max() <= math.sqrt(3) * expected_std * 1.0001


def test_init_fills_and_orthogonal():
    w = md.empty(3, 5)
    assert nn.init.constant_(w, 0.5).numpy().tolist() == [[0.5] * 5] * 3
    assert not nn.init.zeros_(w).numpy().any() and nn.init.ones_(w).numpy().all()
    np.testing.assert_array_equal(nn.init.eye_(w).numpy(), np.eye(3, 5))
    q = nn.init.orthogonal_(md.empty(4, 6)).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)
    u = nn.init.uniform_(md.empty(1000), -2, 3).numpy()
    assert u.min() >= -2 and u.max() < 3
    t = nn.init.trunc_normal_(md.empty(1000), std=2.0, a=-1, b=1).numpy()
    assert t.min() >= -1 and t.max() <= 1
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(md.empty(3))


def test_init_does_not_record_graph():
    p = nn.Parameter(md.zeros(3, 3))
    nn.init.kaiming_normal_(p)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad


# ---------------------------------------------------------------------------- hooks


def test_forward_hooks_call_order_and_replacement():
    calls = []
    lin = nn.Linear(2, 2)
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append(("pre", args[0].shape)))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(("post", out.shape)) or out * 0)
    out = lin(md.ones(3, 2))
    assert calls == [("pre", (3, 2)), ("post", (3, 2))] and not out.detach().numpy().any()
    h1.remove()
    h2.remove()
    assert lin(md.ones(1, 2)).detach().numpy().any() and len(calls) == 2


def test_full_backward_hook_matches_torch():
    def run(lib_nn, lib):
        lin = lib_nn.Linear(3, 2)
        lin.weight.data.fill_(0.5)
        lin.bias.data.fill_(0.1)
        got = []
        lin.register_full_backward_hook(lambda m, gi, go: got.append(
            ([None if g is None else np.array(g.detach().numpy()) for g in gi],
             [np.array(g.detach().numpy()) for g in go])))  # fmt: skip
        x = lib.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
        (lin(x) * lib.tensor([[1.0, -2.0]])).sum().backward()
        y = lib.tensor([[1.0, 2.0, 3.0]])  # an input that needs no grad
        (lin(y) * 3).sum().backward()
        return got

    mine, theirs = run(nn, md), run(torch.nn, torch)
    assert len(mine) == len(theirs) == 2
    for (gi_m, go_m), (gi_t, go_t) in zip(mine, theirs):
        assert len(gi_m) == len(gi_t) and len(go_m) == len(go_t)
        for a, b in zip(gi_m + go_m, gi_t + go_t):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-6)


def test_hook_call_order_and_arguments_match_torch():
    def run(lib_nn, lib):
        log = []
        net = lib_nn.Sequential(lib_nn.Linear(3, 4), lib_nn.ReLU(), lib_nn.Linear(4, 2))
        for name, m in [("net", net), ("0", net[0]), ("1", net[1]), ("2", net[2])]:
            m.register_forward_pre_hook(lambda mod, args, name=name: log.append(("pre", name, tuple(args[0].shape))))
            m.register_forward_hook(lambda mod, args, out, name=name: log.append(("fwd", name, tuple(out.shape))))
            m.register_full_backward_hook(lambda mod, gi, go, name=name: log.append(
                ("bwd", name, tuple(None if g is None else tuple(g.shape) for g in gi),
                 tuple(tuple(g.shape) for g in go))))  # fmt: skip
        # a pre-hook that replaces the input, and a second forward hook that replaces the output
        net[2].register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        net[2].register_forward_hook(lambda mod, args, out: out + 1)
        x = lib.ones(5, 3, requires_grad=True)
        out = net(x)
        out.sum().backward()
        return log, out.detach().numpy()

    (log_m, out_m) = run(nn, md)
    torch.manual_seed(0)
    (log_t, out_t) = run(torch.nn, torch)
    assert log_m == log_t
    assert out_m.shape == out_t.shape

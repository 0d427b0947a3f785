"""The backward engine: graph walk, accumulation, retain_graph, hooks, grad modes, Functions."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import minidl as md
from minidl.autograd import Function
from tests.helpers import assert_close


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = md.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_gradients_accumulate_across_backward_calls():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_subgraph_gets_the_sum_of_both_paths():
    xt = torch.tensor([0.5, -1.5], requires_grad=True)
    x = md.tensor([0.5, -1.5], requires_grad=True)
    for v in (x, xt):
        h = v.exp()
        (h * h + h.sin() * 2).sum().backward()
    assert_close(x.grad, xt.grad, 1e-6, 1e-6, "diamond graph")


def test_second_backward_without_retain_graph_raises_torch_error():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]), rtol=1e-6)


def test_graph_without_saved_arrays_can_run_twice_like_torch():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def _arrays_held_by_graph(root: md.Tensor) -> list[np.ndarray]:
    found, stack, seen = [], [root.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        found += [v for v in node._saved if isinstance(v, np.ndarray)]
        found += [v for v in getattr(node, "__dict__", {}).values() if isinstance(v, np.ndarray)]
        stack += [n for n, _ in node.next_functions]
    return found


def test_graph_keeps_no_arrays_after_backward():
    w = md.randn(16, 8, requires_grad=True)
    x = md.randn(4, 16)
    loss = (x @ w).relu().softmax(1).log().mean()
    assert _arrays_held_by_graph(loss), "forward should have saved arrays"
    loss.backward()
    assert _arrays_held_by_graph(loss) == []


def test_kept_loss_does_not_keep_activations_alive():
    w = md.randn(32, 32, requires_grad=True)
    x = md.randn(8, 32)
    h = (x @ w).relu()
    ref = weakref.ref(h)
    loss = h.sum()
    del h
    loss.backward()
    gc.collect()
    assert ref() is None, "the activation tensor is still referenced by the graph"


def test_no_grad_builds_no_graph():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    with md.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert md.is_grad_enabled()


def test_grad_mode_decorators_and_nesting():
    x = md.tensor([1.0], requires_grad=True)

    @md.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with md.no_grad():
        with md.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with md.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    md.set_grad_enabled(False)
    assert not md.is_grad_enabled()
    md.set_grad_enabled(True)

    @md.set_grad_enabled(False)
    def g(t):
        return t * 2

    assert md.is_grad_enabled(), "decorating must not switch grad mode off"
    assert not g(x).requires_grad


def test_branches_that_need_no_grad_are_skipped():
    calls = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            calls.append(1)
            return g * 2

    w = md.tensor([1.0], requires_grad=True)
    c = md.tensor([3.0])
    y = Spy.apply(c) + w  # Spy's input needs no grad: no node
    y.sum().backward()
    assert calls == [] and c.grad is None and w.grad.item() == 1.0


def test_hooks_see_and_replace_gradients():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    h = x.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(seen[0], [1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        md.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad_keeps_non_leaf_gradient():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.retain_grad()
    z = y.sum() * 2
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), [2.0, 2.0])
    assert y.retains_grad
    w = x * 2
    (w.sum()).backward()
    assert w.grad is None  # not retained: like torch


def test_user_function_in_torch_style():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return x**3 * scale

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2 * ctx.scale, None

    x = md.tensor([1.0, -2.0], dtype=md.float64, requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 24.0])
    x64 = md.tensor([0.3, 1.2], dtype=md.float64, requires_grad=True)
    assert md.autograd.gradcheck(lambda t: Cube.apply(t, 0.5), (x64,))


def test_user_function_with_numpy_code_and_needs_input_grad():
    class Clip(Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x)
            return np.clip(np.asarray(x), -1, 1) + np.asarray(y)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * ((x > -1) & (x < 1)), None

    x = md.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    y = md.tensor([1.0, 1.0, 1.0])
    Clip.apply(x, y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_function_returning_wrong_number_of_gradients_errors():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    x = md.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(x, x).sum().backward()


def test_multi_output_function_materialises_missing_gradients():
    a = md.tensor([[1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    left, _right = a.split(2, dim=1)
    (left * 5).sum().backward()  # right gets no gradient: zeros are filled in
    np.testing.assert_allclose(a.grad.numpy(), [[5.0, 5.0, 0.0, 0.0]])


def test_backward_on_non_scalar_needs_gradient():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(md.tensor([1.0, 0.5]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0])
    with pytest.raises(RuntimeError, match=r"\(3,\)"):
        (x * 2).backward(md.tensor([1.0, 0.5, 2.0]))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        md.tensor([1.0]).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        md.tensor([1, 2]).requires_grad_()


def test_requires_grad_only_settable_on_leaves():
    x = md.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    assert y.detach().requires_grad is False


def test_autograd_grad_returns_without_accumulating():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    w = md.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = md.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x = md.tensor([1.0], requires_grad=True)
    z = md.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        md.autograd.grad((x * 2).sum(), [z])
    assert md.autograd.grad((x * 2).sum(), [z], allow_unused=True) == (None,)


def test_backward_inputs_argument_limits_accumulation():
    x = md.tensor([1.0], requires_grad=True)
    w = md.tensor([2.0], requires_grad=True)
    (x * w).sum().backward(inputs=[x])
    assert x.grad.item() == 2.0 and w.grad is None


def test_modifying_a_saved_tensor_in_place_is_detected():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y.exp()  # saves its output
    with md.no_grad():
        z.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_in_place_on_leaf_requiring_grad_raises():
    w = md.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w.add_(1)
    with md.no_grad():
        w.add_(1)  # fine under no_grad, as optimisers do
    assert w.item() == 2.0 and w.is_leaf and w.requires_grad


def test_in_place_in_a_graph_rebases_history_like_torch():
    # torchvision's BasicBlock does `out += identity`
    for lib in (md, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        out = x * 2
        identity = x.exp()
        out += identity
        out.relu_()
        (out * out).sum().backward()
        if lib is md:
            g_md = x.grad.numpy().copy()
        else:
            g_t = x.grad.numpy()
    np.testing.assert_allclose(g_md, g_t, rtol=1e-6)


def test_p_data_updates_write_through():
    p = md.tensor([1.0, 2.0], requires_grad=True)
    p.data.mul_(3)
    np.testing.assert_allclose(p.detach().numpy(), [3.0, 6.0])
    d = p.detach()
    d[0] = 10.0
    assert p[0].item() == 10.0


def test_grad_keeps_parameter_dtype():
    w = md.tensor([1.0, 2.0], requires_grad=True)  # float32
    s = md.tensor(0.5, dtype=md.float64, requires_grad=True)  # a 0-d float64 tensor
    y = w * s  # torch: float32 result
    assert y.dtype == md.float32
    y.sum().backward()
    assert w.grad.dtype == md.float32 and s.grad.dtype == md.float64


def test_detect_anomaly_names_the_op():
    x = md.tensor([-1.0], requires_grad=True)
    with md.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="nan"):
        x.sqrt().sum().backward()

"""A float32 model trains in float32: no op makes a float64 array in a training step.

A float64 array in a float32 step doubles the memory traffic of everything it touches and
silently promotes what it meets (a Python ``sum()``, an ``np.float64`` constant, a
``np.mean`` without ``dtype``...). Wrapping numpy's array-making functions would be
fragile, so the step is watched where every array of the graph passes:

- ``Function.apply``: each op's outputs, and the arrays it saved for backward;
- ``Node.run_backward``: the gradients each op's backward receives and the ones it
  returns, *before* the engine casts them to the input's dtype (which would hide a leak);
- ``Tensor._make``: every tensor minidl wraps (creation functions, ``.grad``, the
  optimisers' and modules' tensors).

After the step, the parameters, their gradients, the modules' buffers (BatchNorm's
running statistics) and the optimiser's state must be float32 too. Both the numba and
the pure-numpy paths are run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import minidl as md
from minidl import models, nn, optim
from minidl.autograd.function import Function, Node
from minidl.backend import numba_enabled, use_numba
from minidl.tensor import Tensor


class Float64Watch:
    """Records every floating array that is not float32 (where, dtype, shape)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, where: str, value: Any) -> None:
        arr = value._data if isinstance(value, Tensor) else value
        dtype = getattr(arr, "dtype", None)
        if dtype is None or dtype.kind not in "fc" or dtype == np.float32:
            return
        self.found.append(f"{where}: {dtype} {tuple(getattr(arr, 'shape', ()))}")

    def check_all(self, where: str, values: Any) -> None:
        for i, v in enumerate(values if isinstance(values, (tuple, list)) else (values,)):
            if v is not None:
                self.check(f"{where}[{i}]", v)


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Float64Watch]:
    w = Float64Watch()
    apply, run_backward, make = Function.apply.__func__, Node.run_backward, Tensor._make

    def watched_apply(cls: type[Function], *args: Any, **kwargs: Any) -> Any:
        out = apply(cls, *args, **kwargs)
        w.check_all(f"{cls.__name__} forward output", out)
        node = next((o.grad_fn for o in (out if isinstance(out, tuple) else (out,)) if o.grad_fn is not None), None)
        if node is not None:
            w.check_all(f"{cls.__name__} saved for backward", node._saved)
        return out

    def watched_run_backward(self: Node, grads: list[Any]) -> tuple[Any, ...]:
        w.check_all(f"{self.name()} incoming grad", grads)
        result = run_backward(self, grads)
        w.check_all(f"{self.name()} returned grad", result)
        return result

    def watched_make(data: Any) -> Tensor:
        t = make(data)
        w.check("Tensor._make", t)
        return t

    monkeypatch.setattr(Function, "apply", classmethod(watched_apply))
    monkeypatch.setattr(Node, "run_backward", watched_run_backward)
    monkeypatch.setattr(Tensor, "_make", staticmethod(watched_make))
    yield w


@pytest.fixture(params=["numba", "numpy"])
def kernel_path(request: pytest.FixtureRequest) -> Iterator[str]:
    was = numba_enabled()
    use_numba(request.param == "numba")
    if request.param == "numba" and not numba_enabled():
        use_numba(was)
        pytest.skip("numba is not importable here")
    yield request.param
    use_numba(was)


Setup = Callable[[], tuple[nn.Module, optim.Optimizer, int]]

SETUPS: dict[str, Setup] = {
    # COURSEWORK §2: the course CNN, SGD with Nesterov momentum and weight decay
    "CourseCNN + SGD Nesterov": lambda: _with_opt(models.CourseCNN(), lambda p: optim.SGD(
        p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4), 2),
    # §3 Model 2: Dropout2d, BatchNorm2d, BatchNorm1d; Adam
    "Model2 + Adam": lambda: _with_opt(models.Model2(), lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-5), 10),
    # §4 CIFAR-10 net with the inception block: Dropout, concatenation, stride-1 'same' max-pool; RMSprop
    "CifarNet(inception) + RMSprop": lambda: _with_opt(models.CifarNet(block="inception"),
                                                      lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.9), 10),
}  # fmt: skip


def _with_opt(model: nn.Module, make_opt: Callable[[Any], optim.Optimizer], classes: int) -> Any:
    return model, make_opt(model.parameters()), classes


def _arrays(value: Any) -> Iterator[Any]:
    """Every array in an optimiser-state value (tensors, arrays, nested containers)."""
    if isinstance(value, Tensor):
        yield value._data
    elif isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _arrays(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _arrays(v)


@pytest.mark.parametrize("setup", list(SETUPS), ids=list(SETUPS))
def test_float32_training_step_makes_no_float64(setup: str, kernel_path: str, watch: Float64Watch) -> None:
    md.manual_seed(0)
    model, opt, classes = SETUPS[setup]()
    rng = np.random.default_rng(0)
    x = md.tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = md.tensor(rng.integers(0, classes, 4))
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):  # the second step runs with the optimiser's state (momentum buffers) in place
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    with md.no_grad():
        model(x)
    assert loss.dtype == md.float32
    assert not watch.found, f"float64 arrays in a float32 step ({kernel_path} path):\n" + "\n".join(
        dict.fromkeys(watch.found))  # fmt: skip
    for name, p in model.named_parameters():
        assert p.dtype == md.float32 and p.grad is not None and p.grad.dtype == md.float32, name
    for name, b in model.named_buffers():
        if b.dtype.is_floating_point:
            assert b.dtype == md.float32, name
    state = [a for s in opt.state.values() for a in _arrays(s)]
    assert state, "the optimiser kept no state"
    assert all(a.dtype == np.float32 for a in state if a.dtype.kind == "f"), [a.dtype for a in state]


class _LeakyDouble(Function):
    """A deliberately wrong op: doubles x but computes (and returns) in float64."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64) * 2

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> np.ndarray:
        return g * np.float64(2)


def test_watch_catches_a_float64_leak(watch: Float64Watch) -> None:
    """The watch sees a leak that the engine's cast back to the input's dtype would hide."""
    x = md.tensor(np.ones(3, np.float32), requires_grad=True)
    _LeakyDouble.apply(x).sum().backward()
    assert x.grad.dtype == md.float32  # the engine casts the gradient back: invisible from outside
    assert any(f.startswith("_LeakyDouble forward output") for f in watch.found), watch.found
    assert any(f.startswith("_LeakyDoubleBackward returned grad") for f in watch.found), watch.found

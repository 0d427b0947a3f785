"""gradcheck itself: it passes right gradients and catches wrong ones, naming the input."""

from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl.autograd import Function, GradcheckError, gradcheck


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(md.tensor(rng.standard_normal(s), dtype=md.float64, requires_grad=True) for s in shapes)


def test_passes_on_a_composite_function():
    assert gradcheck(lambda a, b: ((a @ b).tanh() * a.sum()).softmax(1), _inputs((3, 4), (4, 2)))


def test_passes_on_multiple_outputs():
    assert gradcheck(lambda a: a.max(1), _inputs((3, 4)))
    assert gradcheck(lambda a: a.split(2, 1), _inputs((3, 4)))


def test_catches_a_wrong_gradient_and_names_the_input():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x)
            return x * x + y

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x, g  # should be 2 * g * x

    a, b = _inputs((3,), (3,))
    with pytest.raises(GradcheckError, match="input 0") as err:
        gradcheck(WrongSquare.apply, (a, b))
    assert "largest difference" in str(err.value)
    assert gradcheck(WrongSquare.apply, (a, b), raise_exception=False) is False


def test_only_inputs_requiring_grad_are_checked():
    a = md.tensor([1.0, 2.0], dtype=md.float64, requires_grad=True)
    c = md.tensor([3.0, 4.0], dtype=md.float64)
    assert gradcheck(lambda x, y: x * y, (a, c))
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda y: y * 2, (c,))


def test_warns_on_float32_inputs():
    a = md.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match="float64"):
        gradcheck(lambda x: x * 2, (a,), atol=1e-2, rtol=1e-2, eps=1e-3)

"""Calling a Module with its hooks: forward pre-hooks, forward hooks, full backward hooks.

A full backward hook ``hook(module, grad_input, grad_output)`` needs the gradients of the
module's outputs and inputs. The module's tensor inputs and outputs are passed through
identity Functions: the one on the outputs records ``grad_output``; the one on the inputs
receives ``grad_input`` and calls the hooks (or, when no input requires grad, the output
one calls them with ``grad_input`` of Nones, as torch).
"""

from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.tensor import Tensor


class _BackwardHookState:
    def __init__(self, module: Any, n_inputs: int, inputs_need_grad: bool) -> None:
        self.module = module
        self.n_inputs = n_inputs
        self.inputs_need_grad = inputs_need_grad
        self.grad_output: tuple[Any, ...] = ()

    def fire(self, grad_input: tuple[Any, ...]) -> tuple[Any, ...]:
        wrap = tuple(None if g is None else Tensor._make(g) for g in grad_input)
        for hook in list(self.module._backward_hooks.values()):
            out = hook(self.module, wrap, self.grad_output)
            if out is not None:
                wrap = tuple(out)
        return tuple(None if g is None else g._data for g in wrap)


class _Identity(Function):
    """Passes its inputs through; subclasses do their hook work in backward."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, *xs, state):
        ctx.state = state
        return xs if len(xs) > 1 else xs[0]


class _OutputIdentity(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        state.grad_output = tuple(Tensor._make(g) for g in grads)
        if not state.inputs_need_grad:
            state.fire((None,) * state.n_inputs)
        return grads


class _InputIdentity(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        return ctx.state.fire(grads)


def call_with_hooks(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    for hook in list(module._forward_pre_hooks.values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    state = None
    if module._backward_hooks:
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        needs = any(args[i].requires_grad for i in tensor_pos)
        state = _BackwardHookState(module, len(tensor_pos), needs)
        if needs:
            wrapped = _InputIdentity.apply(*(args[i] for i in tensor_pos), state=state)
            wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
            args = list(args)
            for i, w in zip(tensor_pos, wrapped):
                args[i] = w
            args = tuple(args)
    output = module.forward(*args, **kwargs)
    for hook in list(module._forward_hooks.values()):
        result = hook(module, args, output)
        if result is not None:
            output = result
    if state is not None:
        outs = output if isinstance(output, tuple) else (output,)
        if any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            wrapped = _OutputIdentity.apply(*outs, state=state)
            output = wrapped
    return output

"""``Function``: one differentiable operation, its forward and its backward side by side.

Write an op as in ``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):             # x: Tensor (detached, no graph is recorded here)
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):         # grad: Tensor, dL/dy
            (y,) = ctx.saved_tensors
            return grad * y              # dL/dx, one value per input of forward

    y = Exp.apply(x)

minidl's own ops set ``works_on_arrays = True``: their ``forward``/``backward`` then take
and return raw arrays (numpy or cupy), which keeps each op one screen of plain numpy.

How the graph is kept (see DESIGN.md, "Autograd"): ``apply`` makes one :class:`Node` per
call. The node *is* the ``ctx`` that forward and backward see, and it becomes the
output's ``grad_fn``. It links to the nodes of its inputs (``next_functions``, as in
torch), never to the input tensors, and stores only their shapes and dtypes; arrays live
in ``ctx.save_for_backward`` and are dropped once backward has used them. So a kept
``loss`` keeps no activations alive.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from minidl import backend as _backend
from minidl.autograd import grad_mode
from minidl.backend import device_of

__all__ = ["AccumulateGrad", "Function", "Node", "RemovableHandle"]

#: the active ``minidl.profiler.profile`` (None when off: one global read per op)
_PROFILER: Any = None

FREED_GRAPH_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` takes the hook off again."""

    def __init__(self, hooks: list[Callable[..., Any]], hook: Callable[..., Any]) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class Node:
    """A node of the backward graph; also the ``ctx`` of the Function call that made it.

    ``next_functions[i]`` is ``(node, output_nr)`` for the i-th tensor input that requires
    grad (the input's ``grad_fn`` or its :class:`AccumulateGrad`), or ``(None, 0)``.
    ``input_meta[i]`` holds that input's ``(shape, dtype)``, which the engine uses to sum
    a broadcast gradient back to the input's shape and keep the input's dtype.
    """

    __slots__ = (
        "__dict__",  # ctx attributes an op sets (ints, shapes, flags: never arrays)
        "__weakref__",
        "_arg_slots",
        "_fn",
        "_freed",
        "_n_args",
        "_output_meta",
        "_pre_hooks",
        "_saved",
        "_saved_versions",
        "input_meta",
        "materialize_grads",
        "needs_input_grad",
        "next_functions",
    )

    def __init__(self, fn: type[Function] | None) -> None:
        self._fn = fn
        self._saved: tuple[Any, ...] = ()
        self._saved_versions: tuple[tuple[list[int], int], ...] = ()
        self._freed = False
        self._pre_hooks: dict[int, list[Callable[..., Any]]] | None = None
        self.materialize_grads = True

    # ---- the ctx API used inside forward/backward -------------------------------------
    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays or tensors) for backward; they are freed after it."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._freed:
            raise RuntimeError(FREED_GRAPH_MESSAGE)
        for counter, version in self._saved_versions:
            if counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: it is at version {counter[0]}; expected version {version} "
                    f"instead (in {self.name()})."
                )
        return self._saved

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Accepted for torch compatibility: integer outputs never get a grad_fn anyway."""

    def set_materialize_grads(self, value: bool) -> None:
        """When False, backward may receive None for outputs that got no gradient."""
        self.materialize_grads = value

    # ---- introspection, as torch's grad_fn ---------------------------------------------
    def name(self) -> str:
        return f"{self._fn.__name__}Backward" if self._fn is not None else type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()}>"

    def register_prehook(self, output_nr: int, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(grad)`` on the gradient of output ``output_nr`` before backward."""
        if self._pre_hooks is None:
            self._pre_hooks = {}
        hooks = self._pre_hooks.setdefault(output_nr, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    # ---- used by the engine -------------------------------------------------------------
    @property
    def num_outputs(self) -> int:
        return len(self._output_meta)

    def run_backward(self, grads: list[Any]) -> tuple[Any, ...]:
        """Call the Function's backward; returns one gradient (or None) per tensor input."""
        if self._freed:
            raise RuntimeError(FREED_GRAPH_MESSAGE)
        fn = self._fn
        assert fn is not None
        prof = _PROFILER
        if prof is not None:
            t0 = perf_counter()
        with np.errstate(all="ignore"):
            if fn.works_on_arrays:
                result = fn.backward(self, *grads)
            else:
                from minidl.tensor import Tensor

                wrapped = [g if g is None else Tensor._make(g) for g in grads]
                with grad_mode.no_grad():
                    result = fn.backward(self, *wrapped)
        if prof is not None:
            prof.record_backward(self, perf_counter() - t0)
        if not isinstance(result, tuple):
            result = (result,)
        n_args, slots = self._n_args, self._arg_slots
        if len(result) < n_args or any(r is not None for r in result[n_args:]):
            raise RuntimeError(  # torch's wording
                f"function {self.name()} returned an incorrect number of gradients "
                f"(expected {n_args}, got {len(result)})"
            )
        if not fn.works_on_arrays:
            for pos, r in enumerate(result[:n_args]):
                if r is not None and pos not in slots:
                    raise RuntimeError(
                        f"function {self.name()} returned a gradient different than None at "
                        f"position {pos + 1}, but the corresponding forward input was not a Tensor"
                    )
        out = []
        for pos in slots:
            g = result[pos]
            if g is not None and not fn.works_on_arrays:
                g = g._data if hasattr(g, "_data") else g
            out.append(g)
        return tuple(out)

    def release(self) -> None:
        """Drop the saved values (after a backward without ``retain_graph``)."""
        if self._saved:
            self._freed = True
        self._saved = ()
        self._saved_versions = ()


class AccumulateGrad(Node):
    """The node of a leaf tensor that requires grad: adds incoming gradients to ``.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        super().__init__(None)
        self.variable = variable
        self.next_functions = ()
        self.input_meta = ()
        self._output_meta = ((variable.shape, variable._data.dtype),)

    def name(self) -> str:
        return "AccumulateGrad"

    def register_prehook(self, output_nr: int, hook: Callable[..., Any]) -> RemovableHandle:
        return super().register_prehook(0, hook)

    def release(self) -> None:
        pass


def _grad_node_of(t: Any) -> tuple[Node | None, int]:
    """The node a gradient for tensor ``t`` flows into: its grad_fn, or its AccumulateGrad."""
    if t.grad_fn is not None:
        return t.grad_fn, t._output_nr
    acc = t._accumulator() if t._accumulator is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._accumulator = weakref.ref(acc)
    return acc, 0


class Function:
    """Base class of differentiable operations (see the module docstring)."""

    #: minidl's built-in ops compute on raw arrays; user Functions get Tensors, as in torch.
    works_on_arrays = False

    #: keyword arguments that carry the data of user tensors (targets, class weights, running
    #: statistics, masks, indices): once CuPy is in use, ``apply`` checks that they live on the
    #: inputs' device. Other array keywords are host-side tables (divisors, index maps) that
    #: forward moves itself.
    device_kwargs: frozenset[str] = frozenset(
        {"target", "weight", "pos_weight", "running_mean", "running_var", "cond", "index", "mask"}
    )

    @staticmethod
    def forward(ctx: Node, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")  # noqa

    @staticmethod
    def backward(ctx: Node, *grads: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")  # noqa

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward on ``args`` and, when grad is needed, record a node for backward."""
        from minidl.tensor import Tensor

        # Unwrap tensor arguments and find the ones that need grad.
        record = grad_mode._STATE[0]
        slots: list[int] = []  # positions of tensor arguments
        tensors: list[Tensor] = []
        raw_args = list(args)
        any_requires = False
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                slots.append(i)
                tensors.append(a)
                raw_args[i] = a._data if cls.works_on_arrays else a.detach()
                if a._requires_grad:
                    any_requires = True
        if _backend._cupy is not None:  # until CuPy is imported every array is numpy: nothing to check
            check_same_device(cls, tensors, kwargs)
        needs_graph = record and any_requires

        ctx = Node(cls)
        if needs_graph:
            ctx.needs_input_grad = tuple(
                isinstance(a, Tensor) and a._requires_grad for a in args
            )
        else:
            ctx.needs_input_grad = (False,) * len(args)
        # no graph inside forward; no numpy warnings for nan/inf results (torch gives none)
        prev = grad_mode._STATE[0]
        grad_mode._STATE[0] = False
        prof = _PROFILER
        if prof is not None:
            t0 = perf_counter()
        try:
            with np.errstate(all="ignore"):
                out = cls.forward(ctx, *raw_args, **kwargs)
        finally:
            grad_mode._STATE[0] = prev
        if prof is not None:
            prof.record_forward(cls, ctx, perf_counter() - t0, tensors)

        is_tuple = isinstance(out, tuple)
        outs = out if is_tuple else (out,)
        results = []
        for o in outs:
            if isinstance(o, Tensor):
                o = o._data
            results.append(Tensor._make(o))
        if needs_graph:
            ctx.next_functions = tuple(
                _grad_node_of(t) if t._requires_grad else (None, 0) for t in tensors
            )
            ctx.input_meta = tuple((t._data.shape, t._data.dtype) for t in tensors)
            ctx._arg_slots = tuple(slots)
            ctx._n_args = len(args)
            ctx._output_meta = tuple((r._data.shape, r._data.dtype) for r in results)
            _record_saved_versions(ctx, tensors, results)
            for nr, r in enumerate(results):
                if r._data.dtype.kind in "fc":
                    r._requires_grad = True
                    r.grad_fn = ctx
                    r._output_nr = nr
        return tuple(results) if is_tuple else results[0]


def _record_saved_versions(ctx: Node, inputs: list[Any], outputs: list[Any]) -> None:
    """Remember the versions of inputs/outputs whose arrays forward saved.

    Backward then refuses to run if one was since changed in place (torch's check).
    """
    saved = ctx._saved
    if not saved:
        return
    versions = []
    for t in (*inputs, *outputs):
        arr = t._data
        for s in saved:
            if s is arr or getattr(s, "_data", None) is arr:
                versions.append((t._version, t._version[0]))
                break
    if versions:
        ctx._saved_versions = tuple(versions)


def check_same_device(cls: type[Function], tensors: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise torch's RuntimeError when the inputs of one op live on different devices.

    Looks at the tensor arguments and at the keyword arguments named in
    ``cls.device_kwargs`` (minidl's ops hand targets, class weights, masks, indices and
    running statistics to ``forward`` that way). Without this check a CPU array meeting a
    CuPy array fails deep inside CuPy, or is silently copied.
    """
    names, arrays = cls.device_kwargs, (np.ndarray, _backend._cupy.ndarray)
    values = [t._data for t in tensors]
    for k, v in kwargs.items():
        if k in names:
            v = getattr(v, "_data", v)  # a tensor passed by keyword
            if isinstance(v, arrays):  # not None, numbers or numpy scalars (CuPy takes those)
                values.append(v)
    first = None
    for v in values:
        d = device_of(v)
        if first is None:
            first = d
        elif d != first:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found at least two devices, {first} and {d}! "
                f"(in {cls.__name__}: move them to one device with .to(device) first)"
            )

"""The backward pass: walk the graph from the outputs to the leaves, without recursion.

1. Count, for every node reachable from the roots, how many edges lead into it.
2. Start from the roots; a node runs once every edge into it has delivered its gradient
   (so each node's gradient is complete: a topological order, found iteratively, so a
   chain of 100,000 ops needs no deep Python stack).
3. A node's gradients for its inputs are summed back over broadcast dimensions and cast
   to the input's dtype here, once, instead of in every op.
4. Leaves add their gradient into ``.grad`` (``backward``) or hand it back
   (``autograd.grad``). Without ``retain_graph`` each node drops its saved arrays as soon
   as it has run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.autograd.function import AccumulateGrad, Node, _grad_node_of
from minidl.backend import array_module

__all__ = ["backward", "detect_anomaly", "grad", "sum_to_shape"]

_ANOMALY = [False]


class detect_anomaly:
    """Inside this block backward raises as soon as an op's gradient holds NaN."""

    def __init__(self, check_nan: bool = True) -> None:
        self._mode = check_nan

    def __enter__(self) -> None:
        self._prev = _ANOMALY[0]
        _ANOMALY[0] = self._mode

    def __exit__(self, *exc: object) -> None:
        _ANOMALY[0] = self._prev


def sum_to_shape(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum gradient ``g`` over the dimensions that broadcasting added or stretched.

    ``g`` has the broadcast shape of an op's output; ``shape`` is the input's shape.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise RuntimeError(f"gradient of shape {tuple(g.shape)} does not fit an input of shape {shape}")
    axes = list(range(lead))
    for i, n in enumerate(shape):
        m = g.shape[lead + i]
        if n == 1 and m != 1:
            axes.append(lead + i)
        elif n != m:
            raise RuntimeError(
                f"gradient of shape {tuple(g.shape)} does not fit an input of shape {shape}"
            )
    if axes:
        g = g.sum(axis=tuple(axes), keepdims=True)
    return g.reshape(shape)


def _run(
    roots: Sequence[tuple[Node, int, Any]],
    retain_graph: bool,
    capture: dict[tuple[int, int], int] | None = None,
) -> list[Any]:
    """Backpropagate ``roots`` = [(node, output_nr, grad array)].

    With ``capture`` = {(id(node), output_nr): k}, gradients reaching those slots are
    returned (as ``autograd.grad`` does) and no leaf's ``.grad`` is touched.
    """
    # 1. dependencies: the number of edges into each node from nodes we will run
    deps: dict[Node, int] = {}
    stack = list(dict.fromkeys(node for node, _, _ in roots))  # two outputs of one node: one root
    seen = set(stack)
    while stack:
        node = stack.pop()
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)

    buffers: dict[Node, list[Any]] = {}
    for node, nr, g in roots:
        buf = buffers.setdefault(node, [None] * node.num_outputs)
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    ready = [node for node in buffers if deps.get(node, 0) == 0]
    captured: list[Any] = [None] * (len(capture) if capture else 0)
    anomaly = _ANOMALY[0]

    while ready:
        node = ready.pop()
        grads = buffers.pop(node)
        if node._pre_hooks:
            _call_pre_hooks(node, grads)
        if capture:
            for nr, g in enumerate(grads):
                k = capture.get((id(node), nr))
                if k is not None and g is not None:
                    captured[k] = g if captured[k] is None else captured[k] + g

        if isinstance(node, AccumulateGrad):
            if capture is None and grads[0] is not None:
                _accumulate(node.variable, grads[0])
            continue

        if all(g is None for g in grads):
            in_grads: tuple[Any, ...] = (None,) * len(node.next_functions)
        else:
            if node.materialize_grads:
                for i, g in enumerate(grads):
                    if g is None:
                        shape, dtype = node._output_meta[i]
                        ref = next(x for x in grads if x is not None)
                        grads[i] = array_module(ref).zeros(shape, dtype=dtype)
            in_grads = node.run_backward(grads)
            if anomaly:
                _check_anomaly(node, in_grads)
        if not retain_graph:
            node.release()

        for (nxt, nr), g, (shape, dtype) in zip(node.next_functions, in_grads, node.input_meta):
            if nxt is None:
                continue
            if g is not None:
                if g.shape != shape:
                    g = sum_to_shape(g, shape)
                if g.dtype != dtype:
                    g = g.astype(dtype)
                buf = buffers.get(nxt)
                if buf is None:
                    buf = buffers[nxt] = [None] * nxt.num_outputs
                buf[nr] = g if buf[nr] is None else buf[nr] + g
            deps[nxt] -= 1
            if deps[nxt] == 0:
                ready.append(nxt)
                buffers.setdefault(nxt, [None] * nxt.num_outputs)
    return captured


def _call_pre_hooks(node: Node, grads: list[Any]) -> None:
    """Tensor hooks: each may replace the gradient of the tensor it was registered on."""
    from minidl.tensor import Tensor

    assert node._pre_hooks is not None
    for nr, hooks in node._pre_hooks.items():
        if grads[nr] is None:
            continue
        for hook in list(hooks):
            new = hook(Tensor._make(grads[nr]))
            if new is not None:
                grads[nr] = new._data if isinstance(new, Tensor) else new


def _accumulate(leaf: Any, g: Any) -> None:
    """``leaf.grad += g``; the first gradient is copied so no two leaves share an array."""
    from minidl.tensor import Tensor

    if leaf._grad is None:
        leaf._grad = Tensor._make(g.copy())
    else:
        leaf._grad._data = leaf._grad._data + g


def _check_anomaly(node: Node, grads: tuple[Any, ...]) -> None:
    for i, g in enumerate(grads):
        if g is not None and g.dtype.kind == "f" and bool(array_module(g).isnan(g).any()):
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.")


def _root_grads(tensors: Sequence[Any], grad_tensors: Sequence[Any] | None) -> list[tuple[Node, int, Any]]:
    from minidl.tensor import Tensor

    roots = []
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(
            f"backward: got {len(tensors)} tensors and {len(grad_tensors)} gradients"
        )
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (got a tensor of "
                    f"shape {tuple(t.shape)}); pass backward(gradient=...) of that shape"
                )
            g_arr = array_module(t._data).ones(t._data.shape, dtype=t._data.dtype)
        else:
            g_arr = g._data if isinstance(g, Tensor) else array_module(t._data).asarray(g)
            if g_arr.shape != t._data.shape:
                raise RuntimeError(
                    f"backward: gradient of shape {tuple(g_arr.shape)} does not match the "
                    f"tensor's shape {tuple(t.shape)}"
                )
            g_arr = g_arr.astype(t._data.dtype, copy=False)
        node, nr = _grad_node_of(t)
        roots.append((node, nr, g_arr))
    return roots


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Add d(tensors)/d(leaf) into every leaf's ``.grad`` (``torch.autograd.backward``)."""
    if create_graph:
        raise RuntimeError("create_graph=True (higher-order gradients) is not supported by minidl")
    tensors = _as_sequence(tensors)
    if grad_tensors is not None:
        grad_tensors = _as_sequence(grad_tensors)
    roots = _root_grads(tensors, grad_tensors)
    if inputs is not None:
        inputs = _as_sequence(inputs)
        grads = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                _accumulate(t, g._data)
        return
    _run(roots, retain_graph=bool(retain_graph))


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Any, ...]:
    """d(outputs)/d(inputs), returned instead of accumulated (``torch.autograd.grad``)."""
    from minidl.tensor import Tensor

    if create_graph:
        raise RuntimeError("create_graph=True (higher-order gradients) is not supported by minidl")
    outputs = _as_sequence(outputs)
    inputs = _as_sequence(inputs)
    if grad_outputs is not None:
        grad_outputs = _as_sequence(grad_outputs)
    capture: dict[tuple[int, int], int] = {}
    for k, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError(f"grad: input {k} does not require grad")
        node, nr = _grad_node_of(t)
        capture[(id(node), nr)] = k
    roots = _root_grads(outputs, grad_outputs)
    found = _run(roots, retain_graph=bool(retain_graph), capture=capture)
    result = []
    for k, g in enumerate(found):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {k} was not used in the graph; pass allow_unused=True to get None"
                )
            result.append(None)
        else:
            t = inputs[k]
            if g.shape != t._data.shape:
                g = sum_to_shape(g, t._data.shape)
            result.append(Tensor._make(g.astype(t._data.dtype, copy=False)))
    return tuple(result)


def _as_sequence(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]

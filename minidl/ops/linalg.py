"""Matrix products: matmul (1-D, 2-D and batched, with broadcasting), mm, bmm, dot.

Shapes, as numpy/torch ``matmul``:
  (n,) @ (n,) -> ()            (m, n) @ (n,) -> (m,)          (n,) @ (n, p) -> (p,)
  (..., m, n) @ (..., n, p) -> (..., m, p), the batch dims ``...`` broadcast.
Backward: dA = g @ B^T, dB = A^T @ g, with 1-D operands treated as a row (A) or column
(B) matrix; the engine then sums the broadcast batch dims back to each input's shape.
"""

from __future__ import annotations

from minidl.autograd.function import Function
from minidl.backend import array_module, threads
from minidl.errors import ShapeError
from minidl.ops.elementwise import promote
from minidl.tensor import Tensor

__all__ = ["bmm", "dot", "linear", "matmul", "mm"]


class MatMul(Function):
    """out = a @ b (see the module docstring for shapes)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return threads.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a  # (1, n): a row
        b2 = b[:, None] if b.ndim == 1 else b  # (n, 1): a column
        # restore the dims matmul dropped, the column's first: for (n,) @ (n,) g is 0-d
        if b.ndim == 1:
            g = g[..., None]  # the column dim
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)  # the row dim
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = threads.matmul(g, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            gb = threads.matmul(xp.swapaxes(a2, -1, -2), g)
            if b.ndim == 1:
                gb = gb[..., 0]
        return ga, gb


def _check(op: str, a: Tensor, b: Tensor) -> None:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected two Tensors, got {type(a).__name__} and {type(b).__name__}")
    sa, sb = tuple(a.shape), tuple(b.shape)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"{op}: both arguments need at least 1 dimension, got {sa} @ {sb}")
    k_a = sa[-1]
    k_b = sb[0] if b.ndim == 1 else sb[-2]
    if k_a != k_b:
        raise ShapeError(f"{op}: {sa} @ {sb}: inner sizes {k_a} and {k_b} differ")
    batch_a = sa[:-2] if a.ndim > 2 else ()
    batch_b = sb[:-2] if b.ndim > 2 else ()
    for x, y in zip(reversed(batch_a), reversed(batch_b)):
        if x != y and x != 1 and y != 1:
            raise ShapeError(f"{op}: {sa} @ {sb}: batch dims {batch_a} and {batch_b} cannot be broadcast")


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with numpy's rules for 1-D and batched operands."""
    _check("matmul", input, other)
    a, b = promote(input, other, "matmul")
    return MatMul.apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """(m, n) @ (n, p) -> (m, p); both must be 2-D."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"mm: expected two 2-D tensors, got {tuple(input.shape)} and {tuple(mat2.shape)}")
    _check("mm", input, mat2)
    return MatMul.apply(*promote(input, mat2, "mm"))


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """(b, m, n) @ (b, n, p) -> (b, m, p); both 3-D with the same batch size."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ShapeError(
            f"bmm: expected 3-D tensors with equal batch sizes, got {tuple(input.shape)} and {tuple(mat2.shape)}"
        )
    _check("bmm", input, mat2)
    return MatMul.apply(*promote(input, mat2, "bmm"))


def dot(input: Tensor, other: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same length."""
    if input.ndim != 1 or other.ndim != 1:
        raise ShapeError(f"dot: expected two 1-D tensors, got {tuple(input.shape)} and {tuple(other.shape)}")
    _check("dot", input, other)
    return MatMul.apply(*promote(input, other, "dot"))


class Linear(Function):
    """out = x @ W^T + b in one node (what every Linear layer runs).

    x: (*, in), W: (out, in), b: (out,) or None -> out: (*, out).
    dx = g @ W,  dW = g^T x (over all leading dims),  db = sum of g over leading dims.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        out = threads.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = threads.matmul(g, w) if ctx.needs_input_grad[0] else None
        gw = gb = None
        g2 = g.reshape(-1, g.shape[-1])
        if ctx.needs_input_grad[1]:
            gw = threads.matmul(g2.T, x.reshape(-1, x.shape[-1]))
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` (``F.linear``). input: (*, in), weight: (out, in)."""
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear: input {tuple(input.shape)} and weight {tuple(weight.shape)}: "
            f"expected input (*, {weight.shape[-1] if weight.ndim else '?'}) and weight (out_features, in_features)"
        )
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), ()):
        raise ShapeError(f"linear: bias {tuple(bias.shape)} does not match weight {tuple(weight.shape)}")
    x, w = promote(input, weight, "linear")
    if bias is None:
        return Linear.apply(x, w)
    return Linear.apply(x, w, bias if bias._data.dtype == w._data.dtype else bias.to(w.dtype))

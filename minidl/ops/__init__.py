"""Differentiable primitives, one module per family (see DESIGN.md, "Layout").

Each op is a :class:`minidl.autograd.Function` with its forward and backward side by
side, on raw numpy/cupy arrays, plus a public function that checks the arguments.
"""

from minidl.ops import activation, elementwise, inplace, linalg, reduce, shape

__all__ = ["activation", "elementwise", "inplace", "linalg", "reduce", "shape"]

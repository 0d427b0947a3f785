"""The one rule behind every in-place method (``add_``, ``zero_``, ``x[i] = v``, ``+=``).

* Inside a graph (grad mode on and ``self`` or the result requires grad): a leaf that
  requires grad refuses (torch's error); any other tensor takes the out-of-place result
  *and its history* (``grad_fn``), so backward stays right and arrays saved for backward
  earlier stay untouched.
* Otherwise (``no_grad``, or plain data): the result is written into ``self``'s array,
  which every ``detach()``/``.data`` alias sees, and ``self``'s version goes up so a
  backward that saved the old values refuses to run. An op that can write its result into an
  array (``compute_into``, e.g. ReLU) does so straight into ``self``'s: no new array, no copy
  back (the course CNN's eval forward, ReLU(inplace=True) after every conv: 1.18x -> 0.79x torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl.autograd import grad_mode
from minidl.tensor import Tensor

__all__ = ["apply_inplace"]


def apply_inplace(
    self: Tensor, name: str, compute: Callable[[], Tensor], compute_into: Callable[[Any], Tensor] | None = None
) -> Tensor:
    """``self`` given ``compute()``'s result by the rules above. ``compute_into(array)``: the same result
    computed into ``array`` (``self``'s own, outside a graph); only for ops whose one tensor input is
    ``self`` (another input requiring grad would make a graph)."""
    if grad_mode._STATE[0] and self._requires_grad and self.grad_fn is None:
        raise RuntimeError(
            f"{name}: a leaf Variable that requires grad is being used in an in-place operation "
            "(wrap the update in `with minidl.no_grad():`)"
        )
    in_graph = grad_mode._STATE[0] and self._requires_grad
    if compute_into is not None and not in_graph and getattr(self._data, "flags", None) is not None \
            and self._data.flags.writeable:  # fmt: skip
        compute_into(self._data)
        self._version[0] += 1
        return self
    out = compute()
    if tuple(out.shape) != tuple(self.shape):
        raise RuntimeError(
            f"{name}: output with shape {tuple(self.shape)} doesn't match the broadcast shape "
            f"{tuple(out.shape)}"
        )
    if out._data.dtype != self._data.dtype:
        if out._data.dtype.kind == "f" and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"{name}: result type {out.dtype.name} can't be cast to the desired output type "
                f"{self.dtype.name}"
            )
        out = out.to(self.dtype)
    if out._requires_grad:
        # in a graph: take the result and its history
        self._data = out._data
        self.grad_fn = out.grad_fn
        self._output_nr = out._output_nr
        self._requires_grad = True
        return self
    try:
        self._data[...] = out._data
    except ValueError as e:  # a read-only array, e.g. the view made by expand()
        raise RuntimeError(f"{name}: cannot write into this tensor ({e}); clone() it first") from None
    self._version[0] += 1
    return self

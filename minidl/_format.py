"""``repr(tensor)`` in torch's style::

    tensor([[1.0000, 2.5000],
            [3.0000, 4.0000]], requires_grad=True)
    tensor([1., 2.], dtype=minidl.float64)
    tensor(0.2500, grad_fn=<MulBackward>)

Floats print with 4 decimals, or in scientific notation when the magnitudes span more
than 1000x (or exceed 1e8, or fall below 1e-4); whole-valued floats print as ``1.``.
The dtype is shown unless it is the one inferred from the values (float32, int64, bool).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from minidl import dtypes

if TYPE_CHECKING:
    from minidl.tensor import Tensor


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return str
    absv = np.abs(finite.astype(np.float64))
    nonzero = absv[absv > 0]
    if np.all(finite == np.round(finite)):
        if absv.max() > 1e8:
            return lambda v: _sci(v)
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    if nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8 or nonzero.min() < 1e-4):
        return lambda v: _sci(v)
    return lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)


def _sci(v: float) -> str:
    return f"{v:.4e}" if np.isfinite(v) else str(v)


def tensor_repr(t: Tensor) -> str:
    arr = np.asarray(t._data if type(t._data) is np.ndarray else t._data.get())
    prefix = "tensor("
    extras = []
    if arr.dtype.kind == "f":
        fmt = _float_formatter(arr)
        # torch aligns on the finite values; nan/inf are padded to that width
        finite = arr[np.isfinite(arr)]
        width = max((len(fmt(v)) for v in finite.flat), default=0)
        formatter = {"float_kind": lambda v: fmt(v).rjust(width)}
    elif arr.dtype.kind == "b":
        width = 5 if not arr.all() else 4
        formatter = {"bool": lambda v: str(bool(v)).rjust(width)}
    else:
        width = max((len(str(v)) for v in arr.flat), default=0)
        formatter = {"int": lambda v: str(v).rjust(width)}
    if arr.size == 0:
        body = "[]"
        if arr.ndim != 1:  # torch shows the shape of empty tensors except plain (0,)
            extras.append(f"size={tuple(arr.shape)}")
    else:
        body = np.array2string(
            arr, separator=", ", prefix=prefix, formatter=formatter, threshold=1000, edgeitems=3, max_line_width=80
        )
    default_dtypes = (dtypes.get_default_dtype().numpy_dtype, np.dtype(np.int64), np.dtype(np.bool_))
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if arr.dtype not in default_dtypes:
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"

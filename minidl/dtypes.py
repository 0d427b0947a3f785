"""dtypes with torch's names, and torch's type-promotion rules.

``minidl.float32`` and friends are small objects that wrap a numpy dtype, print as
``minidl.float32`` and compare equal to the matching numpy dtype, so both
``t.dtype == minidl.float32`` and ``t.dtype == np.float32`` hold.

Promotion follows torch, not numpy (they differ):

* categories rank ``bool < integer < floating``; the result takes the highest category;
* within a category, tensors with at least one dimension decide the width; zero-dim
  tensors only decide when no dimensioned tensor is in that category, and Python
  numbers never widen a tensor (``float32 tensor * 2.5`` stays float32);
* a Python number of a higher category than every tensor gives that category's default
  (``int64 tensor + 0.5`` is float32, where numpy would give float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "bool",
    "dtype",
    "float16",
    "float32",
    "float64",
    "get_default_dtype",
    "int8",
    "int16",
    "int32",
    "int64",
    "result_type",
    "set_default_dtype",
    "to_dtype",
    "uint8",
]

_builtin_bool = bool


class dtype:
    """A tensor element type: ``minidl.float32``, ``minidl.int64``, ``minidl.bool``, ..."""

    __slots__ = ("_np", "is_floating_point", "is_signed", "itemsize", "name")

    def __init__(self, name: str, np_dtype: Any) -> None:
        self.name = name
        self._np = np.dtype(np_dtype)
        self.is_floating_point = self._np.kind == "f"
        self.is_signed = self._np.kind in "fi"
        self.itemsize = self._np.itemsize

    @property
    def numpy_dtype(self) -> np.dtype:
        return self._np

    def __repr__(self) -> str:
        return f"minidl.{self.name}"

    def __eq__(self, other: object) -> _builtin_bool:
        if isinstance(other, dtype):
            return self._np == other._np
        try:
            return self._np == np.dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self._np)

    def __reduce__(self) -> str:
        return self.name


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
uint8 = dtype("uint8", np.uint8)
int8 = dtype("int8", np.int8)
int16 = dtype("int16", np.int16)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
bool = dtype("bool", np.bool_)

_BY_NUMPY: dict[np.dtype, dtype] = {
    d._np: d for d in (float16, float32, float64, uint8, int8, int16, int32, int64, bool)
}
_DEFAULT_FLOAT = [float32]


def get_default_dtype() -> dtype:
    """The float dtype of tensors made from Python floats (float32 unless changed)."""
    return _DEFAULT_FLOAT[0]


def set_default_dtype(d: Any) -> None:
    """Make ``d`` (float32 or float64) the dtype of new float tensors, as in torch."""
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported, got {d}")
    _DEFAULT_FLOAT[0] = d


def to_dtype(d: Any) -> dtype:
    """Turn a minidl dtype, numpy dtype, numpy type or Python type into a minidl dtype."""
    if isinstance(d, dtype):
        return d
    if d is float:
        return _DEFAULT_FLOAT[0]
    if d is int:
        return int64
    if d is _builtin_bool:
        return bool
    try:
        found = _BY_NUMPY.get(np.dtype(d))
    except TypeError:
        found = None
    if found is None:
        raise TypeError(f"unsupported dtype {d!r}: minidl supports {sorted(x.name for x in _BY_NUMPY.values())}")
    return found


def from_numpy_dtype(np_dtype: np.dtype) -> dtype:
    """The minidl dtype of a numpy dtype (used by ``Tensor.dtype``)."""
    found = _BY_NUMPY.get(np_dtype)
    if found is None:
        raise TypeError(f"numpy dtype {np_dtype} has no minidl equivalent")
    return found


def _category(np_dtype: np.dtype) -> int:
    """0 for bool, 1 for integers, 2 for floats."""
    kind = np_dtype.kind
    return 0 if kind == "b" else 2 if kind == "f" else 1


def _scalar_category(x: Any) -> int:
    if isinstance(x, (_builtin_bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    if isinstance(x, (float, np.floating)):
        return 2
    raise TypeError(f"expected a tensor or a Python number, got {type(x).__name__}")


def result_type(*operands: Any) -> np.dtype:
    """The numpy dtype torch gives an op on ``operands`` (tensors, arrays or numbers).

    ``operands`` are objects with a ``.dtype`` and ``.ndim`` (tensors, arrays) or Python
    numbers. Returns a numpy dtype so ops can call ``astype`` with it directly.
    """
    dims: list[np.dtype] = []  # dtypes of tensors with ndim >= 1
    zero_dims: list[np.dtype] = []
    scalar_cat = -1
    for x in operands:
        dt = getattr(x, "dtype", None)
        if dt is None:
            scalar_cat = max(scalar_cat, _scalar_category(x))
            continue
        dt = dt._np if isinstance(dt, dtype) else dt
        (dims if x.ndim > 0 else zero_dims).append(dt)
    best_cat = -1
    best: np.dtype | None = None
    for group in (dims, zero_dims):
        if not group:
            continue
        cat = max(_category(d) for d in group)
        if cat > best_cat:
            best_cat = cat
            best = np.result_type(*[d for d in group if _category(d) == cat])
    if scalar_cat > best_cat:
        return (bool._np, int64._np, _DEFAULT_FLOAT[0]._np)[scalar_cat]
    assert best is not None
    return best

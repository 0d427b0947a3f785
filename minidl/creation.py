"""Making tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``rand``, ``randn``, ...

Argument names and dtype rules follow torch: sizes as ``zeros(2, 3)`` or ``zeros((2, 3))``;
float results are float32 (the default dtype) unless ``dtype=`` says otherwise; integer
ranges are int64. Random functions draw from the global generator seeded by
``minidl.manual_seed`` (or from ``generator=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import dtypes
from minidl import random as _random
from minidl.backend import Device, to_device
from minidl.tensor import Tensor, _to_array

__all__ = [
    "arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
    "linspace", "ones", "ones_like", "rand", "rand_like", "randint", "randn", "randn_like",
    "randperm", "tensor", "zeros", "zeros_like",
]  # fmt: skip


def _finish(arr: Any, device: Any, requires_grad: bool) -> Tensor:
    if device is not None:
        arr = to_device(arr, Device(device))
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


def _size(size: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        shape = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError(f"{op}(): size must be ints or a tuple of ints, got {size!r}") from None
    if any(s < 0 for s in shape):
        raise RuntimeError(f"{op}(): trying to create tensor with negative dimension: {shape}")
    return shape


def _float_dtype(dtype: Any) -> np.dtype:
    return (dtypes.get_default_dtype() if dtype is None else dtypes.to_dtype(dtype)).numpy_dtype


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, arrays, tensors).

    >>> minidl.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    """
    arr = _to_array(data, dtype)
    if isinstance(data, (np.ndarray, Tensor)) or arr is data:
        arr = arr.copy()
    return _finish(arr, device, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a numpy array when no conversion is needed."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return _finish(_to_array(data, dtype), device, False)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    if array.dtype not in dtypes._BY_NUMPY:
        raise TypeError(f"from_numpy: can't convert np.ndarray of type {array.dtype}")
    return Tensor._make(array)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_size(size, "zeros"), _float_dtype(dtype)), device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_size(size, "ones"), _float_dtype(dtype)), device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_size(size, "empty"), _float_dtype(dtype)), device, requires_grad)


def full(
    size: Sequence[int], fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Every element ``fill_value``; the dtype follows it (bool, int64 or float32) unless given."""
    if dtype is None:
        dtype = dtypes.result_type(fill_value)
    arr = np.full(_size((size,), "full"), fill_value, dtypes.to_dtype(dtype).numpy_dtype)
    return _finish(arr, device, requires_grad)


def _like(t: Tensor, dtype: Any) -> tuple[tuple[int, ...], np.dtype, Any]:
    dt = t._data.dtype if dtype is None else dtypes.to_dtype(dtype).numpy_dtype
    return tuple(t.shape), dt, t.device


def zeros_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return _finish(np.zeros(shape, dt), dev, requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return _finish(np.ones(shape, dt), dev, requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return _finish(np.empty(shape, dt), dev, requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return _finish(np.full(shape, fill_value, dt), dev, requires_grad)


def arange(
    start: Any, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``[start, end)`` in steps of ``step``: int64 when all are ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign ({start}, {end}, {step})")
    if dtype is None:
        dtype = dtypes.result_type(start, end, step)
    dt = dtypes.to_dtype(dtype).numpy_dtype
    n = int(np.ceil((end - start) / step))
    # torch computes start + i * step (in double for float outputs), then casts
    arr = (start + np.arange(n, dtype=np.float64 if dt.kind == "f" else np.int64) * step).astype(dt)
    return _finish(arr, device, requires_grad)


def linspace(
    start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    arr = np.linspace(start, end, steps).astype(_float_dtype(dtype))
    return _finish(arr, device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), device, requires_grad)


# ---------------------------------------------------------------------------- random
def rand(
    *size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _float_dtype(dtype)
    arr = _random.rng(generator).random(_size(size, "rand"), dtype=np.float64 if dt != np.float32 else dt)
    return _finish(arr.astype(dt, copy=False), device, requires_grad)


def randn(
    *size: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples."""
    dt = _float_dtype(dtype)
    arr = _random.rng(generator).standard_normal(_size(size, "randn"), dtype=np.float64 if dt != np.float32 else dt)
    return _finish(arr.astype(dt, copy=False), device, requires_grad)


def randint(
    *args: Any, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint(): expected (high, size) or (low, high, size)")
    if high <= low:
        raise RuntimeError(f"randint: expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = np.int64 if dtype is None else dtypes.to_dtype(dtype).numpy_dtype
    arr = _random.rng(generator).integers(low, high, size=_size((size,), "randint")).astype(dt)
    return _finish(arr, device, requires_grad)


def randperm(n: int, *, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    dt = np.int64 if dtype is None else dtypes.to_dtype(dtype).numpy_dtype
    return _finish(_random.rng(generator).permutation(n).astype(dt), device, False)


def rand_like(input: Tensor, *, dtype: Any = None, generator: Any = None) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return rand(shape, dtype=dt, device=dev, generator=generator)


def randn_like(input: Tensor, *, dtype: Any = None, generator: Any = None) -> Tensor:
    shape, dt, dev = _like(input, dtype)
    return randn(shape, dtype=dt, device=dev, generator=generator)


# ---------------------------------------------------------------------------- in-place fills
def uniform_like(t: Tensor, a: float, b: float, generator: Any = None) -> Tensor:
    """Uniform samples in [a, b) shaped like ``t`` (for ``t.uniform_``)."""
    u = _random.rng(generator).random(tuple(t.shape))
    return _finish((a + (b - a) * u).astype(t._data.dtype), t.device, False)


def normal_like(t: Tensor, mean: float, std: float, generator: Any = None) -> Tensor:
    """Normal samples N(mean, std**2) shaped like ``t`` (for ``t.normal_``)."""
    z = _random.rng(generator).standard_normal(tuple(t.shape))
    return _finish((mean + std * z).astype(t._data.dtype), t.device, False)


def bernoulli_like(t: Tensor, p: float, generator: Any = None) -> Tensor:
    """0/1 samples, 1 with probability ``p``, shaped like ``t`` (for ``t.bernoulli_``)."""
    u = _random.rng(generator).random(tuple(t.shape))
    return _finish((u < p).astype(t._data.dtype), t.device, False)

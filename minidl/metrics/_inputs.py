"""Turning metric inputs (numpy arrays, lists, minidl tensors) into checked numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_array", "check_not_empty", "check_same_length", "labels_1d", "scores_1d", "scores_2d"]


def as_array(x: Any, dtype: Any = None) -> np.ndarray:
    """``x`` as a numpy array; minidl tensors (also ones that require grad, or on a GPU) are read
    through ``__array__``, so no ``.detach()`` is needed, and lists of tensors work too."""
    if isinstance(x, (list, tuple)):
        x = [np.asarray(v) if hasattr(v, "__array__") else v for v in x]
    return np.asarray(x, dtype=dtype)


def labels_1d(op: str, name: str, x: Any) -> np.ndarray:
    """Class labels as a 1-D array (a column vector ``(N, 1)`` is accepted as in scikit-learn)."""
    a = as_array(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{op}: {name} must be 1-D (N,), got shape {a.shape}")
    return a


def scores_1d(op: str, name: str, x: Any) -> np.ndarray:
    """Real-valued scores as a finite float64 1-D array."""
    a = labels_1d(op, name, x)
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {a.dtype}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{op}: {name} must be finite (no nan or inf)")
    return a


def scores_2d(op: str, name: str, x: Any) -> np.ndarray:
    """Scores per class as a finite float64 ``(N, C)`` array."""
    a = as_array(x)
    if a.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (N, C), got shape {a.shape}")
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must hold numbers, got dtype {a.dtype}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{op}: {name} must be finite (no nan or inf)")
    return a


def check_same_length(op: str, name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(f"{op}: {name_a} has {len(a)} entries but {name_b} has {len(b)}; they must match")


def check_not_empty(op: str, name: str, a: np.ndarray) -> None:
    if len(a) == 0:
        raise ValueError(f"{op}: {name} is empty; the metric needs at least one sample")

"""Gradient clipping as ``torch.nn.utils``: by total norm, or by value."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from minidl.backend import array_module
from minidl.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Any]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:  # fmt: skip
    """Scale all gradients together so their total ``norm_type``-norm is at most ``max_norm``.

    total = norm of the per-parameter norms; every gradient is multiplied by
    min(1, max_norm / (total + 1e-6)). Returns the total norm (before clipping).
    """
    grads = _grads(parameters)
    if not grads:
        from minidl import creation

        return creation.tensor(0.0)
    xp = array_module(grads[0]._data)
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        norms = [xp.abs(g._data).max() for g in grads]
        total = xp.max(xp.stack([xp.asarray(n) for n in norms]))
    else:
        norms = [(xp.abs(g._data) ** norm_type).sum() ** (1.0 / norm_type) for g in grads]
        total = (xp.stack([xp.asarray(n) for n in norms]) ** norm_type).sum() ** (1.0 / norm_type)
    dtype = grads[0]._data.dtype
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    coef = xp.minimum(xp.asarray(max_norm, dtype=dtype) / (total + dtype.type(1e-6)), dtype.type(1.0))
    for g in grads:
        g._data *= coef.astype(g._data.dtype)
    return Tensor._make(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``."""
    for g in _grads(parameters):
        xp = array_module(g._data)
        xp.clip(g._data, -clip_value, clip_value, out=g._data)

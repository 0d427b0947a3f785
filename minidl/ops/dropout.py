"""Dropout: dropout (elementwise) and dropout2d (whole channels), inverted as torch.

    training:  out = x * mask,   mask = keep / (1 - p),  keep ~ Bernoulli(1 - p)
               dx  = g * mask    (the same mask, saved for backward)
    eval:      out = x           (identity: the input itself is returned, as torch)

dropout's mask has x's shape; dropout2d's is (N, C, 1, ..., 1): a channel is kept or
zeroed whole. Masks are drawn from minidl's global generator (``minidl.manual_seed``
repeats them); they differ from torch's, whose generator is another algorithm.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.autograd.function import Function
from minidl.backend import array_module, device_of, to_device
from minidl.errors import ShapeError
from minidl.ops.elementwise import DtypeError
from minidl.ops.inplace import apply_inplace
from minidl.tensor import Tensor

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """out = x * mask;  dx = g * mask.  mask: x's shape, or broadcastable to it (dropout2d)."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


def _check(op: str, input: Any, p: Any) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: p must be a number, got {type(p).__name__}")
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def make_mask(shape: tuple[int, ...], p: float, dtype: np.dtype, like: Any, generator: Any = None) -> Any:
    """keep / (1 - p) with keep ~ Bernoulli(1 - p), shaped ``shape``, on ``like``'s device.

    Drawn from minidl's generator; the scale is rounded to ``dtype`` once, as torch does.
    """
    dtype = np.dtype(dtype)
    if p == 1:
        mask = np.zeros(shape, dtype)
    else:
        u = _random.rng(generator).random(shape, dtype=np.float32 if dtype == np.float32 else np.float64)
        mask = (u >= p).astype(dtype)
        mask *= dtype.type(1.0 / (1.0 - p))
    return to_device(mask, device_of(like)) if array_module(like) is not np else mask


def _apply(op: str, input: Tensor, mask: Any, inplace: bool) -> Tensor:
    if inplace:
        return apply_inplace(input, op + "_", lambda: Dropout.apply(input, mask=mask))
    return Dropout.apply(input, mask=mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (training only).

    input: any shape; the output has the same shape. ``p=1`` gives zeros.
    """
    _check("dropout", input, p)
    if not training or p == 0 or input.numel() == 0:
        return input
    if input._data.dtype.kind != "f":
        raise DtypeError(f"dropout: expected a floating point input, got {input.dtype}")
    mask = make_mask(tuple(input.shape), float(p), input._data.dtype, input._data)
    return _apply("dropout", input, mask, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels with probability ``p``, scale the rest by 1 / (1 - p) (training only).

    input: (N, C, H, W). As torch, a 3-D input is read as (N, C, L) (with torch's warning),
    so each of its rows [n, c, :] is kept or zeroed whole; other ranks warn and zero
    slices [n, c, ...].
    """
    _check("dropout2d", input, p)
    nd = input.ndim
    if nd not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {nd}-D input to dropout2d, which is deprecated and will result in an "
            "error in a future release. To retain the behavior and silence this warning, please use dropout "
            "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
            "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if nd == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is "
            "desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will "
            "change in a future release to interpret the input as one without a batch dimension, i.e. shape "
            "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d "
            "instead.",
            stacklevel=2,
        )
    if not training or p == 0 or input.numel() == 0:
        return input
    if nd < 2:
        raise ShapeError(
            f"dropout2d: Feature dropout requires at least 2 dimensions in the input, got {tuple(input.shape)}"
        )
    if input._data.dtype.kind != "f":
        raise DtypeError(f"dropout2d: expected a floating point input, got {input.dtype}")
    shape = tuple(input.shape[:2]) + (1,) * (nd - 2)
    mask = make_mask(shape, float(p), input._data.dtype, input._data)
    return _apply("dropout2d", input, mask, inplace)

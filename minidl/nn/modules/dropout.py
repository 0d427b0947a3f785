"""``Dropout`` and ``Dropout2d``: torch's layers over :mod:`minidl.ops.dropout`.

Active in training mode only (``model.train()``); in eval mode they return their input.
Inverted dropout: kept values are scaled by 1 / (1 - p), so eval needs no rescaling.
"""

from __future__ import annotations

from minidl.nn.modules.module import Module
from minidl.ops.dropout import dropout, dropout2d
from minidl.tensor import Tensor

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"{type(self).__name__}: p must be a number, got {type(p).__name__}")
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability ``p`` in training, scaling the rest by 1 / (1 - p)."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) with probability ``p`` in training (scaling by 1 / (1 - p))."""

    def forward(self, input: Tensor) -> Tensor:
        return dropout2d(input, self.p, self.training, self.inplace)

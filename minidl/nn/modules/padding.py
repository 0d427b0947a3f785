"""Padding layers: ``ZeroPad{1,2,3}d``, ``ConstantPad{1,2,3}d``, ``ReflectionPad{1,2,3}d``,
``ReplicationPad{1,2,3}d``, ``CircularPad{1,2,3}d``.

``padding`` is an int (the same on every side) or a tuple ``(left, right, top, bottom,
front, back)`` cut to 2, 4 or 6 entries: the last dim's pair first, as
:func:`minidl.ops.shape.pad`, which does the work (and the backward). Shapes: a ``k``-d
layer pads the last ``k`` dims of a (k + 1)-D (unbatched) or (k + 2)-D (batched) input;
``ZeroPad``/``ConstantPad`` take any input with at least ``k`` dims, as torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minidl.nn.modules.module import Module
from minidl.ops.shape import pad
from minidl.tensor import Tensor

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
    "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]  # fmt: skip


def _ntuple(padding: Any, n: int) -> tuple[Any, ...]:
    """torch's ``_ntuple(n)``: an iterable as a tuple (not checked), anything else repeated n times."""
    if isinstance(padding, Iterable):
        return tuple(padding)
    return (padding,) * n


def _check_widths(layer: Module, padding: tuple[Any, ...]) -> None:
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in padding):
        kinds = [type(p).__name__ for p in padding]
        raise TypeError(f"{layer!r}: padding must be ints, got {padding} (types {kinds})")


def _check_non_constant(layer: Module, input: Tensor, padding: tuple[int, ...]) -> None:
    """torch's rule for reflect/replicate/circular padding: a padding of 2k entries pads a
    (k + 1)-D or (k + 2)-D input, whose dims other than the batch dim are not empty."""
    k = len(padding) // 2
    if len(padding) % 2 == 0 and 1 <= k <= 3 and input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"{layer!r}: Padding size {len(padding)} is not supported for {input.ndim}D input tensor "
            f"(input shape {tuple(input.shape)}). Supported combinations for non-constant padding: 2D or 3D "
            "input: padding size = 2; 3D or 4D input: padding size = 4; 4D or 5D input: padding size = 6."
        )
    if input.ndim in (k + 1, k + 2) and any(s == 0 for s in input.shape[input.ndim - k - 1 :]):
        raise RuntimeError(
            f"{layer!r}: Expected {k + 1}D or {k + 2}D (batch mode) tensor with possibly 0 batch size and other "
            f"non-zero dimensions for input, but got: {list(input.shape)}"
        )


# ---------------------------------------------------------------------------- constant
class _ConstantPadNd(Module):
    padding: tuple[int, ...]

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        _check_widths(self, self.padding)
        return pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: padding int or (left, right)."""

    def __init__(self, padding: int | tuple[int, int], value: float) -> None:
        super().__init__(value)
        self.padding = _ntuple(padding, 2)


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: padding int or (left, right, top, bottom)."""

    def __init__(self, padding: int | tuple[int, int, int, int], value: float) -> None:
        super().__init__(value)
        self.padding = _ntuple(padding, 4)


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with ``value``: padding int or a 6-tuple."""

    def __init__(self, padding: int | tuple[int, ...], value: float) -> None:
        super().__init__(value)
        self.padding = _ntuple(padding, 6)


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros: (*, W) -> (*, W + left + right)."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros: (*, H, W) -> (*, H + top + bottom, W + left + right)."""

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dims with zeros."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


# ---------------------------------------------------------------------------- reflect, replicate, circular
class _NonConstantPadNd(Module):
    padding: tuple[int, ...]
    mode: str

    def forward(self, input: Tensor) -> Tensor:
        _check_widths(self, self.padding)
        _check_non_constant(self, input, self.padding)
        return pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_NonConstantPadNd):
    """Mirror padding without repeating the edge (each width < that dim's size)."""

    mode = "reflect"


class ReflectionPad1d(_ReflectionPadNd):
    """(C, W) or (N, C, W) -> W + left + right, mirrored at the edges."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2)


class ReflectionPad2d(_ReflectionPadNd):
    """(C, H, W) or (N, C, H, W) -> (H + top + bottom, W + left + right), mirrored at the edges."""

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 4)


class ReflectionPad3d(_ReflectionPadNd):
    """(C, D, H, W) or (N, C, D, H, W), mirrored at the edges."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 6)


class _ReplicationPadNd(_NonConstantPadNd):
    """Repeats the edge values."""

    mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """(C, W) or (N, C, W) -> W + left + right, edge values repeated."""

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2)


class ReplicationPad2d(_ReplicationPadNd):
    """(C, H, W) or (N, C, H, W) -> (H + top + bottom, W + left + right), edge values repeated."""

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 4)


class ReplicationPad3d(_ReplicationPadNd):
    """(C, D, H, W) or (N, C, D, H, W), edge values repeated."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 6)


class _CircularPadNd(_NonConstantPadNd):
    """Wraps around: the left pad copies the right end and vice versa."""

    mode = "circular"
    _dims = (0, 0)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in self._dims:
            raise ValueError(
                f"{self!r}: expected {self._dims[0]}D or {self._dims[1]}D input (got {input.ndim}D input "
                f"of shape {tuple(input.shape)})"
            )
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """(C, W) or (N, C, W) -> W + left + right, wrapped around."""

    _dims = (2, 3)

    def __init__(self, padding: int | tuple[int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2)


class CircularPad2d(_CircularPadNd):
    """(C, H, W) or (N, C, H, W), wrapped around."""

    _dims = (3, 4)

    def __init__(self, padding: int | tuple[int, int, int, int]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 4)


class CircularPad3d(_CircularPadNd):
    """(C, D, H, W) or (N, C, D, H, W), wrapped around."""

    _dims = (4, 5)

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 6)

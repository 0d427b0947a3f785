"""The one place that decides which array module (numpy or cupy) holds a tensor's data.

Ops never import numpy or cupy to compute on a tensor's data: they call
``xp = array_module(x)`` and use ``xp.exp``, ``xp.zeros`` and so on, so the same code
runs on the CPU and, through CuPy, on a GPU. CuPy is imported only when a CUDA device is
asked for.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "Device",
    "array_module",
    "cupy_or_none",
    "device_of",
    "numba_enabled",
    "numba_kernels_or_none",
    "tap_code_dtype",
    "to_device",
    "use_numba",
]

_cupy: ModuleType | None = None
_cupy_checked = False


def cupy_or_none() -> ModuleType | None:
    """The cupy module, or None where it is not installed (imported on first use)."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            _cupy = importlib.import_module("cupy")
        except Exception:  # ImportError, or a CUDA runtime that fails to load
            _cupy = None
    return _cupy


# numba CPU kernels (minidl.backend.numba_kernels): on unless MINIDL_NUMBA=0, and only where numba imports
_numba_wanted = os.environ.get("MINIDL_NUMBA", "1").strip() != "0"
_numba_kernels: ModuleType | None = None
_numba_checked = False


def use_numba(enabled: bool = True) -> None:
    """Turn the numba CPU kernels on or off at runtime (``MINIDL_NUMBA=0`` starts with them off).

    Off, or where numba cannot be imported, every op runs its numpy reference.
    """
    global _numba_wanted
    _numba_wanted = bool(enabled)


def numba_kernels_or_none() -> ModuleType | None:
    """The numba kernel module when the numba path is on and numba imports, else None."""
    global _numba_kernels, _numba_checked
    if not _numba_wanted:
        return None
    if not _numba_checked:
        _numba_checked = True
        try:
            _numba_kernels = importlib.import_module("minidl.backend.numba_kernels")
        except Exception:  # numba missing, or broken against this numpy
            _numba_kernels = None
    return _numba_kernels


def numba_enabled() -> bool:
    """Whether ops use the numba kernels (on, and numba importable)."""
    return numba_kernels_or_none() is not None


def array_module(*arrays: Any) -> ModuleType:
    """numpy, or cupy when any of ``arrays`` lives on a GPU."""
    for a in arrays:
        if type(a) is np.ndarray:
            continue
        if _cupy is not None and isinstance(a, _cupy.ndarray):
            return _cupy
    return np


class Device:
    """Where a tensor lives: ``Device("cpu")`` or ``Device("cuda", 0)`` (torch's ``device``).

    Compares equal to its string form, so ``t.device == "cpu"`` works.
    """

    __slots__ = ("index", "type")

    def __init__(self, type: str | Device, index: int | None = None) -> None:
        if isinstance(type, Device):
            type, index = type.type, type.index
        elif ":" in type:
            type, _, idx = type.partition(":")
            if not idx.isdigit():
                raise ValueError(f"invalid device string {type}:{idx!r}")
            index = int(idx)
        if type not in ("cpu", "cuda"):
            raise ValueError(f"unknown device type {type!r}: expected 'cpu' or 'cuda[:index]'")
        if type == "cuda" and index is None:
            index = 0
        self.type = type
        self.index = index

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except ValueError:
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = Device("cpu")
_CUDA_DEVICES: dict[int, Device] = {}  # one Device per GPU index: ``t.device`` and the op check allocate nothing


def device_of(array: Any) -> Device:
    """The device an array lives on."""
    if type(array) is np.ndarray:
        return CPU
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        i = array.device.id
        d = _CUDA_DEVICES.get(i)
        if d is None:
            d = _CUDA_DEVICES[i] = Device("cuda", i)
        return d
    return CPU


def to_device(array: Any, device: Device) -> Any:
    """Copy ``array`` to ``device`` (returns it unchanged when already there)."""
    if device.type == "cpu":
        if type(array) is np.ndarray:
            return array
        if _cupy is not None and isinstance(array, _cupy.ndarray):
            return array.get()
        return np.asarray(array)  # numpy subclasses (memmap, ...) and other host arrays
    cp = cupy_or_none()
    if cp is None:
        raise RuntimeError(
            "CUDA was asked for, but CuPy is not installed: install minidl with the GPU extra, "
            "e.g. pip install 'minidl[cuda12]' (or cupy-cuda12x / cupy-cuda13x matching your driver)"
        )
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:  # the driver is missing or broken
        raise RuntimeError(f"CUDA was asked for, but no CUDA device can be used: {e}") from e
    if n == 0:
        raise RuntimeError("CUDA was asked for, but CuPy found no CUDA device on this machine")
    if device.index is not None and device.index >= n:
        raise RuntimeError(f"CUDA device {device.index} was asked for, but only {n} device(s) exist")
    index = device.index or 0
    if isinstance(array, cp.ndarray):
        if array.device.id == index:
            return array
        with cp.cuda.Device(index):
            return array.copy()  # CuPy copies an array of another GPU onto the current one
    with cp.cuda.Device(index):
        return cp.asarray(array)


def tap_code_dtype(n_taps: int) -> np.dtype:
    """The dtype of max-pool's argmax tap codes (i*kw + j) for windows of ``n_taps`` taps.

    uint8 while one value more than the taps fits ("no tap", for a window wholly in the
    padding), else int32. The numpy, numba and CUDA max-pools all use this one rule.
    """
    return np.dtype(np.uint8 if n_taps < 255 else np.int32)


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values``, adding (not overwriting) where ``index`` repeats.

    numpy's ``add.at`` on the CPU, CuPy's ``add.at`` on the GPU (``cupyx.scatter_add``, which
    CuPy deprecates in its favour, where an old CuPy has no ``add.at``). On the GPU it adds
    with atomics: the order of the additions, so the last bits, may vary between runs.
    """
    if type(target) is np.ndarray:
        np.add.at(target, index, values)
        return
    add_at = getattr(array_module(target).add, "at", None)
    if add_at is not None:
        add_at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)

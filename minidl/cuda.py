"""``minidl.cuda``: torch.cuda's small API over CuPy.

    if minidl.cuda.is_available():
        model.to("cuda")
        x = x.cuda()

The GPU is optional: CuPy is installed with the ``cuda12``/``cuda13`` extra
(``pip install 'minidl[cuda12]'``). Without CuPy or without a usable device,
:func:`is_available` is False and :func:`device_count` 0 (they never raise, so a script
can always ask), while the functions that need a device raise a RuntimeError that says
what is missing.

Randomness: minidl draws every random number (init, dropout masks, shuffling) from the
one host generator that :func:`minidl.manual_seed` seeds, and copies it to the GPU where
needed, so a seeded run gives the same numbers on the CPU and the GPU.
:func:`manual_seed` and :func:`manual_seed_all` are therefore kept for torch scripts
and change nothing (torch ignores them, too, where CUDA is not available).
"""

from __future__ import annotations

from typing import Any

from minidl.backend import Device, cupy_or_none

__all__ = [
    "current_device",
    "device_count",
    "get_device_name",
    "is_available",
    "manual_seed",
    "manual_seed_all",
    "set_device",
    "synchronize",
]

_INSTALL_HINT = "install minidl with the GPU extra: pip install 'minidl[cuda12]' (or 'minidl[cuda13]')"


def device_count() -> int:
    """The number of CUDA devices CuPy can use; 0 without CuPy, driver or device (never raises)."""
    cp = cupy_or_none()
    if cp is None:
        return 0
    try:
        return int(cp.cuda.runtime.getDeviceCount())
    except Exception:  # no driver, no device, or a driver older than the CUDA runtime
        return 0


def is_available() -> bool:
    """Whether a CUDA device can be used (CuPy imports and sees at least one device)."""
    return device_count() > 0


def _cupy() -> Any:
    """CuPy with at least one device, or a RuntimeError saying what is missing."""
    cp = cupy_or_none()
    if cp is None:
        raise RuntimeError(f"CUDA is not available: CuPy is not installed; {_INSTALL_HINT}")
    try:
        n = int(cp.cuda.runtime.getDeviceCount())
    except Exception as e:
        raise RuntimeError(f"CUDA is not available: CuPy cannot use the CUDA driver ({e})") from e
    if n == 0:
        raise RuntimeError("CUDA is not available: no CUDA device was found")
    return cp


def _device_index(cp: Any, device: int | str | Device | None) -> int:
    """torch's ``_get_device_index``: None means the current device; checks the range."""
    if device is None:
        return int(cp.cuda.runtime.getDevice())
    if isinstance(device, bool) or not isinstance(device, (int, str, Device)):
        raise TypeError(f"expected a device index, a device string or a minidl.device, got {type(device).__name__}")
    if not isinstance(device, int):
        dev = Device(device)
        if dev.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {dev}")
        device = dev.index if dev.index is not None else int(cp.cuda.runtime.getDevice())
    n = int(cp.cuda.runtime.getDeviceCount())
    if not 0 <= device < n:
        raise RuntimeError(f"CUDA error: invalid device ordinal: device {device} was asked for, but {n} exist(s)")
    return device


def current_device() -> int:
    """The index of the current CUDA device (the one ``set_device`` chose; 0 at start)."""
    cp = _cupy()
    return int(cp.cuda.runtime.getDevice())


def set_device(device: int | str | Device) -> None:
    """Make ``device`` the current CUDA device of this thread; a negative index does nothing (torch)."""
    if isinstance(device, int) and not isinstance(device, bool) and device < 0:
        return
    cp = _cupy()
    cp.cuda.Device(_device_index(cp, device)).use()


def synchronize(device: int | str | Device | None = None) -> None:
    """Wait until every kernel queued on ``device`` (default: the current one) has finished.

    GPU calls return before the GPU has finished, so time GPU code with a synchronize
    before reading the clock.
    """
    cp = _cupy()
    cp.cuda.Device(_device_index(cp, device)).synchronize()


def get_device_name(device: int | str | Device | None = None) -> str:
    """The name of ``device`` (default: the current one), e.g. ``'NVIDIA H100 80GB HBM3'``."""
    cp = _cupy()
    name = cp.cuda.runtime.getDeviceProperties(_device_index(cp, device))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed: int) -> None:
    """Accepted for torch scripts; changes nothing (see the module docstring: one host generator).

    Seed with :func:`minidl.manual_seed`, which seeds the random numbers of both devices.
    """
    int(seed)  # torch rejects what is not an integer


def manual_seed_all(seed: int) -> None:
    """As :func:`manual_seed`, for every device."""
    int(seed)

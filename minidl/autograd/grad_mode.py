"""Switching graph recording on and off: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

Each works as a context manager and as a decorator, as in torch::

    with minidl.no_grad():
        y = model(x)          # no graph is built, nothing is saved for backward

    @minidl.no_grad()
    def evaluate(model, x): ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["enable_grad", "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])

# A one-element list so that hot code can read ``_STATE[0]`` without a function call.
_STATE = [True]


def is_grad_enabled() -> bool:
    """True when ops record the graph needed for ``backward``."""
    return _STATE[0]


class _GradModeContext:
    """Sets grad mode to ``self._mode`` inside a ``with`` block or a decorated function."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = _STATE[0]
        _STATE[0] = self._mode

    def __exit__(self, *exc: object) -> None:
        _STATE[0] = self._prev

    def __call__(self, func: F) -> F:
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _STATE[0]
            _STATE[0] = mode
            try:
                return func(*args, **kwargs)
            finally:
                _STATE[0] = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Build no graph inside the block: results do not require grad."""

    _mode = False


class inference_mode(no_grad):
    """Same as :class:`no_grad` in minidl (torch's extra view tracking has no equivalent)."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = not mode


class enable_grad(_GradModeContext):
    """Record the graph inside the block, even within ``no_grad``."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` turns recording off at once; as a context it restores it."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = _STATE[0]
        _STATE[0] = self._mode

    def __enter__(self) -> None:
        # the switch already happened in __init__; remember what to restore
        pass

    def __exit__(self, *exc: object) -> None:
        _STATE[0] = self._prev

    def __call__(self, func: F) -> F:
        # used as a decorator: undo the switch made in __init__, apply it per call instead
        _STATE[0] = self._prev
        return super().__call__(func)

"""``nn.Parameter``: a tensor that a Module registers as one of its parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl.tensor import Tensor, _to_array

__all__ = ["Buffer", "Parameter"]


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and that Modules collect in ``parameters()``.

    ``Parameter(t)`` shares ``t``'s array, as in torch.
    """

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            arr = _to_array(data)
        self._data = arr
        self._init_autograd()
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """Marks a tensor as a buffer when assigned to a Module attribute (``torch.nn.Buffer``)."""

    def __init__(self, data: Any, persistent: bool = True) -> None:
        self._data = data._data if isinstance(data, Tensor) else _to_array(data)
        self._init_autograd()
        self.persistent = persistent

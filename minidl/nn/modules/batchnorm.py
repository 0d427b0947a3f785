"""``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d``: torch's layers over :func:`minidl.ops.norm.batch_norm`.

Parameters: ``weight`` (gamma, ones) and ``bias`` (beta, zeros), both (C,), when
``affine``. Buffers, when ``track_running_stats``: ``running_mean`` (zeros),
``running_var`` (ones) and ``num_batches_tracked`` (int64, 0-d), in that state_dict order
after the parameters, as torch.

Training mode normalises with the batch statistics (biased variance) and updates the
running ones: exponentially with ``momentum``, or as a cumulative average (factor
1 / num_batches_tracked) when ``momentum=None``; running_var stores the *unbiased* batch
variance. Eval mode normalises with the running statistics, unless
``track_running_stats=False``, in which case the batch statistics are always used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minidl import creation
from minidl.errors import ShapeError
from minidl.nn import init
from minidl.nn.modules.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.norm import batch_norm
from minidl.tensor import Tensor

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _BatchNorm(Module):
    """The shared part of BatchNorm1d/2d/3d; subclasses say which input dims they take."""

    _expected_dims: tuple[int, ...] = ()
    _dims_text = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a non-negative int, got {num_features!r}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(creation.empty(self.num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(self.num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(self.num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(self.num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", creation.tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """running_mean <- 0, running_var <- 1, num_batches_tracked <- 0."""
        if self.track_running_stats:
            for buf, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                buf._data[...] = value
                buf._version[0] += 1

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _describe(self) -> str:
        return f"{type(self).__name__}({self.num_features})"

    def _check_input(self, input: Tensor) -> None:
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._describe()}: expected a Tensor input, got {type(input).__name__}")
        if input.ndim not in self._expected_dims:
            raise ValueError(
                f"expected {self._dims_text} input (got {input.ndim}D input): "
                f"{self._describe()} was given shape {tuple(input.shape)}"
            )
        # as torch, only a layer with something per channel (parameters or running stats) checks C
        has_per_channel = any(t is not None for t in (self.weight, self.bias, self.running_mean, self.running_var))
        if has_per_channel and input.shape[1] != self.num_features:
            raise ShapeError(
                f"{self._describe()}: expected input with {self.num_features} channels (dim 1), "
                f"got {tuple(input.shape)}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input)
        training, tracking = self.training, self.track_running_stats
        if training and input.shape[0] * int(np.prod(input.shape[2:])) == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {input.shape!r} "
                f"({self._describe()})"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if training and tracking and self.num_batches_tracked is not None:
            nbt = self.num_batches_tracked
            nbt._data[...] += 1
            nbt._version[0] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(nbt._data)
        # batch statistics in training, and in eval when there are no running ones
        use_batch_stats = training or (self.running_mean is None and self.running_var is None)
        keep = not training or tracking  # running stats are updated only when tracked
        return batch_norm(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch_stats,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C."""

    _expected_dims = (2, 3)
    _dims_text = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C."""

    _expected_dims = (4,)
    _dims_text = "4D"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs, per channel C."""

    _expected_dims = (5,)
    _dims_text = "5D"

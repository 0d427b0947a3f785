"""``minidl.nn.functional`` (import as ``F``): torch's functional names over minidl's ops.

Every function here is defined in :mod:`minidl.ops` (forward and backward side by side);
this module only gathers them under torch's names.
"""

from __future__ import annotations

from minidl.ops.activation import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from minidl.ops.linalg import linear
from minidl.ops.shape import one_hot, pad

__all__ = [
    "elu", "gelu", "hardtanh", "leaky_relu", "linear", "log_softmax", "one_hot", "pad", "relu", "relu6",
    "sigmoid", "silu", "softmax", "softplus", "tanh",
]  # fmt: skip

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
from minidl.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from minidl.ops.shape import one_hot, pad
from minidl.ops.upsample import interpolate

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "elu", "gelu", "hardtanh",
    "huber_loss", "interpolate", "kl_div", "l1_loss", "leaky_relu", "linear", "log_softmax", "mse_loss",
    "nll_loss", "one_hot", "pad", "relu", "relu6", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus",
    "tanh", "upsample",
]  # fmt: skip


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: ANN001, ANN201
    """Deprecated alias of :func:`interpolate`, as in torch."""
    return interpolate(input, size, scale_factor, mode, align_corners)

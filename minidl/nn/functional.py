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
from minidl.ops.conv import conv2d, conv_transpose2d
from minidl.ops.dropout import dropout, dropout2d
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
from minidl.ops.norm import batch_norm, layer_norm
from minidl.ops.pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d, max_pool2d_with_indices
from minidl.ops.shape import one_hot, pad
from minidl.ops.upsample import interpolate

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "elu",
    "gelu",
    "hardtanh",
    "huber_loss",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "max_pool2d",
    "max_pool2d_with_indices",
    "mse_loss",
    "nll_loss",
    "one_hot",
    "pad",
    "relu",
    "relu6",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softplus",
    "tanh",
    "upsample",
]  # fmt: skip


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: ANN001, ANN201
    """Deprecated alias of :func:`interpolate`, as in torch."""
    return interpolate(input, size, scale_factor, mode, align_corners)

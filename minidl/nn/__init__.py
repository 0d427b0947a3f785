"""``minidl.nn``: layers, containers, losses and init with torch.nn's names and arguments.

    from minidl import nn
    import minidl.nn.functional as F
"""

from minidl.nn import functional, init, utils
from minidl.nn.modules.activation import (
    ELU,
    GELU,
    LeakyReLU,
    LogSoftmax,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from minidl.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from minidl.nn.modules.container import ModuleDict, ModuleList, Sequential
from minidl.nn.modules.conv import Conv2d, ConvTranspose2d
from minidl.nn.modules.dropout import Dropout, Dropout2d
from minidl.nn.modules.linear import Flatten, Identity, Linear, Unflatten
from minidl.nn.modules.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from minidl.nn.modules.module import Module
from minidl.nn.modules.normalization import LayerNorm
from minidl.nn.modules.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from minidl.nn.modules.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
from minidl.nn.modules.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from minidl.nn.parameter import Buffer, Parameter

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
from minidl.nn.modules.container import ModuleDict, ModuleList, Sequential
from minidl.nn.modules.linear import Flatten, Identity, Linear, Unflatten
from minidl.nn.modules.module import Module
from minidl.nn.parameter import Buffer, Parameter

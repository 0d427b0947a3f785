"""Automatic differentiation: ``Function``, ``backward``, ``grad``, grad modes, ``gradcheck``."""

from minidl.autograd.engine import backward, detect_anomaly, grad
from minidl.autograd.function import Function, Node
from minidl.autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minidl.autograd.gradcheck import GradcheckError, gradcheck

__all__ = [
    "Function",
    "GradcheckError",
    "Node",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]

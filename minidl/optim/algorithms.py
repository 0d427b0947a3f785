"""SGD, Adam, AdamW, RMSprop, Adagrad, NAdam: torch.optim's update rules, line for line.

Each ``_update`` works on one parameter's raw arrays (``p._data`` and ``grad``) and
keeps its state in ``state``; the formulas are torch's single-tensor implementations, so
trajectories match torch.optim to rounding.
"""

from __future__ import annotations

import math
from typing import Any

from minidl.backend import array_module, numba_kernels_or_none
from minidl.dtypes import get_default_dtype
from minidl.optim.optimizer import Optimizer, required
from minidl.tensor import Tensor

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "NAdam", "RMSprop"]


def _check(name: str, value: float, what: str) -> None:
    if value < 0.0:
        raise ValueError(f"Invalid {what}: {value}")


_SGD_SCALARS = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize")
_ADAM_SCALARS = ("lr", "eps", "weight_decay")
_RMSPROP_SCALARS = ("lr", "alpha", "eps", "weight_decay", "momentum")


def _numbers(group: dict[str, Any], keys: tuple[str, ...]) -> bool:
    """Whether the group's hyper-parameters are plain Python numbers (not tensors or arrays)."""
    return all(isinstance(group[k], (int, float)) for k in keys)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and Nesterov momentum (torch's definition).

    With momentum mu and dampening tau: ``buf = g`` at the first step, then
    ``buf = mu * buf + (1 - tau) * g``; the step is ``buf``, or ``g + mu * buf`` with
    Nesterov; ``p -= lr * step``. Weight decay adds ``wd * p`` to ``g`` first.
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:  # fmt: skip
        if lr is not required:
            _check("SGD", lr, "learning rate")
        _check("SGD", momentum, "momentum value")
        _check("SGD", weight_decay, "weight_decay value")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))  # fmt: skip

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        nk = numba_kernels_or_none()
        if nk is not None and nk.supports_flat(p._data, grad) and _numbers(group, _SGD_SCALARS):
            # the same update in one numba pass (the lines below are its reference)
            buf = nk.sgd_step(p._data, grad, state.get("momentum_buffer"), *(group[k] for k in _SGD_SCALARS))
            if buf is not None:
                state["momentum_buffer"] = buf
            return
        d_p = -grad if group["maximize"] else grad
        wd, mu = group["weight_decay"], group["momentum"]
        if wd != 0:
            d_p = d_p + wd * p._data
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d_p.copy()
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * d_p
            d_p = d_p + mu * buf if group["nesterov"] else buf
        p._data -= group["lr"] * d_p


class Adam(Optimizer):
    """Adam: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)  (eps after the bias-corrected root)."""

    decoupled = False

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False) -> None:  # fmt: skip
        _check("Adam", lr, "learning rate")
        _check("Adam", eps, "epsilon value")
        _check("Adam", weight_decay, "weight_decay value")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))  # fmt: skip

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(p._data)
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p._data)
        state["step"] += 1
        t = state["step"]
        nk = numba_kernels_or_none()
        vmax = state.get("max_exp_avg_sq") if group["amsgrad"] else None
        arrays = (p._data, grad, state["exp_avg"], state["exp_avg_sq"]) + ((vmax,) if vmax is not None else ())
        if (nk is not None and nk.supports_flat(*arrays) and _numbers(group, _ADAM_SCALARS)
                and all(isinstance(b, (int, float)) for b in group["betas"])):  # fmt: skip
            # the same update in one numba pass (the lines below are its reference)
            nk.adam_step(p._data, grad, state["exp_avg"], state["exp_avg_sq"], vmax, lr, (b1, b2), eps, wd, t,
                         self.decoupled, group["maximize"])  # fmt: skip
            return
        if group["maximize"]:
            grad = -grad
        if wd != 0:
            if self.decoupled:
                p._data *= 1 - lr * wd
            else:
                grad = grad + wd * p._data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (grad - m) * (1 - b1)  # torch's lerp
        v *= b2
        v += (1 - b2) * grad * grad
        step_size = lr / (1 - b1**t)
        root_bc2 = math.sqrt(1 - b2**t)
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            xp.maximum(vmax, v, out=vmax)
            denom = xp.sqrt(vmax) / root_bc2 + eps
        else:
            denom = xp.sqrt(v) / root_bc2 + eps
        p._data += (-step_size * m) / denom  # torch's addcdiv order: (value * m) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * wd`` before the Adam step."""

    decoupled = True

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop: v = a v + (1 - a) g^2;  p -= lr * g / (sqrt(v - centred mean^2) + eps), with momentum."""

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False) -> None:  # fmt: skip
        _check("RMSprop", lr, "learning rate")
        _check("RMSprop", eps, "epsilon value")
        _check("RMSprop", momentum, "momentum value")
        _check("RMSprop", weight_decay, "weight_decay value")
        _check("RMSprop", alpha, "alpha value")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize))  # fmt: skip

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(p._data)
        alpha, eps, wd, mu = group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p._data)
            if mu > 0:
                state["momentum_buffer"] = xp.zeros_like(p._data)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p._data)
        state["step"] += 1
        nk = numba_kernels_or_none()
        ga = state.get("grad_avg") if group["centered"] else None
        buf = state.get("momentum_buffer") if mu > 0 else None
        arrays = [a for a in (p._data, grad, state["square_avg"], ga, buf) if a is not None]
        if nk is not None and nk.supports_flat(*arrays) and _numbers(group, _RMSPROP_SCALARS):
            # the same update in one numba pass (the lines below are its reference)
            nk.rmsprop_step(p._data, grad, state["square_avg"], ga, buf, group["lr"], alpha, eps, wd, mu,
                            group["maximize"])  # fmt: skip
            return
        if group["maximize"]:
            grad = -grad
        if wd != 0:
            grad = grad + wd * p._data
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * grad * grad
        if group["centered"]:
            ga = state["grad_avg"]
            ga += (grad - ga) * (1 - alpha)
            avg = xp.sqrt(sq - ga * ga) + eps
        else:
            avg = xp.sqrt(sq) + eps
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += grad / avg  # torch: addcdiv with value 1
            p._data -= group["lr"] * buf
        else:
            p._data += (-group["lr"] * grad) / avg


class Adagrad(Optimizer):
    """Adagrad: s += g^2;  p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)."""

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *,
                 maximize: bool = False) -> None:  # fmt: skip
        _check("Adagrad", lr, "learning rate")
        _check("Adagrad", lr_decay, "lr_decay value")
        _check("Adagrad", weight_decay, "weight_decay value")
        _check("Adagrad", initial_accumulator_value, "initial_accumulator_value value")
        _check("Adagrad", eps, "epsilon value")
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)  # fmt: skip
        super().__init__(params, defaults)
        for group in self.param_groups:  # torch creates the state eagerly
            for p in group["params"]:
                xp = array_module(p._data)
                self.state[p] = {"step": 0, "sum": xp.full_like(p._data, group["initial_accumulator_value"])}

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(p._data)
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p._data
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        p._data += (-clr * grad) / (xp.sqrt(state["sum"]) + group["eps"])


class NAdam(Optimizer):
    """Adam with Nesterov momentum and torch's momentum-decay schedule mu_t."""

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False,
                 *, maximize: bool = False) -> None:  # fmt: skip
        _check("NAdam", lr, "learning rate")
        _check("NAdam", eps, "epsilon value")
        _check("NAdam", weight_decay, "weight_decay value")
        _check("NAdam", momentum_decay, "momentum_decay value")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))  # fmt: skip

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(p._data)
        if group["maximize"]:
            grad = -grad
        lr, (b1, b2), eps, wd, psi = (group["lr"], group["betas"], group["eps"], group["weight_decay"],
                                      group["momentum_decay"])  # fmt: skip
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = xp.zeros_like(p._data)
            state["exp_avg_sq"] = xp.zeros_like(p._data)
        state["step"] += 1
        t = state["step"]
        bias_correction2 = 1 - b2**t
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p._data *= 1 - lr * wd
            else:
                grad = grad + wd * p._data
        mu = b1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        # torch keeps mu_product as a 0-d tensor of the default dtype (float32): round as it does
        scalar = get_default_dtype().numpy_dtype.type
        state["mu_product"] = float(scalar(state["mu_product"]) * scalar(mu))
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (grad - m) * (1 - b1)
        v *= b2
        v += (1 - b2) * grad * grad
        denom = xp.sqrt(v / bias_correction2) + eps
        mu_product = state["mu_product"]
        p._data += ((-lr * (1.0 - mu) / (1.0 - mu_product)) * grad) / denom
        p._data += ((-lr * mu_next / (1.0 - mu_product * mu_next)) * m) / denom

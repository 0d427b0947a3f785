"""Gradient descent on a 2-D function with minidl's optimisers: ``descend`` and its batch forms.

A point ``p = (x, y)`` is a float64 minidl tensor; each step computes ``f(p)`` and its
gradient, hands the gradient to the chosen ``minidl.optim`` optimiser and calls
``step()``, exactly as a training loop does. Since minidl's optimisers follow torch.optim
line for line, a path equals the one torch.optim takes on the same function (to ~1e-12).

The run stops, and ``Trace.stop_reason`` says why, when

* ``"tol"``: the gradient norm at the current point is below ``tol`` (``tol=0`` never);
* ``"steps"``: ``steps`` optimiser steps were taken;
* ``"divergence"``: the value or gradient is not finite, or ``|f| > max_value``;
* ``"left domain"``: a step took the point outside the function's domain (always for
  sampled functions, which have no values there; for formulas unless
  ``stop_outside=False``). The outside point is the last of ``Trace.points``.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import minidl as md
from minidl import optim
from minidl.landscapes.functions import _finite_difference, get

__all__ = ["OPTIMIZERS", "Endpoints", "Trace", "descend", "descend_configs", "descend_many"]

OPTIMIZERS: dict[str, type[optim.Optimizer]] = {
    "sgd": optim.SGD,
    "adam": optim.Adam,
    "adamw": optim.AdamW,
    "rmsprop": optim.RMSprop,
    "adagrad": optim.Adagrad,
    "nadam": optim.NAdam,
}
STOP_REASONS = ("tol", "steps", "divergence", "left domain")


# ---------------------------------------------------------------------- results
@dataclass
class Trace:
    """The path of one run.

    Attributes:
        points: ``(n + 1, 2)``, the start and the point after each of the n steps.
        values: ``(n + 1,)``, f at each point (NaN at a point outside a sampled function).
        grad_norms: ``(n + 1,)``, the gradient norm used at each point (NaN where none was computed).
        stop_reason: ``"tol"``, ``"steps"``, ``"divergence"`` or ``"left domain"``.
        settings: function, start, optimizer, its keyword arguments, steps, tol, gradient, eps...
        lookahead: ``(n + 1, 2)`` for SGD with momentum, else None: the point the momentum
            alone carries each point to, ``p_k - lr * momentum * buf_{k-1}``, which is where
            the classical Nesterov method evaluates its gradient.
        label: a short description for legends (``"Nesterov lr=0.001 β=0.9"``).
    """

    points: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)
    lookahead: np.ndarray | None = None
    label: str = ""

    @property
    def n_steps(self) -> int:
        """The number of optimiser steps taken."""
        return len(self.points) - 1

    @property
    def start(self) -> np.ndarray:
        return self.points[0]

    @property
    def end(self) -> np.ndarray:
        """The last point (outside the domain when ``stop_reason == "left domain"``)."""
        return self.points[-1]

    @property
    def final_value(self) -> float:
        return float(self.values[-1])

    @property
    def converged(self) -> bool:
        return self.stop_reason == "tol"

    @property
    def optimizer(self) -> str:
        return str(self.settings.get("optimizer", ""))

    @property
    def message(self) -> str:
        """A sentence saying how the run ended."""
        n = self.n_steps
        if self.stop_reason == "tol":
            return f"converged after {n} steps: |grad f| = {self.grad_norms[-1]:.3g} < tol {self.settings['tol']:g}"
        if self.stop_reason == "steps":
            return f"stopped at the step limit ({n} steps), |grad f| = {self.grad_norms[-1]:.3g}"
        if self.stop_reason == "divergence":
            return f"diverged after {n} steps (f = {self.values[-1]:.3g}): try a smaller learning rate"
        x, y = self.end
        return f"left the domain after {n} steps, at ({x:.4g}, {y:.4g}): try a smaller learning rate"

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write ``step, x, y, value, grad_norm`` (and the look-ahead point) with the settings as ``#`` lines."""
        with open(path, "w", newline="") as fh:
            for k, v in self.settings.items():
                fh.write(f"# {k}: {v}\n")
            fh.write(f"# stop_reason: {self.stop_reason}\n")
            w = csv.writer(fh)
            head = ["step", "x", "y", "value", "grad_norm"]
            if self.lookahead is not None:
                head += ["lookahead_x", "lookahead_y"]
            w.writerow(head)
            for k in range(len(self.points)):
                row = [k, *self.points[k], self.values[k], self.grad_norms[k]]
                if self.lookahead is not None:
                    row += list(self.lookahead[k])
                w.writerow([row[0], *(repr(float(v)) for v in row[1:])])

    def __repr__(self) -> str:
        x, y = self.end
        return (f"Trace({self.settings.get('function', '?')}, {self.label}: {self.n_steps} steps, "
                f"stop_reason={self.stop_reason!r}, end=({x:.6g}, {y:.6g}), f={self.final_value:.6g})")  # fmt: skip


@dataclass
class Endpoints:
    """Where each of many runs of one configuration ended (:func:`descend_many`)."""

    starts: np.ndarray  # (N, 2)
    ends: np.ndarray  # (N, 2), the last point (outside the domain for "left domain")
    values: np.ndarray  # (N,), f at the end (NaN outside a sampled function)
    grad_norms: np.ndarray  # (N,), at the end
    stop_reasons: np.ndarray  # (N,) strings
    n_steps: np.ndarray  # (N,) ints
    settings: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------- helpers
def resolve_function(f: Any) -> Any:
    """A registered name becomes its function; callables pass through."""
    if isinstance(f, str):
        return get(f)
    if not callable(f):
        raise TypeError(f"expected a function f(x, y) or a registered name, got {type(f).__name__}")
    return f


def _optimizer_class(optimizer: Any) -> tuple[str, type]:
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        return key, OPTIMIZERS[key]
    if isinstance(optimizer, type) and issubclass(optimizer, optim.Optimizer):
        return optimizer.__name__.lower(), optimizer
    raise TypeError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}) or a minidl Optimizer class")


def _make_optimizer(cls: type, name: str, params: list[Any], kwargs: dict[str, Any]) -> optim.Optimizer:
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"optimizer {name!r} takes no argument {', '.join(unknown)}; it takes {', '.join(accepted)}")
    return cls(params, **kwargs)


def describe(optimizer: str, kwargs: dict[str, Any]) -> str:
    """A legend label in the course's words: GD, Momentum, Nesterov, Adam, ..."""
    kw = dict(kwargs)
    lr = kw.pop("lr", None)
    if optimizer == "sgd":
        mu = kw.pop("momentum", 0) or 0
        nesterov = kw.pop("nesterov", False)
        name = "GD" if mu == 0 else ("Nesterov" if nesterov else "Momentum")
        parts = [name] + ([f"lr={lr:g}"] if lr is not None else []) + ([f"β={mu:g}"] if mu else [])
    else:
        pretty = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad", "nadam": "NAdam"}
        parts = [pretty.get(optimizer, optimizer)] + ([f"lr={lr:g}"] if lr is not None else [])
    for k, v in kw.items():
        if v not in (0, False, None):
            parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)


def _evaluate(f: Any, X: np.ndarray, gradient: str, eps: float, difference: str) -> tuple[np.ndarray, np.ndarray]:
    """Values ``(A,)`` and gradients ``(A, 2)`` of f at the points ``X`` ``(A, 2)``."""
    if gradient == "analytic":
        t = md.tensor(X, dtype=md.float64, requires_grad=True)
        with md.enable_grad():
            v = f(t[:, 0], t[:, 1])
            if not isinstance(v, md.Tensor):
                raise TypeError(
                    "gradient='analytic' needs f to compute with minidl tensors (md.sin, x ** 2, ...) and "
                    f"return a tensor; it returned {type(v).__name__}. Use gradient='numeric'."
                )
            v.sum().backward()
        grad = t.grad.numpy() if t.grad is not None else np.zeros_like(X)
        return np.array(v.detach().numpy(), dtype=np.float64).reshape(len(X)), np.array(grad, dtype=np.float64)
    values = np.asarray(f(X[:, 0], X[:, 1]), dtype=np.float64).reshape(len(X))
    if hasattr(f, "_gradient"):  # sampled: one-sided differences at the edges
        grad = f._gradient(X[:, 0], X[:, 1], eps, difference)
    else:
        grad = _finite_difference(f, X[:, 0], X[:, 1], eps, difference)
    return values, np.asarray(grad, dtype=np.float64).reshape(len(X), 2)


def _inside(f: Any, X: np.ndarray) -> np.ndarray:
    if getattr(f, "domain", None) is None:
        return np.ones(len(X), dtype=bool)
    return np.asarray(f.contains(X[:, 0], X[:, 1]), dtype=bool).reshape(len(X))


def _outside_value(f: Any, x: np.ndarray) -> float:
    """f at a point outside the domain: the formula's value, NaN for sampled functions."""
    if not getattr(f, "analytic", True):
        return math.nan
    with np.errstate(all="ignore"):
        try:
            return float(np.asarray(f(float(x[0]), float(x[1]))))
        except (ValueError, OverflowError, ZeroDivisionError):
            return math.nan


def _check_common(f: Any, gradient: str | None, eps: float, difference: str, steps: int, tol: float,
                  stacklevel: int = 4) -> str:  # fmt: skip
    analytic_ok = getattr(f, "analytic", True)
    if gradient is None:
        gradient = "analytic" if analytic_ok else "numeric"
    if gradient not in ("analytic", "numeric"):
        raise ValueError(f"gradient must be 'analytic' or 'numeric', got {gradient!r}")
    if gradient == "analytic" and not analytic_ok:
        raise ValueError(
            f"{getattr(f, 'name', 'this function')} is known only by samples: it has no analytic gradient; "
            "use gradient='numeric' (central differences with step eps)"
        )
    if difference not in ("central", "forward"):
        raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
    if not (isinstance(steps, (int, np.integer)) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if gradient == "numeric":
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        if hasattr(f, "check_eps"):
            f.check_eps(eps, stacklevel=stacklevel)  # the warning points at the caller's line
    return gradient


def _check_start(f: Any, start: Any, stop_outside: bool) -> np.ndarray:
    s = np.asarray(start, dtype=np.float64).reshape(-1)
    if s.shape != (2,) or not np.all(np.isfinite(s)):
        raise ValueError(f"start must be a finite point (x, y), got {start!r}")
    must = not getattr(f, "analytic", True)
    if (must or stop_outside) and not _inside(f, s[None])[0]:
        (x0, x1), (y0, y1) = f.domain
        hint = "" if must else " (pass stop_outside=False to start there anyway)"
        raise ValueError(
            f"start ({s[0]:g}, {s[1]:g}) is outside the domain [{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] "
            f"of {getattr(f, 'name', 'f')}{hint}"
        )
    return s


# ---------------------------------------------------------------------- single runs
def descend(f: Any, start: Sequence[float], optimizer: Any = "sgd", steps: int = 1000, tol: float = 1e-6,
            gradient: str | None = None, eps: float = 1e-4, *, difference: str = "central",
            stop_outside: bool = True, max_value: float = 1e12, label: str | None = None,
            **optimizer_kwargs: Any) -> Trace:  # fmt: skip
    """Run a minidl optimiser on the point ``start`` over ``f`` and return its :class:`Trace`.

    Args:
        f: a registered name (``"rosenbrock"``), a :class:`Function2D`, a
            :class:`SampledFunction`, or any ``f(x, y)`` written with minidl operations.
        start: ``(x, y)``.
        optimizer: ``"sgd"`` (``lr``, ``momentum``, ``nesterov``, ``dampening``,
            ``weight_decay``), ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"``,
            ``"nadam"``, or a ``minidl.optim`` class; ``optimizer_kwargs`` go to it.
        steps: the most optimiser steps.
        tol: stop when ``|grad f| < tol`` (``0``: never stop early).
        gradient: ``"analytic"`` (autograd; the default for formulas) or ``"numeric"``
            (finite differences with step ``eps``; the default, and only choice, for
            sampled functions).
        eps: the finite-difference step; ``difference`` is ``"central"`` or ``"forward"``.
        stop_outside: stop when the point leaves ``f.domain`` (sampled functions always do).
        max_value: ``|f|`` above this counts as divergence.
        label: the legend label (default: from the optimiser and its settings).

    Example::

        trace = descend("rosenbrock", (-1.5, 2.0), "sgd", steps=2000, lr=1e-3, momentum=0.9, nesterov=True)
        trace.stop_reason, trace.points[-1]
    """
    return descend_configs(f, start, [dict(optimizer=optimizer, label=label, **optimizer_kwargs)], steps=steps,
                           tol=tol, gradient=gradient, eps=eps, difference=difference, stop_outside=stop_outside,
                           max_value=max_value, _stacklevel=5)[0]  # fmt: skip


class _Run:
    """One optimiser on one point, inside :func:`descend_configs`."""

    def __init__(self, start: np.ndarray, config: dict[str, Any]) -> None:
        cfg = dict(config)
        opt_name, cls = _optimizer_class(cfg.pop("optimizer", "sgd"))
        label = cfg.pop("label", None)
        self.param = md.tensor(start.copy(), dtype=md.float64, requires_grad=True)
        self.opt = _make_optimizer(cls, opt_name, [self.param], cfg)
        self.name, self.kwargs = opt_name, cfg
        self.label = label or describe(opt_name, cfg)
        group = self.opt.param_groups[0]
        self.momentum = float(group.get("momentum", 0) or 0) if isinstance(self.opt, optim.SGD) else 0.0
        self.points = [start.copy()]
        self.values: list[float] = []
        self.grad_norms: list[float] = []
        self.lookahead: list[np.ndarray] = []
        self.stop_reason: str | None = None

    def look_ahead(self) -> np.ndarray:
        x = self.param.detach().numpy().copy()
        buf = self.opt.state.get(self.param, {}).get("momentum_buffer")
        if buf is None:
            return x
        return x - self.opt.param_groups[0]["lr"] * self.momentum * np.asarray(buf)


def descend_configs(f: Any, start: Sequence[float], configs: Iterable[dict[str, Any]], steps: int = 1000,
                    tol: float = 1e-6, gradient: str | None = None, eps: float = 1e-4, *,
                    difference: str = "central", stop_outside: bool = True, max_value: float = 1e12,
                    progress: bool = False, _stacklevel: int = 4) -> list[Trace]:  # fmt: skip
    """:func:`descend` for several optimiser configurations from one start, evaluated together.

    ``configs`` are dicts like ``{"optimizer": "sgd", "lr": 0.01, "momentum": 0.9,
    "nesterov": True, "label": "Nesterov"}``; each run is exactly what ``descend`` would
    give (the function is evaluated once per step on all unfinished points).
    """
    f = resolve_function(f)
    gradient = _check_common(f, gradient, eps, difference, steps, tol, _stacklevel)
    s = _check_start(f, start, stop_outside)
    runs = [_Run(s, c) for c in configs]
    if not runs:
        raise ValueError("descend_configs: no configurations given")
    steps = int(steps)
    active = list(runs)
    bounded = stop_outside or not getattr(f, "analytic", True)
    bar = _progress(steps + 1, progress, f"descending on {getattr(f, 'name', 'f')}")
    for k in range(steps + 1):
        X = np.stack([r.points[-1] for r in active])
        values, grads = _evaluate(f, X, gradient, eps, difference)
        still = []
        for r, v, g in zip(active, values, grads):
            gn = float(np.hypot(g[0], g[1]))
            r.values.append(float(v))
            r.grad_norms.append(gn)
            if r.momentum:
                r.lookahead.append(r.look_ahead())
            if not (math.isfinite(v) and math.isfinite(gn)) or abs(v) > max_value:
                r.stop_reason = "divergence"
            elif gn < tol:
                r.stop_reason = "tol"
            elif k == steps:
                r.stop_reason = "steps"
            else:
                r.param.grad = md.tensor(g.copy(), dtype=md.float64)
                r.opt.step()
                r.opt.zero_grad()
                x = r.param.detach().numpy().copy()
                r.points.append(x)
                if not np.all(np.isfinite(x)):
                    r.stop_reason = "divergence"
                elif bounded and not _inside(f, x[None])[0]:
                    r.stop_reason = "left domain"
                if r.stop_reason is not None:
                    r.values.append(_outside_value(f, x) if np.all(np.isfinite(x)) else math.nan)
                    r.grad_norms.append(math.nan)
                    if r.momentum:
                        r.lookahead.append(r.look_ahead())
                else:
                    still.append(r)
        active = still
        bar.update(1)
        if not active:
            break
    bar.close()
    settings_common = dict(function=getattr(f, "name", getattr(f, "__name__", "f")), start=tuple(s.tolist()),
                           steps=steps, tol=tol, gradient=gradient, eps=eps if gradient == "numeric" else None,
                           difference=difference if gradient == "numeric" else None)  # fmt: skip
    traces = []
    for r in runs:
        settings = dict(settings_common, optimizer=r.name, **{k: v for k, v in r.kwargs.items()})
        traces.append(Trace(points=np.array(r.points), values=np.array(r.values), grad_norms=np.array(r.grad_norms),
                            stop_reason=r.stop_reason or "steps", settings=settings,
                            lookahead=np.array(r.lookahead) if r.momentum else None, label=r.label))  # fmt: skip
    return traces


# ---------------------------------------------------------------------- many starts
def descend_many(f: Any, starts: Any, optimizer: Any = "sgd", steps: int = 1000, tol: float = 1e-6,
                 gradient: str | None = None, eps: float = 1e-4, *, difference: str = "central",
                 stop_outside: bool = True, max_value: float = 1e12, progress: bool = False,
                 _stacklevel: int = 4, **optimizer_kwargs: Any) -> Endpoints:  # fmt: skip
    """One optimiser configuration from many starts ``(N, 2)`` at once: where each run ends.

    The N points form one ``(N, 2)`` parameter; every minidl optimiser works element by
    element, so each row follows the path :func:`descend` gives from that start. A row
    that stops (same rules as ``descend``) is frozen at its last point.
    """
    f = resolve_function(f)
    gradient = _check_common(f, gradient, eps, difference, steps, tol, _stacklevel)
    S = np.asarray(starts, dtype=np.float64)
    if S.ndim != 2 or S.shape[1] != 2 or len(S) == 0:
        raise ValueError(f"starts must have shape (N, 2), got {S.shape}")
    if not np.all(np.isfinite(S)):
        raise ValueError("starts must be finite")
    must = not getattr(f, "analytic", True)
    if (must or stop_outside) and not np.all(_inside(f, S)):
        raise ValueError("some starts are outside the function's domain")
    opt_name, cls = _optimizer_class(optimizer)
    param = md.tensor(S.copy(), dtype=md.float64, requires_grad=True)
    opt = _make_optimizer(cls, opt_name, [param], optimizer_kwargs)
    n = len(S)
    done = np.zeros(n, dtype=bool)
    reasons = np.full(n, "steps", dtype=object)
    n_steps = np.zeros(n, dtype=np.int64)
    ends = S.copy()
    end_values = np.full(n, np.nan)
    end_gn = np.full(n, np.nan)
    last = S.copy()  # the last point where f could be evaluated (frozen rows stay there)
    bar = _progress(steps + 1, progress, f"{n} runs on {getattr(f, 'name', 'f')}")
    for k in range(steps + 1):
        values, grads = _evaluate(f, last, gradient, eps, difference)
        gn = np.hypot(grads[:, 0], grads[:, 1])
        live = ~done
        bad = live & (~np.isfinite(values) | ~np.isfinite(gn) | (np.abs(values) > max_value))
        small = live & ~bad & (gn < tol)
        limit = live & ~bad & ~small & (k == steps)
        for mask, why in ((bad, "divergence"), (small, "tol"), (limit, "steps")):
            reasons[mask] = why
            ends[mask] = last[mask]
            end_values[mask] = values[mask]
            end_gn[mask] = gn[mask]
            n_steps[mask] = k
            done |= mask
        bar.update(1)
        if done.all():
            break
        g = np.where(done[:, None], 0.0, grads)
        param.grad = md.tensor(g, dtype=md.float64)
        opt.step()
        opt.zero_grad()
        x = param.detach().numpy()
        moved = ~done
        nonfinite = moved & ~np.all(np.isfinite(x), axis=1)
        outside = moved & ~nonfinite & ~_inside(f, np.where(np.isfinite(x), x, 0.0))
        if not (stop_outside or must):
            outside[:] = False
        for mask, why in ((nonfinite, "divergence"), (outside, "left domain")):
            reasons[mask] = why
            ends[mask] = x[mask]
            n_steps[mask] = k + 1
            done |= mask
            for i in np.flatnonzero(mask):
                end_values[i] = _outside_value(f, x[i]) if why == "left domain" else math.nan
        keep = ~done
        last[keep] = x[keep]
        param._data[done] = last[done]  # frozen rows stay where f is defined
    bar.close()
    settings = dict(function=getattr(f, "name", "f"), optimizer=opt_name, steps=int(steps), tol=tol,
                    gradient=gradient, eps=eps if gradient == "numeric" else None, **optimizer_kwargs)  # fmt: skip
    return Endpoints(starts=S, ends=ends, values=end_values, grad_norms=end_gn,
                     stop_reasons=reasons.astype(str), n_steps=n_steps, settings=settings)  # fmt: skip


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="step")

"""``minidl.profiler.profile()``: where a step's time goes, per op type and per module.

    with minidl.profiler.profile() as prof:
        loss = loss_fn(model(x), y)
        loss.backward()
    print(prof.table())          # or prof.key_averages().table(), as in torch.profiler

Ops (every :class:`~minidl.autograd.Function`, e.g. ``Conv2D``, ``MaxPool2DWithIndices``)
are timed around their forward and, in the backward pass, their backward. Modules are
timed around ``Module.__call__`` (forward, inclusive of their children) and get the
backward time of the ops called inside their forward (also inclusive). Rows are sorted
by total time (forward + backward), as torch's ``key_averages().table()``. Off, the
profiler costs one global read per op (``minidl.autograd.function._PROFILER``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from minidl.autograd import function as _function

__all__ = ["EventList", "OpStats", "profile"]


@dataclass
class OpStats:
    """The times of one op type or one module, in seconds."""

    name: str
    kind: str  # "op" or "module"
    calls: int = 0
    forward: float = 0.0
    backward_calls: int = 0
    backward: float = 0.0

    @property
    def total(self) -> float:
        return self.forward + self.backward


class EventList(list):
    """Rows (:class:`OpStats`) with torch's ``table()``."""

    def table(self, sort_by: str = "total", row_limit: int = -1) -> str:
        """A text table sorted by ``sort_by`` ("total", "forward", "backward" or "calls"), descending."""
        if sort_by not in ("total", "forward", "backward", "calls"):
            raise ValueError(f"table: sort_by must be 'total', 'forward', 'backward' or 'calls', got {sort_by!r}")
        lines = []
        for kind, title in (("op", "Op"), ("module", "Module")):
            rows = sorted((r for r in self if r.kind == kind), key=lambda r: getattr(r, sort_by), reverse=True)
            if row_limit >= 0:
                rows = rows[:row_limit]
            if not rows:
                continue
            # ops: share of all ops' time; modules (inclusive times): share of the largest (outermost)
            totals = [r.total for r in self if r.kind == kind]
            grand = (sum(totals) if kind == "op" else max(totals)) or 1.0
            width = max(len(title), *(len(r.name) for r in rows))
            head = (f"{title:<{width}}  {'Calls':>6}  {'Fwd total':>10}  {'Bwd total':>10}  {'Total':>10}  "
                    f"{'Total %':>7}  {'Avg/call':>10}")  # fmt: skip
            lines += ["-" * len(head), head, "-" * len(head)]
            for r in rows:
                avg = r.total / max(r.calls, 1)
                lines.append(
                    f"{r.name:<{width}}  {r.calls:>6}  {_ms(r.forward):>10}  {_ms(r.backward):>10}  "
                    f"{_ms(r.total):>10}  {100 * r.total / grand:>6.1f}%  {_ms(avg):>10}"
                )
            lines.append("")
        if kind_totals := [r.total for r in self if r.kind == "op"]:
            lines.append(f"Self time of all ops: {_ms(sum(kind_totals))}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}ms"


class profile:  # noqa: N801 - torch's spelling
    """Context manager recording forward/backward time per op type and per module.

    ``module`` (optional): a root module whose submodules are then named by their path
    (``"features.0 (Conv2d)"``); without it modules are grouped by class name.
    """

    def __init__(self, module: Any = None, record_modules: bool = True) -> None:
        self._root = module
        self._record_modules = record_modules
        self._ops: dict[str, OpStats] = {}
        self._modules: dict[str, OpStats] = {}
        self._stack: list[str] = []  # the modules whose forward is running, outermost first
        self._node_modules: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()
        self._names: dict[int, str] = {}
        self._saved_call: Any = None

    # ---- context manager -------------------------------------------------------------
    def __enter__(self) -> profile:
        if _function._PROFILER is not None:
            raise RuntimeError("minidl.profiler.profile: a profile is already active (they do not nest)")
        if self._root is not None:
            self._names = {id(m): f"{n or '<root>'} ({type(m).__name__})" for n, m in self._root.named_modules()}
        if self._record_modules:
            self._patch_modules()
        _function._PROFILER = self
        return self

    def __exit__(self, *exc: Any) -> None:
        _function._PROFILER = None
        if self._saved_call is not None:
            from minidl.nn.modules.module import Module

            Module.__call__ = self._saved_call
            self._saved_call = None

    def _patch_modules(self) -> None:
        from minidl.nn.modules.module import Module

        original = Module.__call__
        self._saved_call = original
        prof = self

        def timed_call(module: Any, *args: Any, **kwargs: Any) -> Any:
            name = prof._names.get(id(module)) or type(module).__name__
            prof._stack.append(name)
            t0 = perf_counter()
            try:
                return original(module, *args, **kwargs)
            finally:
                dt = perf_counter() - t0
                prof._stack.pop()
                st = prof._modules.get(name) or prof._modules.setdefault(name, OpStats(name, "module"))
                st.calls += 1
                if name not in prof._stack:  # a module called inside itself counts once
                    st.forward += dt

        Module.__call__ = timed_call  # type: ignore[method-assign]

    # ---- called by Function.apply / Node.run_backward -----------------------------------
    def record_forward(self, cls: type, ctx: Any, dt: float) -> None:
        st = self._ops.get(cls.__name__) or self._ops.setdefault(cls.__name__, OpStats(cls.__name__, "op"))
        st.calls += 1
        st.forward += dt
        if self._stack:
            self._node_modules[ctx] = tuple(dict.fromkeys(self._stack))

    def record_backward(self, node: Any, dt: float) -> None:
        name = node._fn.__name__
        st = self._ops.get(name) or self._ops.setdefault(name, OpStats(name, "op"))
        st.backward_calls += 1
        st.backward += dt
        for mod in self._node_modules.get(node, ()):
            m = self._modules.get(mod) or self._modules.setdefault(mod, OpStats(mod, "module"))
            m.backward_calls += 1
            m.backward += dt

    # ---- results -------------------------------------------------------------------------
    def key_averages(self) -> EventList:
        """The rows: one per op type, then one per module (torch's name)."""
        return EventList([*self._ops.values(), *self._modules.values()])

    def table(self, sort_by: str = "total", row_limit: int = -1) -> str:
        """The table of :meth:`key_averages`, sorted by total time."""
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit)

    def __str__(self) -> str:
        return self.table()

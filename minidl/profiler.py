"""``minidl.profiler.profile()``: where a step's time goes, per op type and per module.

    with minidl.profiler.profile(record_shapes=True) as prof:
        with minidl.profiler.record_function("step"):
            loss = loss_fn(model(x), y)
            loss.backward()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))   # as in torch.profiler
    prof.export_chrome_trace("trace.json")   # a timeline for chrome://tracing or ui.perfetto.dev

Ops (every :class:`~minidl.autograd.Function`, e.g. ``Convolution``, ``MaxPool2DWithIndices``)
are timed around their forward and, in the backward pass, their backward. Modules are
timed around ``Module.__call__`` (forward, inclusive of their children) and get the
backward time of the ops called inside their forward (also inclusive). ``record_function``
blocks (torch's user ranges) are timed from entry to exit. Rows are sorted by total time
(forward + backward), as torch's ``key_averages().table(sort_by="cpu_time_total")``.

Each row also answers to torch's ``FunctionEventAvg`` names, in microseconds: ``key``,
``count``, ``cpu_time_total``, ``self_cpu_time_total`` (an op's own time; a module's or a
range's time outside the ops run inside it), ``cpu_time`` (per call), and ``input_shapes``
(with ``record_shapes=True`` and ``key_averages(group_by_input_shape=True)``); any of them
is a ``sort_by`` key. Times are the host's wall clock: on the GPU path, a kernel's time
lands in the op where the host waits for it. Off, the profiler costs one global read per
op (``minidl.autograd.function._PROFILER``).
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from minidl.autograd import function as _function

__all__ = ["EventList", "OpStats", "ProfilerActivity", "profile", "record_function"]

_SECTIONS = (("op", "Op"), ("module", "Module"), ("range", "Range"))
_SORT_KEYS = ("total", "forward", "backward", "calls", "self_total",
              "cpu_time_total", "self_cpu_time_total", "cpu_time", "count")  # fmt: skip


class ProfilerActivity(enum.Enum):
    """What a profile records (torch's enum): minidl times every op on the host's clock, so
    ``CPU`` and ``CUDA`` record the same rows."""

    CPU = "CPU"
    CUDA = "CUDA"


class SortKeyError(ValueError, AttributeError):
    """An unknown ``sort_by`` key (an AttributeError, as torch's, and a ValueError)."""


@dataclass
class OpStats:
    """The times of one op type, module or ``record_function`` range, in seconds.

    ``inner``: the seconds of ops that ran inside this module's forward or this range (0 for ops,
    which do not nest); ``input_shapes``: the op's input shapes when grouped by them, else None.
    """

    name: str
    kind: str  # "op", "module" or "range"
    calls: int = 0
    forward: float = 0.0
    backward_calls: int = 0
    backward: float = 0.0
    inner: float = 0.0
    input_shapes: tuple[tuple[int, ...], ...] | None = None

    @property
    def total(self) -> float:
        return self.forward + self.backward

    @property
    def self_total(self) -> float:
        """Seconds spent here and not in the ops inside (a module's backward is all ops')."""
        if self.kind == "op":
            return self.total
        return max(self.total - self.inner - (self.backward if self.kind == "module" else 0.0), 0.0)

    # ---- torch's FunctionEventAvg names (microseconds) -----------------------------------
    @property
    def key(self) -> str:
        return self.name

    @property
    def count(self) -> int:
        return self.calls

    @property
    def cpu_time_total(self) -> float:
        return self.total * 1e6

    @property
    def self_cpu_time_total(self) -> float:
        return self.self_total * 1e6

    @property
    def cpu_time(self) -> float:
        """Microseconds per call."""
        return self.cpu_time_total / max(self.calls, 1)

    def _merge(self, other: OpStats) -> None:
        self.calls += other.calls
        self.forward += other.forward
        self.backward_calls += other.backward_calls
        self.backward += other.backward
        self.inner += other.inner


class EventList(list):
    """Rows (:class:`OpStats`) with torch's ``table()``."""

    def table(self, sort_by: str | None = "total", row_limit: int = -1) -> str:
        """A text table, ops then modules then ranges, each sorted by ``sort_by`` (descending): "total"
        (the default, torch's "cpu_time_total"), "self_total" ("self_cpu_time_total"), "forward",
        "backward", "calls" ("count") or "cpu_time" (per call); ``row_limit`` rows per section (-1: all)."""
        sort_by = "total" if sort_by is None else sort_by
        if sort_by not in _SORT_KEYS:
            raise SortKeyError(f"table: sort_by must be one of {', '.join(map(repr, _SORT_KEYS))}, got {sort_by!r}")
        shapes = any(r.input_shapes is not None for r in self)
        lines = []
        for kind, title in _SECTIONS:
            rows = sorted((r for r in self if r.kind == kind), key=lambda r: getattr(r, sort_by), reverse=True)
            if row_limit >= 0:
                rows = rows[:row_limit]
            if not rows:
                continue
            # ops: share of all ops' time; modules and ranges (inclusive times): share of the largest
            totals = [r.total for r in self if r.kind == kind]
            grand = (sum(totals) if kind == "op" else max(totals)) or 1.0
            width = max(len(title), *(len(r.name) for r in rows))
            head = (f"{title:<{width}}  {'Calls':>6}  {'Fwd total':>10}  {'Bwd total':>10}  {'Total':>10}  "
                    f"{'Total %':>7}  {'Self':>10}  {'Avg/call':>10}")  # fmt: skip
            if shapes:
                head += "  Input Shapes"
            lines += ["-" * len(head), head, "-" * len(head)]
            for r in rows:
                avg = r.total / max(r.calls, 1)
                line = (f"{r.name:<{width}}  {r.calls:>6}  {_ms(r.forward):>10}  {_ms(r.backward):>10}  "
                        f"{_ms(r.total):>10}  {100 * r.total / grand:>6.1f}%  {_ms(r.self_total):>10}  "
                        f"{_ms(avg):>10}")  # fmt: skip
                if shapes and r.input_shapes is not None:
                    line += "  " + str([list(s) for s in r.input_shapes])
                lines.append(line)
            lines.append("")
        if kind_totals := [r.total for r in self if r.kind == "op"]:
            lines.append(f"Self time of all ops: {_ms(sum(kind_totals))}")
        return "\n".join(lines)

    @property
    def self_cpu_time_total(self) -> float:
        """Microseconds in all ops (torch's "Self CPU time total" of the table's foot)."""
        return sum(r.cpu_time_total for r in self if r.kind == "op")

    def __str__(self) -> str:
        return self.table()


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}ms"


class profile:  # noqa: N801 - torch's spelling
    """Context manager recording forward/backward time per op type, per module and per
    :class:`record_function` range.

    ``module`` (optional): a root module whose submodules are then named by their path
    (``"features.0 (Conv2d)"``); without it modules are grouped by class name.
    ``record_modules=False`` leaves modules out (ops only). torch's ``activities`` (a list of
    :class:`ProfilerActivity`) and ``record_shapes`` (keep each op call's input shapes, for
    ``key_averages(group_by_input_shape=True)``) are taken too.
    """

    def __init__(
        self,
        module: Any = None,
        record_modules: bool = True,
        *,
        activities: Iterable[ProfilerActivity] | None = None,
        record_shapes: bool = False,
    ) -> None:
        if activities is not None:
            activities = list(activities)
            bad = [a for a in activities if not isinstance(a, ProfilerActivity)]
            if bad:
                raise TypeError(f"profile: activities must be ProfilerActivity members, got {bad[0]!r}")
        self.activities = activities if activities is not None else [ProfilerActivity.CPU]
        self.record_shapes = bool(record_shapes)
        self._root = module
        self._record_modules = record_modules
        self._ops: dict[tuple[str, Any], OpStats] = {}  # (name, input shapes or None) -> stats
        self._modules: dict[str, OpStats] = {}
        self._ranges: dict[str, OpStats] = {}
        self._stack: list[str] = []  # the modules whose forward is running, outermost first
        self._open_ranges: list[list[Any]] = []  # [name, seconds of ops inside] of the ranges now open
        self._module_ops: list[float] = []  # per running module forward: seconds of ops inside
        self._node_info: weakref.WeakKeyDictionary[Any, tuple[tuple[str, ...], Any]] = weakref.WeakKeyDictionary()
        self._names: dict[int, str] = {}
        self._saved_call: Any = None
        self._events: list[tuple[str, str, float, float, int]] = []  # name, category, start, seconds, thread
        self._t0 = 0.0

    # ---- context manager -------------------------------------------------------------
    def __enter__(self) -> profile:
        if _function._PROFILER is not None:
            raise RuntimeError("minidl.profiler.profile: a profile is already active (they do not nest)")
        if self._root is not None:
            self._names = {id(m): f"{n or '<root>'} ({type(m).__name__})" for n, m in self._root.named_modules()}
        if self._record_modules:
            self._patch_modules()
        self._t0 = perf_counter()
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
            prof._module_ops.append(0.0)
            t0 = perf_counter()
            try:
                return original(module, *args, **kwargs)
            finally:
                dt = perf_counter() - t0
                prof._stack.pop()
                inside = prof._module_ops.pop()
                st = prof._modules.get(name) or prof._modules.setdefault(name, OpStats(name, "module"))
                st.calls += 1
                if name not in prof._stack:  # a module called inside itself counts once
                    st.forward += dt
                    st.inner += inside
                prof._event(name, "module", t0, dt)

        Module.__call__ = timed_call  # type: ignore[method-assign]

    def _event(self, name: str, category: str, start: float, seconds: float) -> None:
        self._events.append((name, category, start, seconds, threading.get_ident()))

    def _op_time(self, dt: float, forward: bool) -> None:
        """Count an op's seconds inside the modules (forward only) and ranges now open."""
        if forward:
            for i in range(len(self._module_ops)):
                self._module_ops[i] += dt
        for r in self._open_ranges:
            r[1] += dt

    # ---- called by Function.apply / Node.run_backward -----------------------------------
    def record_forward(self, cls: type, ctx: Any, dt: float, inputs: Any = ()) -> None:
        shapes = tuple(tuple(t.shape) for t in inputs) if self.record_shapes else None
        key = (cls.__name__, shapes)
        st = self._ops.get(key) or self._ops.setdefault(key, OpStats(cls.__name__, "op", input_shapes=shapes))
        st.calls += 1
        st.forward += dt
        self._op_time(dt, True)
        self._event(cls.__name__, "op", perf_counter() - dt, dt)
        self._node_info[ctx] = (tuple(dict.fromkeys(self._stack)), shapes)

    def record_backward(self, node: Any, dt: float) -> None:
        name = node._fn.__name__
        mods, shapes = self._node_info.get(node, ((), None))
        key = (name, shapes)
        st = self._ops.get(key) or self._ops.setdefault(key, OpStats(name, "op", input_shapes=shapes))
        st.backward_calls += 1
        st.backward += dt
        self._op_time(dt, False)
        self._event(f"{name} (backward)", "op backward", perf_counter() - dt, dt)
        for mod in mods:
            m = self._modules.get(mod) or self._modules.setdefault(mod, OpStats(mod, "module"))
            m.backward_calls += 1
            m.backward += dt

    def _open_range(self, name: str) -> list[Any]:
        entry = [name, 0.0]
        self._open_ranges.append(entry)
        return entry

    def _close_range(self, entry: list[Any], start: float, dt: float) -> None:
        if entry in self._open_ranges:
            self._open_ranges.remove(entry)
        name = entry[0]
        st = self._ranges.get(name) or self._ranges.setdefault(name, OpStats(name, "range"))
        st.calls += 1
        st.forward += dt
        st.inner += entry[1]
        self._event(name, "user_annotation", start, dt)

    # ---- results -------------------------------------------------------------------------
    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        """The rows: one per op type (and input shapes, when ``group_by_input_shape`` and the profile
        recorded them), then one per module, then one per ``record_function`` name (torch's name)."""
        ops: dict[Any, OpStats] = {}
        for (name, shapes), st in self._ops.items():
            key = (name, shapes) if group_by_input_shape else name
            row = ops.get(key)
            if row is None:
                ops[key] = row = OpStats(name, "op", input_shapes=(shapes or ()) if group_by_input_shape else None)
            row._merge(st)
        return EventList([*ops.values(), *self._modules.values(), *self._ranges.values()])

    def table(self, sort_by: str | None = "total", row_limit: int = -1) -> str:
        """The table of :meth:`key_averages`, sorted by total time."""
        return self.key_averages().table(sort_by=sort_by, row_limit=row_limit)

    def export_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Write every recorded op, op backward, module call and range as a Chrome trace (JSON: open it
        in chrome://tracing or https://ui.perfetto.dev), as torch's ``export_chrome_trace``."""
        pid = os.getpid()
        events = [
            {"name": name, "cat": cat, "ph": "X", "ts": (start - self._t0) * 1e6, "dur": seconds * 1e6,
             "pid": pid, "tid": tid}  # fmt: skip
            for name, cat, start, seconds, tid in self._events
        ]
        Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}))

    def __str__(self) -> str:
        return self.table()


class record_function(contextlib.ContextDecorator):  # noqa: N801 - torch's spelling
    """A named range in the active profile (torch's ``record_function``): a context manager or a
    decorator; its row in the table is the time from entry to exit (self: outside the ops inside).
    Without an active profile it does nothing."""

    def __init__(self, name: str, args: str | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"record_function: name must be a str, got {type(name).__name__}")
        self.name = name
        self.args = args
        self._entries: list[Any] = []  # one per open use (a decorated function may recurse)

    def __enter__(self) -> record_function:
        prof = _function._PROFILER
        self._entries.append(None if prof is None else (prof, prof._open_range(self.name), perf_counter()))
        return self

    def __exit__(self, *exc: Any) -> None:
        entry = self._entries.pop() if self._entries else None
        if entry is not None:
            prof, rng, start = entry
            prof._close_range(rng, start, perf_counter() - start)

"""Autograd overhead of minidl next to torch (CPU), measured in one run with the same threads.

Three parts, each reported as minidl time, torch time and the ratio minidl/torch
(> 1: minidl is slower):

1. per-op overhead on small tensors, shapes (8, 8) and (32,): add, mul, matmul, exp,
   relu, sum, softmax, getitem (slicing), reshape, cat; each in three modes: forward with
   inputs that require grad (the graph is recorded), forward under ``no_grad``, and
   forward + backward. Timed as ``timeit`` does (best of several repeats of many calls,
   the garbage collector off), in microseconds per op.
2. a deep chain ``y = y * 1.0001 + 0.0001`` repeated ``--chain`` times (10,000 by
   default): time to build the graph, and time of ``backward``; best of a few repeats
   with the garbage collector on, as in a real program.
3. a small MLP training step: ``relu(x @ W1 + b1) @ W2 + b2`` on a 64x256 batch,
   mean-squared loss, backward and an SGD update; and the same forward under ``no_grad``.

Every part also checks that minidl and torch agree numerically (outputs and gradients
from the same float32 inputs); the script exits with status 1 if one does not.

Usage::

    python benchmarks/bench_autograd.py                 # full run, about 1 minute on 2 cores
    python benchmarks/bench_autograd.py --quick         # smoke run (a few seconds): rough timings, same checks
    python benchmarks/bench_autograd.py --chain 100000 --threads 1 --out /tmp/results

Results go to ``<out>/autograd.json`` and ``<out>/autograd.md`` (``<out>`` defaults to
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # measure the checkout's minidl, installed or not

import minidl as md  # noqa: E402

SHAPES: tuple[tuple[int, ...], ...] = ((8, 8), (32,))
MODES = ("forward", "no_grad", "fwd+bwd")
RTOL, ATOL = 1e-4, 1e-5


# ---------------------------------------------------------------------------- the ops
# Each op: (name, number of tensor inputs, f(lib, *inputs)); the same code runs on
# minidl and torch, as minidl copies torch's API.
RESHAPE_TO = {2: (-1,), 1: (4, -1)}  # by input ndim: (8, 8) -> (64,), (32,) -> (4, 8)


OPS: list[tuple[str, int, Callable[..., Any]]] = [
    ("add", 2, lambda L, a, b: a + b),
    ("mul", 2, lambda L, a, b: a * b),
    ("matmul", 2, lambda L, a, b: a @ b),  # (32,) @ (32,) is a dot product
    ("exp", 1, lambda L, a: a.exp()),
    ("relu", 1, lambda L, a: a.relu()),
    ("sum", 1, lambda L, a: a.sum()),
    ("softmax", 1, lambda L, a: a.softmax(-1)),
    ("getitem", 1, lambda L, a: a[1:5]),
    ("reshape", 1, lambda L, a: a.reshape(RESHAPE_TO[a.ndim])),
    ("cat", 2, lambda L, a, b: L.cat([a, b], 0)),
]


def _leaf(lib: Any, arr: np.ndarray, requires_grad: bool = True) -> Any:
    return lib.tensor(arr.copy(), requires_grad=requires_grad)


def _to_numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return np.asarray(t.detach().numpy())


# ---------------------------------------------------------------------------- timing
class Timing:
    """How hard to time: ``repeat`` runs of ``number`` calls (``number`` from a target time)."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.repeat = 2 if quick else 5
        self.target_s = 0.0 if quick else 0.04  # seconds per repeat
        self.min_number = 20 if quick else 50
        self.chain_repeat = 1 if quick else 3
        self.mlp_repeat = 2 if quick else 5


def time_call(fn: Callable[[], Any], timing: Timing) -> float:
    """Best time of one call of ``fn`` in seconds (timeit: gc off, best of ``repeat``)."""
    timer = timeit.Timer(fn)
    number = timing.min_number
    if timing.target_s:
        # timeit.autorange, but starting from min_number and aiming at target_s
        while True:
            t = timer.timeit(number)
            if t >= timing.target_s:
                break
            number = max(number * 2, int(number * timing.target_s / max(t, 1e-9) * 1.1))
    return min(timer.repeat(repeat=timing.repeat, number=number)) / number


def bench_op(
    lib: Any, name: str, fn: Callable[..., Any], arrays: list[np.ndarray], grad_out: np.ndarray, timing: Timing
) -> dict[str, float]:
    """Seconds per call of op ``fn`` in each mode, for one library."""
    xs = [_leaf(lib, a) for a in arrays]
    g = lib.tensor(grad_out.copy())

    def forward() -> None:
        fn(lib, *xs)

    def fwd_bwd() -> None:
        y = fn(lib, *xs)
        y.backward(g)
        for x in xs:
            x.grad = None

    out = {"forward": time_call(forward, timing)}
    with lib.no_grad():
        out["no_grad"] = time_call(forward, timing)
    out["fwd+bwd"] = time_call(fwd_bwd, timing)
    return out


def check_op(name: str, fn: Callable[..., Any], arrays: list[np.ndarray], grad_out: np.ndarray) -> list[dict[str, Any]]:
    """minidl and torch give the same output and input gradients for op ``fn``."""
    results = {}
    for lib in (md, torch):
        xs = [_leaf(lib, a) for a in arrays]
        y = fn(lib, *xs)
        y.backward(lib.tensor(grad_out.copy()))
        with lib.no_grad():
            y_ng = fn(lib, *[_leaf(lib, a, requires_grad=False) for a in arrays])
        results[lib.__name__] = (_to_numpy(y), _to_numpy(y_ng), [_to_numpy(x.grad) for x in xs])
    (m_y, m_ng, m_g), (t_y, t_ng, t_g) = results["minidl"], results["torch"]
    checks = [_compare(f"{name}: output", m_y, t_y), _compare(f"{name}: output (no_grad)", m_ng, t_ng)]
    checks += [_compare(f"{name}: grad of input {i}", a, b) for i, (a, b) in enumerate(zip(m_g, t_g))]
    return checks


def _compare(name: str, got: np.ndarray, want: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> dict[str, Any]:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return {"check": name, "ok": False, "max_abs_diff": None, "note": f"shapes {got.shape} vs {want.shape}"}
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    ok = bool(np.allclose(got, want, rtol=rtol, atol=atol))
    return {"check": name, "ok": ok, "max_abs_diff": diff}


def run_per_op(timing: Timing) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for shape in SHAPES:
        for name, n_in, fn in OPS:
            arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(n_in)]
            out_shape = tuple(fn(torch, *[torch.from_numpy(a) for a in arrays]).shape)
            grad_out = rng.standard_normal(out_shape).astype(np.float32)
            shape_label = "x".join(map(str, shape))
            label = f"{name} {shape_label}"
            try:
                checks += check_op(label, fn, arrays, grad_out)
                times = {lib.__name__: bench_op(lib, name, fn, arrays, grad_out, timing) for lib in (md, torch)}
            except Exception as e:  # one broken op must not hide the others' numbers
                note = f"{type(e).__name__}: {e}"
                checks.append({"check": f"{label}: runs", "ok": False, "max_abs_diff": None, "note": note})
                rows += [
                    {
                        "op": name,
                        "shape": shape_label,
                        "mode": mode,
                        "minidl_us": None,
                        "torch_us": None,
                        "ratio": None,
                        "error": note,
                    }
                    for mode in MODES
                ]
                continue
            for mode in MODES:
                m, t = times["minidl"][mode], times["torch"][mode]
                rows.append(
                    {
                        "op": name,
                        "shape": shape_label,
                        "mode": mode,
                        "minidl_us": m * 1e6,
                        "torch_us": t * 1e6,
                        "ratio": m / t,
                    }
                )
    return rows, checks


# ---------------------------------------------------------------------------- deep chain
def build_chain(x: Any, n: int) -> Any:
    y = x
    for _ in range(n):
        y = y * 1.0001 + 0.0001
    return y.sum()


def _time_chain(lib: Any, x0: np.ndarray, n: int, gc_on: bool) -> tuple[float, float, np.ndarray, float]:
    """(build seconds, backward seconds, x.grad, loss) of one ``n``-step chain."""
    x = _leaf(lib, x0)
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        t0 = time.perf_counter()
        loss = build_chain(x, n)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
    finally:
        gc.enable()
    return t1 - t0, t2 - t1, _to_numpy(x.grad), float(loss.item())


def run_chain(n: int, timing: Timing) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Best build and backward times of the ``n``-step chain, and the gradients to compare.

    Timed with the garbage collector on (as a program runs), and the build once more with
    it off: minidl's graph is made of Python objects that each full collection walks.
    """
    x0 = np.linspace(-1.0, 1.0, 8, dtype=np.float32)
    best: dict[str, dict[str, float]] = {}
    grads: dict[str, np.ndarray] = {}
    values: dict[str, float] = {}
    for lib in (md, torch):
        b = best[lib.__name__] = {"build": math.inf, "backward": math.inf, "build (gc off)": math.inf}
        for _ in range(timing.chain_repeat):
            build_s, backward_s, grads[lib.__name__], values[lib.__name__] = _time_chain(lib, x0, n, gc_on=True)
            b["build"], b["backward"] = min(b["build"], build_s), min(b["backward"], backward_s)
            build_s, _, _, _ = _time_chain(lib, x0, n, gc_on=False)
            b["build (gc off)"] = min(b["build (gc off)"], build_s)
    gc.collect()
    # the exact gradient of the float32 recurrence is 1.0001f ** n for every element
    exact = np.full(8, float(np.float32(1.0001)) ** n)
    checks = [
        _compare(f"chain({n}): value", values["minidl"], values["torch"], rtol=1e-4),
        _compare(f"chain({n}): grad", grads["minidl"], grads["torch"], rtol=1e-4),
        _compare(f"chain({n}): grad vs exact", grads["minidl"], exact, rtol=1e-3),
    ]
    nodes = 2 * n + 1  # a mul and an add per step (the scalars are constants), and the sum
    rows = []
    for part in ("build", "backward", "build (gc off)"):
        m, t = best["minidl"][part], best["torch"][part]
        rows.append(
            {
                "part": part,
                "n": n,
                "minidl_ms": m * 1e3,
                "torch_ms": t * 1e3,
                "ratio": m / t,
                "minidl_us_per_node": m * 1e6 / nodes,
                "torch_us_per_node": t * 1e6 / nodes,
            }
        )
    return {"n": n, "nodes": nodes, "rows": rows}, checks


# ---------------------------------------------------------------------------- MLP
MLP_SHAPES = {"batch": 64, "in": 256, "hidden": 256, "out": 10}
LR = 0.01


def mlp_data() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    b, i, h, o = (MLP_SHAPES[k] for k in ("batch", "in", "hidden", "out"))
    params = [
        (rng.standard_normal((i, h)) / math.sqrt(i)).astype(np.float32),
        (rng.standard_normal(h) * 0.1).astype(np.float32),
        (rng.standard_normal((h, o)) / math.sqrt(h)).astype(np.float32),
        (rng.standard_normal(o) * 0.1).astype(np.float32),
    ]
    x = rng.standard_normal((b, i)).astype(np.float32)
    target = rng.standard_normal((b, o)).astype(np.float32)
    return params, x, target


def mlp_loss(params: list[Any], x: Any, target: Any) -> Any:
    w1, b1, w2, b2 = params
    h = (x @ w1 + b1).relu()
    out = h @ w2 + b2
    return ((out - target) ** 2).mean()


def mlp_step(lib: Any, params: list[Any], x: Any, target: Any) -> Any:
    """One training step: forward, backward, SGD update (and zero the grads)."""
    loss = mlp_loss(params, x, target)
    loss.backward()
    with lib.no_grad():
        for p in params:
            p -= LR * p.grad
            p.grad = None
    return loss


def run_mlp(timing: Timing) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    p0, x0, t0 = mlp_data()
    found: dict[str, Any] = {}
    times: dict[str, dict[str, float]] = {}
    for lib in (md, torch):
        params = [_leaf(lib, p) for p in p0]
        x, target = lib.tensor(x0.copy()), lib.tensor(t0.copy())
        # correctness first, from the same initial parameters
        loss = mlp_loss(params, x, target)
        loss.backward()
        grads = [_to_numpy(p.grad) for p in params]
        for p in params:
            p.grad = None
        loss1 = mlp_step(lib, params, x, target)
        loss2 = mlp_loss(params, x, target)
        found[lib.__name__] = (float(loss.item()), grads, float(loss1.item()), float(loss2.item()))

        def step(lib: Any = lib, params: list[Any] = params, x: Any = x, target: Any = target) -> None:
            mlp_step(lib, params, x, target)

        def infer(params: list[Any] = params, x: Any = x, target: Any = target) -> None:
            mlp_loss(params, x, target)

        m = {"train step": time_call(step, _mlp_timing(timing))}
        with lib.no_grad():
            m["forward (no_grad)"] = time_call(infer, _mlp_timing(timing))
        times[lib.__name__] = m
    (ml, mg, ml1, ml2), (tl, tg, _, tl2) = found["minidl"], found["torch"]
    names = ("W1", "b1", "W2", "b2")
    checks = [_compare("mlp: loss", ml, tl)]
    checks += [
        _compare(f"mlp: grad {n}", a, b, atol=1e-5 * float(np.max(np.abs(b)) + 1)) for n, a, b in zip(names, mg, tg)
    ]
    checks += [_compare("mlp: loss after one SGD step", ml2, tl2)]
    checks.append({"check": "mlp: minidl's loss goes down after one step", "ok": ml2 < ml1, "max_abs_diff": None})
    rows = []
    for part in ("train step", "forward (no_grad)"):
        m, t = times["minidl"][part], times["torch"][part]
        rows.append({"part": part, "minidl_us": m * 1e6, "torch_us": t * 1e6, "ratio": m / t})
    return rows, checks


def _mlp_timing(timing: Timing) -> Timing:
    t = Timing(timing.quick)
    t.repeat = timing.mlp_repeat
    t.min_number = 5 if timing.quick else 10
    t.target_s = 0.0 if timing.quick else 0.2
    return t


# ---------------------------------------------------------------------------- reporting
def minidl_source() -> dict[str, Any]:
    """Which minidl was measured: the git commit (if any) and a hash of its sources."""
    digest = hashlib.sha256()
    pkg = Path(md.__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        digest.update(path.relative_to(pkg).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=pkg, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"path": str(pkg), "git_commit": commit or None, "sources_sha256": digest.hexdigest()[:16]}


def machine_info(threads: int) -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "minidl": md.__version__,
        "minidl_source": minidl_source(),
        "threads": threads,
        "torch_num_threads": torch.get_num_threads(),
        "blas": [
            {k: info.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "filepath")}
            for info in threadpool_info()
        ],
    }


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else math.nan


def summarize(per_op: list[dict[str, Any]]) -> dict[str, float]:
    return {
        f"geomean ratio, {mode}": geomean([r["ratio"] for r in per_op if r["mode"] == mode and r["ratio"]])
        for mode in MODES
    }


def tables(result: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table, shared by the console and markdown output."""

    def f(x: float | None) -> str:
        if x is None:
            return "error"
        return f"{x:,.1f}" if x >= 10 else f"{x:.2f}"

    def ratio(x: float | None) -> str:
        return "error" if x is None else f"{x:.1f}x"

    per_op = [
        [r["op"], r["shape"], r["mode"], f(r["minidl_us"]), f(r["torch_us"]), ratio(r["ratio"])]
        for r in result["per_op"]
    ]
    chain = result["chain"]
    chain_rows = [
        [
            f"chain {r['part']}, N={r['n']:,}",
            f(r["minidl_ms"]),
            f(r["torch_ms"]),
            f"{r['ratio']:.1f}x",
            f(r["minidl_us_per_node"]),
            f(r["torch_us_per_node"]),
        ]
        for r in chain["rows"]
    ]
    mlp_rows = [[f"MLP {r['part']}", f(r["minidl_us"]), f(r["torch_us"]), f"{r['ratio']:.1f}x"] for r in result["mlp"]]
    summary = [[k, f"{v:.1f}x"] for k, v in result["summary"].items()]
    return [
        (
            "Per-op overhead, small float32 tensors (µs per op)",
            ["op", "shape", "mode", "minidl µs", "torch µs", "ratio"],
            per_op,
        ),
        (
            f"Deep chain y = y * 1.0001 + 0.0001 ({chain['nodes']:,} graph nodes)",
            ["benchmark", "minidl ms", "torch ms", "ratio", "minidl µs/node", "torch µs/node"],
            chain_rows,
        ),
        ("MLP 64x256 -> 256 -> 10, MSE loss (µs per step)", ["benchmark", "minidl µs", "torch µs", "ratio"], mlp_rows),
        ("Summary over the per-op table (minidl / torch)", ["measure", "ratio"], summary),
    ]


def format_console(result: dict[str, Any]) -> str:
    lines = [_header_line(result)]
    for title, header, rows in tables(result):
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
        lines += ["", title]
        lines.append(
            "  ".join(h.ljust(w) if i < _n_text(header) else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))
        )
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            lines.append(
                "  ".join(
                    c.ljust(w) if i < _n_text(header) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
                )
            )
    return "\n".join(lines)


def _n_text(header: list[str]) -> int:
    """How many leading columns hold text (left-aligned); the rest are numbers."""
    return {"op": 3, "benchmark": 1, "measure": 1}[header[0]]


def format_markdown(result: dict[str, Any]) -> str:
    lines = ["# minidl vs torch: autograd overhead", "", _header_line(result), ""]
    lines.append("Ratio = minidl time / torch time, measured in the same run (> 1: minidl is slower).")
    for title, header, rows in tables(result):
        n_text = _n_text(header)
        lines += ["", f"## {title}", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" if i < n_text else "---:" for i in range(len(header))) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    failed = [c for c in result["checks"] if not c["ok"]]
    lines += [
        "",
        f"Numerical checks (minidl vs torch): {len(result['checks']) - len(failed)}/{len(result['checks'])} passed.",
    ]
    lines += [f"- FAILED: {c['check']} (max abs diff {c['max_abs_diff']})" for c in failed]
    return "\n".join(lines) + "\n"


def _header_line(result: dict[str, Any]) -> str:
    m, s = result["machine"], result["settings"]
    return (
        f"{m['platform']}, {m['cpu_count']} CPUs, python {m['python']}, numpy {m['numpy']}, torch {m['torch']}, "
        f"threads={m['threads']}{' (quick run)' if s['quick'] else ''}"
    )


def write_results(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / "autograd.json", out / "autograd.md")
    for path, text in zip(paths, (json.dumps(result, indent=2) + "\n", format_markdown(result))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return paths


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--threads", type=int, default=2, help="threads for torch and numpy's BLAS (default 2)")
    p.add_argument(
        "--chain", type=int, default=None, help="length of the deep chain (default 10000; 1000 with --quick)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: few iterations, chain 1000; rough timings, same numerical checks",
    )
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for autograd.json and autograd.md"
    )
    args = p.parse_args(argv)
    if args.chain is None:
        args.chain = 1000 if args.quick else 10_000
    if args.threads < 1 or args.chain < 1:
        p.error("--threads and --chain must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timing = Timing(args.quick)
    torch.set_num_threads(args.threads)
    md.manual_seed(0)
    torch.manual_seed(0)
    start = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        machine = machine_info(args.threads)
        per_op, op_checks = run_per_op(timing)
        chain, chain_checks = run_chain(args.chain, timing)
        mlp, mlp_checks = run_mlp(timing)
    checks = op_checks + chain_checks + mlp_checks
    result = {
        "machine": machine,
        "settings": {
            "quick": args.quick,
            "threads": args.threads,
            "chain": args.chain,
            "dtype": "float32",
            "per_op": {
                "shapes": [list(s) for s in SHAPES],
                "repeat": timing.repeat,
                "seconds_per_repeat": timing.target_s,
                "min_calls_per_repeat": timing.min_number,
                "statistic": "best of repeats, gc disabled (timeit)",
            },
            "chain_repeat": timing.chain_repeat,
            "chain_statistic": "best of repeats; gc enabled, except the 'build (gc off)' row",
            "mlp": {**MLP_SHAPES, "lr": LR, "statistic": "best of repeats, gc disabled (timeit)"},
            "ratio": "minidl time / torch time",
        },
        "per_op": per_op,
        "chain": chain,
        "mlp": mlp,
        "summary": summarize(per_op),
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
        "elapsed_s": time.perf_counter() - start,
    }
    print(format_console(result))
    json_path, md_path = write_results(result, args.out)
    failed = [c for c in checks if not c["ok"]]
    print(f"\nnumerical checks (minidl vs torch): {len(checks) - len(failed)}/{len(checks)} passed")
    for c in failed:
        print(f"  FAILED: {c['check']}: max abs diff {c['max_abs_diff']} {c.get('note', '')}", file=sys.stderr)
    print(f"wrote {json_path} and {md_path} ({result['elapsed_s']:.1f} s)")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

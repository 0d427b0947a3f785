"""Layer timings of the course CNN (COURSEWORK.md section 2), minidl vs torch in one run.

For each of the CNN's conv layers (batch 128, float32), its max-pool, a BatchNorm2d, a
Dropout and the cross-entropy head: forward time and forward+backward time for both
libraries with the same thread count, printed as a table of ratios (minidl / torch) and
written to ``benchmarks/results/layers.{json,md}``.

    python benchmarks/bench_layers.py            # full run
    python benchmarks/bench_layers.py --quick    # smoke run: batch 8, one timed call each (timings meaningless)

Every layer's output and input gradient are checked against torch's (Dropout: against the
inverted-dropout rule); the checks go into the JSON (``checks``, ``ok``), exit status 1 if one fails.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's minidl, not an installed one
import torch
from _report import SETTLE_S, WARM_S, blas_info, settle, write_results  # noqa: E402  (benchmarks/, the script's folder)
from threadpoolctl import threadpool_limits

import minidl as md
from minidl import nn

# (name, make(lib), input shape without batch)
CONV_STAGES = [(3, 32, 32), (32, 64, 16), (64, 128, 8), (128, 256, 4), (256, 512, 2)]


def cases(batch: int) -> list[tuple[str, object, tuple[int, ...], bool]]:
    """(name, factory(lib_nn), input shape, needs integer targets)."""
    out = []
    for cin, cout, size in CONV_STAGES:
        out.append((f"Conv2d {cin}->{cout} k3 p1 @{size}x{size}",
                    lambda lib, cin=cin, cout=cout: lib.Conv2d(cin, cout, 3, padding=1), (batch, cin, size, size)))  # fmt: skip
        if size > 2:
            out.append((f"MaxPool2d 2x2 on {cout}x{size}x{size}", lambda lib: lib.MaxPool2d(2, 2),
                        (batch, cout, size, size)))  # fmt: skip
    # overlapping windows with padding (the general kernels): ResNet's stem pool, and a 3x3 stride-1 pool
    out.append(("MaxPool2d(3, 2, 1) on 64x32x32", lambda lib: lib.MaxPool2d(3, 2, 1), (batch, 64, 32, 32)))
    out.append(("MaxPool2d(3, 1, 1) on 64x16x16", lambda lib: lib.MaxPool2d(3, 1, 1), (batch, 64, 16, 16)))
    out.append(("BatchNorm2d(64) train @16x16", lambda lib: lib.BatchNorm2d(64), (batch, 64, 16, 16)))
    out.append(("Dropout(0.5) train", lambda lib: lib.Dropout(0.5), (batch, 512, 4, 4)))
    out.append(("AdaptiveAvgPool2d(1) @2x2", lambda lib: lib.AdaptiveAvgPool2d(1), (batch, 512, 2, 2)))
    return [(n, f, s, False) for n, f, s in out]


_SETTLE = [0]  # the threads to warm before each timing (_report.settle); 0 (a quick run): no settling


def timeit(fn: Callable[[], Any], min_time: float, repeats: int = 3) -> float:
    """Best of ``repeats`` mean times of ``fn`` over at least ``min_time`` seconds, after a warm-up call, from
    settled cores (:func:`_report.settle`: the library timed before leaves its thread pools spinning)."""
    if _SETTLE[0]:
        settle(_SETTLE[0])
    fn()  # warm-up (and JIT)
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = min(best, elapsed / n)
    return best


def _compare(name: str, got: np.ndarray, want: np.ndarray, rtol: float = 1e-3, atol: float = 1e-4) -> dict[str, Any]:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return {"check": name, "ok": False, "max_abs_diff": None, "note": f"shapes {got.shape} vs {want.shape}"}
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    return {"check": name, "ok": bool(np.allclose(got, want, rtol=rtol, atol=atol)), "max_abs_diff": diff}


def _dropout_checks(name: str, x: np.ndarray, y: np.ndarray, gx: np.ndarray, g: np.ndarray, p: float) -> list[dict]:
    """Inverted dropout: each output is 0 or x / (1 - p), the gradient uses the same mask, about p are dropped."""
    kept = y != 0
    scaled = _compare(f"{name}: kept outputs are x / (1 - p)", y[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)
    grad = _compare(f"{name}: grad is g / (1 - p) where kept, 0 elsewhere", gx, np.where(kept, g / (1 - p), 0))
    frac = 1 - kept.mean()
    tol = 5 * np.sqrt(p * (1 - p) / x.size) + 1e-3
    share = {"check": f"{name}: dropped share {frac:.3f} is about p = {p}", "ok": bool(abs(frac - p) <= tol),
             "max_abs_diff": float(abs(frac - p))}  # fmt: skip
    return [scaled, grad, share]


def bench_layer(name: str, make, shape, min_time: float, repeats: int) -> tuple[dict[str, float], list[dict]]:
    """Time one layer's forward and forward+backward in both libraries; check minidl against torch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    t_layer = make(torch.nn)
    m_layer = make(nn)
    m_layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def m_fwd():
        with md.no_grad():
            return m_layer(xm)

    def t_fwd():
        with torch.no_grad():
            return t_layer(xt)

    out_shape = tuple(t_fwd().shape)
    g = rng.standard_normal(out_shape).astype(np.float32)
    gm, gt = md.tensor(g), torch.tensor(g)

    def m_step():
        xm.grad = None
        return m_layer(xm).backward(gm)

    def t_step():
        xt.grad = None
        return t_layer(xt).backward(gt)

    # correctness first (a training-mode forward and backward: BatchNorm's batch statistics)
    xm.grad = xt.grad = None
    ym, yt = m_layer(xm), t_layer(xt)
    ym.backward(gm)
    yt.backward(gt)
    if isinstance(t_layer, torch.nn.Dropout):
        checks = _dropout_checks(name, x, ym.detach().numpy(), xm.grad.numpy(), g, t_layer.p)
    else:
        checks = [_compare(f"{name}: output", ym.detach().numpy(), yt.detach().numpy()),
                  _compare(f"{name}: input grad", xm.grad.numpy(), xt.grad.numpy())]  # fmt: skip
    row = {
        "minidl_fwd_ms": 1e3 * timeit(m_fwd, min_time, repeats), "torch_fwd_ms": 1e3 * timeit(t_fwd, min_time, repeats),
        "minidl_fwdbwd_ms": 1e3 * timeit(m_step, min_time, repeats),
        "torch_fwdbwd_ms": 1e3 * timeit(t_step, min_time, repeats),
    }  # fmt: skip
    return row, checks


def cross_entropy_case(batch: int, min_time: float, repeats: int) -> tuple[dict[str, float], list[dict]]:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((batch, 10)).astype(np.float32)
    target = rng.integers(0, 10, batch)
    lm, lt = md.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    tm, tt = md.tensor(target), torch.tensor(target)
    fm, ft = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()

    def m_step():
        lm.grad = None
        fm(lm, tm).backward()

    def t_step():
        lt.grad = None
        ft(lt, tt).backward()

    loss_m, loss_t = fm(lm, tm), ft(lt, tt)
    loss_m.backward()
    loss_t.backward()
    name = f"CrossEntropyLoss ({batch}, 10)"
    checks = [_compare(f"{name}: loss", loss_m.item(), loss_t.item(), rtol=1e-5, atol=1e-6),
              _compare(f"{name}: logits grad", lm.grad.numpy(), lt.grad.numpy(), rtol=1e-4, atol=1e-6)]  # fmt: skip
    row = {
        "minidl_fwd_ms": 1e3 * timeit(lambda: fm(lm.detach(), tm), min_time, repeats),
        "torch_fwd_ms": 1e3 * timeit(lambda: ft(lt.detach(), tt), min_time, repeats),
        "minidl_fwdbwd_ms": 1e3 * timeit(m_step, min_time, repeats),
        "torch_fwdbwd_ms": 1e3 * timeit(t_step, min_time, repeats),
    }  # fmt: skip
    return row, checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, short timings, numerical checks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    batch = args.batch or (8 if args.quick else 128)
    min_time, repeats = (0.0, 1) if args.quick else (0.3, 3)
    torch.set_num_threads(args.threads)
    _SETTLE[0] = 0 if args.quick else args.threads
    torch.manual_seed(0)
    md.manual_seed(0)
    rows, checks = [], []
    with threadpool_limits(args.threads):
        for name, make, shape, _ in cases(batch):
            r, c = bench_layer(name, make, shape, min_time, repeats)
            rows.append({"layer": name, **r})
            checks += c
        r, c = cross_entropy_case(batch, min_time, repeats)
        rows.append({"layer": f"CrossEntropyLoss ({batch}, 10)", **r})
        checks += c
    for r in rows:
        r["fwd_ratio"] = r["minidl_fwd_ms"] / r["torch_fwd_ms"]
        r["fwdbwd_ratio"] = r["minidl_fwdbwd_ms"] / r["torch_fwdbwd_ms"]
    header = f"{'layer':38} {'fwd md/torch':>14} {'ratio':>6} {'fwd+bwd md/torch':>20} {'ratio':>6}"
    lines = [f"batch {batch}, float32, {args.threads} threads, {platform.platform()}", header]
    for r in rows:
        lines.append(
            f"{r['layer']:38} {r['minidl_fwd_ms']:6.2f}/{r['torch_fwd_ms']:<6.2f}ms {r['fwd_ratio']:6.2f}"
            f" {r['minidl_fwdbwd_ms']:8.2f}/{r['torch_fwdbwd_ms']:<8.2f}ms {r['fwdbwd_ratio']:6.2f}"
        )
    print("\n".join(lines))
    meta = {"batch": batch, "threads": args.threads, "platform": platform.platform(), "python": sys.version.split()[0],
            "numpy": np.__version__, "blas": blas_info(), "torch": torch.__version__, "quick": args.quick,
            "settle": None if args.quick else {"pause_s": SETTLE_S, "warm_s": WARM_S}}  # fmt: skip
    ok = all(c["ok"] for c in checks)
    md_lines = [f"# Layer timings, minidl vs torch (batch {batch}, {args.threads} threads)", "",
                "| layer | fwd ms minidl | fwd ms torch | ratio | fwd+bwd ms minidl | fwd+bwd ms torch | ratio |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        md_lines.append(f"| {r['layer']} | {r['minidl_fwd_ms']:.2f} | {r['torch_fwd_ms']:.2f} | {r['fwd_ratio']:.2f} | "
                        f"{r['minidl_fwdbwd_ms']:.2f} | {r['torch_fwdbwd_ms']:.2f} | {r['fwdbwd_ratio']:.2f} |")  # fmt: skip
    failed = [c for c in checks if not c["ok"]]
    md_lines += ["", f"Numerical checks (minidl vs torch): {len(checks) - len(failed)}/{len(checks)} passed."]
    md_lines += [f"- FAILED: {c['check']} (max abs diff {c['max_abs_diff']})" for c in failed]
    result = {"meta": meta, "rows": rows, "checks": checks, "ok": ok}
    return write_results(Path(args.out), "layers", result, "\n".join(md_lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""Layer timings of the course CNN (COURSEWORK.md section 2), minidl vs torch in one run.

For each of the CNN's conv layers (batch 128, float32), its max-pool, a BatchNorm2d, a
Dropout and the cross-entropy head: forward time and forward+backward time for both
libraries with the same thread count, printed as a table of ratios (minidl / torch) and
written to ``benchmarks/results/layers.{json,md}``.

    python benchmarks/bench_layers.py            # full run
    python benchmarks/bench_layers.py --quick    # smoke run: small batch, checks numbers agree
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's minidl, not an installed one
import torch
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
                    lambda lib, cin=cin, cout=cout: lib.Conv2d(cin, cout, 3, padding=1), (batch, cin, size, size)))
        if size > 2:
            out.append((f"MaxPool2d 2x2 on {cout}x{size}x{size}", lambda lib: lib.MaxPool2d(2, 2),
                        (batch, cout, size, size)))  # fmt: skip
    out.append(("BatchNorm2d(64) train @16x16", lambda lib: lib.BatchNorm2d(64), (batch, 64, 16, 16)))
    out.append(("Dropout(0.5) train", lambda lib: lib.Dropout(0.5), (batch, 512, 4, 4)))
    out.append(("AdaptiveAvgPool2d(1) @2x2", lambda lib: lib.AdaptiveAvgPool2d(1), (batch, 512, 2, 2)))
    return [(n, f, s, False) for n, f, s in out]


def timeit(fn, min_time: float) -> float:
    fn()  # warm-up (and JIT)
    best = float("inf")
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = min(best, elapsed / n)
    return best


def bench_layer(make, shape, min_time: float, check: bool) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    t_layer = make(torch.nn)
    m_layer = make(nn)
    m_layer.load_state_dict({k: v.detach().numpy() for k, v in t_layer.state_dict().items()})
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = None

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
        m_layer(xm).backward(gm)

    def t_step():
        xt.grad = None
        t_layer(xt).backward(gt)

    if check and not isinstance(t_layer, torch.nn.Dropout):
        np.testing.assert_allclose(m_fwd().numpy(), t_fwd().numpy(), rtol=1e-3, atol=1e-4)
        m_step()
        t_step()
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-4)
    return {
        "minidl_fwd_ms": 1e3 * timeit(m_fwd, min_time), "torch_fwd_ms": 1e3 * timeit(t_fwd, min_time),
        "minidl_fwdbwd_ms": 1e3 * timeit(m_step, min_time), "torch_fwdbwd_ms": 1e3 * timeit(t_step, min_time),
    }  # fmt: skip


def cross_entropy_case(batch: int, min_time: float) -> dict[str, float]:
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

    return {
        "minidl_fwd_ms": 1e3 * timeit(lambda: fm(lm.detach(), tm), min_time),
        "torch_fwd_ms": 1e3 * timeit(lambda: ft(lt.detach(), tt), min_time),
        "minidl_fwdbwd_ms": 1e3 * timeit(m_step, min_time), "torch_fwdbwd_ms": 1e3 * timeit(t_step, min_time),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batch, short timings, numerical checks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    batch = args.batch or (8 if args.quick else 128)
    min_time = 0.02 if args.quick else 0.3
    torch.set_num_threads(args.threads)
    rows = []
    with threadpool_limits(args.threads):
        for name, make, shape, _ in cases(batch):
            r = bench_layer(make, shape, min_time, check=args.quick)
            rows.append({"layer": name, **r})
        rows.append({"layer": f"CrossEntropyLoss ({batch}, 10)", **cross_entropy_case(batch, min_time)})
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"batch": batch, "threads": args.threads, "platform": platform.platform(), "python": sys.version.split()[0],
            "numpy": np.__version__, "torch": torch.__version__, "quick": args.quick}  # fmt: skip
    (out / "layers.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    md_lines = [f"# Layer timings, minidl vs torch (batch {batch}, {args.threads} threads)", "",
                "| layer | fwd ms minidl | fwd ms torch | ratio | fwd+bwd ms minidl | fwd+bwd ms torch | ratio |",
                "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        md_lines.append(f"| {r['layer']} | {r['minidl_fwd_ms']:.2f} | {r['torch_fwd_ms']:.2f} | {r['fwd_ratio']:.2f} | "
                        f"{r['minidl_fwdbwd_ms']:.2f} | {r['torch_fwdbwd_ms']:.2f} | {r['fwdbwd_ratio']:.2f} |")  # fmt: skip
    (out / "layers.md").write_text("\n".join(md_lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

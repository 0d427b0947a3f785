"""One training step of the course CNN (COURSEWORK.md section 2), minidl vs torch CPU.

Batch 128 of 32x32x3 images, cross-entropy, SGD with Nesterov momentum 0.9, lr 0.1,
weight decay 1e-4. Each library runs in its own child process (same thread count) so
its peak memory (max RSS) is measured separately; the parent prints the ratios
(minidl / torch) of the step time and of the peak memory, and writes
``benchmarks/results/train_step.{json,md}``.

    python benchmarks/bench_train_step.py           # full run
    python benchmarks/bench_train_step.py --quick   # smoke run (batch 8, few steps)
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's minidl, not an installed one


def course_cnn(lib):
    chans = [3, 32, 64, 128, 256, 512]
    layers = []
    for i in range(5):
        layers += [lib.Conv2d(chans[i], chans[i + 1], 3, padding=1), lib.ReLU()]
        if i < 4:
            layers.append(lib.MaxPool2d(2, 2))
    layers += [lib.AdaptiveAvgPool2d(1), lib.Flatten(), lib.Linear(512, 2)]
    return lib.Sequential(*layers)


def child(lib_name: str, batch: int, steps: int, threads: int) -> dict[str, float]:
    """Time ``steps`` training steps in this process; report times and peak RSS."""
    from threadpoolctl import threadpool_limits

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 2, batch)
    with threadpool_limits(threads):
        if lib_name == "torch":
            import torch

            torch.set_num_threads(threads)
            torch.manual_seed(0)
            model = course_cnn(torch.nn)
            opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
            xb, yb = torch.tensor(x), torch.tensor(y)
            loss_fn = torch.nn.CrossEntropyLoss()
        else:
            import minidl as md
            from minidl import nn, optim

            md.manual_seed(0)
            model = course_cnn(nn)
            opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
            xb, yb = md.tensor(x), md.tensor(y)
            loss_fn = nn.CrossEntropyLoss()

        def step() -> float:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            return float(loss)

        t0 = time.perf_counter()
        first_loss = step()
        first = time.perf_counter() - t0
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        model.eval()
        if lib_name == "torch":
            import torch

            ctx = torch.no_grad()
        else:
            ctx = md.no_grad()
        eval_times = []
        with ctx:
            for _ in range(max(2, steps // 2)):
                t0 = time.perf_counter()
                model(xb)
                eval_times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"first_step_s": first, "step_ms": 1e3 * float(np.median(times)), "eval_ms": 1e3 * float(np.median(eval_times)),
            "peak_rss_mb": peak / 1024, "rss_before_mb": rss_before / 1024, "first_loss": first_loss}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--child", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batch = args.batch or (8 if args.quick else 128)
    steps = args.steps or (2 if args.quick else 10)
    if args.child:
        print(json.dumps(child(args.child, batch, steps, args.threads)))
        return 0
    results = {}
    for lib in ("torch", "minidl"):
        cmd = [sys.executable, __file__, "--child", lib, "--batch", str(batch), "--steps", str(steps),
               "--threads", str(args.threads)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return proc.returncode
        results[lib] = json.loads(proc.stdout.strip().splitlines()[-1])
    m, t = results["minidl"], results["torch"]
    ratios = {"step": m["step_ms"] / t["step_ms"], "eval": m["eval_ms"] / t["eval_ms"],
              "peak_memory": m["peak_rss_mb"] / t["peak_rss_mb"]}  # fmt: skip
    print(f"course CNN training step, batch {batch}, {args.threads} threads, {platform.platform()}")
    print(f"{'':22} {'minidl':>10} {'torch':>10} {'ratio':>7}")
    print(f"{'step (median) ms':22} {m['step_ms']:10.1f} {t['step_ms']:10.1f} {ratios['step']:7.2f}")
    print(f"{'eval forward ms':22} {m['eval_ms']:10.1f} {t['eval_ms']:10.1f} {ratios['eval']:7.2f}")
    print(f"{'peak RSS MB':22} {m['peak_rss_mb']:10.0f} {t['peak_rss_mb']:10.0f} {ratios['peak_memory']:7.2f}")
    print(f"{'first step s':22} {m['first_step_s']:10.2f} {t['first_step_s']:10.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"batch": batch, "steps": steps, "threads": args.threads, "platform": platform.platform(),
            "numpy": np.__version__, "quick": args.quick}  # fmt: skip
    (out / "train_step.json").write_text(json.dumps({"meta": meta, "minidl": m, "torch": t, "ratios": ratios}, indent=2))
    (out / "train_step.md").write_text(
        f"# Course CNN training step (batch {batch}, {args.threads} threads)\n\n"
        "| | minidl | torch | ratio |\n|---|---|---|---|\n"
        f"| step ms (median of {steps}) | {m['step_ms']:.1f} | {t['step_ms']:.1f} | {ratios['step']:.2f} |\n"
        f"| eval forward ms | {m['eval_ms']:.1f} | {t['eval_ms']:.1f} | {ratios['eval']:.2f} |\n"
        f"| peak RSS MB | {m['peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} | {ratios['peak_memory']:.2f} |\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

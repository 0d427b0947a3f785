"""Exercise 3 - gradient descent on 2-D functions (COURSEWORK.md section 1).

As in the assignment, the test functions are *images*: Schaffer N.2, Schaffer N.4 and Beale
are rendered with ``minidl.landscapes.render_image`` as 16-bit grayscale PNGs (in the output
folder's ``fn/``), read back with ``SampledFunction.from_image`` in pixel coordinates (x =
column, y = row, value = grey / 65535, bilinear between pixels), and a point is moved over
them by

* plain gradient descent,
* momentum (beta = 0.9),
* Nesterov momentum (beta = 0.9),

with the gradient from central differences with ``eps = 1`` pixel and learning rate 10, the
assignment's settings; a run stops when |grad f| < tol, at the step limit, or when the point
leaves the image. It prints a table of the runs (final value, steps, stop reason, distance
to the global minimum) and what it finds, and saves:

* ``<function>_paths.png``  - the three paths on the image and the loss per step,
* ``<function>_sweep.png``  - a learning-rate x beta sweep (Nesterov) on the image,
* ``beale_nesterov.gif``    - the paths on Beale growing step by step,
* ``fn/<function>.png``     - the 16-bit function images themselves.

    python exercises/ex03_gradient_descent_2d.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import matplotlib

matplotlib.use("Agg")

from minidl import landscapes as L  # noqa: E402

FUNCTIONS = ["schaffer_n2", "schaffer_n4", "beale"]
CONFIGS = [
    {"optimizer": "sgd", "label": "GD"},
    {"optimizer": "sgd", "momentum": 0.9, "label": "Momentum β=0.9"},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "label": "Nesterov β=0.9"},
]
LR = 10.0  # the assignment's learning rate, in pixel units
EPS = 1.0  # one pixel


def row(name: str, f: Any, t: L.Trace) -> dict[str, Any]:
    x, y = t.end
    dist = min((math.hypot(mx - x, my - y) for mx, my, _ in f.minima), default=math.nan)
    return dict(function=name, config=t.label, steps=t.n_steps, stop=t.stop_reason, x=float(x), y=float(y),
                value=t.final_value, distance=dist)  # fmt: skip


def table(runs: list[dict[str, Any]]) -> str:
    head = (f"{'function':<14}{'optimiser':<17}{'steps':>6}  {'stop':<12}{'end (col, row)':<20}{'f':>10}"
            f"{'px to min':>11}")
    lines = [head, "-" * len(head)]
    for r in runs:
        end = f"({r['x']:.1f}, {r['y']:.1f})"
        lines.append(f"{r['function']:<14}{r['config']:<17}{r['steps']:>6}  {r['stop']:<12}{end:<20}"
                     f"{r['value']:>10.4g}{r['distance']:>11.1f}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="300 steps, not 1000; one smaller sweep; a short GIF (CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex03"), help="output folder")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    size = 300
    steps = 300 if args.quick else 1000
    tol = 1e-6
    os.makedirs(os.path.join(args.out, "fn"), exist_ok=True)
    files: list[str] = []
    runs: list[dict[str, Any]] = []
    images: dict[str, L.SampledFunction] = {}
    traces: dict[str, list[L.Trace]] = {}

    print(f"images {size}x{size} px, 16 bit; lr = {LR:g}, eps = {EPS:g} px (central differences), "
          f"at most {steps} steps, tol |grad f| < {tol:g}\n")  # fmt: skip
    start = (round(0.25 * (size - 1)), round(0.7 * (size - 1)))
    for name in FUNCTIONS:
        png = os.path.join(args.out, "fn", f"{name}.png")
        L.render_image(name, png, (size, size), bits=16, scale="auto")
        img = L.SampledFunction.from_image(png)  # pixel coordinates, as the assignment's starter code
        images[name] = img
        out = os.path.join(args.out, f"{name}_paths.png")
        fig = L.compare(img, start, CONFIGS, out, lr=LR, steps=steps, tol=tol, gradient="numeric", eps=EPS,
                        resolution=150 if args.quick else 250)  # fmt: skip
        traces[name] = fig.traces
        runs += [row(name, img, t) for t in fig.traces]
        files += [png, out]
        for t in fig.traces:
            print(f"  {name:<12} {t.label:<16} {t.message}")
    print("\n" + table(runs))

    # learning rate x beta sweep (Nesterov) on the images: Schaffer's rings make it lr-sensitive
    lrs = [1, 3, 10, 30, 100] if args.quick else [1, 3, 10, 30, 100, 300]
    betas = [0.0, 0.5, 0.9] if args.quick else [0.0, 0.5, 0.9, 0.99]
    sweep_on = ["schaffer_n2"] if args.quick else FUNCTIONS
    best: dict[str, tuple[float, float, float]] = {}
    sweep_failed: dict[str, int] = {}
    for name in sweep_on:
        out = os.path.join(args.out, f"{name}_sweep.png")
        fig = L.sweep(images[name], start, lrs, betas, out, nesterov=True, steps=min(steps, 400), tol=tol,
                      gradient="numeric", eps=EPS, progress=False)  # fmt: skip
        files.append(out)
        cells = [(t.final_value, lr, b) for lr, trow in zip(lrs, fig.traces) for b, t in zip(betas, trow)
                 if t.stop_reason in ("tol", "steps")]  # fmt: skip
        failed = sum(t.stop_reason not in ("tol", "steps") for trow in fig.traces for t in trow)
        sweep_failed[name] = failed
        best[name] = min(cells) if cells else (math.nan, math.nan, math.nan)
        v, lr, b = best[name]
        print(f"\nsweep on {name}: {len(lrs)} lr x {len(betas)} beta (Nesterov), {min(steps, 400)} steps: "
              f"lowest f = {v:.4g} at lr={lr:g}, beta={b:g}; {failed} runs left the image")  # fmt: skip

    gif = os.path.join(args.out, "beale_nesterov.gif")
    L.animate(images["beale"], traces["beale"], gif, max_frames=15 if args.quick else 90, resolution=120)
    files.append(gif)

    print("\nfindings:")
    for name in FUNCTIONS:
        rs = [r for r in runs if r["function"] == name]
        ok = [r for r in rs if r["stop"] in ("tol", "steps")]
        parts = ", ".join(f"{r['config'].split()[0]} f={r['value']:.3g} ({r['steps']} steps, {r['stop']})" for r in rs)
        win = min(ok, key=lambda r: (r["value"], r["steps"]))["config"] if ok else "none (all left the image)"
        print(f"  {name}: {parts}\n      -> lowest f: {win}")
    gd, mom = (next(r for r in runs if r["function"] == "beale" and r["config"].startswith(k)) for k in ("GD", "Mom"))
    if gd["stop"] in ("tol", "steps") and mom["stop"] in ("tol", "steps") and mom["value"] > 0:
        ratio = gd["value"] / mom["value"]
        print(f"  Beale's flat valley: plain GD ends at f = {gd['value']:.3g}, {gd['distance']:.0f} px from the "
              f"minimum; momentum reaches f = {mom['value']:.3g} ({ratio:.1f}x lower)")  # fmt: skip
    for name in sweep_on:
        v, lr, b = best[name]
        print(f"  sweep {name}: best lr={lr:g}, beta={b:g} (f = {v:.3g}); {sweep_failed[name]} of "
              f"{len(lrs) * len(betas)} (lr, beta) pairs left the image: big lr + big beta overshoot")  # fmt: skip
    print("\nfiles:\n" + "\n".join(f"  {f}" for f in files))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The coursework's gradient-descent exercise, end to end: ``python -m minidl.landscapes.demo [OUTDIR]``.

1. Render the image-sampled functions of the assignment (Beale, six-hump camel,
   Schaffer N.4, three-hump camel, Eggholder, Styblinski-Tang; "madsen" has no citable
   formula) as 16-bit grayscale PNGs in ``OUTDIR/fn/``.
2. On each image, in pixel coordinates as the starter code had them (values grey / 65535,
   central differences with eps = 1 pixel, learning rate 10), run plain gradient descent,
   momentum (β = 0.9) and Nesterov momentum (β = 0.9) from the same start, stopping when
   the gradient norm falls under a threshold or at a step limit, and draw the three paths on
   the image with a loss-per-step panel.
3. Do the same on formula functions (Schaffer N.2, Rastrigin, Rosenbrock, Himmelblau,
   Ackley) with analytic (autograd) gradients.
4. Sweep the learning rate and momentum on Schaffer N.2: its sharp rings make the result
   depend strongly on the learning rate.

It prints a table of the runs and returns ``{"files": [...], "runs": [...]}``.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from minidl.landscapes.functions import get
from minidl.landscapes.plotting import compare, sweep
from minidl.landscapes.sampled import SampledFunction, render_image

IMAGE_FUNCTIONS = ["beale", "six_hump_camel", "schaffer_n4", "three_hump_camel", "eggholder", "styblinski_tang"]
# formula functions: (start, learning rate) chosen so that plain GD neither diverges nor stalls at once
FORMULA_RUNS = {
    "schaffer_n2": ((1.5, 1.0), 0.01),
    "rastrigin": ((-2.3, 3.1), 0.002),
    "rosenbrock": ((-1.5, 2.0), 0.001),
    "himmelblau": ((0.0, 0.0), 0.01),
    "ackley": ((-3.2, 2.4), 0.01),
}
CONFIGS = [
    {"optimizer": "sgd", "label": "GD"},
    {"optimizer": "sgd", "momentum": 0.9, "label": "Momentum β=0.9"},
    {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "label": "Nesterov β=0.9"},
]


def run(outdir: str | os.PathLike = "landscapes_demo", *, size: int = 300, steps: int = 1000, tol: float = 1e-6,
        image_lr: float = 10.0, images: list[str] | None = None, formulas: list[str] | None = None,
        sweep_schaffer: bool = True, verbose: bool = True) -> dict[str, Any]:  # fmt: skip
    """Run the exercise; write every picture under ``outdir`` and return the file list and a run table."""
    outdir = os.fspath(outdir)
    os.makedirs(os.path.join(outdir, "fn"), exist_ok=True)
    files: list[str] = []
    runs: list[dict[str, Any]] = []

    def log(msg: str) -> None:
        if verbose:
            print(msg)

    for name in IMAGE_FUNCTIONS if images is None else images:
        png = os.path.join(outdir, "fn", f"{name}.png")
        render_image(name, png, (size, size), scale="auto")
        files.append(png)
        img = SampledFunction.from_image(png)  # pixel coordinates, as the starter code
        start = (round(0.25 * (size - 1)), round(0.7 * (size - 1)))
        fig = compare(img, start, CONFIGS, os.path.join(outdir, f"{name}_image_paths.png"), lr=image_lr,
                      steps=steps, tol=tol, gradient="numeric", eps=1.0)  # fmt: skip
        files.append(os.path.join(outdir, f"{name}_image_paths.png"))
        runs += [_row(f"{name}.png", img, t) for t in fig.traces]

    for name in FORMULA_RUNS if formulas is None else formulas:
        start, lr = FORMULA_RUNS[name]
        f = get(name)
        out = os.path.join(outdir, f"{name}_paths.png")
        fig = compare(f, start, CONFIGS, out, lr=lr, steps=steps, tol=tol)
        files.append(out)
        runs += [_row(name, f, t) for t in fig.traces]

    if sweep_schaffer:
        out = os.path.join(outdir, "schaffer_n2_lr_sweep.png")
        sweep("schaffer_n2", FORMULA_RUNS["schaffer_n2"][0], [0.001, 0.003, 0.01, 0.03, 0.1, 0.3],
              [0.0, 0.5, 0.9], out, nesterov=True, steps=min(steps, 400), tol=tol, progress=verbose)  # fmt: skip
        files.append(out)

    log(format_table(runs))
    log("\n".join(f"wrote {p}" for p in files))
    return {"files": files, "runs": runs}


def _row(name: str, f: Any, t: Any) -> dict[str, Any]:
    x, y = t.end
    dist = min((math.hypot(mx - x, my - y) for mx, my, _ in f.minima), default=math.nan)
    return dict(function=name, config=t.label, steps=t.n_steps, stop=t.stop_reason, x=float(x), y=float(y),
                value=t.final_value, distance=dist)  # fmt: skip


def format_table(runs: list[dict[str, Any]]) -> str:
    head = f"{'function':<22}{'optimiser':<22}{'steps':>6}  {'stop':<12}{'end (x, y)':<24}{'f':>12}{'→ min':>9}"
    lines = [head, "-" * len(head)]
    for r in runs:
        end = f"({r['x']:.4g}, {r['y']:.4g})"
        lines.append(f"{r['function']:<22}{r['config']:<22}{r['steps']:>6}  {r['stop']:<12}{end:<24}"
                     f"{r['value']:>12.4g}{r['distance']:>9.3g}")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else "landscapes_demo")

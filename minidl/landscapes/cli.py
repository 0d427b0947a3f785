"""``python -m minidl.landscapes``: run a descent on a test function or an image and draw it."""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from minidl.landscapes.descent import OPTIMIZERS, descend
from minidl.landscapes.functions import get, names
from minidl.landscapes.sampled import SampledFunction, render_image

DESCRIPTION = """\
Move a point over a 2-D function with gradient descent (plain, momentum, Nesterov, Adam...)
and draw its path. The function is a registered formula (see --list) or a grayscale PNG.

Two ways to call it:

  python -m minidl.landscapes --function schaffer_n2 --optimizer sgd --lr 0.01 \\
      --momentum 0.9 --nesterov --start 1.5 1.0 --steps 300 --out path.png

  python -m minidl.landscapes fn/beale.png 120 300 --eps 1 --learning_rate 10 --beta 0.9 --nesterov

The second is the coursework's own command line: the positional arguments are the image
(or a function name) and the start point X Y. For an image without --domain, X and Y are
pixel coordinates as in the starter code: X is the column and Y the row (row 0 at the top),
the value is grey / (2^bits - 1), and the gradient comes from central differences with a
step of --eps pixels (default 1 pixel).
"""

EPILOG = """\
examples:
  python -m minidl.landscapes --list
  python -m minidl.landscapes rosenbrock -1.5 2 --lr 0.001 --momentum 0.9 --nesterov --steps 3000
  python -m minidl.landscapes --function himmelblau --start 0 0 --optimizer adam --lr 0.1 --gif him.gif
  python -m minidl.landscapes --function beale --render fn/beale.png --size 400 400 --scale log
  python -m minidl.landscapes --image fn/beale.png --domain -4.5 4.5 -4.5 4.5 --start 2 -1 --lr 0.01 --momentum 0.9
  python -m minidl.landscapes --function rosenbrock --start -1.5 2 --lr 0.001 --compare gd momentum nesterov

stop reasons: tol (|grad f| < --tol), steps (--steps reached), divergence (non-finite or huge
values), left domain (the point left the function's domain: lower the learning rate).
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n(see python -m minidl.landscapes --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m minidl.landscapes", description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("target", nargs="?", metavar="FUNCTION_OR_IMAGE",
                   help="a registered function name or a grayscale PNG (the coursework's form)")
    p.add_argument("start_xy", nargs="*", type=float, metavar="X Y",
                   help="start point; for an image without --domain, X = column and Y = row in pixels")

    what = p.add_argument_group("function")
    what.add_argument("--function", "-f", metavar="NAME", help="a registered function (see --list)")
    what.add_argument("--image", metavar="PNG", help="an 8- or 16-bit grayscale PNG sampled on a grid")
    what.add_argument("--domain", nargs=4, type=float, metavar=("X0", "X1", "Y0", "Y1"),
                      help="place the image on this domain (top row = Y1); default: pixel coordinates")
    what.add_argument("--value-range", nargs=2, type=float, metavar=("LO", "HI"),
                      help="map grey 0 .. white to LO .. HI (default 0 .. 1)")
    what.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                      help="a function parameter, e.g. --param condition=50 for quadratic")
    what.add_argument("--list", action="store_true", help="list the registered functions with domains and minima")

    opt = p.add_argument_group("optimiser")
    opt.add_argument("--optimizer", "-o", default="sgd", choices=sorted(OPTIMIZERS), help="default: sgd")
    opt.add_argument("--lr", "--learning_rate", "--learning-rate", type=float, dest="lr",
                     help="learning rate (default: the optimiser's own default)")
    opt.add_argument("--momentum", "--beta", type=float, dest="momentum",
                     help="momentum β for sgd or rmsprop (--beta is the coursework's name)")
    opt.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd; needs --momentum)")
    opt.add_argument("--dampening", type=float, help="sgd dampening")
    opt.add_argument("--weight-decay", type=float, dest="weight_decay", help="weight decay")
    opt.add_argument("--betas", nargs=2, type=float, metavar=("B1", "B2"), help="adam/adamw/nadam betas")

    run = p.add_argument_group("run")
    run.add_argument("--start", nargs=2, type=float, metavar=("X", "Y"), help="start point")
    run.add_argument("--steps", type=int, default=1000, help="the most optimiser steps (default 1000)")
    run.add_argument("--tol", type=float, default=1e-6, help="stop when |grad f| < TOL (0: never; default 1e-6)")
    run.add_argument("--gradient", choices=["analytic", "numeric"],
                     help="autograd or finite differences (default: analytic for formulas, numeric for images)")
    run.add_argument("--eps", type=float,
                     help="finite-difference step (default 1e-4; for images one grid step = 1 pixel)")
    run.add_argument("--difference", choices=["central", "forward"], default="central")
    run.add_argument("--allow-outside", action="store_true",
                     help="let a formula's point leave its domain instead of stopping")

    out = p.add_argument_group("output")
    out.add_argument("--out", metavar="PNG", help="the picture (default: <name>_descent.png)")
    out.add_argument("--gif", metavar="GIF", help="also write an animation of the path")
    out.add_argument("--csv", metavar="CSV", help="also write the path as CSV")
    out.add_argument("--lookahead", action="store_true", help="draw the momentum look-ahead points")
    out.add_argument("--scale", choices=["auto", "log", "linear"], default="auto",
                     help="contour levels (default: log where the range is huge); with --render, grey levels")
    out.add_argument("--compare", nargs="+", metavar="PRESET",
                     help="instead of one run, compare presets (gd momentum nesterov adam rmsprop ...) at --lr")
    out.add_argument("--render", metavar="PNG", help="write the function as a grayscale PNG and exit")
    out.add_argument("--size", nargs=2, type=int, default=[400, 400], metavar=("W", "H"),
                     help="--render size (default 400 400)")
    out.add_argument("--bits", type=int, default=16, choices=[8, 16], help="--render bit depth (default 16)")
    return p


def format_registry() -> str:
    rows = [("name", "domain", "global minima (x, y) → f", "")]
    for n in names():
        f = get(n)
        (x0, x1), (y0, y1) = f.domain
        mins = ", ".join(f"({x:.6g}, {y:.6g})" for x, y, _ in f.minima)
        rows.append((n, f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}]", f"{mins} → {f.minima[0][2]:.10g}",
                     "" if f.smooth else "(not smooth everywhere)"))  # fmt: skip
    w0 = max(len(r[0]) for r in rows) + 2
    w1 = max(len(r[1]) for r in rows) + 2
    lines = [f"{a:<{w0}}{b:<{w1}}{c}  {d}".rstrip() for a, b, c, d in rows]
    lines.insert(1, "-" * min(100, max(len(x) for x in lines)))
    lines.append("")
    lines.append("quadratic takes --param condition=K (Hessian eigenvalues 1 and K) and --param angle=DEG;")
    lines.append("rosenbrock takes --param a=.. b=..")
    return "\n".join(lines)


def _params(p: argparse.ArgumentParser, items: Sequence[str]) -> dict[str, float]:
    out = {}
    for it in items:
        key, sep, val = it.partition("=")
        try:
            if not sep:
                raise ValueError
            out[key.strip()] = float(val)
        except ValueError:
            p.error(f"--param expects NAME=NUMBER, got {it!r}")
    return out


def _load(p: argparse.ArgumentParser, a: argparse.Namespace) -> Any:
    """The function to descend on, from --function, --image or the positional target."""
    sources = [s for s in (a.function, a.image, a.target) if s]
    if len(sources) > 1:
        p.error("give the function once: a positional FUNCTION_OR_IMAGE, --function or --image")
    if not sources:
        p.error("no function: give a name (see --list), --function NAME or an image --image PNG")
    src = sources[0]
    is_image = a.image is not None or (a.function is None and (os.path.exists(src) or src.lower().endswith(".png")))
    if is_image:
        if a.param:
            p.error("--param applies to registered functions, not to images")
        if not os.path.exists(src):
            p.error(f"no such image file: {src}")
        try:
            return SampledFunction.from_image(src, domain=_domain(a), value_range=a.value_range)
        except ValueError as e:
            p.error(str(e))
    if a.domain is not None or a.value_range is not None:
        p.error("--domain and --value-range apply to images (--image PNG)")
    try:
        return get(src, **_params(p, a.param))
    except KeyError:
        p.error(f"unknown function {src!r} (and no such image file); choose one of: {', '.join(names())}")
    except (TypeError, ValueError) as e:
        p.error(str(e))


def _domain(a: argparse.Namespace) -> Any:
    if a.domain is None:
        return None
    x0, x1, y0, y1 = a.domain
    return ((x0, x1), (y0, y1))


def _optimizer_kwargs(p: argparse.ArgumentParser, a: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if a.lr is not None:
        kw["lr"] = a.lr
    if a.weight_decay is not None:
        kw["weight_decay"] = a.weight_decay
    if a.optimizer == "sgd":
        if a.momentum is not None:
            kw["momentum"] = a.momentum
        if a.nesterov:
            if not kw.get("momentum"):
                p.error("--nesterov needs a momentum: add --momentum 0.9 (or --beta 0.9)")
            kw["nesterov"] = True
        if a.dampening is not None:
            kw["dampening"] = a.dampening
    else:
        if a.nesterov or a.dampening is not None:
            p.error(f"--nesterov and --dampening apply to --optimizer sgd, not {a.optimizer}")
        if a.momentum is not None:
            if a.optimizer != "rmsprop":
                p.error(f"--momentum/--beta applies to sgd and rmsprop; for {a.optimizer} use --betas B1 B2")
            kw["momentum"] = a.momentum
    if a.betas is not None:
        if a.optimizer not in ("adam", "adamw", "nadam"):
            p.error("--betas applies to adam, adamw and nadam")
        kw["betas"] = tuple(a.betas)
    if kw.get("lr", 0) < 0:
        p.error("the learning rate must be positive")
    return kw


def _start(p: argparse.ArgumentParser, a: argparse.Namespace, f: Any) -> tuple[tuple[float, float], bool]:
    if a.start_xy and a.start is not None:
        p.error("give the start once: positional X Y or --start X Y")
    if a.start_xy:
        if len(a.start_xy) != 2:
            p.error(f"the start point is two numbers X Y, got {len(a.start_xy)}")
        return (a.start_xy[0], a.start_xy[1]), False
    if a.start is not None:
        return (a.start[0], a.start[1]), False
    (x0, x1), (y0, y1) = getattr(f, "view", f.domain)
    return (round(x0 + 0.2 * (x1 - x0), 6), round(y0 + 0.8 * (y1 - y0), 6)), True


def _default_out(f: Any, suffix: str) -> str:
    base = os.path.splitext(os.path.basename(getattr(f, "name", "function")))[0]
    return f"{base}_{suffix}"


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    if a.list:
        print(format_registry())
        return 0
    f = _load(p, a)
    sampled = isinstance(f, SampledFunction)
    for target in (a.render, a.out, a.gif, a.csv):
        if target and os.path.dirname(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
    if a.render:
        if sampled:
            p.error("--render draws a registered function; give --function NAME")
        try:
            g = render_image(f, a.render, tuple(a.size), bits=a.bits, scale=a.scale)
        except (ValueError, OSError) as e:
            p.error(str(e))
        lo, hi = (float(v) for v in (g.values.min(), g.values.max()))
        (x0, x1), (y0, y1) = g.domain
        scale = g.metadata.get("minidl.scale", "linear")
        print(f"wrote {a.render}: {a.size[0]} x {a.size[1]} {a.bits}-bit grayscale of {f.name} on "
              f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] ({scale} grey levels)")  # fmt: skip
        print(f"  read it back in pixel coordinates: python -m minidl.landscapes {a.render} X Y --eps 1 --lr 10")
        if scale == "linear":
            print(f"  or on its domain: --image {a.render} --domain {x0:g} {x1:g} {y0:g} {y1:g} "
                  f"--value-range {lo:.6g} {hi:.6g}")  # fmt: skip
        return 0
    if a.steps < 0:
        p.error("--steps must be >= 0")
    if a.tol < 0:
        p.error("--tol must be >= 0")
    if a.eps is not None and not a.eps > 0:
        p.error("--eps must be positive")
    kw = _optimizer_kwargs(p, a)
    start, default_start = _start(p, a, f)
    if sampled and a.gradient == "analytic":
        p.error("an image has no analytic gradient: use --gradient numeric (the default for images)")
    gradient = a.gradient or ("numeric" if sampled else "analytic")
    eps = a.eps if a.eps is not None else (min(f.spacing) if sampled else 1e-4)
    log = None if a.scale == "auto" else a.scale == "log"
    from minidl.landscapes import plotting

    describe_f = (f"{f.name}: {f.values.shape[0]} x {f.values.shape[1]} image"
                  + (", pixel coordinates (x = column, y = row)" if f.y_down else f" on {f.domain}")
                  if sampled else f"{f.title}: {f.formula}")  # fmt: skip
    print(describe_f)
    if default_start:
        print(f"start ({start[0]:g}, {start[1]:g}) (default; choose one with --start X Y)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if a.compare:
                out = a.out or _default_out(f, "compare.png")
                fig = plotting.compare(f, start, a.compare, out, lr=kw.get("lr"), steps=a.steps, tol=a.tol,
                                       gradient=gradient, eps=eps, log=log, lookahead=a.lookahead)  # fmt: skip
                traces = fig.traces
            else:
                trace = descend(f, start, a.optimizer, steps=a.steps, tol=a.tol, gradient=gradient, eps=eps,
                                difference=a.difference, stop_outside=not a.allow_outside, **kw)  # fmt: skip
                traces = [trace]
                out = a.out or _default_out(f, "descent.png")
                plotting.plot(f, traces, out, log=log, lookahead=a.lookahead)
        except (ValueError, TypeError) as e:
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            print(f"{p.prog}: error: {e}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    for t in traces:
        _report(f, t, gradient, eps if gradient == "numeric" else None)
    print(f"wrote {out}")
    if a.gif:
        plotting.animate(f, traces, a.gif, log=log, lookahead=a.lookahead)
        print(f"wrote {a.gif}")
    if a.csv:
        if len(traces) == 1:
            traces[0].to_csv(a.csv)
            print(f"wrote {a.csv}")
        else:
            stem, ext = os.path.splitext(a.csv)
            for i, t in enumerate(traces):
                t.to_csv(f"{stem}_{i}{ext or '.csv'}")
            print(f"wrote {len(traces)} files {stem}_<i>{ext or '.csv'}")
    return 0


def _report(f: Any, t: Any, gradient: str, eps: float | None) -> None:
    how = t.settings.get("difference") or "central"
    grad = "autograd" if gradient == "analytic" else f"{how} differences, eps={eps:g}"
    s = t.start
    print(f"{t.label} from ({s[0]:g}, {s[1]:g}), {grad}")
    print(f"  {t.message}")
    x, y = t.end
    print(f"  end ({x:.6g}, {y:.6g}), f = {t.final_value:.6g}")
    if f.minima:
        mx, my, mv = min(f.minima, key=lambda m: math.hypot(m[0] - x, m[1] - y))
        print(f"  nearest global minimum ({mx:.6g}, {my:.6g}), f = {mv:.6g}: distance {math.hypot(mx - x, my - y):.3g}")

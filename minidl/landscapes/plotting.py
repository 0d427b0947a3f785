# ruff: noqa: RUF001, RUF002, RUF003 - formulas and labels use the real minus sign, × and Greek letters
"""Pictures of descents: paths on the landscape, animations, comparisons, basins, sweeps.

Every function builds a matplotlib ``Figure`` with the Agg canvas (no pyplot, no GUI, no
global state), saves it when given a ``path`` and returns it; in a notebook the returned
figure displays itself.

* :func:`plot`: filled contours of f (log-spaced levels where its range is huge, such as
  Beale's or Rosenbrock's), a sampled function as its image, every trace as a labelled
  path with start and end markers, the known global minima as stars.
* :func:`animate`: a GIF of the paths growing step by step.
* :func:`compare`: several optimiser configurations from one start, overlaid or side by
  side, with a loss-vs-step panel.
* :func:`basins`: which minimum each start point of a grid ends in.
* :func:`sweep`: final value and steps to converge over learning rate x momentum.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from minidl.landscapes.descent import (
    Trace,
    _optimizer_class,
    descend_configs,
    descend_many,
    describe,
    resolve_function,
)
from minidl.landscapes.functions import _as_domain, wants_log

__all__ = ["animate", "basins", "compare", "gallery", "plot", "sweep"]

# bright colours that stand out on viridis' dark valleys and on grey images
PATH_COLORS = ["#ff3b30", "#ff9f0a", "#30d5ff", "#ff2d95", "#ffffff", "#b4ff39", "#bf5af2", "#ffd60a"]
MINIMUM_STYLE = dict(marker="*", s=260, c="#ffd60a", edgecolors="black", linewidths=1.0, zorder=6)
STOP_WORDS = {"tol": "converged", "steps": "step limit", "divergence": "diverged", "left domain": "left the domain"}


# ---------------------------------------------------------------------- figure helpers
def _figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike | None, dpi: int) -> Figure:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=dpi, facecolor="white")
    return fig


def _traces(traces: Any) -> list[Trace]:
    if traces is None:
        return []
    if isinstance(traces, Trace):
        return [traces]
    out = list(traces)
    for t in out:
        if not isinstance(t, Trace):
            raise TypeError(f"expected Trace objects (from descend), got {type(t).__name__}")
    return out


def _domain_of(f: Any, domain: Any, traces: Sequence[Trace] = ()) -> tuple[tuple[float, float], tuple[float, float]]:
    if domain is not None:
        return _as_domain(domain)
    d = getattr(f, "view", None) or getattr(f, "domain", None)
    if d is not None:
        d = _as_domain(d)
        if getattr(f, "analytic", True) and traces and d != _as_domain(f.domain):
            # a zoomed view: widen it to the paths (within the domain) so that none is cut off
            pts = np.concatenate([t.points[np.all(np.isfinite(t.points), axis=1)] for t in traces])
            (dx0, dx1), (dy0, dy1) = _as_domain(f.domain)
            pts = pts[(pts[:, 0] >= dx0) & (pts[:, 0] <= dx1) & (pts[:, 1] >= dy0) & (pts[:, 1] <= dy1)]
            if len(pts):
                (x0, x1), (y0, y1) = d
                pad_x, pad_y = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
                x0, x1 = min(x0, pts[:, 0].min() - pad_x), max(x1, pts[:, 0].max() + pad_x)
                y0, y1 = min(y0, pts[:, 1].min() - pad_y), max(y1, pts[:, 1].max() + pad_y)
                d = ((max(x0, dx0), min(x1, dx1)), (max(y0, dy0), min(y1, dy1)))
        return d
    pts = np.concatenate([t.points for t in traces]) if traces else np.array([[-1.0, -1.0], [1.0, 1.0]])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-3)
    return ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))


def _grid(f: Any, domain: Any, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = domain
    X, Y = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution), indexing="ij")
    with np.errstate(all="ignore"):
        Z = np.asarray(f(X, Y), dtype=np.float64)
    if Z.shape != X.shape:
        Z = np.broadcast_to(Z, X.shape).copy()
    return X, Y, Z


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3g}"


def draw_landscape(ax: Any, f: Any, domain: Any = None, *, resolution: int = 300, log: bool | None = None,
                   levels: int = 30, cmap: str | None = None, colorbar: bool = True,
                   contour_lines: bool = True) -> Any:  # fmt: skip
    """Draw f on ``ax``: filled contours for formulas, the image for sampled functions."""
    fig = ax.get_figure()
    if not getattr(f, "analytic", True) and hasattr(f, "values"):
        return _draw_image(ax, f, cmap=cmap or "gray", colorbar=colorbar)
    domain = _domain_of(f, domain)
    X, Y, Z = _grid(f, domain, resolution)
    finite = Z[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError(f"{getattr(f, 'name', 'f')} is not finite anywhere on {domain}")
    zmin, zmax = float(finite.min()), float(finite.max())
    if zmax <= zmin:
        zmax = zmin + 1.0
    log = wants_log(Z) if log is None else log
    cm = cmap or "viridis"
    if log:
        span = zmax - zmin
        low = max(float(np.percentile(finite - zmin, 0.2)), span * 1e-7)
        lv = zmin + np.geomspace(low, span, levels)
        lv = np.concatenate([[zmin], lv])
        norm = mcolors.BoundaryNorm(lv, ncolors=256)
        cs = ax.contourf(X, Y, Z, levels=lv, cmap=cm, norm=norm, extend="neither")
        label = "f(x, y)   (log-spaced levels)"
    else:
        lv = np.linspace(zmin, zmax, levels + 1)
        cs = ax.contourf(X, Y, Z, levels=lv, cmap=cm)
        label = "f(x, y)"
    if contour_lines:
        ax.contour(X, Y, Z, levels=lv[:: max(1, len(lv) // 12)], colors="black", linewidths=0.35, alpha=0.35)
    cs.minidl_colorbar = (label, lv if log else None)
    if colorbar:
        add_colorbar(fig, cs, ax)
    (x0, x1), (y0, y1) = domain
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    if 1 / 3 <= (x1 - x0) / (y1 - y0) <= 3:
        ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return cs


def add_colorbar(fig: Figure, mappable: Any, axes: Any) -> Any:
    """A colorbar for a landscape drawn by :func:`draw_landscape` (log levels get readable ticks)."""
    label, log_levels = getattr(mappable, "minidl_colorbar", ("f(x, y)", None))
    cb = fig.colorbar(mappable, ax=axes, shrink=0.92, pad=0.02)
    cb.set_label(label)
    if log_levels is not None:
        idx = np.unique(np.linspace(0, len(log_levels) - 1, 7).round().astype(int))
        cb.set_ticks(log_levels[idx])
        cb.set_ticklabels([_fmt(v) for v in log_levels[idx]])
    elif hasattr(mappable, "levels"):
        from matplotlib.ticker import MaxNLocator

        lo, hi = mappable.levels[0], mappable.levels[-1]
        ticks = [t for t in MaxNLocator(7).tick_values(lo, hi) if lo <= t <= hi]
        cb.set_ticks(ticks)
    return cb


def _draw_image(ax: Any, f: Any, *, cmap: str, colorbar: bool) -> Any:
    (x0, x1), (y0, y1) = f.domain
    dx, dy = f.spacing
    if f.y_down:
        extent = (x0 - dx / 2, x1 + dx / 2, y1 + dy / 2, y0 - dy / 2)
        im = ax.imshow(f.values.T, origin="upper", extent=extent, cmap=cmap, interpolation="nearest")
        ax.set_xlabel("x  (column)")
        ax.set_ylabel("y  (row)")
    else:
        extent = (x0 - dx / 2, x1 + dx / 2, y0 - dy / 2, y1 + dy / 2)
        im = ax.imshow(f.values.T, origin="lower", extent=extent, cmap=cmap, interpolation="nearest")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    if colorbar:
        cb = ax.get_figure().colorbar(im, ax=ax, shrink=0.92, pad=0.02)
        bits = getattr(f, "bits", None)
        cb.set_label(f"f = grey / {2**bits - 1}" if bits and f.metadata.get("coordinates") == "pixel" else "f")
    ax.set_aspect("equal")
    return im


def _auto_size(domain: Any, legend_rows: int, width: float = 5.6) -> tuple[float, float]:
    """A figure that fits an equal-aspect map of ``domain``, its colorbar, titles and a legend below."""
    (x0, x1), (y0, y1) = domain
    ratio = (y1 - y0) / (x1 - x0)
    ratio = ratio if 1 / 3 <= ratio <= 3 else 1.0
    h = min(max(width * ratio, 3.0), 7.5)
    w = h / ratio if width * ratio > 7.5 else width
    rows = legend_rows if legend_rows <= 3 else math.ceil(legend_rows / 2)
    return (w + 2.0, h + 1.4 + 0.22 * rows)


def _title(f: Any, title: str | None) -> str:
    if title is not None:
        return title
    return str(getattr(f, "title", getattr(f, "name", "f")))


def _mark_minima(ax: Any, f: Any, colors: Sequence[str] | None = None, label: bool = True) -> None:
    minima = getattr(f, "minima", []) or []
    if not minima:
        return
    xs = [m[0] for m in minima]
    ys = [m[1] for m in minima]
    style = dict(MINIMUM_STYLE)
    if colors is not None:
        style["c"] = list(colors)
    val = minima[0][2]
    what = "global minimum" if getattr(f, "analytic", True) else "the rendered function's minimum"
    ax.scatter(xs, ys, label=f"{what} (f = {val:.6g})" if label else None, clip_on=True, **style)


def draw_trace(ax: Any, trace: Trace, color: str, *, label: str | None = None, lookahead: bool = False,
               upto: int | None = None) -> dict[str, Any]:  # fmt: skip
    """One path: line, step dots, start circle, end cross; returns the artists (for animations)."""
    pts = trace.points if upto is None else trace.points[: upto + 1]
    n = len(pts)
    every = max(1, n // 150)
    halo = dict(path_effects=_halo())
    (line,) = ax.plot(pts[:, 0], pts[:, 1], "-", color=color, lw=1.8, zorder=4, label=label, **halo)
    (dots,) = ax.plot(pts[::every, 0], pts[::every, 1], "o", color=color, ms=2.6, zorder=4, mec="none")
    (start,) = ax.plot(*trace.points[0], "o", ms=10, color=color, mec="black", mew=1.3, zorder=5)
    end_marker = "X" if trace.stop_reason in ("divergence", "left domain") else "s"
    (end,) = ax.plot(*pts[-1], end_marker, ms=9, color=color, mec="black", mew=1.3, zorder=5)
    artists = {"line": line, "dots": dots, "start": start, "end": end}
    if lookahead and trace.lookahead is not None:
        la = trace.lookahead if upto is None else trace.lookahead[: upto + 1]
        m = min(len(la), n)
        segs_x = np.column_stack([pts[:m, 0], la[:m, 0], np.full(m, np.nan)]).ravel()
        segs_y = np.column_stack([pts[:m, 1], la[:m, 1], np.full(m, np.nan)]).ravel()
        (seg,) = ax.plot(segs_x, segs_y, "--", color=color, lw=0.8, alpha=0.9, zorder=3)
        (pt,) = ax.plot(la[:m, 0], la[:m, 1], "o", ms=4, mfc="none", mec=color, mew=1.0, zorder=3)
        artists.update(la_seg=seg, la_pt=pt)
    return artists


def _halo() -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=3.2, foreground="black", alpha=0.55), patheffects.Normal()]


def _trace_label(t: Trace) -> str:
    return f"{t.label}: {t.n_steps} steps, {STOP_WORDS.get(t.stop_reason, t.stop_reason)}"


def _legend_extras(traces: Sequence[Trace], lookahead: bool) -> list[Any]:
    handles = [
        Line2D([], [], marker="o", ls="none", color="#dddddd", mec="black", ms=8, label="start"),
        Line2D([], [], marker="s", ls="none", color="#dddddd", mec="black", ms=7, label="end"),
    ]
    if any(t.stop_reason in ("divergence", "left domain") for t in traces):
        handles.append(Line2D([], [], marker="X", ls="none", color="#dddddd", mec="black", ms=8,
                              label="end (diverged / left the domain)"))  # fmt: skip
    if lookahead and any(t.lookahead is not None for t in traces):
        handles.append(Line2D([], [], marker="o", ls="--", color="#888888", mfc="none", ms=5,
                              label="look-ahead  p − lr·β·buf"))  # fmt: skip
    return handles


def _mark_legend(ax: Any, f: Any, traces: Sequence[Trace], lookahead: bool) -> None:
    """A small legend of the markers (minimum, start, end) inside a landscape panel."""
    handles = []
    minima = getattr(f, "minima", []) or []
    if minima:
        what = "global minimum" if getattr(f, "analytic", True) else "the rendered function's minimum"
        handles.append(Line2D([], [], marker="*", ls="none", color=MINIMUM_STYLE["c"], mec="black", ms=13,
                              label=f"{what} (f = {minima[0][2]:.6g})"))  # fmt: skip
    handles += _legend_extras(traces, lookahead)
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)


# ---------------------------------------------------------------------- plot
def plot(f: Any, traces: Any = None, path: str | os.PathLike | None = None, *, domain: Any = None,
         resolution: int = 300, log: bool | None = None, levels: int = 30, cmap: str | None = None,
         lookahead: bool = False, show_minima: bool = True, title: str | None = None, ax: Any = None,
         legend: bool = True, figsize: tuple[float, float] | None = None, dpi: int = 120) -> Figure:  # fmt: skip
    """f as filled contours (or its image) with the paths of ``traces`` and the global minima.

    Args:
        f: a registered name, a :class:`Function2D` or a :class:`SampledFunction`.
        traces: a :class:`Trace` or a list of them (from :func:`descend`).
        path: where to save the PNG (optional).
        domain: the window ``((x0, x1), (y0, y1))`` (default: ``f.view``, widened to the paths).
        log: log-spaced contour levels (default: automatic, for functions with a huge range).
        lookahead: draw the look-ahead point of momentum runs (Nesterov's gradient point).
    """
    f = resolve_function(f)
    traces = _traces(traces)
    own_figure = ax is None
    dom = _domain_of(f, domain, traces)
    if ax is None:
        fig = _figure(figsize or _auto_size(dom if getattr(f, "analytic", True) else f.domain,
                                            1 + len(traces) + (2 if traces else 0)))  # fmt: skip
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()
    draw_landscape(ax, f, dom, resolution=resolution, log=log, levels=levels, cmap=cmap)
    if show_minima:
        _mark_minima(ax, f)
    trace_handles = []
    for i, t in enumerate(traces):
        color = PATH_COLORS[i % len(PATH_COLORS)]
        draw_trace(ax, t, color, lookahead=lookahead)
        trace_handles.append(Line2D([], [], color=color, lw=2.4, marker="o", ms=3.5, mec="#333333", mew=0.5,
                                    label=_trace_label(t)))  # fmt: skip
    (x0, x1), (y0, y1) = dom if getattr(f, "analytic", True) else f.domain
    ax.set_xlim(x0, x1)
    if getattr(f, "y_down", False):
        ax.set_ylim(y1 + f.spacing[1] / 2, y0 - f.spacing[1] / 2)
        ax.set_xlim(x0 - f.spacing[0] / 2, x1 + f.spacing[0] / 2)
    elif getattr(f, "analytic", True):
        ax.set_ylim(y0, y1)
    starts = {tuple(np.round(t.start, 10)) for t in traces}
    sub = ""
    if len(starts) == 1:
        s = traces[0].start
        sub = f"   —   from ({s[0]:.4g}, {s[1]:.4g})"
    latex = getattr(f, "latex", "") if title is None else ""
    if own_figure:
        fig.suptitle(_title(f, title) + sub, fontsize=13, fontweight="bold")
        if latex:
            ax.set_title(latex, fontsize=9.5, color="#333333", pad=10)
    else:
        ax.set_title(_title(f, title) + sub, fontsize=12, fontweight="bold")
    if legend and (traces or (show_minima and getattr(f, "minima", None))):
        handles, _ = ax.get_legend_handles_labels()
        handles += trace_handles + (_legend_extras(traces, lookahead) if traces else [])
        if own_figure:
            fig.legend(handles=handles, loc="outside lower center", ncol=1 if len(handles) <= 3 else 2, fontsize=8.5,
                       frameon=False)  # fmt: skip
        else:
            ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------- animate
def animate(f: Any, traces: Any, path: str | os.PathLike, *, fps: int = 12, max_frames: int = 90,
            hold: float = 1.5, domain: Any = None, resolution: int = 250, log: bool | None = None,
            lookahead: bool = False, title: str | None = None, figsize: tuple[float, float] = (7.0, 6.2),
            dpi: int = 80) -> Figure:  # fmt: skip
    """A GIF of the paths growing step by step (at most ``max_frames`` frames, the last held ``hold`` s)."""
    from PIL import Image

    f = resolve_function(f)
    traces = _traces(traces)
    if not traces:
        raise ValueError("animate: give at least one trace")
    fig = plot(f, [], None, domain=_domain_of(f, domain, traces), resolution=resolution, log=log, title=title,
               legend=False, figsize=figsize)  # fmt: skip
    ax = fig.axes[0]
    n_max = max(t.n_steps for t in traces)
    frames = np.unique(np.linspace(0, n_max, min(max_frames, n_max + 1)).round().astype(int))
    handles = []
    artists = []
    for i, t in enumerate(traces):
        color = PATH_COLORS[i % len(PATH_COLORS)]
        a = draw_trace(ax, t, color, lookahead=lookahead, upto=0)
        for art in a.values():
            art.set_animated(True)
        artists.append(a)
        handles.append(Line2D([], [], color=color, lw=2, label=t.label))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize=8.5, frameon=False,
              ncol=min(2, len(handles)))  # fmt: skip
    counter = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", fontsize=10, animated=True,
                      bbox=dict(boxstyle="round", fc="white", alpha=0.85))  # fmt: skip
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for k in frames:
        canvas.restore_region(background)
        for t, a in zip(traces, artists):
            m = min(k, t.n_steps)
            pts = t.points[: m + 1]
            every = max(1, len(t.points) // 150)
            a["line"].set_data(pts[:, 0], pts[:, 1])
            a["dots"].set_data(pts[::every, 0], pts[::every, 1])
            a["end"].set_data([pts[-1, 0]], [pts[-1, 1]])
            if "la_seg" in a:
                la = t.lookahead[: m + 1]
                a["la_seg"].set_data(np.column_stack([pts[:, 0], la[:, 0], np.full(len(la), np.nan)]).ravel(),
                                     np.column_stack([pts[:, 1], la[:, 1], np.full(len(la), np.nan)]).ravel())
                a["la_pt"].set_data(la[:, 0], la[:, 1])
            for art in a.values():
                ax.draw_artist(art)
        counter.set_text(f"step {k} / {n_max}")
        ax.draw_artist(counter)
        canvas.blit(fig.bbox)
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    palette = images[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    gif = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [int(1000 / fps)] * len(gif)
    durations[-1] = int(hold * 1000)
    gif[0].save(os.fspath(path), save_all=True, append_images=gif[1:], duration=durations, loop=0)
    for a in artists:  # leave the figure showing the whole paths
        for art in a.values():
            art.set_animated(False)
    return fig


# ---------------------------------------------------------------------- compare
PRESETS = {
    "gd": dict(optimizer="sgd"),
    "momentum": dict(optimizer="sgd", momentum=0.9),
    "nesterov": dict(optimizer="sgd", momentum=0.9, nesterov=True),
    "adam": dict(optimizer="adam"),
    "adamw": dict(optimizer="adamw"),
    "rmsprop": dict(optimizer="rmsprop"),
    "adagrad": dict(optimizer="adagrad"),
    "nadam": dict(optimizer="nadam"),
}


def _configs(configs: Any, lr: float | None) -> list[dict[str, Any]]:
    """Configurations from dicts, ``(label, dict)`` pairs, ``{label: dict}`` or preset names."""
    if isinstance(configs, dict) and all(isinstance(v, dict) for v in configs.values()):
        configs = [dict(v, label=k) for k, v in configs.items()]
    out = []
    for c in configs:
        if isinstance(c, str):
            if c.lower() not in PRESETS:
                raise ValueError(f"unknown preset {c!r}; presets: {', '.join(PRESETS)} (or give a dict)")
            c = dict(PRESETS[c.lower()])
            if lr is None:
                raise ValueError("compare: presets like 'gd' or 'nesterov' need lr=...")
        elif isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str):
            c = dict(c[1], label=c[0])
        elif isinstance(c, dict):
            c = dict(c)
        else:
            raise TypeError(f"a configuration is a dict, a (label, dict) pair or a preset name, got {c!r}")
        if lr is not None:
            c.setdefault("lr", lr)
        out.append(c)
    if not out:
        raise ValueError("give at least one configuration")
    return out


def _loss_panel(ax: Any, f: Any, traces: Sequence[Trace], log: bool | None = None) -> None:
    minima = getattr(f, "minima", []) or []
    fstar = min(m[2] for m in minima) if minima else None
    allv = np.concatenate([t.values[np.isfinite(t.values)] for t in traces] or [np.zeros(1)])
    if fstar is not None:
        gap = True
        ylabel = f"f(x_k) − f*     (f* = {fstar:.6g})"
    else:
        gap = False
        ylabel = "f(x_k)"
    if log is None:
        log = gap or (allv.size and allv.min() > 0 and allv.max() / max(allv.min(), 1e-300) > 100)
    floor = 1e-16
    for i, t in enumerate(traces):
        color = PATH_COLORS[i % len(PATH_COLORS)]
        color = "#444444" if color == "#ffffff" else color
        v = t.values - fstar if gap else t.values
        if log:
            v = np.maximum(v, floor)
        steps = np.arange(len(v))
        ax.plot(steps, v, "-", color=color, lw=1.8, label=_trace_label(t))
        ax.plot(steps[-1], v[-1], "X" if t.stop_reason in ("divergence", "left domain") else "s", color=color,
                mec="black", ms=7)  # fmt: skip
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step k")
    ax.set_ylabel(ylabel)
    ax.set_title("Loss per step", fontsize=12, fontweight="bold", loc="left")
    ax.grid(True, which="major", alpha=0.35)
    ax.legend(fontsize=8.5)


def compare(f: Any, start: Sequence[float], configs: Any, path: str | os.PathLike | None = None, *,
            lr: float | None = None, steps: int = 500, tol: float = 1e-6, gradient: str | None = None,
            eps: float = 1e-4, layout: str = "overlay", domain: Any = None, resolution: int = 250,
            log: bool | None = None, lookahead: bool = False, title: str | None = None,
            dpi: int = 110) -> Figure:  # fmt: skip
    """Run several optimiser configurations from ``start`` and draw them with a loss-vs-step panel.

    ``configs``: dicts (``{"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "label": ...}``),
    ``(label, dict)`` pairs, a ``{label: dict}`` mapping, or preset names ``"gd"``,
    ``"momentum"``, ``"nesterov"`` (β = 0.9), ``"adam"``, ... with a shared ``lr``.
    ``layout="overlay"`` draws every path on one landscape, ``"side"`` one panel per run.
    The traces are on ``fig.traces``.
    """
    f = resolve_function(f)
    cfgs = _configs(configs, lr)
    traces = descend_configs(f, start, cfgs, steps=steps, tol=tol, gradient=gradient, eps=eps)
    dom = _domain_of(f, domain, traces)
    s = traces[0].start
    head = f"{_title(f, title)}   —   from ({s[0]:.4g}, {s[1]:.4g})"
    if layout == "overlay":
        fig = _figure((14.0, 6.8))
        fig.get_layout_engine().set(wspace=0.08)
        gs = fig.add_gridspec(1, 2, width_ratios=[1.15, 1.0])
        ax = fig.add_subplot(gs[0, 0])
        plot(f, traces, None, domain=dom, resolution=resolution, log=log, lookahead=lookahead, title=title, ax=ax,
             legend=False)  # fmt: skip
        ax.set_title(getattr(f, "latex", "") if title is None else "", fontsize=9.5, color="#333333")
        _mark_legend(ax, f, traces, lookahead)
        _loss_panel(fig.add_subplot(gs[0, 1]), f, traces)
        fig.suptitle(head, fontsize=13, fontweight="bold")
    elif layout == "side":
        n = len(traces)
        ncol = n if n <= 3 else (2 if n == 4 else 3)
        nrow = math.ceil(n / ncol)
        fig = _figure((4.6 * ncol + 1.2, 4.5 * nrow + 4.0))
        gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1.0] * nrow + [0.9])
        axes = []
        for i, t in enumerate(traces):
            ax = fig.add_subplot(gs[i // ncol, i % ncol])
            cs = draw_landscape(ax, f, dom, resolution=resolution, log=log, colorbar=False)
            _mark_minima(ax, f, label=False)
            draw_trace(ax, t, PATH_COLORS[i % len(PATH_COLORS)], lookahead=lookahead)
            if getattr(f, "y_down", False):
                (_, _), (y0, y1) = f.domain
                ax.set_ylim(y1, y0)
            ax.set_title(f"{t.label}\n{t.n_steps} steps, {STOP_WORDS.get(t.stop_reason)}", fontsize=10)
            axes.append(ax)
        add_colorbar(fig, cs, axes)
        _loss_panel(fig.add_subplot(gs[nrow, :]), f, traces)
        fig.suptitle(head, fontsize=13, fontweight="bold")
    else:
        raise ValueError(f"layout must be 'overlay' or 'side', got {layout!r}")
    fig.traces = traces
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------- basins
BASIN_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                "#9c755f", "#bab0ac"]  # fmt: skip
OTHER_COLORS = {"other point": "#3a3a3a", "not converged": "#8c8c8c", "left domain": "#ffffff", "diverged": "#d0d0d0"}


def basins(f: Any, config: Any = None, path: str | os.PathLike | None = None, *, resolution: int = 41,
           steps: int = 500, tol: float = 1e-6, radius: float | None = None, domain: Any = None,
           gradient: str | None = None, eps: float = 1e-4, progress: bool = True, title: str | None = None,
           dpi: int = 110, **optimizer_kwargs: Any) -> Figure:  # fmt: skip
    """Where each start of a ``resolution x resolution`` grid ends: the basins of the global minima.

    ``config`` is a dict (``{"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}``) or a preset
    name with ``lr=`` among ``optimizer_kwargs``. A run ends "in" a minimum when its last point
    is within ``radius`` (default 3% of the domain's diagonal); the others are coloured as
    "other point" (a local minimum or a saddle: converged elsewhere), "not converged",
    "left domain" or "diverged". Functions without known minima are coloured by final value.
    The endpoints are on ``fig.endpoints``.
    """
    f = resolve_function(f)
    if config is None:
        config = dict(optimizer_kwargs)
        optimizer_kwargs = {}
    (cfg,) = _configs([config], optimizer_kwargs.pop("lr", None))
    cfg.update(optimizer_kwargs)
    label = cfg.pop("label", None)
    opt = cfg.pop("optimizer", "sgd")
    opt_name, _ = _optimizer_class(opt)
    dom = _as_domain(domain) if domain is not None else _as_domain(getattr(f, "view", None) or f.domain)
    (x0, x1), (y0, y1) = dom
    res = int(resolution)
    xs = x0 + (np.arange(res) + 0.5) * (x1 - x0) / res  # cell centres: no start on the edge
    ys = y0 + (np.arange(res) + 0.5) * (y1 - y0) / res
    SX, SY = np.meshgrid(xs, ys, indexing="ij")
    starts = np.column_stack([SX.ravel(), SY.ravel()])
    ends = descend_many(f, starts, opt, steps=steps, tol=tol, gradient=gradient, eps=eps, progress=progress, **cfg)
    minima = [m for m in (getattr(f, "minima", []) or [])]
    fig = _figure((8.6, 7.4))
    ax = fig.add_subplot()
    extent = (x0, x1, y1, y0) if getattr(f, "y_down", False) else (x0, x1, y0, y1)
    origin = "upper" if getattr(f, "y_down", False) else "lower"
    if minima:
        diag = math.hypot(x1 - x0, y1 - y0)
        r = 0.03 * diag if radius is None else radius
        cls = np.full(len(starts), -1)
        d = np.stack([np.hypot(ends.ends[:, 0] - mx, ends.ends[:, 1] - my) for mx, my, _ in minima], axis=1)
        near = d.min(axis=1) <= r
        cls[near] = d.argmin(axis=1)[near]
        names_other = list(OTHER_COLORS)
        reason = ends.stop_reasons
        other = np.where(reason == "tol", 0, np.where(reason == "steps", 1, np.where(reason == "left domain", 2, 3)))
        k = len(minima)
        code = np.where(cls >= 0, cls, k + other)
        palette = [BASIN_COLORS[i % len(BASIN_COLORS)] for i in range(k)] + [OTHER_COLORS[n] for n in names_other]
        cmap = mcolors.ListedColormap(palette)
        norm = mcolors.BoundaryNorm(np.arange(len(palette) + 1) - 0.5, len(palette))
        ax.imshow(code.reshape(res, res).T, origin=origin, extent=extent, cmap=cmap, norm=norm,
                  interpolation="nearest")  # fmt: skip
        handles = []
        total = len(starts)
        for i, (mx, my, _) in enumerate(minima):
            share = np.mean(code == i)
            handles.append(Patch(fc=palette[i], ec="black", label=f"→ minimum ({mx:.4g}, {my:.4g}): {share:.0%}"))
        for j, n in enumerate(names_other):
            share = np.sum(code == k + j) / total
            if share > 0:
                handles.append(Patch(fc=palette[k + j], ec="black", label=f"{n}: {share:.0%}"))
        _mark_minima(ax, f, label=False)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=9,
                  frameon=False)  # fmt: skip
    else:
        vals = np.where(np.isfinite(ends.values), ends.values, np.nan).reshape(res, res).T
        im = ax.imshow(vals, origin=origin, extent=extent, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.9).set_label("f at the end of the run")
    if getattr(f, "analytic", True):
        X, Y, Z = _grid(f, dom, 200)
        lv = np.quantile(Z[np.isfinite(Z)], np.linspace(0.02, 0.98, 14))
        ax.contour(X, Y, Z, levels=np.unique(lv), colors="black", linewidths=0.4, alpha=0.45)
    ax.set_xlim(x0, x1)
    ax.set_ylim((y1, y0) if getattr(f, "y_down", False) else (y0, y1))
    ax.set_aspect("equal" if 1 / 3 <= (x1 - x0) / (y1 - y0) <= 3 else "auto")
    ax.set_xlabel("start x")
    ax.set_ylabel("start y")
    desc = label or describe(opt_name, cfg)
    ax.set_title(title or f"{_title(f, None)}: basins of attraction\n{desc}, {steps} steps, {res}×{res} starts",
                 fontsize=12, fontweight="bold")  # fmt: skip
    fig.endpoints = ends
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------- sweep
def _failed_word(t: Trace) -> str:
    return "diverged" if t.stop_reason == "divergence" else "left\ndomain"


def _sweep_config(optimizer: str, lr: float, beta: float, nesterov: bool) -> dict[str, Any]:
    if optimizer == "sgd":
        return dict(optimizer="sgd", lr=lr, momentum=beta, nesterov=bool(nesterov and beta > 0))
    if optimizer == "rmsprop":
        return dict(optimizer="rmsprop", lr=lr, momentum=beta)
    if optimizer in ("adam", "adamw", "nadam"):
        return dict(optimizer=optimizer, lr=lr, betas=(beta, 0.999))
    raise ValueError(f"sweep: optimizer {optimizer!r} has no momentum to sweep; use sgd, rmsprop, adam, adamw, nadam")


def sweep(f: Any, start: Sequence[float], lrs: Iterable[float], betas: Iterable[float] = (0.0, 0.5, 0.9, 0.99),
          path: str | os.PathLike | None = None, *, optimizer: str = "sgd", nesterov: bool = False,
          steps: int = 300, tol: float = 1e-6, metric: str = "both", gradient: str | None = None,
          eps: float = 1e-4, progress: bool = True, title: str | None = None, dpi: int = 110) -> Figure:  # fmt: skip
    """Heat-maps over learning rate x momentum: the final gap ``f − f*`` and the steps to converge.

    Every ``(lr, β)`` pair is one run from ``start`` (SGD's ``momentum=β``, Nesterov when
    ``nesterov=True`` and β > 0; Adam's ``β1``; RMSprop's momentum). Runs that diverge or
    leave the domain are hatched. ``metric`` is ``"value"``, ``"steps"`` or ``"both"``. The
    traces are on ``fig.traces`` as a ``len(lrs) x len(betas)`` nested list.
    """
    f = resolve_function(f)
    lrs = [float(v) for v in lrs]
    betas = [float(v) for v in betas]
    if not lrs or not betas:
        raise ValueError("sweep: give at least one learning rate and one β")
    if metric not in ("value", "steps", "both"):
        raise ValueError(f"metric must be 'value', 'steps' or 'both', got {metric!r}")
    opt_name, _ = _optimizer_class(optimizer)
    cfgs = [_sweep_config(opt_name, lr, b, nesterov) for lr in lrs for b in betas]
    flat = descend_configs(f, start, cfgs, steps=steps, tol=tol, gradient=gradient, eps=eps, progress=progress)
    grid = [flat[i * len(betas):(i + 1) * len(betas)] for i in range(len(lrs))]
    minima = getattr(f, "minima", []) or []
    fstar = min(m[2] for m in minima) if minima else None
    final = np.array([[t.final_value for t in row] for row in grid])
    failed = np.array([[t.stop_reason in ("divergence", "left domain") for t in row] for row in grid])
    nsteps = np.array([[t.n_steps if t.stop_reason == "tol" else np.nan for t in row] for row in grid])
    panels = ["value", "steps"] if metric == "both" else [metric]
    fig = _figure((5.2 * len(panels) + 1.2, 0.55 * len(lrs) + 3.0))
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    for ax, which in zip(axes, panels):
        if which == "value":
            data = final - fstar if fstar is not None else final.copy()
            data = np.where(failed, np.nan, data)
            cb_label = "final f − f*" if fstar is not None else "final f"
            pos = data[np.isfinite(data) & (data > 0)]
            if fstar is not None:
                data = np.where(np.isfinite(data), np.maximum(data, 1e-16), np.nan)
                lo = max(float(pos.min()) if pos.size else 1e-16, 1e-16)
                hi = max(float(np.nanmax(data)) if np.isfinite(data).any() else 1.0, lo * 10)
                norm = mcolors.LogNorm(vmin=lo, vmax=hi)
            else:
                norm = None
            cmap = "viridis"
            text = [[_failed_word(grid[i][j]) if failed[i, j] else _fmt(data[i, j]) for j in range(len(betas))]
                    for i in range(len(lrs))]  # fmt: skip
            panel_title = "Final value (lower is better)"
        else:
            data = nsteps
            norm = None
            cmap = "magma_r"
            cb_label = f"steps until |∇f| < {tol:g}"
            text = [[_failed_word(grid[i][j]) if failed[i, j]
                     else ("—" if np.isnan(data[i, j]) else f"{int(data[i, j])}") for j in range(len(betas))]
                    for i in range(len(lrs))]  # fmt: skip
            panel_title = f"Steps to converge (— : not within {steps})"
        masked = np.ma.masked_invalid(data)
        cm = matplotlib.colormaps[cmap].with_extremes(bad="#e6e6e6")
        if masked.count() == 0:  # nothing to colour: no colorbar, every cell says why
            norm = mcolors.Normalize(0, 1)
        im = ax.imshow(masked, cmap=cm, norm=norm, aspect="auto", origin="lower")
        if masked.count() > 0:
            fig.colorbar(im, ax=ax, shrink=0.9).set_label(cb_label)
        for i in range(len(lrs)):
            for j in range(len(betas)):
                if failed[i, j]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", ec="#9a9a9a", lw=0))
                if len(lrs) * len(betas) <= 160:
                    rgba = im.cmap(im.norm(masked[i, j])) if not np.ma.is_masked(masked[i, j]) else (0.9, 0.9, 0.9, 1)
                    lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
                    ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8,
                            color="black" if lum > 0.5 else "white")  # fmt: skip
        ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
        ax.set_yticks(range(len(lrs)), [f"{v:g}" for v in lrs])
        beta_name = {"sgd": "momentum β", "rmsprop": "momentum β"}.get(opt_name, "β₁")
        ax.set_xlabel(beta_name + (" (Nesterov)" if nesterov and opt_name == "sgd" else ""))
        ax.set_ylabel("learning rate")
        ax.set_title(panel_title, fontsize=11, fontweight="bold")
    s = np.asarray(start, dtype=float)
    opt_words = {"sgd": "SGD with Nesterov momentum" if nesterov else "SGD with momentum"}.get(
        opt_name, describe(opt_name, {}))
    fig.suptitle(title or f"{_title(f, None)}: which learning rate and momentum work?\n{opt_words} from "
                 f"({s[0]:.4g}, {s[1]:.4g}), at most {steps} steps", fontsize=12, fontweight="bold")  # fmt: skip
    fig.traces = grid
    return _save(fig, path, dpi)


# ---------------------------------------------------------------------- gallery
def gallery(path: str | os.PathLike | None = None, functions: Sequence[Any] | None = None, *,
            resolution: int = 160, ncols: int = 5, dpi: int = 90) -> Figure:  # fmt: skip
    """Every registered function (or the given ones) in a grid, with its global minima."""
    from minidl.landscapes.functions import names

    fs = [resolve_function(f) for f in (functions if functions is not None else names())]
    ncols = min(ncols, len(fs))
    nrows = math.ceil(len(fs) / ncols)
    fig = _figure((3.4 * ncols, 3.3 * nrows))
    for i, f in enumerate(fs):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        draw_landscape(ax, f, resolution=resolution, colorbar=False, levels=24)
        _mark_minima(ax, f, label=False)
        ax.set_title(f"{getattr(f, 'name', 'f')}", fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=7)
    return _save(fig, path, dpi)

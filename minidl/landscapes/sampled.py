"""Functions known only by their values on a grid, such as 16-bit grayscale images.

``SampledFunction(values, domain)`` holds ``values[i, j] = f(x_i, y_j)`` on a regular grid
``x_i = x0 + i dx``, ``y_j = y0 + j dy`` covering the domain (first axis x, as
``np.meshgrid(xs, ys, indexing="ij")`` gives), and evaluates anywhere inside the domain by
bilinear interpolation::

    f(x, y) = (1-tx)(1-ty) v[i, j] + tx (1-ty) v[i+1, j] + (1-tx) ty v[i, j+1] + tx ty v[i+1, j+1]
    with i = floor((x - x0) / dx), tx = (x - x0) / dx - i   (and the same for y)

which reproduces every plane ``a + b x + c y`` exactly. Outside the domain it raises
:class:`OutsideDomainError` (a ``ValueError``); there is no silent wrap or clamp.
Gradients come from finite differences (``numeric_gradient``); a step ``eps`` smaller than
the grid spacing sees only the flat patch of one cell, so it triggers a warning.

``SampledFunction.from_image(path)`` reads an 8- or 16-bit grayscale PNG the way the
coursework's starter code did: pixel coordinates (x = column, y = row, so y grows
downwards) and values ``grey / (2**bits - 1)``. With ``domain=((x0, x1), (y0, y1))`` the
image is placed on that domain with its top row at the largest y, and ``value_range=(lo,
hi)`` maps grey 0 to lo and full white to hi. :func:`render_image` writes such PNGs for any
registered function, so the coursework's image files can be regenerated.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from typing import Any

import numpy as np

from minidl.landscapes.functions import Domain, Minimum, _as_domain, _is_tensor, wants_log

__all__ = ["OutsideDomainError", "SampledFunction", "render_image"]


class OutsideDomainError(ValueError):
    """A sampled function was asked for a value outside its domain."""


class SampledFunction:
    """A function given by samples on a regular grid, evaluated by bilinear interpolation.

    Args:
        values: array of shape ``(nx, ny)``, ``values[i, j] = f(x_i, y_j)`` (first axis x),
            at least 2 x 2.
        domain: ``((x0, x1), (y0, y1))``: the grid's first and last x and y.
        name: a short name for titles and legends.
        minima: known global minima ``(x, y, value)`` to mark on plots (optional).
        y_down: draw y growing downwards (image convention; set by ``from_image`` in pixel
            coordinates).
    """

    analytic = False  # descend() uses finite differences on it
    smooth = False

    def __init__(self, values: Any, domain: Any, *, name: str = "sampled", minima: list[Minimum] | None = None,
                 y_down: bool = False, title: str | None = None) -> None:  # fmt: skip
        values = np.array(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 2:
            raise ValueError(f"SampledFunction: values must be a 2-D grid of at least 2 x 2, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("SampledFunction: values must be finite")
        self.values = values
        self.domain: Domain = _as_domain(domain)
        self.view: Domain = self.domain
        (x0, x1), (y0, y1) = self.domain
        nx, ny = values.shape
        self.spacing = ((x1 - x0) / (nx - 1), (y1 - y0) / (ny - 1))
        self.name = name
        self.title = title or name
        self.minima: list[Minimum] = [(float(a), float(b), float(c)) for a, b, c in (minima or [])]
        self.y_down = y_down
        self.formula = f"bilinear interpolation of {nx} x {ny} samples"
        self.latex = ""
        self.metadata: dict[str, str] = {}
        self.bits: int | None = None

    # ------------------------------------------------------------------ evaluation
    def contains(self, x: Any, y: Any) -> Any:
        """True where ``(x, y)`` lies in the domain (edges included, to rounding)."""
        (x0, x1), (y0, y1) = self.domain
        tx, ty = 1e-9 * (x1 - x0), 1e-9 * (y1 - y0)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return (x >= x0 - tx) & (x <= x1 + tx) & (y >= y0 - ty) & (y <= y1 + ty)

    def _cells(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cell indices ``(i, j)`` and offsets ``(x - x_i) / dx``, ``(y - y_j) / dy``; raise outside."""
        inside = self.contains(x, y)
        if not np.all(inside):
            bad = np.argwhere(~np.atleast_1d(inside))[0]
            px, py = np.atleast_1d(np.broadcast_to(x, inside.shape))[tuple(bad)], np.atleast_1d(
                np.broadcast_to(y, inside.shape))[tuple(bad)]  # fmt: skip
            (x0, x1), (y0, y1) = self.domain
            raise OutsideDomainError(
                f"{self.name}: point ({px:.6g}, {py:.6g}) is outside the domain "
                f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] where the samples are"
            )
        (x0, _), (y0, _) = self.domain
        nx, ny = self.values.shape
        u = (x - x0) / self.spacing[0]
        v = (y - y0) / self.spacing[1]
        i = np.clip(np.floor(u), 0, nx - 2).astype(np.int64)
        j = np.clip(np.floor(v), 0, ny - 2).astype(np.int64)
        return i, j, u - i, v - j

    def __call__(self, x: Any, y: Any) -> Any:
        """The bilinear interpolant at ``(x, y)``: numbers, arrays, or minidl tensors (differentiable)."""
        if _is_tensor(x) or _is_tensor(y):
            return self._call_tensor(x, y)
        scalar = isinstance(x, numbers.Number) and isinstance(y, numbers.Number)
        xa, ya = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        i, j, tx, ty = self._cells(xa, ya)
        v = self.values
        out = ((1 - tx) * (1 - ty) * v[i, j] + tx * (1 - ty) * v[i + 1, j]
               + (1 - tx) * ty * v[i, j + 1] + tx * ty * v[i + 1, j + 1])  # fmt: skip
        return float(out) if scalar or out.ndim == 0 else out

    def _call_tensor(self, x: Any, y: Any) -> Any:
        """The same interpolant built from minidl ops, so autograd differentiates it (per cell)."""
        import minidl as md

        tx_in = x if _is_tensor(x) else md.tensor(np.asarray(x, dtype=np.float64))
        ty_in = y if _is_tensor(y) else md.tensor(np.asarray(y, dtype=np.float64))
        xd = np.asarray(tx_in.detach().numpy(), dtype=np.float64)
        yd = np.asarray(ty_in.detach().numpy(), dtype=np.float64)
        xd, yd = np.broadcast_arrays(xd, yd)
        i, j, _, _ = self._cells(xd, yd)
        (x0, _), (y0, _) = self.domain
        dt = tx_in.dtype
        tx = (tx_in - md.tensor(x0 + i * self.spacing[0], dtype=dt)) / self.spacing[0]
        ty = (ty_in - md.tensor(y0 + j * self.spacing[1], dtype=dt)) / self.spacing[1]
        v = self.values

        def c(a: np.ndarray) -> Any:
            return md.tensor(a, dtype=dt)

        return ((1 - tx) * (1 - ty) * c(v[i, j]) + tx * (1 - ty) * c(v[i + 1, j])
                + (1 - tx) * ty * c(v[i, j + 1]) + tx * ty * c(v[i + 1, j + 1]))  # fmt: skip

    # ------------------------------------------------------------------ gradients
    def check_eps(self, eps: float, stacklevel: int = 2) -> None:
        """Warn when the finite-difference step ``eps`` is below the grid spacing."""
        dx, dy = self.spacing
        if eps < min(dx, dy) * (1 - 1e-9):
            unit = " (one pixel)" if self.metadata.get("coordinates") == "pixel" else ""
            warnings.warn(
                f"eps={eps:g} is smaller than the grid spacing ({dx:g}, {dy:g}) of {self.name}: finite "
                "differences then see the flat bilinear patch of a single cell (the gradient jumps from cell "
                f"to cell and is zero where neighbouring samples are equal); use eps >= {min(dx, dy):g}{unit}",
                UserWarning,
                stacklevel=stacklevel,
            )

    def numeric_gradient(self, x: Any, y: Any, eps: float | None = None, difference: str = "central") -> np.ndarray:
        """Finite-difference gradient with step ``eps`` (default: the grid spacing).

        Central differences ``(f(x+eps) - f(x-eps)) / 2eps``; within ``eps`` of an edge the
        step on the outside is shortened to the edge (one-sided at the edge itself), so
        every point of the domain has a gradient. ``difference="forward"`` uses
        ``(f(x+eps) - f(x)) / eps`` (backward at the right and top edges).
        """
        if eps is None:
            eps = min(self.spacing)
        self.check_eps(eps, stacklevel=3)
        return self._gradient(x, y, eps, difference)

    def _gradient(self, x: Any, y: Any, eps: float, difference: str = "central") -> np.ndarray:
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        self._cells(x, y)  # raises outside
        (x0, x1), (y0, y1) = self.domain
        if difference == "central":
            xp, xm = np.minimum(x + eps, x1), np.maximum(x - eps, x0)
            yp, ym = np.minimum(y + eps, y1), np.maximum(y - eps, y0)
        elif difference == "forward":
            xp = np.where(x + eps <= x1, x + eps, x)
            xm = np.where(x + eps <= x1, x, x - eps)
            yp = np.where(y + eps <= y1, y + eps, y)
            ym = np.where(y + eps <= y1, y, y - eps)
        else:
            raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
        if np.any(xp - xm <= 0) or np.any(yp - ym <= 0):
            raise ValueError(f"eps={eps:g} is wider than the domain {self.domain}")
        gx = (np.asarray(self(xp, y)) - np.asarray(self(xm, y))) / (xp - xm)
        gy = (np.asarray(self(x, yp)) - np.asarray(self(x, ym))) / (yp - ym)
        return np.stack([gx, gy], axis=-1)

    def gradient(self, x: Any, y: Any) -> np.ndarray:
        raise TypeError(
            f"{self.name} is known only by samples: it has no analytic gradient; use "
            "numeric_gradient(x, y, eps) (descend(..., gradient='numeric'))"
        )

    # ------------------------------------------------------------------ images
    @classmethod
    def from_image(cls, path: str | os.PathLike, domain: Any = None, value_range: Any = None) -> SampledFunction:
        """Read an 8- or 16-bit grayscale PNG as a function.

        * ``domain=None``: pixel coordinates, as the coursework's starter code: x is the
          column (0 .. width-1), y the row (0 .. height-1, growing downwards), and
          ``f(col, row) = grey / (2**bits - 1)`` at pixel centres.
        * ``domain=((x0, x1), (y0, y1))``: column 0 is x0, the last column x1, the bottom
          row y0 and the top row y1.
        * ``value_range=(lo, hi)``: values ``lo + (hi - lo) * grey / (2**bits - 1)``
          (default ``(0, 1)``).

        Minima recorded by :func:`render_image` in the file are converted to the chosen
        coordinates and marked on plots.
        """
        from PIL import Image

        path = os.fspath(path)
        try:
            img = Image.open(path)
            img.load()
        except FileNotFoundError:
            raise FileNotFoundError(f"no such image file: {path}") from None
        except Exception as e:
            raise ValueError(f"{path}: not a readable image ({e})") from None
        grey, bits = _grey_levels(img, path)
        h, w = grey.shape
        if h < 2 or w < 2:
            raise ValueError(f"{path}: an image of at least 2 x 2 pixels is needed, got {w} x {h}")
        unit = grey.astype(np.float64) / (2**bits - 1)
        if value_range is not None:
            lo, hi = (float(v) for v in value_range)
            unit = lo + (hi - lo) * unit
        name = os.path.basename(path)
        meta = {k: v for k, v in getattr(img, "text", {}).items() if isinstance(v, str)}
        if domain is None:
            f = cls(unit.T, ((0, w - 1), (0, h - 1)), name=name, y_down=True)  # values[col, row]
            meta["coordinates"] = "pixel"
        else:
            f = cls(unit[::-1, :].T, domain, name=name)  # the top row is the largest y
            meta["coordinates"] = "domain"
        f.metadata = meta
        f.bits = bits
        f.title = meta.get("minidl.title", name)
        f.minima = _minima_from_metadata(f, meta)
        return f

    def to_image(self, path: str | os.PathLike, bits: int = 16) -> tuple[float, float]:
        """Write the samples as a grayscale PNG (top row = largest y, or row 0 when ``y_down``).

        Returns the ``value_range`` that maps the grey levels back to these values.
        """
        lo, hi = float(self.values.min()), float(self.values.max())
        grid = self.values.T if self.y_down else self.values.T[::-1, :]
        _write_png(path, grid, lo, hi, bits, {})
        return lo, hi

    def __repr__(self) -> str:
        nx, ny = self.values.shape
        return f"<SampledFunction {self.name}: {nx} x {ny} samples on {self.domain}>"


def _grey_levels(img: Any, path: str) -> tuple[np.ndarray, int]:
    """The image's grey levels and bit depth (8 or 16); colour images with unequal channels are refused."""
    mode = img.mode
    if mode.startswith("I;16"):
        return np.asarray(img, dtype=np.uint16), 16
    if mode == "I":  # some Pillow versions read 16-bit PNGs as 32-bit integers
        arr = np.asarray(img, dtype=np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"{path}: 32-bit integer images are not supported (values beyond 16 bits)")
        return arr.astype(np.uint16), 16
    if mode == "L":
        return np.asarray(img, dtype=np.uint8), 8
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.uint8), 8
    if mode in ("LA", "La"):
        return np.asarray(img.getchannel("L"), dtype=np.uint8), 8
    if mode in ("RGB", "RGBA"):
        arr = np.asarray(img.convert("RGB"))
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 0], arr[..., 2]):
            return arr[..., 0].copy(), 8
        raise ValueError(f"{path}: a colour image; a grayscale (8- or 16-bit) PNG is needed")
    raise ValueError(f"{path}: image mode {mode!r} is not supported; a grayscale (8- or 16-bit) PNG is needed")


def _minima_from_metadata(f: SampledFunction, meta: dict[str, str]) -> list[Minimum]:
    """Minima written by render_image (in the source function's coordinates), in ``f``'s coordinates."""
    try:
        minima = json.loads(meta["minidl.minima"])
        (sx0, sx1), (sy0, sy1) = json.loads(meta["minidl.domain"])
    except (KeyError, ValueError, TypeError):
        return []
    (x0, x1), (y0, y1) = f.domain
    out = []
    for mx, my, _ in minima:
        ux, uy = (mx - sx0) / (sx1 - sx0), (my - sy0) / (sy1 - sy0)
        if not (0 <= ux <= 1 and 0 <= uy <= 1):
            continue
        px = x0 + ux * (x1 - x0)
        py = y0 + (1 - uy if f.y_down else uy) * (y1 - y0)
        out.append((px, py, float(f(px, py))))
    return out


def _write_png(path: str | os.PathLike, grid: np.ndarray, lo: float, hi: float, bits: int,
               text: dict[str, str]) -> None:  # fmt: skip
    """Quantise ``grid`` (rows top to bottom) from [lo, hi] to ``bits``-bit grey and save it as PNG."""
    from PIL import Image, PngImagePlugin

    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = 2**bits - 1
    unit = (grid - lo) / (hi - lo) if hi > lo else np.zeros_like(grid)
    levels = np.clip(np.round(unit * top), 0, top).astype(np.uint16 if bits == 16 else np.uint8)
    info = PngImagePlugin.PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    Image.fromarray(levels).save(os.fspath(path), format="PNG", pnginfo=info)


def render_image(f: Any, path: str | os.PathLike, size: tuple[int, int] = (256, 256), *, bits: int = 16,
                 domain: Any = None, value_range: Any = None, scale: str = "linear") -> SampledFunction:  # fmt: skip
    """Render a function (a registered name or a callable) to a grayscale PNG.

    The domain defaults to the function's ``view`` (its customary domain, or the zoom where
    that domain hides the interesting part, as for Schaffer's and Easom's functions).
    Column ``c`` of the ``width x height`` image is ``x0 + c (x1 - x0) / (width - 1)``, row
    ``r`` is ``y1 - r (y1 - y0) / (height - 1)`` (top = largest y), the grey level is
    ``round((f - lo) / (hi - lo) * (2**bits - 1))`` with ``(lo, hi) = value_range``
    (default: the rendered values' minimum and maximum). ``scale="log"`` stores
    ``log(1 + f - lo) / log(1 + hi - lo)`` instead, which keeps the valleys of functions
    with a huge range (Beale, Goldstein-Price, Rosenbrock) visible in the grey levels;
    ``scale="auto"`` chooses log where the plots would use log-spaced contours.

    The function's name, domain, value range, scale and minima are written into the PNG's
    text chunks. Returns the file read back by
    ``SampledFunction.from_image(path, domain, value_range)`` (``value_range`` only when
    ``scale="linear"``: a log image reads back with values in [0, 1]).
    """
    from minidl.landscapes.functions import get

    if isinstance(f, str):
        f = get(f)
    if domain is None:
        domain = getattr(f, "view", None) or getattr(f, "domain", None)
        if domain is None:
            raise ValueError("render_image: give a domain for a function without one")
    domain = _as_domain(domain)
    w, h = (int(s) for s in size)
    if w < 2 or h < 2:
        raise ValueError(f"render_image: size must be at least 2 x 2, got {size}")
    (x0, x1), (y0, y1) = domain
    xs = np.linspace(x0, x1, w)
    ys = np.linspace(y1, y0, h)  # rows from the top: largest y first
    grid = np.asarray(f(*np.meshgrid(xs, ys, indexing="xy")), dtype=np.float64)  # (h, w)
    if not np.all(np.isfinite(grid)):
        raise ValueError("render_image: the function is not finite everywhere on the domain")
    lo, hi = (float(grid.min()), float(grid.max())) if value_range is None else (float(v) for v in value_range)
    if scale == "auto":
        scale = "log" if wants_log(grid) else "linear"
    if scale == "log":
        grid = np.log1p(np.maximum(grid - lo, 0.0)) / math.log1p(hi - lo)
        qlo, qhi = 0.0, 1.0
    elif scale == "linear":
        qlo, qhi = lo, hi
    else:
        raise ValueError(f"scale must be 'linear', 'log' or 'auto', got {scale!r}")
    name = getattr(f, "name", "function")
    text = {
        "minidl.function": name,
        "minidl.title": getattr(f, "title", name),
        "minidl.domain": json.dumps([[x0, x1], [y0, y1]]),
        "minidl.value_range": json.dumps([lo, hi]),
        "minidl.scale": scale,
        "minidl.minima": json.dumps([list(m) for m in getattr(f, "minima", [])]),
        "Software": "minidl.landscapes.render_image",
    }
    _write_png(path, grid, qlo, qhi, bits, text)
    return SampledFunction.from_image(path, domain=domain, value_range=(lo, hi) if scale == "linear" else None)

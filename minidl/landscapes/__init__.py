"""Gradient descent on 2-D functions: test functions, image-sampled functions, runs, plots, CLI.

    from minidl import landscapes as L

    f = L.get("rosenbrock")                     # f(x, y) for floats, arrays, tensors
    trace = L.descend(f, (-1.5, 2.0), "sgd", steps=3000, lr=1e-3, momentum=0.9, nesterov=True)
    L.plot(f, [trace], "rosenbrock.png")

    img = L.SampledFunction.from_image("fn/beale.png")      # pixel coordinates, values grey / 65535
    trace = L.descend(img, (120, 300), "sgd", gradient="numeric", eps=1, lr=10, momentum=0.9, nesterov=True)

Command line: ``python -m minidl.landscapes --help``; the coursework exercise end to end:
``python -m minidl.landscapes.demo OUTDIR``.
"""

from typing import Any

from minidl.landscapes.descent import OPTIMIZERS, Endpoints, Trace, descend, descend_configs, descend_many
from minidl.landscapes.functions import Function2D, get, names, register
from minidl.landscapes.sampled import OutsideDomainError, SampledFunction, render_image

_PLOTS = ("animate", "basins", "compare", "gallery", "plot", "sweep")


def __getattr__(name: str) -> Any:
    """The plotting functions, imported on first use (matplotlib takes a moment to load)."""
    if name in _PLOTS:
        from minidl.landscapes import plotting

        return getattr(plotting, name)
    raise AttributeError(f"module 'minidl.landscapes' has no attribute {name!r}")

__all__ = [
    "OPTIMIZERS",
    "Endpoints",
    "Function2D",
    "OutsideDomainError",
    "SampledFunction",
    "Trace",
    "animate",
    "basins",
    "compare",
    "descend",
    "descend_configs",
    "descend_many",
    "gallery",
    "get",
    "names",
    "plot",
    "register",
    "render_image",
    "sweep",
]

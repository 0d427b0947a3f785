# ruff: noqa: RUF001, RUF002, RUF003 - formulas and labels use the real minus sign, × and Greek letters
"""Two-dimensional test functions for optimisation: formulas, domains and global minima.

Every function is a :class:`Function2D`, a callable ``f(x, y)`` that accepts

* Python numbers (returns a float),
* numpy arrays, vectorised over grids (``f(*np.meshgrid(xs, ys, indexing="ij"))``),
* minidl tensors (or torch tensors), so that autograd gives the analytic gradient::

      p = md.tensor([1.5, 1.0], dtype=md.float64, requires_grad=True)
      f(p[0], p[1]).backward()        # p.grad is the gradient

Each carries ``.name``, ``.title``, ``.formula`` (plain text), ``.latex`` (matplotlib
mathtext), ``.domain = ((x0, x1), (y0, y1))`` (the customary search domain), ``.view``
(the window plots show by default: the domain, or a zoom where the domain hides the
interesting part), ``.minima`` (every global minimum as ``(x, y, value)``), ``.smooth``
(differentiable everywhere) and ``.reference``.

Minima are given to more digits than the literature quotes (they were refined numerically
and the tests check both: the quoted literature values to their precision, and that the
listed point is a minimum). References: M. Jamil, X.-S. Yang, "A literature survey of
benchmark functions for global optimization problems", Int. J. Math. Modelling and
Numerical Optimisation 4(2), 2013 ("Jamil & Yang"); S. Surjanovic, D. Bingham, "Virtual
Library of Simulation Experiments: Test Functions and Datasets", Simon Fraser University,
https://www.sfu.ca/~ssurjano ("SFU"); Wikipedia, "Test functions for optimization".

The coursework also used a "madsen" image; no published formula for a 2-D "Madsen" test
function could be found to cite, so it is not in the registry (render your own image of
it with :class:`~minidl.landscapes.SampledFunction` if you have one).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Function2D", "get", "names", "register", "wants_log"]

Domain = tuple[tuple[float, float], tuple[float, float]]
Minimum = tuple[float, float, float]


def _is_tensor(a: Any) -> bool:
    """A minidl (or torch) tensor: anything array-like with methods ``.sin()``, ``.exp()``..."""
    return not isinstance(a, (numbers.Number, np.ndarray, np.generic)) and hasattr(a, "sin")


class _M:
    """The maths a formula needs, for numbers, numpy arrays and tensors alike.

    Tensors (minidl's and torch's) have methods ``.sin()``, ``.exp()``, ...; numbers and
    numpy arrays go through numpy's ufuncs. ``abs`` and ``**`` are Python's operators.
    """

    pi = math.pi
    e = math.e

    @staticmethod
    def sin(a: Any) -> Any:
        return a.sin() if _is_tensor(a) else np.sin(a)

    @staticmethod
    def cos(a: Any) -> Any:
        return a.cos() if _is_tensor(a) else np.cos(a)

    @staticmethod
    def exp(a: Any) -> Any:
        return a.exp() if _is_tensor(a) else np.exp(a)

    @staticmethod
    def sqrt(a: Any) -> Any:
        return a.sqrt() if _is_tensor(a) else np.sqrt(a)


class Function2D:
    """A test function ``f(x, y)`` with its formula, domain and global minima."""

    def __init__(self, name: str, fn: Callable[[Any, Any], Any], *, title: str, formula: str, latex: str,
                 domain: Domain, minima: list[Minimum], smooth: bool = True, view: Domain | None = None,
                 reference: str = "", params: dict[str, float] | None = None) -> None:  # fmt: skip
        self.name = name
        self._fn = fn
        self.title = title
        self.formula = formula
        self.latex = latex
        self.domain: Domain = _as_domain(domain)
        self.view: Domain = _as_domain(view) if view is not None else self.domain
        self.minima: list[Minimum] = [(float(x), float(y), float(v)) for x, y, v in minima]
        self.smooth = smooth
        self.reference = reference
        self.params = dict(params or {})

    def __call__(self, x: Any, y: Any) -> Any:
        """``f(x, y)`` for numbers, arrays (broadcast together) or tensors."""
        if not (_is_tensor(x) or _is_tensor(y)):
            x = np.asarray(x, dtype=np.float64) if not isinstance(x, numbers.Number) else float(x)
            y = np.asarray(y, dtype=np.float64) if not isinstance(y, numbers.Number) else float(y)
            with np.errstate(over="ignore", invalid="ignore"):
                out = self._fn(x, y)
            return float(out) if np.ndim(out) == 0 else out
        return self._fn(x, y)

    # ------------------------------------------------------------------ gradients
    def gradient(self, x: Any, y: Any) -> np.ndarray:
        """The analytic gradient by minidl's autograd, vectorised: shape ``np.shape(x) + (2,)``."""
        import minidl as md

        xs, ys = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        tx = md.tensor(xs.copy(), dtype=md.float64, requires_grad=True)
        ty = md.tensor(ys.copy(), dtype=md.float64, requires_grad=True)
        self(tx, ty).sum().backward()
        return np.stack([tx.grad.numpy(), ty.grad.numpy()], axis=-1)

    def numeric_gradient(self, x: Any, y: Any, eps: float = 1e-4, difference: str = "central") -> np.ndarray:
        """Finite-difference gradient with step ``eps`` (``"central"`` or ``"forward"``)."""
        return _finite_difference(self, x, y, eps, difference)

    def contains(self, x: Any, y: Any) -> Any:
        """True where ``(x, y)`` lies in the domain (edges included)."""
        (x0, x1), (y0, y1) = self.domain
        return (np.asarray(x) >= x0) & (np.asarray(x) <= x1) & (np.asarray(y) >= y0) & (np.asarray(y) <= y1)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v:g}" for k, v in self.params.items())
        return f"<Function2D {self.name}{extra}: {self.formula}>"


def _as_domain(domain: Any) -> Domain:
    try:
        (x0, x1), (y0, y1) = domain
        x0, x1, y0, y1 = float(x0), float(x1), float(y0), float(y1)
    except (TypeError, ValueError):
        raise ValueError(f"a domain is ((x0, x1), (y0, y1)), got {domain!r}") from None
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"a domain needs x0 < x1 and y0 < y1, got {domain!r}")
    return (x0, x1), (y0, y1)


def wants_log(Z: np.ndarray) -> bool:
    """Log-spaced levels when a quarter of the domain lies within 3% of the range above the minimum."""
    z = Z[np.isfinite(Z)]
    if z.size == 0:
        return False
    lo, hi = z.min(), z.max()
    return bool(hi > lo and (np.percentile(z, 25) - lo) / (hi - lo) < 0.03)


def _finite_difference(f: Callable[[Any, Any], Any], x: Any, y: Any, eps: float, difference: str) -> np.ndarray:
    """Central ``(f(x+e) - f(x-e)) / 2e`` or forward ``(f(x+e) - f(x)) / e`` differences."""
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if difference == "central":
        gx = (np.asarray(f(x + eps, y)) - np.asarray(f(x - eps, y))) / (2 * eps)
        gy = (np.asarray(f(x, y + eps)) - np.asarray(f(x, y - eps))) / (2 * eps)
    elif difference == "forward":
        f0 = np.asarray(f(x, y))
        gx = (np.asarray(f(x + eps, y)) - f0) / eps
        gy = (np.asarray(f(x, y + eps)) - f0) / eps
    else:
        raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
    return np.stack(np.broadcast_arrays(gx, gy), axis=-1)


# ---------------------------------------------------------------------- the formulas
M = _M


def _schaffer_n2(x: Any, y: Any) -> Any:
    r2 = x**2 + y**2
    return 0.5 + (M.sin(x**2 - y**2) ** 2 - 0.5) / (1 + 0.001 * r2) ** 2


def _schaffer_n4(x: Any, y: Any) -> Any:
    r2 = x**2 + y**2
    return 0.5 + (M.cos(M.sin(abs(x**2 - y**2))) ** 2 - 0.5) / (1 + 0.001 * r2) ** 2


def _rastrigin(x: Any, y: Any) -> Any:
    return 20 + (x**2 - 10 * M.cos(2 * M.pi * x)) + (y**2 - 10 * M.cos(2 * M.pi * y))


def _beale(x: Any, y: Any) -> Any:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(x: Any, y: Any) -> Any:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _ackley(x: Any, y: Any) -> Any:
    return (-20 * M.exp(-0.2 * M.sqrt(0.5 * (x**2 + y**2)))
            - M.exp(0.5 * (M.cos(2 * M.pi * x) + M.cos(2 * M.pi * y))) + M.e + 20)  # fmt: skip


def _booth(x: Any, y: Any) -> Any:
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _matyas(x: Any, y: Any) -> Any:
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def _levi_n13(x: Any, y: Any) -> Any:
    return (M.sin(3 * M.pi * x) ** 2 + (x - 1) ** 2 * (1 + M.sin(3 * M.pi * y) ** 2)
            + (y - 1) ** 2 * (1 + M.sin(2 * M.pi * y) ** 2))  # fmt: skip


def _styblinski_tang(x: Any, y: Any) -> Any:
    return 0.5 * ((x**4 - 16 * x**2 + 5 * x) + (y**4 - 16 * y**2 + 5 * y))


def _six_hump_camel(x: Any, y: Any) -> Any:
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


def _three_hump_camel(x: Any, y: Any) -> Any:
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def _eggholder(x: Any, y: Any) -> Any:
    return -(y + 47) * M.sin(M.sqrt(abs(x / 2 + y + 47))) - x * M.sin(M.sqrt(abs(x - (y + 47))))


def _goldstein_price(x: Any, y: Any) -> Any:
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def _easom(x: Any, y: Any) -> Any:
    return -M.cos(x) * M.cos(y) * M.exp(-((x - M.pi) ** 2 + (y - M.pi) ** 2))


def _cross_in_tray(x: Any, y: Any) -> Any:
    r = M.sqrt(x**2 + y**2)
    return -0.0001 * (abs(M.sin(x) * M.sin(y) * M.exp(abs(100 - r / M.pi))) + 1) ** 0.1


def _holder_table(x: Any, y: Any) -> Any:
    r = M.sqrt(x**2 + y**2)
    return -abs(M.sin(x) * M.cos(y) * M.exp(abs(1 - r / M.pi)))


def _mccormick(x: Any, y: Any) -> Any:
    return M.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


# ---------------------------------------------------------------------- the registry
_REGISTRY: dict[str, Callable[..., Function2D]] = {}


def register(name: str, factory: Callable[..., Function2D]) -> None:
    """Add a function to the registry: ``factory(**params)`` returns a :class:`Function2D`."""
    if not name.isidentifier():
        raise ValueError(f"a function name must be an identifier, got {name!r}")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered function names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **params: float) -> Function2D:
    """The registered function ``name``; ``params`` set its parameters (``get("quadratic", condition=50)``)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _REGISTRY:
        raise KeyError(f"unknown function {name!r}; choose one of: {', '.join(names())}")
    try:
        return _REGISTRY[key](**params)
    except TypeError as e:
        raise TypeError(f"{key}: {e}") from None


def _fixed(name: str, fn: Callable[[Any, Any], Any], **kw: Any) -> None:
    def factory() -> Function2D:
        return Function2D(name, fn, **kw)

    factory.__doc__ = kw["formula"]
    register(name, factory)


_WIKI = "Wikipedia, Test functions for optimization"

_fixed("schaffer_n2", _schaffer_n2, title="Schaffer N.2",
       formula="f(x, y) = 0.5 + (sin²(x² − y²) − 0.5) / (1 + 0.001 (x² + y²))²",
       latex=r"$0.5 + \frac{\sin^2(x^2 - y^2) - 0.5}{(1 + 0.001\,(x^2 + y^2))^2}$",
       domain=((-100, 100), (-100, 100)), view=((-5, 5), (-5, 5)),
       minima=[(0.0, 0.0, 0.0)], reference=f"{_WIKI}; Jamil & Yang (f112)")  # fmt: skip

_S4 = (1.2531318314637332, 0.29257863203598055)
_fixed("schaffer_n4", _schaffer_n4, title="Schaffer N.4",
       formula="f(x, y) = 0.5 + (cos²(sin|x² − y²|) − 0.5) / (1 + 0.001 (x² + y²))²",
       latex=r"$0.5 + \frac{\cos^2(\sin|x^2 - y^2|) - 0.5}{(1 + 0.001\,(x^2 + y^2))^2}$",
       domain=((-100, 100), (-100, 100)), view=((-5, 5), (-5, 5)), smooth=False,
       minima=[(0.0, _S4[0], _S4[1]), (0.0, -_S4[0], _S4[1]), (_S4[0], 0.0, _S4[1]), (-_S4[0], 0.0, _S4[1])],
       reference=f"{_WIKI} (0.292579 at (0, ±1.25313) and (±1.25313, 0))")  # fmt: skip

_fixed("rastrigin", _rastrigin, title="Rastrigin",
       formula="f(x, y) = 20 + x² − 10 cos(2πx) + y² − 10 cos(2πy)",
       latex=r"$20 + x^2 - 10\cos(2\pi x) + y^2 - 10\cos(2\pi y)$",
       domain=((-5.12, 5.12), (-5.12, 5.12)), minima=[(0.0, 0.0, 0.0)], reference=_WIKI)  # fmt: skip


def _rosenbrock_factory(a: float = 1.0, b: float = 100.0) -> Function2D:
    def fn(x: Any, y: Any) -> Any:
        return (a - x) ** 2 + b * (y - x**2) ** 2

    default = a == 1.0 and b == 100.0
    return Function2D("rosenbrock", fn, title="Rosenbrock" if default else f"Rosenbrock (a={a:g}, b={b:g})",
                      formula=f"f(x, y) = ({a:g} − x)² + {b:g} (y − x²)²",
                      latex=rf"$({a:g} - x)^2 + {b:g}\,(y - x^2)^2$",
                      domain=((-2, 2), (-1, 3)), minima=[(a, a * a, 0.0)],
                      reference=f"{_WIKI}; H. H. Rosenbrock, The Computer Journal 3(3), 1960",
                      params={} if default else {"a": a, "b": b})  # fmt: skip


register("rosenbrock", _rosenbrock_factory)

_fixed("beale", _beale, title="Beale",
       formula="f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
       latex=r"$(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2$",
       domain=((-4.5, 4.5), (-4.5, 4.5)), minima=[(3.0, 0.5, 0.0)], reference=_WIKI)  # fmt: skip

_fixed("himmelblau", _himmelblau, title="Himmelblau",
       formula="f(x, y) = (x² + y − 11)² + (x + y² − 7)²",
       latex=r"$(x^2 + y - 11)^2 + (x + y^2 - 7)^2$",
       domain=((-5, 5), (-5, 5)),
       minima=[(3.0, 2.0, 0.0), (-2.805118086952745, 3.131312518250573, 0.0),
               (-3.779310253377747, -3.283185991286169, 0.0), (3.584428340330492, -1.848126526964404, 0.0)],
       reference=f"{_WIKI} (3, 2), (−2.805118, 3.131312), (−3.779310, −3.283186), (3.584428, −1.848126)")  # fmt: skip

_fixed("ackley", _ackley, title="Ackley",
       formula="f(x, y) = −20 exp(−0.2 √(0.5 (x² + y²))) − exp(0.5 (cos 2πx + cos 2πy)) + e + 20",
       latex=r"$-20\,e^{-0.2\sqrt{0.5(x^2+y^2)}} - e^{0.5(\cos 2\pi x + \cos 2\pi y)} + e + 20$",
       domain=((-5, 5), (-5, 5)), minima=[(0.0, 0.0, 0.0)], smooth=False,
       reference=f"{_WIKI}; D. Ackley, A connectionist machine for genetic hillclimbing, 1987")  # fmt: skip

_fixed("booth", _booth, title="Booth", formula="f(x, y) = (x + 2y − 7)² + (2x + y − 5)²",
       latex=r"$(x + 2y - 7)^2 + (2x + y - 5)^2$",
       domain=((-10, 10), (-10, 10)), minima=[(1.0, 3.0, 0.0)], reference=_WIKI)  # fmt: skip

_fixed("matyas", _matyas, title="Matyas", formula="f(x, y) = 0.26 (x² + y²) − 0.48 xy",
       latex=r"$0.26\,(x^2 + y^2) - 0.48\,xy$",
       domain=((-10, 10), (-10, 10)), minima=[(0.0, 0.0, 0.0)], reference=_WIKI)  # fmt: skip

_fixed("levi_n13", _levi_n13, title="Lévi N.13",
       formula="f(x, y) = sin²(3πx) + (x − 1)² (1 + sin²(3πy)) + (y − 1)² (1 + sin²(2πy))",
       latex=r"$\sin^2 3\pi x + (x-1)^2(1 + \sin^2 3\pi y) + (y-1)^2(1 + \sin^2 2\pi y)$",
       domain=((-10, 10), (-10, 10)), view=((-2, 4), (-2, 4)), minima=[(1.0, 1.0, 0.0)],
       reference=_WIKI)  # fmt: skip

_ST = (-2.903534027771177, -39.166165703771415)
_fixed("styblinski_tang", _styblinski_tang, title="Styblinski–Tang",
       formula="f(x, y) = ((x⁴ − 16x² + 5x) + (y⁴ − 16y² + 5y)) / 2",
       latex=r"$\frac{1}{2}\left(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y\right)$",
       domain=((-5, 5), (-5, 5)), minima=[(_ST[0], _ST[0], 2 * _ST[1])],
       reference=f"{_WIKI} (−39.16617 n < f < −39.16616 n at x_i = −2.903534); SFU")  # fmt: skip

_SH = (0.08984201310031806, 0.7126564030207396, -1.0316284534898774)
_fixed("six_hump_camel", _six_hump_camel, title="Six-hump camel",
       formula="f(x, y) = (4 − 2.1x² + x⁴/3) x² + xy + (−4 + 4y²) y²",
       latex=r"$(4 - 2.1x^2 + \frac{x^4}{3})\,x^2 + xy + (-4 + 4y^2)\,y^2$",
       domain=((-3, 3), (-2, 2)), minima=[(_SH[0], -_SH[1], _SH[2]), (-_SH[0], _SH[1], _SH[2])],
       reference="SFU (−1.0316 at (0.0898, −0.7126) and (−0.0898, 0.7126)); Jamil & Yang (f30)")  # fmt: skip

_fixed("three_hump_camel", _three_hump_camel, title="Three-hump camel",
       formula="f(x, y) = 2x² − 1.05x⁴ + x⁶/6 + xy + y²",
       latex=r"$2x^2 - 1.05x^4 + \frac{x^6}{6} + xy + y^2$",
       domain=((-5, 5), (-5, 5)), view=((-2, 2), (-2, 2)), minima=[(0.0, 0.0, 0.0)], reference=_WIKI)  # fmt: skip

_EGG = (404.2318051137578, -959.6406627208508)
_fixed("eggholder", _eggholder, title="Eggholder",
       formula="f(x, y) = −(y + 47) sin √|x/2 + y + 47| − x sin √|x − (y + 47)|",
       latex=r"$-(y + 47)\sin\sqrt{|x/2 + y + 47|} - x\sin\sqrt{|x - (y + 47)|}$",
       domain=((-512, 512), (-512, 512)), minima=[(512.0, _EGG[0], _EGG[1])], smooth=False,
       reference=f"{_WIKI} (−959.6407 at (512, 404.2319), on the domain's edge)")  # fmt: skip

_fixed("goldstein_price", _goldstein_price, title="Goldstein–Price",
       formula=("f(x, y) = [1 + (x + y + 1)² (19 − 14x + 3x² − 14y + 6xy + 3y²)]"
                " · [30 + (2x − 3y)² (18 − 32x + 12x² + 48y − 36xy + 27y²)]"),
       latex=(r"$[1 + (x+y+1)^2(19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]$" "\n"
              r"$\times\,[30 + (2x-3y)^2(18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]$"),
       domain=((-2, 2), (-2, 2)), minima=[(0.0, -1.0, 3.0)], reference=_WIKI)  # fmt: skip

_fixed("easom", _easom, title="Easom", formula="f(x, y) = −cos x cos y exp(−((x − π)² + (y − π)²))",
       latex=r"$-\cos x\,\cos y\;e^{-((x - \pi)^2 + (y - \pi)^2)}$",
       domain=((-100, 100), (-100, 100)), view=((-1, 7), (-1, 7)), minima=[(math.pi, math.pi, -1.0)],
       reference=_WIKI)  # fmt: skip

_CT = (1.3494066171539108, -2.0626118708227369)
_fixed("cross_in_tray", _cross_in_tray, title="Cross-in-tray",
       formula="f(x, y) = −0.0001 (|sin x sin y exp|100 − √(x² + y²)/π|| + 1)^0.1",
       latex=r"$-0.0001\,\left(|\sin x \sin y\; e^{|100 - \sqrt{x^2 + y^2}/\pi|}| + 1\right)^{0.1}$",
       domain=((-10, 10), (-10, 10)), smooth=False,
       minima=[(sx * _CT[0], sy * _CT[0], _CT[1]) for sx in (1, -1) for sy in (1, -1)],
       reference=f"{_WIKI} (−2.06261 at (±1.34941, ±1.34941))")  # fmt: skip

_HT = (8.055023475736563, 9.664590019241273, -19.208502567886732)
_fixed("holder_table", _holder_table, title="Hölder table",
       formula="f(x, y) = −|sin x cos y exp|1 − √(x² + y²)/π||",
       latex=r"$-\left|\sin x \cos y\; e^{|1 - \sqrt{x^2 + y^2}/\pi|}\right|$",
       domain=((-10, 10), (-10, 10)), smooth=False,
       minima=[(sx * _HT[0], sy * _HT[1], _HT[2]) for sx in (1, -1) for sy in (1, -1)],
       reference=f"{_WIKI} (−19.2085 at (±8.05502, ±9.66459))")  # fmt: skip

_MC = 0.5 - math.pi / 3  # the gradient vanishes where x - y = 1 and cos(x + y) = -1/2: x + y = -2π/3
_fixed("mccormick", _mccormick, title="McCormick", formula="f(x, y) = sin(x + y) + (x − y)² − 1.5x + 2.5y + 1",
       latex=r"$\sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1$",
       domain=((-1.5, 4), (-3, 4)), minima=[(_MC, _MC - 1, -math.sqrt(3) / 2 - math.pi / 3)],
       reference=f"{_WIKI} (−1.9133 at (−0.54719, −1.54719)); exact: x = 1/2 − π/3, y = x − 1")  # fmt: skip


def _quadratic_factory(condition: float = 10.0, angle: float = 0.0) -> Function2D:
    """The bowl ``(u² + κ v²) / 2`` in axes rotated by ``angle`` degrees: Hessian eigenvalues 1 and κ."""
    if condition <= 0:
        raise ValueError(f"quadratic: condition must be positive, got {condition}")
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def fn(x: Any, y: Any) -> Any:
        u = c * x + s * y
        v = -s * x + c * y
        return 0.5 * (u**2 + condition * v**2)

    rot = "" if angle == 0 else f", u = x cos {angle:g}° + y sin {angle:g}°, v = −x sin {angle:g}° + y cos {angle:g}°"
    uv = ("x", "y") if angle == 0 else ("u", "v")
    title = f"Quadratic bowl (κ = {condition:g}" + (f", {angle:g}°)" if angle else ")")
    return Function2D("quadratic", fn, title=title,
                      formula=f"f(x, y) = ({uv[0]}² + {condition:g} {uv[1]}²) / 2{rot}",
                      latex=rf"$\frac{{1}}{{2}}\,({uv[0]}^2 + {condition:g}\,{uv[1]}^2)$"
                      + (f",  (u, v) = (x, y) rotated by {angle:g}°" if angle else ""),
                      domain=((-5, 5), (-5, 5)), minima=[(0.0, 0.0, 0.0)],
                      reference="condition number κ = largest / smallest Hessian eigenvalue; GD converges for lr < 2/κ",
                      params={"condition": condition, "angle": angle})  # fmt: skip


register("quadratic", _quadratic_factory)

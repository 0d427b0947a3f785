"""The registry: formulas, domains, every global minimum to literature precision, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import minidl as md
from minidl import landscapes as L

REQUIRED = ["schaffer_n2", "schaffer_n4", "rastrigin", "rosenbrock", "beale", "himmelblau", "ackley", "booth",
            "matyas", "levi_n13", "styblinski_tang", "six_hump_camel", "three_hump_camel", "eggholder",
            "goldstein_price", "easom", "cross_in_tray", "holder_table", "mccormick", "quadratic"]  # fmt: skip

# Global minima as the literature quotes them: (x, y, value, decimals of x and y, decimals of the value).
# Sources: Wikipedia "Test functions for optimization"; Surjanovic & Bingham (SFU) for the six-hump camel.
LITERATURE = {
    "schaffer_n2": [(0, 0, 0, 6, 6)],
    "schaffer_n4": [(0, 1.25313, 0.292579, 5, 6), (0, -1.25313, 0.292579, 5, 6),
                    (1.25313, 0, 0.292579, 5, 6), (-1.25313, 0, 0.292579, 5, 6)],
    "rastrigin": [(0, 0, 0, 6, 6)],
    "rosenbrock": [(1, 1, 0, 6, 6)],
    "beale": [(3, 0.5, 0, 6, 6)],
    "himmelblau": [(3, 2, 0, 6, 6), (-2.805118, 3.131312, 0, 6, 6), (-3.779310, -3.283186, 0, 6, 6),
                   (3.584428, -1.848126, 0, 6, 6)],
    "ackley": [(0, 0, 0, 6, 6)],
    "booth": [(1, 3, 0, 6, 6)],
    "matyas": [(0, 0, 0, 6, 6)],
    "levi_n13": [(1, 1, 0, 6, 6)],
    "styblinski_tang": [(-2.903534, -2.903534, -78.33233, 6, 5)],
    "six_hump_camel": [(0.0898, -0.7126, -1.0316, 4, 4), (-0.0898, 0.7126, -1.0316, 4, 4)],
    "three_hump_camel": [(0, 0, 0, 6, 6)],
    "eggholder": [(512, 404.2319, -959.6407, 4, 4)],
    "goldstein_price": [(0, -1, 3, 6, 6)],
    "easom": [(math.pi, math.pi, -1, 6, 6)],
    "cross_in_tray": [(sx * 1.34941, sy * 1.34941, -2.06261, 5, 5) for sx in (1, -1) for sy in (1, -1)],
    "holder_table": [(sx * 8.05502, sy * 9.66459, -19.2085, 5, 4) for sx in (1, -1) for sy in (1, -1)],
    "mccormick": [(-0.54719, -1.54719, -1.9133, 5, 4)],
    "quadratic": [(0, 0, 0, 6, 6)],
}  # fmt: skip

# functions whose gradient does not vanish at a listed minimum: a cone point, a minimum on the domain's edge
NOT_STATIONARY = {"ackley", "eggholder"}


def test_registry_has_every_required_function_and_no_madsen():
    assert set(REQUIRED) <= set(L.names())
    assert L.names() == sorted(L.names())
    assert "madsen" not in L.names()
    assert set(LITERATURE) == set(L.names())


def test_unknown_name_lists_the_registry():
    with pytest.raises(KeyError, match="rosenbrock"):
        L.get("madsen")
    assert L.get("Six-Hump Camel").name == "six_hump_camel"


@pytest.mark.parametrize("name", REQUIRED)
def test_attributes(name):
    f = L.get(name)
    assert f.name == name and f.title and f.formula.startswith("f(x, y) =") and f.latex.startswith("$")
    (x0, x1), (y0, y1) = f.domain
    assert x0 < x1 and y0 < y1
    (vx0, vx1), (vy0, vy1) = f.view
    assert x0 <= vx0 < vx1 <= x1 and y0 <= vy0 < vy1 <= y1
    assert f.minima and all(len(m) == 3 for m in f.minima)
    for x, y, _ in f.minima:
        assert f.contains(x, y)
    assert isinstance(f(0.3, -0.2), float)


@pytest.mark.parametrize("name", REQUIRED)
def test_minima_match_the_literature(name):
    f = L.get(name)
    lit = LITERATURE[name]
    assert len(f.minima) == len(lit), "every global minimum is listed"
    for lx, ly, lv, dxy, dv in lit:
        close = [m for m in f.minima if abs(m[0] - lx) <= 10.0**-dxy and abs(m[1] - ly) <= 10.0**-dxy]
        assert len(close) == 1, (lx, ly)
        assert abs(close[0][2] - lv) <= 10.0**-dv, (close[0], lv)


@pytest.mark.parametrize("name", REQUIRED)
def test_listed_minima_are_minima(name):
    """The value is f at the point, and a bounded local search from there finds nothing lower."""
    f = L.get(name)
    for x, y, v in f.minima:
        assert f(x, y) == pytest.approx(v, rel=1e-12, abs=1e-12)
        res = minimize(lambda p: f(p[0], p[1]), [x, y], method="Nelder-Mead", bounds=f.domain,
                       options=dict(xatol=1e-12, fatol=1e-15, maxiter=4000, initial_simplex=[
                           [x, y], [x + 1e-3, y], [x, y + 1e-3]]))  # fmt: skip
        assert res.fun >= v - 1e-12 * max(1.0, abs(v))
        assert math.hypot(res.x[0] - x, res.x[1] - y) < 1e-5


@pytest.mark.parametrize("name", REQUIRED)
def test_minima_are_global_and_complete(name):
    """No grid point is lower; every grid basin polished to the global value ends at a listed minimum."""
    f = L.get(name)
    (x0, x1), (y0, y1) = f.domain
    n = 601
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n), indexing="ij")
    Z = f(X, Y)
    fstar = f.minima[0][2]
    tol = 1e-7 * max(1.0, abs(fstar))
    assert np.nanmin(Z) >= fstar - tol
    # local minima of the grid (3 x 3 neighbourhoods), the 12 lowest, polished within the domain
    pad = np.pad(Z, 1, constant_values=np.inf)
    neigh = np.min([pad[1 + di:n + 1 + di, 1 + dj:n + 1 + dj] for di in (-1, 0, 1) for dj in (-1, 0, 1)
                    if (di, dj) != (0, 0)], axis=0)  # fmt: skip
    cand = np.argwhere(Z <= neigh)
    cand = cand[np.argsort(Z[cand[:, 0], cand[:, 1]])][:12]
    found = 0
    for i, j in cand:
        res = minimize(lambda p: f(p[0], p[1]), [X[i, j], Y[i, j]], method="Nelder-Mead", bounds=f.domain,
                       options=dict(xatol=1e-10, fatol=1e-14, maxiter=4000))  # fmt: skip
        assert res.fun >= fstar - tol
        if res.fun <= fstar + 1e-6 * max(1.0, abs(fstar)):
            found += 1
            d = min(math.hypot(res.x[0] - mx, res.x[1] - my) for mx, my, _ in f.minima)
            assert d < 1e-3, f"a global minimum at {res.x} is not listed"
    assert found >= 1


@pytest.mark.parametrize("name", sorted(set(REQUIRED) - NOT_STATIONARY))
def test_gradient_vanishes_at_the_minima(name):
    f = L.get(name)
    for x, y, _ in f.minima:
        g = f.gradient(x, y)
        assert np.all(np.isfinite(g)) and np.hypot(*g) < 1e-6, (x, y, g)


def test_eggholder_minimum_lies_on_the_edge():
    f = L.get("eggholder")
    x, y, _ = f.minima[0]
    gx, gy = f.gradient(x, y)
    assert x == f.domain[0][1]
    assert abs(gy) < 1e-9 and gx < 0  # stationary along the edge, f still falls outwards


@pytest.mark.parametrize("name", REQUIRED)
def test_analytic_gradient_equals_central_differences(name):
    f = L.get(name)
    rng = np.random.default_rng(sum(map(ord, name)))
    (x0, x1), (y0, y1) = f.view
    pts = np.column_stack([rng.uniform(x0, x1, 25), rng.uniform(y0, y1, 25)])
    ga = f.gradient(pts[:, 0], pts[:, 1])
    span = max(x1 - x0, y1 - y0)
    gn = f.numeric_gradient(pts[:, 0], pts[:, 1], eps=1e-6 * span)
    np.testing.assert_allclose(ga, gn, rtol=2e-5, atol=2e-5 * (1 + np.abs(ga).max()))


@pytest.mark.parametrize("name", REQUIRED)
def test_floats_arrays_and_tensors_agree(name):
    f = L.get(name)
    rng = np.random.default_rng(1)
    (x0, x1), (y0, y1) = f.view
    xs, ys = rng.uniform(x0, x1, 7), rng.uniform(y0, y1, 7)
    grid = f(xs, ys)
    assert grid.shape == (7,)
    scalars = np.array([f(float(a), float(b)) for a, b in zip(xs, ys)])
    np.testing.assert_allclose(grid, scalars, rtol=1e-12, atol=1e-12)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    assert f(X, Y).shape == (7, 7)
    # minidl tensors: the same values, and autograd gradients equal torch's on the same formula
    mx = md.tensor(xs, dtype=md.float64, requires_grad=True)
    my = md.tensor(ys, dtype=md.float64, requires_grad=True)
    out = f(mx, my)
    assert isinstance(out, md.Tensor)
    np.testing.assert_allclose(out.detach().numpy(), grid, rtol=1e-12, atol=1e-12)
    out.sum().backward()
    tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
    f(tx, ty).sum().backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(my.grad.numpy(), ty.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_formula_values_at_known_points():
    assert L.get("beale")(0, 0) == pytest.approx(14.203125)
    assert L.get("goldstein_price")(0, 0) == pytest.approx(600)
    assert L.get("booth")(0, 0) == pytest.approx(74)
    assert L.get("himmelblau")(0, 0) == pytest.approx(170)
    assert L.get("rosenbrock")(0, 0) == pytest.approx(1)
    assert L.get("matyas")(1, 1) == pytest.approx(0.04)
    assert L.get("three_hump_camel")(1, 1) == pytest.approx(2 - 1.05 + 1 / 6 + 2)
    assert L.get("mccormick")(0, 0) == pytest.approx(1)
    assert L.get("rastrigin")(1, 1) == pytest.approx(2)
    assert L.get("easom")(0, 0) == pytest.approx(-math.exp(-2 * math.pi**2))
    assert L.get("schaffer_n2")(1, 0) == pytest.approx(0.5 + (math.sin(1) ** 2 - 0.5) / 1.001**2)


def test_quadratic_bowl_has_the_condition_it_is_given():
    for cond, angle in [(10, 0), (100, 30)]:
        f = L.get("quadratic", condition=cond, angle=angle)
        h = 1e-4  # the Hessian by differences of the analytic gradient
        H = np.stack([(f.gradient(h, 0) - f.gradient(-h, 0)) / (2 * h),
                      (f.gradient(0, h) - f.gradient(0, -h)) / (2 * h)])  # fmt: skip
        np.testing.assert_allclose(np.linalg.eigvalsh((H + H.T) / 2), [1, cond], rtol=1e-6)
        assert f.params == {"condition": cond, "angle": angle}
    with pytest.raises(ValueError, match="condition"):
        L.get("quadratic", condition=-1)
    with pytest.raises(TypeError, match="quadratic"):
        L.get("quadratic", kappa=3)


def test_rosenbrock_parameters_move_the_minimum():
    f = L.get("rosenbrock", a=2, b=10)
    assert f.minima == [(2.0, 4.0, 0.0)]
    assert f(2, 4) == 0


def test_register_a_new_function():
    def factory():
        return L.Function2D("my_bowl", lambda x, y: x**2 + y**2, title="Bowl", formula="f(x, y) = x² + y²",
                            latex="$x^2 + y^2$", domain=((-1, 1), (-1, 1)), minima=[(0, 0, 0)])  # fmt: skip

    L.register("my_bowl", factory)
    try:
        t = L.descend("my_bowl", (0.5, 0.5), lr=0.1, steps=500)
        assert t.stop_reason == "tol"
    finally:
        from minidl.landscapes.functions import _REGISTRY

        del _REGISTRY["my_bowl"]

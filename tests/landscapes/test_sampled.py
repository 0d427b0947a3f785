"""Sampled functions: bilinear interpolation, domains, 8- and 16-bit PNGs, the eps warning."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

import minidl as md
from minidl import landscapes as L
from minidl.landscapes import OutsideDomainError, SampledFunction


def _plane_grid(rng, nx=7, ny=5):
    a, b, c = rng.normal(size=3)
    domain = ((-1.5, 2.0), (0.5, 3.0))
    xs, ys = np.linspace(*domain[0], nx), np.linspace(*domain[1], ny)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    return (a, b, c), domain, a + b * X + c * Y


def test_bilinear_is_exact_on_planes():
    rng = np.random.default_rng(0)
    for _ in range(5):
        (a, b, c), domain, values = _plane_grid(rng)
        f = SampledFunction(values, domain)
        xs = np.concatenate([rng.uniform(*domain[0], 200), [domain[0][0], domain[0][1]]])
        ys = np.concatenate([rng.uniform(*domain[1], 200), [domain[1][1], domain[1][0]]])
        np.testing.assert_allclose(f(xs, ys), a + b * xs + c * ys, rtol=0, atol=1e-12)
        assert f(float(xs[0]), float(ys[0])) == pytest.approx(a + b * xs[0] + c * ys[0], abs=1e-12)
        # exact gradients too: central differences (one-sided at the edges) and autograd through the cells
        g = f.numeric_gradient(xs, ys, eps=max(f.spacing))
        np.testing.assert_allclose(g, np.broadcast_to([b, c], g.shape), atol=1e-10)
        tx = md.tensor(xs, dtype=md.float64, requires_grad=True)
        f(tx, md.tensor(ys, dtype=md.float64)).sum().backward()
        np.testing.assert_allclose(tx.grad.numpy(), b, atol=1e-10)


def test_first_axis_is_x_and_nodes_are_reproduced():
    f = L.get("rosenbrock")  # not symmetric in x and y: a transposed grid would show
    xs, ys = np.linspace(-2, 2, 9), np.linspace(-1, 3, 6)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    s = SampledFunction(f(X, Y), ((-2, 2), (-1, 3)))
    np.testing.assert_allclose(s(X, Y), f(X, Y), rtol=1e-13)
    assert s.spacing == pytest.approx((0.5, 0.8))
    # bilinear in each cell: the centre of a cell is the mean of its four corners
    cx, cy = (xs[2] + xs[3]) / 2, (ys[1] + ys[2]) / 2
    assert s(cx, cy) == pytest.approx(np.mean([f(xs[i], ys[j]) for i in (2, 3) for j in (1, 2)]))


def test_outside_the_domain_is_an_error_not_a_wrap():
    s = SampledFunction(np.zeros((3, 4)), ((0, 1), (0, 2)))
    assert s(1.0, 2.0) == 0.0 and s(0.0, 0.0) == 0.0
    for x, y in [(1.01, 1.0), (-0.01, 1.0), (0.5, 2.1), (0.5, -1e-3)]:
        with pytest.raises(OutsideDomainError, match="outside the domain"):
            s(x, y)
    with pytest.raises(OutsideDomainError):
        s(np.array([0.5, 3.0]), np.array([0.5, 0.5]))
    assert issubclass(OutsideDomainError, ValueError)
    assert list(s.contains(np.array([0.5, 1.5]), np.array([1.0, 1.0]))) == [True, False]


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="2-D grid"):
        SampledFunction(np.zeros(5), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="2 x 2"):
        SampledFunction(np.zeros((1, 5)), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="finite"):
        SampledFunction(np.array([[0, np.nan], [0, 0]]), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="x0 < x1"):
        SampledFunction(np.zeros((2, 2)), ((1, 0), (0, 1)))


def test_16_bit_png_round_trip(tmp_path):
    f = L.get("himmelblau")
    path = tmp_path / "him.png"
    back = L.render_image(f, path, (40, 30), domain=f.domain)  # not square: orientation errors would show
    with Image.open(path) as im:
        assert im.mode == "I;16" and im.size == (40, 30)
    assert back.values.shape == (40, 30) and back.bits == 16
    xs, ys = np.linspace(-5, 5, 40), np.linspace(-5, 5, 30)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    Z = f(X, Y)
    step = (Z.max() - Z.min()) / 65535
    np.testing.assert_allclose(back.values, Z, atol=step / 2 + 1e-9)
    # read again with the domain and the range written in the file's text chunks
    assert back.metadata["minidl.function"] == "himmelblau"
    again = SampledFunction.from_image(path, domain=f.domain, value_range=(Z.min(), Z.max()))
    np.testing.assert_allclose(again(1.3, -2.2), f(1.3, -2.2), rtol=0.02)
    # minima recorded in the file come back in the image's coordinates
    assert len(again.minima) == 4
    assert min(abs(m[0] - 3) + abs(m[1] - 2) for m in again.minima) < 1e-9


def test_pixel_coordinates_like_the_starter_code(tmp_path):
    """domain=None: x = column, y = row (row 0 on top), value = grey / (2**bits - 1)."""
    img = np.zeros((6, 9), dtype=np.uint16)  # 6 rows, 9 columns
    img[2, 5] = 65535
    img[0, 0] = 13107  # 0.2 of full scale
    Image.fromarray(img).save(tmp_path / "g16.png")
    f = SampledFunction.from_image(tmp_path / "g16.png")
    assert f.domain == ((0.0, 8.0), (0.0, 5.0)) and f.y_down and f.bits == 16
    assert f(5, 2) == 1.0 and f(0, 0) == pytest.approx(0.2) and f(2, 5) == 0.0
    assert f(5.5, 2) == pytest.approx(0.5)  # halfway to the next column
    img8 = (img // 257).astype(np.uint8)
    Image.fromarray(img8).save(tmp_path / "g8.png")
    f8 = SampledFunction.from_image(tmp_path / "g8.png")
    assert f8.bits == 8 and f8(5, 2) == 1.0 and f8(0, 0) == pytest.approx(51 / 255)
    # with a domain the top row is the largest y, and value_range maps the grey levels
    fd = SampledFunction.from_image(tmp_path / "g16.png", domain=((0, 8), (0, 5)), value_range=(-1, 3))
    assert not fd.y_down
    assert fd(5, 5 - 2) == pytest.approx(3.0) and fd(0, 5) == pytest.approx(-1 + 4 * 0.2)


def test_rendered_image_in_pixel_coordinates_matches_the_function(tmp_path):
    f = L.get("booth")
    L.render_image(f, tmp_path / "booth.png", (21, 21), domain=((-10, 10), (-10, 10)))
    pix = SampledFunction.from_image(tmp_path / "booth.png")
    lo, hi = json.loads(pix.metadata["minidl.value_range"])
    assert (lo, hi) == (0, f(-10, -10))  # the grid's smallest and largest values
    z = f(-10, -10), f(-9, 10)
    # column 0, bottom row (row 20) is (x, y) = (-10, -10); column 1, top row is (-9, 10)
    assert pix(0, 20) * (hi - lo) + lo == pytest.approx(z[0], abs=(hi - lo) / 65535)
    assert pix(1, 0) * (hi - lo) + lo == pytest.approx(z[1], abs=(hi - lo) / 65535)
    # the minimum (1, 3) in pixel coordinates: column 11, row 7
    (mx, my, _), = pix.minima  # fmt: skip
    assert (mx, my) == pytest.approx((11, 7))


def test_log_scale_rendering_keeps_valleys(tmp_path):
    lin = L.render_image("beale", tmp_path / "lin.png", (50, 50), bits=8)
    log = L.render_image("beale", tmp_path / "log.png", (50, 50), scale="log")
    assert np.mean(lin.values < lin.values.max() * 0.01) > 0.5  # linear 8-bit: mostly black
    assert log.values.min() == 0 and log.values.max() == 1 and np.median(log.values) > 0.2
    assert log.metadata["minidl.scale"] == "log"
    auto = L.render_image("beale", tmp_path / "auto.png", (20, 20), scale="auto")
    assert auto.metadata["minidl.scale"] == "log"
    with pytest.raises(ValueError, match="scale"):
        L.render_image("beale", tmp_path / "x.png", scale="cubic")


def test_colour_and_missing_images(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    with pytest.raises(ValueError, match="colour image"):
        SampledFunction.from_image(tmp_path / "red.png")
    grey = np.repeat(np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 10, 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "grey_rgb.png")
    assert SampledFunction.from_image(tmp_path / "grey_rgb.png")(1, 0) == pytest.approx(10 / 255)
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        SampledFunction.from_image(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        SampledFunction.from_image(tmp_path / "junk.png")


def test_warns_when_eps_is_below_the_grid_spacing(tmp_path):
    L.render_image("booth", tmp_path / "b.png", (30, 30))
    f = SampledFunction.from_image(tmp_path / "b.png")
    with pytest.warns(UserWarning, match="smaller than the grid spacing"):
        L.descend(f, (10, 10), steps=2, eps=0.25, lr=1)
    with pytest.warns(UserWarning, match="one pixel"):
        f.numeric_gradient(10, 10, eps=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.descend(f, (10, 10), steps=2, eps=1, lr=1)
        f.numeric_gradient(10, 10)


def test_sampled_functions_have_only_numeric_gradients(tmp_path):
    s = SampledFunction(np.arange(12.0).reshape(3, 4), ((0, 2), (0, 3)))
    with pytest.raises(TypeError, match="no analytic gradient"):
        s.gradient(1, 1)
    with pytest.raises(ValueError, match="gradient='numeric'"):
        L.descend(s, (1, 1), gradient="analytic")
    t = L.descend(s, (1, 1), steps=3, eps=1, lr=0.01)
    assert t.settings["gradient"] == "numeric"


def test_to_image_writes_the_samples(tmp_path):
    s = SampledFunction(np.arange(12.0).reshape(3, 4), ((0, 2), (0, 3)))
    lo, hi = s.to_image(tmp_path / "s.png")
    back = SampledFunction.from_image(tmp_path / "s.png", domain=s.domain, value_range=(lo, hi))
    np.testing.assert_allclose(back.values, s.values, atol=(hi - lo) / 65535)

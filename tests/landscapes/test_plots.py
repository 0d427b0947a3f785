"""Plots write valid, non-blank PNG and GIF files and return their figures."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from minidl import landscapes as L
from minidl.landscapes import SampledFunction


def assert_picture(path, fmt="PNG", min_frames=1):
    with Image.open(path) as im:
        assert im.format == fmt
        assert im.size[0] > 200 and im.size[1] > 200
        frames = getattr(im, "n_frames", 1)
        assert frames >= min_frames
        pixels = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert pixels.var() > 0, "blank image"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    return frames


def texts(fig):
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_title("left"), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return " | ".join(out)


@pytest.fixture(scope="module")
def traces():
    f = L.get("rosenbrock")
    return [L.descend(f, (-1.5, 2.0), "sgd", steps=200, lr=1e-3, momentum=0.9, nesterov=True),
            L.descend(f, (-1.5, 2.0), "adam", steps=200, lr=0.05)]  # fmt: skip


def test_plot_formula_with_paths(tmp_path, traces):
    fig = L.plot("rosenbrock", traces, tmp_path / "r.png", resolution=60, lookahead=True)
    assert isinstance(fig, Figure)
    assert_picture(tmp_path / "r.png")
    words = texts(fig)
    for expected in ("Rosenbrock", "from (-1.5, 2)", "Nesterov lr=0.001 β=0.9: 200 steps", "Adam lr=0.05",
                     "global minimum", "start", "end", "look-ahead", "log-spaced"):  # fmt: skip
        assert expected in words, expected
    ax = fig.axes[0]
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-1.0, 3.0)


def test_plot_without_traces_and_linear_levels(tmp_path):
    fig = L.plot("himmelblau", None, tmp_path / "h.png", resolution=50, log=False)
    assert_picture(tmp_path / "h.png")
    assert "log-spaced" not in texts(fig) and "f(x, y)" in texts(fig)
    assert L.plot("himmelblau", resolution=30) is not None  # no path: nothing written, a figure returned


def test_plot_sampled_function_as_image(tmp_path):
    L.render_image("beale", tmp_path / "beale.png", (80, 60), scale="log")
    img = SampledFunction.from_image(tmp_path / "beale.png")
    t = L.descend(img, (20, 45), "sgd", steps=100, eps=1, lr=10, momentum=0.9, nesterov=True)
    fig = L.plot(img, t, tmp_path / "beale_path.png", lookahead=True)
    assert_picture(tmp_path / "beale_path.png")
    ax = fig.axes[0]
    assert ax.images and ax.get_ylim()[0] > ax.get_ylim()[1]  # the image, row 0 at the top
    assert "column" in ax.get_xlabel() and "row" in ax.get_ylabel() and "65535" in texts(fig)


def test_animate_gif(tmp_path, traces):
    fig = L.animate("rosenbrock", traces, tmp_path / "r.gif", max_frames=12, resolution=50)
    assert isinstance(fig, Figure)
    assert assert_picture(tmp_path / "r.gif", "GIF", min_frames=10) <= 12
    with Image.open(tmp_path / "r.gif") as im:
        first = np.asarray(im.convert("RGB"), dtype=float)
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"), dtype=float)
    assert np.abs(first - last).sum() > 0  # the paths grow


@pytest.mark.parametrize("layout", ["overlay", "side"])
def test_compare(tmp_path, layout):
    fig = L.compare("himmelblau", (0.0, 0.0), ["gd", "momentum", "nesterov", ("Adam", dict(optimizer="adam", lr=0.1))],
                    tmp_path / "c.png", lr=0.01, steps=80, layout=layout, resolution=40)  # fmt: skip
    assert_picture(tmp_path / "c.png")
    assert [t.label for t in fig.traces] == ["GD lr=0.01", "Momentum lr=0.01 β=0.9", "Nesterov lr=0.01 β=0.9", "Adam"]
    words = texts(fig)
    assert "Loss per step" in words and "f* = 0" in words
    with pytest.raises(ValueError, match="need lr"):
        L.compare("himmelblau", (0, 0), ["gd"])
    with pytest.raises(ValueError, match="unknown preset"):
        L.compare("himmelblau", (0, 0), ["adamm"], lr=0.1)


def test_basins(tmp_path):
    fig = L.basins("himmelblau", dict(optimizer="sgd", lr=0.01, momentum=0.9), tmp_path / "b.png", resolution=14,
                   steps=150, progress=False)  # fmt: skip
    assert_picture(tmp_path / "b.png")
    ends = fig.endpoints
    assert ends.ends.shape == (196, 2)
    words = texts(fig)
    assert "basins of attraction" in words and "→ minimum (3, 2)" in words
    # the four minima each attract some starts
    assert words.count("→ minimum") == 4


def test_basins_of_a_sampled_function_without_minima(tmp_path):
    s = SampledFunction(np.add.outer(np.linspace(-1, 1, 9) ** 2, np.linspace(-1, 1, 7) ** 2), ((-1, 1), (-1, 1)))
    fig = L.basins(s, "gd", tmp_path / "s.png", lr=0.2, resolution=8, steps=30, eps=0.25, progress=False)
    assert_picture(tmp_path / "s.png")
    assert "f at the end of the run" in texts(fig)


def test_sweep(tmp_path):
    fig = L.sweep("quadratic", (3.0, 2.0), [0.01, 0.1, 0.25], [0.0, 0.9], tmp_path / "s.png", steps=150,
                  progress=False, nesterov=True)  # fmt: skip
    assert_picture(tmp_path / "s.png")
    grid = fig.traces
    assert len(grid) == 3 and len(grid[0]) == 2
    assert grid[2][0].stop_reason == "left domain"  # GD with lr 0.25 > 2 / 10 leaves the bowl
    assert grid[1][1].settings["nesterov"] is True and grid[1][0].settings["nesterov"] is False
    words = texts(fig)
    assert "learning rate" in words and "left\ndomain" in words and "Steps to converge" in words
    with pytest.raises(ValueError, match="no momentum"):
        L.sweep("quadratic", (3.0, 2.0), [0.1], [0.0], optimizer="adagrad")


def test_gallery(tmp_path):
    L.gallery(tmp_path / "g.png", ["rastrigin", "eggholder", "quadratic"], resolution=40)
    assert_picture(tmp_path / "g.png")

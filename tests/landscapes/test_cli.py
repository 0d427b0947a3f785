"""``python -m minidl.landscapes``: both command lines, outputs, and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from minidl import landscapes as L
from minidl.landscapes.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def picture_ok(path, fmt="PNG"):
    with Image.open(path) as im:
        assert im.format == fmt
        assert np.asarray(im.convert("RGB"), dtype=float).var() > 0


def run_cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def fails(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main(list(args))
    assert e.value.code != 0
    return capsys.readouterr().err


def test_list(capsys):
    code, out, _ = run_cli(capsys, "--list")
    assert code == 0
    for name in L.names():
        assert name in out
    assert "0.292578632" in out and "-959.6406627" in out and "(512, 404.232)" in out


def test_issue_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "--function", "schaffer_n2", "--optimizer", "sgd", "--lr", "0.01", "--momentum",
                           "0.9", "--nesterov", "--start", "1.5", "1.0", "--steps", "300", "--out", "path.png",
                           "--csv", "path.csv")  # fmt: skip
    assert code == 0
    assert "Nesterov lr=0.01 β=0.9 from (1.5, 1), autograd" in out and "wrote path.png" in out
    picture_ok(tmp_path / "path.png")
    assert (tmp_path / "path.csv").read_text().count("\n") > 300


def test_assignment_command_line_on_an_image(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "--function", "beale", "--render", "fn/beale.png", "--size", "160", "160")
    assert code == 0 and "16-bit grayscale" in out and "log grey levels" in out
    code, out, err = run_cli(capsys, "fn/beale.png", "60", "120", "--eps", "1", "--learning_rate", "10", "--beta",
                             "0.9", "--nesterov", "--steps", "400", "--gif", "beale.gif")  # fmt: skip
    assert code == 0, err
    assert "pixel coordinates (x = column, y = row)" in out
    assert "Nesterov lr=10 β=0.9 from (60, 120), central differences, eps=1" in out
    assert "nearest global minimum" in out
    picture_ok(tmp_path / "beale_descent.png")
    picture_ok(tmp_path / "beale.gif", "GIF")
    assert err == ""  # eps = 1 pixel: no warning


def test_image_on_a_domain_and_compare(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    L.render_image("himmelblau", "h.png", (60, 60))
    code, out, err = run_cli(capsys, "--image", "h.png", "--domain", "-5", "5", "-5", "5", "--start", "0", "0",
                             "--lr", "0.01", "--compare", "gd", "nesterov", "--steps", "200")  # fmt: skip
    assert code == 0, err
    assert out.count("from (0, 0)") == 2 and "eps=0.169492" in out
    picture_ok(tmp_path / "h_compare.png")


def test_eps_below_the_pixel_spacing_warns(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    L.render_image("booth", "b.png", (40, 40))
    code, _, err = run_cli(capsys, "b.png", "10", "10", "--eps", "0.1", "--lr", "10", "--steps", "20")
    assert code == 0 and "warning: eps=0.1 is smaller than the grid spacing" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--function", "nope", "--start", "0", "0"], "unknown function 'nope'"),
        (["nope.png", "1", "2"], "no such image file: nope.png"),
        (["--function", "booth", "--start", "0", "0", "--optimizer", "sdg"], "invalid choice: 'sdg'"),
        (["--function", "booth", "--start", "0", "0", "--nesterov"], "--nesterov needs a momentum"),
        (["--function", "booth", "--start", "0", "0", "--lr", "x"], "invalid float value: 'x'"),
        (["--function", "booth", "1", "2"], "give the function once"),
        (["booth", "1"], "two numbers X Y"),
        (["booth", "1", "2", "--start", "1", "2"], "give the start once"),
        (["--function", "booth", "--start", "50", "0"], "outside the domain"),
        (["--function", "booth", "--optimizer", "adam", "--beta", "0.9"], "use --betas"),
        (["--function", "booth", "--domain", "0", "1", "0", "1"], "apply to images"),
        (["--function", "quadratic", "--param", "kappa"], "NAME=NUMBER"),
        ([], "no function"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_message(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code != 0
    assert message in err


def test_module_entry_point_and_help():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-m", "minidl.landscapes", "--help"], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=60)  # fmt: skip
    assert r.returncode == 0
    assert "X is the column and Y the row" in r.stdout and "--learning_rate" in r.stdout and "--beta" in r.stdout
    r = subprocess.run([sys.executable, "-m", "minidl.landscapes", "--function", "nope"], capture_output=True,
                       text=True, env=env, cwd=REPO, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "unknown function 'nope'" in r.stderr

"""The README's first command runs the demo: the CNN demo (quick form) and the autograd demo."""

from PIL import Image

from minidl import demo


def test_cnn_demo_trains_and_writes_its_figures(tmp_path, capsys):
    acc = demo.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "test accuracy" in out and 0.0 <= acc <= 1.0
    for name in ("curves.png", "filters.png", "schaffer_descent.png"):
        with Image.open(tmp_path / name) as img:
            assert img.size[0] > 300
    assert (tmp_path / "demo_cnn.npz").stat().st_size > 10_000


def test_autograd_demo_learns_the_spirals(capsys):
    acc = demo.main(["--autograd", "--steps", "3000"])
    assert acc > 0.95
    assert "accuracy" in capsys.readouterr().out

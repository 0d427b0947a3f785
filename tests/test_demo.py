"""The README's first command runs the demo; it must learn the spirals."""

from minidl import demo


def test_demo_learns_the_spirals(capsys):
    acc = demo.main(["--steps", "3000"])
    assert acc > 0.95
    assert "accuracy" in capsys.readouterr().out

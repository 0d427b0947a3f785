"""The coursework exercise end to end, small: images, GD / momentum / Nesterov, paths, findings."""

from __future__ import annotations

import numpy as np
from PIL import Image

from minidl.landscapes import demo


def test_exercise_demo(tmp_path, capsys):
    result = demo.run(tmp_path, size=90, steps=600, images=["beale", "styblinski_tang"],
                      formulas=["rosenbrock", "himmelblau"], sweep_schaffer=True, verbose=True)  # fmt: skip
    out = capsys.readouterr().out
    assert "Nesterov β=0.9" in out and "wrote" in out
    for path in result["files"]:
        with Image.open(path) as im:
            assert np.asarray(im.convert("L"), dtype=float).var() > 0, path
    with Image.open(tmp_path / "fn" / "beale.png") as im:
        assert im.mode == "I;16" and im.size == (90, 90)
    runs = {(r["function"], r["config"]): r for r in result["runs"]}
    assert len(runs) == 12
    # the coursework's findings: momentum and Nesterov (beta 0.9) get much closer than plain GD in the same
    # number of steps on the smooth functions, and reach the minimum
    for name in ("styblinski_tang.png", "rosenbrock"):
        gd, mom, nes = (runs[(name, c)] for c in ("GD", "Momentum β=0.9", "Nesterov β=0.9"))
        assert nes["distance"] < gd["distance"] and mom["distance"] < gd["distance"]
        assert nes["distance"] < (1.5 if name.endswith(".png") else 0.1)
    assert runs[("himmelblau", "Nesterov β=0.9")]["stop"] == "tol"

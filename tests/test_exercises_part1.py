"""Exercises 1, 2, 3 and 13 run with --quick and write readable (non-blank) figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "ex01_convolution_by_hand.py": ["convolution_by_hand.png"],
    "ex02_output_sizes_and_parameters.py": ["lenet_parameters.png"],
    "ex03_gradient_descent_2d.py": ["schaffer_n2_paths.png", "schaffer_n4_paths.png", "beale_paths.png",
                                    "schaffer_n2_sweep.png", "fn/beale.png", "beale_nesterov.gif"],
    "ex13_detection_metrics.py": ["nms_before_after.png", "map_iou_thresholds.png"],
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_exercise_runs_quick(script: str, tmp_path: Path) -> None:
    from PIL import Image

    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(ROOT / "exercises" / script), "--quick", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(tmp_path) in proc.stdout  # it says where the figures went
    for name in CASES[script]:
        path = tmp_path / name
        assert path.is_file(), f"{script} did not write {name}"
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB") if name.endswith(".gif") else im).astype(np.float64)
        assert pixels.std() > 5 or (name.startswith("fn/") and pixels.std() > 0), f"{name} looks blank"

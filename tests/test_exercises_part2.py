"""Exercises 4, 5, 8 and 9 run with --quick and write readable (non-blank) figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "ex04_course_cnn_weight_decay.py": ["course_cnn_curves.png", "augmentation_examples.png"],
    "ex05_lenet_model1_model2.py": ["lenet_model1_model2_curves.png"],
    "ex08_cifar_inception_residual.py": ["cifar_blocks_curves.png"],
    "ex09_binary_classifier_roc.py": ["roc_curve.png", "binary_curves.png"],
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
            pixels = np.asarray(im).astype(np.float64)
        assert pixels.std() > 5, f"{name} looks blank"

"""Every exercise runs with --quick (as CI does) and writes readable, non-blank figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: script -> the figures its --quick run must write into --out
CASES = {
    'ex01_convolution_by_hand.py': ['convolution_by_hand.png'],
    'ex02_output_sizes_and_parameters.py': ['lenet_parameters.png'],
        'ex03_gradient_descent_2d.py': [
        'schaffer_n2_paths.png',
        'schaffer_n4_paths.png',
        'beale_paths.png',
        'schaffer_n2_sweep.png',
        'fn/beale.png',
        'beale_nesterov.gif',
    ],
    'ex04_course_cnn_weight_decay.py': ['course_cnn_curves.png', 'augmentation_examples.png'],
    'ex05_lenet_model1_model2.py': ['lenet_model1_model2_curves.png'],
    'ex06_transfer_learning.py': ['transfer_curves.png', 'transfer_accuracy.png'],
        'ex07_filters_and_activations.py': [
        'filters_untrained.png',
        'filters_rgb.png',
        'filters_channels.png',
        'filters_last_conv.png',
        'activations_first_conv.png',
        'activations_last_conv.png',
    ],
    'ex08_cifar_inception_residual.py': ['cifar_blocks_curves.png'],
    'ex09_binary_classifier_roc.py': ['roc_curve.png', 'binary_curves.png'],
    'ex10_finetune_alexnet_vgg.py': ['finetune_alexnet_vgg.png'],
        'ex11_gradient_ascent_and_grad_cam.py': [
        'ascent_first_conv.png',
        'ascent_last_conv.png',
        'grad_cam_grid.png',
        'grad_cam_chelsea.png',
    ],
    'ex12_autoencoders.py': ['reconstructions.png', 'training_curves.png'],
    'ex13_detection_metrics.py': ['nms_before_after.png', 'map_iou_thresholds.png'],
}  # fmt: skip


def test_every_exercise_is_listed():
    scripts = sorted(p.name for p in (ROOT / "exercises").glob("ex*.py"))
    assert scripts == sorted(CASES)
    readme = (ROOT / "exercises" / "README.md").read_text()
    assert all(s in readme for s in scripts), "exercises/README.md must index every exercise"


@pytest.mark.parametrize("script", sorted(CASES))
def test_exercise_runs_quick(script: str, tmp_path: Path) -> None:
    from PIL import Image

    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    out = tmp_path / "out"
    # run from a scratch folder, so nothing an earlier full run left in exercises/out is picked up
    proc = subprocess.run([sys.executable, str(ROOT / "exercises" / script), "--quick", "--out", str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert str(out) in proc.stdout  # it says where the figures went
    for name in CASES[script]:
        path = out / name
        assert path.is_file(), f"{script} did not write {name}"
        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB") if name.endswith(".gif") else im).astype(np.float64)
        assert pixels.std() > 5 or (name.startswith("fn/") and pixels.std() > 0), f"{name} looks blank"


def test_exercise7_shows_exercise6s_resnet(tmp_path: Path) -> None:
    """Exercise 6 saves its pretrained ResNet where exercise 7 (same --out) finds it and draws it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    out = tmp_path / "out"
    for script in ("ex06_transfer_learning.py", "ex07_filters_and_activations.py"):
        proc = subprocess.run([sys.executable, str(ROOT / "exercises" / script), "--quick", "--out", str(out)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("resnet_filters_rgb.png", "resnet_activations_first.png", "resnet_activations_last.png"):
        assert (out / name).is_file(), f"exercise 7 did not draw exercise 6's ResNet ({name})"

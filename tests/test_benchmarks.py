"""Every benchmark script runs (``--quick``), writes its JSON and markdown, and minidl agrees with torch in it.

Timings are not checked (quick runs are too short, and CI machines are shared): what is
checked is that each script works end to end, that its numerical checks (minidl's
numbers equal torch's, computed from the same weights and inputs) all pass and are
recorded, and that the output files have the expected structure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def run_script(name: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / name), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


def run_ok(name: str, out: Path, *args: str) -> None:
    """Run ``name --quick --out out *args``; it must exit 0 (the callers read the files it wrote)."""
    proc = run_script(name, "--quick", "--out", str(out), *args)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def assert_checks_pass(result: dict[str, Any]) -> None:
    assert result["checks"], "no numerical checks were recorded"
    failed = [c for c in result["checks"] if not c["ok"]]
    assert not failed, failed
    assert result["ok"] is True


def cuda_usable() -> bool:
    """Both minidl (through CuPy) and torch can use a CUDA device: ``--device cuda`` can run."""
    import torch

    from minidl.backend import cupy_or_none

    cp = cupy_or_none()
    try:
        has_cupy_device = cp is not None and cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        has_cupy_device = False
    return has_cupy_device and torch.cuda.is_available()


def test_bench_autograd_quick(tmp_path: Path) -> None:
    run_ok("bench_autograd.py", tmp_path)
    result = read_json(tmp_path / "autograd.json")
    assert_checks_pass(result)
    assert result["settings"]["quick"] is True
    assert result["machine"]["threads"] == 2
    assert result["per_op"] and all(r["ratio"] > 0 for r in result["per_op"])
    assert {r["part"] for r in result["chain"]["rows"]} >= {"build", "backward"}
    assert result["mlp"]
    assert (tmp_path / "autograd.md").read_text(encoding="utf-8").startswith("# minidl vs torch")


def test_bench_layers_quick(tmp_path: Path) -> None:
    run_ok("bench_layers.py", tmp_path, "--threads", "1")
    result = read_json(tmp_path / "layers.json")
    assert_checks_pass(result)
    assert result["meta"]["quick"] is True and result["meta"]["threads"] == 1
    layers = [r["layer"] for r in result["rows"]]
    for kind in ("Conv2d", "MaxPool2d", "BatchNorm2d", "Dropout", "CrossEntropyLoss"):
        assert any(name.startswith(kind) for name in layers), (kind, layers)
    # every non-dropout layer is checked on its output and its input gradient
    checked = {c["check"].split(":")[0] for c in result["checks"]}
    assert checked == set(layers)
    assert all(r["minidl_fwdbwd_ms"] > 0 and r["torch_fwdbwd_ms"] > 0 for r in result["rows"])
    assert (tmp_path / "layers.md").read_text(encoding="utf-8").startswith("# Layer timings, minidl vs torch")


def test_bench_conv_quick(tmp_path: Path) -> None:
    run_ok("bench_conv.py", tmp_path, "--threads", "1")
    result = read_json(tmp_path / "conv.json")
    assert_checks_pass(result)
    meta, rows = result["meta"], result["rows"]
    assert meta["quick"] is True and meta["threads"] == 1
    assert len(rows) == 9
    assert [r["c"] for r in rows[:5]] == [3, 32, 64, 128, 256]  # the course CNN's five convs first
    assert {(r["stride"], r["dilation"], r["groups"], r["k"]) for r in rows[5:]} == {
        (2, 1, 1, 3), (1, 2, 1, 3), (1, 1, 4, 3), (4, 1, 1, 11)}  # fmt: skip
    for r in rows:
        g = r["gemm"]  # the floor's products have the layer's shapes: K = C/G*k*k, L = N*oh*ow
        assert g["G"] == r["groups"] and g["O/G"] * g["G"] == r["o"]
        assert g["K"] == r["c"] // r["groups"] * r["k"] ** 2 and g["L"] == r["batch"] * r["out_size"] ** 2
        for part in ("fwd", "fwdbwd"):
            for lib in ("minidl", "torch", "floor"):
                assert r[f"{lib}_{part}_ms"] > 0 and r[f"{lib}_{part}_gflops"] > 0
            assert r[f"{part}_ratio_floor"] == pytest.approx(r[f"minidl_{part}_ms"] / r[f"floor_{part}_ms"])
        # output, dx, dw, db of every layer
        assert {c["check"] for c in result["checks"] if c["check"].startswith(r["layer"] + ":")} == {
            f"{r['layer']}: {w}" for w in ("output", "dx", "dw", "db")}  # fmt: skip
    text = (tmp_path / "conv.md").read_text(encoding="utf-8")
    assert text.startswith("# Conv layers, minidl vs torch vs the GEMM floor")
    assert "36/36 passed" in text


def test_bench_train_step_quick(tmp_path: Path) -> None:
    # VGG-11 (129M parameters) is left to the full run: its set-up alone takes seconds; its twin is checked below
    models = ("course_cnn", "lenet", "resnet18")
    # one thread: on a busy machine, two OpenMP threads per process spin against each other (timings are not checked)
    run_ok("bench_train_step.py", tmp_path, "--models", ",".join(models), "--threads", "1")
    result = read_json(tmp_path / "train_step.json")
    assert_checks_pass(result)
    assert tuple(result["models"]) == models
    assert result["meta"]["device"] == "cpu" and result["meta"]["quick"] is True and result["meta"]["threads"] == 1
    for name, r in result["models"].items():
        # the same weights and batch give the same losses: eval loss, and the first two training steps
        kinds = {c["check"].split(": ", 1)[1] for c in r["checks"]}
        assert {"eval-mode loss of the initial weights", "loss of training step 1", "loss of training step 2"} <= kinds
        for lib in ("minidl", "torch"):
            assert r[lib]["first_step_s"] > 0 and r[lib]["step_ms"] > 0 and r[lib]["peak_rss_mb"] > 0
            assert len(r[lib]["losses"]) == result["meta"]["steps"] + 1
            assert len(r[lib]["step_times_ms"]) == result["meta"]["steps"]
        # the ratio is the median of the rounds' ratios (the libraries take turns), inside its quartiles
        rounds = np.asarray(r["minidl"]["step_times_ms"]) / np.asarray(r["torch"]["step_times_ms"])
        assert r["ratios"]["step"] == pytest.approx(float(np.median(rounds)))
        q = r["ratios"]["step_quartiles"]
        assert q["q1"] <= r["ratios"]["step"] <= q["q3"]
        assert r["batch"] == {"course_cnn": 8, "lenet": 8, "resnet18": 4}[name]
    text = (tmp_path / "train_step.md").read_text(encoding="utf-8")
    assert text.startswith("# Training step, minidl vs torch (CPU, 1 thread)")
    assert "| course CNN (COURSEWORK §2), 3x32x32 | 8 |" in text


def test_twins_match_minidl_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each torch twin has the minidl model's state-dict keys and shapes (built on torch's meta device: no init)."""
    import torch

    import minidl as md

    monkeypatch.syspath_prepend(str(BENCH))
    from _models import MODELS

    md.manual_seed(0)
    for spec in MODELS.values():
        with torch.device("meta"):
            twin = spec.make_torch()
        ours = {k: tuple(v.shape) for k, v in spec.make_minidl().state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
        assert list(ours) == list(theirs), (spec.name, set(ours) ^ set(theirs))
        assert ours == theirs, spec.name


def test_twin_copy_weights_reports_mismatches(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    monkeypatch.syspath_prepend(str(BENCH))
    from _twins import copy_weights, torch_lenet

    state = {k: v.detach().numpy() for k, v in torch_lenet(10).state_dict().items()}
    state["features.0.weight"] = np.zeros((1, 2, 3, 4), np.float32)
    del state["classifier.2.bias"]
    state["extra"] = np.zeros(1, np.float32)
    with pytest.raises(KeyError) as err:
        copy_weights(state, torch_lenet(10))
    message = str(err.value)
    assert "features.0.weight: shape (1, 2, 3, 4)" in message
    assert "missing key 'classifier.2.bias'" in message and "unexpected key 'extra'" in message


@pytest.mark.skipif(cuda_usable(), reason="a GPU is here: the cuda run is tested by test_bench_train_step_cuda")
def test_bench_train_step_cuda_without_gpu_fails_clearly(tmp_path: Path) -> None:
    proc = run_script("bench_train_step.py", "--device", "cuda", "--quick", "--models", "course_cnn",
                      "--out", str(tmp_path), timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--device cuda: no usable GPU here" in proc.stderr
    assert "CuPy" in proc.stderr or "torch" in proc.stderr
    assert not list(tmp_path.iterdir()), "nothing is written when the run cannot happen"


@pytest.mark.gpu
def test_bench_train_step_cuda(tmp_path: Path) -> None:
    if not cuda_usable():
        pytest.skip("CuPy sees a GPU but this torch build has no CUDA: nothing to compare with")
    run_ok("bench_train_step.py", tmp_path, "--device", "cuda", "--models", "course_cnn")
    result = read_json(tmp_path / "train_step_cuda.json")
    assert_checks_pass(result)
    assert result["meta"]["device"] == "cuda" and result["meta"]["device_name"]
    r = result["models"]["course_cnn"]
    assert r["minidl"]["gpu_peak_mb"] > 0 and r["torch"]["gpu_peak_mb"] > 0
    text = (tmp_path / "train_step_cuda.md").read_text(encoding="utf-8")
    assert text.startswith("# Training step, minidl vs torch (cuda")

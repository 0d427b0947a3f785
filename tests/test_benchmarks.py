"""The autograd benchmark runs, and minidl and torch agree on what it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_autograd.py"


def test_bench_autograd_quick(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"

    result = json.loads((tmp_path / "autograd.json").read_text(encoding="utf-8"))
    assert result["ok"] is True
    assert result["settings"]["quick"] is True
    assert result["machine"]["threads"] == 2
    assert result["per_op"] and all(r["ratio"] > 0 for r in result["per_op"])
    assert {r["part"] for r in result["chain"]["rows"]} >= {"build", "backward"}
    assert result["mlp"]
    assert all(c["ok"] for c in result["checks"])
    assert (tmp_path / "autograd.md").read_text(encoding="utf-8").startswith("# minidl vs torch")

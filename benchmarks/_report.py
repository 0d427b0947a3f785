"""Writing a benchmark's results: ``<stem>.json`` and ``<stem>.md`` in the output folder, and the
summary of its numerical checks (minidl vs torch) on the terminal. Shared by the bench_* scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_DETAILS = ("max_abs_diff", "minidl", "torch", "note")


def write_results(out: Path, stem: str, result: dict[str, Any], markdown: str, elapsed_s: float | None = None) -> int:
    """Write the JSON and markdown, print how many checks passed (and each failure); the exit code: 0 if all did."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    checks = result.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    took = f" ({elapsed_s:.1f} s)" if elapsed_s is not None else ""
    print(f"numerical checks: {len(checks) - len(failed)}/{len(checks)} passed; wrote {out / stem}.json/.md{took}")
    for c in failed:
        details = ", ".join(f"{k} {c[k]}" for k in _DETAILS if k in c)
        print(f"  FAILED: {c['check']}: {details}", file=sys.stderr)
    return 0 if not failed else 1

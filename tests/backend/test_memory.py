"""minidl.backend.memory: freed memory kept for reuse (glibc's mallopt), and its switch."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from minidl.backend import memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# allocate, touch and free a 16 MB array 20 times: minor page faults per round (each new page is one;
# memory the heap kept is none). Run in a fresh process: malloc's settings are the process'.
PROBE = """
import json, resource, numpy as np
import minidl
from minidl.backend import memory
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
a = np.ones(4 * 2**20, np.float32); del a   # the first round may map the heap
f0 = faults()
for _ in range(20):
    a = np.ones(4 * 2**20, np.float32)
    del a
print(json.dumps({"kept": memory.kept(), "faults_per_round": (faults() - f0) / 20}))
"""


def probe(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt's thresholds are glibc's")
def test_import_keeps_freed_memory_and_reuses_it() -> None:
    r = probe({"MINIDL_KEEP_FREED_MB": ""})
    assert r["kept"] == {"nbytes": memory.DEFAULT_KEEP, "largest_block": memory.DEFAULT_LARGEST_BLOCK}
    # a 16 MB array is 4096 pages (8 huge ones): served again from the kept heap, it faults none of them
    # (glibc's own settings: 23.5 faults a round here, with transparent huge pages)
    assert r["faults_per_round"] < 1


@pytest.mark.skipif(not GLIBC, reason="mallopt's thresholds are glibc's")
def test_environment_sets_the_size_or_turns_it_off() -> None:
    assert probe({"MINIDL_KEEP_FREED_MB": "0"})["kept"] == {}
    assert probe({"MINIDL_KEEP_FREED_MB": "32"})["kept"]["nbytes"] == 32 * 2**20


def test_bad_environment_fails_at_import() -> None:
    for bad in ("lots", "-1"):
        proc = subprocess.run([sys.executable, "-c", "import minidl"], capture_output=True, text=True,
                              env={**os.environ, "MINIDL_KEEP_FREED_MB": bad})  # fmt: skip
        assert proc.returncode != 0 and "MINIDL_KEEP_FREED_MB" in proc.stderr


@pytest.mark.parametrize("kwargs", [{"nbytes": -1}, {"largest_block": -5}, {"nbytes": 1.5}, {"nbytes": True}])
def test_bad_sizes_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="keep_freed_memory"):
        memory.keep_freed_memory(**kwargs)


def test_off_and_on_again() -> None:
    before = memory.kept()
    try:
        applied = memory.keep_freed_memory(0)
        assert memory.kept() == {}
        assert applied == GLIBC
        assert memory.keep_freed_memory(128 * 2**20, 32 * 2**20) == GLIBC
        assert memory.kept() == ({"nbytes": 128 * 2**20, "largest_block": 32 * 2**20} if GLIBC else {})
    finally:
        if before:
            memory.keep_freed_memory(before["nbytes"], before["largest_block"])

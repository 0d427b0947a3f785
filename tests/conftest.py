"""Test configuration: hypothesis profiles and the GPU marker.

Profiles: ``ci`` (few examples: the whole suite stays well under 10 minutes on 2 cores),
``dev`` (the default locally) and ``thorough`` (many examples). Choose one with
``HYPOTHESIS_PROFILE=thorough``; CI (``CI=true``) uses ``ci``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=15, derandomize=True, **_common)
settings.register_profile("dev", max_examples=30, **_common)
settings.register_profile("thorough", max_examples=300, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests skip without a CUDA device, and fail instead when MINIDL_REQUIRE_GPU=1."""
    from minidl.backend import cupy_or_none

    cp = cupy_or_none()
    has_gpu = False
    if cp is not None:
        try:
            has_gpu = cp.cuda.runtime.getDeviceCount() > 0
        except Exception:
            has_gpu = False
    if has_gpu or os.environ.get("MINIDL_REQUIRE_GPU") == "1":
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (set MINIDL_REQUIRE_GPU=1 to make this fail)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

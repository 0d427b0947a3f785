"""Tests that need a CUDA device (marker ``gpu``): skipped without one, failing when MINIDL_REQUIRE_GPU=1."""

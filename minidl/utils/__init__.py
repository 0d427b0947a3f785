"""Utilities outside the core engine (``minidl.utils.torch_interop``: torch checkpoints <-> .npz)."""

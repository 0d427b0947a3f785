"""Error types. Each is also the builtin error torch raises in the same situation, so
``pytest.raises(RuntimeError)`` written against torch catches minidl's errors too."""

from __future__ import annotations

__all__ = ["DimensionError", "ShapeError", "dim_error", "normalize_dim", "normalize_dims"]


class ShapeError(RuntimeError, ValueError):
    """Shapes that do not fit an op (torch raises RuntimeError; numpy users expect ValueError)."""


class DimensionError(IndexError, ValueError):
    """A dimension index outside ``[-ndim, ndim - 1]`` (torch raises IndexError)."""


def dim_error(op: str, dim: int, ndim: int) -> DimensionError:
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    return DimensionError(
        f"{op}: Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
    )


def normalize_dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative axis of a tensor with ``ndim`` dims (a 0-d tensor takes 0/-1)."""
    n = max(ndim, 1)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise dim_error(op, dim, ndim)
    return dim % n


def normalize_dims(op: str, dim: int | tuple[int, ...] | list[int] | None, ndim: int) -> tuple[int, ...]:
    """``dim`` (None = all, an int, or a sequence) as sorted non-negative axes, no repeats."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted(normalize_dim(op, d, ndim) for d in dim))
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
    if ndim == 0:
        return ()
    return axes

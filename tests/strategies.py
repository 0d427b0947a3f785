"""Hypothesis strategies shared by the op tests.

Values come from a numpy generator seeded by hypothesis (fast, and the shrinking of
shapes and parameters still works); shapes are drawn by hypothesis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

float_dtypes = st.sampled_from([np.float32, np.float64])


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5) -> st.SearchStrategy:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


@st.composite
def arrays(
    draw: Any,
    shape: Any = None,
    dtype: Any = None,
    low: float = -3.0,
    high: float = 3.0,
    distinct: bool = False,
) -> np.ndarray:
    """A float array with values in [low, high); ``distinct`` avoids ties (max, sort)."""
    shape = draw(shapes()) if shape is None else shape
    dtype = draw(float_dtypes) if dtype is None else dtype
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if distinct:
        n = int(np.prod(shape))
        vals = rng.permutation(n) / max(n, 1) * (high - low) + low
        return (vals + rng.uniform(0, 0.5 / max(n, 1), n)).reshape(shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


@st.composite
def broadcastable_pair(
    draw: Any, dtype: Any = None, low: float = -3.0, high: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays whose shapes broadcast together (size-1 dims and missing leading dims)."""
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4))
    dtype = draw(float_dtypes) if dtype is None else dtype
    a = draw(arrays(shape=bs.input_shapes[0], dtype=dtype, low=low, high=high))
    b = draw(arrays(shape=bs.input_shapes[1], dtype=dtype, low=low, high=high))
    return a, b


@st.composite
def array_and_dim(draw: Any, min_dims: int = 1, **kwargs: Any) -> tuple[np.ndarray, int]:
    """An array and a valid dim of it (negative dims included)."""
    a = draw(arrays(shape=draw(shapes(min_dims=min_dims)), **kwargs))
    dim = draw(st.integers(-a.ndim, a.ndim - 1))
    return a, dim

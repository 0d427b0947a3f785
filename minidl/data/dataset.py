"""Datasets with ``torch.utils.data``'s names: ``Dataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``random_split``, and the iterable kind.

A map-style dataset answers ``len(ds)`` and ``ds[i]`` (one sample). It may also answer
``ds.__getitems__(indices)`` — torch's batched-fetch protocol — with the samples of a whole
batch at once; the :class:`~minidl.data.DataLoader` then calls it once per batch instead of
calling ``ds[i]`` for every index.

Array-backed datasets (:class:`TensorDataset`, and :class:`Subset` / :class:`ConcatDataset`
of them) answer ``__getitems__`` with a :class:`BatchedSamples`: one fancy-indexing gather
per array (``x[indices]``, shape ``(B, ...)``), no per-sample Python loop. A
``BatchedSamples`` still behaves as the sequence of ``B`` samples torch's protocol promises
(``len``, indexing, iteration), so a custom ``collate_fn`` works unchanged, while
:func:`~minidl.data.default_collate` turns it into the batch tensors directly. Your own
array-backed dataset gets the same fast path by returning
``BatchedSamples((x[indices], y[indices]))`` from its ``__getitems__``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from minidl import random as _random
from minidl.backend import array_module
from minidl.tensor import Tensor

__all__ = [
    "BatchedSamples",
    "ChainDataset",
    "ConcatDataset",
    "Dataset",
    "IterableDataset",
    "SizeMismatchError",
    "Subset",
    "TensorDataset",
    "random_split",
]


class SizeMismatchError(AssertionError, ValueError):
    """Arrays whose first dimensions differ (torch raises AssertionError, numpy users expect ValueError)."""


# ---------------------------------------------------------------------------- batched samples
def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _index_array(indices: Any, length: int, who: str) -> np.ndarray:
    """``indices`` as a 1-D int64 array, negatives wrapped, every index checked against ``length``."""
    idx = np.asarray(indices)
    if idx.dtype == object or (idx.size and idx.dtype.kind not in "iu"):
        raise TypeError(f"{who}: indices must be integers, got {np.asarray(indices).dtype} ({indices!r:.60})")
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -length or hi >= length:
            bad = lo if lo < -length else hi
            raise IndexError(f"{who}: index {bad} is out of range for a dataset of size {length}")
        if lo < 0:
            idx = np.where(idx < 0, idx + length, idx)
    return idx


def _take(struct: Any, index: Any) -> Any:
    """Index every array/tensor leaf of a (nested tuple/list/dict) batch with ``index``."""
    if isinstance(struct, Tensor):
        if struct.requires_grad:
            return struct[index]
        data = struct._data
        if not isinstance(index, (int, np.integer)):
            index = array_module(data).asarray(index)
        return Tensor._make(data[index])
    if isinstance(struct, np.ndarray):
        return struct[index]
    if _is_namedtuple(struct):
        return type(struct)(*(_take(s, index) for s in struct))
    if isinstance(struct, (tuple, list)):
        return type(struct)(_take(s, index) for s in struct)
    if isinstance(struct, Mapping):
        return {k: _take(v, index) for k, v in struct.items()}
    raise TypeError(
        f"BatchedSamples: leaves must be tensors or numpy arrays with the batch on dim 0, got {type(struct).__name__}"
    )


def _leading_size(struct: Any) -> int | None:
    if isinstance(struct, (Tensor, np.ndarray)):
        return int(struct.shape[0]) if struct.ndim else None
    if isinstance(struct, (tuple, list)):
        for s in struct:
            n = _leading_size(s)
            if n is not None:
                return n
    if isinstance(struct, Mapping):
        for s in struct.values():
            n = _leading_size(s)
            if n is not None:
                return n
    return None


def _concat(structs: Sequence[Any]) -> Any:
    """Concatenate batches of the same structure along dim 0 (ValueError when they differ)."""
    first = structs[0]
    if all(isinstance(s, Tensor) for s in structs) and not any(s.requires_grad for s in structs):
        xp = array_module(*(s._data for s in structs))
        return Tensor._make(xp.concatenate([s._data for s in structs]))
    if all(isinstance(s, np.ndarray) for s in structs):
        return np.concatenate(structs)
    if isinstance(first, (tuple, list)) and all(type(s) is type(first) and len(s) == len(first) for s in structs):
        parts = [_concat([s[i] for s in structs]) for i in range(len(first))]
        return type(first)(*parts) if _is_namedtuple(first) else type(first)(parts)
    if isinstance(first, Mapping) and all(isinstance(s, Mapping) and s.keys() == first.keys() for s in structs):
        return {k: _concat([s[k] for s in structs]) for k in first}
    raise ValueError("batches of different structure")


class BatchedSamples(Sequence):
    """``B`` samples stored as one already-batched structure (what array-backed ``__getitems__`` return).

    ``batch`` is a tensor, a numpy array, or a tuple/list/dict/namedtuple of them, each
    with the batch on dim 0 (shape ``(B, ...)``). As a sequence it yields the ``B``
    samples (``samples[i]`` indexes every leaf with ``i``), so it satisfies torch's
    ``__getitems__`` contract; :func:`~minidl.data.default_collate` skips the per-sample
    work and returns ``batch`` as tensors (tuples become lists, as torch's collate makes them).
    """

    __slots__ = ("_size", "batch")

    def __init__(self, batch: Any, size: int | None = None) -> None:
        if size is None:
            size = _leading_size(batch)
            if size is None:
                raise ValueError("BatchedSamples: cannot infer the batch size from a batch without arrays")
        self.batch = batch
        self._size = int(size)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return BatchedSamples(_take(self.batch, np.arange(self._size)[i]))
        i = int(i)
        if not -self._size <= i < self._size:
            raise IndexError(f"BatchedSamples: index {i} is out of range for {self._size} samples")
        return _take(self.batch, i % self._size)

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(self._size))

    def __repr__(self) -> str:
        return f"BatchedSamples(size={self._size})"


# ---------------------------------------------------------------------------- datasets
class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``.

    ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")  # noqa

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``. ``a + b`` chains two streams."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")  # noqa

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows of tensors with equal first dimension: ``ds[i] == (x[i], y[i])``.

    Args:
        *tensors: minidl tensors (or numpy arrays), each of shape ``(N, ...)``.

    Batches are gathered with one fancy index per tensor (``x[indices]``, shape ``(B, ...)``)
    through :meth:`__getitems__`, never sample by sample.
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for t in tensors:
            if not isinstance(t, (Tensor, np.ndarray)):
                raise TypeError(f"TensorDataset: expected tensors or numpy arrays, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset: a 0-d tensor has no first dimension to index samples by")
        sizes = [int(t.shape[0]) for t in tensors]
        if any(s != sizes[0] for s in sizes):
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise SizeMismatchError(
                f"TensorDataset: size mismatch between tensors: first dimensions {sizes} differ (shapes {shapes})"
            )
        self.tensors = tuple(tensors)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> BatchedSamples:
        """The samples at ``indices`` as one batch: each tensor gathered once, shape ``(B, ...)``."""
        idx = _index_array(indices, len(self), type(self).__name__)
        return BatchedSamples(tuple(_take(t, idx) for t in self.tensors), len(idx))

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``: ``Subset(ds, idx)[i] == ds[idx[i]]``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: Sequence[int]) -> Sequence[Any]:
        mapped = [self.indices[int(i)] for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(mapped)
        return [self.dataset[i] for i in mapped]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another: indices ``0..len(a)-1`` are ``a``'s, then ``b``'s, ...

    ``cumulative_sizes[k]`` is the total length of the first ``k + 1`` datasets. Batches
    are fetched per part with the parts' ``__getitems__`` when they have one, and put back
    in the requested order with one gather.
    """

    @staticmethod
    def cumsum(sequence: Iterable[Any]) -> list[int]:
        r, s = [], 0
        for e in sequence:
            s += len(e)
            r.append(s)
        return r

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise SizeMismatchError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise SizeMismatchError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return d, idx - (self.cumulative_sizes[d - 1] if d else 0)

    def __getitem__(self, idx: int) -> Any:
        d, i = self._locate(int(idx))
        return self.datasets[d][i]

    def __getitems__(self, indices: Sequence[int]) -> Sequence[Any]:
        idx = _index_array(indices, len(self), "ConcatDataset")
        which = np.searchsorted(np.asarray(self.cumulative_sizes), idx, side="right")
        starts = np.asarray([0, *self.cumulative_sizes[:-1]])
        local = idx - starts[which]
        parts: list[tuple[np.ndarray, Sequence[Any]]] = []
        for d in np.unique(which):
            pos = np.flatnonzero(which == d)
            ds = self.datasets[int(d)]
            getitems = getattr(ds, "__getitems__", None)
            wanted = local[pos].tolist()
            parts.append((pos, getitems(wanted) if callable(getitems) else [ds[i] for i in wanted]))
        if len(parts) == 1:
            return parts[0][1]
        if all(isinstance(s, BatchedSamples) for _, s in parts):
            try:
                joined = _concat([s.batch for _, s in parts])  # type: ignore[union-attr]
            except (ValueError, TypeError):
                pass
            else:
                order = np.concatenate([pos for pos, _ in parts])
                inverse = np.empty_like(order)
                inverse[order] = np.arange(len(order))
                return BatchedSamples(_take(joined, inverse), len(order))
        out: list[Any] = [None] * len(idx)
        for pos, samples in parts:
            for p, sample in zip(pos.tolist(), samples):
                out[p] = sample
        return out


class ChainDataset(IterableDataset):
    """Iterable datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise SizeMismatchError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- random_split
def random_split(
    dataset: Dataset, lengths: Sequence[int | float], generator: _random.Generator | None = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    ``lengths`` are sizes summing to ``len(dataset)``, or fractions summing to 1: each
    split then gets ``floor(len * frac)`` items and the remaining items go one each to
    the splits in round-robin order (torch's rule, so the sizes equal torch's). The
    permutation comes from ``generator`` (the global one, seeded by ``minidl.manual_seed``,
    when None).
    """
    n = len(dataset)  # type: ignore[arg-type]
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(math.floor(n * frac))
        for i in range(n - sum(subset_lengths)):
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = subset_lengths  # type: ignore[assignment]
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.", stacklevel=2
                )
    if any(length < 0 for length in lengths):
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    if sum(lengths) != n:
        raise ValueError(
            f"Sum of input lengths does not equal the length of the input dataset! (lengths {lengths} sum to "
            f"{sum(lengths)}, the dataset has {n} samples)"
        )
    indices = _random.rng(generator).permutation(n).tolist()
    int_lengths = [int(length) for length in lengths]
    return [
        Subset(dataset, indices[offset - length : offset])
        for offset, length in zip(itertools.accumulate(int_lengths), int_lengths)
    ]

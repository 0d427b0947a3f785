"""``DataLoader``: batches of minidl tensors from a dataset, with ``torch.utils.data.DataLoader``'s arguments.

    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True, drop_last=False)
    for xb, yb in loader:          # xb: (128, ...) tensor, yb: (128,) tensor
        ...

How a batch is made (as in torch): the batch sampler gives a list of indices; the dataset's
``__getitems__(indices)`` answers it when the dataset has one, else ``dataset[i]`` is called
for each index; ``collate_fn`` (default :func:`default_collate`) turns the samples into
tensors. Array-backed datasets (``TensorDataset``, ``Subset``/``ConcatDataset`` of them,
any dataset whose ``__getitems__`` returns a :class:`BatchedSamples`) take the fast path:
one fancy-indexing gather per array and batch, no per-sample Python loop.

Everything runs in the calling process: ``num_workers > 0`` is accepted (so torch code runs
unchanged) but loads in-process, and ``pin_memory`` is accepted and does nothing. Shuffling
draws from ``generator`` or the global generator, so ``minidl.manual_seed`` repeats the
epochs' orders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from minidl import random as _random
from minidl.data.collate import default_collate, default_convert
from minidl.data.dataset import Dataset, IterableDataset
from minidl.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info() -> None:
    """None: minidl loads data in the main process (torch returns None there too)."""
    return None


class _InfiniteConstantSampler(Sampler):
    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader:
    """Iterate over ``dataset`` in batches of minidl tensors.

    Args:
        dataset: a map-style :class:`Dataset` (``len`` + ``[i]``), or an :class:`IterableDataset`.
        batch_size: samples per batch; ``None`` turns automatic batching off (each item is
            ``default_convert(dataset[i])``).
        shuffle: a new random order every epoch (a :class:`RandomSampler`).
        sampler: the order of indices (exclusive with ``shuffle``).
        batch_sampler: yields lists of indices (exclusive with ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``).
        num_workers: accepted for torch compatibility; loading always runs in this process.
            With ``num_workers > 0``, ``worker_init_fn(0)`` is called once per epoch.
        collate_fn: turns a list of samples into a batch (default :func:`default_collate`).
        pin_memory: accepted and ignored (there is no page-locked host memory to use).
        drop_last: drop the last incomplete batch.
        generator: the :class:`minidl.Generator` the default ``RandomSampler`` draws from.

    ``len(loader)`` is the number of batches: ``ceil(N / batch_size)``, or
    ``floor(N / batch_size)`` with ``drop_last``.
    """

    __initialized = False

    def __init__(
        self,
        dataset: Dataset | Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[Any] | None = None,
        batch_sampler: Sampler | Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: _random.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing. let num_workers > 0 to enable "
                "multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(
                "multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                f"but got num_workers={num_workers}"
            )
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)):
            raise TypeError(f"DataLoader: batch_size should be an int or None, got {batch_size!r}")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")

        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self.__initialized = True

    def __setattr__(self, attr: str, val: Any) -> None:
        if self.__initialized and attr in (
            "batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers",
        ):  # fmt: skip
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def __iter__(self) -> _DataLoaderIter:
        return _DataLoaderIter(self)

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"sampler={type(self.sampler).__name__}, drop_last={self.drop_last})"
        )


class _DataLoaderIter:
    """One epoch over a DataLoader (torch's single-process iterator)."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._dataset = loader.dataset
        self._auto_collation = loader._auto_collation
        self._collate_fn = loader.collate_fn
        self._drop_last = loader.drop_last
        self._sampler_iter = iter(loader._index_sampler)
        self._num_yielded = 0
        self._ended = False
        if loader.num_workers > 0 and loader.worker_init_fn is not None:
            loader.worker_init_fn(0)
        self._dataset_iter = iter(self._dataset) if loader._iterable else None
        getitems = getattr(self._dataset, "__getitems__", None)
        self._getitems = getitems if callable(getitems) else None

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def _fetch_map(self, index: Any) -> Any:
        if not self._auto_collation:
            return self._collate_fn(self._dataset[index])
        if self._getitems is not None:
            data = self._getitems(index)
        else:
            data = [self._dataset[i] for i in index]
        return self._collate_fn(data)

    def _fetch_iterable(self, index: Any) -> Any:
        if self._ended:
            raise StopIteration
        assert self._dataset_iter is not None
        if not self._auto_collation:
            return self._collate_fn(next(self._dataset_iter))
        data = []
        for _ in index:
            try:
                data.append(next(self._dataset_iter))
            except StopIteration:
                self._ended = True
                break
        if not data or (self._drop_last and len(data) < len(index)):
            raise StopIteration
        return self._collate_fn(data)

    def __next__(self) -> Any:
        index = next(self._sampler_iter)
        batch = self._fetch_iterable(index) if self._dataset_iter is not None else self._fetch_map(index)
        self._num_yielded += 1
        return batch

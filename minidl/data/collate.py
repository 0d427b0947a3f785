"""``default_collate`` and ``default_convert``: samples in, minidl tensors out, with torch's rules.

=================================  ===========================================================
a batch of ...                      becomes
=================================  ===========================================================
tensors of equal shape ``S``        one tensor ``(B, *S)``, same dtype
numpy arrays                        one tensor ``(B, *S)``, the arrays' dtype
numpy scalars                       a 1-D tensor of their dtype
Python ``float``                    a float64 tensor (as torch's default_collate)
Python ``int`` / ``bool``           int64 / bool (``[1, 2.5]`` gives float32, as ``tensor()``)
``str`` / ``bytes``                 the list, unchanged
dicts                               a dict of collated values, key by key
namedtuples                         the namedtuple of collated fields
tuples / lists                      a *list* of collated fields (torch's backward-compatible rule)
=================================  ===========================================================

A :class:`~minidl.data.BatchedSamples` (an array-backed dataset's ``__getitems__``) is
already batched: its arrays become tensors without touching the samples one by one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

import numpy as np

from minidl.backend import array_module
from minidl.creation import tensor as _tensor
from minidl.data.dataset import BatchedSamples, _is_namedtuple
from minidl.dtypes import _BY_NUMPY
from minidl.tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

_np_str_obj_array_pattern = re.compile(r"[SaUO]")
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _array_to_tensor(arr: np.ndarray, what: str) -> Tensor:
    if arr.dtype not in _BY_NUMPY:
        raise TypeError(f"{what}: can't convert numpy arrays of dtype {arr.dtype} to a minidl tensor")
    return Tensor._make(arr)


# ---------------------------------------------------------------------------- per-type collate functions
def collate_tensor_fn(batch: Sequence[Tensor], *, collate_fn_map: Any = None) -> Tensor:
    first = batch[0]
    for i, t in enumerate(batch):
        if not isinstance(t, Tensor):
            raise TypeError(f"default_collate: entry {i} is a {type(t).__name__}, entry 0 a Tensor")
        if t.shape != first.shape:
            raise RuntimeError(
                f"default_collate: stack expects each tensor to be equal size, but got {list(first.shape)} "
                f"at entry 0 and {list(t.shape)} at entry {i}"
            )
    if any(t.requires_grad for t in batch):
        from minidl.ops.shape import stack

        return stack(list(batch), 0)
    data = [t._data for t in batch]
    return Tensor._make(array_module(*data).stack(data))


def collate_numpy_array_fn(batch: Sequence[np.ndarray], *, collate_fn_map: Any = None) -> Tensor:
    first = batch[0]
    if _np_str_obj_array_pattern.search(first.dtype.str) is not None:
        raise TypeError(_ERR.format(first.dtype))
    for i, a in enumerate(batch):
        if not isinstance(a, np.ndarray) or a.shape != first.shape:
            got = a.shape if isinstance(a, np.ndarray) else type(a).__name__
            raise RuntimeError(
                f"default_collate: stack expects each array to be equal size, but got {list(first.shape)} "
                f"at entry 0 and {got} at entry {i}"
            )
    return _array_to_tensor(np.stack(batch), "default_collate")


def collate_numpy_scalar_fn(batch: Sequence[Any], *, collate_fn_map: Any = None) -> Tensor:
    return _array_to_tensor(np.asarray(batch), "default_collate")


def collate_float_fn(batch: Sequence[float], *, collate_fn_map: Any = None) -> Tensor:
    return _tensor(list(batch), dtype=np.float64)


def collate_int_fn(batch: Sequence[int], *, collate_fn_map: Any = None) -> Tensor:
    return _tensor(list(batch))


def collate_str_fn(batch: Sequence[Any], *, collate_fn_map: Any = None) -> Sequence[Any]:
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable[..., Any]] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def _batched_to_tensors(struct: Any) -> Any:
    """An already-batched structure as default_collate would have built it from its samples."""
    if isinstance(struct, Tensor):
        return struct
    if isinstance(struct, np.ndarray):
        if _np_str_obj_array_pattern.search(struct.dtype.str) is not None:
            raise TypeError(_ERR.format(struct.dtype))
        return _array_to_tensor(struct, "default_collate")
    if _is_namedtuple(struct):
        return type(struct)(*(_batched_to_tensors(s) for s in struct))
    if isinstance(struct, tuple):
        return [_batched_to_tensors(s) for s in struct]
    if isinstance(struct, list):
        return [_batched_to_tensors(s) for s in struct]
    if isinstance(struct, Mapping):
        return {k: _batched_to_tensors(v) for k, v in struct.items()}
    return struct


def collate(batch: Sequence[Any], *, collate_fn_map: dict[Any, Callable[..., Any]] | None = None) -> Any:
    """Collate ``batch`` (a sequence of samples) by the type of its first element (torch's algorithm)."""
    if isinstance(batch, BatchedSamples):
        return _batched_to_tensors(batch.batch)
    if len(batch) == 0:
        raise IndexError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, Mapping):
        values = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
        try:
            if isinstance(elem, MutableMapping):
                clone = copy.copy(elem)
                clone.update(values)
                return clone
            return elem_type(values)  # type: ignore[call-arg]
        except TypeError:
            return values
    if _is_namedtuple(elem):
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, Sequence) and not isinstance(elem, (str, bytes)):
        size = len(elem)
        for i, e in enumerate(batch):
            if len(e) != size:
                raise RuntimeError(
                    "each element in list of batch should be of equal size "
                    f"(entry 0 has {size}, entry {i} has {len(e)})"
                )
        transposed = list(zip(*batch))  # tuples: a batch of strings comes back as a tuple, as in torch
        fields = [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        if isinstance(elem, tuple):
            return fields  # torch returns a list for tuples (backward compatibility)
        try:
            if isinstance(elem, MutableSequence):
                clone = copy.copy(elem)
                for i, f in enumerate(fields):
                    clone[i] = f
                return clone
            return elem_type(fields)  # type: ignore[call-arg]
        except TypeError:
            return fields
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch of minidl tensors (see the module table).

    >>> default_collate([(0, 1.5), (2, 3.5)])   # [tensor([0, 2]), tensor([1.5, 3.5], float64)]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Turn numpy arrays (also inside tuples/lists/dicts) into tensors; leave everything else.

    The DataLoader's ``collate_fn`` when automatic batching is off (``batch_size=None``).
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, BatchedSamples):
        return _batched_to_tensors(data.batch)
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, (np.str_, np.bytes_)):
        if isinstance(data, np.ndarray) and _np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _array_to_tensor(np.asarray(data), "default_convert")
    if isinstance(data, Mapping):
        values = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, MutableMapping):
                clone = copy.copy(data)
                clone.update(values)
                return clone
            return type(data)(values)  # type: ignore[call-arg]
        except TypeError:
            return values
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        try:
            if isinstance(data, MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(converted):
                    clone[i] = d
                return clone
            return type(data)(converted)  # type: ignore[call-arg]
        except TypeError:
            return converted
    return data

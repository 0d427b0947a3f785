"""minidl.data: datasets, samplers, collate and DataLoader against torch.utils.data."""

from __future__ import annotations

import collections
import math
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import minidl
from minidl.data import (
    BatchedSamples,
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)

N = 23


def _arrays(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = (np.arange(n) * 7 % 5).astype(np.int64)
    return x, y


def _md_ds(n: int = N) -> TensorDataset:
    x, y = _arrays(n)
    return TensorDataset(minidl.tensor(x), minidl.tensor(y))


def _torch_ds(n: int = N) -> tud.TensorDataset:
    x, y = _arrays(n)
    return tud.TensorDataset(torch.tensor(x), torch.tensor(y))


def assert_same(md_out, torch_out) -> None:
    """Same structure (list/dict/namedtuple/...), values and dtypes."""
    if isinstance(torch_out, torch.Tensor):
        assert isinstance(md_out, minidl.Tensor), type(md_out)
        assert str(md_out.dtype).split(".")[-1] == str(torch_out.dtype).split(".")[-1], (md_out.dtype, torch_out.dtype)
        assert tuple(md_out.shape) == tuple(torch_out.shape)
        np.testing.assert_array_equal(md_out.numpy(), torch_out.numpy())
        return
    assert type(md_out) is type(torch_out), (type(md_out), type(torch_out))
    if isinstance(torch_out, dict):
        assert md_out.keys() == torch_out.keys()
        for k in torch_out:
            assert_same(md_out[k], torch_out[k])
    elif isinstance(torch_out, (list, tuple)):
        assert len(md_out) == len(torch_out)
        for a, b in zip(md_out, torch_out):
            assert_same(a, b)
    else:
        assert md_out == torch_out


# ---------------------------------------------------------------------------- DataLoader vs torch
@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 64])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_equal_torch_without_shuffle(batch_size: int, drop_last: bool) -> None:
    ours = DataLoader(_md_ds(), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(_torch_ds(), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want) == len(ours)
    for a, b in zip(got, want):
        assert_same(a, b)  # a list [x, y] (torch turns the sample tuples into a list)


@pytest.mark.parametrize("n", [0, 1, 7, 10, 100])
@pytest.mark.parametrize("batch_size", [1, 3, 10, 128])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_like_torch(n: int, batch_size: int, drop_last: bool) -> None:
    ours = DataLoader(_md_ds(n), batch_size=batch_size, drop_last=drop_last)
    theirs = tud.DataLoader(_torch_ds(n), batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs) == (n // batch_size if drop_last else math.ceil(n / batch_size))
    assert len(list(ours)) == len(ours)


def test_shuffle_visits_every_sample_once_per_epoch() -> None:
    minidl.manual_seed(0)
    loader = DataLoader(_md_ds(), batch_size=4, shuffle=True)
    x, y = _arrays()
    orders = []
    for _ in range(3):
        batches = list(loader)
        assert [len(b[0]) for b in batches] == [4] * 5 + [3]
        xs = np.concatenate([b[0].numpy() for b in batches])
        ys = np.concatenate([b[1].numpy() for b in batches])
        order = (xs[:, 0] // 3).astype(int)
        assert sorted(order.tolist()) == list(range(N))  # each sample exactly once
        np.testing.assert_array_equal(xs, x[order])  # inputs and labels stay paired
        np.testing.assert_array_equal(ys, y[order])
        orders.append(order.tolist())
    assert orders[0] != orders[1] or orders[1] != orders[2]  # a new order each epoch


def _epoch_orders(loader: DataLoader, epochs: int = 2) -> list[list[int]]:
    return [np.concatenate([b[0].numpy()[:, 0] for b in loader]).tolist() for _ in range(epochs)]


def test_shuffle_reproducible_under_manual_seed() -> None:
    minidl.manual_seed(123)
    first = _epoch_orders(DataLoader(_md_ds(), batch_size=5, shuffle=True))
    minidl.manual_seed(123)
    second = _epoch_orders(DataLoader(_md_ds(), batch_size=5, shuffle=True))
    assert first == second
    minidl.manual_seed(124)
    assert _epoch_orders(DataLoader(_md_ds(), batch_size=5, shuffle=True)) != first


def test_shuffle_with_generator_is_independent_of_global_seed() -> None:
    def run(global_seed: int) -> list[list[int]]:
        minidl.manual_seed(global_seed)
        g = minidl.Generator().manual_seed(7)
        return _epoch_orders(DataLoader(_md_ds(), batch_size=5, shuffle=True, generator=g))

    assert run(0) == run(1)


def test_shuffle_drop_last() -> None:
    minidl.manual_seed(0)
    loader = DataLoader(_md_ds(), batch_size=5, shuffle=True, drop_last=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert all(len(b[0]) == 5 for b in batches)
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert len(seen) == 20


def test_batch_size_none_converts_samples_like_torch() -> None:
    ours = list(DataLoader(_md_ds(5), batch_size=None))
    theirs = list(tud.DataLoader(_torch_ds(5), batch_size=None))
    for a, b in zip(ours, theirs):
        assert_same(a, b)  # the sample tuple becomes a list of tensors
    assert list(DataLoader(list(range(4)), batch_size=None)) == [0, 1, 2, 3]


def test_custom_sampler_and_batch_sampler() -> None:
    ds = _md_ds(10)
    order = [9, 1, 4, 4, 0]
    got = [b[1].numpy().tolist() for b in DataLoader(ds, batch_size=2, sampler=order)]
    y = _arrays(10)[1]
    assert got == [y[[9, 1]].tolist(), y[[4, 4]].tolist(), y[[0]].tolist()]
    batches = [[0, 1, 2], [7], [3, 3]]
    got = [b[0].numpy()[:, 0].tolist() for b in DataLoader(ds, batch_sampler=batches)]
    assert got == [[0.0, 3.0, 6.0], [21.0], [9.0, 9.0]]
    assert len(DataLoader(ds, batch_sampler=batches)) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(shuffle=True, sampler=[0, 1]),
        dict(batch_sampler=[[0]], batch_size=2),
        dict(batch_sampler=[[0]], shuffle=True),
        dict(batch_sampler=[[0]], drop_last=True),
        dict(batch_size=None, drop_last=True),
        dict(num_workers=-1),
        dict(persistent_workers=True),
        dict(prefetch_factor=2),
    ],
)
def test_bad_argument_combinations_raise_like_torch(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        tud.DataLoader(_torch_ds(), **kwargs)
    with pytest.raises(ValueError):
        DataLoader(_md_ds(), **kwargs)


def test_num_workers_runs_in_process() -> None:
    calls = []
    loader = DataLoader(_md_ds(), batch_size=8, num_workers=2, worker_init_fn=calls.append, pin_memory=True)
    batches = list(loader)
    assert len(batches) == 3 and calls == [0]
    for a, b in zip(batches, tud.DataLoader(_torch_ds(), batch_size=8)):
        assert_same(a, b)


def test_attributes_are_frozen_after_init() -> None:
    loader = DataLoader(_md_ds(), batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        loader.batch_size = 8
    assert loader.batch_size == 4


class _Stream(IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


class _TorchStream(tud.IterableDataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_dataset_like_torch(drop_last: bool) -> None:
    ours = DataLoader(_Stream(11), batch_size=4, drop_last=drop_last)
    theirs = tud.DataLoader(_TorchStream(11), batch_size=4, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same(a, b)
    with pytest.raises(ValueError):
        DataLoader(_Stream(3), shuffle=True)


# ---------------------------------------------------------------------------- collate
Point = collections.namedtuple("Point", ["x", "y"])

COLLATE_CASES = [
    [1, 2, 3],
    [1.5, 2.0],
    [True, False],
    [1, 2.5],  # first element an int: torch.tensor([1, 2.5]) is float32
    [(0, 1.5), (2, 3.5)],
    [[0, 1], [2, 3]],
    [{"a": 1, "b": 0.5}, {"a": 2, "b": 1.5}],
    [Point(1, 2.0), Point(3, 4.0)],
    ["cat", "dog"],
    [np.float32(1.0), np.float32(2.0)],
    [np.float64(1.0), np.float64(2.0)],
    [np.int32(3), np.int32(4)],
    [np.bool_(True), np.bool_(False)],
    [np.zeros((2, 3), np.uint8), np.ones((2, 3), np.uint8)],
    [np.zeros(2, np.float64), np.ones(2, np.float64)],
    [(np.zeros((1, 2), np.float32), 3, "x"), (np.ones((1, 2), np.float32), 4, "y")],
    [{"img": np.zeros((2, 2), np.float32), "meta": {"id": 1, "w": 0.1}}] * 3,
]


def _to_torch(sample):
    """The same sample with minidl tensors replaced by torch tensors."""
    if isinstance(sample, minidl.Tensor):
        return torch.from_numpy(sample.numpy().copy())
    if isinstance(sample, tuple) and hasattr(sample, "_fields"):
        return type(sample)(*(_to_torch(s) for s in sample))
    if isinstance(sample, (list, tuple)):
        return type(sample)(_to_torch(s) for s in sample)
    if isinstance(sample, dict):
        return {k: _to_torch(v) for k, v in sample.items()}
    return sample


@pytest.mark.parametrize("batch", COLLATE_CASES, ids=range(len(COLLATE_CASES)))
def test_default_collate_like_torch(batch) -> None:
    assert_same(default_collate(batch), tud.default_collate(batch))


def test_default_collate_stacks_tensors() -> None:
    batch = [minidl.tensor([[1.0, 2.0]]), minidl.tensor([[3.0, 4.0]])]
    assert_same(default_collate(batch), tud.default_collate(_to_torch(batch)))
    pairs = [(minidl.tensor([1, 2]), 0), (minidl.tensor([3, 4]), 1)]
    assert_same(default_collate(pairs), tud.default_collate(_to_torch(pairs)))


def test_default_collate_errors() -> None:
    with pytest.raises(RuntimeError, match=r"\[2\] at entry 0 and \[3\] at entry 1"):
        default_collate([minidl.zeros(2), minidl.zeros(3)])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    with pytest.raises(TypeError):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_default_convert_like_torch() -> None:
    for data in [np.arange(3), (np.zeros(2), 1), {"a": np.ones(2, np.float32)}, 5, "s", [np.float32(2.0)]]:
        assert_same(default_convert(data), tud.default_convert(data))


# ---------------------------------------------------------------------------- datasets
def test_tensor_dataset_indexing_and_size_check() -> None:
    ds = _md_ds()
    assert len(ds) == N
    x, y = ds[3]
    np.testing.assert_array_equal(x.numpy(), _arrays()[0][3])
    assert y.item() == _arrays()[1][3]
    with pytest.raises(ValueError, match=r"\[4, 5\]"):
        TensorDataset(minidl.zeros(4, 2), minidl.zeros(5))
    with pytest.raises(AssertionError):  # what torch raises
        TensorDataset(minidl.zeros(4, 2), minidl.zeros(5))
    np_ds = TensorDataset(np.zeros((4, 2)), np.arange(4))
    assert_same(next(iter(DataLoader(np_ds, batch_size=4))), [torch.zeros(4, 2, dtype=torch.float64), torch.arange(4)])


def test_subset_and_concat_indexing_like_torch() -> None:
    data = list(range(100, 110))
    ours = Subset(data, [9, 0, 3])
    theirs = tud.Subset(data, [9, 0, 3])
    assert len(ours) == len(theirs) == 3
    assert [ours[i] for i in range(3)] == [theirs[i] for i in range(3)] == [109, 100, 103]
    assert ours[-1] == theirs[-1]
    cat = ConcatDataset([list(range(3)), list(range(10, 15)), [99]])
    tcat = tud.ConcatDataset([list(range(3)), list(range(10, 15)), [99]])
    assert len(cat) == len(tcat) == 9 and cat.cumulative_sizes == tcat.cumulative_sizes == [3, 8, 9]
    assert [cat[i] for i in range(-9, 9)] == [tcat[i] for i in range(-9, 9)]
    with pytest.raises(ValueError, match="absolute value"):
        cat[-10]
    with pytest.raises(IndexError):
        cat[9]
    both = _md_ds(4) + _md_ds(3)
    assert isinstance(both, ConcatDataset) and len(both) == 7


def test_concat_of_array_datasets_batches_in_order() -> None:
    a, b = _md_ds(5), _md_ds(7)
    ta, tb = _torch_ds(5), _torch_ds(7)
    minidl.manual_seed(0)
    order = [int(i) for i in minidl.randperm(12)]
    ours = DataLoader(ConcatDataset([a, b]), batch_size=4, sampler=order)
    theirs = tud.DataLoader(tud.ConcatDataset([ta, tb]), batch_size=4, sampler=order)
    for x, y in zip(ours, theirs):
        assert_same(x, y)


# ---------------------------------------------------------------------------- random_split
LENGTHS = [[3, 7], [0.3, 0.7], [0.33, 0.33, 0.34], [0.1] * 10, [0.5, 0.5], [1 / 3] * 3, [0.25] * 4, [0.6, 0.2, 0.2]]


@pytest.mark.parametrize("lengths", LENGTHS, ids=str)
@pytest.mark.parametrize("n", [1, 7, 10, 23, 101])
def test_random_split_sizes_like_torch(lengths: list, n: int) -> None:
    def sizes(split_fn) -> list[int] | type:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return [len(s) for s in split_fn(range(n), lengths)]
            except ValueError:
                return ValueError

    assert sizes(random_split) == sizes(tud.random_split)


def test_random_split_partitions_and_is_seeded() -> None:
    ds = list(range(50))
    g = minidl.Generator().manual_seed(42)
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=g)
    assert [len(p) for p in parts] == [25, 15, 10]
    items = sorted(x for p in parts for x in (p[i] for i in range(len(p))))
    assert items == ds
    again = random_split(ds, [0.5, 0.3, 0.2], generator=minidl.Generator().manual_seed(42))
    assert [p.indices for p in parts] == [p.indices for p in again]
    minidl.manual_seed(3)
    first = [p.indices for p in random_split(ds, [25, 25])]
    minidl.manual_seed(3)
    assert first == [p.indices for p in random_split(ds, [25, 25])]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [10, 10])
    with pytest.raises(ValueError):
        tud.random_split(ds, [10, 10])
    with pytest.warns(UserWarning, match="Length of split at index"):
        random_split(list(range(2)), [0.5, 0.25, 0.25])


# ---------------------------------------------------------------------------- the fast path
class CountingTensorDataset(TensorDataset):
    def __init__(self, *tensors) -> None:
        super().__init__(*tensors)
        self.getitem_calls = 0

    def __getitem__(self, index):
        self.getitem_calls += 1
        return super().__getitem__(index)


class CountingArray(np.ndarray):
    """A numpy array that counts ``arr[...]`` calls (each is one gather)."""

    calls = 0

    def __getitem__(self, key):
        CountingArray.calls += 1
        return np.asarray(self)[key]


def test_fast_path_makes_no_per_sample_getitem_calls() -> None:
    x, y = _arrays()
    ds = CountingTensorDataset(minidl.tensor(x), minidl.tensor(y))
    minidl.manual_seed(0)
    batches = list(DataLoader(ds, batch_size=8, shuffle=True))
    assert ds.getitem_calls == 0
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(seen.tolist()) == sorted(y.tolist())
    list(DataLoader(Subset(ds, list(range(0, N, 2))), batch_size=4))
    list(DataLoader(ConcatDataset([ds, ds]), batch_size=16, shuffle=True))
    assert ds.getitem_calls == 0


def test_fast_path_one_gather_per_array_and_batch() -> None:
    """Timing-free: each batch indexes each backing array exactly once."""
    x, y = _arrays(40)
    ds = TensorDataset(x.view(CountingArray), y.view(CountingArray))
    CountingArray.calls = 0
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    batches = list(loader)
    assert CountingArray.calls == 2 * len(loader) == 10
    assert all(type(b[0]._data) is np.ndarray for b in batches)


def test_getitems_protocol_returning_batched_samples() -> None:
    x, y = _arrays()

    class ArrayDataset(Dataset):
        calls = 0

        def __len__(self) -> int:
            return N

        def __getitem__(self, i):
            ArrayDataset.calls += 1
            return x[i], y[i]

        def __getitems__(self, indices):
            return BatchedSamples((x[indices], y[indices]))

    got = list(DataLoader(ArrayDataset(), batch_size=6))
    want = list(tud.DataLoader(_torch_ds(), batch_size=6))
    assert ArrayDataset.calls == 0
    for a, b in zip(got, want):
        assert_same(a, b)


def test_batched_samples_is_a_sequence_of_samples_for_custom_collate() -> None:
    seen = []

    def collate(samples):
        seen.append(len(samples))
        xs, ys = zip(*samples)  # torch-style custom collate over (x, y) samples
        return minidl.stack(list(xs)), [int(v) for v in ys]

    x, y = _arrays()
    batches = list(DataLoader(_md_ds(), batch_size=10, collate_fn=collate))
    assert seen == [10, 10, 3]
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:10])
    assert batches[2][1] == y[20:].tolist()


def test_torch_style_getitems_returning_a_list() -> None:
    class ListDataset(Dataset):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i):
            return {"v": i, "sq": float(i * i)}

        def __getitems__(self, indices):
            return [self[i] for i in indices]

    got = list(DataLoader(ListDataset(), batch_size=2))
    assert_same(got[0], {"v": torch.tensor([0, 1]), "sq": torch.tensor([0.0, 1.0], dtype=torch.float64)})
    assert len(got) == 3


# ---------------------------------------------------------------------------- samplers
def test_samplers_like_torch() -> None:
    ds = list(range(10))
    assert list(SequentialSampler(ds)) == list(tud.SequentialSampler(ds))
    for drop_last in (False, True):
        ours = list(BatchSampler(SequentialSampler(ds), 3, drop_last))
        theirs = list(tud.BatchSampler(tud.SequentialSampler(ds), 3, drop_last))
        assert ours == theirs
        assert len(BatchSampler(ds, 3, drop_last)) == len(tud.BatchSampler(ds, 3, drop_last))
    with pytest.raises(ValueError):
        BatchSampler(ds, 0, False)
    with pytest.raises(ValueError):
        RandomSampler([])
    minidl.manual_seed(0)
    perm = list(RandomSampler(ds))
    assert sorted(perm) == ds
    many = list(RandomSampler(ds, num_samples=25))
    assert len(many) == 25 and sorted(many[:10]) == ds and sorted(many[10:20]) == ds
    with_rep = list(RandomSampler(ds, replacement=True, num_samples=1000))
    assert len(with_rep) == 1000 and set(with_rep) <= set(ds) and len(set(with_rep)) == 10
    assert sorted(SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]


def test_weighted_random_sampler_statistics() -> None:
    minidl.manual_seed(0)
    draws = np.array(list(WeightedRandomSampler([1.0, 3.0, 0.0], 8000)))
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, [0.25, 0.75, 0.0], atol=0.02)
    no_rep = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False))
    assert sorted(no_rep) == [0, 1, 2, 3]

"""Data loading with ``torch.utils.data``'s names, and ``torchvision.transforms``' as ``minidl.data.transforms``.

    from minidl.data import DataLoader, TensorDataset, random_split
    from minidl.data import transforms as T

    train, val = random_split(TensorDataset(x, y), [0.8, 0.2], generator=minidl.Generator().manual_seed(0))
    loader = DataLoader(train, batch_size=128, shuffle=True)
"""

from minidl.data import datasets, transforms
from minidl.data.collate import default_collate, default_convert
from minidl.data.dataloader import DataLoader, get_worker_info
from minidl.data.dataset import (
    BatchedSamples,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from minidl.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "BatchedSamples",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "datasets",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
    "transforms",
]

"""The models of the training-step benchmark: how to build each in both libraries, and its input.

Importing this module imports neither library (each benchmark child process imports only
the one it measures, so that its memory and start-up time are its own):
``spec.make_minidl()`` imports minidl, ``spec.make_torch()`` imports torch and the
hand-built twins of ``_twins.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODELS", "ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """A benchmark model: ``minidl.models.<minidl_name>(num_classes=...)`` and its torch twin ``_twins.<torch_name>``."""

    name: str
    title: str
    minidl_name: str
    torch_name: str
    channels: int
    size: int  # square images: (channels, size, size)
    num_classes: int
    batch: int  # the full run's batch
    quick_batch: int
    has_dropout: bool  # random masks differ between the libraries: no step-by-step loss comparison
    lr: float = 0.1  # SGD's lr: the course's 0.1, or lower where 0.1 diverges on the benchmark's random data

    def make_minidl(self) -> Any:
        from minidl import models

        return getattr(models, self.minidl_name)(num_classes=self.num_classes)

    def make_torch(self) -> Any:
        import _twins

        return getattr(_twins, self.torch_name)(num_classes=self.num_classes)


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("course_cnn", "course CNN (COURSEWORK §2), 3x32x32", "CourseCNN", "torch_course_cnn",
                  3, 32, 2, 128, 8, False),
        ModelSpec("lenet", "LeNet (COURSEWORK §3), 3x32x32", "LeNet", "torch_lenet", 3, 32, 10, 128, 8, False),
        ModelSpec("resnet18", "ResNet-18, 3x32x32", "resnet18", "torch_resnet18", 3, 32, 10, 32, 4, False, 0.01),
        ModelSpec("vgg11", "VGG-11, 3x64x64", "vgg11", "torch_vgg11", 3, 64, 10, 16, 2, True, 0.01),
    )
}  # fmt: skip

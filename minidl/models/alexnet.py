"""AlexNet as torchvision builds it (COURSEWORK §5), state-dict keys equal torchvision's.

    model = alexnet(num_classes=12)      # x: (N, 3, H, W), H, W >= 63 -> (N, 12)

``features`` (5 convs, 3 max-pools: 224x224 -> 256x6x6), ``avgpool``
(AdaptiveAvgPool2d((6, 6))), ``classifier`` (Dropout, Linear 9216->4096, ReLU, Dropout,
Linear 4096->4096, ReLU, Linear 4096->num_classes). 61,100,840 parameters with 1000
classes. Replace the head for fine-tuning with ``replace_head(model, 101)`` (it is
``classifier[6]``).
"""

from __future__ import annotations

import minidl as md
from minidl import nn

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = md.flatten(x, 1)
        return self.classifier(x)


def alexnet(num_classes: int = 1000, **kwargs: object) -> AlexNet:
    """torchvision.models.alexnet (no download: load converted weights with ``load_state_dict``)."""
    return AlexNet(num_classes=num_classes, **kwargs)  # type: ignore[arg-type]

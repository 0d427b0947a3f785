"""DenseNet as torchvision builds it (COURSEWORK §5 discussion), plus a small factory.

    model = densenet121(num_classes=10)      # x: (N, 3, H, W), H, W >= 32 -> (N, 10)
    tiny = small_densenet(num_classes=10)    # CIFAR-sized: 32x32 in, ~0.1M parameters

``features``: conv0 (7x7 s2) norm0 relu0 pool0 (/4), then ``denseblock1..4`` (each layer
sees the concatenation of all earlier outputs and adds ``growth_rate`` channels) with
``transition1..3`` (BN-ReLU-conv1x1 halving channels, 2x2 avg-pool) between them, and
``norm5``; then ReLU, global average pool and ``classifier`` (Linear). Keys are
torchvision's: ``features.denseblock1.denselayer1.norm1.weight``. densenet121 has
7,978,856 parameters with 1000 classes.
"""

from __future__ import annotations

from collections import OrderedDict

import minidl as md
import minidl.nn.functional as F
from minidl import nn

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201", "small_densenet"]


class _DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bn_size * growth) - BN-ReLU-conv3x3 (growth): list of (N, C_i, H, W) -> (N, growth, H, W)."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, input: md.Tensor | list[md.Tensor]) -> md.Tensor:
        prev = [input] if isinstance(input, md.Tensor) else input
        x = md.cat(prev, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class _DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers: (N, C, H, W) -> (N, C + num_layers * growth_rate, H, W)."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int,
                 drop_rate: float) -> None:  # fmt: skip
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: md.Tensor) -> md.Tensor:
        features = [init_features]
        for _, layer in self.items():
            features.append(layer(features))
        return md.cat(features, 1)


class _Transition(nn.Sequential):
    """BN-ReLU-conv1x1-avgpool2x2: (N, C, H, W) -> (N, C_out, H/2, W/2)."""

    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    def __init__(self, growth_rate: int = 32, block_config: tuple[int, ...] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0, num_classes: int = 1000,
                 memory_efficient: bool = False, small_inputs: bool = False) -> None:  # fmt: skip
        """``small_inputs=True`` (not in torchvision) replaces the 7x7 s2 stem and its max-pool by a
        3x3 s1 conv, for 32x32 images; the keys stay the same. ``memory_efficient`` is accepted
        and ignored (no checkpointing in minidl)."""
        super().__init__()
        self.num_classes = num_classes
        if small_inputs:
            stem = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=3, stride=1, padding=1, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU(inplace=True))]  # fmt: skip
        else:
            stem = [("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)), ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]  # fmt: skip
        self.features = nn.Sequential(OrderedDict(stem))
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features = num_features + num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_features, num_features // 2)
                self.features.add_module(f"transition{i + 1}", trans)
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def forward(self, x: md.Tensor) -> md.Tensor:
        features = self.features(x)
        out = F.relu(features)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        out = md.flatten(out, 1)
        return self.classifier(out)


def densenet121(num_classes: int = 1000, **kwargs: object) -> DenseNet:
    """DenseNet-121: growth 32, blocks (6, 12, 24, 16), 64 initial features; 7,978,856 parameters."""
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def densenet161(num_classes: int = 1000, **kwargs: object) -> DenseNet:
    """DenseNet-161: growth 48, blocks (6, 12, 36, 24), 96 initial features."""
    return DenseNet(48, (6, 12, 36, 24), 96, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def densenet169(num_classes: int = 1000, **kwargs: object) -> DenseNet:
    """DenseNet-169: growth 32, blocks (6, 12, 32, 32)."""
    return DenseNet(32, (6, 12, 32, 32), 64, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def densenet201(num_classes: int = 1000, **kwargs: object) -> DenseNet:
    """DenseNet-201: growth 32, blocks (6, 12, 48, 32)."""
    return DenseNet(32, (6, 12, 48, 32), 64, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def small_densenet(num_classes: int = 10, growth_rate: int = 12, block_config: tuple[int, ...] = (4, 4, 4),
                   num_init_features: int = 24, bn_size: int = 4, drop_rate: float = 0.0,
                   small_inputs: bool = True) -> DenseNet:  # fmt: skip
    """A small DenseNet for 32x32 images (CIFAR-10): 3 blocks of 4 layers, growth 12, 3x3 stem.

    (N, 3, 32, 32) -> (N, num_classes); same module names as densenet121.
    """
    return DenseNet(growth_rate, block_config, num_init_features, bn_size, drop_rate, num_classes,
                    small_inputs=small_inputs)  # fmt: skip

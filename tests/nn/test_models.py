"""Whole networks from the coursework built with minidl.nn equal their torch twins.

The same architecture is written twice, once per library (``lib`` is ``minidl.nn`` or
``torch.nn``); weights are copied from torch through ``load_state_dict``; outputs and every
parameter's gradient are compared, and the state-dict keys must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minidl as md
from minidl import nn


def course_cnn(lib):
    """COURSEWORK.md section 2: five 3x3 convs, max-pools, AdaptiveAvgPool2d(1), Linear(512, 2)."""

    class CourseCNN(lib.Module):
        def __init__(self):
            super().__init__()
            chans = [3, 32, 64, 128, 256, 512]
            layers = []
            for i in range(5):
                layers += [lib.Conv2d(chans[i], chans[i + 1], kernel_size=3, stride=1, padding=1), lib.ReLU()]
                if i < 4:
                    layers.append(lib.MaxPool2d(2, 2))
            self.features = lib.Sequential(*layers)
            self.pool = lib.AdaptiveAvgPool2d(1)
            self.fc = lib.Linear(512, 2)

        def forward(self, x):
            x = self.pool(self.features(x))
            return self.fc(x.view(-1, 512))

    return CourseCNN()


def lenet(lib):
    """COURSEWORK.md section 3: 5x5 'same' convs 3->32->64->128 with 2x2 pools, 2048 -> 64 -> 10."""
    return lib.Sequential(
        lib.Conv2d(3, 32, 5, padding="same"), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(32, 64, 5, padding="same"), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(64, 128, 5, padding="same"), lib.ReLU(), lib.MaxPool2d(2),
        lib.Flatten(), lib.Linear(4 * 4 * 128, 64), lib.Linear(64, 10),
    )  # fmt: skip


def basic_block(lib, inplanes=8, planes=16, stride=2):
    """torchvision's ResNet BasicBlock, with its 1x1 downsample shortcut and `out += identity`."""

    class BasicBlock(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = lib.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = lib.BatchNorm2d(planes)
            self.relu = lib.ReLU(inplace=True)
            self.conv2 = lib.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = lib.BatchNorm2d(planes)
            self.downsample = lib.Sequential(
                lib.Conv2d(inplanes, planes, 1, stride=stride, bias=False), lib.BatchNorm2d(planes)
            )

        def forward(self, x):
            identity = self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    return BasicBlock()


def vgg_bn(lib):
    """A small VGG-style net with BatchNorm, dropout and a classifier, as torchvision names it."""

    class SmallVGG(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(
                lib.Conv2d(3, 8, 3, padding=1), lib.BatchNorm2d(8), lib.ReLU(inplace=True), lib.MaxPool2d(2),
                lib.Conv2d(8, 16, 3, padding=1), lib.BatchNorm2d(16), lib.ReLU(inplace=True), lib.MaxPool2d(2),
            )  # fmt: skip
            self.avgpool = lib.AdaptiveAvgPool2d((2, 2))
            self.classifier = lib.Sequential(
                lib.Linear(16 * 2 * 2, 32), lib.BatchNorm1d(32), lib.ReLU(True), lib.Dropout(0.0), lib.Linear(32, 5)
            )

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1) if isinstance(x, torch.Tensor) else md.flatten(x, 1))

    return SmallVGG()


def _compare(make, input_shape, seed=0, train=True, rtol=2e-4, atol=2e-5):
    torch.manual_seed(seed)
    t = make(torch.nn)
    m = make(nn)
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    m.train(train)
    t.train(train)
    x = np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)
    g = None
    for step in range(2):  # twice, so BatchNorm running statistics are used and compared too
        mo, to = m(md.tensor(x)), t(torch.tensor(x))
        np.testing.assert_allclose(mo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol, err_msg="output")
        g = np.random.default_rng(seed + step).standard_normal(tuple(to.shape)).astype(np.float32)
        m.zero_grad()
        t.zero_grad()
        mo.backward(md.tensor(g))
        to.backward(torch.tensor(g))
        for (name, p), q in zip(m.named_parameters(), t.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol * 10, atol=atol * 10,
                                       err_msg=f"gradient of {name}")  # fmt: skip
    for (name, b), c in zip(m.named_buffers(), t.buffers()):
        np.testing.assert_allclose(b.numpy(), c.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_course_cnn_matches_torch():
    _compare(course_cnn, (4, 3, 32, 32))


def test_lenet_matches_torch_and_has_390410_parameters():
    m = lenet(nn)
    assert sum(p.numel() for p in m.parameters()) == 390_410
    counts = [p.numel() for p in m.parameters()]
    # kh*kw*cin*cout + cout per layer, as the course counts by hand
    assert counts == [5 * 5 * 3 * 32, 32, 5 * 5 * 32 * 64, 64, 5 * 5 * 64 * 128, 128, 2048 * 64, 64, 64 * 10, 10]
    _compare(lenet, (2, 3, 32, 32))


@pytest.mark.parametrize("train", [True, False])
def test_resnet_basic_block_matches_torch(train):
    _compare(basic_block, (3, 8, 10, 10), train=train)


@pytest.mark.parametrize("train", [True, False])
def test_vgg_with_batchnorm_matches_torch(train):
    _compare(vgg_bn, (4, 3, 16, 16), train=train)


def test_state_dict_keys_of_batchnorm_nets_equal_torch():
    for make in (basic_block, vgg_bn):
        assert list(make(nn).state_dict()) == list(make(torch.nn).state_dict())
        assert [tuple(v.shape) for v in make(nn).state_dict().values()] == [
            tuple(v.shape) for v in make(torch.nn).state_dict().values()
        ]


def test_freezing_conv_layers_for_transfer_learning():
    m = vgg_bn(nn)
    for p in m.features.parameters():
        p.requires_grad = False
    m(md.randn(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is None for p in m.features.parameters())
    assert all(p.grad is not None for p in m.classifier.parameters())


def test_model_repr_equals_torch():
    for make in (course_cnn, lenet, basic_block, vgg_bn):
        assert repr(make(nn)) == repr(make(torch.nn))


def test_output_size_rule_of_the_course():
    from minidl.nn.utils import conv_output_size

    # 128x128x32 with sixteen 3x3 filters -> 126x126x16; stride 2 -> 63x63x16; 1x1 keeps 64x64
    assert conv_output_size(128, 3) == 126 and conv_output_size(128, 3, stride=2) == 63
    assert conv_output_size(64, 1) == 64
    out = nn.Conv2d(32, 16, 3, stride=2)(md.zeros(1, 32, 128, 128))
    assert tuple(out.shape) == (1, 16, 63, 63)
    assert conv_output_size(5, 2, 2, 0, 1, ceil_mode=True) == torch.nn.MaxPool2d(2, ceil_mode=True)(
        torch.zeros(1, 1, 5, 5)).shape[-1]  # fmt: skip

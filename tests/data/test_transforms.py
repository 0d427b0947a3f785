"""minidl.data.transforms: exact outputs on small hand-made images, PIL/numpy references,
random transforms' statistics and seeds, reprs (torchvision's strings) and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

import minidl
from minidl.data import transforms as T


def _img(h: int = 5, w: int = 6, c: int = 3) -> np.ndarray:
    """An HWC uint8 image whose pixel values are all distinct: 3 * (10 * row + col) + channel."""
    r, q, k = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((10 * r + q) * 3 + k).astype(np.uint8)


def _rand_img(h: int = 13, w: int = 17, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _chw(img: np.ndarray) -> minidl.Tensor:
    return minidl.tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))


# ---------------------------------------------------------------------------- flips
def test_flips_exact_for_numpy_pil_and_tensors() -> None:
    img = _img()
    np.testing.assert_array_equal(T.hflip(img), img[:, ::-1])
    np.testing.assert_array_equal(T.vflip(img), img[::-1])
    np.testing.assert_array_equal(np.asarray(T.hflip(Image.fromarray(img))), img[:, ::-1])
    np.testing.assert_array_equal(np.asarray(T.vflip(Image.fromarray(img))), img[::-1])
    t = _chw(img)
    np.testing.assert_array_equal(T.hflip(t).numpy(), t.numpy()[:, :, ::-1])
    np.testing.assert_array_equal(T.vflip(t).numpy(), t.numpy()[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(img), img[::-1])
    assert T.RandomHorizontalFlip(p=0.0)(img) is img


def test_random_flip_statistics_and_seed() -> None:
    img = _img()
    flip = T.RandomHorizontalFlip()

    def draws() -> list[bool]:
        return [not np.array_equal(flip(img), img) for _ in range(400)]

    minidl.manual_seed(0)
    first = draws()
    assert 0.42 < np.mean(first) < 0.58
    minidl.manual_seed(0)
    assert draws() == first
    minidl.manual_seed(0)
    assert np.mean([not np.array_equal(T.RandomVerticalFlip(0.2)(img), img) for _ in range(400)]) < 0.3


# ---------------------------------------------------------------------------- pads and crops
NP_MODE = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 4), [0, 4, 1, 0]])
def test_pad_modes_equal_numpy_pad(mode: str, padding) -> None:
    img = _img()
    if isinstance(padding, int):
        left = top = right = bottom = padding
    elif len(padding) == 2:
        left, top = right, bottom = padding
    else:
        left, top, right, bottom = padding
    want = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode=NP_MODE[mode])
    np.testing.assert_array_equal(T.pad(img, padding, padding_mode=mode), want)
    np.testing.assert_array_equal(np.asarray(T.pad(Image.fromarray(img), padding, padding_mode=mode)), want)
    np.testing.assert_array_equal(T.pad(_chw(img), padding, padding_mode=mode).numpy(), want.transpose(2, 0, 1))
    np.testing.assert_array_equal(T.Pad(padding, padding_mode=mode)(img[..., 0]), want[..., 0])  # 2-D grey


def test_pad_documented_examples_and_fill() -> None:
    row = np.array([[1, 2, 3, 4]], np.uint8)
    assert T.pad(row, (2, 0), padding_mode="reflect")[0].tolist() == [3, 2, 1, 2, 3, 4, 3, 2]
    assert T.pad(row, (2, 0), padding_mode="symmetric")[0].tolist() == [2, 1, 1, 2, 3, 4, 4, 3]
    assert T.pad(row, (2, 0), padding_mode="edge")[0].tolist() == [1, 1, 1, 2, 3, 4, 4, 4]
    out = T.pad(_img(2, 2), 1, fill=(7, 8, 9))
    assert out[0, 0].tolist() == [7, 8, 9] and out[-1, -1].tolist() == [7, 8, 9]
    pil = np.asarray(T.pad(Image.fromarray(_img(2, 2)), 1, fill=(7, 8, 9)))
    np.testing.assert_array_equal(pil, out)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_of_padded_image(mode: str) -> None:
    img = _img()  # 5 x 6
    padded = np.pad(img, ((2, 2), (2, 2), (0, 0)), mode=mode)
    # crop size == padded size: one possible position, the whole padded image
    np.testing.assert_array_equal(T.RandomCrop((9, 10), padding=2, padding_mode=mode)(img), padded)
    minidl.manual_seed(0)
    crop = T.RandomCrop(5, padding=2, padding_mode=mode)
    seen = set()
    for _ in range(200):
        out = crop(img)
        assert out.shape == (5, 5, 3)
        hits = [
            (i, j) for i in range(5) for j in range(6) if np.array_equal(out, padded[i : i + 5, j : j + 5])
        ]
        assert hits
        seen.update(hits)
    assert len(seen) == 30  # every offset (5 x 6) drawn


def test_random_crop_pad_if_needed_and_errors() -> None:
    img = _img(3, 4)
    out = T.RandomCrop((5, 6), pad_if_needed=True, fill=1)(img)
    # torchvision pads each side by the missing size, then crops at random
    assert out.shape == (5, 6, 3)
    with pytest.raises(ValueError, match=r"RandomCrop: required crop size \(5, 6\).*\(3, 4\).*shape \(3, 4, 3\)"):
        T.RandomCrop((5, 6))(img)
    with pytest.raises(ValueError):
        T.RandomCrop(3, padding_mode="wrap")
    with pytest.raises(ValueError):
        T.RandomCrop(3, padding=(1, 2, 3))
    with pytest.raises(ValueError):
        T.RandomCrop((1, 2, 3))


def test_center_crop_and_zero_padding() -> None:
    img = _img(5, 6)
    np.testing.assert_array_equal(T.CenterCrop(3)(img), img[1:4, 2:5])  # round((5-3)/2)=1, round((6-3)/2)=2
    np.testing.assert_array_equal(T.CenterCrop((2, 4))(img), img[2:4, 1:5])  # round(1.5)=2 (banker's), round(1)=1
    big = T.CenterCrop((7, 8))(img)
    assert big.shape == (7, 8, 3)
    np.testing.assert_array_equal(big[1:6, 1:7], img)
    assert big[0].sum() == 0 and big[:, 0].sum() == 0
    np.testing.assert_array_equal(T.CenterCrop(3)(_chw(img)).numpy(), img[1:4, 2:5].transpose(2, 0, 1))


@pytest.mark.parametrize("vertical_flip", [False, True])
def test_ten_crop_order_and_count(vertical_flip: bool) -> None:
    img = _img(5, 6)
    crops = T.TenCrop((3, 4), vertical_flip=vertical_flip)(img)
    assert isinstance(crops, tuple) and len(crops) == 10
    flipped = img[::-1] if vertical_flip else img[:, ::-1]
    for k, src in enumerate((img, flipped)):
        tl, tr, bl, br, center = crops[5 * k : 5 * k + 5]
        np.testing.assert_array_equal(tl, src[:3, :4])
        np.testing.assert_array_equal(tr, src[:3, 2:])
        np.testing.assert_array_equal(bl, src[2:, :4])
        np.testing.assert_array_equal(br, src[2:, 2:])
        np.testing.assert_array_equal(center, src[1:4, 1:5])
    five = T.FiveCrop(2)(Image.fromarray(img))
    assert len(five) == 5 and all(c.size == (2, 2) for c in five)
    with pytest.raises(ValueError, match="bigger than input size"):
        T.FiveCrop(6)(img)


# ---------------------------------------------------------------------------- ToTensor / Normalize
def test_to_tensor_numbers_and_shapes() -> None:
    img = np.array([[[0, 51, 255], [102, 204, 153]]], np.uint8)  # 1 x 2 x 3 (HWC)
    t = T.ToTensor()(img)
    assert isinstance(t, minidl.Tensor) and t.dtype == minidl.float32 and tuple(t.shape) == (3, 1, 2)
    np.testing.assert_array_equal(t.numpy(), (img.transpose(2, 0, 1).astype(np.float32) / np.float32(255)))
    np.testing.assert_allclose(t.numpy()[:, 0, 0], [0.0, 0.2, 1.0])
    gray = np.array([[0, 255], [51, 102]], np.uint8)
    g = T.ToTensor()(gray)
    assert tuple(g.shape) == (1, 2, 2)
    np.testing.assert_allclose(g.numpy()[0], [[0, 1], [0.2, 0.4]], rtol=1e-7)
    np.testing.assert_array_equal(T.ToTensor()(Image.fromarray(img)).numpy(), t.numpy())
    np.testing.assert_array_equal(T.ToTensor()(Image.fromarray(gray)).numpy(), g.numpy())
    f = np.full((2, 2, 3), 0.5, np.float32)  # float images keep their values, as in torchvision
    assert T.ToTensor()(f).dtype == minidl.float32 and T.ToTensor()(f).numpy().max() == 0.5
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 2, 3), np.uint8))
    with pytest.raises(TypeError):
        T.ToTensor()([[1, 2]])


def test_normalize_numbers() -> None:
    x = minidl.tensor([[[0.0, 0.5]], [[1.0, 0.25]]])  # (2, 1, 2)
    out = T.Normalize((0.5, 0.25), (0.5, 0.25))(x)
    np.testing.assert_allclose(out.numpy(), [[[-1.0, 0.0]], [[3.0, 0.0]]])
    assert x.numpy()[0, 0, 0] == 0.0  # not in place by default
    img = _rand_img()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours = T.Compose([T.ToTensor(), T.Normalize(mean, std)])(img).numpy()
    t = torch.from_numpy(img).permute(2, 0, 1).float().div(255)
    theirs = ((t - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    batch = minidl.tensor(np.ones((4, 3, 2, 2), np.float32))
    np.testing.assert_allclose(T.Normalize(mean, std)(batch).numpy()[3, :, 1, 1], (1 - np.array(mean)) / std, 1e-6)
    y = minidl.tensor([[[2.0]]])
    assert T.Normalize((1.0,), (2.0,), inplace=True)(y) is y and y.item() == 0.5


def test_normalize_errors() -> None:
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.5,), (0.0,))(minidl.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="float tensor"):
        T.Normalize((0,), (1,))(minidl.zeros(1, 2, 2, dtype=minidl.int64))
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize((0,), (1,))(np.zeros((2, 2, 1), np.float32))
    with pytest.raises(ValueError, match=r"\(3, 2\)"):
        T.Normalize((0,), (1,))(minidl.zeros(3, 2))
    with pytest.raises(ValueError, match="2 values of mean for an image with 3 channels"):
        T.Normalize((0, 0), (1, 1))(minidl.zeros(3, 2, 2))


# ---------------------------------------------------------------------------- Resize
@pytest.mark.parametrize(
    "hw, size, want",
    [
        ((32, 64), 16, (16, 32)),
        ((64, 32), 16, (32, 16)),
        ((30, 40), 20, (20, 26)),  # long edge int(20 * 40 / 30) = 26 (floored)
        ((40, 30), 20, (26, 20)),
        ((10, 10), 5, (5, 5)),
        ((7, 9), [4], (4, 5)),  # int(4 * 9 / 7) = 5
        ((7, 9), (3, 11), (3, 11)),
        ((30, 40), 20, (20, 26)),
    ],
)
def test_resize_output_size_rule(hw, size, want) -> None:
    img = np.zeros((*hw, 3), np.uint8)
    assert T.Resize(size)(img).shape == (*want, 3)
    assert T.Resize(size)(Image.fromarray(img)).size == (want[1], want[0])
    assert tuple(T.Resize(size)(minidl.zeros(3, *hw)).shape) == (3, *want)


def test_resize_max_size_and_identity() -> None:
    img = np.zeros((30, 40), np.float32)
    # 20 -> (20, 26); 26 > max_size 25, so the long edge becomes 25 and the short int(25 * 20 / 26) = 19
    assert T.Resize(20, max_size=25)(img).shape == (19, 25)
    img2 = np.zeros((10, 12, 3), np.uint8)
    assert T.Resize(10)(img2) is img2
    with pytest.raises(ValueError, match="max_size"):
        T.Resize(20, max_size=20)(img)


def test_resize_values_are_pils() -> None:
    img = _rand_img()
    want = np.asarray(Image.fromarray(img).resize((8, 6), Image.BILINEAR))
    np.testing.assert_array_equal(T.Resize((6, 8))(img), want)
    want_n = np.asarray(Image.fromarray(img).resize((30, 20), Image.NEAREST))
    np.testing.assert_array_equal(T.Resize((20, 30), interpolation=T.InterpolationMode.NEAREST)(img), want_n)
    # float images are resampled per channel in PIL's float mode: within uint8 rounding of the same filter
    f = T.Resize((6, 8))(img.astype(np.float32))
    assert f.dtype == np.float32 and np.abs(f - want).max() < 1.0
    t = T.Resize((6, 8))(T.ToTensor()(img))
    assert tuple(t.shape) == (3, 6, 8) and np.abs(t.numpy() * 255 - want.transpose(2, 0, 1)).max() < 1.0


def test_resize_tensor_nearest_uses_torch_rule() -> None:
    x = torch.rand(2, 3, 7, 9)
    for size in [(4, 5), (14, 20), (3, 30)]:
        want = torch.nn.functional.interpolate(x, size=size, mode="nearest").numpy()
        got = T.Resize(size, interpolation=T.InterpolationMode.NEAREST)(minidl.tensor(x.numpy())).numpy()
        np.testing.assert_array_equal(got, want)


def test_resize_bad_arguments() -> None:
    with pytest.raises(TypeError):
        T.Resize("big")
    with pytest.raises(ValueError):
        T.Resize((1, 2, 3))
    with pytest.raises(ValueError):
        T.Resize((4, 5), max_size=10)
    with pytest.raises(TypeError):
        T.Resize(4, interpolation="sideways")


# ---------------------------------------------------------------------------- RandomResizedCrop
def test_random_resized_crop_params_and_output() -> None:
    img = np.zeros((100, 80, 3), np.uint8)
    minidl.manual_seed(0)
    rrc = T.RandomResizedCrop(24)
    for _ in range(300):
        i, j, h, w = rrc.get_params(img, rrc.scale, rrc.ratio)
        assert 0 <= i <= 100 - h and 0 <= j <= 80 - w and 0 < h and 0 < w
        area = h * w / 8000
        assert 0.08 * 0.9 < area < 1.0 + 1e-9
        assert 3 / 4 * 0.85 < w / h < 4 / 3 * 1.15
    assert rrc(img).shape == (24, 24, 3)
    assert tuple(T.RandomResizedCrop((10, 12))(T.ToTensor()(img)).shape) == (3, 10, 12)
    minidl.manual_seed(5)
    a = [T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(5)]
    minidl.manual_seed(5)
    assert a == [T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3)) for _ in range(5)]


def test_random_resized_crop_fallback_is_central() -> None:
    # an area larger than the image never fits: after 10 attempts, the central crop with the ratio clamped
    wide = np.zeros((50, 100), np.uint8)  # width / height = 2 > 4/3 -> h = 50, w = round(50 * 4/3) = 67
    assert T.RandomResizedCrop.get_params(wide, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 16, 50, 67)
    tall = np.zeros((100, 50), np.uint8)  # 0.5 < 3/4 -> w = 50, h = round(50 / 0.75) = 67
    assert T.RandomResizedCrop.get_params(tall, (2.0, 3.0), (3 / 4, 4 / 3)) == (16, 0, 67, 50)
    square = np.zeros((40, 40), np.uint8)
    assert T.RandomResizedCrop.get_params(square, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 0, 40, 40)


# ---------------------------------------------------------------------------- ColorJitter
def test_color_jitter_factor_ranges_and_order() -> None:
    cj = T.ColorJitter(brightness=0.4, contrast=(0.5, 0.9), saturation=1.5, hue=0.1)
    assert cj.brightness == (0.6, 1.4) and cj.contrast == (0.5, 0.9)
    assert cj.saturation == (0.0, 2.5) and cj.hue == (-0.1, 0.1)
    minidl.manual_seed(0)
    draws = [cj.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue) for _ in range(500)]
    orders = {tuple(d[0]) for d in draws}
    assert all(sorted(o) == [0, 1, 2, 3] for o in orders) and len(orders) > 15
    b = np.array([d[1] for d in draws])
    h = np.array([d[4] for d in draws])
    assert b.min() >= 0.6 and b.max() <= 1.4 and abs(b.mean() - 1.0) < 0.03
    assert h.min() >= -0.1 and h.max() <= 0.1 and abs(h.mean()) < 0.01
    assert T.ColorJitter().get_params(None, None, None, None)[1:] == (None, None, None, None)
    img = _rand_img()
    np.testing.assert_array_equal(T.ColorJitter()(img), img)


def test_color_adjustments_exact() -> None:
    img = _rand_img()
    pil = Image.fromarray(img)
    np.testing.assert_array_equal(T.adjust_brightness(img, 1.3), np.asarray(ImageEnhance.Brightness(pil).enhance(1.3)))
    np.testing.assert_array_equal(T.adjust_contrast(img, 0.6), np.asarray(ImageEnhance.Contrast(pil).enhance(0.6)))
    np.testing.assert_array_equal(T.adjust_saturation(img, 1.7), np.asarray(ImageEnhance.Color(pil).enhance(1.7)))
    x = np.array([[[0.2, 0.5, 0.9]]], np.float32)  # a float HWC pixel: torchvision's tensor formulas
    np.testing.assert_allclose(T.adjust_brightness(x, 2.0), [[[0.4, 1.0, 1.0]]])  # clamped at 1
    gray = 0.2989 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9
    np.testing.assert_allclose(T.adjust_saturation(x, 0.0), [[[gray] * 3]], rtol=1e-6)
    np.testing.assert_allclose(T.adjust_contrast(x, 0.0), [[[gray] * 3]], rtol=1e-6)
    red = minidl.tensor([[[1.0]], [[0.0]], [[0.0]]])  # (3, 1, 1)
    np.testing.assert_allclose(T.adjust_hue(red, 1 / 3).numpy().ravel(), [0, 1, 0], atol=1e-6)  # red -> green
    np.testing.assert_allclose(T.adjust_hue(red, -1 / 3).numpy().ravel(), [0, 0, 1], atol=1e-6)  # red -> blue
    cyan = T.adjust_hue(np.array([[[255, 0, 0]]], np.uint8), 0.5)[0, 0].astype(int)
    assert cyan[0] < 5 and cyan[1] > 250 and cyan[2] > 240
    assert T.ColorJitter(hue=0.2)(np.zeros((4, 4, 3), np.uint8)).shape == (4, 4, 3)


def test_color_jitter_bad_arguments() -> None:
    with pytest.raises(ValueError):
        T.ColorJitter(brightness=-1)
    with pytest.raises(ValueError):
        T.ColorJitter(hue=0.6)
    with pytest.raises(TypeError):
        T.ColorJitter(contrast="x")
    with pytest.raises(ValueError, match=r"1 or 3 channels.*\(4, 4, 2\)"):
        T.ColorJitter(brightness=0.5)(np.zeros((4, 4, 2), np.float32))


# ---------------------------------------------------------------------------- rotation / affine
def test_rotation_by_90_is_rot90_and_fill() -> None:
    img = _img(6, 6)
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(img), np.rot90(img))  # counter-clockwise
    ones = np.full((9, 9), 200, np.uint8)
    out = T.RandomRotation((45, 45), fill=7)(ones)
    assert out[0, 0] == 7 and out[4, 4] == 200
    outf = T.rotate(np.full((9, 9, 2), 0.5, np.float32), 45, fill=(1.0, 2.0))
    assert outf.dtype == np.float32 and outf[0, 0].tolist() == [1.0, 2.0] and outf[4, 4].tolist() == [0.5, 0.5]
    minidl.manual_seed(0)
    angles = [T.RandomRotation.get_params([-20.0, 20.0]) for _ in range(500)]
    assert min(angles) >= -20 and max(angles) <= 20 and abs(np.mean(angles)) < 1.5


def test_affine_translation_is_a_shift() -> None:
    img = _img(5, 6)
    out = T.affine(img, angle=0, translate=(2, 1), scale=1.0, shear=0, fill=0)
    np.testing.assert_array_equal(out[1:, 2:], img[:-1, :-2])
    assert out[0].sum() == 0 and out[:, :2].sum() == 0
    minidl.manual_seed(0)
    for _ in range(200):
        angle, (tx, ty), scale, shear = T.RandomAffine.get_params([-10, 10], (0.1, 0.2), (0.9, 1.1), [-5, 5], [60, 50])
        assert -10 <= angle <= 10 and abs(tx) <= 6 and abs(ty) <= 10 and 0.9 <= scale <= 1.1
        assert -5 <= shear[0] <= 5 and shear[1] == 0.0
    zoom = T.RandomAffine(0, scale=(2.0, 2.0))(np.pad(np.full((2, 2), 9, np.uint8), 3))
    assert zoom.shape == (8, 8) and (zoom == 9).sum() == 16  # the 2x2 centre grows to 4x4


def test_random_affine_and_rotation_bad_arguments() -> None:
    with pytest.raises(ValueError):
        T.RandomRotation(-5)
    with pytest.raises(ValueError):
        T.RandomAffine(0, translate=(1.5, 0))
    with pytest.raises(ValueError):
        T.RandomAffine(0, scale=(0, 1))
    with pytest.raises(TypeError):
        T.RandomAffine(0, translate=0.1)
    with pytest.raises(ValueError):
        T.RandomAffine(0, shear=(1, 2, 3))


# ---------------------------------------------------------------------------- noise, erasing, composition
def test_gaussian_noise_statistics_clip_and_seed() -> None:
    x = minidl.full((1, 200, 200), 0.5)
    minidl.manual_seed(0)
    noisy = T.GaussianNoise(sigma=0.1)(x)
    d = noisy.numpy() - 0.5
    assert noisy.dtype == minidl.float32 and abs(d.mean()) < 0.003 and abs(d.std() - 0.1) < 0.003
    minidl.manual_seed(0)
    np.testing.assert_array_equal(T.GaussianNoise(sigma=0.1)(x).numpy(), noisy.numpy())
    assert not np.array_equal(T.GaussianNoise(sigma=0.1)(x).numpy(), noisy.numpy())  # fresh noise per call
    big = T.GaussianNoise(mean=0.2, sigma=1.0)(x).numpy()
    assert big.min() == 0.0 and big.max() == 1.0
    raw = T.GaussianNoise(mean=0.2, sigma=1.0, clip=False)(x).numpy()
    assert raw.min() < 0 and raw.max() > 1 and abs(raw.mean() - 0.7) < 0.02
    u8 = T.GaussianNoise(sigma=0.1)(np.full((50, 50), 128, np.uint8))
    assert u8.dtype == np.uint8 and 20 < u8.astype(float).std() < 32
    with pytest.raises(ValueError):
        T.GaussianNoise(sigma=-1)
    with pytest.raises(ValueError, match="PIL"):
        T.GaussianNoise()(Image.new("L", (2, 2)))


def test_random_erasing_and_grayscale() -> None:
    x = minidl.ones(3, 20, 20)
    minidl.manual_seed(0)
    out = T.RandomErasing(p=1.0, value=0)(x).numpy()
    erased = (out == 0).all(axis=0)
    rows, cols = np.nonzero(erased)
    assert erased.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one rectangle
    assert 0.02 * 400 * 0.8 <= erased.sum() <= 0.33 * 400 * 1.2
    assert x.numpy().min() == 1.0  # not in place
    g = T.Grayscale()(_rand_img())
    assert g.shape == (13, 17, 1)
    np.testing.assert_array_equal(g[..., 0], np.asarray(Image.fromarray(_rand_img()).convert("L")))
    assert T.RandomGrayscale(p=1.0)(_rand_img()).shape == (13, 17, 3)


def test_lambda_random_apply_compose_and_seed_reproducibility() -> None:
    img = _img()
    np.testing.assert_array_equal(T.Lambda(lambda a: a + 1)(img), img + 1)
    with pytest.raises(TypeError):
        T.Lambda(3)
    flip_all = T.RandomApply([T.RandomHorizontalFlip(1.0), T.RandomVerticalFlip(1.0)], p=1.0)
    np.testing.assert_array_equal(flip_all(img), img[::-1, ::-1])
    assert T.RandomApply([T.RandomHorizontalFlip(1.0)], p=0.0)(img) is img
    pipeline = T.Compose([
        T.RandomResizedCrop(8, scale=(0.5, 1.0)),
        T.RandomHorizontalFlip(),
        T.ColorJitter(0.4, 0.4, 0.4, 0.1),
        T.RandomRotation(20),
        T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        T.ToTensor(),
        T.GaussianNoise(),
    ])  # fmt: skip
    big = _rand_img(32, 32)
    minidl.manual_seed(11)
    first = [pipeline(big).numpy() for _ in range(3)]
    minidl.manual_seed(11)
    second = [pipeline(big).numpy() for _ in range(3)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    assert first[0].shape == (3, 8, 8) and first[0].dtype == np.float32


def test_outputs_keep_the_input_kind() -> None:
    img = _rand_img()
    for tf in [T.RandomCrop(8, padding=2), T.Resize(9), T.RandomRotation(30), T.ColorJitter(0.3, 0.3, 0.3, 0.05),
               T.RandomAffine(5, scale=(0.9, 1.1)), T.CenterCrop(7), T.RandomResizedCrop(6)]:  # fmt: skip
        out = tf(img)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.flags.writeable
        assert isinstance(tf(Image.fromarray(img)), Image.Image)
        out = tf(T.ToTensor()(img))
        assert isinstance(out, minidl.Tensor) and out.dtype == minidl.float32


def test_errors_name_the_transform_and_the_image() -> None:
    with pytest.warns(UserWarning, match="channels-first"):
        T.RandomCrop(2)(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"RandomCrop.*\(2, 2, 3, 4\)"):
        T.RandomCrop(2)(np.zeros((2, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match=r"resize.*list"):
        T.Resize(4)([[1, 2]])


# ---------------------------------------------------------------------------- reprs (torchvision's strings)
REPRS = [
    (lambda: T.Resize(32), "Resize(size=32, interpolation=bilinear, max_size=None, antialias=True)"),
    (lambda: T.Resize((4, 5)), "Resize(size=(4, 5), interpolation=bilinear, max_size=None, antialias=True)"),
    (lambda: T.RandomCrop(32, padding=4), "RandomCrop(size=(32, 32), padding=4)"),
    (lambda: T.RandomCrop(8), "RandomCrop(size=(8, 8), padding=None)"),
    (lambda: T.ColorJitter(0.4, 0.4, 0.4, 0.1),
     "ColorJitter(brightness=(0.6, 1.4), contrast=(0.6, 1.4), saturation=(0.6, 1.4), hue=(-0.1, 0.1))"),
    (lambda: T.ColorJitter(), "ColorJitter(brightness=None, contrast=None, saturation=None, hue=None)"),
    (lambda: T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1), 5),
     "RandomAffine(degrees=[-10.0, 10.0], translate=(0.1, 0.1), scale=(0.9, 1.1), shear=[-5.0, 5.0])"),
    (lambda: T.TenCrop(8), "TenCrop(size=(8, 8), vertical_flip=False)"),
    (lambda: T.FiveCrop(8), "FiveCrop(size=(8, 8))"),
    (lambda: T.CenterCrop(8), "CenterCrop(size=(8, 8))"),
    (lambda: T.RandomResizedCrop(24),
     "RandomResizedCrop(size=(24, 24), scale=(0.08, 1.0), ratio=(0.75, 1.3333), interpolation=bilinear, "
     "antialias=True)"),
    (lambda: T.RandomRotation(20),
     "RandomRotation(degrees=[-20.0, 20.0], interpolation=nearest, expand=False, fill=0)"),
    (lambda: T.Normalize((0.5,), (0.5,)), "Normalize(mean=(0.5,), std=(0.5,))"),
    (lambda: T.Compose([T.ToTensor(), T.Lambda(lambda x: x)]), "Compose(\n    ToTensor()\n    Lambda()\n)"),
    (lambda: T.RandomApply([T.RandomHorizontalFlip()], p=0.3),
     "RandomApply(\n    p=0.3\n    RandomHorizontalFlip(p=0.5)\n)"),
    (lambda: T.GaussianNoise(), "GaussianNoise(mean=0.0, sigma=0.1, clip=True)"),
    (lambda: T.RandomVerticalFlip(), "RandomVerticalFlip(p=0.5)"),
    (lambda: T.Pad(3, 1, "reflect"), "Pad(padding=3, fill=1, padding_mode=reflect)"),
]


@pytest.mark.parametrize("make, want", REPRS, ids=[w.split("(")[0] for _, w in REPRS])
def test_reprs_are_torchvisions(make, want: str) -> None:
    assert repr(make()) == want


def test_functional_alias() -> None:
    from minidl.data.transforms import functional as F

    assert F.hflip is T.hflip and math.isclose(F.to_tensor(np.full((1, 1), 255, np.uint8)).item(), 1.0)

"""Autoencoders (COURSEWORK §5 prose questions; exercise 12): MLP, convolutional, denoising, sparse.

    ae = Autoencoder(784, hidden_features=(256,), latent_features=32)
    x_hat = ae(x)                       # x: (N, 784) or (N, 1, 28, 28); x_hat has x's shape
    loss = F.mse_loss(x_hat, x)         # or F.binary_cross_entropy(x_hat, x): outputs are in (0, 1)

    dae = DenoisingAutoencoder(Autoencoder(784), noise_std=0.3)   # fresh noise every forward in train()
    sae = SparseAutoencoder(784, latent_features=64, sparsity="kl", rho=0.05, sparsity_weight=1e-3)
    loss = F.mse_loss(sae(x), x) + sae.sparsity_penalty()
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import minidl as md
from minidl import nn

__all__ = ["Autoencoder", "ConvAutoencoder", "DenoisingAutoencoder", "SparseAutoencoder"]


def _activation(name: str | None) -> nn.Module:
    table = {None: nn.Identity, "identity": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}: one of {sorted(k for k in table if k)}")
    return table[name]()


class Autoencoder(nn.Module):
    """MLP autoencoder: ``encoder`` in -> hidden... -> latent, ``decoder`` latent -> ...hidden -> in.

    Linear layers with ReLU between; ``latent_activation`` ends the encoder (None, "relu",
    "sigmoid", "tanh"), ``output_activation`` ends the decoder ("sigmoid" by default so the
    reconstruction is in (0, 1) and both MSE and binary cross-entropy apply).
    forward: (N, in_features) or (N, *dims) with prod(dims) == in_features -> the same shape.
    ``encode(x)`` -> (N, latent_features); ``decode(z)`` -> (N, in_features).
    """

    def __init__(self, in_features: int = 784, hidden_features: Sequence[int] = (128,), latent_features: int = 32,
                 latent_activation: str | None = None, output_activation: str | None = "sigmoid") -> None:  # fmt: skip
        super().__init__()
        self.in_features = in_features
        self.latent_features = latent_features
        sizes = [in_features, *hidden_features, latent_features]
        enc: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            enc.append(nn.Linear(sizes[i], sizes[i + 1]))
            enc.append(nn.ReLU() if i < len(sizes) - 2 else _activation(latent_activation))
        dec: list[nn.Module] = []
        rev = sizes[::-1]
        for i in range(len(rev) - 1):
            dec.append(nn.Linear(rev[i], rev[i + 1]))
            dec.append(nn.ReLU() if i < len(rev) - 2 else _activation(output_activation))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: md.Tensor) -> md.Tensor:
        return self.encoder(x.reshape(x.shape[0], -1) if x.ndim != 2 else x)

    def decode(self, z: md.Tensor) -> md.Tensor:
        return self.decoder(z)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.decode(self.encode(x)).reshape(*x.shape)


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder: stride-2 convs down, ConvTranspose2d up.

    ``encoder``: for each width in ``channels``, Conv2d(3x3, stride 2, padding 1) + ReLU
    (H -> H/2 each); ``decoder``: the mirror with ConvTranspose2d(3x3, stride 2, padding 1,
    output_padding 1) (H -> 2H), ReLU between, ``output_activation`` (sigmoid) at the end.
    (N, in_channels, H, W) -> (N, in_channels, H, W) for H, W divisible by 2**len(channels)
    (28x28 MNIST with two levels: 28 -> 14 -> 7 -> 14 -> 28).
    ``encode(x)`` -> (N, channels[-1], H / 2**k, W / 2**k).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (16, 32),
                 output_activation: str | None = "sigmoid") -> None:  # fmt: skip
        super().__init__()
        widths = [in_channels, *channels]
        enc: list[nn.Module] = []
        for i in range(len(widths) - 1):
            enc += [nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), nn.ReLU()]
        dec: list[nn.Module] = []
        rev = widths[::-1]
        for i in range(len(rev) - 1):
            dec.append(nn.ConvTranspose2d(rev[i], rev[i + 1], 3, stride=2, padding=1, output_padding=1))
            dec.append(nn.ReLU() if i < len(rev) - 2 else _activation(output_activation))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: md.Tensor) -> md.Tensor:
        return self.encoder(x)

    def decode(self, z: md.Tensor) -> md.Tensor:
        return self.decoder(z)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.decode(self.encode(x))


class DenoisingAutoencoder(nn.Module):
    """Wraps an autoencoder; in ``train()`` mode forward corrupts its input with fresh Gaussian noise.

    forward(x) = autoencoder(clamp(x + noise_std * randn_like(x), 0, 1)) while training
    (new noise at every call, so every epoch sees fresh noise, as §5 recommends) and
    autoencoder(x) in ``eval()``; the loss compares the output with the *clean* x.
    ``autoencoder`` defaults to ``Autoencoder(**kwargs)``; ``clip=None`` skips the clamp.
    Shapes are the wrapped autoencoder's. State-dict keys start ``autoencoder.``.
    """

    def __init__(self, autoencoder: nn.Module | None = None, noise_std: float = 0.3,
                 clip: tuple[float, float] | None = (0.0, 1.0), **kwargs: object) -> None:  # fmt: skip
        super().__init__()
        self.autoencoder = autoencoder if autoencoder is not None else Autoencoder(**kwargs)  # type: ignore[arg-type]
        self.noise_std = noise_std
        self.clip = clip

    def add_noise(self, x: md.Tensor) -> md.Tensor:
        """x + noise_std * N(0, 1), clamped to ``clip``; outside the graph of the noise."""
        noisy = x + self.noise_std * md.randn_like(x)
        return noisy.clamp(*self.clip) if self.clip is not None else noisy

    def encode(self, x: md.Tensor) -> md.Tensor:
        return self.autoencoder.encode(x)  # type: ignore[operator]

    def decode(self, z: md.Tensor) -> md.Tensor:
        return self.autoencoder.decode(z)  # type: ignore[operator]

    def forward(self, x: md.Tensor) -> md.Tensor:
        if self.training and self.noise_std > 0:
            x = self.add_noise(x)
        return self.autoencoder(x)


class SparseAutoencoder(Autoencoder):
    """An :class:`Autoencoder` whose code is pushed to be sparse by a penalty added to the loss.

    ``sparsity="l1"``: penalty = weight * mean over the batch of sum |z| (ReLU code);
    ``sparsity="kl"``: penalty = weight * sum_j KL(rho || rho_hat_j), rho_hat_j the mean
    activation of code unit j over the batch (sigmoid code, so rho_hat is in (0, 1)).
    forward stores the code of the last batch as ``last_code``; ``sparsity_penalty()``
    uses it (or a code you pass). Shapes as :class:`Autoencoder`.
    """

    def __init__(self, in_features: int = 784, hidden_features: Sequence[int] = (128,), latent_features: int = 64,
                 sparsity: str = "l1", sparsity_weight: float = 1e-3, rho: float = 0.05,
                 output_activation: str | None = "sigmoid") -> None:  # fmt: skip
        if sparsity not in ("l1", "kl"):
            raise ValueError(f"sparsity must be 'l1' or 'kl', got {sparsity!r}")
        if not 0 < rho < 1:
            raise ValueError(f"rho must be in (0, 1), got {rho}")
        super().__init__(in_features, hidden_features, latent_features,
                         latent_activation="relu" if sparsity == "l1" else "sigmoid",
                         output_activation=output_activation)  # fmt: skip
        self.sparsity = sparsity
        self.sparsity_weight = sparsity_weight
        self.rho = rho
        self.last_code: md.Tensor | None = None

    def forward(self, x: md.Tensor) -> md.Tensor:
        z = self.encode(x)
        self.last_code = z
        return self.decode(z).reshape(*x.shape)

    def sparsity_penalty(self, z: md.Tensor | None = None) -> md.Tensor:
        """The weighted L1 or KL penalty of code ``z`` (default: the last forward's); differentiable."""
        z = self.last_code if z is None else z
        if z is None:
            raise RuntimeError("sparsity_penalty() needs a code: run forward first or pass z")
        if self.sparsity == "l1":
            return self.sparsity_weight * z.abs().sum(1).mean()
        eps = 1e-7
        rho = self.rho
        rho_hat = z.mean(0).clamp(eps, 1 - eps)
        kl = rho * (math.log(rho) - rho_hat.log()) + (1 - rho) * (math.log(1 - rho) - (1 - rho_hat).log())
        return self.sparsity_weight * kl.sum()

"""One global random generator, seeded by ``minidl.manual_seed``.

Every random op (``rand``, ``randn``, init, dropout, shuffling, augmentation) draws from
:func:`default_generator` unless it is handed a :class:`Generator`, so one
``manual_seed(0)`` makes a whole run repeatable. The streams are numpy's PCG64, not
torch's Mersenne twister: seeded runs repeat within minidl, not across the two libraries.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "Generator",
    "default_generator",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
]


class Generator:
    """A random stream (``torch.Generator``): ``Generator().manual_seed(0)``."""

    def __init__(self, device: Any = "cpu") -> None:
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self.rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh entropy and return the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % (2**63)))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


_DEFAULT = Generator()


def default_generator() -> Generator:
    """The global generator that ``manual_seed`` seeds."""
    return _DEFAULT


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The numpy generator behind ``generator`` (the global one when None)."""
    return (generator or _DEFAULT).rng


def manual_seed(seed: int) -> Generator:
    """Seed the global generator, as ``torch.manual_seed``."""
    return _DEFAULT.manual_seed(seed)


def seed() -> int:
    return _DEFAULT.seed()


def initial_seed() -> int:
    return _DEFAULT.initial_seed()


def get_rng_state() -> dict[str, Any]:
    return _DEFAULT.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    _DEFAULT.set_state(state)

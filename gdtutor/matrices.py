"""Seeded test matrices: the 2020 series' matrices and matrices with a prescribed spectrum."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

#: The seed the 2020 series used for every random draw.
SEED_2020 = 314


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def seeded_rand(*shape: int, seed: int = SEED_2020, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform ``[0, 1)`` entries, exactly as ``torch.manual_seed(seed); torch.rand(*shape)``.

    The 2020 series drew every matrix this way. A private :class:`torch.Generator` gives the
    same numbers without touching the global random state.

    Examples
    --------
    >>> seeded_rand(2, 3)
    tensor([[0.7196, 0.6295, 0.6667],
            [0.3385, 0.8522, 0.3126]])
    """
    values = torch.rand(*shape, generator=_generator(seed))
    return values.to(dtype)


def random_orthogonal(n: int, *, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""A Haar-distributed random orthogonal ``n × n`` matrix.

    QR of a Gaussian matrix, with the signs of :math:`R`'s diagonal moved into :math:`Q` so that
    the distribution is uniform (Mezzadri 2007).
    """
    gaussian = torch.randn(n, n, generator=_generator(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def with_singular_values(
    singular_values: Sequence[float] | Tensor,
    *,
    shape: tuple[int, int] | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""A matrix :math:`A = Q_1 \operatorname{diag}(s) Q_2^\top` with exactly the given singular values.

    Parameters
    ----------
    singular_values
        The singular values :math:`s` (non-negative); their count must be ``min(shape)``.
    shape
        ``(m, n)``; square ``(k, k)`` by default, with ``k = len(singular_values)``.
    seed
        Seed for the two Haar-random orthogonal factors.
    dtype
        The dtype of the result (built in float64, then converted).
    """
    s = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
    m, n = shape if shape is not None else (len(s), len(s))
    if len(s) != min(m, n):
        raise ValueError(
            f"need min(m, n) = {min(m, n)} singular values for shape {(m, n)}; got {len(s)}."
        )
    if (s < 0).any():
        raise ValueError("singular values must be non-negative.")
    left = random_orthogonal(m, seed=seed)[:, : len(s)]
    right = random_orthogonal(n, seed=seed + 1)[:, : len(s)]
    return ((left * s) @ right.T).to(dtype)


def geometric_spectrum(n: int, condition_number: float) -> Tensor:
    r"""``n`` singular values spaced geometrically from 1 down to :math:`1/\kappa` (float64)."""
    if condition_number < 1:
        raise ValueError(f"a condition number is at least 1; got {condition_number}.")
    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    exponents = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    return torch.exp(-math.log(condition_number) * exponents)


def with_condition_number(
    n: int, condition_number: float, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> Tensor:
    r"""A random ``n × n`` matrix with 2-norm condition number exactly :math:`\kappa` (geometric spectrum)."""
    return with_singular_values(geometric_spectrum(n, condition_number), seed=seed, dtype=dtype)

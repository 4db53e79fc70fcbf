"""Small tensor helpers shared by the package (not part of the public API)."""

from __future__ import annotations

import torch
from torch import Tensor


def identity_like(a: Tensor, n: int | None = None) -> Tensor:
    """The ``n × n`` identity (``n`` defaults to ``a``'s row count) in ``a``'s dtype and device.

    One matrix, not a batch: it broadcasts against ``(..., n, n)``.
    """
    size = a.shape[-2] if n is None else n
    return torch.eye(size, dtype=a.dtype, device=a.device)


def power_of_two_exponents(a: Tensor) -> Tensor:
    r"""Per matrix of a batch, the integer :math:`e` with :math:`\max_{ij}|a_{ij}| \in [2^{e-1}, 2^e)`.

    ``torch.ldexp(a, -e)`` then has its largest entry in :math:`[1/2, 1)`, and the scaling is exact
    (only exponents change), so an iteration on the scaled matrix neither overflows nor underflows
    on any finite input and its result scales back exactly. Zero matrices get :math:`e = 0`.
    Shape ``(..., 1, 1)``, broadcastable against ``a``.
    """
    largest = a.abs().amax(dim=(-2, -1), keepdim=True)
    return torch.frexp(largest).exponent

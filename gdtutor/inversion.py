r"""Part 2: the matrix inverse as the minimiser of :math:`f(X) = \|AX - I\|_F^2`."""

from __future__ import annotations

import torch
from torch import Tensor


def identity_residual(a: Tensor, x: Tensor) -> Tensor:
    r"""The residual :math:`AX - I` (batched over leading dimensions)."""
    eye = torch.eye(a.shape[-2], x.shape[-1], dtype=a.dtype, device=a.device)
    return a @ x - eye


def inverse_loss(a: Tensor, x: Tensor) -> Tensor:
    r"""The squared Frobenius residual :math:`f(X) = \|AX - I\|_F^2`, summed over a batch."""
    return identity_residual(a, x).square().sum()


def inverse_loss_gradient(a: Tensor, x: Tensor) -> Tensor:
    r"""The gradient of :func:`inverse_loss`, derived by hand: :math:`\nabla f(X) = 2A^\top(AX - I)`.

    From :math:`f(X + E) = f(X) + 2\langle AX - I, AE\rangle + \|AE\|_F^2` and
    :math:`\langle R, AE\rangle = \langle A^\top R, E\rangle`.
    """
    return 2 * a.mT @ identity_residual(a, x)

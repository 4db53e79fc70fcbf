"""Error measures used by the tests and the tutorials."""

from __future__ import annotations

import torch
from torch import Tensor


def relative_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The relative error :math:`\|x - x_\text{ref}\|_F / \|x_\text{ref}\|_F` (absolute if the reference is 0)."""
    difference = torch.linalg.vector_norm(approximation - reference).item()
    scale = torch.linalg.vector_norm(reference).item()
    return difference / scale if scale > 0 else difference


def max_abs_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The largest entrywise deviation :math:`\max_i |x_i - x_{\text{ref},i}|`."""
    return (approximation - reference).abs().max().item()


def inverse_scaled_residual(a: Tensor, x: Tensor) -> float:
    r"""LAPACK's acceptance test for a computed inverse (as in its test routine ``xGET03``).

    .. math:: \frac{\|I - AX\|_1}{n\,\|A\|_1\,\|X\|_1\,\varepsilon}

    with :math:`\varepsilon` the machine epsilon of ``x``'s dtype. A backward-stable inverse scores
    :math:`O(1)`; LAPACK's own tests accept values below 30. The largest value over a batch.
    """
    n = a.shape[-1]
    eye = torch.eye(n, dtype=a.dtype, device=a.device)
    residual = torch.linalg.matrix_norm(eye - a @ x, ord=1)
    scale = n * torch.linalg.matrix_norm(a, ord=1) * torch.linalg.matrix_norm(x, ord=1)
    return (residual / (scale * torch.finfo(x.dtype).eps)).max().item()


def inverse_forward_error(a: Tensor, x: Tensor) -> float:
    r"""The relative error :math:`\|X - A^{-1}\|_F / \|A^{-1}\|_F` against ``torch.linalg.inv`` in float64.

    The reference itself is accurate to about :math:`\kappa\,u_{64}`; the largest value over a batch.
    """
    reference = torch.linalg.inv(a.to(torch.float64))
    difference = torch.linalg.matrix_norm(x.to(torch.float64) - reference)
    return (difference / torch.linalg.matrix_norm(reference)).max().item()

"""Error measures used by the tests and the tutorials.

Two of them are the stopping measures of the entry points, whose ``tol`` they define:
:func:`inverse_relative_residual` for :func:`gdtutor.inverse` and :func:`svd_relative_residual`
for :func:`gdtutor.svd`. They return one value per matrix of a batch (a 0-dimensional tensor for
a single matrix); the other measures return the largest value over a batch, as a float.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdtutor._tensors import identity_like


def unit_roundoff(dtype: torch.dtype) -> float:
    r"""The unit roundoff :math:`u = \varepsilon/2` of ``dtype``: half its machine epsilon.

    Rounding to nearest makes every operation exact up to a relative error of at most :math:`u`
    (:math:`2^{-24} \approx 6\times10^{-8}` in float32, :math:`2^{-53} \approx 1.1\times10^{-16}`
    in float64). ``torch.finfo(dtype).eps`` is :math:`\varepsilon = 2u`, the gap from 1 to the
    next number.
    """
    return torch.finfo(dtype).eps / 2


def relative_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The relative error :math:`\|x - x_\text{ref}\|_F / \|x_\text{ref}\|_F` (absolute if the reference is 0)."""
    difference = torch.linalg.vector_norm(approximation - reference).item()
    scale = torch.linalg.vector_norm(reference).item()
    return difference / scale if scale > 0 else difference


def max_abs_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The largest entrywise deviation :math:`\max_i |x_i - x_{\text{ref},i}|`."""
    return (approximation - reference).abs().max().item()


def inverse_relative_residual(a: Tensor, x: Tensor) -> Tensor:
    r"""The relative residual :math:`\|AX - I\|_F / \sqrt m` of an inverse, per matrix of a batch.

    The root mean square of the residual's singular values, :math:`(\sum_i (1 - \lambda_i)^2/m)^{1/2}`
    for the eigenvalues :math:`\lambda_i` of :math:`AX`: 1 for :math:`X = 0`, 0 at the inverse,
    independent of the scale of :math:`A`. This is what ``tol`` bounds in :func:`gdtutor.inverse`.

    Parameters
    ----------
    a
        ``(..., m, n)``.
    x
        ``(..., n, m)``.

    Returns
    -------
    Tensor
        Shape ``a.shape[:-2]``, in ``a``'s dtype.
    """
    m = a.shape[-2]
    residual = a @ x - identity_like(a)
    return torch.linalg.matrix_norm(residual) / math.sqrt(m)


def svd_relative_residual(a: Tensor, u: Tensor, s: Tensor, vh: Tensor) -> Tensor:
    r"""The relative residual of singular triplets, per matrix of a batch.

    .. math:: \max_i \frac{\big(\|A v_i - \sigma_i u_i\|^2 + \|A^\top u_i - \sigma_i v_i\|^2\big)^{1/2}}{\sigma_1}

    with :math:`\sigma_1` the largest of ``s`` in magnitude (the residual is absolute for a zero
    matrix). It vanishes exactly at singular triplets; when it is :math:`\eta` and :math:`U, V`
    are orthonormal, every :math:`\sigma_i` is within :math:`\eta\,\sigma_1` of a singular
    value of :math:`A` (Weyl). This is what ``tol`` bounds in :func:`gdtutor.svd`.

    Parameters
    ----------
    a
        ``(..., m, n)``.
    u, s, vh
        ``(..., m, k)``, ``(..., k)`` and ``(..., k, n)``, as :func:`torch.linalg.svd` returns them.

    Returns
    -------
    Tensor
        Shape ``a.shape[:-2]``, in ``a``'s dtype.
    """
    right = a @ vh.mT - u * s.unsqueeze(-2)
    left = a.mT @ u - vh.mT * s.unsqueeze(-2)
    pairs = (right.square().sum(dim=-2) + left.square().sum(dim=-2)).sqrt()
    scale = s.abs().amax(dim=-1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return pairs.amax(dim=-1) / scale


def inverse_scaled_residual(a: Tensor, x: Tensor, *, side: str = "left") -> float:
    r"""LAPACK's acceptance test for a computed inverse, exactly as its test routine ``xGET03``.

    .. math:: \frac{\|I - XA\|_1}{n\,\|A\|_1\,\|X\|_1\,u}

    with the *left* residual :math:`I - XA` and the unit roundoff :math:`u` of ``x``'s dtype
    (half the machine epsilon: LAPACK's ``xLAMCH('Epsilon')``). An inverse whose residual is of
    order :math:`\kappa u`, as LU-based inversion gives, scores :math:`O(1)`; LAPACK's tests
    accept values below 30. ``side="right"`` scores :math:`I - AX` instead, the residual that
    :func:`gdtutor.inverse`'s methods drive down; the two can differ by a factor up to
    :math:`\kappa`. The largest value over a batch.
    """
    if side not in ("left", "right"):
        raise ValueError(
            f"side must be 'left' (I - XA, LAPACK's) or 'right' (I - AX); got {side!r}."
        )
    n = a.shape[-1]
    product = x @ a if side == "left" else a @ x
    residual = torch.linalg.matrix_norm(identity_like(a) - product, ord=1)
    scale = n * torch.linalg.matrix_norm(a, ord=1) * torch.linalg.matrix_norm(x, ord=1)
    return (residual / (scale * unit_roundoff(x.dtype))).max().item()


def inverse_forward_error(a: Tensor, x: Tensor, reference: Tensor | None = None) -> float:
    r"""The relative error :math:`\|X - A^{-1}\|_F / \|A^{-1}\|_F`; the largest value over a batch.

    Against ``reference`` if given (e.g. the exact inverse of
    :func:`~gdtutor.matrices.with_exact_inverse`), else against ``torch.linalg.inv`` in float64,
    which is itself off by about :math:`\kappa\,u_{64}`: a true forward error for lower-precision
    ``x`` only, and for float64 ``x`` a distance to LAPACK's answer.
    """
    if reference is None:
        reference = torch.linalg.inv(a.to(torch.float64))
    reference = reference.to(torch.float64)
    difference = torch.linalg.matrix_norm(x.to(torch.float64) - reference)
    return (difference / torch.linalg.matrix_norm(reference)).max().item()


def singular_value_error(s: Tensor, reference: Tensor) -> float:
    r"""Largest singular-value error relative to the norm: :math:`\max_i |s_i - s_i^\text{ref}| / \sigma_1^\text{ref}`.

    Normwise-stable SVD algorithms guarantee errors of order :math:`u\,\sigma_1` for every
    singular value, so this is the scale-free measure they can be held to. Largest over a batch.
    """
    scale = reference[..., :1].clamp_min(torch.finfo(reference.dtype).tiny)
    return ((s - reference).abs() / scale).max().item()


def reconstruction_error(a: Tensor, u: Tensor, s: Tensor, vh: Tensor) -> float:
    r"""The relative reconstruction error :math:`\|A - U\operatorname{diag}(S)V^\top\|_F / \|A\|_F` (largest over a batch)."""
    residual = torch.linalg.matrix_norm(a - (u * s.unsqueeze(-2)) @ vh)
    return (
        (residual / torch.linalg.matrix_norm(a).clamp_min(torch.finfo(a.dtype).tiny)).max().item()
    )


def orthogonality_error(q: Tensor) -> float:
    r"""How far the columns of ``q`` are from orthonormal: :math:`\|Q^\top Q - I\|_F` (largest over a batch)."""
    return torch.linalg.matrix_norm(q.mT @ q - identity_like(q, q.shape[-1])).max().item()


def align_signs(u: Tensor, vh: Tensor, u_reference: Tensor) -> tuple[Tensor, Tensor]:
    """Flip each singular pair (a column of U with the same row of Vh) to agree with a reference U.

    Singular vectors are determined up to such joint flips only; compare them after aligning.
    """
    signs = torch.sign((u * u_reference).sum(dim=-2, keepdim=True))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return u * signs, vh * signs.mT


def largest_principal_angle(q: Tensor, reference: Tensor) -> float:
    r"""The largest principal angle between the column spaces of ``q`` and ``reference``, in radians.

    Both must have orthonormal columns. Computed from sines,
    :math:`\sin\theta_\max = \|Q - P(P^\top Q)\|_2`, which stays accurate for tiny angles where the
    textbook :math:`\arccos` of the cosines (or :math:`\sqrt{1 - \cos^2}`) floors near
    :math:`10^{-8}`. Largest over a batch. Use it where singular values repeat and single vectors
    are not determined.
    """
    outside = q - reference @ (reference.mT @ q)
    sine = torch.linalg.matrix_norm(outside, ord=2).clamp(max=1.0)
    return torch.asin(sine).max().item()


def psnr(image: Tensor, reference: Tensor, *, peak: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio in decibels, :math:`10\log_{10}(\text{peak}^2/\text{MSE})`.

    Higher is better; each halving of the RMS error adds about 6 dB. ``inf`` for identical images.
    """
    mse = (image - reference).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)

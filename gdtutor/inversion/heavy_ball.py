r"""Polyak's heavy ball on :math:`\tfrac12\|AX - I\|_F^2`: its tuned parameters and its rates.

:math:`X_{k+1} = X_k - \alpha\nabla f(X_k) + \beta(X_k - X_{k-1})`. With
:math:`\alpha = 4/(\sigma_1 + \sigma_n)^2` and :math:`\beta = ((\kappa - 1)/(\kappa + 1))^2`
the error contracts by about :math:`(\kappa - 1)/(\kappa + 1)` per step, against
:math:`(\kappa^2 - 1)/(\kappa^2 + 1)` for gradient descent. No method of :func:`gdtutor.inverse`
calls these: the tutorials and benchmarks choose ``inverse(method="optimizer", lr=...,
momentum=...)`` with them, and predict each eigen-direction's rate.

References
----------
B. T. Polyak (1964). Some methods of speeding up the convergence of iteration methods. *USSR
Computational Mathematics and Mathematical Physics* 4(5), 1--17. doi:10.1016/0041-5553(64)90137-5
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdtutor.inversion._common import extreme_singular_values


def heavy_ball_parameters(a: Tensor) -> tuple[float, float]:
    r"""Polyak's tuned heavy-ball step and momentum for :math:`\tfrac12\|AX - I\|_F^2`.

    :math:`\alpha = 4/(\sigma_1 + \sigma_n)^2`, :math:`\beta = ((\kappa - 1)/(\kappa + 1))^2`:
    the error then contracts by about :math:`(\kappa - 1)/(\kappa + 1)` per step (κ, not κ²).
    For a batch, the parameters of its worst-conditioned matrix.
    """
    largest, smallest = extreme_singular_values(a)
    kappa = (largest / smallest).max().item()
    lr = (4 / (largest + smallest) ** 2).min().item()
    return lr, ((kappa - 1) / (kappa + 1)) ** 2


def heavy_ball_modes(eigenvalues: Tensor, lr: float, momentum: float) -> tuple[Tensor, Tensor]:
    r"""How heavy-ball momentum contracts each eigen-direction of a quadratic: rates and envelopes.

    Along an eigenvector of the Hessian with eigenvalue :math:`\lambda`, the error of
    :math:`x_{k+1} = x_k - \alpha\nabla f(x_k) + \beta(x_k - x_{k-1})` obeys
    :math:`e_{k+1} = (1 + \beta - \alpha\lambda)e_k - \beta e_{k-1}`, so
    :math:`e_k = a z_1^k + b z_2^k` with :math:`z_{1,2}` the roots of
    :math:`z^2 - (1 + \beta - \alpha\lambda)z + \beta`. The rate is :math:`\rho = \max|z_i|`: below
    1 exactly when :math:`0 < \alpha\lambda < 2(1 + \beta)`, and :math:`\sqrt\beta` whenever the
    roots are complex. Starting at rest (:math:`e_1 = (1 - \alpha\lambda)e_0`, as
    :class:`torch.optim.SGD` does), :math:`|e_k| \le C\rho^k|e_0|` with the envelope :math:`C`
    returned: :math:`|a|` of the dominant real root (tight as :math:`k` grows), :math:`2|a|` for
    complex roots. At a double root the error is :math:`(c_0 + c_1k)\rho^k`; :math:`C` is then
    ``inf``.

    Parameters
    ----------
    eigenvalues
        The Hessian's eigenvalues :math:`\lambda_i`.
    lr, momentum
        :math:`\alpha` and :math:`\beta`.

    Returns
    -------
    tuple of Tensor
        ``(rates, envelopes)``, float64, of the shape of ``eigenvalues``.
    """
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64)
    trace = 1 + momentum - lr * lam
    root = (trace.square() - 4 * momentum).to(torch.complex128).sqrt()
    z1, z2 = (trace + root) / 2, (trace - root) / 2
    rates = torch.maximum(z1.abs(), z2.abs())
    gap = z1 - z2
    distinct = gap.abs() > 1e-12 * torch.clamp(rates, min=1.0)
    a = (1 - lr * lam - z2) / torch.where(distinct, gap, torch.ones_like(gap))
    dominant = torch.where(z1.abs() >= z2.abs(), a, 1 - a).abs()
    envelopes = torch.where(root.imag.abs() > 0, 2 * a.abs(), dominant)
    return rates, torch.where(distinct, envelopes, torch.full_like(envelopes, math.inf))

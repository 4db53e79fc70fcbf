r"""Gradient descent with the optimal fixed step: ``inverse(method="gd")``.

:math:`X_{k+1} = X_k - \alpha A^\top(AX_k - I)` from :math:`X_0 = 0`, on
:math:`f(X) = \tfrac12\|AX - I\|_F^2`, whose Hessian has eigenvalues :math:`\sigma_i^2`. The
error contracts by :math:`\max_i|1 - \alpha\sigma_i^2|` per step, smallest at
:math:`\alpha = 2/(\sigma_1^2 + \sigma_n^2)`, where it is :math:`(\kappa^2 - 1)/(\kappa^2 + 1)`;
steps above :math:`2/\sigma_1^2` diverge.

References
----------
J. Nocedal and S. J. Wright (2006). *Numerical Optimization*, 2nd edition. Springer, New York,
chapter 3 (steepest descent on a quadratic). doi:10.1007/978-0-387-40065-5
"""

from __future__ import annotations

import torch
from torch import Tensor

from gdtutor._validation import check_count, check_flag, check_positive
from gdtutor.descent import descend
from gdtutor.inversion._common import (
    InverseResult,
    _balanced,
    _half_residual_loss,
    _residual_stop,
    _result,
    extreme_singular_values,
)


def _gradient_descent(
    a: Tensor,
    *,
    pseudo: bool,
    tol: float | None,
    lr: float | None = None,
    max_steps: int = 10_000,
    progress: bool = False,
) -> InverseResult:
    r"""Gradient descent on :math:`\tfrac12\|AX - I\|_F^2` from :math:`X_0 = 0`.

    Each matrix of a batch descends with its own step (one parameter group each).

    Parameters
    ----------
    lr
        The step. By default the optimal fixed step :math:`2/(\sigma_1^2 + \sigma_n^2)`, from an
        SVD, on :math:`A` scaled by a power of two; the error then contracts by
        :math:`(\kappa^2 - 1)/(\kappa^2 + 1)` per step (``predicted_rate``). A given ``lr`` applies
        to :math:`A` as it is; above :math:`2/\sigma_1^2` it diverges.
    max_steps
        The step budget.
    progress
        Show a progress bar (needs ``tqdm``).
    """
    check_positive("lr", lr, optional=True)
    check_count("max_steps", max_steps)
    check_flag("progress", progress)
    if lr is None:
        balanced, exponents = _balanced(a)
    else:
        balanced, exponents = a, torch.zeros((*a.shape[:-2], 1, 1), dtype=torch.int32)
    largest, smallest = extreme_singular_values(balanced, pseudo=pseudo)
    predicted_rate = None
    if lr is None:
        steps = (2 / (largest**2 + smallest**2)).flatten().tolist()
        kappa2 = (largest / smallest) ** 2
        predicted_rate = ((kappa2 - 1) / (kappa2 + 1)).max().item()
    else:
        steps = [lr] * (a.numel() // (a.shape[-2] * a.shape[-1]))
    xs = [torch.zeros(a.shape[-1], a.shape[-2], dtype=a.dtype, device=a.device) for _ in steps]
    sgd = torch.optim.SGD([{"params": [x], "lr": step} for x, step in zip(xs, steps, strict=True)])
    squares: list[Tensor] = []
    run = descend(
        _half_residual_loss(balanced, xs, squares),
        xs,
        sgd,
        max_steps=max_steps,
        stop=_residual_stop(tol, lambda: squares[0], a.shape[-2]),
        safe_lr=lambda: (2 / largest**2).min().item(),
        progress=progress,
    )
    x = torch.stack(run.params).reshape(a.mT.shape)
    return _result(
        a,
        torch.ldexp(x, -exponents.to(a.device)),
        method="gd",
        tol=tol,
        losses=run.losses,
        evaluations_at=run.work,
        steps=run.steps,
        products=run.evaluations + run.gradients,
        converged=run.converged,
        reason=run.reason,
        predicted_rate=predicted_rate,
    )

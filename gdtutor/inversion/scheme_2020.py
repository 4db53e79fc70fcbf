r"""The 2020 blog series' scheme, faithfully: ``inverse(method="2020")``.

Heavy-ball SGD, :math:`X_{k+1} = X_k - \alpha\nabla f(X_k) + \beta(X_k - X_{k-1})` with step
:math:`\alpha = 0.9` and momentum :math:`\beta = 0.9`, on the mean squared error
:math:`f(X) = \|XA - I\|_F^2/n^2` of :math:`XA` against :math:`I`, from a uniform random
:math:`X_0` after seed 314, for 10,000 steps.

References
----------
H. F. Wittmann (2020). Matrix operations with pytorch -- optimizer, parts 1--3. Blog series and
notebooks, https://github.com/hfwittmann/matrix-operations-with-pytorch

B. T. Polyak (1964). Some methods of speeding up the convergence of iteration methods. *USSR
Computational Mathematics and Mathematical Physics* 4(5), 1--17. doi:10.1016/0041-5553(64)90137-5
"""

from __future__ import annotations

import torch
from torch import Tensor

from gdtutor._tensors import identity_like
from gdtutor._validation import check_count, check_flag, check_fraction, check_positive, check_seed
from gdtutor.descent import descend
from gdtutor.inversion._common import (
    InverseResult,
    _residual_stop,
    _result,
    extreme_singular_values,
    identity_residual,
)
from gdtutor.matrices import LR_2020, MOMENTUM_2020, SEED_2020, seeded_rand


def _scheme_2020(
    a: Tensor,
    *,
    pseudo: bool,
    tol: float | None,
    lr: float = LR_2020,
    momentum: float = MOMENTUM_2020,
    max_steps: int = 10_000,
    seed: int = SEED_2020,
    progress: bool = False,
) -> InverseResult:
    r"""The 2020 scheme: heavy-ball SGD on the MSE of :math:`XA` against :math:`I`, random start.

    The loss is summed over a batch, so that each matrix steps as if alone. ``tol`` is tested on
    :math:`\|AX - I\|_F/\sqrt n` like every method's, at the cost of one product per step.

    Parameters
    ----------
    lr
        The step size (0.9 in 2020).
    momentum
        The heavy-ball momentum (0.9 in 2020).
    max_steps
        The step budget (10,000 in 2020).
    seed
        The seed of the uniform random start (314 in 2020).
    progress
        Show a progress bar (needs ``tqdm``).
    """
    check_positive("lr", lr)
    check_fraction("momentum", momentum)
    check_count("max_steps", max_steps)
    check_seed(seed)
    check_flag("progress", progress)
    if pseudo:
        raise ValueError(
            "the 2020 scheme starts from a random X, so it does not find A⁺; use method='gd'."
        )
    x = seeded_rand(*a.shape, seed=seed, dtype=a.dtype).to(a.device)
    eye = identity_like(a)
    n = a.shape[-1]
    checks = 0

    def mse() -> Tensor:  # summed over a batch, so that each matrix steps as if alone
        return (x @ a - eye).square().mean(dim=(-2, -1)).sum()

    def squares() -> Tensor:
        nonlocal checks
        checks += 1
        with torch.no_grad():
            return identity_residual(a, x).square().sum(dim=(-2, -1))

    run = descend(
        mse,
        [x],
        "sgd",
        lr=lr,
        momentum=momentum,
        max_steps=max_steps,
        stop=_residual_stop(tol, squares, n),
        # heavy-ball is stable for lr < 2(1 + β)/L, with L = 2σ₁²/n² for the MSE
        safe_lr=lambda: ((1 + momentum) * n**2 / extreme_singular_values(a)[0] ** 2).min().item(),
        progress=progress,
    )
    return _result(
        a,
        run.params[0],
        method="2020",
        tol=tol,
        losses=run.losses,
        # with tol, one product per iterate checks it
        evaluations_at=run.work + (torch.arange(1, len(run.work) + 1) if tol is not None else 0),
        steps=run.steps,
        products=run.evaluations + run.gradients + checks,
        converged=run.converged,
        reason=run.reason,
    )

r"""Any :mod:`torch.optim` optimizer on :math:`\tfrac12\|AX - I\|_F^2`: ``inverse(method="optimizer")``.

The optimizer (SGD with or without momentum, Adam, L-BFGS, ...) descends
:math:`f(X) = \tfrac12\|AX - I\|_F^2`, gradient :math:`A^\top(AX - I)`, from :math:`X_0 = 0`, with
:func:`~gdtutor.descent.descend`; its options are checked by building it before the first step.

References
----------
J. Nocedal and S. J. Wright (2006). *Numerical Optimization*, 2nd edition. Springer, New York.
doi:10.1007/978-0-387-40065-5

D. P. Kingma and J. Ba (2015). Adam: a method for stochastic optimization. *ICLR*.
https://arxiv.org/abs/1412.6980

D. C. Liu and J. Nocedal (1989). On the limited memory BFGS method for large scale optimization.
*Mathematical Programming* 45, 503--528. doi:10.1007/BF01589116
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor._validation import check_count, check_flag, check_function, check_positive
from gdtutor.descent import SchedulerFactory, descend, method_optimizer
from gdtutor.inversion._common import (
    InverseResult,
    _half_residual_loss,
    _residual_stop,
    _result,
    extreme_singular_values,
)


def _with_optimizer(
    a: Tensor,
    *,
    pseudo: bool,
    tol: float | None,
    optimizer: str | type[Optimizer] = "sgd",
    lr: float | None = None,
    scheduler: SchedulerFactory | None = None,
    max_steps: int = 10_000,
    progress: bool = False,
    **optimizer_options: Any,
) -> InverseResult:
    r"""A :mod:`torch.optim` optimizer on :math:`\tfrac12\|AX - I\|_F^2` from :math:`X_0 = 0`.

    Parameters
    ----------
    optimizer
        A :mod:`torch.optim` optimizer's name (``"sgd"``, ``"adam"``, ``"lbfgs"``, ...) or class.
    lr
        Its learning rate (the optimizer's own default if ``None``).
    scheduler
        Builds a learning-rate scheduler from the optimizer, stepped once per step.
    max_steps
        The step budget (for L-BFGS: calls of its ``step``, each up to ``max_iter`` iterations).
    progress
        Show a progress bar (needs ``tqdm``).
    **optimizer_options
        Further options of the optimizer's constructor (``momentum``, ``nesterov``,
        ``line_search_fn``, ...); one it does not take raises :class:`TypeError` before any step.
    """
    check_positive("lr", lr, optional=True)
    check_function("scheduler", scheduler)
    check_count("max_steps", max_steps)
    check_flag("progress", progress)
    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    if lr is not None:
        optimizer_options["lr"] = lr
    built = method_optimizer("inverse", optimizer, [x], **optimizer_options)
    squares: list[Tensor] = []
    run = descend(
        _half_residual_loss(a, x, squares),
        [x],
        built,
        max_steps=max_steps,
        stop=_residual_stop(tol, lambda: squares[0], a.shape[-2]),
        scheduler=scheduler,
        safe_lr=lambda: (2 / extreme_singular_values(a)[0] ** 2).min().item(),
        progress=progress,
    )
    return _result(
        a,
        run.params[0],
        method="optimizer",
        tol=tol,
        losses=run.losses,
        evaluations_at=run.work,
        steps=run.steps,
        products=run.evaluations + run.gradients,
        converged=run.converged,
        reason=run.reason,
        # L-BFGS counts its inner iterations in its state; other optimizers update once a step
        iterations=built.state[x].get("n_iter", run.steps) if run.steps else 0,
    )

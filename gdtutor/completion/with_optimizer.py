r"""Any :mod:`torch.optim` optimizer on the objective of ``"gd"``: ``complete(method="optimizer")``.

Minimises :math:`F(U, V) + \tfrac p8\|U^\top U - V^\top V\|_F^2`, the objective of gradient descent
(:mod:`gdtutor.completion.gradient_descent`), from the same start, with gradients by autograd
and the steps of a :mod:`torch.optim` optimizer (Adam by default), run by
:func:`gdtutor.descent.descend`; it stops at a plateau of the objective or an exact fit.

References
----------
D. P. Kingma and J. Ba (2015). Adam: a method for stochastic optimization. *International
Conference on Learning Representations (ICLR)*. arXiv:1412.6980

A. Paszke et al. (2019). PyTorch: an imperative style, high-performance deep learning library.
*Advances in Neural Information Processing Systems 32*, 8024–8035 (:mod:`torch.optim`, autograd).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor._validation import check_choice, check_count, check_positive, check_seed
from gdtutor.completion._common import (
    INITS,
    CompletionResult,
    _objective,
    _plateau,
    _result,
    _start,
    _start_entries,
)
from gdtutor.completion.entries import _Entries
from gdtutor.completion.losses import Loss, _squared
from gdtutor.descent import descend, method_optimizer


def _with_optimizer(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    optimizer: str | type[Optimizer] = "adam",
    lr: float = 1e-2,
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 5000,
    **optimizer_options: Any,
) -> CompletionResult:
    r"""A :mod:`torch.optim` optimizer on the same objective as ``"gd"``, gradients by autograd.

    Parameters
    ----------
    optimizer
        A :mod:`torch.optim` optimizer's name or class.
    lr
        Its learning rate.
    init, seed
        As for ``"gd"``.
    max_steps
        The step budget.
    **optimizer_options
        Further options of the optimizer's constructor; one it does not take, or a value it
        refuses, raises an error before any work.
    """
    check_positive("lr", lr)
    check_choice("init", init, INITS)
    check_seed(seed)
    check_count("max_steps", max_steps)
    # the optimizer is built on the factors before the start fills them in, so that the torch
    # optimizer checks its own options before any work
    dtype, device = entries.values.dtype, entries.values.device
    u = torch.empty(entries.shape[0], rank, dtype=dtype, device=device)
    v = torch.empty(entries.shape[1], rank, dtype=dtype, device=device)
    built = method_optimizer("complete", optimizer, [u, v], lr=lr, **optimizer_options)
    start_u, start_v, _ = _start(_start_entries(entries, loss), rank, init, seed)
    u.copy_(start_u)
    v.copy_(start_v)
    scale = entries.values.norm().item() if loss[1] is _squared else None
    recorded: list[float] = []

    def stop() -> str | None:
        return _plateau(recorded, tol, scale)

    def objective() -> Tensor:
        value = _objective(entries, u, v, ridge, balance=True, loss=loss)
        recorded.append(value.item())
        return value

    run = descend(objective, [u, v], built, max_steps=max_steps, stop=stop)
    return _result(
        entries, run.params[0], run.params[1], method="optimizer", losses=run.losses,
        steps=run.steps, evaluations=run.evaluations, reason=run.reason if run.converged else None,
        max_steps=max_steps,
    )  # fmt: skip

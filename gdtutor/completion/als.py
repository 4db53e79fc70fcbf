r"""Alternating least squares, with IRLS for a Huber loss: ``complete(method="als")``.

With :math:`V` fixed, :math:`F` is a ridge regression in each row of :math:`U` on that row's
observed entries, solved exactly, :math:`(V_i^\top W_i V_i + \lambda I)u_i = V_i^\top W_i y_i`;
then the same for :math:`V`. For the squared loss every weight is 1; for a Huber loss the weights
:math:`w = \min(1, \delta/|e|)` at the current residuals make each half-sweep a majorise–minimise
step (iteratively reweighted least squares). From the spectral start of ``"gd"``.

References
----------
Y. Koren, R. Bell and C. Volinsky (2009). Matrix factorization techniques for recommender
systems. *Computer* 42(8), 30–37. doi:10.1109/MC.2009.263

T. Hastie, R. Mazumder, J. D. Lee and R. Zadeh (2015). Matrix completion and low-rank SVD via
fast alternating least squares. *Journal of Machine Learning Research* 16, 3367–3402.

P. J. Huber (1964). Robust estimation of a location parameter. *The Annals of Mathematical
Statistics* 35(1), 73–101. doi:10.1214/aoms/1177703732

P. W. Holland and R. E. Welsch (1977). Robust regression using iteratively reweighted
least-squares. *Communications in Statistics – Theory and Methods* 6(9), 813–827.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor._validation import check_choice, check_count, check_seed
from gdtutor.completion._common import (
    INITS,
    CompletionResult,
    _objective,
    _plateau,
    _result,
    _squared_only,
    _start,
)
from gdtutor.completion.entries import _Entries
from gdtutor.completion.losses import Loss, _Huber


def _alternating_least_squares(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 100,
) -> CompletionResult:
    r"""Alternating ridge least squares: exact minimisation over one factor, then the other.

    Row :math:`i` of :math:`U` solves :math:`(V_i^\top W_i V_i + \lambda I)u_i = V_i^\top W_i y_i`,
    with :math:`V_i` the rows of :math:`V` at row :math:`i`'s observed columns and :math:`W_i` their
    weights; all rows at once, as one batch of :math:`r \times r` systems. The Gram matrices of all
    rows are one sparse product, the weights on :math:`\Omega` times the rows
    :math:`v_j \otimes v_j`: :math:`O(|\Omega|\,r^2)` per half-sweep.

    For the squared loss every weight is 1 and each half-sweep minimises :math:`F` over one
    factor. For a Huber loss the weights are :math:`w = \min(1, \delta/|e|)` at the current
    residuals :math:`e`, recomputed before each half-sweep: iteratively reweighted least squares,
    a majorise–minimise scheme (the weighted square :math:`\tfrac12 w e^2` plus a constant lies
    above the Huber loss and touches it at the current residual), so each half-sweep still
    lowers :math:`F` (IRLS for M-estimators: Holland and Welsch 1977). Other losses need their own
    majorisers (a logistic loss has one from its curvature bound 1/4); none is implemented here.

    Parameters
    ----------
    init, seed
        As for ``"gd"``.
    max_steps
        The sweep budget (one sweep updates both factors).
    """
    check_choice("init", init, INITS)
    check_seed(seed)
    check_count("max_steps", max_steps)
    reweighted = isinstance(loss[1], _Huber)
    if not reweighted:
        _squared_only("als", loss, also=" (and a Huber loss's, by reweighting)")
    u, v, _ = _start(entries, rank, init, seed)
    eye = torch.eye(rank, dtype=entries.values.dtype, device=entries.values.device)
    weights = torch.ones_like(entries.values)
    scale = entries.values.norm().item()

    def solve_rows(times: Callable[[Tensor, Tensor], Tensor], other: Tensor) -> Tensor:
        outer = (other[:, :, None] * other[:, None, :]).reshape(len(other), rank * rank)
        gram = times(weights, outer).reshape(-1, rank, rank) + ridge * eye
        right_side = times(weights * entries.values, other)
        # a row whose Gram is singular (ridge 0, fewer entries than the rank) gets the least-norm fit
        return torch.linalg.lstsq(gram, right_side.unsqueeze(-1)).solution.squeeze(-1)

    def reweight() -> Tensor:
        delta = loss[1].delta  # type: ignore[attr-defined]
        error = (entries.predict(u, v) - entries.values).abs()
        return torch.where(error <= delta, 1.0, delta / error)

    losses = [_objective(entries, u, v, ridge, balance=False, loss=loss).item()]
    reason = None
    steps = max_steps
    for k in range(1, max_steps + 1):
        if reweighted:
            weights = reweight()
        u = solve_rows(entries.times, v)
        if reweighted:
            weights = reweight()
        v = solve_rows(entries.transpose_times, u)
        losses.append(_objective(entries, u, v, ridge, balance=False, loss=loss).item())
        if (reason := _plateau(losses, tol, scale if not reweighted else None)) is not None:
            steps = k
            break
    return _result(
        entries, u, v, method="als", losses=losses, steps=steps,
        evaluations=(5 if reweighted else 3) * steps, reason=reason, max_steps=max_steps,
    )  # fmt: skip

r"""Gradient descent on the factors, with a balancing term: ``complete(method="gd")``, the default.

Minimises :math:`F(U, V) + \tfrac p8\|U^\top U - V^\top V\|_F^2` (:math:`p` the observed fraction)
with gradients written by hand, :math:`\nabla_U = GV + \lambda U + \tfrac p2 U(U^\top U - V^\top V)`
and its mirror for :math:`V`, :math:`G` the loss's derivative on the observed entries (sparse), from
the spectral start; a step that raises the objective is retaken at half the size.

References
----------
R. Ge, J. D. Lee and T. Ma (2016). Matrix completion has no spurious local minimum. *Advances in
Neural Information Processing Systems 29 (NeurIPS 2016)*, 2973–2981.

R. Ge, C. Jin and Y. Zheng (2017). No spurious local minima in nonconvex low rank problems: a
unified geometric analysis. *Proceedings of the 34th International Conference on Machine Learning
(ICML)*, 1233–1242 (the asymmetric case, with a balancing term).

S. Tu, R. Boczar, M. Simchowitz, M. Soltanolkotabi and B. Recht (2016). Low-rank solutions of
linear matrix equations via Procrustes flow. *Proceedings of the 33rd International Conference on
Machine Learning (ICML)*, 964–973 (the balancing term).

C. Ma, K. Wang, Y. Chi and Y. Chen (2020). Implicit regularization in nonconvex statistical
estimation: gradient descent converges linearly for phase retrieval, matrix completion, and blind
deconvolution. *Foundations of Computational Mathematics* 20, 451–632.

Y. Chen, Y. Chi, J. Fan, C. Ma and Y. Yan (2020). Noisy matrix completion: understanding
statistical guarantees for convex relaxation via nonconvex optimization. *SIAM Journal on
Optimization* 30(4), 3098–3121 (gradient descent from the spectral start on the ridge objective).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor._validation import check_choice, check_count, check_positive, check_seed
from gdtutor.completion._common import (
    INITS,
    CompletionResult,
    _exact_fit,
    _fraction,
    _result,
    _start,
    _start_entries,
)
from gdtutor.completion.entries import _Entries
from gdtutor.completion.losses import Loss, _data_term_and_derivative, _poisson, _squared

_HALVINGS = 60  # halvings of the step tried in one step before the run stops as stalled

#: The objective at ``(u, v)``, the loss's derivative on Ω, the balancing gap, the rounding slack.
_Evaluation = tuple[float, Tensor, Tensor, float]


def _gradient_descent(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    lr: float | None = None,
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 5000,
) -> CompletionResult:
    r"""Gradient descent on :math:`F + \tfrac p8\|U^\top U - V^\top V\|_F^2`, gradients by hand.

    .. math::

        \nabla_U = G\,V + \lambda U + \tfrac p2 U(U^\top U - V^\top V), \quad
        \nabla_V = G^\top U + \lambda V - \tfrac p2 V(U^\top U - V^\top V),

    with :math:`G_{ij} = \partial\ell/\partial\hat y` at :math:`\hat y = (UV^\top)_{ij}` on
    :math:`\Omega` and 0 elsewhere: the residual :math:`P_\Omega(UV^\top - Y)` for the squared
    loss, from autograd for any other. :math:`G` is sparse: a step costs
    :math:`O(|\Omega|\,r + (m + n)\,r^2)`.

    Stops when the gradient's norm is below ``tol`` times :math:`\|P_\Omega Y\|_F\sqrt{\hat\sigma_1/p}`
    (the size of the gradient at a start of the data's scale), which a slow escape from a small
    random start does not trigger, or when the observed residual is below ``tol`` times
    :math:`\|P_\Omega Y\|_F`.

    With a loss other than squared there is no exact-fit test (the loss need not vanish).

    A trial step that raises the objective by more than its rounding,
    :math:`10\sqrt{|\Omega|}\,u\,(\sum_\Omega|\ell| + \|P_\Omega Y\|_F\sqrt{2|F|})`, is
    retaken at half the size, and the halved size is kept for all later steps (it never grows
    back); any other step is accepted, with no sufficient-decrease (Armijo) test. The default
    step assumes a curvature the fit may outgrow: a logistic fit's log-odds can grow far beyond the
    data's :math:`\pm1`. After 60 halvings in one step, or at a non-finite gradient, it stops and
    says so.

    Parameters
    ----------
    lr
        The first step. By default :math:`1/(4\hat\sigma_1)` with :math:`\hat\sigma_1` the largest
        singular value of :math:`P_\Omega Y` (the curvature of the data term is at most that of
        :math:`\|UV^\top\|` on the observed entries, :math:`\lesssim \sigma_1`), for losses of
        curvature at most 1 (squared, Huber, logistic). For ``"poisson"``, whose curvature is the
        rate :math:`e^{\hat y}`, divided by the largest observed count and with
        :math:`\hat\sigma_1` that of :math:`P_\Omega \log(1 + Y)`.
    init
        ``"spectral"`` (default) or ``"random"``; see the Part 4 tutorial for what each does.
    seed
        For ``init="random"``, and for the random block of the subspace iteration that finds
        the top singular triplets of :math:`P_\Omega Y` (the spectral start, the step).
    max_steps
        The step budget.
    """
    check_positive("lr", lr, optional=True)
    check_choice("init", init, INITS)
    check_seed(seed)
    check_count("max_steps", max_steps)
    start_entries = _start_entries(entries, loss)
    u, v, sigma = _start(start_entries, rank, init, seed)
    curvature = max(1.0, entries.values.max().item()) if loss[1] is _poisson else 1.0
    step = lr if lr is not None else 0.25 / (sigma * curvature)
    fraction = _fraction(entries)
    scale = start_entries.values.norm().item()
    gradient_scale = scale * math.sqrt(sigma / fraction)
    # the rounding of the objective, a sum of |Ω| terms, each with the rounding of a prediction of
    # the data's size: a rise below it is noise, not an overshoot (near an exact fit the second
    # term, ‖residual‖ · u‖P_Ω Y‖, dominates)
    noise = 10 * math.sqrt(entries.count) * torch.finfo(entries.values.dtype).eps

    def evaluate(u: Tensor, v: Tensor) -> _Evaluation:
        """The objective, the loss's derivative on Ω, the balancing gap, and the rounding slack."""
        prediction = entries.predict(u, v)
        fit, derivative = _data_term_and_derivative(loss, prediction, entries.values)
        gap = u.T @ u - v.T @ v
        value = fit + 0.5 * ridge * (u.square().sum() + v.square().sum())
        value = (value + fraction * gap.square().sum() / 8).item()
        size = abs(value)  # Σ|ℓ| for a loss that can be negative (Poisson), where F may cross 0
        if loss[1] is not _squared and math.isfinite(value):
            size = max(size, loss[1](prediction, entries.values).abs().sum().item())
        return value, derivative, gap, noise * (size + scale * math.sqrt(2 * abs(value)))

    value, derivative, gap, slack = evaluate(u, v)
    if not math.isfinite(value):
        raise ValueError(f"the objective at the start is {value}: check the data and the loss.")
    losses, evaluations, reason, steps = [value], 1, None, max_steps
    stalled = None
    for k in range(max_steps + 1):
        grad_u = entries.times(derivative, v) + ridge * u + 0.5 * fraction * u @ gap
        grad_v = entries.transpose_times(derivative, u) + ridge * v - 0.5 * fraction * v @ gap
        gradient = math.sqrt(grad_u.square().sum().item() + grad_v.square().sum().item())
        if not math.isfinite(gradient):
            raise ValueError(
                f"the gradient at step {k} is not finite: loss {loss[0]}'s derivative is NaN or "
                "infinite at the current predictions (e.g. a square root or log at 0)."
            )
        reason = _exact_fit(value, tol, scale) if loss[1] is _squared else None
        if reason is None and gradient <= tol * gradient_scale:
            reason = f"gradient below tol × ‖P_Ω Y‖√(σ₁/p) ({tol:.3g}): a stationary point"
        if reason is not None or k == max_steps:
            steps = k
            break
        accepted, step, trials = _halving_step(
            evaluate, (u, v), (grad_u, grad_v), step, value + slack
        )
        evaluations += trials
        if accepted is None:
            stalled = (
                f"stalled at step {k}: {_HALVINGS} halvings of the step did not lower the "
                "objective (a kink in the loss, a derivative that does not descend, or the "
                "rounding floor)"
            )
            steps = k
            break
        (u, v), (value, derivative, gap, slack) = accepted
        losses.append(value)
    return _result(
        entries, u, v, method="gd", losses=losses, steps=steps,
        evaluations=evaluations, reason=reason, max_steps=max_steps, stalled=stalled,
    )  # fmt: skip


def _halving_step(
    evaluate: Callable[[Tensor, Tensor], _Evaluation],
    factors: tuple[Tensor, Tensor],
    gradients: tuple[Tensor, Tensor],
    step: float,
    bound: float,
) -> tuple[tuple[tuple[Tensor, Tensor], _Evaluation] | None, float, int]:
    """A step whose objective is at most ``bound``, the step size halved until it is.

    Returns the new factors with their evaluation (``None`` after :data:`_HALVINGS` halvings), the
    step size, halved as often as needed and kept for all later steps, and the number of trials,
    each one evaluation.
    """
    for trials in range(1, _HALVINGS + 1):
        trial = (factors[0] - step * gradients[0], factors[1] - step * gradients[1])
        evaluation = evaluate(*trial)
        if evaluation[0] <= bound:
            return (trial, evaluation), step, trials
        step /= 2
    return None, step, _HALVINGS

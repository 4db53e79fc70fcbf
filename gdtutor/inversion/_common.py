r"""What the methods of :func:`gdtutor.inverse` share: the result, the loss, the stopping test.

:class:`InverseResult` is built once per run by :func:`_result`, which measures the final relative
residual :math:`\|AX - I\|_F/\sqrt n` unless the method already knows it. The loss
:math:`f(X) = \tfrac12\|AX - I\|_F^2` (:func:`inverse_loss`, its gradient
:math:`A^\top(AX - I)` by hand in :func:`inverse_loss_gradient`) is what the gradient methods
descend; :func:`_residual_stop` turns ``tol`` into a stopping test for
:func:`~gdtutor.descent.descend`; :func:`_balanced` divides :math:`A` by a power of two, exactly,
for the scale-free methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from gdtutor._tensors import identity_like, power_of_two_exponents
from gdtutor.metrics import inverse_relative_residual


@dataclass(frozen=True, kw_only=True, eq=False)
class InverseResult:
    r"""The outcome of :func:`inverse`.

    Attributes
    ----------
    inverse
        The computed (pseudo-)inverse, same dtype and device as the input.
    method
        The method used.
    losses
        ``losses[k]`` is the loss at the ``k``-th iterate: :math:`\tfrac12\|AX_k - I\|_F^2` (the
        MSE of :math:`X_k A` against :math:`I` for ``"2020"``), summed over a batch; float64.
    steps
        Steps taken: iterations, except for L-BFGS, where a step is one call of its ``step``,
        which runs up to ``max_iter`` iterations.
    iterations
        Updates of :math:`X`, for every method alike (L-BFGS's inner iterations counted).
    evaluations
        All the work, in matrix products the size of :math:`AX` (about :math:`2n^3` flops each):
        :math:`AX` and :math:`A^\top R` per loss-and-gradient evaluation of the gradient methods,
        line searches included; :math:`AX` and :math:`XR` per Newton–Schulz step; :math:`AP`
        and :math:`A^\top R` per CGNR step; products for ``tol`` checks; and one for the final
        :attr:`residual` unless the method already knows it. (``"gd"`` also computes an SVD to
        choose its step, which is not a product and is not counted.)
    evaluations_at
        ``evaluations_at[k]``: the products done when ``losses[k]`` was recorded (int64), the
        x-axis on which methods of different cost per step compare fairly.
    converged
        Whether every matrix met the method's stopping rule (not just the step budget exhausted).
    reason
        Why it stopped, in words.
    residual
        Each matrix's relative residual :math:`\|AX - I\|_F/\sqrt n` at the end
        (:func:`~gdtutor.metrics.inverse_relative_residual`), float64, of the batch's shape.
    converged_each
        Per matrix of the batch: ``residual <= tol`` when a ``tol`` was given, else ``converged``.
    predicted_rate
        For ``"gd"`` with the optimal step: the proven contraction factor per step of the error,
        :math:`(\kappa^2 - 1)/(\kappa^2 + 1)` (the largest over a batch).
    """

    inverse: Tensor
    method: str
    losses: Tensor
    steps: int
    iterations: int
    evaluations: int
    evaluations_at: Tensor
    converged: bool
    reason: str
    residual: Tensor
    converged_each: Tensor
    predicted_rate: float | None = None


class SingularMatrixError(ValueError):
    """Raised when a matrix is singular to working precision and no pseudo-inverse was asked for.

    Attributes
    ----------
    indices
        The batch indices of the singular matrices (``()`` for a single matrix).
    """

    def __init__(self, message: str, *, indices: list[tuple[int, ...]]) -> None:
        super().__init__(message)
        self.indices = indices


def identity_residual(a: Tensor, x: Tensor) -> Tensor:
    r"""The residual :math:`AX - I` (batched over leading dimensions)."""
    return a @ x - identity_like(a)


def inverse_loss(a: Tensor, x: Tensor) -> Tensor:
    r"""The squared Frobenius residual :math:`\|AX - I\|_F^2`, summed over a batch."""
    return identity_residual(a, x).square().sum()


def inverse_loss_gradient(a: Tensor, x: Tensor) -> Tensor:
    r"""The gradient of :func:`inverse_loss`, derived by hand: :math:`2A^\top(AX - I)`.

    From :math:`f(X + E) = f(X) + 2\langle AX - I, AE\rangle + \|AE\|_F^2` and
    :math:`\langle R, AE\rangle = \langle A^\top R, E\rangle`.
    """
    return 2 * a.mT @ identity_residual(a, x)


def extreme_singular_values(a: Tensor, *, pseudo: bool = False) -> tuple[Tensor, Tensor]:
    r"""The largest and smallest singular values :math:`\sigma_1, \sigma_n`, batched.

    With ``pseudo=True`` the smallest *non-negligible* one (above :math:`\max(m,n)\,u\,\sigma_1`),
    which governs convergence on the row space. Costs an SVD: a teaching device, not a shortcut.
    """
    s = torch.linalg.svdvals(a)
    largest = s[..., 0]
    if not pseudo:
        return largest, s[..., -1]
    cutoff = max(a.shape[-2:]) * torch.finfo(a.dtype).eps * largest
    masked = torch.where(s > cutoff.unsqueeze(-1), s, torch.full_like(s, math.inf))
    return largest, masked.min(dim=-1).values


def _result(
    a: Tensor,
    x: Tensor,
    *,
    method: str,
    tol: float | None,
    losses: list[float] | Tensor,
    evaluations_at: list[int] | Tensor,
    steps: int,
    products: int,
    converged: bool,
    reason: str,
    predicted_rate: float | None = None,
    residual: Tensor | None = None,
    iterations: int | None = None,
) -> InverseResult:
    """Build the result, measuring the final residual (one more product) unless it is given."""
    if not torch.isfinite(x).all():
        raise ValueError(
            f"the inverse overflows {a.dtype}: its entries exceed the largest representable "
            "number. Use float64, or rescale A."
        )
    if residual is None:
        residual = inverse_relative_residual(a, x)
        products += 1
    residual = residual.to(torch.float64)
    each = residual <= tol if tol is not None else torch.full_like(residual, converged, dtype=bool)
    return InverseResult(
        inverse=x,
        method=method,
        losses=torch.as_tensor(losses, dtype=torch.float64),
        steps=steps,
        iterations=steps if iterations is None else iterations,
        evaluations=products,
        evaluations_at=torch.as_tensor(evaluations_at, dtype=torch.int64),
        converged=converged,
        reason=reason,
        residual=residual,
        converged_each=each,
        predicted_rate=predicted_rate,
    )


def _residual_stop(
    tol: float | None, squares: Callable[[], Tensor], rows: int
) -> Callable[[], str | None] | None:
    r"""A ``stop`` hook for :func:`descend`: every :math:`\|AX - I\|_F^2` (``squares()``) small enough."""
    if tol is None:
        return None

    def stop() -> str | None:
        worst = math.sqrt(squares().max().item() / rows)
        return f"relative residual {worst:.3g} <= tol {tol:.3g}" if worst <= tol else None

    return stop


def _balanced(a: Tensor) -> tuple[Tensor, Tensor]:
    """``a`` divided by a power of two per matrix (exact), and the exponents to scale back with."""
    exponents = power_of_two_exponents(a)
    return torch.ldexp(a, -exponents), exponents


def _half_residual_loss(
    a: Tensor, x: Tensor | list[Tensor], squares: list[Tensor]
) -> Callable[[], Tensor]:
    r"""The closure :math:`\tfrac12\|AX - I\|_F^2`; ``x`` may be a list of a batch's matrices.

    Each call leaves every matrix's :math:`\|AX - I\|_F^2` in ``squares[0]`` (for the ``tol`` test).
    """

    def loss() -> Tensor:
        stacked = torch.stack(x).reshape(a.mT.shape) if isinstance(x, list) else x
        per_matrix = identity_residual(a, stacked).square().sum(dim=(-2, -1))
        squares[:] = [per_matrix.detach()]
        return 0.5 * per_matrix.sum()

    return loss

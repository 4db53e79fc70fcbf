r"""Conjugate gradients on the normal equations, CGLS form: ``inverse(method="cgnr")``.

Conjugate gradients on :math:`A^\top A X = A^\top`, every column of :math:`X` at once, without
forming :math:`A^\top A`: two products a step (:math:`AP` and :math:`A^\top R`). In exact
arithmetic it minimises :math:`\tfrac12\|AX - I\|_F^2` over a growing Krylov space, the fastest
first-order method on this quadratic; from :math:`X_0 = 0` it tends to :math:`A^+`.

References
----------
M. R. Hestenes and E. Stiefel (1952). Methods of conjugate gradients for solving linear systems.
*Journal of Research of the National Bureau of Standards* 49(6), 409--436.
doi:10.6028/jres.049.044

Å. Björck, T. Elfving and Z. Strakoš (1998). Stability of conjugate gradient and Lanczos methods
for linear least squares problems. *SIAM Journal on Matrix Analysis and Applications* 19(3),
720--736. doi:10.1137/S089547989631202X

C. C. Paige and M. A. Saunders (1982). LSQR: an algorithm for sparse linear equations and sparse
least squares. *ACM Transactions on Mathematical Software* 8(1), 43--71.
doi:10.1145/355984.355989
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor._tensors import identity_like
from gdtutor._validation import check_count
from gdtutor.inversion._common import InverseResult, _balanced, _result


def _cgnr(
    a: Tensor, *, pseudo: bool, tol: float | None, max_steps: int | None = None
) -> InverseResult:
    r"""Conjugate gradients on :math:`A^\top A X = A^\top`, every column at once (CGLS).

    CGLS never forms :math:`A^\top A`: its attainable residual :math:`\|AX - I\|` is of order
    :math:`\kappa u`, like LU's (Björck, Elfving & Strakoš 1998), although in floating point it
    may need many more than :math:`n` steps to get there. Its target is the relative residual
    :math:`\|AX - I\|_F/\sqrt m \le` ``tol`` or, without ``tol``, one of LSQR's two backward
    errors (Paige & Saunders 1982) at the rounding of computing it:
    :math:`\|AX - I\|_F/(\|A\|_F\|X\|_F + \sqrt m) \le u` for a consistent system, or
    :math:`\|A^\top(AX - I)\|_F/(\|A\|_F\|AX - I\|_F) \le \sqrt{m + n}\,u` for a least-squares one.

    CG updates its residual by a recurrence that drifts from the true one once rounding
    dominates. So the target, once the recurrence meets it, is checked on the true residual (two
    more products), and again every :math:`\lfloor\max(m, n)/4\rfloor + 1` steps until it is met.
    If the true measure has not halved between two checks, the recurrence has run away from it:
    the iteration is at its rounding floor and stops, converged without ``tol``, not converged
    with one. Otherwise it reports ``converged=False`` at ``max_steps``. Works on :math:`A`
    scaled by a power of two.

    Parameters
    ----------
    max_steps
        The step budget; by default :math:`100\max(m, n)`.
    """
    check_count("max_steps", max_steps, optional=True)
    balanced, exponents = _balanced(a)
    rows, columns = a.shape[-2:]
    budget = 100 * max(rows, columns) if max_steps is None else max_steps
    recheck = max(rows, columns) // 4 + 1
    identity = identity_like(a).expand((*a.shape[:-1], rows))
    progress = _progress_measure(balanced, tol)

    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    residual = identity.clone()  # I - AX with X = 0
    normal = balanced.mT @ residual
    products = 1
    direction = normal
    gamma = normal.square().sum(dim=-2, keepdim=True)
    losses: list[float] = []
    evaluations_at: list[int] = []
    converged, reason, steps = False, f"reached max_steps={budget}", budget
    target = f"tol {tol:.3g}" if tol is not None else "the rounding of its backward error"
    next_check, last_true = 0, math.inf
    for step in range(budget + 1):
        losses.append(0.5 * residual.square().sum().item())
        evaluations_at.append(products)
        if step >= next_check and progress(residual, normal, x) <= 1:
            true_residual = identity - balanced @ x
            products += 2
            true = progress(true_residual, balanced.mT @ true_residual, x)
            if true <= 1:
                converged, steps = True, step
                reason = (
                    f"relative residual {true * tol:.3g} <= tol {tol:.3g} (true residual)"
                    if tol is not None
                    else f"true residual within {target}"
                )
                break
            if true > last_true / 2:
                converged, steps = tol is None, step
                reason = (
                    f"true residual stopped decreasing at {true:.3g}× {target} (rounding floor)"
                )
                break
            next_check, last_true = step + recheck, true
        if step == budget:
            break
        product = balanced @ direction
        curvature = product.square().sum(dim=-2, keepdim=True)
        alpha = torch.where(curvature > 0, gamma / curvature, torch.zeros_like(gamma))
        x = x + direction * alpha
        residual = residual - product * alpha
        normal = balanced.mT @ residual
        products += 2
        gamma_next = normal.square().sum(dim=-2, keepdim=True)
        beta = torch.where(gamma > 0, gamma_next / gamma, torch.zeros_like(gamma))
        direction = normal + direction * beta
        gamma = gamma_next
    return _result(
        a,
        torch.ldexp(x, -exponents),
        method="cgnr",
        tol=tol,
        losses=losses,
        evaluations_at=evaluations_at,
        steps=steps,
        products=products,
        converged=converged,
        reason=reason,
    )


def _progress_measure(a: Tensor, tol: float | None) -> Callable[[Tensor, Tensor, Tensor], float]:
    r"""CGNR's measure of an iterate over its target, done at 1 or below; a batch's worst.

    ``progress(residual, normal, x)`` with ``residual`` :math:`I - AX` and ``normal``
    :math:`A^\top(I - AX)`: the relative residual over ``tol``, or without ``tol`` the better of
    LSQR's two backward errors over its rounding (see :func:`_cgnr`).
    """
    rows, columns = a.shape[-2:]
    unit_roundoff = torch.finfo(a.dtype).eps / 2
    norm_a = torch.linalg.matrix_norm(a)

    def progress(residual: Tensor, normal: Tensor, x: Tensor) -> float:
        """The measure over its target, done at 1 or below; a batch's worst."""
        norm_r = torch.linalg.matrix_norm(residual)
        if tol is not None:
            return (norm_r / math.sqrt(rows) / tol).max().item()
        consistent = norm_r / (norm_a * torch.linalg.matrix_norm(x) + math.sqrt(rows))
        least_squares = torch.linalg.matrix_norm(normal) / (norm_a * norm_r)
        return (
            torch.fmin(  # fmin: the least-squares ratio is 0/0 when R = 0
                consistent / unit_roundoff,
                least_squares / (math.sqrt(rows + columns) * unit_roundoff),
            )
            .max()
            .item()
        )

    return progress

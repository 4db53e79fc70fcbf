r"""Part 2: the matrix inverse as the minimiser of :math:`f(X) = \tfrac12\|AX - I\|_F^2`.

:func:`inverse` is the entry point, with a ``method=`` switch in the style of
:func:`scipy.optimize.minimize`. Each method owns its options (``gdtutor.show_options("inverse")``
lists them); ``tol`` means the same for all of them: the relative residual
:func:`~gdtutor.metrics.inverse_relative_residual`, :math:`\|AX - I\|_F/\sqrt n`, of every matrix.

``"newton-schulz"`` (default)
    :math:`X \leftarrow X(2I - AX)`: Newton's method on :math:`X^{-1} - A`, quadratically
    convergent from :math:`X_0 = A^\top / (\|A\|_1\|A\|_\infty)`, two matrix products a step.
``"cgnr"``
    Conjugate gradients on the normal equations :math:`A^\top A X = A^\top` (CGLS form): the
    fastest first-order method on this quadratic.
``"gd"``
    Plain gradient descent with the optimal fixed step :math:`2/(\sigma_1^2 + \sigma_n^2)`: the
    error contracts by :math:`\max_i |1 - \alpha\sigma_i^2|` per step, smallest at that step,
    where it is :math:`(\kappa^2 - 1)/(\kappa^2 + 1)`; steps above :math:`2/\sigma_1^2` diverge.
``"optimizer"``
    Any :mod:`torch.optim` optimizer (``optimizer="adam"``, ``lr=...``) on the same loss.
``"2020"``
    The 2020 blog series' scheme, faithfully: MSE of :math:`XA` against :math:`I`, heavy-ball
    momentum 0.9 with step 0.9, :math:`X_0` uniform random after seed 314, 10,000 steps.

For dense problems that fit in memory, :func:`torch.linalg.solve` or :func:`torch.linalg.inv` is
faster and at least as accurate; the tutorial measures by how much.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor import seeds
from gdtutor._methods import MethodTable
from gdtutor._tensors import identity_like, power_of_two_exponents
from gdtutor._validation import as_float_tensor
from gdtutor.descent import SchedulerFactory, descend, make_optimizer, optimizer_class
from gdtutor.matrices import LR_2020, MOMENTUM_2020, SEED_2020, seeded_rand
from gdtutor.metrics import inverse_relative_residual, unit_roundoff

Method = Literal["newton-schulz", "cgnr", "gd", "optimizer", "2020"]


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


def newton_schulz_start(a: Tensor) -> Tensor:
    r"""The start :math:`X_0 = A^\top / (\|A\|_1 \|A\|_\infty)`, which guarantees convergence.

    Since :math:`\sigma_1^2 \le \|A\|_1\|A\|_\infty`, every eigenvalue of :math:`AX_0` lies in
    :math:`(0, 1]`, so :math:`\|I - AX_0\|_2 < 1` on the range of :math:`A`.
    (:func:`inverse` scales :math:`A` by a power of two first, so this never overflows there.)
    """
    scale = torch.linalg.matrix_norm(a, ord=1, keepdim=True) * torch.linalg.matrix_norm(
        a, ord=math.inf, keepdim=True
    )
    if not torch.isfinite(scale).all():
        raise ValueError(
            f"‖A‖₁·‖A‖∞ overflows {a.dtype}: rescale A (e.g. by 1/‖A‖∞) or use float64."
        )
    return a.mT / scale


def inverse(
    a: object,
    method: Method = "newton-schulz",
    *,
    pseudo: bool = False,
    tol: float | None = None,
    **options: Any,
) -> InverseResult:
    r"""Compute :math:`A^{-1}` (or the pseudo-inverse :math:`A^+`) by an iterative method.

    Parameters
    ----------
    a
        A float tensor or array-like of shape ``(..., n, n)``, or ``(..., m, n)`` with
        ``pseudo=True``. Its dtype and device are kept (integers become float64). Any finite
        input whose inverse is representable works: the scale-free methods (Newton–Schulz,
        CGNR, ``"gd"`` with its optimal step) scale :math:`A` by a power of two first, which is
        exact. Input that requires grad is accepted; the methods compute on its values, and the
        result carries no gradient (use :func:`torch.linalg.inv` to differentiate through an
        inverse).
    method
        ``"newton-schulz"`` (default), ``"cgnr"``, ``"gd"``, ``"optimizer"`` or ``"2020"``; see
        :mod:`gdtutor.inversion`.
    pseudo
        Compute the Moore–Penrose pseudo-inverse: allowed for rectangular and singular input.
        Gradient methods then start from :math:`X_0 = 0`, whose iterates stay in the row space of
        :math:`A` and converge to :math:`A^+`.
    tol
        Stop once every matrix's relative residual :math:`\|AX - I\|_F/\sqrt n`
        (:func:`~gdtutor.metrics.inverse_relative_residual`) is at most ``tol``, whatever the
        method. ``None`` runs Newton–Schulz and CGNR to their rounding floor and the gradient
        methods for their step budget. Not with ``pseudo=True``, where :math:`AX - I` need not
        vanish.
    **options
        The method's own options, such as ``max_steps``, ``lr`` or ``optimizer``; each method
        documents its own, with their defaults: ``print(gdtutor.show_options("inverse", "gd"))``.
        An option the method does not take raises :class:`TypeError` before any work is done.

    Returns
    -------
    InverseResult

    Raises
    ------
    ValueError
        Non-square input without ``pseudo=True``; NaN/Inf or empty input; an unknown method; a
        ``tol`` that is not positive, or given with ``pseudo=True``; an inverse that overflows.
    SingularMatrixError
        Newton–Schulz on input singular to working precision without ``pseudo=True``; the error
        names the matrices of a batch at fault.
    TypeError
        An option the method does not take; boolean, complex or half-precision input.
    gdtutor.descent.DivergenceError
        When a gradient method's step size makes it diverge (the message gives a stable one).

    Examples
    --------
    >>> import torch, gdtutor
    >>> a = torch.tensor([[4.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    >>> result = gdtutor.inverse(a)
    >>> torch.allclose(result.inverse, torch.linalg.inv(a))
    True
    """
    solve = METHODS.resolve(method, options)
    a = as_float_tensor(a)
    if not pseudo:
        _require_square(a)
    if tol is not None:
        if pseudo:
            raise ValueError(
                "tol bounds ‖AX - I‖, which need not vanish at the pseudo-inverse; with "
                "pseudo=True leave tol=None (the methods stop at their rounding floor or max_steps)."
            )
        if not (isinstance(tol, int | float) and 0 < tol < math.inf):
            raise ValueError(f"tol must be a positive number; got {tol!r}.")
    return solve(a, pseudo=pseudo, tol=tol, **options)


def _require_square(a: Tensor) -> None:
    """Raise a clear error unless the trailing two dimensions of ``a`` are equal."""
    m, n = a.shape[-2:]
    if m != n:
        raise ValueError(
            f"A must be square to have an inverse; got shape {tuple(a.shape)}. "
            "For a rectangular matrix ask for the pseudo-inverse (pseudo=True)."
        )


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


def _scaled(a: Tensor) -> tuple[Tensor, Tensor]:
    """``a`` divided by a power of two per matrix (exact), and the exponents to scale back with."""
    exponents = power_of_two_exponents(a)
    return torch.ldexp(a, -exponents), exponents


def _newton_schulz(
    a: Tensor,
    *,
    pseudo: bool,
    tol: float | None,
    max_steps: int | None = None,
    scaled: bool = False,
    start: object | None = None,
) -> InverseResult:
    r"""Newton–Schulz, :math:`X_{k+1} = X_k + X_k(I - AX_k)`, with stopping rules that are safe.

    The eigenvalues of :math:`I - AX_k` are :math:`(1 - \alpha\sigma_i^2)^{2^k}`, so in exact
    arithmetic :math:`\|I - AX_k\|_F` never increases.

    - Inverse: once :math:`\|I - AX_k\|_F \le 1/2` every direction is in the quadratic phase;
      exactly, each step at least halves it, and the first step that fails to has reached the
      rounding floor (the better of the last two iterates is returned); so has the iterate after
      one whose residual squared is below :math:`u`, which saves the step that would confirm
      it. A matrix whose
      residual is still above 1/2 after the full default budget is singular to working precision
      (:class:`SingularMatrixError`).
    - Pseudo-inverse: the residual no longer tends to 0. Rounding errors in the null space double
      at every step, exactly as fast as a singular value :math:`\sigma` converges (after
      :math:`2^k \approx 1/(\alpha\sigma^2)` steps), so only :math:`\sigma \gtrsim \sqrt u\,\sigma_1`
      can be resolved. Stop at the smallest relative correction
      :math:`\|X_{k+1} - X_k\|_F / \|X_{k+1}\|_F` once it is below :math:`\sqrt u`; after it the
      error grows again.

    Returns the best iterate by the rule's measure. Works on :math:`A` scaled by a power of two.

    Parameters
    ----------
    max_steps
        The step budget. By default :math:`2p + \lceil\log_2 n\rceil + 8` for a :math:`p`-bit
        significand (124 for a 1000 × 1000 float64 matrix): the smallest eigenvalue of
        :math:`AX_0` is at least :math:`1/(n\kappa^2)`, so this resolves every condition number
        below :math:`1/u`.
    scaled
        Scale each step (after Pan and Schreiber): :math:`X \leftarrow \alpha X(2I - \alpha AX)`
        with :math:`\alpha = 2/(l + h)` for the eigenvalues of the symmetric :math:`AX` in
        :math:`[l, h]`, which maps them into :math:`[4lh/(l + h)^2, 1]`. The small ones grow
        fourfold per step instead of twofold, so the linear phase takes :math:`\log_2\kappa`
        steps instead of :math:`2\log_2\kappa`. :math:`h` is estimated once, :math:`l` at every
        step, by power iteration (products of a matrix with a vector, :math:`O(n^2)`, not
        counted); once :math:`l \ge 0.9` the steps are plain. Not with ``pseudo=True``, where
        :math:`l = 0`.
    start
        A first iterate :math:`X_0` instead of the default: the inverse of a nearby matrix, or an
        inverse computed in lower precision (two steps then square a float32 residual of
        :math:`10^{-5}` down to float64's floor). It must satisfy :math:`\|I - AX_0\|_F < 1`,
        which guarantees convergence. Not with ``pseudo=True`` or ``scaled=True``.
    """
    if scaled and pseudo:
        raise ValueError(
            "scaled=True needs the smallest eigenvalue of AX, which is 0 for a pseudo-inverse; "
            "use scaled=False with pseudo=True."
        )
    balanced, exponents = _scaled(a)
    m = a.shape[-2]
    significand = 1 - round(math.log2(torch.finfo(a.dtype).eps))
    resolving = 2 * significand + math.ceil(math.log2(m)) + 8
    budget = resolving if max_steps is None else max_steps
    if start is None:
        x = newton_schulz_start(balanced)
    else:
        x = torch.ldexp(_checked_start(a, start, pseudo=pseudo, scaled=scaled), exponents)
    scaling = _StepScaling(balanced, x) if scaled else None
    eye = identity_like(a)
    floor_check = math.sqrt(torch.finfo(a.dtype).eps)
    roundoff = unit_roundoff(a.dtype)
    losses: list[float] = []
    evaluations_at: list[int] = []
    products = 0
    last_measure = math.inf
    best, best_measure, best_norms = x, math.inf, None
    converged, reason, steps = False, f"reached max_steps={budget}", budget
    for step in range(budget + 1):
        residual = eye - balanced @ x
        products += 1
        norms = torch.linalg.matrix_norm(residual)
        losses.append(0.5 * norms.square().sum().item())
        evaluations_at.append(products)
        if tol is not None and norms.max().item() / math.sqrt(m) <= tol:
            best, best_norms = x, norms
            converged, reason, steps = True, f"relative residual <= tol {tol:.3g}", step
            break
        # A scaled step may raise the residual of directions already converged: the iterate it
        # produced becomes the reference for the rounding-floor test, which plain steps make safe.
        scaled_into = scaling is not None and scaling.active
        following = None
        if pseudo:
            following = x + x @ residual
            products += 1
            measure = (
                (torch.linalg.matrix_norm(following - x) / torch.linalg.matrix_norm(following))
                .max()
                .item()
            )
            candidate, quadratic_phase = following, best_measure <= floor_check
        else:
            measure = norms.max().item()
            candidate, quadratic_phase = x, best_measure <= 0.5 and not scaled_into
        # From ‖I - AX‖_F <= 1/2 on, a plain step at least halves it (the residual squares), and
        # once the last residual squared is below u, this one is rounding error alone.
        enough = best_measure if pseudo else best_measure / 2
        squared_away = not (pseudo or scaled_into) and last_measure**2 <= roundoff
        floor_reached = quadratic_phase and not measure < enough
        if measure < best_measure or scaled_into:
            best, best_measure, best_norms = candidate, measure, norms
        if floor_reached or squared_away:
            converged, steps = True, step
            what = "correction" if pseudo else "residual"
            how = "reached" if squared_away and not floor_reached else "stopped decreasing at"
            reason = f"{what} {how} {best_measure:.2g} (rounding floor)"
            break
        last_measure = measure
        if step == budget:
            break
        if following is None:
            following = scaling.step(x, residual) if scaled_into else x + x @ residual
            products += 1
        x = following
    if not (pseudo or converged) and budget >= resolving and best_norms is not None:
        _require_nonsingular(best_norms)
    return _result(
        a,
        torch.ldexp(best, -exponents),
        method="newton-schulz",
        tol=tol,
        losses=losses,
        evaluations_at=evaluations_at,
        steps=steps,
        products=products,
        converged=converged,
        reason=reason,
        # scaling by powers of two is exact: the residual of `best` is already known
        residual=None if pseudo or best_norms is None else best_norms / math.sqrt(m),
    )


def _checked_start(a: Tensor, start: object, *, pseudo: bool, scaled: bool) -> Tensor:
    r"""``start`` as a tensor like ``a``, if Newton–Schulz converges from it: :math:`\|I - AX_0\|_F < 1`."""
    if pseudo or scaled:
        raise ValueError(
            "start= works for the inverse with plain steps: not with pseudo=True or scaled=True."
        )
    x0 = as_float_tensor(start).to(dtype=a.dtype, device=a.device)
    if x0.shape != a.mT.shape:
        raise ValueError(
            f"start must have the shape of A's inverse, {tuple(a.mT.shape)}; got {tuple(x0.shape)}."
        )
    distance = torch.linalg.matrix_norm(identity_residual(a, x0)).max().item()
    if not distance < 1:
        raise ValueError(
            f"start is too far from the inverse: ‖I - AX₀‖_F = {distance:.3g}, and Newton–Schulz is "
            "sure to converge only below 1. Pass a closer start, or none (the default start always "
            "converges)."
        )
    return x0


class _StepScaling:
    r"""The step scaling of ``newton_schulz(scaled=True)``: :math:`X \leftarrow \alpha X(2I - \alpha AX)`.

    :math:`AX_k` is symmetric positive semi-definite for every iterate (a polynomial in
    :math:`AA^\top`), with eigenvalues in :math:`[l, h]`. The map :math:`t \mapsto \alpha t(2 - \alpha
    t)` with :math:`\alpha = 2/(l + h)` sends :math:`[l, h]` into :math:`[4lh/(l + h)^2, 1]`, so
    :math:`h = 1` after the first step. Power iteration estimates :math:`h` of :math:`AX_0` from
    below (hence a 10 % margin) and :math:`l = 1 - \lambda_{\max}(I - AX_k)` from above, which only
    makes :math:`\alpha` more cautious. The eigenvectors are those of :math:`AA^\top` throughout,
    so each step's power iteration continues from the last one's vector.
    """

    _POWER_STEPS = 8
    _MARGIN = 1.1
    _PLAIN_ABOVE = 0.9

    def __init__(self, a: Tensor, x0: Tensor) -> None:
        generator = seeds.generator(0, device=a.device)
        start = torch.randn((*a.shape[:-1], 1), dtype=a.dtype, device=a.device, generator=generator)
        largest, _ = _power_iteration(lambda v: a @ (x0 @ v), start, 3 * self._POWER_STEPS)
        self.high = (self._MARGIN * largest).clamp(max=1.0)
        self.vector = start
        self.active = True

    def step(self, x: Tensor, residual: Tensor) -> Tensor:
        r"""The next iterate from ``x`` and its residual :math:`I - AX`; plain once :math:`l \ge 0.9`."""
        top, self.vector = _power_iteration(lambda v: residual @ v, self.vector, self._POWER_STEPS)
        low = torch.minimum((1 - top).clamp(min=0.0), self.high)
        scale = low < self._PLAIN_ABOVE
        self.active = bool(scale.any())
        alpha = torch.where(scale, 2 / (low + self.high), torch.ones_like(low))
        self.high = torch.ones_like(self.high)
        if x.ndim == 2:
            factor = alpha.item()
            return torch.addmm(x, x, residual, beta=factor * (2 - factor), alpha=factor**2)
        return x * (alpha * (2 - alpha)) + (x @ residual) * alpha**2


def _power_iteration(
    apply: Callable[[Tensor], Tensor], vector: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """The Rayleigh quotient of a symmetric operator after ``steps`` power steps, and the vector.

    Batched: ``vector`` is ``(..., n, 1)``; the quotients are ``(..., 1, 1)``.
    """
    tiny = torch.finfo(vector.dtype).tiny
    quotient = torch.zeros_like(vector[..., :1, :])
    for _ in range(steps):
        vector = vector / torch.linalg.vector_norm(vector, dim=-2, keepdim=True).clamp(min=tiny)
        image = apply(vector)
        quotient = (vector * image).sum(dim=-2, keepdim=True)
        vector = image
    return quotient, vector / torch.linalg.vector_norm(vector, dim=-2, keepdim=True).clamp(min=tiny)


def _require_nonsingular(residual_norms: Tensor) -> None:
    r"""Name the matrices whose residual :math:`\|I - AX\|_F` never fell below 1/2."""
    singular = residual_norms >= 0.5
    if not singular.any():
        return
    indices = [tuple(int(i) for i in index) for index in singular.nonzero()]
    where = "A is" if residual_norms.ndim == 0 else f"A{list(indices)} (batch indices) are"
    raise SingularMatrixError(
        f"{where} singular to working precision: Newton–Schulz's residual ‖I - AX‖_F stayed "
        f"above 1/2 (at least {residual_norms[singular].min().item():.2g}) for a budget that "
        "resolves any condition number below 1/u. Pass pseudo=True for the Moore–Penrose "
        "pseudo-inverse, or use float64.",
        indices=indices,
    )


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
    scaled, exponents = _scaled(a)
    rows, columns = a.shape[-2:]
    budget = 100 * max(rows, columns) if max_steps is None else max_steps
    unit_roundoff = torch.finfo(a.dtype).eps / 2
    recheck = max(rows, columns) // 4 + 1
    identity = identity_like(a).expand((*a.shape[:-1], rows))
    norm_a = torch.linalg.matrix_norm(scaled)

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

    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    residual = identity.clone()  # I - AX with X = 0
    normal = scaled.mT @ residual
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
            true_residual = identity - scaled @ x
            products += 2
            true = progress(true_residual, scaled.mT @ true_residual, x)
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
        product = scaled @ direction
        curvature = product.square().sum(dim=-2, keepdim=True)
        alpha = torch.where(curvature > 0, gamma / curvature, torch.zeros_like(gamma))
        x = x + direction * alpha
        residual = residual - product * alpha
        normal = scaled.mT @ residual
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
    if lr is None:
        scaled, exponents = _scaled(a)
    else:
        scaled, exponents = a, torch.zeros((*a.shape[:-2], 1, 1), dtype=torch.int32)
    largest, smallest = extreme_singular_values(scaled, pseudo=pseudo)
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
        _half_residual_loss(scaled, xs, squares),
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
    if isinstance(optimizer, Optimizer):
        raise TypeError(
            "inverse(method='optimizer') builds the optimizer on its own X: give a name or an "
            "optimizer class, and its options as keywords."
        )
    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    if lr is not None:
        optimizer_options["lr"] = lr
    cls = optimizer_class(optimizer)
    try:  # built here, before any step, so that a foreign option is reported in the method's terms
        built = make_optimizer(cls, [x], **optimizer_options)
    except TypeError as error:  # the only TypeError left: an option the class does not take
        raise TypeError(
            f"inverse(method='optimizer') with {error} "
            f"The method's own options are {METHODS.describe('optimizer')}."
        ) from None
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


# The methods of inverse(), each with its own options: gdtutor.show_options("inverse").
METHODS = MethodTable(
    "inverse",
    {
        "newton-schulz": _newton_schulz,
        "cgnr": _cgnr,
        "gd": _gradient_descent,
        "optimizer": _with_optimizer,
        "2020": _scheme_2020,
    },
    shared=("pseudo", "tol"),
)

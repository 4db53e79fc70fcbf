r"""Part 2: the matrix inverse as the minimiser of :math:`f(X) = \tfrac12\|AX - I\|_F^2`.

:func:`inverse` is the entry point, with a ``method=`` switch in the style of
:func:`scipy.optimize.minimize`:

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

from gdtutor._validation import as_float_tensor, require_square
from gdtutor.descent import OptimizerSpec, SchedulerFactory, descend
from gdtutor.matrices import SEED_2020, seeded_rand

Method = Literal["newton-schulz", "cgnr", "gd", "optimizer", "2020"]
METHODS: tuple[str, ...] = ("newton-schulz", "cgnr", "gd", "optimizer", "2020")


@dataclass(frozen=True)
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
        Iterations taken.
    evaluations
        The work done, in units of two matrix products: loss-and-gradient evaluations for the
        gradient methods (each computes :math:`AX` and :math:`A^\top R`), iterations for
        Newton–Schulz (:math:`AX` and :math:`XR`) and CGNR (:math:`AP` and :math:`A^\top R`).
    converged
        Whether the method's stopping rule was met (not just the step budget exhausted).
    reason
        Why it stopped, in words.
    predicted_rate
        For ``"gd"`` with the optimal step: the proven contraction factor per step of the error,
        :math:`(\kappa^2 - 1)/(\kappa^2 + 1)` (the largest over a batch).
    """

    inverse: Tensor
    method: str
    losses: Tensor
    steps: int
    evaluations: int
    converged: bool
    reason: str
    predicted_rate: float | None = None


def identity_residual(a: Tensor, x: Tensor) -> Tensor:
    r"""The residual :math:`AX - I` (batched over leading dimensions)."""
    eye = torch.eye(a.shape[-2], x.shape[-1], dtype=a.dtype, device=a.device)
    return a @ x - eye


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


def newton_schulz_start(a: Tensor) -> Tensor:
    r"""The start :math:`X_0 = A^\top / (\|A\|_1 \|A\|_\infty)`, which guarantees convergence.

    Since :math:`\sigma_1^2 \le \|A\|_1\|A\|_\infty`, every eigenvalue of :math:`AX_0` lies in
    :math:`(0, 1]`, so :math:`\|I - AX_0\|_2 < 1` on the range of :math:`A`.
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
    max_steps: int | None = None,
    optimizer: OptimizerSpec = "sgd",
    lr: float | None = None,
    scheduler: SchedulerFactory | None = None,
    seed: int = SEED_2020,
    progress: bool = False,
    **optimizer_options: Any,
) -> InverseResult:
    r"""Compute :math:`A^{-1}` (or the pseudo-inverse :math:`A^+`) by an iterative method.

    Parameters
    ----------
    a
        A float tensor or array-like of shape ``(..., n, n)``, or ``(..., m, n)`` with
        ``pseudo=True``. Its dtype and device are kept (integers become float64).
    method
        One of ``"newton-schulz"`` (default), ``"cgnr"``, ``"gd"``, ``"optimizer"``, ``"2020"``;
        see :mod:`gdtutor.inversion`.
    pseudo
        Compute the Moore–Penrose pseudo-inverse: allowed for rectangular and singular input.
        Gradient methods then start from :math:`X_0 = 0`, whose iterates stay in the row space of
        :math:`A` and converge to :math:`A^+`.
    tol
        For ``"gd"``, ``"optimizer"`` and ``"2020"``: stop once the relative residual
        :math:`\|AX - I\|_F / \sqrt n` (over the whole batch) is at most ``tol``. For
        ``"newton-schulz"``, the same, checked before the rounding floor. For ``"cgnr"``: the
        normal-equations backward error (default: machine epsilon). ``None`` runs the gradient
        methods for ``max_steps`` and Newton–Schulz to its rounding floor.
    max_steps
        Step budget; by default 100 for Newton–Schulz, ``20 n`` for CGNR, 10,000 otherwise.
    optimizer, lr, scheduler, **optimizer_options
        For ``"optimizer"``: the :mod:`torch.optim` optimizer (name, class or instance), its
        learning rate and other options, and an optional scheduler factory. For ``"gd"``, ``lr``
        overrides the optimal step :math:`2/(\sigma_1^2 + \sigma_n^2)`. For ``"2020"``, ``lr``
        and ``momentum`` override the original 0.9 and 0.9.
    seed
        For ``"2020"``: the seed of the random start.
    progress
        Show a progress bar for the gradient methods (needs ``tqdm``).

    Returns
    -------
    InverseResult

    Raises
    ------
    ValueError
        Non-square input without ``pseudo=True``; NaN/Inf or empty input; an unknown method;
        for Newton–Schulz, input singular to working precision without ``pseudo=True``.
    TypeError
        Boolean, complex or half-precision input.
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
    a = as_float_tensor(a)
    if not pseudo:
        require_square(a)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}.")
    if method == "newton-schulz":
        result = _newton_schulz(
            a, pseudo=pseudo, tol=tol, max_steps=100 if max_steps is None else max_steps
        )
    elif method == "cgnr":
        n = a.shape[-1]
        result = _cgnr(a, tol=tol, max_steps=20 * n if max_steps is None else max_steps)
    else:
        steps = 10_000 if max_steps is None else max_steps
        if method == "2020":
            if pseudo:
                raise ValueError(
                    "the 2020 scheme starts from a random X, so it does not find A⁺; use method='gd'."
                )
            result = _scheme_2020(
                a,
                lr=0.9 if lr is None else lr,
                momentum=optimizer_options.pop("momentum", 0.9),
                tol=tol,
                max_steps=steps,
                seed=seed,
                progress=progress,
            )
            if optimizer_options:
                raise TypeError(
                    f"the 2020 scheme takes only lr and momentum; got {sorted(optimizer_options)}."
                )
        elif method == "gd":
            result = _gradient_descent(
                a, pseudo=pseudo, lr=lr, tol=tol, max_steps=steps, progress=progress
            )
        else:
            result = _with_optimizer(
                a,
                optimizer,
                lr=lr,
                scheduler=scheduler,
                tol=tol,
                max_steps=steps,
                progress=progress,
                **optimizer_options,
            )
    if not pseudo and method == "newton-schulz" and (result.converged or max_steps is None):
        _require_nonsingular(a, result.inverse)
    return result


def _relative_residual(a: Tensor, x: Tensor) -> float:
    r"""RMS of :math:`\|AX - I\|_F / \sqrt n` over a batch."""
    n = a.shape[-2]
    count = a.numel() // (a.shape[-1] * n)
    return (identity_residual(a, x).square().sum() / (n * count)).sqrt().item()


def _require_nonsingular(a: Tensor, x: Tensor) -> None:
    residual = _relative_residual(a, x)
    if not residual < 0.5:
        raise ValueError(
            f"A is singular to working precision (relative residual ‖AX - I‖ = {residual:.2g} after "
            f"convergence). Pass pseudo=True for the Moore–Penrose pseudo-inverse, or use float64."
        )


def _loss_threshold(a: Tensor, tol: float | None, *, scale: float) -> float | None:
    r"""The loss :math:`c\sum_b \|A_b X_b - I\|_F^2` at which the RMS relative residual is ``tol``."""
    if tol is None:
        return None
    rows = a.numel() // a.shape[-1]  # n times the batch size
    return scale * tol**2 * rows


def _eye_like(a: Tensor) -> Tensor:
    return torch.eye(a.shape[-2], dtype=a.dtype, device=a.device).expand(
        a.shape[:-2] + (a.shape[-2],) * 2
    )


def _scheme_2020(
    a: Tensor,
    *,
    lr: float,
    momentum: float,
    tol: float | None,
    max_steps: int,
    seed: int,
    progress: bool,
) -> InverseResult:
    x = seeded_rand(*a.shape, seed=seed, dtype=a.dtype).to(a.device)
    eye = _eye_like(a)
    n = a.shape[-1]

    def mse() -> Tensor:  # summed over a batch, so that each matrix steps as if alone
        return (x @ a - eye).square().mean(dim=(-2, -1)).sum()

    run = descend(
        mse,
        [x],
        "sgd",
        lr=lr,
        momentum=momentum,
        max_steps=max_steps,
        tol=_loss_threshold(a, tol, scale=1 / n**2),
        safe_lr=lambda: (n**2 / extreme_singular_values(a)[0] ** 2).min().item(),
        progress=progress,
    )
    return InverseResult(
        run.params[0], "2020", run.losses, run.steps, run.evaluations, run.converged, run.reason
    )


def _half_residual_loss(a: Tensor, x: Tensor | list[Tensor]) -> Callable[[], Tensor]:
    r"""The closure :math:`\tfrac12\|AX - I\|_F^2`; ``x`` may be a list of a batch's matrices."""

    def loss() -> Tensor:
        stacked = torch.stack(x).reshape(a.mT.shape) if isinstance(x, list) else x
        return 0.5 * identity_residual(a, stacked).square().sum()

    return loss


def _gradient_descent(
    a: Tensor, *, pseudo: bool, lr: float | None, tol: float | None, max_steps: int, progress: bool
) -> InverseResult:
    largest, smallest = extreme_singular_values(a, pseudo=pseudo)
    predicted_rate = None
    if lr is None:
        steps = (2 / (largest**2 + smallest**2)).flatten().tolist()
        kappa2 = (largest / smallest) ** 2
        predicted_rate = ((kappa2 - 1) / (kappa2 + 1)).max().item()
    else:
        steps = [lr] * (a.numel() // (a.shape[-2] * a.shape[-1]))
    # One parameter group per matrix of a batch, so that each descends with its own step.
    xs = [torch.zeros(a.shape[-1], a.shape[-2], dtype=a.dtype, device=a.device) for _ in steps]
    sgd = torch.optim.SGD([{"params": [x], "lr": step} for x, step in zip(xs, steps, strict=True)])
    run = descend(
        _half_residual_loss(a, xs),
        xs,
        sgd,
        max_steps=max_steps,
        tol=_loss_threshold(a, tol, scale=0.5),
        safe_lr=lambda: (2 / largest**2).min().item(),
        progress=progress,
    )
    x = torch.stack(run.params).reshape(a.mT.shape)
    return InverseResult(
        x, "gd", run.losses, run.steps, run.evaluations, run.converged, run.reason, predicted_rate
    )


def _with_optimizer(
    a: Tensor,
    optimizer: OptimizerSpec,
    *,
    lr: float | None,
    scheduler: SchedulerFactory | None,
    tol: float | None,
    max_steps: int,
    progress: bool,
    **options: Any,
) -> InverseResult:
    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    if lr is not None:
        options["lr"] = lr
    run = descend(
        _half_residual_loss(a, x),
        [x],
        optimizer,
        max_steps=max_steps,
        tol=_loss_threshold(a, tol, scale=0.5),
        scheduler=scheduler,
        safe_lr=lambda: (2 / extreme_singular_values(a)[0] ** 2).min().item(),
        progress=progress,
        **options,
    )
    return InverseResult(
        run.params[0],
        "optimizer",
        run.losses,
        run.steps,
        run.evaluations,
        run.converged,
        run.reason,
    )


def _newton_schulz(a: Tensor, *, pseudo: bool, tol: float | None, max_steps: int) -> InverseResult:
    r"""Newton–Schulz, :math:`X_{k+1} = X_k + X_k(I - AX_k)`, with stopping rules that are safe.

    The eigenvalues of :math:`I - AX_k` are :math:`(1 - \alpha\sigma_i^2)^{2^k}`, so in exact
    arithmetic :math:`\|I - AX_k\|_F` never increases.

    - Inverse: once :math:`\|I - AX_k\|_F \le 1/2` every direction is in the quadratic phase;
      the first step that fails to decrease it has reached the rounding floor.
    - Pseudo-inverse: the residual no longer tends to 0. Rounding errors in the null space double
      at every step, exactly as fast as a singular value :math:`\sigma` converges (after
      :math:`2^k \approx 1/(\alpha\sigma^2)` steps), so only :math:`\sigma \gtrsim \sqrt u\,\sigma_1`
      can be resolved. Stop at the smallest relative correction
      :math:`\|X_{k+1} - X_k\|_F / \|X_{k+1}\|_F` once it is below :math:`\sqrt u`; after it the
      error grows again.

    Returns the best iterate by the rule's measure.
    """
    x = newton_schulz_start(a)
    eye = _eye_like(a)
    floor_check = math.sqrt(torch.finfo(a.dtype).eps)
    losses: list[float] = []
    best, best_measure = x, math.inf
    converged, reason, steps = False, f"reached max_steps={max_steps}", max_steps
    for step in range(max_steps + 1):
        residual = eye - a @ x
        losses.append(0.5 * residual.square().sum().item())
        if tol is not None and _relative_residual(a, x) <= tol:
            best, converged, reason, steps = x, True, f"relative residual <= tol {tol:.3g}", step
            break
        following = x + x @ residual
        if pseudo:
            measure = (
                (torch.linalg.matrix_norm(following - x) / torch.linalg.matrix_norm(following))
                .max()
                .item()
            )
            candidate, quadratic_phase = following, best_measure <= floor_check
        else:
            measure = torch.linalg.matrix_norm(residual).max().item()
            candidate, quadratic_phase = x, best_measure <= 0.5
        if measure < best_measure:
            best, best_measure = candidate, measure
        elif quadratic_phase:
            converged, steps = True, step
            what = "correction" if pseudo else "residual"
            reason = f"{what} stopped decreasing at {best_measure:.2g} (rounding floor)"
            break
        if step == max_steps:
            break
        x = following
    history = torch.tensor(losses, dtype=torch.float64)
    return InverseResult(best, "newton-schulz", history, steps, steps, converged, reason)


def _cgnr(a: Tensor, *, tol: float | None, max_steps: int) -> InverseResult:
    r"""Conjugate gradients on :math:`A^\top A X = A^\top`, every column at once (CGLS).

    Stops when the normal-equations backward error
    :math:`\|A^\top(AX - I)\|_F / (\|A\|_F^2\|X\|_F + \|A\|_F)` is at most ``tol`` (default: the
    machine epsilon), or when it has not improved for ``max(m, n)`` steps (rounding has stalled it). Working on
    :math:`A^\top A` squares the condition number: the residual :math:`\|AX - I\|` ends near
    :math:`\kappa^2 u`, like gradient descent's, not :math:`\kappa u`.
    Returns the iterate with the smallest backward error.
    """
    tolerance = torch.finfo(a.dtype).eps if tol is None else tol
    x = torch.zeros(a.mT.shape, dtype=a.dtype, device=a.device)
    residual = _eye_like(a).clone()  # I - AX with X = 0
    normal = a.mT @ residual
    direction = normal
    gamma = normal.square().sum(dim=-2, keepdim=True)
    norm_a = torch.linalg.matrix_norm(a)
    patience = max(a.shape[-2:])
    losses: list[float] = []
    best, best_error, since_best = x, math.inf, 0
    converged, reason, steps = False, f"reached max_steps={max_steps}", max_steps
    for step in range(max_steps + 1):
        losses.append(0.5 * residual.square().sum().item())
        error = (
            (torch.linalg.matrix_norm(normal) / (norm_a**2 * torch.linalg.matrix_norm(x) + norm_a))
            .max()
            .item()
        )
        if error < best_error:
            best, best_error, since_best = x, error, 0
        else:
            since_best += 1
        if error <= tolerance:
            converged, reason, steps = (
                True,
                f"backward error {error:.2g} <= tol {tolerance:.2g}",
                step,
            )
            break
        if since_best >= patience:
            converged, steps = True, step
            reason = f"backward error stopped improving at {best_error:.2g} (rounding floor)"
            break
        if step == max_steps:
            break
        product = a @ direction
        curvature = product.square().sum(dim=-2, keepdim=True)
        alpha = torch.where(curvature > 0, gamma / curvature, torch.zeros_like(gamma))
        x = x + direction * alpha
        residual = residual - product * alpha
        normal = a.mT @ residual
        gamma_next = normal.square().sum(dim=-2, keepdim=True)
        beta = torch.where(gamma > 0, gamma_next / gamma, torch.zeros_like(gamma))
        direction = normal + direction * beta
        gamma = gamma_next
    return InverseResult(
        best, "cgnr", torch.tensor(losses, dtype=torch.float64), steps, steps, converged, reason
    )

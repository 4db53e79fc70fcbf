r"""Newton–Schulz, :math:`X_{k+1} = X_k(2I - AX_k)`: ``inverse(method="newton-schulz")``.

Newton's method on :math:`X^{-1} - A`: the residual squares at every step,
:math:`I - AX_{k+1} = (I - AX_k)^2`, so it converges quadratically from any :math:`X_0` with
:math:`\|I - AX_0\| < 1`, such as :math:`X_0 = A^\top/(\|A\|_1\|A\|_\infty)`
(:func:`newton_schulz_start`), at two matrix products a step. From that start the iterates stay
in the row space of :math:`A` and tend to the pseudo-inverse :math:`A^+` when :math:`A` is
singular or rectangular. Each of the two stopping rules (inverse, pseudo-inverse) is a subclass
of :class:`_Iteration`, chosen once.

References
----------
G. Schulz (1933). Iterative Berechnung der reziproken Matrix. *Zeitschrift für Angewandte
Mathematik und Mechanik* 13(1), 57--59. doi:10.1002/zamm.19330130111

V. Pan and R. Schreiber (1991). An improved Newton iteration for the generalized inverse of a
matrix, with applications. *SIAM Journal on Scientific and Statistical Computing* 12(5),
1109--1130. doi:10.1137/0912058
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor import seeds
from gdtutor._tensors import identity_like
from gdtutor._validation import as_float_tensor, check_count, check_flag
from gdtutor.inversion._common import (
    InverseResult,
    SingularMatrixError,
    _balanced,
    _result,
    identity_residual,
)
from gdtutor.metrics import unit_roundoff


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
    check_count("max_steps", max_steps, optional=True)
    check_flag("scaled", scaled)
    if scaled and pseudo:
        raise ValueError(
            "scaled=True needs the smallest eigenvalue of AX, which is 0 for a pseudo-inverse; "
            "use scaled=False with pseudo=True."
        )
    x0 = None if start is None else _checked_start(a, start, pseudo=pseudo, scaled=scaled)
    balanced, exponents = _balanced(a)
    m = a.shape[-2]
    significand = 1 - round(math.log2(torch.finfo(a.dtype).eps))
    resolving = 2 * significand + math.ceil(math.log2(m)) + 8
    budget = resolving if max_steps is None else max_steps
    if x0 is None:
        x = newton_schulz_start(balanced)
    else:
        _require_convergent_start(a, x0)
        x = torch.ldexp(x0, exponents)
    iteration: _Iteration
    if pseudo:
        iteration = _PseudoInverseIteration(balanced, x, tol)
    else:
        scaling = _StepScaling(balanced, x) if scaled else None
        iteration = _InverseIteration(balanced, x, tol, scaling)
    converged, reason, steps = iteration.run(budget)
    best_norms = iteration.best_norms
    if not (pseudo or converged) and budget >= resolving and best_norms is not None:
        _require_nonsingular(best_norms)
    return _result(
        a,
        torch.ldexp(iteration.best, -exponents),
        method="newton-schulz",
        tol=tol,
        losses=iteration.losses,
        evaluations_at=iteration.evaluations_at,
        steps=steps,
        products=iteration.products,
        converged=converged,
        reason=reason,
        # scaling by powers of two is exact: the residual of `best` is already known
        residual=None if pseudo or best_norms is None else best_norms / math.sqrt(m),
    )


class _Iteration:
    r"""Newton–Schulz's iterates on ``a`` from ``x``, and the best of them by a stopping rule.

    A subclass is a stopping rule, chosen once, as torch's LOBPCG chooses its update:
    :meth:`judge` measures the current iterate and says whether the rounding floor is reached,
    :meth:`advance` takes the step. Each counts the products it computes.
    """

    def __init__(self, a: Tensor, x: Tensor, tol: float | None) -> None:
        self.a, self.x, self.tol = a, x, tol
        self.eye = identity_like(a)
        self.products = 0
        self.losses: list[float] = []
        self.evaluations_at: list[int] = []
        self.best, self.best_measure = x, math.inf
        self.best_norms: Tensor | None = None

    def run(self, budget: int) -> tuple[bool, str, int]:
        """Iterate until ``tol``, the rounding floor or ``budget`` steps: converged, reason, steps."""
        rows = self.a.shape[-2]
        for step in range(budget + 1):
            residual = self.eye - self.a @ self.x
            self.products += 1
            norms = torch.linalg.matrix_norm(residual)
            self.losses.append(0.5 * norms.square().sum().item())
            self.evaluations_at.append(self.products)
            if self.tol is not None and norms.max().item() / math.sqrt(rows) <= self.tol:
                self.best, self.best_norms = self.x, norms
                return True, f"relative residual <= tol {self.tol:.3g}", step
            if (why := self.judge(residual, norms)) is not None:
                return True, why, step
            if step == budget:
                break
            self.x = self.advance(residual)
        return False, f"reached max_steps={budget}", budget

    def judge(self, residual: Tensor, norms: Tensor) -> str | None:
        r"""Keep the iterate if it is the best; the reason to stop, or ``None``.

        ``residual`` is :math:`I - AX`, ``norms`` its Frobenius norms.
        """
        raise NotImplementedError

    def advance(self, residual: Tensor) -> Tensor:
        """The next iterate."""
        raise NotImplementedError


class _InverseIteration(_Iteration):
    r"""The inverse's rule: the residual :math:`\|I - AX\|_F`, once at most 1/2, fails to halve.

    Or the last residual squared is below :math:`u`: this one is then rounding error alone. While
    ``scaling`` is active (``scaled=True``), the steps are scaled.
    """

    def __init__(
        self, a: Tensor, x: Tensor, tol: float | None, scaling: _StepScaling | None
    ) -> None:
        super().__init__(a, x, tol)
        self.scaling = scaling
        self.roundoff = unit_roundoff(a.dtype)
        self.last_measure = math.inf
        self.scaled_into = False

    def judge(self, residual: Tensor, norms: Tensor) -> str | None:
        """Keep the iterate if it is the best; the reason to stop, or ``None``."""
        # A scaled step may raise the residual of directions already converged: the iterate it
        # produced becomes the reference for the rounding-floor test, which plain steps make safe.
        self.scaled_into = self.scaling is not None and self.scaling.active
        measure = norms.max().item()
        # From ‖I - AX‖_F <= 1/2 on, a plain step at least halves it (the residual squares), and
        # once the last residual squared is below u, this one is rounding error alone.
        quadratic_phase = self.best_measure <= 0.5 and not self.scaled_into
        squared_away = not self.scaled_into and self.last_measure**2 <= self.roundoff
        floor_reached = quadratic_phase and not measure < self.best_measure / 2
        if measure < self.best_measure or self.scaled_into:
            self.best, self.best_measure, self.best_norms = self.x, measure, norms
        self.last_measure = measure
        if not (floor_reached or squared_away):
            return None
        how = "reached" if squared_away and not floor_reached else "stopped decreasing at"
        return f"residual {how} {self.best_measure:.2g} (rounding floor)"

    def advance(self, residual: Tensor) -> Tensor:
        """The next iterate: :math:`X + XR`, or the scaled step while the scaling is active."""
        self.products += 1
        if self.scaling is not None and self.scaled_into:
            return self.scaling.step(self.x, residual)
        return self.x + self.x @ residual


class _PseudoInverseIteration(_Iteration):
    r"""The pseudo-inverse's rule: the relative correction, once below :math:`\sqrt u`, grows.

    The correction :math:`\|X_{k+1} - X_k\|_F/\|X_{k+1}\|_F` measures :math:`X_k` by its
    successor, so :meth:`judge` computes the step and :meth:`advance` takes it; the best iterate
    is the successor of the smallest correction.
    """

    def __init__(self, a: Tensor, x: Tensor, tol: float | None) -> None:
        super().__init__(a, x, tol)
        self.floor_check = math.sqrt(torch.finfo(a.dtype).eps)
        self.following = x

    def judge(self, residual: Tensor, norms: Tensor) -> str | None:
        """Keep the successor if its correction is the smallest; the reason to stop, or ``None``."""
        self.following = self.x + self.x @ residual
        self.products += 1
        correction = torch.linalg.matrix_norm(self.following - self.x)
        measure = (correction / torch.linalg.matrix_norm(self.following)).max().item()
        floor_reached = self.best_measure <= self.floor_check and not measure < self.best_measure
        if measure < self.best_measure:
            self.best, self.best_measure, self.best_norms = self.following, measure, norms
        if floor_reached:
            return f"correction stopped decreasing at {self.best_measure:.2g} (rounding floor)"
        return None

    def advance(self, residual: Tensor) -> Tensor:
        """The successor :meth:`judge` computed."""
        return self.following


def _checked_start(a: Tensor, start: object, *, pseudo: bool, scaled: bool) -> Tensor:
    """``start`` as a tensor like ``a``, checked without a product: its type, values and shape."""
    if pseudo or scaled:
        raise ValueError(
            "start= works for the inverse with plain steps: not with pseudo=True or scaled=True."
        )
    x0 = as_float_tensor(start, name="start").to(dtype=a.dtype, device=a.device)
    if x0.shape != a.mT.shape:
        raise ValueError(
            f"start must have the shape of A's inverse, {tuple(a.mT.shape)}; got {tuple(x0.shape)}."
        )
    return x0


def _require_convergent_start(a: Tensor, x0: Tensor) -> None:
    r"""Raise unless Newton–Schulz is sure to converge from ``x0``: :math:`\|I - AX_0\|_F < 1`."""
    distance = torch.linalg.matrix_norm(identity_residual(a, x0)).max().item()
    if not distance < 1:
        raise ValueError(
            f"start is too far from the inverse: ‖I - AX₀‖_F = {distance:.3g}, and Newton–Schulz is "
            "sure to converge only below 1. Pass a closer start, or none (the default start always "
            "converges)."
        )


class _StepScaling:
    r"""The step scaling of ``inverse(method="newton-schulz", scaled=True)``: :math:`X \leftarrow \alpha X(2I - \alpha AX)`.

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

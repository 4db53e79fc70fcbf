r"""Brockett's cost maximised by Riemannian gradient ascent: ``svd(method="brockett")``.

Maximise :math:`\operatorname{tr}(U^\top A V N)`, :math:`N = \operatorname{diag}(\mu_1 > \dots >
\mu_k > 0)`, over :math:`U, V` with orthonormal columns. For distinct singular values the
maximum is attained exactly at the top-:math:`k` singular vectors, in order (von Neumann's
trace inequality). The ascent is heavy-ball gradient ascent on the Stiefel manifolds
(:class:`~gdtutor.decomposition.StiefelSGD`), started by orthogonal iteration and closed by
exact 2×2 rotations (:func:`pair_sweeps`).

References
----------
R. W. Brockett (1991). Dynamical systems that sort lists, diagonalize matrices, and solve linear
programming problems. *Linear Algebra and its Applications* 146, 79–91.
doi:10.1016/0024-3795(91)90021-N

J. von Neumann (1937). Some matrix-inequalities and metrization of matric-space. *Tomsk
University Review* 1, 286–300 (the trace inequality).

P.-A. Absil, R. Mahony and R. Sepulchre (2008). *Optimization Algorithms on Matrix Manifolds*.
Princeton University Press.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdtutor import seeds
from gdtutor._validation import check_callback, check_count, check_flag, check_fraction, check_seed
from gdtutor.decomposition._common import (
    Callback,
    SVDResult,
    _result,
    orthonormal_factor,
    sign_convention,
)
from gdtutor.decomposition.stiefel import StiefelSGD
from gdtutor.descent import descend
from gdtutor.matrices import SEED_2020
from gdtutor.metrics import svd_relative_residual

_PATIENCE = 50  # steps without progress that mark the rounding floor (momentum makes it oscillate)
_PAIR_SWEEPS = 4  # closing sweeps of exact rotations on neighbouring pairs (see pair_sweeps)
_ESTIMATE_ITERATIONS = 20  # power iterations of largest_singular_value_estimate


def largest_singular_value_estimate(a: Tensor, iterations: int = 20) -> Tensor:
    r"""Estimate :math:`\sigma_1` by power iteration on :math:`A^\top A` (batched; GEMMs only).

    The estimate never exceeds :math:`\sigma_1` and approaches it at the rate
    :math:`(\sigma_2/\sigma_1)^{2t}`.
    """
    v = torch.ones(*a.shape[:-2], a.shape[-1], 1, dtype=a.dtype, device=a.device)
    for _ in range(iterations):
        v = a.mT @ (a @ v)
        v = v / torch.linalg.vector_norm(v, dim=-2, keepdim=True).clamp_min(
            torch.finfo(a.dtype).tiny
        )
    return torch.linalg.vector_norm(a @ v, dim=(-2, -1))


def _brockett(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 5000,
    momentum: float = 0.98,
    warm_start: int = 100,
    seed: int = SEED_2020,
    progress: bool = False,
    callback: Callback | None = None,
) -> SVDResult:
    r"""Riemannian gradient ascent on Brockett's cost, :math:`\operatorname{tr}(U^\top A V N)`.

    Without ``tol``, runs to the rounding floor: the norm of the Riemannian gradient of the cost
    divided by the estimated :math:`\sigma_1`, once below :math:`10^3 u`, has not decreased for
    50 steps (or, once below :math:`\sqrt u`, for 500).

    Parameters
    ----------
    max_steps
        The step budget of the ascent.
    momentum
        Heavy-ball momentum. Heavy-ball theory gives :math:`((\sqrt Q - 1)/(\sqrt Q + 1))^2` for
        a condition number :math:`Q`; here :math:`Q` is about
        :math:`\sigma_1\mu_1 / ((\sigma_i - \sigma_{i+1})(\mu_i - \mu_{i+1}))`, some
        :math:`10^3` to :math:`10^4` for close singular values, hence 0.98.
    warm_start
        Steps of orthogonal iteration (:math:`U \leftarrow \operatorname{qf}(AV)`,
        :math:`V \leftarrow \operatorname{qf}(A^\top U)`) before the ascent. They align the
        subspaces at rates set by the ratios :math:`(\sigma_{i+1}/\sigma_i)^2` a step, fast on graded
        spectra, where the ascent, limited by the absolute gaps :math:`\sigma_i - \sigma_{i+1}`,
        is slow; the ascent then separates close values. 0 gives pure gradient ascent.
    seed
        Seed of the random start.
    progress
        Show a progress bar (needs ``tqdm``).
    callback
        Called at every iterate as ``callback(evaluations, S, V)`` with
        :math:`S = \operatorname{diag}(U^\top A V)`.
    """
    check_count("max_steps", max_steps)
    check_fraction("momentum", momentum)
    check_count("warm_start", warm_start)
    check_seed(seed)
    check_flag("progress", progress)
    check_callback(callback)
    m, n = a.shape[-2:]
    k = min(m, n) if k is None else k
    u, v = _warm_started(a, k, seed, warm_start)
    products = 2 * warm_start + 2 * _ESTIMATE_ITERATIONS + 1
    weights = torch.linspace(1.0, 1.0 / k, k, dtype=a.dtype, device=a.device)
    sigma = largest_singular_value_estimate(a, _ESTIMATE_ITERATIONS)
    if not sigma.any():  # zero matrices: every orthonormal pair is a singular basis
        u, s, vh, finish_products = _finish(a, u, v)
        return _result(
            a,
            u,
            s,
            vh,
            method="brockett",
            tol=tol,
            losses=torch.zeros(1, dtype=torch.float64),
            steps=0,
            products=products + finish_products,
            converged=True,
            reason="A is zero",
        )
    ascent = _Ascent(a, u, v, weights, sigma, momentum, tol, callback, products)
    run = descend(
        ascent.loss,
        [u, v],
        ascent.optimizer,
        max_steps=max_steps,
        stop=ascent.stop,
        progress=progress,
    )
    u, v = pair_sweeps(a, u.detach(), v.detach())
    sweep_products = _PAIR_SWEEPS * (2 if k > 2 else 1) if k > 1 else 0
    u, s, vh, finish_products = _finish(a, u, v)
    return _result(
        a,
        u,
        s,
        vh,
        method="brockett",
        tol=tol,
        losses=run.losses,
        steps=run.steps,
        products=products
        + run.evaluations
        + run.gradients
        + 2 * ascent.checks
        + sweep_products
        + finish_products,
        converged=run.converged,
        reason=run.reason,
    )


def _warm_started(a: Tensor, k: int, seed: int, steps: int) -> tuple[Tensor, Tensor]:
    r"""A random orthonormal start, then ``steps`` of orthogonal iteration.

    They align the subspaces at rates :math:`(\sigma_{i+1}/\sigma_i)^2` a step.
    """
    m, n = a.shape[-2:]
    batch = a.shape[:-2]
    generator = seeds.generator(seed)
    u = orthonormal_factor(
        torch.randn(*batch, m, k, generator=generator, dtype=a.dtype).to(a.device)
    )
    v = orthonormal_factor(
        torch.randn(*batch, n, k, generator=generator, dtype=a.dtype).to(a.device)
    )
    for _ in range(steps):
        u = orthonormal_factor(a @ v)
        v = orthonormal_factor(a.mT @ u)
    return u, v


class _Ascent:
    r"""The loss, the optimizer and the stopping rule of the ascent, with what they count.

    Each matrix's cost is divided by its own :math:`\sigma_1` (1 for a zero matrix, whose
    gradient vanishes): with lr = 1 every matrix of a batch then steps by :math:`1/\sigma_1` of
    its own, and the stopping rule works on a scale-free gradient. Without ``tol``, the run
    stops once the gradient norm, below :math:`10^3 u`, has not decreased for 50 steps (or,
    below :math:`\sqrt u`, for 500).
    """

    def __init__(
        self,
        a: Tensor,
        u: Tensor,
        v: Tensor,
        weights: Tensor,
        sigma: Tensor,
        momentum: float,
        tol: float | None,
        callback: Callback | None,
        products: int,
    ) -> None:
        self.a, self.u, self.v, self.weights = a, u, v, weights
        self.scale = torch.where(sigma > 0, 1 / sigma, torch.ones_like(sigma)).unsqueeze(-1)
        self.optimizer = StiefelSGD([u, v], lr=1.0, momentum=momentum)
        self.tol, self.callback, self.products = tol, callback, products
        eps = torch.finfo(a.dtype).eps
        self.floor, self.stall = 1e3 * eps, math.sqrt(eps)  # scale-free gradient norms
        self.best_norm, self.since_best, self.checks, self.evaluated = math.inf, 0, 0, 0
        self.diagonal = torch.zeros(0)  # diag(UᵀAV) at the latest evaluation, for the tol test

    def loss(self) -> Tensor:
        """Minus Brockett's cost, each matrix's divided by its σ₁."""
        self.evaluated += 1
        values = (self.u * (self.a @ self.v)).sum(dim=-2)
        self.diagonal = values.detach()
        return -(values * self.weights * self.scale).sum()

    def stop(self) -> str | None:
        """Why to stop now, or ``None``."""
        why = self._at_floor() if self.tol is None else self._within_tol()
        if self.callback is not None:  # AV per evaluation, AᵀU per gradient (one fewer so far)
            evaluations = self.products + 2 * self.evaluated - 1 + 2 * self.checks
            self.callback(evaluations, self.diagonal, self.v.detach())
        return why

    def _at_floor(self) -> str | None:
        norm = self.optimizer.tangent_norm
        if norm < 0.999 * self.best_norm:
            self.best_norm, self.since_best = norm, 0
            return None
        self.since_best += 1
        if self.best_norm <= self.floor and self.since_best >= _PATIENCE:
            return (
                f"Riemannian gradient stopped decreasing at {self.best_norm:.2g} (rounding floor)"
            )
        if self.best_norm <= self.stall and self.since_best >= 10 * _PATIENCE:
            return f"Riemannian gradient stalled at {self.best_norm:.2g}"
        return None

    def _within_tol(self) -> str | None:
        self.checks += 1
        with torch.no_grad():
            residual = svd_relative_residual(self.a, self.u, self.diagonal, self.v.mT)
        worst = residual.max().item()
        return f"relative residual {worst:.3g} <= tol {self.tol:.3g}" if worst <= self.tol else None


def _rotation(angle: Tensor) -> Tensor:
    """2×2 rotation matrices [[cos, -sin], [sin, cos]], batched over ``angle``'s shape."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def pair_sweeps(
    a: Tensor, u: Tensor, v: Tensor, sweeps: int = _PAIR_SWEEPS
) -> tuple[Tensor, Tensor]:
    r"""Exact block-coordinate steps of Brockett's cost on pairs of neighbouring columns.

    In the plane of columns :math:`i, i+1` of :math:`U` and :math:`V`, the best rotation is
    given by the SVD of the 2×2 block of :math:`B = U^\top A V`, in closed form: with
    :math:`E, F = (b_{11} \pm b_{22})/2`, :math:`G, H = (b_{21} \pm b_{12})/2`, the block is
    :math:`R(\varphi)\,\mathrm{diag}(\sqrt{E^2 + H^2} \pm \sqrt{F^2 + G^2})\,R(\theta)` with
    :math:`\theta, \varphi = (\operatorname{atan2}(H, E) \mp \operatorname{atan2}(G, F))/2`.
    Gradient steps separate two singular values at a rate set by their gap, so a nearly repeated
    pair can stay mixed for thousands of steps; one such rotation separates it exactly. Sweeps
    alternate even and odd pairs, all pairs of a sweep at once. On a converged, well-separated
    pair the block is already diagonal and the rotation is zero.
    """
    k = u.shape[-1]
    for _ in range(sweeps if k > 1 else 0):
        for first in (0, 1) if k > 2 else (0,):
            left = torch.arange(first, k - 1, 2, device=a.device)
            right = left + 1
            b = u.mT @ a @ v
            b11, b12 = b[..., left, left], b[..., left, right]
            b21, b22 = b[..., right, left], b[..., right, right]
            e, f, g, h = (b11 + b22) / 2, (b11 - b22) / 2, (b21 + b12) / 2, (b21 - b12) / 2
            angle_f, angle_e = torch.atan2(g, f), torch.atan2(h, e)
            theta, phi = (angle_e - angle_f) / 2, (angle_e + angle_f) / 2
            pairs = torch.stack([left, right], dim=-1)  # (p, 2)
            u_pairs = u[..., pairs].transpose(-3, -2)  # (..., p, m, 2)
            v_pairs = v[..., pairs].transpose(-3, -2)
            u_new = (u_pairs @ _rotation(phi)).transpose(-3, -2)  # (..., m, p, 2)
            v_new = (v_pairs @ _rotation(theta).mT).transpose(-3, -2)
            u, v = u.clone(), v.clone()
            u[..., pairs] = u_new
            v[..., pairs] = v_new
    return u, v


def _finish(a: Tensor, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """Read off S = diag(UᵀAV), make it non-negative (flipping V), sort, and fix the signs.

    Returns ``U, S, Vh`` and the products with A it took (one).
    """
    s = torch.diagonal(u.mT @ a @ v, dim1=-2, dim2=-1)
    # On square matrices U and V cannot change their determinants' signs along the retraction;
    # the best reachable point may then hold -σ_n: flip that column of V.
    v = v * torch.where(s < 0, -1.0, 1.0).unsqueeze(-2).to(v.dtype)
    s = s.abs()
    s, order = torch.sort(s, dim=-1, descending=True)
    u = u.gather(-1, order.unsqueeze(-2).expand_as(u))
    v = v.gather(-1, order.unsqueeze(-2).expand_as(v))
    u, vh = sign_convention(u, v.mT)
    return u, s, vh, 1

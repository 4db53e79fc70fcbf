r"""The 2020 blog series' penalty scheme: ``svd(method="2020")`` and ``svd(method="2020-adam")``.

:math:`S = \operatorname{diag}(d^2)`, loss :math:`\mathrm{MSE}(U S V^\top, A) +
\mathrm{MSE}(U^\top U, I)/100 + \mathrm{MSE}(V V^\top, I)/100`, minimised by heavy-ball SGD
(step 0.9, momentum 0.9) or, in the addendum, by Adam; both share one batched kernel.

References
----------
H. F. Wittmann (2020). Matrix operations with pytorch -- optimizer, parts 1--3. Blog series and
notebooks, https://github.com/hfwittmann/matrix-operations-with-pytorch

D. P. Kingma and J. Ba (2015). Adam: a method for stochastic optimization. *ICLR*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from gdtutor._tensors import identity_like
from gdtutor._validation import (
    as_float_tensor,
    check_count,
    check_flag,
    check_nonnegative,
    check_positive,
    check_seed,
)
from gdtutor.decomposition._common import SVDResult, _result
from gdtutor.descent import DivergenceError, _progress_bar, how_the_loss_diverged
from gdtutor.matrices import LR_2020, MOMENTUM_2020, SEED_2020
from gdtutor.metrics import svd_relative_residual

# The 2020 penalty's products of A's size per evaluation: U S Vᵀ, UᵀU, VVᵀ; its gradient four more.
_PENALTY_PRODUCTS, _PENALTY_GRADIENT_PRODUCTS = 3, 4
_ADAM_LR, _ADAM_BETAS, _ADAM_EPS = 1e-3, (0.9, 0.999), 1e-8  # the addendum's Adam, torch's defaults


def penalty_loss_2020(a: Tensor, u: Tensor, d: Tensor, v: Tensor) -> Tensor:
    r"""The 2020 scheme's loss, per matrix of a batch, differentiable by autograd.

    .. math:: \mathrm{MSE}(U \operatorname{diag}(d^2) V^\top, A) + \tfrac{1}{100}\,\mathrm{MSE}(U^\top U, I)
        + \tfrac{1}{100}\,\mathrm{MSE}(V V^\top, I)

    with :math:`U` of shape ``(..., m, n)``, :math:`d` ``(..., n)`` and :math:`V` ``(..., n, n)``.
    :func:`svd_2020` minimises it with its gradient written out.
    """
    eye = identity_like(u, u.shape[-1])
    fit = ((u * d.square().unsqueeze(-2)) @ v.mT - a).square().mean(dim=(-2, -1))
    return (
        fit
        + (u.mT @ u - eye).square().mean(dim=(-2, -1)) / 100
        + (v @ v.mT - eye).square().mean(dim=(-2, -1)) / 100
    )


def svd_2020(
    matrices: Sequence[object],
    *,
    optimizer: Literal["sgd", "adam"] | Sequence[Literal["sgd", "adam"]] = "sgd",
    tol: float | None = None,
    max_steps: int = 20_000,
    seed: int = SEED_2020,
    weight_decay: float | Sequence[float] | None = None,
    progress: bool = False,
) -> list[SVDResult]:
    r"""The 2020 penalty scheme on several matrices of any shapes, in one batched run.

    Each matrix and its factors are zero-padded to the largest shape, so each follows the
    trajectory it would follow alone: the updates act entry by entry, padded entries get zero
    gradients and stay zero, and each loss is averaged over its own entries. One run of batched
    operations costs about as much as a single small problem, where separate runs would each pay
    PyTorch's per-operation overhead; so each matrix may even have its own optimizer.

    For the same reason the loop is written out: the gradient of
    :func:`penalty_loss_2020` (four products of the factors' size and an elementwise diagonal)
    and the updates of :class:`torch.optim.SGD` and :class:`torch.optim.Adam`, whose
    bookkeeping (autograd's graph, the optimizers' hooks) would cost several times these tiny
    products. Tests check the trajectories against autograd with the torch optimizers.

    Parameters
    ----------
    matrices
        Matrices of shapes :math:`m_i \times n_i`, converted as by :func:`svd` (float32 or float64,
        all the same dtype).
    optimizer
        ``"sgd"``: heavy-ball, step 0.9 and momentum 0.9, the 2020 post; ``"adam"``: Adam with
        learning rate 1e-3, its addendum. One for all matrices, or one per matrix.
    tol
        Stop once every matrix's relative residual of the triplets
        (:func:`~gdtutor.metrics.svd_relative_residual`, with :math:`\sigma_i = d_i^2`) is at
        most ``tol``, as in :func:`svd`.
    max_steps
        Step budget (20,000 in 2020).
    seed
        Seed of each matrix's start :math:`U, d, V` (uniform, drawn in that order).
    weight_decay
        Adam's weight decay :math:`\lambda` (added to the gradient as :math:`\lambda\theta`, as
        torch's Adam does), one for all or one per matrix: ``None`` for the addendum's 1e-5 on
        the Adam matrices. SGD had none.
    progress
        Show a progress bar (needs ``tqdm``).

    Returns
    -------
    list[SVDResult]
        One result per matrix; ``losses`` is that matrix's own loss history, ``evaluations`` the
        work of the whole batched run.

    Raises
    ------
    gdtutor.descent.DivergenceError
        When the total loss becomes NaN/Inf or grows a millionfold: the fixed steps are too long
        for these matrices.
    """
    tol = check_positive("tol", tol, optional=True)
    max_steps = check_count("max_steps", max_steps)
    seed = check_seed(seed)
    progress = check_flag("progress", progress)
    tensors, optimizers, decay = _checked_matrices(matrices, optimizer, weight_decay)
    run = _PenaltyRun(tensors, optimizers, decay, seed)
    history: list[Tensor] = []
    checks = 0
    bar = _progress_bar(max_steps) if progress else None
    converged, reason, steps = False, f"reached max_steps={max_steps}", max_steps
    with torch.inference_mode():  # no autograd bookkeeping: a tenth or more of each step
        for step in range(max_steps + 1):
            losses = run.losses()
            history.append(losses)
            run.check_divergence(losses.sum().item(), step)
            if tol is not None:
                checks += 1
                worst = svd_relative_residual(run.a, run.u, run.d.square(), run.v.mT).max().item()
                if worst <= tol:
                    converged, steps = True, step
                    reason = f"relative residual {worst:.3g} <= tol {tol:.3g}"
                    break
            if step == max_steps:
                break
            run.step(step)
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    products = _PENALTY_PRODUCTS * (steps + 1) + _PENALTY_GRADIENT_PRODUCTS * steps + 2 * checks
    histories = torch.stack(history).to(device="cpu", dtype=torch.float64)
    return [
        _result(
            t,
            *run.triplets(i),
            method="2020" if optimizers[i] == "sgd" else "2020-adam",
            tol=tol,
            losses=histories[:, i],
            steps=steps,
            products=products,
            converged=converged,
            reason=reason,
        )
        for i, t in enumerate(tensors)
    ]


def _checked_matrices(
    matrices: Sequence[object],
    optimizer: Literal["sgd", "adam"] | Sequence[Literal["sgd", "adam"]],
    weight_decay: float | Sequence[float] | None,
) -> tuple[list[Tensor], list[str], Tensor]:
    """The matrices as tensors, each one's optimizer, and each one's weight decay."""
    tensors = [as_float_tensor(x, name=f"matrices[{i}]") for i, x in enumerate(matrices)]
    if not tensors:
        raise ValueError("matrices is empty; give at least one matrix.")
    if any(t.ndim != 2 for t in tensors):
        raise ValueError(
            "each of matrices must be a single matrix (2 dimensions); pass a batch to svd()."
        )
    count = len(tensors)
    optimizers = [optimizer] * count if isinstance(optimizer, str) else list(optimizer)
    if len(optimizers) != count or any(name not in ("sgd", "adam") for name in optimizers):
        raise ValueError(
            f"optimizer must be 'sgd' or 'adam', or one of them per matrix ({count}); got {optimizer!r}."
        )
    dtype, device = tensors[0].dtype, tensors[0].device
    if any(t.dtype != dtype for t in tensors):
        raise TypeError("matrices must share one dtype; convert them first, e.g. with .double().")
    decay = torch.as_tensor(
        [1e-5 if name == "adam" else 0.0 for name in optimizers]
        if weight_decay is None
        else weight_decay,
        dtype=dtype,
    ).to(device)
    if decay.ndim > 1 or decay.numel() not in (1, count) or not (decay >= 0).all():
        raise ValueError(
            f"weight_decay must be a non-negative number or one per matrix ({count}); got {weight_decay!r}."
        )
    decay = decay.expand(count)
    adam = torch.tensor([name == "adam" for name in optimizers], device=device)
    if (decay[~adam] != 0).any():
        raise ValueError("weight_decay is for optimizer='adam'; the 2020 post's SGD had none.")
    return tensors, optimizers, decay


class _PenaltyRun:
    """The matrices and factors of a batched run, zero-padded, and its loss, gradient and step.

    :math:`U, d, V` and their gradients are views into flat tensors, which the updates step at
    once; each flat entry knows its matrix's optimizer and weight decay.
    """

    def __init__(
        self, tensors: list[Tensor], optimizers: list[str], decay: Tensor, seed: int
    ) -> None:
        count, dtype, device = len(tensors), tensors[0].dtype, tensors[0].device
        rows = max(t.shape[0] for t in tensors)
        cols = max(t.shape[1] for t in tensors)
        self.a = torch.zeros(count, rows, cols, dtype=dtype, device=device)
        shapes = [(count, rows, cols), (count, cols), (count, cols, cols)]
        sizes = [math.prod(shape) for shape in shapes]
        self.flat, self.flat_gradient = torch.zeros(2, sum(sizes), dtype=dtype, device=device)
        self.u, self.d, self.v = (
            x.view(shape) for x, shape in zip(self.flat.split(sizes), shapes, strict=True)
        )
        self.grad_u, self.grad_d, self.grad_v = (
            x.view(shape) for x, shape in zip(self.flat_gradient.split(sizes), shapes, strict=True)
        )
        self.eye = torch.zeros(count, cols, cols, dtype=dtype, device=device)
        for i, t in enumerate(tensors):
            m, n = t.shape
            generator = torch.Generator().manual_seed(seed)  # the 2020 start: never shifted
            self.a[i, :m, :n] = t
            self.u[i, :m, :n] = torch.rand(m, n, generator=generator)
            self.d[i, :n] = torch.rand(n, generator=generator)
            self.v[i, :n, :n] = torch.rand(n, n, generator=generator)
            self.eye[i, :n, :n] = torch.eye(n, dtype=dtype, device=device)  # its own identity
        # per matrix: 1/(m n) for the fit, 1/(100 n²) for each orthogonality penalty
        fit = torch.tensor([1 / (t.shape[0] * t.shape[1]) for t in tensors], dtype=dtype)
        penalty = torch.tensor([1 / (100 * t.shape[1] ** 2) for t in tensors], dtype=dtype)
        self.fit, self.penalty = fit.to(device), penalty.to(device)
        self.fit_2, self.penalty_4 = 2 * self.fit[:, None, None], 4 * self.penalty[:, None, None]
        self.fit_4 = 4 * self.fit[:, None]
        owner = torch.cat(
            [torch.arange(count, device=device).repeat_interleave(size // count) for size in sizes]
        )
        adam = torch.tensor([name == "adam" for name in optimizers], device=device)
        self.uses_adam, self.entry_decay = adam[owner], decay[owner]
        self.momentum, self.first, self.second = torch.zeros(
            3, sum(sizes), dtype=dtype, device=device
        )
        self.tensors = tensors
        self.initial = self.limit = math.nan

    def losses(self) -> Tensor:
        """Each matrix's loss; keeps E = U S Vᵀ - A, F = UᵀU - I, G = VVᵀ - I for the gradient."""
        self.s = self.d.square().unsqueeze(-2)
        self.us = self.u * self.s
        self.e = self.us @ self.v.mT - self.a
        self.f, self.g = self.u.mT @ self.u - self.eye, self.v @ self.v.mT - self.eye
        squares = [
            torch.linalg.vector_norm(x, dim=(-2, -1)).square() for x in (self.e, self.f, self.g)
        ]
        return self.fit * squares[0] + self.penalty * (squares[1] + squares[2])

    def check_divergence(self, total: float, step: int) -> None:
        """A clear error once the total loss is NaN/Inf or a millionfold its start."""
        if step == 0:
            self.initial = total
            self.limit = 1e6 * max(total, torch.finfo(torch.float64).tiny)
        if not total <= self.limit:  # also true for NaN
            raise DivergenceError(
                f"the loss {how_the_loss_diverged(total, self.initial)} at step {step}: "
                "the fixed steps of the 2020 scheme are too long for these matrices.",
                step=step,
                loss=total,
                safe_lr=None,
            )

    def step(self, step: int) -> None:
        """The gradient, then torch.optim.SGD's or torch.optim.Adam's update, per entry."""
        # d/dU = 2 E V S/(mn) + 4 U F/(100 n²), d/dV = 2 Eᵀ U S/(mn) + 4 G V/(100 n²),
        # d/dd = 4 d ⊙ diag(Uᵀ E V)/(mn), plus λθ for Adam's weight decay
        ev = self.e @ self.v
        torch.addcmul(self.penalty_4 * (self.u @ self.f), self.fit_2 * ev, self.s, out=self.grad_u)
        torch.addcmul(
            self.penalty_4 * (self.g @ self.v), self.fit_2, self.e.mT @ self.us, out=self.grad_v
        )
        torch.mul(self.fit_4 * self.d, (self.u * ev).sum(dim=-2), out=self.grad_d)
        gradient = self.flat_gradient
        gradient.addcmul_(self.entry_decay, self.flat)
        # heavy ball (M ← μM + ∇, θ ← θ - ηM) and Adam
        self.momentum.mul_(MOMENTUM_2020).add_(gradient)
        self.first.lerp_(gradient, 1 - _ADAM_BETAS[0])
        self.second.mul_(_ADAM_BETAS[1]).addcmul_(gradient, gradient, value=1 - _ADAM_BETAS[1])
        correction_1, correction_2 = (
            1 - _ADAM_BETAS[0] ** (step + 1),
            1 - _ADAM_BETAS[1] ** (step + 1),
        )
        adam_step = (
            self.first
            / (self.second.sqrt() / math.sqrt(correction_2) + _ADAM_EPS)
            * (_ADAM_LR / correction_1)
        )
        self.flat.sub_(torch.where(self.uses_adam, adam_step, LR_2020 * self.momentum))

    def triplets(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        """Matrix ``i``'s factors, sorted by :math:`d_j^2` (signs left as they are)."""
        m, n = self.tensors[i].shape
        s, order = torch.sort(self.d[i, :n].square(), descending=True)
        return self.u[i, :m, :n][:, order], s, self.v[i, :n, :n][:, order].mT


def _penalty_scheme(
    a: Tensor,
    k: int | None,
    optimizer: Literal["sgd", "adam"],
    *,
    tol: float | None,
    max_steps: int,
    seed: int,
    progress: bool,
    weight_decay: float | None = None,
) -> SVDResult:
    """:func:`svd_2020` on a batch of one shape, reassembled into one result."""
    m, n = a.shape[-2:]
    if k is not None:
        raise ValueError(
            "the 2020 schemes compute the thin SVD only; leave k=None or use method='brockett'."
        )
    batch = a.shape[:-2]
    results = svd_2020(
        list(a.reshape(-1, m, n)),
        optimizer=optimizer,
        tol=tol,
        max_steps=max_steps,
        seed=seed,
        weight_decay=weight_decay,
        progress=progress,
    )
    first = results[0]
    return SVDResult(
        U=torch.stack([r.U for r in results]).reshape(*batch, m, n),
        S=torch.stack([r.S for r in results]).reshape(*batch, n),
        Vh=torch.stack([r.Vh for r in results]).reshape(*batch, n, n),
        method=first.method,
        losses=torch.stack([r.losses for r in results]).sum(dim=0),
        steps=first.steps,
        evaluations=first.evaluations - 2 + 2 * len(results),  # one final residual per matrix
        converged=first.converged,
        reason=first.reason,
        residual=torch.stack([r.residual for r in results]).reshape(batch),
        converged_each=torch.stack([r.converged_each for r in results]).reshape(batch),
    )


def _scheme_2020(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 20_000,
    seed: int = SEED_2020,
    progress: bool = False,
) -> SVDResult:
    r"""The 2020 penalty scheme with heavy-ball SGD (step 0.9, momentum 0.9); see :func:`svd_2020`.

    :math:`S = \operatorname{diag}(d^2)`, loss :math:`\mathrm{MSE}(U S V^\top, A) +
    \mathrm{MSE}(U^\top U, I)/100 + \mathrm{MSE}(V V^\top, I)/100`, from :math:`U, d, V` uniform
    random; afterwards sorted, signs left as they are. The thin SVD only (``k=None``).

    Parameters
    ----------
    max_steps
        The step budget (20,000 in 2020).
    seed
        The seed of the uniform random start (314 in 2020).
    progress
        Show a progress bar (needs ``tqdm``).
    """
    return _penalty_scheme(a, k, "sgd", tol=tol, max_steps=max_steps, seed=seed, progress=progress)


def _scheme_2020_adam(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 20_000,
    seed: int = SEED_2020,
    weight_decay: float = 1e-5,
    progress: bool = False,
) -> SVDResult:
    """The 2020 penalty scheme with :class:`torch.optim.Adam` (lr 1e-3, weight decay 1e-5), as in its addendum.

    Parameters
    ----------
    max_steps
        The step budget (20,000 in 2020).
    seed
        The seed of the uniform random start (314 in 2020).
    weight_decay
        Adam's weight decay (1e-5 in 2020); it biases the minimiser, 0 removes that bias.
    progress
        Show a progress bar (needs ``tqdm``).
    """
    check_nonnegative("weight_decay", weight_decay)
    return _penalty_scheme(
        a,
        k,
        "adam",
        tol=tol,
        max_steps=max_steps,
        seed=seed,
        progress=progress,
        weight_decay=weight_decay,
    )

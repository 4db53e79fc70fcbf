r"""LOBPCG on :math:`A^\top A`, closed by a Rayleigh–Ritz step on :math:`A`: ``svd(method="lobpcg")``.

Gradient ascent on the block Rayleigh quotient with the best step and momentum at every
iteration, at the textbook cost of one product with :math:`A` and one with :math:`A^\top` per
iteration, kept robust by the safeguards of Duersch et al. (2018).

References
----------
A. V. Knyazev (2001). Toward the optimal preconditioned eigensolver: locally optimal block
preconditioned conjugate gradient method. *SIAM J. Sci. Comput.* 23(2), 517–541.
doi:10.1137/S1064827500366124

U. Hetmaniuk and R. Lehoucq (2006). Basis selection in LOBPCG. *J. Comput. Phys.* 218(1),
324–332. doi:10.1016/j.jcp.2006.02.007

J. A. Duersch, M. Shao, C. Yang and M. Gu (2018). A robust and efficient implementation of
LOBPCG. *SIAM J. Sci. Comput.* 40(5), C655–C676. doi:10.1137/17M1129830

A. Stathopoulos and K. Wu (2002). A block orthogonalization procedure with constant
synchronization requirements. *SIAM J. Sci. Comput.* 23(6), 2165–2182 (SVQB).
doi:10.1137/S1064827500370883
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gdtutor import operators, seeds
from gdtutor._tensors import identity_like
from gdtutor._validation import (
    as_float_tensor,
    check_callback,
    check_count,
    check_flag,
    check_seed,
)
from gdtutor.decomposition._common import (
    Callback,
    SVDResult,
    _ResidualStopping,
    orthonormal_factor,
)
from gdtutor.matrices import SEED_2020


def _checked_start(a: Tensor, start: object) -> Tensor:
    """``start`` as right singular vectors for ``a``: ``(..., n, j)``, finite, in ``a``'s dtype."""
    vectors = as_float_tensor(start, name="start").to(dtype=a.dtype, device=a.device)
    n = a.shape[-1]
    if vectors.shape[:-2] != a.shape[:-2] or vectors.shape[-2] != n:
        raise ValueError(
            f"start must hold right singular vectors of A, shape (..., {n}, j) with A's batch "
            f"shape {tuple(a.shape[:-2])}; got {tuple(vectors.shape)}. Pass the last result's Vh.mT."
        )
    return vectors


def _lobpcg(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 500,
    guard: int | None = None,
    form_gram: bool = False,
    seed: int = SEED_2020,
    start: object | None = None,
    callback: Callback | None = None,
) -> SVDResult:
    r"""LOBPCG (Knyazev 2001) on :math:`A^\top A`, closed by a two-sided Rayleigh–Ritz step on :math:`A`.

    Gradient ascent on the block Rayleigh quotient of :math:`B = A^\top A` (of :math:`AA^\top`
    for wide :math:`A`) whose step and momentum are the best possible at every iteration: the
    next block is the top Ritz block of the span of :math:`[X, R, P]`, the current block, its
    residual :math:`R = BX - X\Theta` (the gradient) and the previous direction, found by a small
    symmetric eigenproblem. Working on :math:`B` squares the condition number, so the values and
    vectors are finally read off :math:`A` itself: :math:`AX = QH` (QR), then the SVD of the
    small :math:`H`.

    An iteration costs one product with :math:`A` and one with :math:`A^\top`, on the new
    directions :math:`R` only (Knyazev's textbook cost). The images :math:`BX` and :math:`BP`
    are carried through the Ritz coefficients, which are orthonormal and so do not amplify
    rounding: :math:`[X, P]` is kept orthonormal by choosing :math:`P` as the step's part
    outside span(:math:`X`), made orthonormal to the new :math:`X` in the small coefficient
    space (Duersch, Shao, Yang & Gu 2018; Hetmaniuk & Lehoucq 2006), with the coefficients on
    dropped (zero) directions cleared first; its orthonormality is measured every iteration
    (:math:`O(qb^2)`, no product) and, past :math:`10\,b\,u`, restored with fresh images. :math:`R` is
    orthonormalised against :math:`[X, P]` and within itself twice (SVQB; directions that
    rounding made dependent are dropped). Carried images drift by rounding; before the run
    stops on a residual computed from them, :math:`BX` is multiplied afresh, and if it had
    drifted beyond a fresh product's own rounding (:math:`10(b + \sqrt{p})\,u\,\sigma_1^2`
    per column, :math:`p` rows), every image is multiplied afresh at every iteration
    from then on (three blocks, as in the robust form).

    The residual of the first ``k`` Ritz triplets is tracked in the sense of
    :func:`~gdtutor.metrics.svd_relative_residual`: with :math:`u_i = Av_i/\sigma_i` it is
    :math:`\|BX_i - \theta_i X_i\| / (\sigma_i \sigma_1)` (with :math:`\sigma_i` at least
    :math:`\sqrt u\,\sigma_1`, below which :math:`B` cannot resolve it). A pair is at its
    rounding floor once :math:`\|BX_i - \theta_i X_i\| \le 10\,b\,u\,\sigma_1^2`; such a pair
    is locked (its residual, rounding noise, no longer enters the search space), a finished
    matrix of a batch stays as it is, and each matrix returns its iterate of smallest residual.
    Without ``tol`` a matrix stops once all its pairs are at the floor (or its residual, below
    :math:`\sqrt u`, stops halving for 20 iterations).

    Parameters
    ----------
    max_steps
        The iteration budget.
    guard
        Extra vectors in the block beyond ``k`` (by default :math:`\max(4, k/2)`): convergence of
        the :math:`k`-th pair then depends on :math:`\sigma_{b+1}/\sigma_k` for the block size
        :math:`b`, not on the gap right after :math:`\sigma_k`.
    form_gram
        Form :math:`B = A^\top A` (:math:`q \times q`, :math:`q = \min(m, n)`) once, for dense
        :math:`A` only, and multiply by it instead of by :math:`A` and :math:`A^\top`: as
        :func:`torch.lobpcg` is used on a formed :math:`A^\top A`. Forming costs as much as
        multiplying :math:`A` by :math:`q` vectors, so it pays when the iterations would multiply
        :math:`A` and :math:`A^\top` by more than :math:`q` vectors in all (a tall matrix, a flat
        spectrum). ``evaluations`` counts the forming as :math:`\lceil q/b\rceil` products and a
        product with :math:`B` as one (it costs at most one with :math:`A`). The final
        Rayleigh–Ritz step still uses :math:`A` itself.
    seed
        Seed of the random start (and of the columns ``start`` does not fill).
    start
        A warm start: right singular vectors of a nearby matrix, ``(..., n, j)`` (e.g. the last
        result's ``Vh.mT`` when :math:`A` drifts), taking the first ``j`` columns of the block.
        For wide :math:`A` the block lives in the other space and starts as :math:`AV`, one more
        product.
    callback
        Called at every iterate as ``callback(evaluations, S, V)``: the products so far and the
        current estimates of the top ``k`` singular values and right singular vectors (for wide
        :math:`A`, :math:`V = A^\top X/\sigma`, work that is not counted).
    """
    check_count("max_steps", max_steps)
    check_count("guard", guard, optional=True)
    check_flag("form_gram", form_gram)
    check_seed(seed)
    check_callback(callback)
    if form_gram and not isinstance(a, Tensor):
        raise ValueError(
            "form_gram=True needs a dense A; the Gram matrix of a sparse A or an operator "
            "would be dense (or fill in). Leave it False."
        )
    given = None if start is None else _checked_start(a, start)
    m, n = a.shape[-2:]
    k = min(m, n) if k is None else k
    size = min(m, n, k + (max(4, k // 2) if guard is None else guard))
    gram = _Gram(a if m >= n else a.mT, size, form_gram)  # B = gᵀg, the smaller Gram matrix
    x = _start_block(a, gram, size, seed, given)
    bx = gram(x)
    theta, ritz = _rayleigh_ritz(x, bx, size)
    x, bx = x @ ritz, bx @ ritz
    p = bp = None  # the previous direction and its image, orthonormal to x and carried
    history: list[float] = []
    stopping = _ResidualStopping(a.shape[:-2], tol, a.dtype)
    steps, finished, drift = max_steps, False, _Drift(gram, size)
    for step in range(max_steps + 1):
        sigma = theta.clamp_min(0).sqrt()
        top = sigma[..., :1].clamp_min(torch.finfo(a.dtype).tiny)
        floor = 10 * size * torch.finfo(a.dtype).eps * top.square()
        r, residual_norms, triplets = _residuals(x, bx, theta, sigma, top)
        if drift.carried:  # check the carried images where this residual would stop the run
            each = triplets[..., :k].amax(dim=-1)
            stopping_now = stopping.would_stop(each, (residual_norms <= floor)[..., :k].all(dim=-1))
            if drift.explicit or bool(stopping_now.any()):
                bx, bp = drift.refresh(x, bx, p, bp, top)
                r, residual_norms, triplets = _residuals(x, bx, theta, sigma, top)
        at_floor = residual_norms <= floor
        each = triplets[..., :k].amax(dim=-1)
        done = stopping.update(each, at_floor[..., :k].all(dim=-1), (x,))
        history.append(each.max().item())
        if callback is not None:
            _report(callback, a, x, sigma, k, gram.products)
        finished = bool(done.all())
        if finished or step == max_steps:
            steps = step
            break
        search = _search_directions(r, triplets, at_floor, done, tol)
        if search is None:  # every pair locked at its floor or within tol: nothing to search
            steps, finished = step, True
            break
        x, p, bx, bp, theta = _step(x, p, bx, bp, search, gram, size)
        drift.carried = True
        x, p, bx, bp = _restore_orthonormality(x, p, bx, bp, gram, drift)
    u, s, v = _closing_rayleigh_ritz(a, gram, stopping.best_state[0], k)
    return stopping.result(
        a,
        u,
        s,
        v,
        method="lobpcg",
        history=history,
        steps=steps,
        products=gram.products,
        finished=finished,
        max_steps=max_steps,
    )


class _Gram:
    r"""Products with :math:`B = g^\top g`, counted in products with blocks of the block size."""

    def __init__(self, g: Tensor | operators.Products, size: int, form: bool) -> None:
        self.g, self.size, self.products = g, size, 0
        self.formed = None
        if form:  # Aᵀ times A's q columns
            q = g.shape[-1]
            self.formed, self.products = g.mT @ g, math.ceil(q / size)

    def __call__(self, v: Tensor) -> Tensor:
        blocks = math.ceil(v.shape[-1] / self.size)
        if self.formed is not None:
            self.products += blocks
            return self.formed @ v
        self.products += 2 * blocks
        return self.g.mT @ (self.g @ v)


def _start_block(
    a: Tensor | operators.Products, gram: _Gram, size: int, seed: int, given: Tensor | None
) -> Tensor:
    """The random start (the given vectors first), orthonormal, in the space of :math:`B`."""
    m, n = a.shape[-2:]
    generator = seeds.generator(seed)
    q = gram.g.shape[-1]
    block = torch.randn(*a.shape[:-2], q, size, generator=generator, dtype=a.dtype).to(a.device)
    if given is not None:
        given = given[..., :size]
        if m < n:  # the block lives in the other space: start from AV
            given = a @ given
            gram.products += 1
        block = torch.cat([given, block[..., given.shape[-1] :]], dim=-1)
    return orthonormal_factor(block)


def _residuals(
    x: Tensor, bx: Tensor, theta: Tensor, sigma: Tensor, top: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """R = BX - XΘ, its column norms, and the triplets' relative residuals."""
    r = bx - x * theta.unsqueeze(-2)
    residual_norms = torch.linalg.vector_norm(r, dim=-2)
    # ‖A v - σ u‖ = 0 for u = A v / σ, and ‖Aᵀu - σ v‖ = ‖R_i‖ / σ_i, over σ_1
    eps = torch.finfo(x.dtype).eps
    return r, residual_norms, residual_norms / (torch.maximum(sigma, top * math.sqrt(eps)) * top)


class _Drift:
    r"""Whether the images carried through the Ritz coefficients still match fresh products.

    Once a carried :math:`BX` had drifted beyond a fresh product's own rounding
    (:math:`10(b + \sqrt p)\,u\,\sigma_1^2` per column, :math:`p` rows), every image is multiplied
    afresh at every iteration (``explicit``).
    """

    def __init__(self, gram: _Gram, size: int) -> None:
        self.gram, self.size = gram, size
        self.carried, self.explicit = False, False

    def refresh(
        self, x: Tensor, bx: Tensor, p: Tensor | None, bp: Tensor | None, top: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Fresh images of X (and of P once explicit)."""
        fresh = self.gram(x)
        change = torch.linalg.vector_norm(fresh - bx, dim=-2) / top.square()
        # a fresh product's own rounding grows like √(rows)·u·σ₁²
        rows = self.gram.g.shape[-2]
        limit = 10 * (self.size + math.sqrt(rows)) * torch.finfo(x.dtype).eps
        self.explicit = self.explicit or bool((change > limit).any())
        if p is not None and self.explicit:
            bp = self.gram(p)
        self.carried = False
        return fresh, bp


def _report(
    callback: Callback,
    a: Tensor | operators.Products,
    x: Tensor,
    sigma: Tensor,
    k: int,
    products: int,
) -> None:
    """``callback(evaluations, S, V)`` with the current estimates (for wide A, V = AᵀX/σ)."""
    m, n = a.shape[-2:]
    right = x[..., :k] if m >= n else a.mT @ x[..., :k]
    tiny = torch.finfo(x.dtype).tiny
    callback(
        products,
        sigma[..., :k],
        right / torch.linalg.vector_norm(right, dim=-2, keepdim=True).clamp_min(tiny),
    )


def _search_directions(
    r: Tensor, triplets: Tensor, at_floor: Tensor, done: Tensor, tol: float | None
) -> Tensor | None:
    """The residual's columns still searched (soft locking), or ``None`` if there are none.

    A pair at its floor or well within tol, or any pair of a matrix that is done, adds no
    directions; columns locked in every matrix of a batch are dropped.
    """
    locked = at_floor | (triplets <= 0.1 * tol if tol is not None else at_floor)
    active = (~locked & ~done.unsqueeze(-1)).unsqueeze(-2)
    keep = active.reshape(-1, r.shape[-1]).any(dim=0)
    if not bool(keep.any()):
        return None
    return torch.where(active, r, torch.zeros_like(r))[..., keep]


def _step(
    x: Tensor,
    p: Tensor | None,
    bx: Tensor,
    bp: Tensor | None,
    search: Tensor,
    gram: _Gram,
    size: int,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One iteration: Rayleigh–Ritz on span[X, R, P], the new X and P, their images carried."""
    # The gradient, orthonormal to [X, P] and within itself (nearly in their span once nearly
    # converged: hence twice).
    known = x if p is None else torch.cat([x, p], dim=-1)
    search = _orthonormal_complement(search, known)
    basis = torch.cat([known, search], dim=-1)
    images = torch.cat([bx, gram(search)] if bp is None else [bx, bp, gram(search)], dim=-1)
    theta, ritz = _rayleigh_ritz(basis, images, size)
    # The new direction: the step's part outside span(X), made orthonormal to the new X in the
    # small coefficient space, so that [X, P] stays orthonormal with no product. Rows of dead
    # basis columns (dropped directions) are zeroed first: rounding-level coefficients on them,
    # amplified by the normalisation, would break [X, P]'s orthonormality.
    live = torch.linalg.vector_norm(basis, dim=-2, keepdim=True).mT > 0.5
    step_part = torch.cat([torch.zeros_like(ritz[..., :size, :]), ritz[..., size:, :]], dim=-2)
    step_part = torch.where(live, step_part, torch.zeros_like(step_part))
    step_part = _orthonormal_complement(step_part, ritz)  # the step's part may be small
    coefficients = torch.cat([ritz, step_part], dim=-1)
    new, new_images = basis @ coefficients, images @ coefficients
    return (
        new[..., :size],
        new[..., size:],
        new_images[..., :size],
        new_images[..., size:],
        theta,
    )


def _restore_orthonormality(
    x: Tensor, p: Tensor, bx: Tensor, bp: Tensor, gram: _Gram, drift: _Drift
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """[X, P] kept orthonormal: measured (O(q b²), no product); past 10·b·u, restored.

    Both are then multiplied afresh (Duersch et al.).
    """
    known = torch.cat([x, p], dim=-1)
    alive = torch.linalg.vector_norm(known, dim=-2) > 0.5
    pairs = alive.unsqueeze(-1) & alive.unsqueeze(-2)
    overlaps = known.mT @ known
    loss = torch.where(pairs, overlaps - identity_like(overlaps), 0.0)
    if loss.abs().amax() > 10 * x.shape[-1] * torch.finfo(x.dtype).eps:
        x = torch.linalg.qr(x).Q
        p = _orthonormal_complement(p, x)
        bx, bp, drift.carried = gram(x), gram(p), False
    return x, p, bx, bp


def _closing_rayleigh_ritz(
    a: Tensor | operators.Products, gram: _Gram, x: Tensor, k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The triplets read off :math:`A` itself: :math:`AX = QH` (QR), then the SVD of the small :math:`H`.

    ``x`` (each matrix's iterate with the smallest residual) is made orthonormal to working
    precision first: the Ritz steps lose a few units of rounding in orthogonality each.
    """
    m, n = a.shape[-2:]
    x = torch.linalg.qr(x).Q
    gx = gram.g @ x
    gram.products += 1
    q_factor, h = torch.linalg.qr(gx)
    u_small, s, vh_small = torch.linalg.svd(h)
    left, right = q_factor @ u_small[..., :k], x @ vh_small.mT[..., :k]
    u, v = (left, right) if m >= n else (right, left)
    return u, s[..., :k], v


def _orthonormalizer(basis: Tensor) -> Tensor:
    r"""A transform :math:`T` with :math:`S T` orthonormal and spanning span(``basis``) (SVQB).

    With :math:`D` the column norms and :math:`D^{-1} S^\top S D^{-1} = W \Lambda W^\top`,
    :math:`T = D^{-1} W \Lambda^{-1/2}`. Columns negligible against the largest (norm below
    :math:`u` times it, such as the empty columns of locked pairs) and directions with
    :math:`\lambda \le b\,u\,\lambda_\max`, dependent to rounding, become zero columns, which
    the Rayleigh–Ritz step ignores.
    """
    norms = torch.linalg.vector_norm(basis, dim=-2)
    negligible = norms <= torch.finfo(basis.dtype).eps * norms.amax(dim=-1, keepdim=True)
    inverse_norms = torch.where(negligible, torch.zeros_like(norms), norms.reciprocal())
    scaled = basis * inverse_norms.unsqueeze(-2)
    values, vectors = torch.linalg.eigh(scaled.mT @ scaled)
    cutoff = basis.shape[-1] * torch.finfo(basis.dtype).eps * values[..., -1:]
    inverse_roots = torch.where(
        values > cutoff, values.clamp_min(cutoff).rsqrt(), torch.zeros_like(values)
    )
    return inverse_norms.unsqueeze(-1) * vectors * inverse_roots.unsqueeze(-2)


def _orthonormal_complement(vectors: Tensor, basis: Tensor) -> Tensor:
    """``vectors`` made orthogonal to ``basis`` (orthonormal columns) and orthonormal (SVQB), twice.

    When ``vectors`` lie nearly in span(``basis``), one pass amplifies rounding by the inverse
    square root of the smallest direction kept; a second pass restores orthogonality to working
    precision ("twice is enough"). Dependent directions become zero columns.
    """
    for _ in range(2):
        vectors = vectors - basis @ (basis.mT @ vectors)
        vectors = vectors @ _orthonormalizer(vectors)
    return vectors


def _rayleigh_ritz(basis: Tensor, images: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """The top ``size`` Ritz pairs of B on span(``basis``) (orthonormal), given ``images`` = B·basis.

    Returns the Ritz values (descending) and the Ritz vectors' coefficients in ``basis``.
    """
    projected = basis.mT @ images
    values, vectors = torch.linalg.eigh(0.5 * (projected + projected.mT))
    return values[..., -size:].flip(-1), vectors[..., -size:].flip(-1)

r"""Part 3: the singular value decomposition :math:`A = U \operatorname{diag}(S) V^\top` by gradient methods.

:func:`svd` is the entry point, with a ``method=`` switch. Each method owns its options
(``gdtutor.show_options("svd")`` lists them); ``tol`` means the same for all of them: the relative
residual of the triplets, :func:`~gdtutor.metrics.svd_relative_residual`.

``"lobpcg"`` (default)
    LOBPCG (Knyazev 2001): gradient ascent on the block Rayleigh quotient of :math:`A^\top A` with
    the best step and momentum at every iteration, by a Rayleigh–Ritz step on the span of the
    block, its gradient and the previous direction; closed by a Rayleigh–Ritz step on :math:`A`
    itself (:func:`_lobpcg`). For the full thin SVD (``k=None``) the block spans the whole space
    and the first Rayleigh–Ritz step is the answer: a direct method, no iteration.
``"brockett"``
    Maximise Brockett's cost :math:`\operatorname{tr}(U^\top A V N)`, :math:`N = \operatorname{diag}(\mu_1 > \dots > \mu_k > 0)`,
    over matrices with orthonormal columns (Stiefel manifolds), by Riemannian gradient ascent with
    heavy-ball momentum and a QR retraction (:class:`StiefelSGD`). For distinct singular values,
    by von Neumann's trace inequality, the maximum is attained exactly at the top-:math:`k`
    singular vectors, in order. Orthogonality holds exactly at every step instead of being
    penalised. By default orthogonal iteration starts it (``warm_start=100``; 0 gives the pure
    ascent), and closing sweeps of exact 2×2 rotations (:func:`pair_sweeps`) separate nearly
    equal singular values, which gradient steps separate only slowly.
``"orthogonal-iteration"``
    Block power iteration on both sides, :math:`U \leftarrow \operatorname{qf}(AV)`,
    :math:`V \leftarrow \operatorname{qf}(A^\top U)`: the "infinitely long step" of the ascent
    (:func:`_orthogonal_iteration`).
``"2020"``
    The 2020 blog series' penalty scheme, faithfully: :math:`S = \operatorname{diag}(d^2)`, loss
    :math:`\mathrm{MSE}(U S V^\top, A) + \mathrm{MSE}(U^\top U, I)/100 + \mathrm{MSE}(V V^\top, I)/100`,
    heavy-ball momentum 0.9 with step 0.9, :math:`U, d, V` uniform random after seed 314, 20,000
    steps, float as given; afterwards sorted, signs left as they are.
``"2020-adam"``
    The same loss with :class:`torch.optim.Adam` (lr 1e-3, weight decay 1e-5), as in the 2020 addendum.

``"lobpcg"`` and ``"orthogonal-iteration"`` also take a matrix known only by its products: a
sparse tensor or a :class:`~gdtutor.operators.LinearOperator` (:mod:`gdtutor.operators`).

For all the triplets of a dense matrix in memory, :func:`torch.linalg.svd` is faster. For the top
:math:`k`, Part 3 measures LOBPCG against :func:`torch.svd_lowrank`, :func:`torch.lobpcg` and
ARPACK (:func:`scipy.sparse.linalg.svds`) at equal accuracy.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor import operators, seeds
from gdtutor._methods import MethodTable
from gdtutor._tensors import identity_like
from gdtutor._validation import as_float_tensor
from gdtutor.descent import DivergenceError, _progress_bar, descend, how_the_loss_diverged
from gdtutor.matrices import LR_2020, MOMENTUM_2020, SEED_2020
from gdtutor.metrics import svd_relative_residual

Method = Literal["lobpcg", "brockett", "orthogonal-iteration", "2020", "2020-adam"]
#: ``callback(evaluations, S, V)``: the work so far, and the current estimates of the singular
#: values ``(..., k)`` and right singular vectors ``(..., n, k)``.
Callback = Callable[[int, Tensor, Tensor], None]
_PATIENCE = 50  # steps without progress that mark the rounding floor (momentum makes it oscillate)
_PAIR_SWEEPS = 4  # closing sweeps of exact rotations on neighbouring pairs (see pair_sweeps)
_ESTIMATE_ITERATIONS = 20  # power iterations of largest_singular_value_estimate
# The 2020 penalty's products of A's size per evaluation: U S Vᵀ, UᵀU, VVᵀ; its gradient four more.
_PENALTY_PRODUCTS, _PENALTY_GRADIENT_PRODUCTS = 3, 4
_MATRIX_FREE = ("lobpcg", "orthogonal-iteration")  # the methods that only multiply by A and Aᵀ
_ADAM_LR, _ADAM_BETAS, _ADAM_EPS = 1e-3, (0.9, 0.999), 1e-8  # the addendum's Adam, torch's defaults


@dataclass(frozen=True, kw_only=True, eq=False)
class SVDResult:
    r"""The outcome of :func:`svd`; behaves like :func:`torch.linalg.svd`'s named tuple.

    ``U, S, Vh = svd(A)`` unpacks it, ``result[1]`` is ``S``, ``len(result) == 3``.

    Attributes
    ----------
    U
        Left singular vectors, ``(..., m, k)``, orthonormal columns.
    S
        Singular values, ``(..., k)``, non-negative and in descending order.
    Vh
        Right singular vectors, transposed: ``(..., k, n)``.
    method
        The method used.
    losses
        The loss at every iterate (float64): minus Brockett's cost, the 2020 penalty loss, or
        for LOBPCG and orthogonal iteration the largest residual of the ``k`` triplets.
    steps
        Iterations taken.
    evaluations
        All the work, in products of :math:`A` or :math:`A^\top` with a block of vectors (or, for
        the 2020 schemes, which never multiply by :math:`A`, products of the same size): warm
        start, power iterations, loss-and-gradient evaluations, ``tol`` checks, closing sweeps,
        Rayleigh–Ritz steps, and two for the final :attr:`residual`. A block has ``k`` columns,
        except in LOBPCG, whose blocks have its block size ``k + guard`` (a product with a wider
        basis counts as as many blocks as it is wide). For a :class:`~gdtutor.operators.LinearOperator`,
        two more: the adjoint test.
    converged
        Whether every matrix met the stopping rule (not just the step budget exhausted).
    reason
        Why it stopped, in words.
    residual
        Each matrix's relative residual of the triplets at the end
        (:func:`~gdtutor.metrics.svd_relative_residual`), float64, of the batch's shape.
    converged_each
        Per matrix of the batch: ``residual <= tol`` when a ``tol`` was given, else ``converged``.
    """

    U: Tensor
    S: Tensor
    Vh: Tensor
    method: str
    losses: Tensor
    steps: int
    evaluations: int
    converged: bool
    reason: str
    residual: Tensor
    converged_each: Tensor

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.U, self.S, self.Vh))

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int | slice) -> Any:
        return (self.U, self.S, self.Vh)[index]


class IterateHistory:
    """A ``callback`` for :func:`svd` that keeps every iterate, to measure its errors afterwards.

    ``gdtutor.svd(A, k, method=..., callback=history)``, then :meth:`errors`. It also records
    the time at each iterate, less the time spent in the callback itself.
    """

    def __init__(self) -> None:
        self.evaluations: list[int] = []
        self.seconds: list[float] = []
        self._values: list[Tensor] = []
        self._vectors: list[Tensor] = []
        self._start, self._overhead = time.perf_counter(), 0.0

    def __call__(self, evaluations: int, s: Tensor, v: Tensor) -> None:  # noqa: D102
        now = time.perf_counter()
        self.seconds.append(now - self._start - self._overhead)
        self.evaluations.append(evaluations)
        self._values.append(s.detach().clone())
        self._vectors.append(v.detach().clone())
        self._overhead += time.perf_counter() - now

    def errors(self, s_reference: Tensor, v_reference: Tensor) -> tuple[Tensor, Tensor]:
        r"""Each iterate's value error and vector error against reference triplets.

        The value error is :math:`\max_i |s_i - \sigma_i| / \sigma_1`; the vector error is the
        largest angle between an estimate :math:`v_i` and the reference :math:`\bar v_i` (in
        radians, from :math:`\sin\theta_i = \|v_i - \bar v_i \bar v_i^\top v_i\|`, accurate for
        tiny angles). Distinct singular values are needed for single vectors to be determined.
        Both are float64 tensors, one entry per iterate.
        """
        values, vectors = torch.stack(self._values), torch.stack(self._vectors)
        k = values.shape[-1]
        reference = v_reference[..., :k].to(vectors.dtype)
        value_errors = (values - s_reference[..., :k]).abs().amax(dim=-1) / s_reference[..., :1]
        outside = vectors - reference * (reference * vectors).sum(dim=-2, keepdim=True)
        sines = torch.linalg.vector_norm(outside, dim=-2).amax(dim=-1).clamp(max=1.0)
        return value_errors.double(), torch.asin(sines).double()


def orthonormal_factor(x: Tensor) -> Tensor:
    r"""The Q factor of a thin QR decomposition with :math:`\operatorname{diag}(R) \ge 0`.

    Fixing the signs makes the factor unique and continuous in ``x``: the QR retraction.
    """
    return _qr_nonnegative(x)[0]


def _qr_nonnegative(x: Tensor) -> tuple[Tensor, Tensor]:
    r"""The thin QR decomposition with :math:`\operatorname{diag}(R) \ge 0`."""
    q, r = torch.linalg.qr(x)
    signs = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return q * signs.unsqueeze(-2), r * signs.unsqueeze(-1)


def tangent_projection(x: Tensor, g: Tensor) -> Tensor:
    r"""Project ``g`` onto the tangent space of the Stiefel manifold at ``x``: :math:`g - x\,\mathrm{sym}(x^\top g)`.

    This is the Riemannian gradient for the metric inherited from the embedding space.
    """
    xtg = x.mT @ g
    return g - x @ (0.5 * (xtg + xtg.mT))


class StiefelSGD(Optimizer):
    r"""Riemannian gradient descent with heavy-ball momentum on Stiefel manifolds.

    Every parameter must have orthonormal columns (``X^T X = I``, batched over leading dimensions)
    and keeps them exactly. A step projects the gradient onto the tangent space, updates the
    momentum (itself projected, a cheap vector transport), and retracts with
    :func:`orthonormal_factor`:

    .. math:: M \leftarrow \beta\,P_X(M) + P_X(\nabla f), \qquad X \leftarrow \operatorname{qf}(X - \eta M)

    PyTorch has no Riemannian optimizers; this one is written out on purpose, in a few lines.
    (:func:`torch.nn.utils.parametrizations.orthogonal` is the alternative that lets any torch
    optimizer keep a factor orthogonal, through a matrix exponential or Cayley map.)

    Attributes
    ----------
    tangent_norm
        The norm of the Riemannian gradient at the last step, over all parameters.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive; got {lr}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
        super().__init__(params, {"lr": lr, "momentum": momentum})
        self.tangent_norm = math.inf

    @torch.no_grad()
    def step(self, closure: Any = None) -> Tensor | None:  # noqa: D102 (documented on the class)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        squared = 0.0
        for group in self.param_groups:
            for x in group["params"]:
                if x.grad is None:
                    continue
                gradient = tangent_projection(x, x.grad)
                squared += gradient.square().sum().item()
                buffer = self.state[x].get("momentum")
                if buffer is None:
                    buffer = gradient
                else:
                    buffer = group["momentum"] * tangent_projection(x, buffer) + gradient
                self.state[x]["momentum"] = buffer
                x.copy_(orthonormal_factor(x - group["lr"] * buffer))
        self.tangent_norm = math.sqrt(squared)
        return loss


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


def sign_convention(u: Tensor, vh: Tensor) -> tuple[Tensor, Tensor]:
    """Flip each singular pair so that the entry of largest magnitude in each column of U is positive.

    The same per-column sign multiplies U's column and Vh's row, so U diag(S) Vh is unchanged
    (the convention of scikit-learn's ``svd_flip``).
    """
    largest = u.gather(-2, u.abs().argmax(dim=-2, keepdim=True))
    signs = torch.where(largest < 0, -torch.ones_like(largest), torch.ones_like(largest))
    return u * signs, vh * signs.mT


def svd(
    a: object,
    k: int | None = None,
    method: Method = "lobpcg",
    *,
    tol: float | None = None,
    **options: Any,
) -> SVDResult:
    r"""The thin SVD of ``a``, or its top ``k`` singular triplets, by gradient methods.

    Parameters
    ----------
    a
        A float tensor or array-like of shape ``(..., m, n)``, any m and n. Dtype and device are
        kept (integers become float64). Input that requires grad is accepted; the methods compute
        on its values and the result carries no gradient. Or, for ``"lobpcg"`` and
        ``"orthogonal-iteration"``, which only multiply by :math:`A` and :math:`A^\top`, a matrix
        given by its products (:mod:`gdtutor.operators`): a 2-D torch sparse tensor (COO or CSR)
        or a :class:`~gdtutor.operators.LinearOperator`; neither :math:`A^\top A` nor a dense :math:`A` is
        ever formed.
    k
        How many singular triplets: ``None`` for all ``min(m, n)`` of the thin SVD (dense
        input only).
    method
        ``"lobpcg"`` (default), ``"brockett"``, ``"orthogonal-iteration"``, ``"2020"`` or
        ``"2020-adam"``; see :mod:`gdtutor.decomposition`.
    tol
        Stop once every matrix's relative residual of the triplets,
        :math:`\max_i (\|Av_i - \sigma_i u_i\|^2 + \|A^\top u_i - \sigma_i v_i\|^2)^{1/2}/\sigma_1`
        (:func:`~gdtutor.metrics.svd_relative_residual`), is at most ``tol``, whatever the method;
        checking it costs ``"brockett"`` and the 2020 schemes two products with :math:`A` a step
        (LOBPCG and orthogonal iteration track it for free). ``None`` runs the first three
        methods to their rounding floor and the 2020 schemes for their step budget.
    **options
        The method's own options, such as ``max_steps``, ``momentum`` or ``warm_start``; each
        method documents its own, with their defaults: ``print(gdtutor.show_options("svd"))``.
        An option the method does not take raises :class:`TypeError` before any work is done.

    Returns
    -------
    SVDResult
        Unpacks as ``U, S, Vh`` with ``U`` of shape ``(..., m, k)``, ``S`` ``(..., k)`` and ``Vh``
        ``(..., k, n)``. Except for the 2020 schemes, the singular values are non-negative and
        sorted, and the signs follow :func:`~gdtutor.decomposition.sign_convention`.

    Raises
    ------
    ValueError
        NaN/Inf or empty input; ``k`` out of range; ``k`` with a 2020 scheme; an unknown method;
        a ``tol`` that is not positive; sparse or operator input with ``k=None`` or with a
        method that needs the entries; an operator whose products are wrong
        (:func:`gdtutor.operators.as_products`).
    TypeError
        An option the method does not take; boolean, complex or half-precision input.
    gdtutor.descent.DivergenceError
        When a 2020 scheme diverges.

    Examples
    --------
    >>> import torch, gdtutor
    >>> a = torch.tensor([[3.0, 0.0], [4.0, 5.0]], dtype=torch.float64)
    >>> U, S, Vh = gdtutor.svd(a)
    >>> torch.allclose(S, torch.linalg.svdvals(a))
    True
    """
    solve = METHODS.resolve(method, options)
    if tol is not None and not (isinstance(tol, int | float) and 0 < tol < math.inf):
        raise ValueError(f"tol must be a positive number; got {tol!r}.")
    if not operators.is_products(a):
        a = as_float_tensor(a)
        m, n = a.shape[-2:]
        _check_k(k, m, n)
        return solve(a, k, tol=tol, **options)
    if method not in _MATRIX_FREE:
        raise ValueError(
            f"method {method!r} needs A's entries; for a sparse A or a LinearOperator, which are "
            f"only multiplied, use one of {_MATRIX_FREE}."
        )
    if k is None:
        raise ValueError(
            "k is required for a sparse A or a LinearOperator: all min(m, n) triplets form dense "
            "factors; for those, use torch.linalg.svd on the dense matrix."
        )
    with torch.no_grad():  # an operator's functions may close over tensors that require grad
        products, checks = operators.as_products(a)
        _check_k(k, *products.shape)
        result = solve(products, k, tol=tol, **options)
    return dataclasses.replace(result, evaluations=result.evaluations + checks)


def _check_k(k: int | None, m: int, n: int) -> None:
    if k is not None and not (isinstance(k, int) and 1 <= k <= min(m, n)):
        raise ValueError(f"k must be an integer from 1 to min(m, n) = {min(m, n)}; got {k!r}.")


def _result(
    a: Tensor,
    u: Tensor,
    s: Tensor,
    vh: Tensor,
    *,
    method: str,
    tol: float | None,
    losses: Tensor,
    steps: int,
    products: int,
    converged: bool,
    reason: str,
    residual: Tensor | None = None,
) -> SVDResult:
    """Build the result, measuring the final residual (two more products) unless given."""
    if residual is None:
        residual = svd_relative_residual(a, u, s, vh).to(torch.float64)
    each = residual <= tol if tol is not None else torch.full_like(residual, converged, dtype=bool)
    return SVDResult(
        U=u,
        S=s,
        Vh=vh,
        method=method,
        losses=losses,
        steps=steps,
        evaluations=products + 2,
        converged=converged,
        reason=reason,
        residual=residual,
        converged_each=each,
    )


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
        subspaces at rates set by the ratios :math:`\sigma_{i+1}/\sigma_i`, fast on graded
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
    m, n = a.shape[-2:]
    k = min(m, n) if k is None else k
    batch = a.shape[:-2]
    generator = seeds.generator(seed)
    u = orthonormal_factor(
        torch.randn(*batch, m, k, generator=generator, dtype=a.dtype).to(a.device)
    )
    v = orthonormal_factor(
        torch.randn(*batch, n, k, generator=generator, dtype=a.dtype).to(a.device)
    )
    for _ in range(warm_start):  # orthogonal iteration: aligns subspaces at rates σ_{i+1}/σ_i
        u = orthonormal_factor(a @ v)
        v = orthonormal_factor(a.mT @ u)
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
    # Each matrix's cost is divided by its own σ₁ (1 for a zero matrix, whose gradient vanishes):
    # with lr = 1 every matrix of a batch then steps by 1/σ₁ of its own, and the stopping rule
    # works on a scale-free gradient.
    scale = torch.where(sigma > 0, 1 / sigma, torch.ones_like(sigma)).unsqueeze(-1)
    optimizer = StiefelSGD([u, v], lr=1.0, momentum=momentum)
    eps = torch.finfo(a.dtype).eps
    floor, stall = 1e3 * eps, math.sqrt(eps)  # scale-free gradient norms (costs divided by σ₁)
    best_norm, since_best, checks, evaluated = math.inf, 0, 0, 0
    diagonal = torch.zeros(0)  # diag(UᵀAV) at the latest evaluation, for the tol test

    def negative_brockett() -> Tensor:
        nonlocal diagonal, evaluated
        evaluated += 1
        values = (u * (a @ v)).sum(dim=-2)
        diagonal = values.detach()
        return -(values * weights * scale).sum()

    def at_floor() -> str | None:
        nonlocal best_norm, since_best
        norm = optimizer.tangent_norm
        if norm < 0.999 * best_norm:
            best_norm, since_best = norm, 0
            return None
        since_best += 1
        if best_norm <= floor and since_best >= _PATIENCE:
            return f"Riemannian gradient stopped decreasing at {best_norm:.2g} (rounding floor)"
        if best_norm <= stall and since_best >= 10 * _PATIENCE:
            return f"Riemannian gradient stalled at {best_norm:.2g}"
        return None

    def within_tol() -> str | None:
        nonlocal checks
        checks += 1
        with torch.no_grad():
            worst = svd_relative_residual(a, u, diagonal, v.mT).max().item()
        return f"relative residual {worst:.3g} <= tol {tol:.3g}" if worst <= tol else None

    def stop() -> str | None:
        why = at_floor() if tol is None else within_tol()
        if callback is not None:  # AV per evaluation, AᵀU per gradient (one fewer so far)
            callback(products + 2 * evaluated - 1 + 2 * checks, diagonal, v.detach())
        return why

    run = descend(
        negative_brockett, [u, v], optimizer, max_steps=max_steps, stop=stop, progress=progress
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
        + 2 * checks
        + sweep_products
        + finish_products,
        converged=run.converged,
        reason=run.reason,
    )


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


class _ResidualStopping:
    r"""Each matrix's stopping rule for the methods that track their triplets' residuals.

    With ``tol``: the matrix is done once its best residual is at most ``tol``. Without: once
    every pair is at the rounding floor, or once its best residual, below :math:`\sqrt u`, has
    not halved for 20 iterations. Keeps each matrix's best iterate.
    """

    def __init__(self, batch: torch.Size, tol: float | None, dtype: torch.dtype) -> None:
        self.tol, self.eps = tol, torch.finfo(dtype).eps
        self.best = torch.full(batch, math.inf, dtype=dtype)
        self.milestone = self.best.clone()
        self.since = torch.zeros(batch, dtype=torch.long)
        self.best_state: tuple[Tensor, ...] = ()
        self.done = torch.zeros(batch, dtype=torch.bool)

    def would_stop(self, each: Tensor, at_floor: Tensor) -> Tensor:
        """Who :meth:`update` with these values would newly declare done; changes nothing."""
        best = torch.minimum(self.best, each)
        if self.tol is not None:
            return (best <= self.tol) & ~self.done
        since = torch.where(each < 0.5 * self.milestone, 0, self.since + 1)
        return (at_floor | ((best <= math.sqrt(self.eps)) & (since >= 20))) & ~self.done

    def update(self, each: Tensor, at_floor: Tensor, state: tuple[Tensor, ...]) -> Tensor:
        """Record this iterate (``each``: the largest residual per matrix); return who is done."""
        better = each < self.best
        self.best = torch.where(better, each, self.best)
        self.best_state = tuple(
            torch.where(better.reshape(*better.shape, *(1,) * (s.ndim - better.ndim)), s, old)
            for s, old in zip(state, self.best_state or state, strict=True)
        )
        halved = each < 0.5 * self.milestone
        self.milestone = torch.where(halved, each, self.milestone)
        self.since = torch.where(halved, torch.zeros_like(self.since), self.since + 1)
        if self.tol is not None:
            self.done = self.best <= self.tol
        else:
            self.done = at_floor | ((self.best <= math.sqrt(self.eps)) & (self.since >= 20))
        return self.done

    def result(
        self,
        a: Tensor,
        u: Tensor,
        s: Tensor,
        v: Tensor,
        *,
        method: str,
        history: list[float],
        steps: int,
        products: int,
        finished: bool,
        max_steps: int,
    ) -> SVDResult:
        """The result for the triplets ``(u, s, v)``, with ``converged`` and ``reason`` from them.

        Fixes the signs (:func:`sign_convention`) and measures the triplets' residual, which
        decides ``converged`` and ``reason``: true statements about what is returned.
        """
        u, vh = sign_convention(u, v.mT)
        final = svd_relative_residual(a, u, s, vh).to(torch.float64)
        converged, reason = self._verdict(final.max().item(), finished, max_steps)
        return _result(
            a,
            u,
            s,
            vh,
            method=method,
            tol=self.tol,
            losses=torch.tensor(history, dtype=torch.float64),
            steps=steps,
            products=products,
            converged=converged,
            reason=reason,
            residual=final,
        )

    def _verdict(self, worst: float, finished: bool, max_steps: int) -> tuple[bool, str]:
        if self.tol is not None:
            if worst <= self.tol:
                return True, f"relative residual {worst:.3g} <= tol {self.tol:.3g}"
            why = "in the returned triplets" if finished else f"reached max_steps={max_steps}"
            return False, f"relative residual {worst:.3g} > tol {self.tol:.3g} ({why})"
        if finished:
            return True, f"relative residual {worst:.2g} (rounding floor)"
        return False, f"reached max_steps={max_steps}; relative residual {worst:.2g}"


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
    if max_steps < 0:
        raise ValueError(f"max_steps must be non-negative; got {max_steps}.")
    if guard is not None and not (
        isinstance(guard, int) and not isinstance(guard, bool) and guard >= 0
    ):
        raise ValueError(f"guard must be a non-negative integer (extra vectors); got {guard!r}.")
    m, n = a.shape[-2:]
    g = a if m >= n else a.mT  # B = gᵀg is the smaller Gram matrix
    q = g.shape[-1]
    k = min(m, n) if k is None else k
    size = min(q, k + (max(4, k // 2) if guard is None else guard))
    tiny, eps = torch.finfo(a.dtype).tiny, torch.finfo(a.dtype).eps
    generator = seeds.generator(seed)
    block = torch.randn(*a.shape[:-2], q, size, generator=generator, dtype=a.dtype).to(a.device)
    products = 0
    if start is not None:
        given = _checked_start(a, start)[..., :size]
        if m < n:
            given, products = a @ given, 1
        block = torch.cat([given, block[..., given.shape[-1] :]], dim=-1)
    x = orthonormal_factor(block)

    formed = None
    if form_gram:
        if not isinstance(g, Tensor):
            raise ValueError(
                "form_gram=True needs a dense A; the Gram matrix of a sparse A or an operator "
                "would be dense (or fill in). Leave it False."
            )
        formed, products = g.mT @ g, products + math.ceil(q / size)  # Aᵀ times A's q columns

    def gram(v: Tensor) -> Tensor:  # counted in products with blocks of the block size
        nonlocal products
        blocks = math.ceil(v.shape[-1] / size)
        if formed is not None:
            products += blocks
            return formed @ v
        products += 2 * blocks
        return g.mT @ (g @ v)

    bx = gram(x)
    theta, ritz = _rayleigh_ritz(x, bx, size)
    x, bx = x @ ritz, bx @ ritz
    p = bp = None  # the previous direction and its image, orthonormal to x and carried
    history: list[float] = []
    stopping = _ResidualStopping(a.shape[:-2], tol, a.dtype)
    steps, carried, explicit = max_steps, False, False

    def residuals(bx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """R = BX - XΘ, its column norms, and the triplets' relative residuals."""
        r = bx - x * theta.unsqueeze(-2)
        residual_norms = torch.linalg.vector_norm(r, dim=-2)
        # ‖A v - σ u‖ = 0 for u = A v / σ, and ‖Aᵀu - σ v‖ = ‖R_i‖ / σ_i, over σ_1
        return (
            r,
            residual_norms,
            residual_norms / (torch.maximum(sigma, top * math.sqrt(eps)) * top),
        )

    for step in range(max_steps + 1):
        sigma = theta.clamp_min(0).sqrt()
        top = sigma[..., :1].clamp_min(tiny)
        floor = 10 * size * eps * top.square()
        r, residual_norms, triplets = residuals(bx)
        if carried:
            # The images BX and BP were carried through the Ritz coefficients, not multiplied.
            # Where this residual would stop the run, multiply afresh; if the images had drifted
            # beyond the rounding floor, multiply afresh at every iteration from then on.
            each = triplets[..., :k].amax(dim=-1)
            stopping_now = stopping.would_stop(each, (residual_norms <= floor)[..., :k].all(dim=-1))
            if explicit or bool(stopping_now.any()):
                fresh = gram(x)
                drift = torch.linalg.vector_norm(fresh - bx, dim=-2) / top.square()
                # a fresh product's own rounding grows like √(rows)·u·σ₁²
                explicit = explicit or bool(
                    (drift > 10 * (size + math.sqrt(g.shape[-2])) * eps).any()
                )
                if p is not None and explicit:
                    bp = gram(p)
                bx, carried = fresh, False
                r, residual_norms, triplets = residuals(bx)
        at_floor = residual_norms <= floor
        each = triplets[..., :k].amax(dim=-1)
        done = stopping.update(each, at_floor[..., :k].all(dim=-1), (x,))
        history.append(each.max().item())
        if callback is not None:
            right = x[..., :k] if m >= n else a.mT @ x[..., :k]
            callback(
                products,
                sigma[..., :k],
                right / torch.linalg.vector_norm(right, dim=-2, keepdim=True).clamp_min(tiny),
            )
        finished = bool(done.all())
        if finished or step == max_steps:
            steps = step
            break
        # Soft locking: a pair at its floor or well within tol, or any pair of a matrix that is
        # done, adds no directions; columns locked in every matrix of a batch are dropped.
        locked = at_floor | (triplets <= 0.1 * tol if tol is not None else at_floor)
        active = (~locked & ~done.unsqueeze(-1)).unsqueeze(-2)
        keep = active.reshape(-1, size).any(dim=0)
        if not bool(keep.any()):  # every pair locked at its floor or within tol: nothing to search
            steps, finished = step, True
            break
        search = torch.where(active, r, torch.zeros_like(r))[..., keep]
        # The gradient, orthonormal to [X, P] and within itself (nearly in their span once
        # nearly converged: hence twice).
        known = x if p is None else torch.cat([x, p], dim=-1)
        search = _orthonormal_complement(search, known)
        basis = torch.cat([known, search], dim=-1)
        images = torch.cat([bx, gram(search)] if p is None else [bx, bp, gram(search)], dim=-1)
        theta, ritz = _rayleigh_ritz(basis, images, size)
        # The new direction: the step's part outside span(X), made orthonormal to the new X in
        # the small coefficient space, so that [X, P] stays orthonormal with no product.
        # Rows of dead basis columns (dropped directions) are zeroed first: rounding-level
        # coefficients on them, amplified by the normalisation, would break [X, P]'s orthonormality.
        live = torch.linalg.vector_norm(basis, dim=-2, keepdim=True).mT > 0.5
        step_part = torch.cat([torch.zeros_like(ritz[..., :size, :]), ritz[..., size:, :]], dim=-2)
        step_part = torch.where(live, step_part, torch.zeros_like(step_part))
        step_part = _orthonormal_complement(step_part, ritz)  # the step's part may be small
        coefficients = torch.cat([ritz, step_part], dim=-1)
        new, new_images = basis @ coefficients, images @ coefficients
        x, p, bx, bp = (
            new[..., :size],
            new[..., size:],
            new_images[..., :size],
            new_images[..., size:],
        )
        carried = True
        # Orthonormality of [X, P], measured (O(q b²), no product): past 10·b·u, restore it and
        # multiply both afresh (Duersch et al.).
        known = torch.cat([x, p], dim=-1)
        alive = torch.linalg.vector_norm(known, dim=-2) > 0.5
        pairs = alive.unsqueeze(-1) & alive.unsqueeze(-2)
        overlaps = known.mT @ known
        loss = torch.where(pairs, overlaps - identity_like(overlaps), 0.0)
        if loss.abs().amax() > 10 * size * eps:
            x = torch.linalg.qr(x).Q
            p = _orthonormal_complement(p, x)
            bx, bp, carried = gram(x), gram(p), False
    # each matrix's iterate with the smallest residual, made orthonormal to working precision
    # (the Ritz steps lose a few units of rounding in orthogonality each)
    x = torch.linalg.qr(stopping.best_state[0]).Q
    gx = g @ x
    products += 1
    q_factor, h = torch.linalg.qr(gx)
    u_small, s, vh_small = torch.linalg.svd(h)
    left, right = q_factor @ u_small[..., :k], x @ vh_small.mT[..., :k]
    u, v = (left, right) if m >= n else (right, left)
    return stopping.result(
        a,
        u,
        s[..., :k],
        v,
        method="lobpcg",
        history=history,
        steps=steps,
        products=products,
        finished=finished,
        max_steps=max_steps,
    )


def _orthogonal_iteration(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 5000,
    seed: int = SEED_2020,
    callback: Callback | None = None,
) -> SVDResult:
    r"""Orthogonal iteration: :math:`U \leftarrow \operatorname{qf}(AV)`, :math:`V \leftarrow \operatorname{qf}(A^\top U)`.

    Block power iteration on both sides, the "infinitely long step" of gradient ascent on
    Brockett's cost; no Rayleigh–Ritz step. With :math:`A^\top U = VR` and
    :math:`\operatorname{diag}(R) \ge 0`, the estimates are :math:`\sigma_i = r_{ii} = u_i^\top A
    v_i`; the pairs converge in order, each at the rate :math:`\sigma_{i+1}/\sigma_i` per step.
    The residual costs no extra product: :math:`\|A^\top u_i - \sigma_i v_i\|` is the norm of
    :math:`R`'s off-diagonal column :math:`i`, and :math:`\|Av_i - \sigma_i u_i\|` comes with the
    next step's :math:`AV`. Stops as :func:`_lobpcg` does (two products a step).

    Parameters
    ----------
    max_steps
        The step budget.
    seed
        Seed of the random start.
    callback
        Called at every iterate as ``callback(evaluations, S, V)``.
    """
    if max_steps < 0:
        raise ValueError(f"max_steps must be non-negative; got {max_steps}.")
    m, n = a.shape[-2:]
    k = min(m, n) if k is None else k
    tiny, eps = torch.finfo(a.dtype).tiny, torch.finfo(a.dtype).eps
    generator = seeds.generator(seed)
    start = torch.randn(*a.shape[:-2], n, k, generator=generator, dtype=a.dtype)
    v = orthonormal_factor(start.to(a.device))
    u = s = left_residual = torch.zeros(0)
    stopping = _ResidualStopping(a.shape[:-2], tol, a.dtype)
    history: list[float] = []
    products, steps, finished = 0, max_steps, False
    for step in range(max_steps + 2):
        av = a @ v
        products += 1
        if step > 0:  # the residual of the previous triplets (u, s, v)
            residual_norms = torch.sqrt(
                torch.linalg.vector_norm(av - u * s.unsqueeze(-2), dim=-2).square()
                + left_residual.square()
            )
            top = s[..., :1].clamp_min(tiny)
            each = (residual_norms / top).amax(dim=-1)
            at_floor = (residual_norms <= 10 * k * eps * top).all(dim=-1)
            done = stopping.update(each, at_floor, (u, s, v))
            history.append(each.max().item())
            if callback is not None:
                callback(products, s, v)
            finished = bool(done.all())
            if finished or step > max_steps:
                steps = step - 1
                break
        u, _ = _qr_nonnegative(av)
        v, r = _qr_nonnegative(a.mT @ u)
        products += 1
        s = torch.diagonal(r, dim1=-2, dim2=-1)
        left_residual = torch.linalg.vector_norm(torch.triu(r, diagonal=1), dim=-2)
    return stopping.result(
        a,
        *stopping.best_state,
        method="orthogonal-iteration",
        history=history,
        steps=steps,
        products=products,
        finished=finished,
        max_steps=max_steps,
    )


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
    adam = torch.tensor([name == "adam" for name in optimizers], device=device)
    decay = torch.as_tensor(
        [1e-5 if name == "adam" else 0.0 for name in optimizers]
        if weight_decay is None
        else weight_decay,
        dtype=dtype,
    ).to(device)
    if decay.ndim > 1 or decay.numel() not in (1, count) or (decay < 0).any():
        raise ValueError(
            f"weight_decay must be a non-negative number or one per matrix ({count}); got {weight_decay!r}."
        )
    decay = decay.expand(count)
    if (decay[~adam] != 0).any():
        raise ValueError("weight_decay is for optimizer='adam'; the 2020 post's SGD had none.")
    rows = max(t.shape[0] for t in tensors)
    cols = max(t.shape[1] for t in tensors)
    a = torch.zeros(count, rows, cols, dtype=dtype, device=device)
    # U, d, V and their gradients are views into flat tensors, which the updates step at once
    shapes = [(count, rows, cols), (count, cols), (count, cols, cols)]
    sizes = [math.prod(shape) for shape in shapes]
    flat, flat_gradient = torch.zeros(2, sum(sizes), dtype=dtype, device=device)
    u, d, v = (x.view(shape) for x, shape in zip(flat.split(sizes), shapes, strict=True))
    grad_u, grad_d, grad_v = (
        x.view(shape) for x, shape in zip(flat_gradient.split(sizes), shapes, strict=True)
    )
    eye = torch.zeros(count, cols, cols, dtype=dtype, device=device)
    for i, t in enumerate(tensors):
        m, n = t.shape
        generator = torch.Generator().manual_seed(seed)  # the 2020 start: never shifted
        a[i, :m, :n] = t
        u[i, :m, :n] = torch.rand(m, n, generator=generator)
        d[i, :n] = torch.rand(n, generator=generator)
        v[i, :n, :n] = torch.rand(n, n, generator=generator)
        eye[i, :n, :n] = torch.eye(n, dtype=dtype, device=device)  # each matrix's own identity
    # per matrix: 1/(m n) for the fit, 1/(100 n²) for each orthogonality penalty
    fit = torch.tensor([1 / (t.shape[0] * t.shape[1]) for t in tensors], dtype=dtype).to(device)
    penalty = torch.tensor([1 / (100 * t.shape[1] ** 2) for t in tensors], dtype=dtype).to(device)
    fit_2, penalty_4, fit_4 = 2 * fit[:, None, None], 4 * penalty[:, None, None], 4 * fit[:, None]
    # each flat entry's matrix: its optimizer and weight decay
    owner = torch.cat(
        [torch.arange(count, device=device).repeat_interleave(size // count) for size in sizes]
    )
    uses_adam, entry_decay = adam[owner], decay[owner]
    momentum, first, second = torch.zeros(3, sum(sizes), dtype=dtype, device=device)
    history: list[Tensor] = []
    checks = 0
    bar = _progress_bar(max_steps) if progress else None
    converged, reason, steps = False, f"reached max_steps={max_steps}", max_steps
    with torch.inference_mode():  # no autograd bookkeeping: a tenth or more of each step
        for step in range(max_steps + 1):
            # the loss: E = U S Vᵀ - A, F = UᵀU - I, G = VVᵀ - I
            s = d.square().unsqueeze(-2)
            us = u * s
            e, f, g = us @ v.mT - a, u.mT @ u - eye, v @ v.mT - eye
            squares = [torch.linalg.vector_norm(x, dim=(-2, -1)).square() for x in (e, f, g)]
            losses = fit * squares[0] + penalty * (squares[1] + squares[2])
            history.append(losses)
            total = losses.sum().item()
            if step == 0:
                initial = total
                limit = 1e6 * max(total, torch.finfo(torch.float64).tiny)
            if not total <= limit:  # also true for NaN
                raise DivergenceError(
                    f"the loss {how_the_loss_diverged(total, initial)} at step {step}: "
                    "the fixed steps of the 2020 scheme are too long for these matrices.",
                    step=step,
                    loss=total,
                    safe_lr=None,
                )
            if tol is not None:
                checks += 1
                worst = svd_relative_residual(a, u, d.square(), v.mT).max().item()
                if worst <= tol:
                    converged, reason, steps = (
                        True,
                        f"relative residual {worst:.3g} <= tol {tol:.3g}",
                        step,
                    )
                    break
            if step == max_steps:
                break
            # the gradient: d/dU = 2 E V S/(mn) + 4 U F/(100 n²), d/dV = 2 Eᵀ U S/(mn) + 4 G V/(100 n²),
            # d/dd = 4 d ⊙ diag(Uᵀ E V)/(mn), plus λθ for Adam's weight decay
            ev = e @ v
            torch.addcmul(penalty_4 * (u @ f), fit_2 * ev, s, out=grad_u)
            torch.addcmul(penalty_4 * (g @ v), fit_2, e.mT @ us, out=grad_v)
            torch.mul(fit_4 * d, (u * ev).sum(dim=-2), out=grad_d)
            flat_gradient.addcmul_(entry_decay, flat)
            # torch.optim.SGD (heavy ball: M ← μM + ∇, θ ← θ - ηM) and torch.optim.Adam, per entry
            momentum.mul_(MOMENTUM_2020).add_(flat_gradient)
            first.lerp_(flat_gradient, 1 - _ADAM_BETAS[0])
            second.mul_(_ADAM_BETAS[1]).addcmul_(
                flat_gradient, flat_gradient, value=1 - _ADAM_BETAS[1]
            )
            correction_1, correction_2 = (
                1 - _ADAM_BETAS[0] ** (step + 1),
                1 - _ADAM_BETAS[1] ** (step + 1),
            )
            adam_step = (
                first
                / (second.sqrt() / math.sqrt(correction_2) + _ADAM_EPS)
                * (_ADAM_LR / correction_1)
            )
            flat.sub_(torch.where(uses_adam, adam_step, LR_2020 * momentum))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    products = _PENALTY_PRODUCTS * (steps + 1) + _PENALTY_GRADIENT_PRODUCTS * steps + 2 * checks
    histories = torch.stack(history).to(device="cpu", dtype=torch.float64)
    results = []
    for i, t in enumerate(tensors):
        m, n = t.shape
        s, order = torch.sort(d[i, :n].square(), descending=True)
        results.append(
            _result(
                t,
                u[i, :m, :n][:, order],
                s,
                v[i, :n, :n][:, order].mT,
                method="2020" if optimizers[i] == "sgd" else "2020-adam",
                tol=tol,
                losses=histories[:, i],
                steps=steps,
                products=products,
                converged=converged,
                reason=reason,
            )
        )
    return results


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


# The methods of svd(), each with its own options: gdtutor.show_options("svd").
METHODS = MethodTable(
    "svd",
    {
        "lobpcg": _lobpcg,
        "brockett": _brockett,
        "orthogonal-iteration": _orthogonal_iteration,
        "2020": _scheme_2020,
        "2020-adam": _scheme_2020_adam,
    },
    shared=("tol",),
)

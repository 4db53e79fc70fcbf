"""What every method of :func:`gdtutor.svd` shares: the result, its signs, the stopping rule.

:class:`SVDResult` is built once per run by :func:`_result`; the methods that track the
residual of their triplets (LOBPCG, orthogonal iteration) stop by :class:`_ResidualStopping`
and keep each matrix's best iterate, as :func:`scipy.sparse.linalg.lobpcg` does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from gdtutor.metrics import svd_relative_residual

Method = Literal["lobpcg", "brockett", "orthogonal-iteration", "2020", "2020-adam"]
#: ``callback(evaluations, S, V)``: the work so far, and the current estimates of the singular
#: values ``(..., k)`` and right singular vectors ``(..., n, k)``.
Callback = Callable[[int, Tensor, Tensor], None]


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

    def __call__(self, evaluations: int, s: Tensor, v: Tensor) -> None:
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


def sign_convention(u: Tensor, vh: Tensor) -> tuple[Tensor, Tensor]:
    """Flip each singular pair so that the entry of largest magnitude in each column of U is positive.

    The same per-column sign multiplies U's column and Vh's row, so U diag(S) Vh is unchanged
    (the convention of scikit-learn's ``svd_flip``).
    """
    largest = u.gather(-2, u.abs().argmax(dim=-2, keepdim=True))
    signs = torch.where(largest < 0, -torch.ones_like(largest), torch.ones_like(largest))
    return u * signs, vh * signs.mT


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

r"""What the methods of :func:`~gdtutor.completion.complete` share.

The result (:class:`CompletionResult`, built once per run by :func:`_result`), the objective
:math:`F` with its optional balancing term (:func:`_objective`), the stopping rules of the
monotone methods (:func:`_plateau`, :func:`_exact_fit`), the check that a method built on the
squared loss's closed forms is given that loss (:func:`_squared_only`), and the start of ``"gd"``,
``"optimizer"`` and ``"als"``: the top singular triplets of :math:`P_\Omega Y` by randomised
subspace iteration (:func:`_top_singular`), split into two factors, or small random factors
(:func:`_start`).

References
----------
N. Halko, P. G. Martinsson and J. A. Tropp (2011). Finding structure with randomness:
probabilistic algorithms for constructing approximate matrix decompositions. *SIAM Review*
53(2), 217–288. doi:10.1137/090771806

R. H. Keshavan, A. Montanari and S. Oh (2010). Matrix completion from a few entries. *IEEE
Transactions on Information Theory* 56(6), 2980–2998. doi:10.1109/TIT.2010.2046205 (the spectral
start).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gdtutor import seeds
from gdtutor.completion.entries import _Entries
from gdtutor.completion.losses import Loss, _data_term, _poisson, _squared

INITS = ("spectral", "random")  # the starts of "gd", "optimizer" and "als" (option init)


@dataclass(frozen=True, kw_only=True, eq=False)
class CompletionResult:
    r"""The outcome of :func:`complete`.

    Attributes
    ----------
    left, right
        The factors :math:`U` (``m × rank``) and :math:`V` (``n × rank``).
    method
        The method used.
    losses
        ``losses[k]``: the objective at the ``k``-th iterate, float64: :math:`F` plus the
        balancing term for ``"gd"`` and ``"optimizer"``, :math:`F` for ``"als"``, the
        nuclear-norm objective for ``"soft-impute"``.
    steps
        Iterations (sweeps for ``"als"``; for ``"soft-impute"``, its SVDs less one).
    evaluations
        The work, in passes over the observed entries, after the common spectral start (not
        counted): a residual :math:`P_\Omega(UV^\top - Y)` with its products by :math:`U` and
        :math:`V` counts one (each trial of ``"gd"``, halved ones included), an ALS sweep three
        (a Gram-and-right-side pass per factor, and the objective its stopping rule reads), five
        with IRLS (a reweighting pass before each half-sweep), a soft-impute step one plus its
        SVD.
    converged
        Whether the stopping rule was met (not just the step budget exhausted).
    reason
        Why it stopped, in words.
    observed_rmse
        :math:`\|P_\Omega(UV^\top - Y)\|_F / \sqrt{|\Omega|}`, the fit on the observed entries.
    """

    left: Tensor
    right: Tensor
    method: str
    losses: Tensor
    steps: int
    evaluations: int
    converged: bool
    reason: str
    observed_rmse: float

    @property
    def completed(self) -> Tensor:
        r""":math:`UV^\top`, every entry filled in, computed on request (a dense ``m × n`` array).

        For a large table, :meth:`~gdtutor.completion.CompletionResult.predict` gives the entries
        you need.
        """
        return self.left @ self.right.T

    def predict(self, rows: object, columns: object) -> Tensor:
        r"""The entries :math:`(UV^\top)_{ij} = u_i \cdot v_j` at ``rows[k], columns[k]``.

        Costs :math:`O(k\,r)` for :math:`k` entries, without forming :math:`UV^\top`.

        Parameters
        ----------
        rows, columns
            Integer indices of the same shape (tensors or sequences).

        Raises
        ------
        ValueError
            Indices that are not integers, of different shapes, or out of range.
        """
        indices = []
        for name, index, size in (
            ("rows", rows, self.left.shape[0]),
            ("columns", columns, self.right.shape[0]),
        ):
            index = torch.as_tensor(index, device=self.left.device)
            if index.dtype.is_floating_point or index.dtype.is_complex or index.dtype == torch.bool:
                raise ValueError(f"{name} must be integer indices; got dtype {index.dtype}.")
            if index.numel() and not bool(((index >= 0) & (index < size)).all()):
                raise ValueError(f"{name} must lie in 0..{size - 1}; got values outside it.")
            indices.append(index)
        if indices[0].shape != indices[1].shape:
            raise ValueError(
                f"rows and columns must have the same shape; got {tuple(indices[0].shape)} and "
                f"{tuple(indices[1].shape)}."
            )
        return (self.left[indices[0]] * self.right[indices[1]]).sum(dim=-1)


def _objective(
    entries: _Entries,
    u: Tensor,
    v: Tensor,
    ridge: float,
    *,
    balance: bool,
    loss: tuple[str, Loss] = ("squared", _squared),
) -> Tensor:
    r""":math:`F(U, V)`, plus the balancing term :math:`\tfrac p8\|U^\top U - V^\top V\|_F^2` if asked."""
    value = _data_term(loss, entries.predict(u, v), entries.values)
    value = value + 0.5 * ridge * (u.square().sum() + v.square().sum())
    if balance:
        value = value + _fraction(entries) * (u.T @ u - v.T @ v).square().sum() / 8
    return value


def _fraction(entries: _Entries) -> float:
    r"""The observed fraction :math:`p = |\Omega|/(mn)`."""
    return entries.count / (entries.shape[0] * entries.shape[1])


def _squared_only(method: str, loss: tuple[str, Loss], *, also: str = "") -> None:
    """A clear error, before any work, for a method built on the squared loss's closed forms."""
    if loss[1] is not _squared:
        raise ValueError(
            f"method={method!r} is built on the squared loss's closed-form steps{also} and cannot "
            f"minimise loss {loss[0]}; use method='gd' or method='optimizer', which take any loss."
        )


def _start_entries(entries: _Entries, loss: tuple[str, Loss]) -> _Entries:
    r"""What the spectral start factors: the data, or :math:`\log(1 + Y)` for Poisson's log-rates."""
    return entries.with_values(entries.values.log1p()) if loss[1] is _poisson else entries


def _top_singular(entries: _Entries, rank: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""The top-``rank`` singular triplets of :math:`P_\Omega Y`, by sparse products only.

    Randomised subspace iteration (Halko, Martinsson and Tropp 2011, Algorithm 4.4): a Gaussian
    block of ``rank + 10`` columns, four round trips through :math:`P_\Omega Y` and its transpose
    with a QR after each product, then the SVD of the small projected matrix. Plenty for a start
    and a step size, at :math:`O(|\Omega|\,r)` per product.
    """
    m, n = entries.shape
    width = min(rank + 10, m, n)
    generator = seeds.generator(seed)
    block = torch.randn(n, width, generator=generator, dtype=torch.float64)
    block = block.to(dtype=entries.values.dtype, device=entries.values.device)
    basis = torch.linalg.qr(entries.times(entries.values, block)).Q
    for _ in range(4):
        block = torch.linalg.qr(entries.transpose_times(entries.values, basis)).Q
        basis = torch.linalg.qr(entries.times(entries.values, block)).Q
    projected = entries.transpose_times(entries.values, basis).mT  # Qᵀ P_Ω Y, width × n
    left, values, right_t = torch.linalg.svd(projected, full_matrices=False)
    return (basis @ left)[:, :rank], values[:rank], right_t[:rank].mT


def _start(entries: _Entries, rank: int, init: str, seed: int) -> tuple[Tensor, Tensor, float]:
    r"""The first factors, ``"spectral"`` or ``"random"``, and :math:`\hat\sigma_1 = \|P_\Omega Y\|_2`.

    Spectral: the top-``rank`` SVD :math:`Q_1 S Q_2^\top` of :math:`P_\Omega Y / p`, split as
    :math:`Q_1 S^{1/2}` and :math:`Q_2 S^{1/2}`. Random: small Gaussian factors. ``init`` is one
    of :data:`INITS`, which each method checks before any work.
    """
    m, n = entries.shape
    left, values, right = _top_singular(entries, rank, seed)
    sigma = values[0].item()
    if init == "random":
        generator = seeds.generator(seed)
        scale = 1e-3 * entries.values.square().mean().sqrt().item()
        draw = torch.randn(m + n, rank, generator=generator, dtype=torch.float64)
        factors = (scale * draw).to(dtype=entries.values.dtype, device=entries.values.device)
        return factors[:m].clone(), factors[m:].clone(), sigma
    root = (values / _fraction(entries)).sqrt()
    return left * root, right * root, sigma


def _exact_fit(loss: float, tol: float, scale: float) -> str | None:
    """The reason to stop when the observed residual is below ``tol`` times ``scale`` = ‖P_Ω Y‖."""
    if loss <= 0.5 * (tol * scale) ** 2:
        return f"observed residual below tol × ‖P_Ω Y‖ ({tol:.3g})"
    return None


def _plateau(losses: list[float], tol: float, scale: float | None) -> str | None:
    """Why a monotone method stops: a flat objective, or an exact fit (given ``scale``)."""
    if scale is not None and (exact := _exact_fit(losses[-1], tol, scale)) is not None:
        return exact
    if len(losses) >= 2 and 0 <= losses[-2] - losses[-1] <= tol * losses[-1]:
        return f"objective decreased by less than tol = {tol:.3g} relative (a plateau)"
    return None


def _result(
    entries: _Entries,
    u: Tensor,
    v: Tensor,
    *,
    method: str,
    losses: list[float] | Tensor,
    steps: int,
    evaluations: int,
    reason: str | None,
    max_steps: int,
    stalled: str | None = None,
) -> CompletionResult:
    """The result of a run: its factors, record and reason, and the fit on the observed entries."""
    with torch.no_grad():
        misfit = entries.predict(u, v) - entries.values
    return CompletionResult(
        left=u,
        right=v,
        method=method,
        losses=torch.as_tensor(losses, dtype=torch.float64),
        steps=steps,
        evaluations=evaluations,
        converged=reason is not None,
        reason=reason or stalled or f"reached max_steps={max_steps}",
        observed_rmse=misfit.square().mean().sqrt().item(),
    )

r"""Part 4: matrix completion, a low-rank :math:`UV^\top` fitted to the observed entries only.

:func:`complete` is the entry point, with a ``method=`` switch like :func:`gdtutor.inverse`. Every
method minimises the same objective over :math:`U \in \mathbb R^{m\times r}`,
:math:`V \in \mathbb R^{n\times r}`,

.. math:: F(U, V) = \sum_{(i,j)\in\Omega} \ell\big((UV^\top)_{ij}, Y_{ij}\big)
   + \tfrac\lambda2\big(\|U\|_F^2 + \|V\|_F^2\big),

where :math:`\Omega` is the set of observed entries, :math:`\lambda` is ``ridge`` and
:math:`\ell` the ``loss``: by default the squared loss :math:`\tfrac12(\hat y - y)^2`, for which
:math:`F` is :math:`\tfrac12\|P_\Omega(UV^\top - Y)\|_F^2` plus the ridge (``"soft-impute"``
minimises the same problem written with the nuclear norm). LAPACK's SVD cannot start here: it needs every entry.

Any other loss only changes the derivative of :math:`\ell` that multiplies the factors in the
gradient, which autograd supplies: ``"gd"`` and ``"optimizer"`` take every loss of
:data:`~gdtutor.completion.LOSSES` or a callable. ``"als"`` and ``"soft-impute"`` are built on
the squared loss's closed-form steps; ALS also takes a Huber loss, by a second algorithm
(iteratively reweighted least squares), and neither takes any other.

The data come dense (NaN or a mask marks the missing entries) or as a sparse tensor of the
observed entries only; ``"gd"``, ``"optimizer"`` and ``"als"`` never form an :math:`m \times n`
array, so a step costs :math:`O(|\Omega|\,r)` time and memory.

``"gd"`` (default)
    Gradient descent on the factors, with the balancing term
    :math:`\tfrac p8\|U^\top U - V^\top V\|_F^2` (:math:`p` the observed fraction), which keeps
    the two factors equally scaled (it vanishes at every minimiser of :math:`F` when
    :math:`\lambda > 0`, and picks the balanced ones when :math:`\lambda = 0`), so that neither
    factor's curvature dwarfs the other's.
``"optimizer"``
    Any :mod:`torch.optim` optimizer on the same objective, balancing term included.
``"als"``
    Alternating least squares: with :math:`V` fixed, each row of :math:`U` is a small ridge
    regression on that row's observed entries, and vice versa. The classical reference.
``"soft-impute"``
    Mazumder, Hastie and Tibshirani's (2010) proximal method for the nuclear norm, with the rank
    capped at ``rank`` (so the same non-convex problem as the others), one SVD per step (here a full SVD of the filled-in :math:`m \times n` matrix: a reference for
    small problems).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor import seeds
from gdtutor._methods import MethodTable
from gdtutor._validation import as_float_tensor
from gdtutor.descent import descend, make_optimizer, optimizer_class

Method = Literal["gd", "optimizer", "als", "soft-impute"]
Loss = Callable[[Tensor, Tensor], Tensor]


class _Huber:
    """The Huber loss as a callable that remembers its threshold (ALS's reweighting needs it)."""

    def __init__(self, delta: float):
        self.delta = delta
        self.__name__ = f"huber(delta={delta:g})"

    def __call__(self, prediction: Tensor, observed: Tensor) -> Tensor:
        return torch.nn.functional.huber_loss(
            prediction, observed, reduction="none", delta=self.delta
        )


def huber(delta: float = 1.0) -> Loss:
    r"""The Huber loss with threshold :math:`\delta`, in the data's units (Huber 1964).

    :math:`\tfrac12 e^2` for :math:`|e| \le \delta` and :math:`\delta(|e| - \tfrac12\delta)` beyond,
    with :math:`e = \hat y - y`: squared for small errors, linear for gross ones, so an outlier
    pulls the fit with a force of at most :math:`\delta`. ``loss="huber"`` is ``huber(1.0)``.
    For Gaussian noise of standard deviation :math:`s`, :math:`\delta = 1.345\,s` is the classical
    choice (95 % of least squares' efficiency when there are no outliers).
    """
    if not (isinstance(delta, int | float) and 0 < delta < math.inf):
        raise ValueError(f"the Huber threshold delta must be a positive number; got {delta!r}.")
    return _Huber(float(delta))


def _squared(prediction: Tensor, observed: Tensor) -> Tensor:
    return 0.5 * (prediction - observed).square()


def _absolute(prediction: Tensor, observed: Tensor) -> Tensor:
    return (prediction - observed).abs()


def _logistic(prediction: Tensor, observed: Tensor) -> Tensor:
    return torch.nn.functional.softplus(-observed * prediction)  # log(1 + exp(-y ŷ)), y = ±1


def _poisson(prediction: Tensor, observed: Tensor) -> Tensor:
    return prediction.exp() - observed * prediction  # ŷ the log of the rate


LOSSES: dict[str, Loss] = {
    "squared": _squared,
    "huber": huber(1.0),
    "absolute": _absolute,
    "logistic": _logistic,
    "poisson": _poisson,
}
r"""The losses :math:`\ell(\hat y, y)` ``complete`` takes by name.

``"squared"``
    :math:`\tfrac12(\hat y - y)^2`, the default.
``"huber"``
    :func:`~gdtutor.completion.huber` with :math:`\delta = 1`; ``loss=huber(delta)`` for another threshold.
``"absolute"``
    :math:`|\hat y - y|`. Not differentiable at 0: near a minimiser its steps overshoot, each
    rise halves gradient descent's step, and the run creeps to ``max_steps`` rather than meeting
    its gradient test; ``huber`` with a small :math:`\delta` is its smooth relative.
``"logistic"``
    :math:`\log(1 + e^{-y\hat y})` for signs :math:`y = \pm1` (observations 0/1 are read as
    :math:`\mp1`): one-bit completion, :math:`\hat y` the log-odds of a +1.
``"poisson"``
    :math:`e^{\hat y} - y\hat y` for counts :math:`y \ge 0`, :math:`\hat y` the log of the rate.

:meta hide-value:
"""


class _Entries:
    r"""The observed entries :math:`(i, j, Y_{ij})`, :math:`(i, j) \in \Omega`, in row-major order.

    Every product a method needs costs :math:`O(|\Omega|\,r)` time and memory, with no
    :math:`m \times n` array: :math:`P_\Omega(UV^\top)` is a sampled product, and
    :math:`GV`, :math:`G^\top U` for a matrix :math:`G` supported on :math:`\Omega` are
    sparse-times-dense products (compressed sparse rows, and their transpose).
    """

    def __init__(self, rows: Tensor, columns: Tensor, values: Tensor, shape: tuple[int, int]):
        m, n = shape
        self.rows, self.columns, self.values, self.shape = rows, columns, values, shape
        self.count = len(values)
        self._row_pointers = _pointers(rows, m)
        self._by_column = torch.argsort(columns * m + rows)
        self._column_pointers = _pointers(columns, n)
        self._rows_by_column = rows[self._by_column]
        self.matrix = self.supported(values)

    def supported(self, values: Tensor) -> Tensor:
        """The ``m × n`` sparse matrix with ``values`` on the observed entries."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self._row_pointers, self.columns, values, self.shape, check_invariants=False
            )

    def predict(self, u: Tensor, v: Tensor) -> Tensor:
        r""":math:`(UV^\top)_{ij}` on the observed entries, differentiable in ``u`` and ``v``."""
        return torch.sparse.sampled_addmm(self.matrix, u, v.mT, beta=0.0).values()

    def times(self, values: Tensor, v: Tensor) -> Tensor:
        """:math:`GV` for the matrix :math:`G` with ``values`` on the observed entries."""
        return self.supported(values) @ v

    def transpose_times(self, values: Tensor, u: Tensor) -> Tensor:
        r""":math:`G^\top U` for the matrix :math:`G` with ``values`` on the observed entries."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            transposed = torch.sparse_csr_tensor(
                self._column_pointers, self._rows_by_column, values[self._by_column],
                self.shape[::-1], check_invariants=False,
            )  # fmt: skip
        return transposed @ u

    def dense(self) -> tuple[Tensor, Tensor]:
        """The data with zeros where missing, and the boolean mask (``m × n`` arrays)."""
        data = torch.zeros(self.shape, dtype=self.values.dtype, device=self.values.device)
        data[self.rows, self.columns] = self.values
        observed = torch.zeros(self.shape, dtype=torch.bool, device=self.values.device)
        observed[self.rows, self.columns] = True
        return data, observed

    def with_values(self, values: Tensor) -> _Entries:
        """The same entries with other values (the index structures shared)."""
        copy = object.__new__(_Entries)
        copy.__dict__.update(self.__dict__)
        copy.values, copy.matrix = values, self.supported(values)
        return copy


def _pointers(index: Tensor, size: int) -> Tensor:
    """Compressed-sparse pointers: where each of ``size`` groups of a sorted ``index`` starts."""
    pointers = torch.zeros(size + 1, dtype=torch.int64, device=index.device)
    pointers[1:] = torch.bincount(index, minlength=size).cumsum(0)
    return pointers


def _checked_loss(loss: object, values: Tensor) -> tuple[tuple[str, Loss], Tensor]:
    """The loss as (name for messages, function), and the observed values as the loss reads them.

    The built-in losses' special cases key on the function itself, never on the name: a callable
    the user happened to name ``squared`` is differentiated by autograd like any other.
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(
                f"unknown loss {loss!r}; choose one of {tuple(LOSSES)}, or pass a callable "
                "loss(prediction, observed) -> per-entry losses."
            )
        name, function = loss, LOSSES[loss]
    elif callable(loss):
        name, function = getattr(loss, "__name__", repr(loss)), loss
    else:
        raise TypeError(f"loss must be a name from {tuple(LOSSES)} or a callable; got {loss!r}.")
    if function is _logistic:
        if bool(((values == 0) | (values == 1)).all()):
            values = 2 * values - 1
        elif not bool(((values == -1) | (values == 1)).all()):
            raise ValueError(
                "loss='logistic' fits signs: the observed entries must all be ±1 (or all 0/1); "
                f"got values such as {values[(values.abs() != 1)][:3].tolist()}."
            )
    if function is _poisson and bool((values < 0).any()):
        raise ValueError(
            "loss='poisson' fits counts: the observed entries must be non-negative; "
            f"{int((values < 0).sum())} are negative."
        )
    return (name, function), values


def _data_term(loss: tuple[str, Loss], prediction: Tensor, targets: Tensor) -> Tensor:
    r""":math:`\sum_\Omega \ell(\hat y, y)` over the observed entries' predictions and targets."""
    name, function = loss
    values = function(prediction, targets)
    if not isinstance(values, Tensor) or values.shape != prediction.shape:
        raise ValueError(
            f"loss {name} must return one value per observed entry, a tensor of shape "
            f"{tuple(prediction.shape)}; got {getattr(values, 'shape', type(values).__name__)}."
        )
    return values.sum()


def _data_term_and_derivative(
    loss: tuple[str, Loss], prediction: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    r"""The data term and its derivative :math:`\partial\ell/\partial\hat y` at each entry.

    In closed form for the squared loss (the residual), by autograd for any other.
    """
    if loss[1] is _squared:
        residual = prediction - targets
        return 0.5 * residual.square().sum(), residual
    entries = prediction.detach().requires_grad_()
    with torch.enable_grad():
        value = _data_term(loss, entries, targets)
        if not value.requires_grad:
            raise ValueError(
                f"loss {loss[0]} must be differentiable by autograd in its first argument (the "
                "prediction): build it from torch operations on it."
            )
        (derivative,) = torch.autograd.grad(value, entries)
    return value.detach(), derivative


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


def complete(
    y: object,
    rank: int,
    *,
    mask: object | None = None,
    method: Method = "gd",
    ridge: float = 0.0,
    tol: float = 1e-9,
    loss: str | Loss = "squared",
    **options: Any,
) -> CompletionResult:
    r"""Fill in the missing entries of ``y`` with a rank-``rank`` matrix fitted to the observed ones.

    Parameters
    ----------
    y
        The data, in one of two forms. Dense: an ``m × n`` float tensor or array-like whose NaN
        entries are the missing ones (the convention of pandas and of rating data), or with
        ``mask``. Sparse: an ``m × n`` sparse tensor (COO or CSR) holding only the observed
        entries, e.g. ``torch.sparse_coo_tensor(torch.stack([rows, columns]), values, (m, n))``;
        an entry it stores is observed, even a stored zero. ``"gd"``, ``"optimizer"`` and
        ``"als"`` then work in :math:`O(|\Omega|\,r)` memory, with no ``m × n`` array.
    rank
        The rank :math:`r` of the fit, from 1 to :math:`\min(m, n)`.
    mask
        For dense ``y``: a boolean ``m × n`` tensor, ``True`` where ``y`` is observed. The entries
        of ``y`` it hides are ignored (they may be NaN).
    method
        ``"gd"`` (default), ``"optimizer"``, ``"als"`` or ``"soft-impute"``; see
        :mod:`gdtutor.completion`.
    ridge
        :math:`\lambda \ge 0` in :math:`F`: shrinks the factors, which helps when the data are
        noisy or few. For ``"soft-impute"``, the weight of the nuclear norm.
    tol
        For ``"gd"``: stop when the gradient's norm is below ``tol`` times
        :math:`\|P_\Omega Y\|_F\sqrt{\hat\sigma_1/p}`. For the other methods: when an iteration
        lowers :math:`F` by less than ``tol`` times :math:`F` (a plateau). For all, with the
        squared loss: when the observed residual is below ``tol`` times :math:`\|P_\Omega Y\|_F`.
    loss
        :math:`\ell`: a name from :data:`~gdtutor.completion.LOSSES` (``"squared"``, ``"huber"``, ``"absolute"``,
        ``"logistic"``, ``"poisson"``), :func:`~gdtutor.completion.huber` with another threshold, or any callable
        ``loss(prediction, observed)`` returning the per-entry losses, differentiable by
        autograd in ``prediction``. Other than squared, only for ``"gd"`` and ``"optimizer"``
        (and Huber for ``"als"``).
    **options
        The method's own options (``max_steps``, ``lr``, ``init``, ...):
        ``print(gdtutor.show_options("complete", "gd"))``. An option the method does not take
        raises :class:`TypeError` before any work is done.

    Returns
    -------
    CompletionResult

    Raises
    ------
    ValueError
        A ``y`` that is not a matrix, a ``mask`` of another shape or not boolean (or given with a
        sparse ``y``), nothing observed, an entry of a sparse ``y`` given twice, NaN or Inf among
        the observed entries, a row or column with no observed entry (nothing can be said about
        it), a ``rank`` outside :math:`1..\min(m, n)`, a negative ``ridge`` or a ``tol`` that is
        not positive; an unknown loss, data the loss cannot read (signs for ``"logistic"``,
        counts for ``"poisson"``), a loss other than squared (or Huber, for ``"als"``)
        for ``"als"`` or ``"soft-impute"``, a callable loss that does not return per-entry values or is not
        differentiable.
    TypeError
        An option the method does not take; an unsupported dtype.

    Examples
    --------
    >>> import torch, gdtutor
    >>> truth = torch.outer(torch.arange(1.0, 5.0), torch.arange(1.0, 4.0)).double()
    >>> y = truth.clone()
    >>> y[0, 1] = y[2, 2] = float("nan")  # two missing entries
    >>> result = gdtutor.complete(y, rank=1, method="als", tol=1e-15, max_steps=500)
    >>> torch.allclose(result.completed, truth)
    True
    """
    solve = METHODS.resolve(method, options)
    entries = _checked(y, mask, rank)
    if not (isinstance(ridge, int | float) and 0 <= ridge < math.inf):
        raise ValueError(f"ridge must be a non-negative number; got {ridge!r}.")
    if not (isinstance(tol, int | float) and 0 < tol < math.inf):
        raise ValueError(f"tol must be a positive number; got {tol!r}.")
    checked_loss, values = _checked_loss(loss, entries.values)
    if values is not entries.values:
        entries = entries.with_values(values)
    return solve(entries, rank, ridge=float(ridge), tol=float(tol), loss=checked_loss, **options)


def _checked(y: object, mask: object | None, rank: int) -> _Entries:
    """The observed entries of ``y``, dense or sparse, checked."""
    if isinstance(y, Tensor) and y.layout != torch.strided:
        if mask is not None:
            raise ValueError(
                "a sparse y lists its observed entries itself; pass no mask (or pass y dense)."
            )
        if y.sparse_dim() != 2 or y.dense_dim() != 0:
            raise ValueError(
                f"a sparse y must be an m × n matrix of scalars; got shape {tuple(y.shape)}."
            )
        listed = y.to_sparse_coo()
        unique = listed.coalesce()  # sorted row-major; duplicates summed, so count them first
        if unique._nnz() < listed._nnz():
            raise ValueError(
                f"{listed._nnz() - unique._nnz()} entries of the sparse y are given more than "
                "once; give each observed entry once (average repeated ratings first)."
            )
        rows, columns = unique.indices()
        values = as_float_tensor(unique.values(), name="y's values", min_ndim=1, finite=False)
        shape = (int(y.shape[0]), int(y.shape[1]))
    else:
        data = as_float_tensor(y, name="y", finite=False)  # NaN may mark the missing entries
        if data.ndim != 2:
            raise ValueError(f"y must be a non-empty m × n matrix; got shape {tuple(data.shape)}.")
        if mask is None:
            observed = ~torch.isnan(data)
        else:
            observed = mask if isinstance(mask, Tensor) else torch.as_tensor(mask)
            if observed.dtype != torch.bool:
                raise ValueError(
                    f"mask must be boolean (True where y is observed); got dtype {observed.dtype}."
                )
            if observed.shape != data.shape:
                raise ValueError(
                    f"mask has shape {tuple(observed.shape)}, y has {tuple(data.shape)}; they "
                    "must match."
                )
            observed = observed.to(data.device)
        rows, columns = observed.nonzero().T
        values = data[rows, columns]
        shape = (data.shape[0], data.shape[1])
    if not len(values):
        raise ValueError("no entry of y is observed: there is nothing to fit.")
    if not bool(torch.isfinite(values).all()):
        bad = int((~torch.isfinite(values)).sum())
        raise ValueError(
            f"{bad} observed entries of y are NaN or Inf; mark them missing (mask, or NaN without "
            "a mask, or leave them out of a sparse y) or fix them."
        )
    for index, size, name in ((rows, shape[0], "rows"), (columns, shape[1], "columns")):
        empty = (torch.bincount(index, minlength=size) == 0).nonzero().flatten()
        if len(empty):
            shown = empty[:10].tolist() + (["..."] if len(empty) > 10 else [])
            raise ValueError(
                f"{len(empty)} {name} of y have no observed entry ({', '.join(map(str, shown))}): "
                f"nothing in the data says anything about them. Drop those {name}, or fill them "
                "with a baseline (e.g. the mean) after completing the rest."
            )
    if not (isinstance(rank, int) and 1 <= rank <= min(shape)):
        raise ValueError(
            f"rank must be an integer from 1 to min(m, n) = {min(shape)}; got {rank!r}."
        )
    return _Entries(rows, columns, values, shape)


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
    :math:`Q_1 S^{1/2}` and :math:`Q_2 S^{1/2}`. Random: small Gaussian factors.
    """
    m, n = entries.shape
    left, values, right = _top_singular(entries, rank, seed)
    sigma = values[0].item()
    if init == "spectral":
        root = (values / _fraction(entries)).sqrt()
        return left * root, right * root, sigma
    if init == "random":
        generator = seeds.generator(seed)
        scale = 1e-3 * entries.values.square().mean().sqrt().item()
        draw = torch.randn(m + n, rank, generator=generator, dtype=torch.float64)
        factors = (scale * draw).to(dtype=entries.values.dtype, device=entries.values.device)
        return factors[:m].clone(), factors[m:].clone(), sigma
    raise ValueError(f"init must be 'spectral' or 'random'; got {init!r}.")


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


def _gradient_descent(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    lr: float | None = None,
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 5000,
) -> CompletionResult:
    r"""Gradient descent on :math:`F + \tfrac p8\|U^\top U - V^\top V\|_F^2`, gradients by hand.

    .. math::

        \nabla_U = G\,V + \lambda U + \tfrac p2 U(U^\top U - V^\top V), \quad
        \nabla_V = G^\top U + \lambda V - \tfrac p2 V(U^\top U - V^\top V),

    with :math:`G_{ij} = \partial\ell/\partial\hat y` at :math:`\hat y = (UV^\top)_{ij}` on
    :math:`\Omega` and 0 elsewhere: the residual :math:`P_\Omega(UV^\top - Y)` for the squared
    loss, from autograd for any other. :math:`G` is sparse: a step costs
    :math:`O(|\Omega|\,r + (m + n)\,r^2)`.

    Stops when the gradient's norm is below ``tol`` times :math:`\|P_\Omega Y\|_F\sqrt{\hat\sigma_1/p}`
    (the size of the gradient at a start of the data's scale), which a slow escape from a small
    random start does not trigger, or when the observed residual is below ``tol`` times
    :math:`\|P_\Omega Y\|_F`.

    With a loss other than squared there is no exact-fit test (the loss need not vanish).

    A trial step that raises the objective by more than its rounding,
    :math:`10\sqrt{|\Omega|}\,u\,(\sum_\Omega|\ell| + \|P_\Omega Y\|_F\sqrt{2|F|})`, is
    retaken at half the size, and the halved size is kept for all later steps (it never grows
    back); any other step is accepted, with no sufficient-decrease (Armijo) test. The default
    step assumes a curvature the fit may outgrow: a logistic fit's log-odds can grow far beyond the
    data's :math:`\pm1`. After 60 halvings in one step, or at a non-finite gradient, it stops and
    says so.

    Parameters
    ----------
    lr
        The first step. By default :math:`1/(4\hat\sigma_1)` with :math:`\hat\sigma_1` the largest
        singular value of :math:`P_\Omega Y` (the curvature of the data term is at most that of
        :math:`\|UV^\top\|` on the observed entries, :math:`\lesssim \sigma_1`), for losses of
        curvature at most 1 (squared, Huber, logistic). For ``"poisson"``, whose curvature is the
        rate :math:`e^{\hat y}`, divided by the largest observed count and with
        :math:`\hat\sigma_1` that of :math:`P_\Omega \log(1 + Y)`.
    init
        ``"spectral"`` (default) or ``"random"``; see the Part 4 tutorial for what each does.
    seed
        For ``init="random"``, and for the random block of the subspace iteration that finds
        the top singular triplets of :math:`P_\Omega Y` (the spectral start, the step).
    max_steps
        The step budget.
    """
    start_entries = _start_entries(entries, loss)
    u, v, sigma = _start(start_entries, rank, init, seed)
    curvature = max(1.0, entries.values.max().item()) if loss[1] is _poisson else 1.0
    step = lr if lr is not None else 0.25 / (sigma * curvature)
    fraction = _fraction(entries)
    scale = start_entries.values.norm().item()
    gradient_scale = scale * math.sqrt(sigma / fraction)
    # the rounding of the objective, a sum of |Ω| terms, each with the rounding of a prediction of
    # the data's size: a rise below it is noise, not an overshoot (near an exact fit the second
    # term, ‖residual‖ · u‖P_Ω Y‖, dominates)
    noise = 10 * math.sqrt(entries.count) * torch.finfo(entries.values.dtype).eps

    def evaluate(u: Tensor, v: Tensor) -> tuple[float, Tensor, Tensor, float]:
        """The objective, the loss's derivative on Ω, the balancing gap, and the rounding slack."""
        prediction = entries.predict(u, v)
        fit, derivative = _data_term_and_derivative(loss, prediction, entries.values)
        gap = u.T @ u - v.T @ v
        value = fit + 0.5 * ridge * (u.square().sum() + v.square().sum())
        value = (value + fraction * gap.square().sum() / 8).item()
        size = abs(value)  # Σ|ℓ| for a loss that can be negative (Poisson), where F may cross 0
        if loss[1] is not _squared and math.isfinite(value):
            size = max(size, loss[1](prediction, entries.values).abs().sum().item())
        return value, derivative, gap, noise * (size + scale * math.sqrt(2 * abs(value)))

    value, derivative, gap, slack = evaluate(u, v)
    if not math.isfinite(value):
        raise ValueError(f"the objective at the start is {value}: check the data and the loss.")
    losses, evaluations, reason, steps = [value], 1, None, max_steps
    stalled = None
    for k in range(max_steps + 1):
        grad_u = entries.times(derivative, v) + ridge * u + 0.5 * fraction * u @ gap
        grad_v = entries.transpose_times(derivative, u) + ridge * v - 0.5 * fraction * v @ gap
        gradient = math.sqrt(grad_u.square().sum().item() + grad_v.square().sum().item())
        if not math.isfinite(gradient):
            raise ValueError(
                f"the gradient at step {k} is not finite: loss {loss[0]}'s derivative is NaN or "
                "infinite at the current predictions (e.g. a square root or log at 0)."
            )
        reason = _exact_fit(value, tol, scale) if loss[1] is _squared else None
        if reason is None and gradient <= tol * gradient_scale:
            reason = f"gradient below tol × ‖P_Ω Y‖√(σ₁/p) ({tol:.3g}): a stationary point"
        if reason is not None or k == max_steps:
            steps = k
            break
        for _ in range(60):  # a step that raises the objective is retaken at half the size
            trial = (u - step * grad_u, v - step * grad_v)
            trial_value, trial_derivative, trial_gap, trial_slack = evaluate(*trial)
            evaluations += 1
            if trial_value <= value + slack:
                break
            step /= 2
        else:
            stalled, steps = (
                (
                    f"stalled at step {k}: 60 halvings of the step did not lower the objective "
                    "(a kink in the loss, a derivative that does not descend, or the rounding floor)"
                ),
                k,
            )
            break
        (u, v), value, derivative, gap, slack = (
            trial,
            trial_value,
            trial_derivative,
            trial_gap,
            trial_slack,
        )
        losses.append(value)
    return _result(
        entries, u, v, method="gd", losses=losses, steps=steps,
        evaluations=evaluations, reason=reason, max_steps=max_steps, stalled=stalled,
    )  # fmt: skip


def _with_optimizer(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    optimizer: str | type[Optimizer] = "adam",
    lr: float = 1e-2,
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 5000,
    **optimizer_options: Any,
) -> CompletionResult:
    r"""A :mod:`torch.optim` optimizer on the same objective as ``"gd"``, gradients by autograd.

    Parameters
    ----------
    optimizer
        A :mod:`torch.optim` optimizer's name or class.
    lr
        Its learning rate.
    init, seed
        As for ``"gd"``.
    max_steps
        The step budget.
    **optimizer_options
        Further options of the optimizer's constructor.
    """
    u, v, _ = _start(_start_entries(entries, loss), rank, init, seed)
    cls = optimizer_class(optimizer)
    try:
        built = make_optimizer(cls, [u, v], lr=lr, **optimizer_options)
    except TypeError as error:
        raise TypeError(
            f"complete(method='optimizer') with {error} "
            f"The method's own options are {METHODS.describe('optimizer')}."
        ) from None
    scale = entries.values.norm().item() if loss[1] is _squared else None
    recorded: list[float] = []

    def stop() -> str | None:
        return _plateau(recorded, tol, scale)

    def objective() -> Tensor:
        value = _objective(entries, u, v, ridge, balance=True, loss=loss)
        recorded.append(value.item())
        return value

    run = descend(objective, [u, v], built, max_steps=max_steps, stop=stop)
    return _result(
        entries, run.params[0], run.params[1], method="optimizer", losses=run.losses,
        steps=run.steps, evaluations=run.evaluations, reason=run.reason if run.converged else None,
        max_steps=max_steps,
    )  # fmt: skip


def _alternating_least_squares(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    init: str = "spectral",
    seed: int = 0,
    max_steps: int = 100,
) -> CompletionResult:
    r"""Alternating ridge least squares: exact minimisation over one factor, then the other.

    Row :math:`i` of :math:`U` solves :math:`(V_i^\top W_i V_i + \lambda I)u_i = V_i^\top W_i y_i`,
    with :math:`V_i` the rows of :math:`V` at row :math:`i`'s observed columns and :math:`W_i` their
    weights; all rows at once, as one batch of :math:`r \times r` systems. The Gram matrices of all
    rows are one sparse product, the weights on :math:`\Omega` times the rows
    :math:`v_j \otimes v_j`: :math:`O(|\Omega|\,r^2)` per half-sweep.

    For the squared loss every weight is 1 and each half-sweep minimises :math:`F` over one
    factor. For a Huber loss the weights are :math:`w = \min(1, \delta/|e|)` at the current
    residuals :math:`e`, recomputed before each half-sweep: iteratively reweighted least squares,
    a majorise–minimise scheme (the weighted square :math:`\tfrac12 w e^2` plus a constant lies
    above the Huber loss and touches it at the current residual), so each half-sweep still
    lowers :math:`F` (IRLS for M-estimators: Holland and Welsch 1977). Other losses need their own
    majorisers (a logistic loss has one from its curvature bound 1/4); none is implemented here.

    Parameters
    ----------
    init, seed
        As for ``"gd"``.
    max_steps
        The sweep budget (one sweep updates both factors).
    """
    reweighted = isinstance(loss[1], _Huber)
    if not reweighted:
        _squared_only("als", loss, also=" (and a Huber loss's, by reweighting)")
    u, v, _ = _start(entries, rank, init, seed)
    eye = torch.eye(rank, dtype=entries.values.dtype, device=entries.values.device)
    weights = torch.ones_like(entries.values)
    scale = entries.values.norm().item()

    def solve_rows(times: Callable[[Tensor, Tensor], Tensor], other: Tensor) -> Tensor:
        outer = (other[:, :, None] * other[:, None, :]).reshape(len(other), rank * rank)
        gram = times(weights, outer).reshape(-1, rank, rank) + ridge * eye
        right_side = times(weights * entries.values, other)
        # a row whose Gram is singular (ridge 0, fewer entries than the rank) gets the least-norm fit
        return torch.linalg.lstsq(gram, right_side.unsqueeze(-1)).solution.squeeze(-1)

    def reweight() -> Tensor:
        delta = loss[1].delta  # type: ignore[attr-defined]
        error = (entries.predict(u, v) - entries.values).abs()
        return torch.where(error <= delta, 1.0, delta / error)

    losses = [_objective(entries, u, v, ridge, balance=False, loss=loss).item()]
    reason = None
    steps = max_steps
    for k in range(1, max_steps + 1):
        if reweighted:
            weights = reweight()
        u = solve_rows(entries.times, v)
        if reweighted:
            weights = reweight()
        v = solve_rows(entries.transpose_times, u)
        losses.append(_objective(entries, u, v, ridge, balance=False, loss=loss).item())
        if (reason := _plateau(losses, tol, scale if not reweighted else None)) is not None:
            steps = k
            break
    return _result(
        entries, u, v, method="als", losses=losses, steps=steps,
        evaluations=(5 if reweighted else 3) * steps, reason=reason, max_steps=max_steps,
    )  # fmt: skip


def _soft_impute(
    entries: _Entries,
    rank: int,
    *,
    ridge: float,
    tol: float,
    loss: tuple[str, Loss],
    max_steps: int = 500,
) -> CompletionResult:
    r"""Soft-impute: :math:`Z \leftarrow \mathcal S_\lambda\big(P_\Omega Y + P_\Omega^\perp Z\big)`.

    :math:`\mathcal S_\lambda` shrinks every singular value by :math:`\lambda` (``ridge``) and keeps
    the top ``rank``: proximal gradient on
    :math:`\tfrac12\|P_\Omega(Z - Y)\|_F^2 + \lambda\|Z\|_*` over matrices of rank at most
    ``rank``. Since :math:`\|Z\|_*` is the least :math:`\tfrac12(\|U\|_F^2 + \|V\|_F^2)` over
    :math:`UV^\top = Z`, that is the factored objective's problem. It is the convex nuclear-norm
    problem only when the cap removes nothing (all shrunk values beyond ``rank`` are 0). The
    factors returned are :math:`U S^{1/2}` and :math:`V S^{1/2}`.

    This implementation forms the filled-in :math:`m \times n` matrix and takes its full SVD at
    every step, a reference for small problems; the published method computes only the top
    singular triplets, by products with the sparse-plus-low-rank matrix.

    Parameters
    ----------
    max_steps
        The step budget.
    """
    _squared_only("soft-impute", loss)
    data, observed = entries.dense()
    z = torch.zeros_like(data)
    scale = entries.values.norm().item()
    losses: list[float] = []
    reason = None
    steps = max_steps
    u = v = torch.zeros(data.shape[0], rank, dtype=data.dtype, device=data.device)
    for k in range(max_steps + 1):
        filled = torch.where(observed, data, z)
        left, s, vh = torch.linalg.svd(filled, full_matrices=False)
        shrunk = (s[:rank] - ridge).clamp(min=0)
        root = shrunk.sqrt()
        u, v = left[:, :rank] * root, vh[:rank].T * root
        z = u @ v.T
        misfit = torch.where(observed, z - data, torch.zeros_like(data))
        losses.append((0.5 * misfit.square().sum() + ridge * shrunk.sum()).item())
        if (reason := _plateau(losses, tol, scale)) is not None:
            steps = k
            break
    return _result(
        entries, u, v, method="soft-impute", losses=losses, steps=steps,
        evaluations=steps + 1, reason=reason, max_steps=max_steps,
    )  # fmt: skip


# The methods of complete(), each with its own options: gdtutor.show_options("complete").
METHODS = MethodTable(
    "complete",
    {
        "gd": _gradient_descent,
        "optimizer": _with_optimizer,
        "als": _alternating_least_squares,
        "soft-impute": _soft_impute,
    },
    shared=("ridge", "tol", "loss"),
)


def local_average_fill(image: Tensor, observed: Tensor, *, size: int = 5) -> Tensor:
    r"""Fill each missing pixel with the mean of the observed pixels in its ``size × size`` window.

    Normalised convolution: :math:`\text{box} * (M \odot Y) / \text{box} * M`. A local prior, the
    opposite of a low-rank one: it knows that neighbouring pixels are alike, nothing about rows
    and columns. Observed pixels are kept; a pixel with no observed neighbour stays 0.
    """
    kernel = torch.ones(1, 1, size, size, dtype=image.dtype, device=image.device)
    weights = observed.to(image.dtype)
    sums = torch.nn.functional.conv2d((image * weights)[None, None], kernel, padding=size // 2)
    counts = torch.nn.functional.conv2d(weights[None, None], kernel, padding=size // 2)
    average = (sums / counts.clamp(min=1))[0, 0]
    return torch.where(observed, image, average)

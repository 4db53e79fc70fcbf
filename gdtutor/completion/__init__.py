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

from typing import Any, Literal

from gdtutor._methods import MethodTable
from gdtutor._validation import check_count, check_nonnegative, check_positive
from gdtutor.completion import losses
from gdtutor.completion._common import CompletionResult
from gdtutor.completion._common import _objective as _objective
from gdtutor.completion._common import _top_singular as _top_singular
from gdtutor.completion.als import _alternating_least_squares
from gdtutor.completion.baselines import local_average_fill
from gdtutor.completion.entries import _checked
from gdtutor.completion.entries import _Entries as _Entries
from gdtutor.completion.gradient_descent import _gradient_descent
from gdtutor.completion.losses import Loss, _checked_loss, huber
from gdtutor.completion.losses import _data_term_and_derivative as _data_term_and_derivative
from gdtutor.completion.soft_impute import _soft_impute
from gdtutor.completion.with_optimizer import _with_optimizer

__all__ = [
    "LOSSES",
    "METHODS",
    "CompletionResult",
    "Loss",
    "Method",
    "complete",
    "huber",
    "local_average_fill",
]

Method = Literal["gd", "optimizer", "als", "soft-impute"]

LOSSES: dict[str, Loss] = losses.LOSSES
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
        raises :class:`TypeError`, and a value it cannot take :class:`ValueError` (a ``seed``
        that is not an integer: :class:`TypeError`), before any work is done: each method checks
        its options first.

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
        not positive; an option's value the method cannot take (a ``max_steps`` that is not a
        non-negative integer, an ``lr`` that is not positive, an unknown ``init`` or
        ``optimizer``); an unknown loss, data the loss cannot read (signs for ``"logistic"``,
        counts for ``"poisson"``), a loss other than squared (or Huber, for ``"als"``)
        for ``"als"`` or ``"soft-impute"``, a callable loss that does not return per-entry values or is not
        differentiable.
    TypeError
        An option the method does not take; a ``seed`` that is not an integer; an unsupported
        dtype.

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
    solve, options = METHODS.resolve(method, options)
    ridge = check_nonnegative("ridge", ridge)
    tol = check_positive("tol", tol)
    rank = check_count("rank", rank)  # its range is checked against the data's shape
    entries = _checked(y, mask, rank)  # the data checked and indexed: no product yet
    checked_loss, values = _checked_loss(loss, entries.values)
    if values is not entries.values:
        entries = entries.with_values(values)
    return solve(entries, rank, ridge=ridge, tol=tol, loss=checked_loss, **options)


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

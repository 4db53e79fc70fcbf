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
from typing import Any

import torch

from gdtutor import operators
from gdtutor._methods import MethodTable
from gdtutor._validation import as_float_tensor, check_count, check_positive
from gdtutor.decomposition._common import (
    Callback,
    IterateHistory,
    Method,
    SVDResult,
    orthonormal_factor,
    sign_convention,
)
from gdtutor.decomposition.brockett import _brockett, largest_singular_value_estimate, pair_sweeps
from gdtutor.decomposition.lobpcg import _lobpcg
from gdtutor.decomposition.orthogonal_iteration import _orthogonal_iteration
from gdtutor.decomposition.scheme_2020 import (
    _scheme_2020,
    _scheme_2020_adam,
    penalty_loss_2020,
    svd_2020,
)
from gdtutor.decomposition.stiefel import StiefelSGD, tangent_projection
from gdtutor.matrices import SEED_2020

__all__ = [
    "METHODS",
    "SEED_2020",
    "Callback",
    "IterateHistory",
    "Method",
    "SVDResult",
    "StiefelSGD",
    "largest_singular_value_estimate",
    "orthonormal_factor",
    "pair_sweeps",
    "penalty_loss_2020",
    "sign_convention",
    "svd",
    "svd_2020",
    "tangent_projection",
]

_MATRIX_FREE = ("lobpcg", "orthogonal-iteration")  # the methods that only multiply by A and Aᵀ


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
    solve, options = METHODS.resolve(method, options)
    tol = check_positive("tol", tol, optional=True)
    if not operators.is_products(a):
        a = as_float_tensor(a)
        return solve(a, _checked_k(k, *a.shape[-2:]), tol=tol, **options)
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
        result = solve(products, _checked_k(k, *products.shape), tol=tol, **options)
    return dataclasses.replace(result, evaluations=result.evaluations + checks)


def _checked_k(k: object, m: int, n: int) -> int | None:
    """``k`` as an int from 1 to min(m, n), or ``None``."""
    if k is None:
        return None
    count = check_count("k", k)
    if not 1 <= count <= min(m, n):  # type: ignore[operator]
        raise ValueError(f"k must be an integer from 1 to min(m, n) = {min(m, n)}; got {k!r}.")
    return count


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

r"""Part 2: the matrix inverse as the minimiser of :math:`f(X) = \tfrac12\|AX - I\|_F^2`.

:func:`inverse` is the entry point, with a ``method=`` switch in the style of
:func:`scipy.optimize.minimize`. Each method owns its options (``gdtutor.show_options("inverse")``
lists them); ``tol`` means the same for all of them: the relative residual
:func:`~gdtutor.metrics.inverse_relative_residual`, :math:`\|AX - I\|_F/\sqrt n`, of every matrix.

``"newton-schulz"`` (default)
    :math:`X \leftarrow X(2I - AX)`: Newton's method on :math:`X^{-1} - A`, quadratically
    convergent from :math:`X_0 = A^\top / (\|A\|_1\|A\|_\infty)`, two matrix products a step.
``"cgnr"``
    Conjugate gradients on the normal equations :math:`A^\top A X = A^\top` (CGLS form): the
    fastest first-order method on this quadratic.
``"gd"``
    Plain gradient descent with the optimal fixed step :math:`2/(\sigma_1^2 + \sigma_n^2)`: the
    error contracts by :math:`\max_i |1 - \alpha\sigma_i^2|` per step, smallest at that step,
    where it is :math:`(\kappa^2 - 1)/(\kappa^2 + 1)`; steps above :math:`2/\sigma_1^2` diverge.
``"optimizer"``
    Any :mod:`torch.optim` optimizer (``optimizer="adam"``, ``lr=...``) on the same loss.
``"2020"``
    The 2020 blog series' scheme, faithfully: MSE of :math:`XA` against :math:`I`, heavy-ball
    momentum 0.9 with step 0.9, :math:`X_0` uniform random after seed 314, 10,000 steps.

Each method lives in a module of its own, with its references: ``newton_schulz``, ``cgnr``,
``gradient_descent``, ``with_optimizer`` and ``scheme_2020``; ``heavy_ball`` tunes Polyak's heavy
ball for ``"optimizer"``, and ``_common`` holds what they share. Every method checks all its
options before any product.

For dense problems that fit in memory, :func:`torch.linalg.solve` or :func:`torch.linalg.inv` is
faster and at least as accurate; the tutorial measures by how much.
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor

from gdtutor._methods import MethodTable
from gdtutor._validation import as_float_tensor, check_flag, check_positive
from gdtutor.inversion._common import (
    InverseResult,
    SingularMatrixError,
    extreme_singular_values,
    identity_residual,
    inverse_loss,
    inverse_loss_gradient,
)
from gdtutor.inversion.cgnr import _cgnr
from gdtutor.inversion.gradient_descent import _gradient_descent
from gdtutor.inversion.heavy_ball import heavy_ball_modes, heavy_ball_parameters
from gdtutor.inversion.newton_schulz import _newton_schulz, newton_schulz_start
from gdtutor.inversion.scheme_2020 import _scheme_2020
from gdtutor.inversion.with_optimizer import _with_optimizer

__all__ = [
    "METHODS",
    "InverseResult",
    "Method",
    "SingularMatrixError",
    "extreme_singular_values",
    "heavy_ball_modes",
    "heavy_ball_parameters",
    "identity_residual",
    "inverse",
    "inverse_loss",
    "inverse_loss_gradient",
    "newton_schulz_start",
]

Method = Literal["newton-schulz", "cgnr", "gd", "optimizer", "2020"]


def inverse(
    a: object,
    method: Method = "newton-schulz",
    *,
    pseudo: bool = False,
    tol: float | None = None,
    **options: Any,
) -> InverseResult:
    r"""Compute :math:`A^{-1}` (or the pseudo-inverse :math:`A^+`) by an iterative method.

    Parameters
    ----------
    a
        A float tensor or array-like of shape ``(..., n, n)``, or ``(..., m, n)`` with
        ``pseudo=True``. Its dtype and device are kept (integers become float64). Any finite
        input whose inverse is representable works: the scale-free methods (Newton–Schulz,
        CGNR, ``"gd"`` with its optimal step) scale :math:`A` by a power of two first, which is
        exact. Input that requires grad is accepted; the methods compute on its values, and the
        result carries no gradient (use :func:`torch.linalg.inv` to differentiate through an
        inverse).
    method
        ``"newton-schulz"`` (default), ``"cgnr"``, ``"gd"``, ``"optimizer"`` or ``"2020"``; see
        :mod:`gdtutor.inversion`.
    pseudo
        Compute the Moore–Penrose pseudo-inverse: allowed for rectangular and singular input.
        Gradient methods then start from :math:`X_0 = 0`, whose iterates stay in the row space of
        :math:`A` and converge to :math:`A^+`.
    tol
        Stop once every matrix's relative residual :math:`\|AX - I\|_F/\sqrt n`
        (:func:`~gdtutor.metrics.inverse_relative_residual`) is at most ``tol``, whatever the
        method. ``None`` runs Newton–Schulz and CGNR to their rounding floor and the gradient
        methods for their step budget. Not with ``pseudo=True``, where :math:`AX - I` need not
        vanish.
    **options
        The method's own options, such as ``max_steps``, ``lr`` or ``optimizer``; each method
        documents its own, with their defaults: ``print(gdtutor.show_options("inverse", "gd"))``.
        An option the method does not take raises :class:`TypeError` before any work is done.

    Returns
    -------
    InverseResult

    Raises
    ------
    ValueError
        Non-square input without ``pseudo=True``; NaN/Inf or empty input; an unknown method; a
        ``tol`` that is not positive, or given with ``pseudo=True``; an inverse that overflows.
    SingularMatrixError
        Newton–Schulz on input singular to working precision without ``pseudo=True``; the error
        names the matrices of a batch at fault.
    TypeError
        An option the method does not take; boolean, complex or half-precision input.
    gdtutor.descent.DivergenceError
        When a gradient method's step size makes it diverge (the message gives a stable one).

    Examples
    --------
    >>> import torch, gdtutor
    >>> a = torch.tensor([[4.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    >>> result = gdtutor.inverse(a)
    >>> torch.allclose(result.inverse, torch.linalg.inv(a))
    True
    """
    solve, options = METHODS.resolve(method, options)
    pseudo = check_flag("pseudo", pseudo)
    tol = check_positive("tol", tol, optional=True)
    a = as_float_tensor(a)
    if not pseudo:
        _require_square(a)
    if tol is not None:
        if pseudo:
            raise ValueError(
                "tol bounds ‖AX - I‖, which need not vanish at the pseudo-inverse; with "
                "pseudo=True leave tol=None (the methods stop at their rounding floor or max_steps)."
            )
    return solve(a, pseudo=pseudo, tol=tol, **options)


def _require_square(a: Tensor) -> None:
    """Raise a clear error unless the trailing two dimensions of ``a`` are equal."""
    m, n = a.shape[-2:]
    if m != n:
        raise ValueError(
            f"A must be square to have an inverse; got shape {tuple(a.shape)}. "
            "For a rectangular matrix ask for the pseudo-inverse (pseudo=True)."
        )


# The methods of inverse(), each with its own options: gdtutor.show_options("inverse").
METHODS = MethodTable(
    "inverse",
    {
        "newton-schulz": _newton_schulz,
        "cgnr": _cgnr,
        "gd": _gradient_descent,
        "optimizer": _with_optimizer,
        "2020": _scheme_2020,
    },
    shared=("pseudo", "tol"),
)

r"""Part 1 helpers: derivatives by autograd, checked against finite differences.

Autograd computes exact derivatives of the operations it records (up to rounding); finite
differences approximate them and trade truncation error against rounding error. These helpers
make that trade-off visible.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor.metrics import unit_roundoff

ScalarFunction = Callable[[Tensor], Tensor]


def elementwise_derivative(f: ScalarFunction, x: Tensor) -> Tensor:
    r"""Derivative :math:`f'(x_i)` of an elementwise function at every point, in one backward pass.

    For :math:`y = f(x)` applied entry by entry the Jacobian is diagonal, so the vector-Jacobian
    product with a vector of ones, :math:`\mathbf 1^\top J`, is exactly its diagonal
    :math:`f'(x)`. This is ``y.backward(torch.ones_like(y))``, the 2020 series' trick.

    Parameters
    ----------
    f
        A function applied elementwise, such as :func:`torch.sin`.
    x
        The points; not modified.
    """
    point = x.detach().clone().requires_grad_(True)
    y = f(point)
    if y.shape != point.shape:
        raise ValueError(
            f"f must act elementwise: it maps shape {tuple(x.shape)} to {tuple(y.shape)}."
        )
    (derivative,) = torch.autograd.grad(y, point, grad_outputs=torch.ones_like(y))
    return derivative


def finite_difference_gradient(f: ScalarFunction, x: Tensor, h: float | None = None) -> Tensor:
    r"""Central-difference gradient of a scalar function, one coordinate at a time.

    .. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    Parameters
    ----------
    f
        A function from a tensor of ``x``'s shape to a scalar tensor.
    x
        The point, of any shape and float dtype; the gradient has the same shape and dtype.
    h
        The step; by default :func:`optimal_step` for ``x``'s dtype.

    Notes
    -----
    Costs ``2 x.numel()`` evaluations of ``f``: fine for checks, far too slow for training.
    """
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor; got {x.dtype}.")
    step = optimal_step(x.dtype) if h is None else h
    if step <= 0:
        raise ValueError(f"the step h must be positive; got {h}.")
    flat = x.detach().flatten()
    gradient = torch.empty_like(flat)
    with torch.no_grad():
        for i in range(flat.numel()):
            shift = torch.zeros_like(flat)
            shift[i] = step
            forward = f((flat + shift).view_as(x))
            backward = f((flat - shift).view_as(x))
            gradient[i] = (forward - backward) / (2 * step)
    return gradient.view_as(x)


def optimal_step(dtype: torch.dtype) -> float:
    r"""The central-difference step that balances truncation and rounding error, :math:`(3u)^{1/3}`.

    With unit roundoff :math:`u` (half the machine epsilon ``torch.finfo(dtype).eps``) the error
    is about :math:`E(h) = h^2|f'''|/6 + uF/h` with :math:`F = |f| + |x\,f'|`
    (:func:`central_difference_error_model`), smallest at :math:`h = (3uF/|f'''|)^{1/3}`: for
    :math:`F` and :math:`f'''` of order one, :math:`(3u)^{1/3}`, about ``5.6e-3`` in float32 and
    ``6.9e-6`` in float64.
    """
    return (3 * unit_roundoff(dtype)) ** (1 / 3)


def central_difference_error_model(
    h: Tensor,
    *,
    dtype: torch.dtype,
    value: float = 1.0,
    third_derivative: float = 1.0,
    point: float = 0.0,
    derivative: float = 0.0,
) -> Tensor:
    r"""The textbook estimate (not a bound) of a central difference's error at step ``h``.

    .. math:: E(h) = \frac{h^2}{6} |f'''(x)| + \frac{u\,(|f(x)| + |x\,f'(x)|)}{h}

    where :math:`u` is the unit roundoff of ``dtype`` (``torch.finfo(dtype).eps / 2``). The first
    term is truncation error (Taylor series); the second is rounding divided by the small step:
    of :math:`f`'s values (``value``), and of the abscissas :math:`x \pm h` themselves, whose
    error :math:`u|x|` moves :math:`f` by :math:`u|x\,f'(x)|` (``point`` and ``derivative``; 0
    by default, as at :math:`x = 0`). Each rounding is charged :math:`u`, the most a correctly
    rounded operation errs. It is not a bound: a library function may err by a whole ulp (up to
    :math:`2u` relative), and the subtraction and the division are left out. Measured errors
    usually lie a few times below it.
    """
    roundoff = unit_roundoff(dtype)
    h = h.to(torch.float64)
    rounding = abs(value) + abs(point * derivative)
    return h**2 / 6 * abs(third_derivative) + roundoff * rounding / h

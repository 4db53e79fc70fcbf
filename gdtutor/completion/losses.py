r"""The losses :math:`\ell(\hat y, y)` of :func:`~gdtutor.completion.complete`, and the data term they make.

Every method minimises :math:`\sum_{(i,j)\in\Omega} \ell\big((UV^\top)_{ij}, Y_{ij}\big)` plus the
ridge. The squared loss has a closed-form derivative (the residual); any other loss's
derivative :math:`\partial\ell/\partial\hat y` comes from autograd.

References
----------
P. J. Huber (1964). Robust estimation of a location parameter. *The Annals of Mathematical
Statistics* 35(1), 73–101. doi:10.1214/aoms/1177703732

M. A. Davenport, Y. Plan, E. van den Berg and M. Wootters (2014). 1-bit matrix completion.
*Information and Inference: A Journal of the IMA* 3(3), 189–223 (the logistic loss on signs).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from gdtutor._validation import check_positive

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
    return _Huber(check_positive("the Huber threshold delta", delta))


def _squared(prediction: Tensor, observed: Tensor) -> Tensor:
    return 0.5 * (prediction - observed).square()


def _absolute(prediction: Tensor, observed: Tensor) -> Tensor:
    return (prediction - observed).abs()


def _logistic(prediction: Tensor, observed: Tensor) -> Tensor:
    return torch.nn.functional.softplus(-observed * prediction)  # log(1 + exp(-y ŷ)), y = ±1


def _poisson(prediction: Tensor, observed: Tensor) -> Tensor:
    return prediction.exp() - observed * prediction  # ŷ the log of the rate


# The losses complete() takes by name; documented as gdtutor.completion.LOSSES (in __init__.py,
# where the API reference reads a name's docstring).
LOSSES: dict[str, Loss] = {
    "squared": _squared,
    "huber": huber(1.0),
    "absolute": _absolute,
    "logistic": _logistic,
    "poisson": _poisson,
}


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

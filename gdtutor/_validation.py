"""Input checks shared by every public function: clear errors instead of silent NaNs."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

SUPPORTED_DTYPES = (torch.float32, torch.float64)
_EXACT_INTEGER_LIMIT = 2**53  # integers up to this size convert to float64 exactly


def as_float_tensor(
    x: object, *, name: str = "A", min_ndim: int = 2, finite: bool = True
) -> Tensor:
    """Return ``x`` as a finite float32/float64 tensor, keeping its dtype and device.

    Parameters
    ----------
    x
        A tensor or anything :func:`torch.as_tensor` accepts (NumPy array, nested lists).
    name
        The argument's name, used in error messages.
    min_ndim
        The least number of dimensions accepted (2 for matrices, batches ``(..., m, n)`` allowed).
    finite
        Reject NaN/Inf entries. ``False`` leaves that to the caller, for data in which NaN marks
        a missing entry (:func:`gdtutor.complete`).

    Returns
    -------
    Tensor
        Detached from autograd (the methods compute on values; their results carry no gradient).
        Float tensors keep their dtype; integer tensors whose values are exact in float64 are
        converted to float64 (as :func:`numpy.linalg.inv` does).

    Raises
    ------
    TypeError
        For boolean, complex, half-precision or other unsupported dtypes.
    ValueError
        For too few dimensions, empty input, or NaN/Inf entries.
    """
    try:
        tensor = x if isinstance(x, Tensor) else torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{name} must be a tensor or array-like of numbers; got {type(x).__name__}."
        ) from error
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise TypeError(
            f"{name} has dtype {tensor.dtype}; gdtutor works with real float32 or float64 tensors. "
            f"Convert it first, e.g. {name}.double()."
        )
    if not tensor.is_floating_point():
        if tensor.numel() and tensor.abs().max().item() > _EXACT_INTEGER_LIMIT:
            raise TypeError(
                f"{name} has integer entries beyond 2**53 that float64 cannot represent exactly; "
                "scale the data or convert it yourself."
            )
        tensor = tensor.to(torch.float64)
    elif tensor.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} has dtype {tensor.dtype}, which is too imprecise for these methods; "
            f"use {name}.float() or {name}.double()."
        )
    if tensor.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions; got shape {tuple(tensor.shape)}."
        )
    if tensor.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(tensor.shape)}); there is nothing to compute."
        )
    # A finite sum proves every entry finite (NaN and ±Inf propagate), at a fraction of the cost
    # of testing every entry; a sum that overflows falls back to the entrywise test.
    if finite and not torch.isfinite(tensor.sum()) and not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or Inf entries; remove or impute them before calling this function."
        )
    return tensor.detach()


# Options, checked first in every method (before any product), each kind by one function. Each
# returns the value as a plain Python number (a NumPy scalar or a 0-d tensor is accepted and
# converted), so that results carry Python ints and floats.


def plain(value: object) -> object:
    """A NumPy scalar or a 0-d tensor as the Python number it holds; anything else as it is."""
    if isinstance(value, np.generic | Tensor) and value.ndim == 0:
        return value.item()
    return value


def _is_integer(value: object) -> bool:
    """An integer, Python's or NumPy's (``numbers.Integral``), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    """A real number, Python's or NumPy's (``numbers.Real``), but not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_count(name: str, value: object, *, optional: bool = False) -> int | None:
    """``value`` is a non-negative integer (or ``None`` if ``optional``): a step budget, a size."""
    value = plain(value)
    if value is None and optional:
        return None
    if not (_is_integer(value) and value >= 0):  # type: ignore[operator]
        none = " or None" if optional else ""
        raise ValueError(f"{name} must be a non-negative integer{none}; got {value!r}.")
    return int(value)  # type: ignore[call-overload]


def check_positive(name: str, value: object, *, optional: bool = False) -> float | None:
    """``value`` is a finite real number above zero (or ``None`` if ``optional``): a step size."""
    value = plain(value)
    if value is None and optional:
        return None
    if not (_is_real(value) and 0 < value < math.inf):  # type: ignore[operator]
        none = " or None" if optional else ""
        raise ValueError(f"{name} must be a finite positive number{none}; got {value!r}.")
    return float(value)  # type: ignore[arg-type]


def check_nonnegative(name: str, value: object) -> float:
    """``value`` is a finite real number, zero or above: a weight decay, a ridge."""
    value = plain(value)
    if not (_is_real(value) and 0 <= value < math.inf):  # type: ignore[operator]
        raise ValueError(f"{name} must be a finite non-negative number; got {value!r}.")
    return float(value)  # type: ignore[arg-type]


def check_fraction(name: str, value: object) -> float:
    """``value`` is a real number in [0, 1): a momentum."""
    value = plain(value)
    if not (_is_real(value) and 0 <= value < 1):  # type: ignore[operator]
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}.")
    return float(value)  # type: ignore[arg-type]


def check_flag(name: str, value: object) -> bool:
    """``value`` is ``True`` or ``False`` (NumPy's too)."""
    value = plain(value)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}.")
    return value


def check_seed(value: object) -> int:
    """``value`` is an integer seed that torch's generators take (a signed 64-bit integer)."""
    value = plain(value)
    if not _is_integer(value):
        raise TypeError(f"seed must be an integer; got {value!r}.")
    if not -(2**63) <= value < 2**63 - 2**32:  # type: ignore[operator]  # room for GDTUTOR_SEED_SHIFT
        raise ValueError(f"seed must be a signed 64-bit integer; got {value!r}.")
    return int(value)  # type: ignore[call-overload]


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")
    return value


def check_function(name: str, value: object) -> None:
    """``value`` is ``None`` or callable: a callback, a scheduler factory."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function or None; got {type(value).__name__}.")


def check_callback(value: object) -> None:
    """``value`` is ``None`` or a function, called at every iterate."""
    check_function("callback", value)

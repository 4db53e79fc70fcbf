"""Seeds that a reader can shift, to ask whether a claim holds for other random matrices too.

Every random draw the tutorials make goes through a seed: the matrix factories of
:mod:`gdtutor.matrices`, the random starts of the methods, the generators on the pages. The
environment variable ``GDTUTOR_SEED_SHIFT`` (an integer, 0 when unset) adds the same shift to each
of them, so that running a tutorial with ``GDTUTOR_SEED_SHIFT=3`` draws other matrices and starts
and checks every claim again on them. The book's robustness sweep does that (``nox -s sweep``).

Only the draws that reproduce the 2020 series' outputs keep their historical seeds:
:func:`gdtutor.matrices.seeded_rand` is ``torch.manual_seed(seed); torch.rand(...)`` as written in
2020, and is never shifted.

With ``GDTUTOR_SEED_SHIFT=3``, ``shifted(7)`` is 10 and ``generator(7)`` is seeded with 10.
"""

from __future__ import annotations

import numbers
import os

import torch

#: The environment variable that shifts every seed (an integer; 0 when unset or empty).
SHIFT_VARIABLE = "GDTUTOR_SEED_SHIFT"


def seed_shift() -> int:
    """The shift added to every seed: the integer in ``GDTUTOR_SEED_SHIFT``, 0 when unset.

    Raises
    ------
    ValueError
        When the variable holds anything but an integer.
    """
    text = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"{SHIFT_VARIABLE} must be an integer (the shift added to every seed); got {text!r}. "
            f"Unset it, or set it to e.g. 1."
        ) from None


def shifted(seed: int) -> int:
    """``seed`` plus :func:`seed_shift`: the seed a draw that is not a 2020 reproduction uses."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"a seed is an int; got {type(seed).__name__} ({seed!r}).")
    return int(seed) + seed_shift()


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private :class:`torch.Generator` seeded with :func:`shifted` ``(seed)``.

    Use it as ``torch.randn(..., generator=generator(5))``: the draw does not touch PyTorch's
    global random state.
    """
    return torch.Generator(device=device).manual_seed(shifted(seed))


def manual_seed(seed: int) -> torch.Generator:
    """:func:`torch.manual_seed` with :func:`shifted` ``(seed)``.

    For code that draws from the global generator: ``torch.nn`` layers' initial weights,
    :func:`torch.svd_lowrank`.
    """
    return torch.manual_seed(shifted(seed))

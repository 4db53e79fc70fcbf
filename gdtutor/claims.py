r"""Claims a page makes about its numbers: checked when the page runs, collected into a ledger.

A tutorial that writes "Newton–Schulz reaches the κ·u floor" checks it with :func:`claim`::

    claim("Newton–Schulz reaches LAPACK's floor", residual, "<", 10 * kappa * u,
          because="backward-stable inversion: a residual of order κ·u (constant 10)")

A claim is one relation between a measured value and a bound, and the reason for the bound: the
theory it comes from, or the margin the prose states. It is never a number read off one run. When
the relation fails, :class:`ClaimFailed` stops the page, and so the build. When it holds, the
claim's record is shown to the notebook as an output of MIME type :data:`MIME_TYPE`, which the
book turns into an anchor on the page and a row of its ledger (``claims.json`` and the "Checked
claims" page).

The margin says how far a claim is from failing, as a ratio: for :math:`v < b` with positive
numbers it is :math:`b / v`, for :math:`v > b` it is :math:`v / b`, for "within" it is the
tolerance over the deviation; a margin of 3 means the value could move by a factor of 3 before the
claim fails. Exact claims (``"=="``) have no margin: they hold or they do not.

Checks that cannot fail (an arithmetic identity, a theorem) are not claims; say them in prose.

With ``GDTUTOR_CLAIMS=record`` a failing claim is recorded and the page goes on, so that a sweep
over seeds and machines (``nox -s sweep``) sees every claim's margin; the sweep then fails.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from typing import Any

import torch
from torch import Tensor

#: The MIME type of a claim's record in a notebook's outputs (JSON).
MIME_TYPE = "application/vnd.gdtutor.claim+json"
#: The environment variable that, set to ``record``, makes a failing claim recorded, not raised.
MODE_VARIABLE = "GDTUTOR_CLAIMS"
#: The relations a claim can state between its value and its bound.
RELATIONS = ("<", "<=", ">", ">=", "==", "within")


class ClaimFailed(AssertionError):
    """A claim a page makes does not hold: the page, and the build, stop here."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked claim: what is claimed, the measured value, the bound and why.

    Attributes
    ----------
    statement
        What the page claims, in words.
    value
        The measured value (for a tensor, the element closest to failing; for ``"=="`` on
        tensors, the largest absolute difference).
    relation
        One of :data:`RELATIONS`.
    bound
        What the value is compared with (for ``"within"``, the target).
    because
        Where the bound comes from: the theory, or the margin the prose states.
    margin
        How far the value is from failing, as a ratio (``inf`` for an exact claim that holds,
        0 for any claim that fails; in the record, non-finite numbers are strings: ``"inf"``).
    holds
        Whether the relation holds.
    tolerance
        For ``"within"``: the largest deviation allowed from the target.
    reproduces
        For a number the 2020 series printed: where (its seed is never shifted).
    """

    statement: str
    value: float
    relation: str
    bound: float
    because: str
    margin: float
    holds: bool
    tolerance: float | None = None
    reproduces: str | None = None

    @property
    def exact(self) -> bool:
        """Whether the claim is an exact equality, which has no margin."""
        return self.relation == "=="

    def summary(self) -> str:
        """One line: the verdict, the statement, the relation and the margin."""
        verdict = "holds" if self.holds else "FAILS"
        if self.relation == "within":
            relation = f"|{self.value:.4g} − {self.bound:.4g}| ≤ {self.tolerance:.3g}"
        elif self.relation == "==":
            relation = f"{self.value:.6g} == {self.bound:.6g} (exact)"
        else:
            relation = f"{self.value:.4g} {self.relation} {self.bound:.4g}"
        margin = "" if self.exact or not self.holds else f", margin {self.margin:.3g}×"
        return f"claim {verdict}: {self.statement}: {relation}{margin} (because {self.because})"

    def record(self) -> dict[str, Any]:
        """The claim as JSON-ready data (infinite margins as ``None``)."""
        record = dataclasses.asdict(self)
        for key in ("value", "bound", "margin"):  # JSON has no inf or NaN: "inf", "nan"
            record[key] = record[key] if math.isfinite(record[key]) else str(record[key])
        record["exact"] = self.exact
        return record


def claim(
    statement: str,
    value: float | Tensor,
    relation: str,
    bound: float | Tensor,
    *,
    because: str,
    tolerance: float | None = None,
    reproduces: str | None = None,
) -> None:
    r"""Check that ``value relation bound`` holds, and record it in the book's ledger.

    Evaluates the claim (:func:`evaluate`, whose parameters these are), gives a notebook its
    record as an output, and raises when it fails.

    Raises
    ------
    ClaimFailed
        When the relation does not hold (or a value is NaN), unless ``GDTUTOR_CLAIMS=record``.
    ValueError
        For an unknown relation, an empty reason, or a tolerance where none belongs.
    """
    result = evaluate(
        statement,
        value,
        relation,
        bound,
        because=because,
        tolerance=tolerance,
        reproduces=reproduces,
    )
    _show(result)
    if not result.holds and _mode() == "raise":
        nan = " (the value is NaN)" if math.isnan(result.value) else ""
        raise ClaimFailed(result.summary() + nan)


def evaluate(
    statement: str,
    value: float | Tensor,
    relation: str,
    bound: float | Tensor,
    *,
    because: str,
    tolerance: float | None = None,
    reproduces: str | None = None,
) -> Claim:
    r"""Evaluate ``value relation bound``: whether it holds, and its margin (no output, no error).

    Parameters
    ----------
    statement
        What the page claims, in words ("Newton–Schulz reaches LAPACK's floor").
    value
        The measured number, or a tensor of them (every element must satisfy the relation;
        the one closest to failing is recorded). Booleans and integers are numbers here.
    relation
        ``"<"``, ``"<="``, ``">"``, ``">="`` (one-sided bounds), ``"=="`` (exact equality: an
        integer count, a bit-identical tensor) or ``"within"`` (``|value − bound| ≤ tolerance``).
    bound
        The bound, or for ``"within"`` the target; a number or a tensor broadcastable to
        ``value``.
    because
        Where the bound comes from: the theory (e.g. "c·κ·u, LAPACK's backward error") or the
        margin the prose states. Required: a bound without a reason is a number read off a run.
    tolerance
        For ``"within"`` only: the largest deviation allowed.
    reproduces
        For a number printed by the 2020 series: where it was printed. Such a claim runs on the
        historical seed, which ``GDTUTOR_SEED_SHIFT`` never shifts.

    Returns
    -------
    Claim
        The evaluated claim, with its margin.

    Raises
    ------
    ValueError
        For an unknown relation, an empty reason, or a tolerance where none belongs.
    """
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}; got {relation!r}.")
    if not isinstance(because, str) or not because.strip():
        raise ValueError("a claim needs a reason for its bound: pass because='...'.")
    if (relation == "within") != (tolerance is not None):
        raise ValueError('tolerance= goes with relation "within", and only with it.')
    values = torch.as_tensor(value, dtype=torch.float64)
    bounds = torch.as_tensor(bound, dtype=torch.float64)
    if values.numel() == 0:
        raise ValueError(f"claim {statement!r}: the value is empty.")
    values, bounds = torch.broadcast_tensors(values, bounds)
    if relation == "==":
        difference = (values - bounds).abs()
        holds = bool(torch.equal(values, bounds))
        measured = float(values) if values.numel() == 1 else float(difference.max())
        target = float(bounds) if values.numel() == 1 else 0.0
        margins = torch.tensor(math.inf if holds else 0.0)
    else:
        margins = _margins(values, bounds, relation, tolerance)
        worst = int(torch.argmin(margins.flatten()))
        measured, target = float(values.flatten()[worst]), float(bounds.flatten()[worst])
        holds = bool(_holds(values, bounds, relation, tolerance).all())
    return Claim(
        statement=statement,
        value=measured,
        relation=relation,
        bound=target,
        because=because,
        margin=float(margins.min()) if holds else 0.0,
        holds=holds,
        tolerance=tolerance,
        reproduces=reproduces,
    )


def _holds(values: Tensor, bounds: Tensor, relation: str, tolerance: float | None) -> Tensor:
    if relation == "within":
        return (values - bounds).abs() <= tolerance
    compare = {"<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge}[relation]
    return compare(values, bounds)  # False wherever a value is NaN


def _margins(values: Tensor, bounds: Tensor, relation: str, tolerance: float | None) -> Tensor:
    """How far each value is from failing, as a ratio (see the module's docstring)."""
    if relation == "within":
        return tolerance / (values - bounds).abs()  # inf where the value is on target
    if relation in (">", ">="):
        values, bounds = -values, -bounds  # v > b is −v < −b
    # v < b: for b > 0, b / v (inf for v ≤ 0); for b < 0, v / b (≥ 1 when v ≤ b); for b = 0,
    # inf when v < 0. A value on the wrong side gets 0, whatever the ratio says.
    ratio = torch.where(bounds > 0, bounds / values, values / bounds)
    margins = torch.where((values <= 0) & (bounds >= 0), torch.inf, ratio)
    margins = torch.where(values < bounds, margins, torch.where(values == bounds, 1.0, 0.0))
    return torch.nan_to_num(margins, nan=0.0, posinf=math.inf)


def _mode() -> str:
    mode = os.environ.get(MODE_VARIABLE, "").strip() or "raise"
    if mode not in ("raise", "record"):
        raise ValueError(
            f"{MODE_VARIABLE} must be 'raise' (the default: a failing claim stops the page) or "
            f"'record' (it is recorded and the page goes on); got {mode!r}."
        )
    return mode


def _show(result: Claim) -> None:
    """Give a notebook the claim's record as an output; a plain script gets nothing."""
    ipython = sys.modules.get("IPython")
    if ipython is None or ipython.get_ipython() is None:
        return
    from IPython.display import display

    display({MIME_TYPE: result.record(), "text/plain": result.summary()}, raw=True)

r"""Soft-impute, proximal gradient for the nuclear norm: ``complete(method="soft-impute")``.

:math:`Z \leftarrow \mathcal S_\lambda\big(P_\Omega Y + P_\Omega^\perp Z\big)`, with
:math:`\mathcal S_\lambda` the SVD of its argument with every singular value shrunk by
:math:`\lambda` and only the top ``rank`` kept: proximal gradient on
:math:`\tfrac12\|P_\Omega(Z - Y)\|_F^2 + \lambda\|Z\|_*` over matrices of rank at most ``rank``.
Here a full SVD of the filled-in :math:`m \times n` matrix per step: a reference for small
problems.

References
----------
R. Mazumder, T. Hastie and R. Tibshirani (2010). Spectral regularization algorithms for learning
large incomplete matrices. *Journal of Machine Learning Research* 11, 2287–2322.
"""

from __future__ import annotations

import torch

from gdtutor._validation import check_count
from gdtutor.completion._common import CompletionResult, _plateau, _result, _squared_only
from gdtutor.completion.entries import _Entries
from gdtutor.completion.losses import Loss


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
    check_count("max_steps", max_steps)
    _squared_only("soft-impute", loss)
    data, observed = entries.dense()
    z = torch.zeros_like(data)
    scale = entries.values.norm().item()
    losses: list[float] = []
    reason = None
    steps = max_steps
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

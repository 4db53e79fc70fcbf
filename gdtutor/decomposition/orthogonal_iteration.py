r"""Orthogonal iteration, block power iteration on both sides: ``svd(method="orthogonal-iteration")``.

:math:`U \leftarrow \operatorname{qf}(AV)`, :math:`V \leftarrow \operatorname{qf}(A^\top U)`: the
"infinitely long step" of gradient ascent on Brockett's cost.

References
----------
G. H. Golub and C. F. Van Loan (2013). *Matrix Computations*, 4th edition. Johns Hopkins
University Press, section 8.2 (power iterations, orthogonal iteration among them).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gdtutor import seeds
from gdtutor._validation import check_callback, check_count, check_seed
from gdtutor.decomposition._common import (
    Callback,
    SVDResult,
    _qr_nonnegative,
    _ResidualStopping,
    orthonormal_factor,
)
from gdtutor.matrices import SEED_2020


def _orthogonal_iteration(
    a: Tensor,
    k: int | None,
    *,
    tol: float | None,
    max_steps: int = 5000,
    seed: int = SEED_2020,
    callback: Callback | None = None,
) -> SVDResult:
    r"""Orthogonal iteration: :math:`U \leftarrow \operatorname{qf}(AV)`, :math:`V \leftarrow \operatorname{qf}(A^\top U)`.

    Block power iteration on both sides, the "infinitely long step" of gradient ascent on
    Brockett's cost; no Rayleigh–Ritz step. With :math:`A^\top U = VR` and
    :math:`\operatorname{diag}(R) \ge 0`, the estimates are :math:`\sigma_i = r_{ii} = u_i^\top A
    v_i`; the pairs converge in order, each at the rate :math:`(\sigma_{i+1}/\sigma_i)^2` per step
    (a step multiplies by :math:`A` and by :math:`A^\top`).
    The residual costs no extra product: :math:`\|A^\top u_i - \sigma_i v_i\|` is the norm of
    :math:`R`'s off-diagonal column :math:`i`, and :math:`\|Av_i - \sigma_i u_i\|` comes with the
    next step's :math:`AV`. Stops as LOBPCG does (the stopping
    rule ``_ResidualStopping`` of ``gdtutor/decomposition/_common.py``; two products a step).

    Parameters
    ----------
    max_steps
        The step budget.
    seed
        Seed of the random start.
    callback
        Called at every iterate as ``callback(evaluations, S, V)``.
    """
    check_count("max_steps", max_steps)
    check_seed(seed)
    check_callback(callback)
    m, n = a.shape[-2:]
    k = min(m, n) if k is None else k
    tiny, eps = torch.finfo(a.dtype).tiny, torch.finfo(a.dtype).eps
    generator = seeds.generator(seed)
    start = torch.randn(*a.shape[:-2], n, k, generator=generator, dtype=a.dtype)
    v = orthonormal_factor(start.to(a.device))
    u = s = left_residual = torch.zeros(0)
    stopping = _ResidualStopping(a.shape[:-2], tol, a.dtype)
    history: list[float] = []
    products, steps, finished = 0, max_steps, False
    for step in range(max_steps + 2):
        av = a @ v
        products += 1
        if step > 0:  # the residual of the previous triplets (u, s, v)
            residual_norms = torch.sqrt(
                torch.linalg.vector_norm(av - u * s.unsqueeze(-2), dim=-2).square()
                + left_residual.square()
            )
            top = s[..., :1].clamp_min(tiny)
            each = (residual_norms / top).amax(dim=-1)
            at_floor = (residual_norms <= 10 * k * eps * top).all(dim=-1)
            done = stopping.update(each, at_floor, (u, s, v))
            history.append(each.max().item())
            if callback is not None:
                callback(products, s, v)
            finished = bool(done.all())
            if finished or step > max_steps:
                steps = step - 1
                break
        u, _ = _qr_nonnegative(av)
        v, r = _qr_nonnegative(a.mT @ u)
        products += 1
        s = torch.diagonal(r, dim1=-2, dim2=-1)
        left_residual = torch.linalg.vector_norm(torch.triu(r, diagonal=1), dim=-2)
    return stopping.result(
        a,
        *stopping.best_state,
        method="orthogonal-iteration",
        history=history,
        steps=steps,
        products=products,
        finished=finished,
        max_steps=max_steps,
    )

r"""Gradient descent on Stiefel manifolds (matrices with orthonormal columns), as a torch optimizer.

References
----------
P.-A. Absil, R. Mahony and R. Sepulchre (2008). *Optimization Algorithms on Matrix Manifolds*.
Princeton University Press, chapters 3, 4 and 8 (the tangent projection, the QR retraction,
the momentum carried by projection, a vector transport).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor._validation import check_fraction, check_positive
from gdtutor.decomposition._common import orthonormal_factor


def tangent_projection(x: Tensor, g: Tensor) -> Tensor:
    r"""Project ``g`` onto the tangent space of the Stiefel manifold at ``x``: :math:`g - x\,\mathrm{sym}(x^\top g)`.

    This is the Riemannian gradient for the metric inherited from the embedding space.
    """
    xtg = x.mT @ g
    return g - x @ (0.5 * (xtg + xtg.mT))


class StiefelSGD(Optimizer):
    r"""Riemannian gradient descent with heavy-ball momentum on Stiefel manifolds.

    Every parameter must have orthonormal columns (``X^T X = I``, batched over leading dimensions)
    and keeps them exactly. A step projects the gradient onto the tangent space, updates the
    momentum (itself projected, a cheap vector transport), and retracts with
    :func:`orthonormal_factor`:

    .. math:: M \leftarrow \beta\,P_X(M) + P_X(\nabla f), \qquad X \leftarrow \operatorname{qf}(X - \eta M)

    PyTorch has no Riemannian optimizers; this one is written out on purpose, in a few lines.
    (:func:`torch.nn.utils.parametrizations.orthogonal` is the alternative that lets any torch
    optimizer keep a factor orthogonal, through a matrix exponential or Cayley map.)

    Attributes
    ----------
    tangent_norm
        The norm of the Riemannian gradient at the last step, over all parameters.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0) -> None:
        lr = check_positive("lr", lr)
        momentum = check_fraction("momentum", momentum)
        super().__init__(params, {"lr": lr, "momentum": momentum})
        self.tangent_norm = math.inf

    @torch.no_grad()
    def step(self, closure: Any = None) -> Tensor | None:  # noqa: D102 (documented on the class)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        squared = 0.0
        for group in self.param_groups:
            for x in group["params"]:
                if x.grad is None:
                    continue
                gradient = tangent_projection(x, x.grad)
                squared += gradient.square().sum().item()
                buffer = self.state[x].get("momentum")
                if buffer is None:
                    buffer = gradient
                else:
                    buffer = group["momentum"] * tangent_projection(x, buffer) + gradient
                self.state[x]["momentum"] = buffer
                x.copy_(orthonormal_factor(x - group["lr"] * buffer))
        self.tangent_norm = math.sqrt(squared)
        return loss

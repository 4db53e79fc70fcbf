"""A baseline for completing a photograph: a local average, which knows nothing about rank.

The Part 4 tutorial sets it against the low-rank completion of :func:`~gdtutor.completion.complete`
on a photograph with missing pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def local_average_fill(image: Tensor, observed: Tensor, *, size: int = 5) -> Tensor:
    r"""Fill each missing pixel with the mean of the observed pixels in its ``size × size`` window.

    Normalised convolution: :math:`\text{box} * (M \odot Y) / \text{box} * M`. A local prior, the
    opposite of a low-rank one: it knows that neighbouring pixels are alike, nothing about rows
    and columns. Observed pixels are kept; a pixel with no observed neighbour stays 0.
    """
    kernel = torch.ones(1, 1, size, size, dtype=image.dtype, device=image.device)
    weights = observed.to(image.dtype)
    sums = torch.nn.functional.conv2d((image * weights)[None, None], kernel, padding=size // 2)
    counts = torch.nn.functional.conv2d(weights[None, None], kernel, padding=size // 2)
    average = (sums / counts.clamp(min=1))[0, 0]
    return torch.where(observed, image, average)

"""Error measures used by the tests and the tutorials."""

from __future__ import annotations

import torch
from torch import Tensor


def relative_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The relative error :math:`\|x - x_\text{ref}\|_F / \|x_\text{ref}\|_F` (absolute if the reference is 0)."""
    difference = torch.linalg.vector_norm(approximation - reference).item()
    scale = torch.linalg.vector_norm(reference).item()
    return difference / scale if scale > 0 else difference


def max_abs_error(approximation: Tensor, reference: Tensor) -> float:
    r"""The largest entrywise deviation :math:`\max_i |x_i - x_{\text{ref},i}|`."""
    return (approximation - reference).abs().max().item()

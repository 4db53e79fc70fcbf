r"""Matrices known only by their products: sparse tensors and linear operators.

A method that touches :math:`A` only through products :math:`AV` and :math:`A^\top U` with blocks
of vectors (LOBPCG, orthogonal iteration) never needs :math:`A`'s entries. :func:`gdtutor.svd`
takes such a matrix in two forms, besides a dense tensor:

- a torch sparse tensor, COO or CSR, 2-D: multiplied as CSR, with its transpose stored once
  as CSR too, so both products cost :math:`O(\mathrm{nnz}(A)\,j)` for a block of :math:`j`
  vectors;
- a :class:`LinearOperator`: a shape, a dtype and two functions, for a matrix that is never
  stored at all (a product of factors, a convolution, a matrix held elsewhere).

Both become a :class:`Products`, which the methods multiply as they would a tensor
(``a @ v``, ``a.mT @ u``) and which checks every product it returns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from gdtutor import seeds
from gdtutor._validation import SUPPORTED_DTYPES


@dataclass(frozen=True)
class LinearOperator:
    r"""A matrix :math:`A` given by its products, for :func:`gdtutor.svd`.

    Attributes
    ----------
    shape
        ``(m, n)``.
    matmul
        :math:`V \mapsto AV`: takes an ``(n, j)`` tensor, returns an ``(m, j)`` one.
    rmatmul
        :math:`U \mapsto A^\top U`: takes an ``(m, j)`` tensor, returns an ``(n, j)`` one.
    dtype
        ``torch.float32`` or ``torch.float64``: the dtype of the blocks given and returned.
    device
        Where the blocks live.

    Examples
    --------
    A product of two factors, never formed:

    >>> import torch, gdtutor
    >>> left, right = torch.randn(500, 20, dtype=torch.float64), torch.randn(20, 300, dtype=torch.float64)
    >>> a = gdtutor.LinearOperator(
    ...     (500, 300), matmul=lambda v: left @ (right @ v), rmatmul=lambda u: right.T @ (left.T @ u)
    ... )
    >>> result = gdtutor.svd(a, 3, tol=1e-10)
    >>> torch.allclose(result.S, torch.linalg.svdvals(left @ right)[:3])
    True
    """

    shape: tuple[int, int]
    matmul: Callable[[Tensor], Tensor]
    rmatmul: Callable[[Tensor], Tensor]
    dtype: torch.dtype = torch.float64
    device: torch.device | str = "cpu"


class Products:
    """A matrix that is only multiplied: ``a @ block``, ``a.mT``, ``a.shape``, ``a.dtype``.

    Every product is checked: a tensor of the right shape and dtype, finite. ``before_first``,
    if given, runs once before the first product of the matrix or its transpose (the adjoint
    test of an operator): so a method that refuses its options first calls nothing of the user's.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        dtype: torch.dtype,
        device: torch.device,
        times: Callable[[Tensor], Tensor],
        transpose_times: Callable[[Tensor], Tensor],
        name: str = "A",
        before_first: Callable[[], None] | None = None,
    ) -> None:
        self.shape = torch.Size(shape)
        self.dtype, self.device, self.name = dtype, device, name
        self._times, self._transpose_times = times, transpose_times
        self._pending = [before_first] if before_first is not None else []  # shared with .mT

    @property
    def mT(self) -> Products:
        r""":math:`A^\top`, multiplied by the same two functions, swapped."""
        m, n = self.shape
        transposed = f"{self.name}ᵀ" if not self.name.endswith("ᵀ") else self.name[:-1]
        products = Products(
            (n, m), self.dtype, self.device, self._transpose_times, self._times, transposed
        )
        products._pending = self._pending
        return products

    def __matmul__(self, block: Tensor) -> Tensor:
        if self._pending:
            self._pending.pop()()
        try:
            product = self._times(block)
        except (RuntimeError, ValueError, TypeError) as error:
            raise ValueError(
                f"{self.name} @ V failed for V of shape {tuple(block.shape)} (A has shape "
                f"{tuple(self.shape)}): {error}"
            ) from error
        expected = (self.shape[0], block.shape[-1])
        if not isinstance(product, Tensor) or product.shape != expected:
            got = tuple(product.shape) if isinstance(product, Tensor) else type(product).__name__
            raise ValueError(
                f"{self.name} @ V for V of shape {tuple(block.shape)} must be a tensor of shape "
                f"{expected}; got {got}. Check the operator's shape and its product functions."
            )
        if product.device != self.device:
            raise ValueError(
                f"{self.name} @ V returned a tensor on {product.device}, not the operator's "
                f"{self.device}."
            )
        if product.dtype != self.dtype:
            raise TypeError(
                f"{self.name} @ V returned dtype {product.dtype}, not the operator's {self.dtype}."
            )
        if not torch.isfinite(product.sum()) and not torch.isfinite(product).all():
            raise ValueError(f"{self.name} @ V returned NaN or Inf entries.")
        return product


def is_products(a: object) -> bool:
    """Whether ``a`` is a matrix given by its products: a sparse tensor or a :class:`LinearOperator`."""
    return isinstance(a, LinearOperator | Products) or (
        isinstance(a, Tensor) and a.layout != torch.strided
    )


def as_products(a: object) -> tuple[Products, int]:
    r"""``a`` (a sparse tensor or a :class:`LinearOperator`) as checked :class:`Products`.

    Returns the products and the number of block products their check takes: two single
    vectors for an operator, whose adjoint is tested once, just before its first product
    (:math:`u^\top(Av) = (A^\top u)^\top v`), so that nothing of the user's runs before the
    method has checked its options.

    Raises
    ------
    TypeError
        A sparse layout other than COO or CSR, an unsupported dtype.
    ValueError
        A sparse tensor that is not 2-D, hybrid, empty or not finite; an operator whose shape is
        not two positive integers, whose products have the wrong shape, dtype or values, or whose
        ``rmatmul`` is not the transpose of its ``matmul`` (at the first product).
    """
    if isinstance(a, Products):
        return a, 0
    if isinstance(a, LinearOperator):
        return _operator_products(a), 2
    if not isinstance(a, Tensor):
        raise TypeError(f"A must be a tensor or a LinearOperator; got {type(a).__name__}.")
    return _sparse_products(a), 0


def _sparse_products(a: Tensor) -> Products:
    if a.layout not in (torch.sparse_coo, torch.sparse_csr):
        raise TypeError(
            f"A sparse A must be COO or CSR; got layout {a.layout}. Convert it with "
            "a.to_sparse_csr()."
        )
    if a.ndim != 2 or a.dense_dim() != 0:
        raise ValueError(
            f"A sparse A must be a 2-D matrix of scalars; got shape {tuple(a.shape)} with "
            f"{a.dense_dim()} dense dimensions. Batches of sparse matrices are not supported."
        )
    if a.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"A has dtype {a.dtype}; use a.double() or a.float() first.")
    a = a.detach()
    with warnings.catch_warnings():  # torch calls its CSR support beta; these products are tested
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = a.coalesce().to_sparse_csr() if a.layout == torch.sparse_coo else a
        values = csr.values()
        if min(csr.shape) == 0 or values.numel() == 0:
            raise ValueError(f"A is empty or all zero (shape {tuple(a.shape)}, no stored entries).")
        if not torch.isfinite(values).all():
            raise ValueError(
                "A contains NaN or Inf entries; remove them before calling this function."
            )
        csc = csr.to_sparse_csc()  # CSC of A holds CSR of Aᵀ
        shape = tuple(csr.shape)
        matrix = _compact_csr(csr.crow_indices(), csr.col_indices(), values, shape)
        transposed = _compact_csr(csc.ccol_indices(), csc.row_indices(), csc.values(), shape[::-1])
    return Products(shape, csr.dtype, csr.device, matrix.__matmul__, transposed.__matmul__)


def _compact_csr(
    compressed: Tensor, plain: Tensor, values: Tensor, shape: tuple[int, int]
) -> Tensor:
    """A CSR tensor with 32-bit indices when they fit.

    torch's CPU product of a CSR and a dense matrix (MKL's, where torch is built with it) takes
    32-bit indices; given 64-bit ones, it converts them at every product, a copy the size of
    A's entries. The product is the same to the bit.
    """
    if max(*shape, values.numel()) < 2**31:
        compressed, plain = compressed.to(torch.int32), plain.to(torch.int32)
    # torch's own conversions made the indices: valid by construction
    return torch.sparse_csr_tensor(compressed, plain, values, shape, check_invariants=False)


def _operator_products(a: LinearOperator) -> Products:
    shape = a.shape
    if not (
        isinstance(shape, tuple | list | torch.Size)
        and len(shape) == 2
        and all(isinstance(size, int) and size >= 1 for size in shape)
    ):
        raise ValueError(
            f"LinearOperator.shape must be two positive integers (m, n); got {shape!r}."
        )
    if a.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"LinearOperator.dtype must be torch.float32 or torch.float64; got {a.dtype}."
        )
    if not (callable(a.matmul) and callable(a.rmatmul)):
        raise TypeError("LinearOperator.matmul and LinearOperator.rmatmul must be functions.")

    def adjoint_test() -> None:
        """A wrong rmatmul would make every result wrong without an error: uᵀ(Av) = (Aᵀu)ᵀv."""
        generator = seeds.generator(0)
        m, n = shape
        v = torch.randn(n, 1, generator=generator, dtype=a.dtype).to(products.device)
        u = torch.randn(m, 1, generator=generator, dtype=a.dtype).to(products.device)
        av, atu = products @ v, products.mT @ u
        left, right = (u.mT @ av).item(), (atu.mT @ v).item()
        scale = av.norm().item() * u.norm().item() + atu.norm().item() * v.norm().item()
        if abs(left - right) > math.sqrt(torch.finfo(a.dtype).eps) * scale:
            raise ValueError(
                f"LinearOperator.rmatmul is not the transpose of matmul: uᵀ(Av) = {left:.6g} but "
                f"(Aᵀu)ᵀv = {right:.6g} for random u, v."
            )

    products = Products(
        tuple(shape),
        a.dtype,
        torch.device(a.device),
        a.matmul,
        a.rmatmul,
        before_first=adjoint_test,
    )
    return products

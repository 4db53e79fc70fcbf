r"""The observed entries of the data, in the form every method of :func:`~gdtutor.completion.complete` reads.

:func:`_checked` reads the data, dense (NaN or a mask marks the missing entries) or sparse (the
observed entries only), and checks it; :class:`_Entries` holds the observed entries with the
index structures that make every product a method needs cost :math:`O(|\Omega|\,r)`, with no
:math:`m \times n` array: compressed sparse rows, and the same entries sorted by column for the
transpose.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from gdtutor._validation import as_float_tensor


class _Entries:
    r"""The observed entries :math:`(i, j, Y_{ij})`, :math:`(i, j) \in \Omega`, in row-major order.

    Every product a method needs costs :math:`O(|\Omega|\,r)` time and memory, with no
    :math:`m \times n` array: :math:`P_\Omega(UV^\top)` is a sampled product, and
    :math:`GV`, :math:`G^\top U` for a matrix :math:`G` supported on :math:`\Omega` are
    sparse-times-dense products (compressed sparse rows, and their transpose).
    """

    def __init__(self, rows: Tensor, columns: Tensor, values: Tensor, shape: tuple[int, int]):
        m, n = shape
        self.rows, self.columns, self.values, self.shape = rows, columns, values, shape
        self.count = len(values)
        self._row_pointers = _pointers(rows, m)
        self._by_column = torch.argsort(columns * m + rows)
        self._column_pointers = _pointers(columns, n)
        self._rows_by_column = rows[self._by_column]
        self.matrix = self.supported(values)

    def supported(self, values: Tensor) -> Tensor:
        """The ``m × n`` sparse matrix with ``values`` on the observed entries."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self._row_pointers, self.columns, values, self.shape, check_invariants=False
            )

    def predict(self, u: Tensor, v: Tensor) -> Tensor:
        r""":math:`(UV^\top)_{ij}` on the observed entries, differentiable in ``u`` and ``v``."""
        return torch.sparse.sampled_addmm(self.matrix, u, v.mT, beta=0.0).values()

    def times(self, values: Tensor, v: Tensor) -> Tensor:
        """:math:`GV` for the matrix :math:`G` with ``values`` on the observed entries."""
        return self.supported(values) @ v

    def transpose_times(self, values: Tensor, u: Tensor) -> Tensor:
        r""":math:`G^\top U` for the matrix :math:`G` with ``values`` on the observed entries."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            transposed = torch.sparse_csr_tensor(
                self._column_pointers, self._rows_by_column, values[self._by_column],
                self.shape[::-1], check_invariants=False,
            )  # fmt: skip
        return transposed @ u

    def dense(self) -> tuple[Tensor, Tensor]:
        """The data with zeros where missing, and the boolean mask (``m × n`` arrays)."""
        data = torch.zeros(self.shape, dtype=self.values.dtype, device=self.values.device)
        data[self.rows, self.columns] = self.values
        observed = torch.zeros(self.shape, dtype=torch.bool, device=self.values.device)
        observed[self.rows, self.columns] = True
        return data, observed

    def with_values(self, values: Tensor) -> _Entries:
        """The same entries with other values (the index structures shared)."""
        copy = object.__new__(_Entries)
        copy.__dict__.update(self.__dict__)
        copy.values, copy.matrix = values, self.supported(values)
        return copy


def _pointers(index: Tensor, size: int) -> Tensor:
    """Compressed-sparse pointers: where each of ``size`` groups of a sorted ``index`` starts."""
    pointers = torch.zeros(size + 1, dtype=torch.int64, device=index.device)
    pointers[1:] = torch.bincount(index, minlength=size).cumsum(0)
    return pointers


def _checked(y: object, mask: object | None, rank: int) -> _Entries:
    """The observed entries of ``y``, dense or sparse, checked."""
    if isinstance(y, Tensor) and y.layout != torch.strided:
        if mask is not None:
            raise ValueError(
                "a sparse y lists its observed entries itself; pass no mask (or pass y dense)."
            )
        if y.sparse_dim() != 2 or y.dense_dim() != 0:
            raise ValueError(
                f"a sparse y must be an m × n matrix of scalars; got shape {tuple(y.shape)}."
            )
        listed = y.to_sparse_coo()
        unique = listed.coalesce()  # sorted row-major; duplicates summed, so count them first
        if unique._nnz() < listed._nnz():
            raise ValueError(
                f"{listed._nnz() - unique._nnz()} entries of the sparse y are given more than "
                "once; give each observed entry once (average repeated ratings first)."
            )
        rows, columns = unique.indices()
        values = as_float_tensor(unique.values(), name="y's values", min_ndim=1, finite=False)
        shape = (int(y.shape[0]), int(y.shape[1]))
    else:
        data = as_float_tensor(y, name="y", finite=False)  # NaN may mark the missing entries
        if data.ndim != 2:
            raise ValueError(f"y must be a non-empty m × n matrix; got shape {tuple(data.shape)}.")
        if mask is None:
            observed = ~torch.isnan(data)
        else:
            observed = mask if isinstance(mask, Tensor) else torch.as_tensor(mask)
            if observed.dtype != torch.bool:
                raise ValueError(
                    f"mask must be boolean (True where y is observed); got dtype {observed.dtype}."
                )
            if observed.shape != data.shape:
                raise ValueError(
                    f"mask has shape {tuple(observed.shape)}, y has {tuple(data.shape)}; they "
                    "must match."
                )
            observed = observed.to(data.device)
        rows, columns = observed.nonzero().T
        values = data[rows, columns]
        shape = (data.shape[0], data.shape[1])
    if not len(values):
        raise ValueError("no entry of y is observed: there is nothing to fit.")
    if not bool(torch.isfinite(values).all()):
        bad = int((~torch.isfinite(values)).sum())
        raise ValueError(
            f"{bad} observed entries of y are NaN or Inf; mark them missing (mask, or NaN without "
            "a mask, or leave them out of a sparse y) or fix them."
        )
    for index, size, name in ((rows, shape[0], "rows"), (columns, shape[1], "columns")):
        empty = (torch.bincount(index, minlength=size) == 0).nonzero().flatten()
        if len(empty):
            shown = empty[:10].tolist() + (["..."] if len(empty) > 10 else [])
            raise ValueError(
                f"{len(empty)} {name} of y have no observed entry ({', '.join(map(str, shown))}): "
                f"nothing in the data says anything about them. Drop those {name}, or fill them "
                "with a baseline (e.g. the mean) after completing the rest."
            )
    if not (isinstance(rank, int) and 1 <= rank <= min(shape)):
        raise ValueError(
            f"rank must be an integer from 1 to min(m, n) = {min(shape)}; got {rank!r}."
        )
    return _Entries(rows, columns, values, shape)

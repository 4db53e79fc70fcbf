"""gdtutor: gradient descent with PyTorch against the linear algebra it can replace.

The package holds every algorithm, metric, test matrix and figure the tutorials use:

- :func:`gdtutor.inverse`: a matrix inverse by iterative methods (Part 2), in
  :mod:`gdtutor.inversion`;
- :func:`gdtutor.svd`: a singular value decomposition by gradient methods (Part 3), in
  :mod:`gdtutor.decomposition`;
- :func:`gdtutor.complete`: a low-rank completion of a matrix with missing entries (Part 4), in
  :mod:`gdtutor.completion`;
- :func:`gdtutor.descend`: the gradient-descent loop every part shares, in :mod:`gdtutor.descent`;
- :func:`gdtutor.show_options`: each method's own options, with their defaults;
- :mod:`gdtutor.derivatives`: autograd checked against finite differences (Part 1);
- :mod:`gdtutor.matrices`: seeded test matrices;
- :mod:`gdtutor.metrics`: error measures;
- :mod:`gdtutor.operators`: matrices known by their products (sparse tensors,
  :class:`~gdtutor.operators.LinearOperator`), for :func:`gdtutor.svd`;
- :mod:`gdtutor.plotting`: the tutorials' figures;
- :mod:`gdtutor.claims`: the claims a page checks, collected into the book's ledger;
- :mod:`gdtutor.seeds`: seeds that ``GDTUTOR_SEED_SHIFT`` shifts.
"""

from gdtutor import (
    claims,
    completion,
    decomposition,
    derivatives,
    descent,
    inversion,
    matrices,
    metrics,
    operators,
    plotting,
    report,
    seeds,
)
from gdtutor._methods import show_options
from gdtutor.completion import CompletionResult, complete
from gdtutor.decomposition import SVDResult, svd
from gdtutor.descent import DescentResult, DivergenceError, descend
from gdtutor.inversion import InverseResult, SingularMatrixError, inverse
from gdtutor.operators import LinearOperator

__all__ = [
    "CompletionResult",
    "DescentResult",
    "DivergenceError",
    "InverseResult",
    "LinearOperator",
    "SVDResult",
    "SingularMatrixError",
    "claims",
    "complete",
    "completion",
    "decomposition",
    "derivatives",
    "descend",
    "descent",
    "inverse",
    "inversion",
    "matrices",
    "metrics",
    "operators",
    "plotting",
    "report",
    "seeds",
    "show_options",
    "svd",
]
__version__ = "0.1.0"

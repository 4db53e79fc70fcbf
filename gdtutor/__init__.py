"""gdtutor: gradient descent with PyTorch against the linear algebra it can replace.

The package holds every algorithm, metric, test matrix and figure the tutorials use:

- :mod:`gdtutor.derivatives`: autograd checked against finite differences (Part 1);
- :mod:`gdtutor.inversion`: the matrix inverse by gradient descent (Part 2);
- :mod:`gdtutor.matrices`: seeded test matrices;
- :mod:`gdtutor.metrics`: error measures;
- :mod:`gdtutor.plotting`: the tutorials' figures.
"""

from gdtutor import derivatives, inversion, matrices, metrics, plotting

__all__ = ["derivatives", "inversion", "matrices", "metrics", "plotting"]
__version__ = "0.1.0"

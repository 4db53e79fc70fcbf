"""Seeded test matrices: the 2020 series' matrices (and its settings) and matrices with a prescribed spectrum.

Every seed here is shifted by ``GDTUTOR_SEED_SHIFT`` (:mod:`gdtutor.seeds`), except
:func:`seeded_rand`'s, which reproduces the 2020 series' draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from gdtutor import seeds

#: The seed the 2020 series used for every random draw.
SEED_2020 = 314
#: The 2020 series' step size and heavy-ball momentum (``X -= 0.9 * X.grad; X.grad *= 0.9``).
LR_2020 = 0.9
MOMENTUM_2020 = 0.9


def seeded_rand(*shape: int, seed: int = SEED_2020, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform ``[0, 1)`` entries, exactly as ``torch.manual_seed(seed); torch.rand(*shape)``.

    The 2020 series drew every matrix this way. A private :class:`torch.Generator` gives the
    same numbers without touching the global random state.

    Examples
    --------
    >>> seeded_rand(2, 3)
    tensor([[0.7196, 0.6295, 0.6667],
            [0.3385, 0.8522, 0.3126]])
    """
    # The 2020 draw, reproduced: its seed is never shifted (gdtutor.seeds).
    values = torch.rand(*shape, generator=torch.Generator().manual_seed(int(seed)))
    return values.to(dtype)


def random_orthogonal(n: int, *, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""A Haar-distributed random orthogonal ``n × n`` matrix.

    QR of a Gaussian matrix, with the signs of :math:`R`'s diagonal moved into :math:`Q` so that
    the distribution is uniform (Mezzadri 2007).
    """
    gaussian = torch.randn(n, n, generator=seeds.generator(seed), dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.sign(torch.diagonal(r))).to(dtype)


def with_singular_values(
    singular_values: Sequence[float] | Tensor,
    *,
    shape: tuple[int, int] | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    r"""A matrix :math:`A = Q_1 \operatorname{diag}(s) Q_2^\top` with exactly the given singular values.

    Parameters
    ----------
    singular_values
        The singular values :math:`s` (non-negative); their count must be ``min(shape)``.
    shape
        ``(m, n)``; square ``(k, k)`` by default, with ``k = len(singular_values)``.
    seed
        Seed for the two Haar-random orthogonal factors.
    dtype
        The dtype of the result (built in float64, then converted).
    """
    s = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
    m, n = shape if shape is not None else (len(s), len(s))
    if len(s) != min(m, n):
        raise ValueError(
            f"need min(m, n) = {min(m, n)} singular values for shape {(m, n)}; got {len(s)}."
        )
    if (s < 0).any():
        raise ValueError("singular values must be non-negative.")
    left = random_orthogonal(m, seed=seed)[:, : len(s)]
    right = random_orthogonal(n, seed=seed + 1)[:, : len(s)]
    return ((left * s) @ right.T).to(dtype)


def geometric_spectrum(n: int, condition_number: float) -> Tensor:
    r"""``n`` singular values spaced geometrically from 1 down to :math:`1/\kappa` (float64)."""
    if condition_number < 1:
        raise ValueError(f"a condition number is at least 1; got {condition_number}.")
    if n == 1:
        return torch.ones(1, dtype=torch.float64)
    exponents = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    return torch.exp(-math.log(condition_number) * exponents)


def with_condition_number(
    n: int, condition_number: float, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> Tensor:
    r"""A random ``n × n`` matrix with 2-norm condition number exactly :math:`\kappa` (geometric spectrum)."""
    return with_singular_values(geometric_spectrum(n, condition_number), seed=seed, dtype=dtype)


def with_exact_inverse(
    n: int, condition_number: int, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    r"""A random-looking ``n × n`` matrix and its inverse, both stored exactly.

    :math:`A = P_1 D_1 B_1 H S H^\top B_2 D_2 P_2 / n` with :math:`H` the Sylvester–Hadamard matrix
    (entries :math:`\pm1`, :math:`HH^\top = nI`), :math:`S` diagonal with powers of two from 1 down
    to :math:`1/\kappa`, :math:`D_i` random signs, :math:`P_i` random permutations and
    :math:`B_i = I + N_i/2` with :math:`N_i` a random pairing of half the indices with the other
    half (:math:`N_i^2 = 0`, so :math:`B_i^{-1} = I - N_i/2`). The :math:`B_i` spread the few
    distinct values of :math:`S` into a wide spectrum (else a Krylov method would finish in as
    many steps as :math:`S` has distinct values). Then
    :math:`A^{-1} = P_2^\top D_2 B_2^{-1} H S^{-1} H^\top B_1^{-1} D_1 P_1^\top / n`, and every entry of both
    is a short sum of signed powers of two spanning about :math:`\log_2(n\kappa)` bits: both are
    computed without rounding. A forward error measured against this inverse is the method's own,
    with no reference error (an inverse computed in float64, or :math:`Q\operatorname{diag}(1/s)
    Q^\top` of a rounded :math:`A`, is itself off by about :math:`\kappa u`). The condition number
    of :math:`A` is within a factor :math:`\kappa(B_1)\kappa(B_2) \le 2.7` of ``condition_number``.

    Parameters
    ----------
    n
        A power of two, at least 2.
    condition_number
        :math:`\kappa` of the core :math:`HSH^\top/n`, a power of two.
    seed
        Seed for the signs and permutations.
    dtype
        float64, or float32 when :math:`n\kappa \le 2^{23}`.

    Returns
    -------
    tuple of Tensor
        ``(a, a_inverse)``.
    """
    bits = math.log2(n * condition_number) + 3  # and up to three bits for the sums with the B_i
    if n < 2 or n & (n - 1) or condition_number < 1 or condition_number & (condition_number - 1):
        raise ValueError(
            f"n and condition_number must be powers of two; got {n} and {condition_number}."
        )
    if bits > -math.log2(torch.finfo(dtype).eps):
        raise ValueError(
            f"n·κ = 2^{bits:.0f} is too wide for {dtype}'s significand: entries would round. "
            "Use float64, or a smaller n or condition number."
        )
    hadamard = torch.ones(1, 1, dtype=torch.float64)
    while hadamard.shape[0] < n:
        hadamard = torch.cat(
            [torch.cat([hadamard, hadamard], 1), torch.cat([hadamard, -hadamard], 1)]
        )
    levels = round(math.log2(condition_number))
    exponents = torch.round(torch.linspace(0, levels, n, dtype=torch.float64))
    s = torch.exp2(-exponents)
    generator = seeds.generator(seed)
    signs = [torch.randint(0, 2, (n,), generator=generator).double() * 2 - 1 for _ in range(2)]
    rows, columns = (torch.randperm(n, generator=generator) for _ in range(2))
    core = (hadamard * s) @ hadamard.T / n
    core_inverse = (hadamard / s) @ hadamard.T / n
    left, right = (_half_pairing(n, generator) for _ in range(2))
    eye = torch.eye(n, dtype=torch.float64)
    core = (eye + left / 2) @ core @ (eye + right / 2)
    core_inverse = (eye - right / 2) @ core_inverse @ (eye - left / 2)  # (I + N/2)⁻¹ = I - N/2
    a = (signs[0][:, None] * core * signs[1])[rows][:, columns]
    a_inverse = (signs[1][:, None] * core_inverse * signs[0])[columns][:, rows]
    return a.to(dtype), a_inverse.to(dtype)


def _half_pairing(n: int, generator: torch.Generator) -> Tensor:
    """A 0/1 matrix :math:`N` with :math:`N^2 = 0` pairing a random half of the indices with the other half."""
    order = torch.randperm(n, generator=generator)
    pairing = torch.zeros(n, n, dtype=torch.float64)
    pairing[order[n // 2 :], order[: n // 2]] = 1.0
    return pairing


#: The spectrum kinds of the SVD robustness study (Part 3 and ``benchmarks/svd.py``).
STUDY_KINDS = (
    "uniform entries",
    "Gaussian entries",
    "geometric",
    "clustered",
    "repeated",
    "rank-deficient",
)


def random_spectrum(kind: str, r: int, generator: torch.Generator) -> Tensor:
    r"""``r`` random singular values (float64, descending) of one of the study's hard kinds.

    ``"geometric"``: from 1 down to :math:`1/\kappa` with :math:`\kappa` log-uniform in
    :math:`[10^2, 10^6]`; ``"clustered"``: three values :math:`10^{-3}` apart at the top;
    ``"repeated"``: the largest value three times; ``"rank-deficient"``: the lower half zero.
    The others are uniform on :math:`[0.1, 1.1)`.
    """
    uniform = (
        torch.rand(r, generator=generator, dtype=torch.float64).sort(descending=True).values + 0.1
    )
    if kind == "geometric":
        return geometric_spectrum(r, 10 ** (2 + 4 * torch.rand(1, generator=generator).item()))
    if kind == "clustered":
        uniform[: min(3, r)] = 1.2 - 1e-3 * torch.arange(min(3, r), dtype=torch.float64)
    elif kind == "repeated":
        uniform[1 : min(3, r)] = uniform[0]
    elif kind == "rank-deficient":
        uniform[r // 2 :] = 0.0
    else:
        raise ValueError(f"unknown spectrum kind {kind!r}; choose one of {STUDY_KINDS[2:]}.")
    return uniform.sort(descending=True).values


def study_batch(shape: tuple[int, int], count: int, *, generator: torch.Generator) -> Tensor:
    """``count`` random float64 matrices of one shape, cycling through :data:`STUDY_KINDS`.

    Uniform and Gaussian entries are drawn directly; the other kinds get a :func:`random_spectrum`
    between Haar-random orthogonal factors (:func:`with_singular_values`).
    """
    batch = []
    for i in range(count):
        kind = STUDY_KINDS[i % len(STUDY_KINDS)]
        if kind == "uniform entries":
            batch.append(torch.rand(*shape, generator=generator, dtype=torch.float64))
        elif kind == "Gaussian entries":
            batch.append(torch.randn(*shape, generator=generator, dtype=torch.float64))
        else:
            seed = int(torch.randint(0, 10**6, (1,), generator=generator))
            batch.append(
                with_singular_values(
                    random_spectrum(kind, min(shape), generator), shape=shape, seed=seed
                )
            )
    return torch.stack(batch)


def sample_photo(*, downsample: int = 2) -> Tensor:
    """The photograph that ships with matplotlib (Grace Hopper), greyscale in [0, 1], float64.

    Luminance :math:`0.299R + 0.587G + 0.114B`, averaged over ``downsample × downsample`` blocks
    (``downsample=2``: half resolution, 300 × 256 pixels).
    """
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        rgb = torch.tensor(matplotlib.image.imread(file)[..., :3], dtype=torch.float64)
    grey = rgb @ torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64) / 255
    return torch.nn.functional.avg_pool2d(grey[None, None], downsample)[0, 0]


def low_rank_with_mask(
    m: int, n: int, rank: int, *, fraction: float, noise: float = 0.0, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    r"""A matrix-completion problem: a low-rank truth, noisy data and the mask of what is observed.

    The truth is :math:`LR^\top/\sqrt r` with Gaussian :math:`L, R` (entries of order 1), the data
    add Gaussian noise of standard deviation ``noise``, and each entry is observed independently
    with probability ``fraction``. float64.

    Returns
    -------
    tuple of Tensor
        ``(truth, data, mask)``; ``mask`` is boolean, ``True`` where observed.
    """
    generator = seeds.generator(seed)
    left = torch.randn(m, rank, generator=generator, dtype=torch.float64)
    right = torch.randn(n, rank, generator=generator, dtype=torch.float64)
    truth = left @ right.T / math.sqrt(rank)
    mask = torch.rand(m, n, generator=generator, dtype=torch.float64) < fraction
    data = truth + noise * torch.randn(m, n, generator=generator, dtype=torch.float64)
    return truth, data, mask


class SparseCompletionProblem(NamedTuple):
    """A matrix-completion problem too large to hold densely; see :func:`low_rank_entries`."""

    left: Tensor
    """The truth's left factor ``L`` (``m × rank``): the truth is ``left @ right.T``."""
    right: Tensor
    """The truth's right factor ``R`` (``n × rank``)."""
    observed: Tensor
    """The observed entries, noisy, as an ``m × n`` sparse COO tensor."""
    held_out: Tensor
    """``2 × k`` indices (rows, columns) of other entries, none observed, for testing."""

    def truth_at(self, rows: Tensor, columns: Tensor) -> Tensor:
        """The noiseless truth at the entries ``(rows[k], columns[k])``."""
        return (self.left[rows] * self.right[columns]).sum(dim=-1)


def low_rank_entries(
    m: int, n: int, rank: int, *, count: int, noise: float = 0.0, held_out: int = 0, seed: int = 0
) -> SparseCompletionProblem:
    r"""A completion problem given by its entries: ``count`` of them observed, ``held_out`` kept apart.

    The truth is :math:`LR^\top` with Gaussian :math:`L, R` scaled by :math:`r^{-1/4}` (entries of
    order 1, as in :func:`low_rank_with_mask`) and is never formed; ``count + held_out`` distinct
    entries are drawn uniformly at random, the first ``count`` observed with Gaussian noise of
    standard deviation ``noise``. Memory :math:`O((m + n)r + \text{count})`. float64.
    """
    if not count + held_out <= m * n // 2:
        raise ValueError(
            f"count + held_out = {count + held_out} entries must be at most half of the "
            f"{m * n} entries of an {m} × {n} matrix."
        )
    generator = seeds.generator(seed)
    scale = rank**-0.25
    left = scale * torch.randn(m, rank, generator=generator, dtype=torch.float64)
    right = scale * torch.randn(n, rank, generator=generator, dtype=torch.float64)
    wanted = count + held_out
    drawn = torch.empty(0, dtype=torch.int64)
    while len(drawn) < wanted:  # distinct draws; a collision costs another round (rarely needed)
        extra = torch.randint(
            m * n, (wanted - len(drawn) + wanted // 50 + 10,), generator=generator
        )
        drawn = torch.cat([drawn, extra]).unique(sorted=False)
    chosen = drawn[torch.randperm(len(drawn), generator=generator)[:wanted]]
    observed_index, held_index = chosen[:count].sort().values, chosen[count:].sort().values
    indices = torch.stack([observed_index // n, observed_index % n])
    values = torch.cat(
        [  # in chunks: no count × rank temporaries
            (left[rows] * right[columns]).sum(dim=-1)
            for rows, columns in indices.split(1 << 18, dim=1)
        ]
    )
    values += noise * torch.randn(count, generator=generator, dtype=torch.float64)
    observed = torch.sparse_coo_tensor(
        indices, values, (m, n), is_coalesced=True, check_invariants=False
    )
    held = torch.stack([held_index // n, held_index % n])
    return SparseCompletionProblem(left, right, observed, held)

"""Benchmark gdtutor.svd against torch.linalg.svd, torch.lobpcg, torch.svd_lowrank and ARPACK.

Run on demand (not part of CI):

    python benchmarks/svd.py                  # all studies, 2 threads
    python benchmarks/svd.py --quick          # fewer repeats and a smaller robustness study

Every comparison is at equal accuracy, in one run: each method gets its cheapest setting, from a
list ordered by cost, that brings the top 10 singular values within 1e-10 sigma_1 and the top-10
singular subspace within 1e-8 rad (largest principal angle) of a reference; its time is the best
of N wall times and counts all its work (forming A^T A for torch.lobpcg included). Float64.

1. Dense 4000 x 1500 Gaussian. Targets: gdtutor.svd <= 1.0x torch.lobpcg (on A^T A, formed)
   and <= 0.5x torch.linalg.svd.
2. Sparse 100,000 x 20,000 with 2,000,000 Gaussian nonzeros at random places (a flat top:
   sigma_1, sigma_2, sigma_3 within 0.5 %), given as a sparse tensor; the reference is ARPACK
   at tol=0. Target: gdtutor.svd within 1.5x ARPACK (scipy.sparse.linalg.svds); the process's
   peak memory is reported, and where each method's time goes: vectors multiplied, seconds in
   the products and in the rest.
3. 2000 x 500 with Gaussian entries (a flat top) and with a geometric spectrum (kappa = 1e4).
   Targets: gdtutor.svd <= 0.5x svd_lowrank and <= 2x torch.lobpcg on the Gaussian matrix,
   <= 1.0x svd_lowrank on the geometric one.
4. converged=True on Gaussian, uniform, geometric, clustered and rank-deficient matrices of
   100 x 80, 1000 x 300 and 2000 x 500, float32 and float64 (top 10); the full thin SVD of
   100 x 80 in at most 0.5 s.
5. Robustness: 200 random float64 matrices of mixed shapes and spectra, top 5 (as on the Part 3
   page); a failure is a singular value off by more than 1e-6 sigma_1 or a triplet residual
   (which checks the vectors) above 1e-6.
"""

from __future__ import annotations

import argparse
import math
import resource
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import torch

import gdtutor
from gdtutor import matrices, metrics, operators
from gdtutor.report import best_time, cheapest_meeting, markdown_table

VALUE_TARGET, SUBSPACE_TARGET = 1e-10, 1e-8


Result = tuple[
    torch.Tensor, torch.Tensor
]  # the left singular vectors (or a basis of their span) and values
Candidates = dict[str, list[tuple[str, Callable[[], Result]]]]
TOLS = [1e-7, 3e-8, 1e-8, 3e-9, 1e-9, 3e-10, 1e-10, 1e-11]


def equal_accuracy(
    candidates: Candidates, reference: Result, k: int, repeat: int
) -> dict[str, tuple[str, float, float, float]]:
    """Each method's cheapest setting that reaches the targets against ``reference``.

    Rows of (setting, seconds, value error, subspace angle), by method.
    """
    reference_u, reference_s = reference

    def errors(result: Result) -> tuple[float, float]:
        u, s = result
        q = torch.linalg.qr(u[:, :k]).Q  # span of the first k left vectors (or of A V)
        values = metrics.singular_value_error(s[:k], reference_s[:k])
        return values, metrics.largest_principal_angle(q, reference_u[:, :k])

    def meets(result: Result) -> bool:
        values, angle = errors(result)
        return values <= VALUE_TARGET and angle <= SUBSPACE_TARGET

    rows = {}
    for method, settings in candidates.items():
        setting, seconds, result = cheapest_meeting(settings, meets, repeat)
        rows[method] = (setting, seconds, *errors(result))
    return rows


def ours(a: object, k: int, tol: float, **options: object) -> Result:
    """gdtutor.svd, top k, at ``tol``."""
    result = gdtutor.svd(a, k, tol=tol, **options)
    return result.U, result.S


def library_lobpcg(a: torch.Tensor, k: int, size: int, tol: float) -> Result:
    """torch.lobpcg on AᵀA, formed inside (its cost counts), with ``size`` vectors."""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(a.shape[-1], size, generator=generator, dtype=a.dtype)
    values, v = torch.lobpcg(a.mT @ a, k=size, X=start, largest=True, tol=tol)
    return a @ v, values.clamp_min(0).sqrt()  # span(AV) = span(U)


def dense_candidates(a: torch.Tensor, k: int, *, lowrank: bool) -> Candidates:
    """gdtutor.svd, torch.linalg.svd, torch.lobpcg and (if ``lowrank``) torch.svd_lowrank on ``a``."""

    def randomized(q: int, niter: int) -> Result:
        torch.manual_seed(0)  # svd_lowrank's random test matrix
        u, s, _ = torch.svd_lowrank(a, q=q, niter=niter)
        return u, s

    def full() -> Result:
        u, s, _ = torch.linalg.svd(a, full_matrices=False)
        return u, s

    candidates: Candidates = {
        "torch.linalg.svd": [("all triplets", full)],
        "gdtutor.svd (LOBPCG)": [(f"tol={tol:g}", partial(ours, a, k, tol)) for tol in TOLS],
        "gdtutor.svd (LOBPCG, AᵀA formed)": [
            (f"form_gram=True, tol={tol:g}", partial(ours, a, k, tol, form_gram=True))
            for tol in TOLS
        ],
        "torch.lobpcg": [
            (
                f"on AᵀA (formed), {size} vectors, tol={tol:g}",
                partial(library_lobpcg, a, k, size, tol),
            )
            for tol in (1e-8, 1e-9, 1e-10, 1e-11)
            for size in (k, 3 * k // 2, 2 * k)
        ],
    }
    if lowrank:
        settings = sorted(
            (
                (q, niter)
                for q in (2 * k, 3 * k)
                for niter in (8, 12, 16, 20, 24, 32, 40, 48, 64, 96, 128, 160, 192, 256, 320)
            ),
            key=lambda setting: setting[0] * (2 * setting[1] + 2),  # vectors multiplied
        )
        candidates["torch.svd_lowrank"] = [
            (f"q={q}, niter={niter}", partial(randomized, q, niter)) for q, niter in settings
        ]
    return candidates


def sparse_gaussian(m: int, n: int, count: int, seed: int) -> torch.Tensor:
    """An m × n sparse COO tensor: ``count`` Gaussian entries at uniform random places, coalesced."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(m, (count,), generator=generator)
    columns = torch.randint(n, (count,), generator=generator)
    values = torch.randn(count, generator=generator, dtype=torch.float64)
    return torch.sparse_coo_tensor(torch.stack([rows, columns]), values, (m, n)).coalesce()


def arpack(a: object, k: int, tol: float) -> Result:
    """ARPACK's Lanczos (scipy.sparse.linalg.svds), top k, sorted descending."""
    from scipy.sparse.linalg import svds

    u, s, _ = svds(a, k=k, tol=tol, random_state=0)
    order = s.argsort()[::-1].copy()
    return torch.from_numpy(u[:, order].copy()), torch.from_numpy(s[order].copy())


class Timed:
    """A product function that counts the vectors it multiplies and the seconds it takes."""

    def __init__(self, times: Callable[[Any], Any]) -> None:
        self.times, self.vectors, self.seconds = times, 0, 0.0

    def __call__(self, block: Any) -> Any:
        """``times(block)``, counted and timed."""
        start = time.perf_counter()
        product = self.times(block)
        self.seconds += time.perf_counter() - start
        self.vectors += block.shape[1] if block.ndim == 2 else 1
        return product


def product_share(
    run: Callable[[Timed, Timed], object],
    times: Callable[[Any], Any],
    transpose_times: Callable[[Any], Any],
    repeat: int,
) -> tuple[int, float, float]:
    """Vectors multiplied, seconds in products and seconds in all, of the fastest of ``repeat`` runs.

    ``run(forward, backward)`` computes with the products by A and by Aᵀ it is given, which
    wrap ``times`` and ``transpose_times``.
    """
    best = (0, math.inf, math.inf)
    for _ in range(repeat):
        forward, backward = Timed(times), Timed(transpose_times)
        start = time.perf_counter()
        run(forward, backward)
        seconds = time.perf_counter() - start
        if seconds < best[2]:
            best = (forward.vectors + backward.vectors, forward.seconds + backward.seconds, seconds)
    return best


def sparse_study(
    k: int, repeat: int
) -> tuple[dict[str, tuple[str, float, float, float]], dict[str, tuple[int, float, float]], float]:
    """The issue's sparse matrix: rows as :func:`equal_accuracy`'s, each method's work, peak memory.

    The work, at each method's chosen setting: vectors multiplied by A and Aᵀ, seconds in those
    products and seconds in all (each product function wrapped by :class:`Timed`; for
    gdtutor.svd, the sparse tensor's own products, wrapped in :class:`gdtutor.operators.Products`
    once more, so each product's check for NaN runs twice). The process's peak memory is in GB.
    """
    import scipy.sparse
    from scipy.sparse.linalg import LinearOperator as ScipyOperator

    a = sparse_gaussian(100_000, 20_000, 2_000_000, seed=1)
    indices, values = a.indices().numpy(), a.values().numpy()
    a_scipy = scipy.sparse.csr_matrix((values, (indices[0], indices[1])), shape=tuple(a.shape))
    reference = arpack(a_scipy, k, 0.0)  # to machine precision, not timed
    lanczos, lobpcg = "ARPACK (scipy svds)", "gdtutor.svd (LOBPCG, sparse COO)"
    candidates: Candidates = {
        lanczos: [
            (f"tol={tol:g}", partial(arpack, a_scipy, k, tol))
            for tol in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10)
        ],
        lobpcg: [(f"tol={tol:g}", partial(ours, a, k, tol)) for tol in TOLS],
    }
    rows = equal_accuracy(candidates, reference, k, repeat)
    tol = {method: float(rows[method][0].removeprefix("tol=")) for method in rows}
    products, _ = operators.as_products(a)  # the very products gdtutor.svd multiplies by

    def lanczos_run(forward: Timed, backward: Timed) -> None:
        operator = ScipyOperator(
            a_scipy.shape,
            matvec=forward,
            rmatvec=backward,
            matmat=forward,
            rmatmat=backward,
            dtype=a_scipy.dtype,
        )
        arpack(operator, k, tol[lanczos])

    def lobpcg_run(forward: Timed, backward: Timed) -> None:
        ours(operators.Products(a.shape, a.dtype, a.device, forward, backward), k, tol[lobpcg])

    work = {
        lanczos: product_share(lanczos_run, a_scipy.dot, a_scipy.T.dot, repeat),
        lobpcg: product_share(lobpcg_run, products.__matmul__, products.mT.__matmul__, repeat),
    }
    return rows, work, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def convergence(kinds: Iterable[str]) -> list[tuple[object, ...]]:
    """Rows of (shape, kind, dtype, converged, steps, products, seconds, value error)."""
    rows = []
    for shape in ((100, 80), (1000, 300), (2000, 500)):
        for kind in kinds:
            generator = torch.Generator().manual_seed(3)
            a = _matrix(kind, shape, generator)
            reference = torch.linalg.svdvals(a)
            for dtype in (torch.float64, torch.float32):
                start = time.perf_counter()
                result = gdtutor.svd(a.to(dtype), 10)
                seconds = time.perf_counter() - start
                error = metrics.singular_value_error(result.S.double(), reference[:10])
                rows.append(
                    (
                        f"{shape[0]}×{shape[1]}",
                        kind,
                        str(dtype).removeprefix("torch."),
                        result.converged,
                        result.steps,
                        result.evaluations,
                        seconds,
                        error,
                    )
                )
    return rows


def _matrix(kind: str, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    if kind == "uniform entries":
        return torch.rand(*shape, generator=generator, dtype=torch.float64)
    if kind == "Gaussian entries":
        return torch.randn(*shape, generator=generator, dtype=torch.float64)
    spectrum = matrices.random_spectrum(kind, min(shape), generator)
    return matrices.with_singular_values(spectrum, shape=shape, seed=3)


def robustness(per_shape: int, method: str) -> tuple[int, int, float, float, float]:
    """Failures, count, worst value error, worst residual and seconds over mixed random matrices."""
    generator = torch.Generator().manual_seed(0)
    values, residuals, start = [], [], time.perf_counter()
    for shape in [(40, 30), (30, 30), (25, 45), (80, 20)]:  # as on the Part 3 page, top 5
        stacked = matrices.study_batch(shape, per_shape, generator=generator)
        reference = torch.linalg.svdvals(stacked)[:, :5]
        result = gdtutor.svd(stacked, 5, method=method)
        values.append(((result.S - reference).abs() / reference[:, :1]).amax(dim=-1))
        residuals.append(result.residual)
    value_errors, residual = torch.cat(values), torch.cat(residuals)
    failures = int(((value_errors > 1e-6) | (residual > 1e-6)).sum())
    return (
        failures,
        len(value_errors),
        value_errors.max().item(),
        residual.max().item(),
        time.perf_counter() - start,
    )


def print_rows(
    title: str, rows: dict[str, tuple[str, float, float, float]], reference: str
) -> None:
    """A study's table, times also as ratios to ``reference``'s and to gdtutor.svd's."""
    print(f"## {title}: values to {VALUE_TARGET:g} σ₁, subspace to {SUBSPACE_TARGET:g} rad\n")
    reference_time = rows[reference][1]
    print(
        markdown_table(
            [
                "method",
                "cheapest setting",
                "seconds",
                f"/ {reference}",
                "value error",
                "subspace angle",
            ],
            [
                (method, setting, t, t / reference_time, v, angle)
                for method, (setting, t, v, angle) in rows.items()
            ],
            ["", "", ".3f", ".2f", ".1e", ".1e"],
        )
    )
    print()


def print_verdicts(verdicts: list[tuple[str, bool]]) -> None:
    """The targets, met or not."""
    print("## targets\n")
    print(
        markdown_table(
            ["target", "met"], [(name, "yes" if met else "NO") for name, met in verdicts], ["", ""]
        )
    )


def main() -> None:
    """Parse the arguments, run the studies, print Markdown tables and the targets."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one repeat, 20 matrices per shape")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--study",
        choices=("all", "dense", "sparse", "small"),
        default="all",
        help="dense: 4000 × 1500; sparse: 100,000 × 20,000; small: the 2000 × 500 and robustness studies",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeat, per_shape = (1, 20) if args.quick else (5, 50)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    k, verdicts = 10, []
    if args.study in ("all", "dense"):
        a = torch.randn(4000, 1500, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        reference = torch.linalg.svd(a, full_matrices=False)
        rows = equal_accuracy(dense_candidates(a, k, lowrank=False), reference[:2], k, repeat)
        print_rows(f"top {k} of a dense 4000 × 1500 Gaussian matrix", rows, "torch.linalg.svd")
        ours_time = min(
            rows["gdtutor.svd (LOBPCG)"][1], rows["gdtutor.svd (LOBPCG, AᵀA formed)"][1]
        )
        verdicts += [
            ("dense 4000×1500: ≤ 1.0× torch.lobpcg", ours_time <= rows["torch.lobpcg"][1]),
            (
                "dense 4000×1500: ≤ 0.5× torch.linalg.svd",
                ours_time <= 0.5 * rows["torch.linalg.svd"][1],
            ),
        ]
    if args.study in ("all", "sparse"):
        rows, work, peak = sparse_study(k, repeat)
        print_rows(
            f"top {k} of a sparse 100,000 × 20,000 matrix, 2,000,000 Gaussian nonzeros",
            rows,
            "ARPACK (scipy svds)",
        )
        print("### where the time goes, at the settings above (fastest of the runs)\n")
        print(
            markdown_table(
                ["method", "vectors multiplied", "seconds in products", "seconds in the rest"],
                [(method, f"{v:,}", p, t - p) for method, (v, p, t) in work.items()],
                ["", "", ".3f", ".3f"],
            )
        )
        print(f"\npeak memory of the process: {peak:.2f} GB\n")
        ratio = rows["gdtutor.svd (LOBPCG, sparse COO)"][1] / rows["ARPACK (scipy svds)"][1]
        verdicts.append(("sparse: ≤ 1.5× ARPACK", ratio <= 1.5))
    if args.study not in ("all", "small"):
        print_verdicts(verdicts)
        return
    spectra = {
        "Gaussian entries": torch.randn(
            2000, 500, generator=torch.Generator().manual_seed(1), dtype=torch.float64
        ),
        "geometric, κ = 1e4": matrices.with_singular_values(
            matrices.geometric_spectrum(500, 1e4), shape=(2000, 500), seed=1
        ),
    }
    for name, a in spectra.items():
        reference = torch.linalg.svd(a, full_matrices=False)
        rows = equal_accuracy(dense_candidates(a, k, lowrank=True), reference[:2], k, repeat)
        print_rows(f"top {k} of 2000 × 500, {name}", rows, "torch.linalg.svd")
        ours_time = min(
            rows["gdtutor.svd (LOBPCG)"][1], rows["gdtutor.svd (LOBPCG, AᵀA formed)"][1]
        )
        versus_lowrank = ours_time / rows["torch.svd_lowrank"][1]
        versus_lobpcg = ours_time / rows["torch.lobpcg"][1]
        if name.startswith("Gaussian"):
            verdicts += [
                ("Gaussian 2000×500: ≤ 0.5× svd_lowrank", versus_lowrank <= 0.5),
                ("Gaussian 2000×500: ≤ 2× torch.lobpcg", versus_lobpcg <= 2.0),
            ]
        else:
            verdicts.append(("geometric 2000×500: ≤ 1.0× svd_lowrank", versus_lowrank <= 1.0))
    kinds = ("Gaussian entries", "uniform entries", "geometric", "clustered", "rank-deficient")
    rows = convergence(kinds)
    print("## converged on every kind, shape and dtype (top 10, default settings)\n")
    print(
        markdown_table(
            ["shape", "kind", "dtype", "converged", "steps", "products", "seconds", "value error"],
            rows,
            ["", "", "", "", "d", "d", ".3f", ".1e"],
        )
    )
    verdicts.append(("converged=True everywhere", all(row[3] for row in rows)))
    full = torch.rand(100, 80, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    seconds, result = best_time(lambda: gdtutor.svd(full), repeat)
    print(
        f"\nfull thin SVD of 100 × 80: {seconds:.4f} s, converged={result.converged}, "
        f"residual {result.residual.item():.1e}\n"
    )
    verdicts.append(("full thin SVD of 100×80 ≤ 0.5 s", seconds <= 0.5 and result.converged))
    for method in ("lobpcg", "brockett"):
        failures, count, worst, residual, seconds = robustness(per_shape, method)
        print(f"## robustness: gdtutor.svd(method={method!r}) on {count} mixed random matrices\n")
        print(
            f"failures: {failures} of {count}; worst value error {worst:.1e}; "
            f"worst residual {residual:.1e}; {seconds:.1f} s\n"
        )
        verdicts.append((f"robustness, {method}: 0 failures", failures == 0))
    print_verdicts(verdicts)


if __name__ == "__main__":
    main()

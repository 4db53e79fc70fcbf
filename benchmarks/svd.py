"""Benchmark gdtutor.svd's top-k against torch.svd_lowrank and torch.linalg.svd; robustness study.

Run on demand (not part of CI):

    python benchmarks/svd.py                       # 2000 x 500, k = 10, float64
    python benchmarks/svd.py --shape 1000 300 --k 5 --kappa 1e6

Prints, for one matrix with a geometric (decaying) spectrum, each method's best wall time as a
ratio to torch.linalg.svd measured in the same run, its largest singular-value error relative to
sigma_1, and the largest angle between a computed singular vector and the reference. Then it runs
gdtutor.svd (Brockett, the default, and LOBPCG) on 200 random float64 matrices of mixed shapes and
spectra (as on the Part 3 page) and counts failures: a singular value off by more than 1e-6 sigma_1.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import gdtutor
from gdtutor import matrices, metrics
from gdtutor.report import best_time, markdown_table


def top_k_comparison(
    shape: tuple[int, int], k: int, kappa: float, repeat: int
) -> list[tuple[object, ...]]:
    """Rows of (method, time ratio to torch.linalg.svd, value error, worst vector angle)."""
    a = matrices.with_singular_values(
        matrices.geometric_spectrum(min(shape), kappa), shape=shape, seed=1
    )
    reference = torch.linalg.svd(a, full_matrices=False)
    torch.manual_seed(0)  # svd_lowrank's random test matrix
    methods: dict[str, Callable[[], object]] = {
        "torch.linalg.svd": lambda: torch.linalg.svd(a, full_matrices=False),
        f"gdtutor.svd(k={k})": lambda: gdtutor.svd(a, k=k),
        f"gdtutor.svd(k={k}, method='lobpcg')": lambda: gdtutor.svd(a, k=k, method="lobpcg"),
        f"torch.svd_lowrank(q={k}, niter=2)": lambda: torch.svd_lowrank(a, q=k, niter=2),
        f"torch.svd_lowrank(q={2 * k}, niter=2)": lambda: torch.svd_lowrank(a, q=2 * k, niter=2),
        f"torch.svd_lowrank(q={2 * k}, niter=6)": lambda: torch.svd_lowrank(a, q=2 * k, niter=6),
    }
    reference_time, _ = best_time(methods["torch.linalg.svd"], repeat)
    rows = []
    for name, compute in methods.items():
        if name == "torch.linalg.svd":  # the reference row reuses the reference measurement
            seconds, (u, s, _) = reference_time, reference
        else:
            seconds, (u, s, _) = best_time(compute, 1 if name.startswith("gdtutor") else repeat)
        angle = max(
            metrics.largest_principal_angle(u[:, i : i + 1], reference.U[:, i : i + 1])
            for i in range(k)
        )
        rows.append(
            (
                name,
                seconds / reference_time,
                metrics.singular_value_error(s[:k], reference.S[:k]),
                angle,
            )
        )
    return rows


def robustness(per_shape: int, method: str) -> tuple[int, int, float, float]:
    """Failures, count, worst error and seconds of gdtutor.svd over mixed random matrices."""
    generator = torch.Generator().manual_seed(0)
    errors, start = [], time.perf_counter()
    for shape in [(5, 4), (8, 8), (6, 10), (15, 6)]:
        stacked = matrices.study_batch(shape, per_shape, generator=generator)
        reference = torch.linalg.svdvals(stacked)
        values = gdtutor.svd(stacked, method=method).S
        errors.append(((values - reference).abs() / reference[:, :1]).amax(dim=-1))
    all_errors = torch.cat(errors)
    return (
        int((all_errors > 1e-6).sum()),
        len(all_errors),
        all_errors.max().item(),
        time.perf_counter() - start,
    )


def main() -> None:
    """Parse the arguments, run both studies, print Markdown tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", type=int, nargs=2, default=[2000, 500])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--kappa", type=float, default=1e4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--per-shape", type=int, default=50, help="matrices per shape in the robustness study"
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64\n")
    m, n = args.shape
    print(f"## top {args.k} of a {m} x {n} matrix, geometric spectrum, kappa = {args.kappa:g}\n")
    rows = top_k_comparison((m, n), args.k, args.kappa, args.repeat)
    print(
        markdown_table(
            ["method", "time / torch.linalg.svd", "value error", "worst vector angle"],
            rows,
            ["", ".3f", ".1e", ".1e"],
        )
    )
    for method in ("brockett", "lobpcg"):
        failures, count, worst, seconds = robustness(args.per_shape, method)
        print(f"\n## robustness: gdtutor.svd(method={method!r}) on {count} mixed random matrices\n")
        print(
            f"failures (value error > 1e-6 sigma_1): {failures} of {count}; worst error {worst:.1e}; {seconds:.1f} s"
        )


if __name__ == "__main__":
    main()

"""Benchmark gdtutor.complete: gradient descent against alternating least squares, same run.

Run on demand (not part of CI):

    python benchmarks/completion.py

Two problems from the Part 4 issue, float64, 2 threads:

- noisy: a rank-5 600 × 500 matrix plus Gaussian noise 0.1, 8 % of its entries observed. Every
  method minimises the same ridge objective (ridge 0.1); the table gives the RMSE against the
  truth on the missing entries and the time, with ratios to ALS (targets: gradient descent's
  RMSE at most 1.1 × ALS's, in at most 3 × ALS's time; the issue's reference is a plain 100-sweep
  ALS, and an ALS stopped at a plateau is shown too). Zero-filling and a rank-5 SVD is the baseline
  LAPACK can offer.
- exact: a noiseless rank-4 300 × 200 matrix, 30 % observed (target: relative error on the missing
  entries at most 1e-6).
"""

from __future__ import annotations

import math

import torch

import gdtutor
from gdtutor import matrices
from gdtutor.report import best_time, markdown_table


def main() -> None:
    """Run both problems and print Markdown tables."""
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64\n")
    truth, data, mask = matrices.low_rank_with_mask(600, 500, 5, fraction=0.08, noise=0.1, seed=1)
    hidden = ~mask

    def rmse(x: torch.Tensor) -> float:
        return (x - truth)[hidden].square().mean().sqrt().item()

    zero_filled = torch.where(mask, data, torch.zeros_like(data))
    u, s, vh = torch.linalg.svd(zero_filled, full_matrices=False)
    runs = {
        "ALS (100 sweeps)": dict(method="als", ridge=0.1, max_steps=100, tol=1e-15),
        "ALS (to a plateau, tol 1e-6)": dict(method="als", ridge=0.1, max_steps=100, tol=1e-6),
        "gradient descent": dict(method="gd", ridge=0.1, tol=1e-4),
        "gradient descent, random start": dict(method="gd", ridge=0.1, tol=1e-4, init="random"),
    }
    timed = {
        name: best_time(lambda o=o: gdtutor.complete(data, 5, mask=mask, **o), 3)
        for name, o in runs.items()
    }
    als_time, als = timed["ALS (100 sweeps)"]
    zero_fill = rmse((u[:, :5] * s[:5]) @ vh[:5])
    rows = [("zero-fill + rank-5 SVD", "-", zero_fill, zero_fill / rmse(als.completed), math.nan)]
    for name, (seconds, result) in timed.items():
        rows.append(
            (
                name,
                result.steps,
                rmse(result.completed),
                rmse(result.completed) / rmse(als.completed),
                seconds / als_time,
            )
        )
    print("## noisy: rank 5, 600 × 500, noise 0.1, 8 % observed\n")
    print(
        markdown_table(
            ["method", "steps", "RMSE on missing", "RMSE / ALS", "time / ALS"],
            rows,
            ["", "", ".4f", ".3f", ".2f"],
        )
    )
    print(f"\nALS time: {als_time:.2f} s\n")

    truth, data, mask = matrices.low_rank_with_mask(300, 200, 4, fraction=0.3, seed=2)
    hidden = ~mask
    rows = []
    for method in ("als", "gd"):
        seconds, result = best_time(
            lambda m=method: gdtutor.complete(
                data, 4, mask=mask, method=m, tol=1e-14, max_steps=20_000
            ),
            1,
        )
        error = ((result.completed - truth)[hidden].norm() / truth[hidden].norm()).item()
        rows.append((method, result.steps, error, seconds))
    print("## exact: rank 4, 300 × 200, noiseless, 30 % observed (target: error ≤ 1e-6)\n")
    print(
        markdown_table(
            ["method", "steps", "relative error on missing", "time (s)"],
            rows,
            ["", "d", ".1e", ".2f"],
        )
    )


if __name__ == "__main__":
    main()

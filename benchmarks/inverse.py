"""Benchmark gdtutor.inverse against torch.linalg.inv, and the descent loop against a bare loop.

Run on demand (not part of CI):

    python benchmarks/inverse.py                 # n = 64, 256, 1024; kappa = 10; float64
    python benchmarks/inverse.py --sizes 64 256 --kappa 100

For each size it prints every method's wall time as a ratio to torch.linalg.inv measured in the
same run, with LAPACK's scaled residual ||I - XA||_1 / (n ||A||_1 ||X||_1 u) (xGET03; LAPACK's
tests accept < 30) and the same for the right residual I - AX, which the methods drive down.
Gradient methods run to a relative residual of 1e-12 or their step budget.

Then the Newton–Schulz variants against torch.linalg.inv on a matrix whose inverse is known
exactly (n = 1024, kappa = 128 by default; target: a variant within 12x of torch.linalg.inv at
LAPACK's accuracy): plain, scaled (scaled=True), and mixed precision (scaled in float32, then
plain float64 steps from that start).

Last, it times gdtutor.descend against the plain loop `zero_grad; loss; backward; step` on the
same problem, and prints the ratio of time per step (target: at most 1.1).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

import gdtutor
from gdtutor import inversion, matrices, metrics
from gdtutor.report import best_time, markdown_table


def compare_methods(n: int, kappa: float, budget: int, repeat: int) -> list[tuple[object, ...]]:
    """Rows of (method, steps, time ratio to torch.linalg.inv, scaled residual) for one size."""
    a = matrices.with_condition_number(n, kappa, seed=n)
    reference_time, _ = best_time(lambda: torch.linalg.inv(a), max(repeat, 5))
    heavy_lr, heavy_momentum = inversion.heavy_ball_parameters(a)
    methods: dict[str, Callable[[], gdtutor.InverseResult]] = {
        "newton-schulz": lambda: gdtutor.inverse(a),
        "cgnr": lambda: gdtutor.inverse(a, "cgnr"),
        "heavy-ball": lambda: gdtutor.inverse(
            a,
            "optimizer",
            optimizer="sgd",
            lr=heavy_lr,
            momentum=heavy_momentum,
            tol=1e-12,
            max_steps=budget,
        ),
        "gd (optimal step)": lambda: gdtutor.inverse(a, "gd", tol=1e-12, max_steps=budget),
    }
    x = torch.linalg.inv(a)
    rows: list[tuple[object, ...]] = [("torch.linalg.inv", "-", 1.0, *_scaled_residuals(a, x))]
    for name, run in methods.items():
        seconds, result = best_time(run, repeat if name in ("newton-schulz", "cgnr") else 1)
        steps = f"{result.steps}" + ("" if result.converged else " (budget)")
        rows.append((name, steps, seconds / reference_time, *_scaled_residuals(a, result.inverse)))
    return rows


def _scaled_residuals(a: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """LAPACK's scaled residual of the left (its own test) and of the right residual."""
    return (
        metrics.inverse_scaled_residual(a, x),
        metrics.inverse_scaled_residual(a, x, side="right"),
    )


def newton_schulz_variants(n: int, kappa: int, repeat: int) -> list[tuple[object, ...]]:
    """Rows of (method, products, time / torch.linalg.inv, forward error, scaled residuals)."""
    a, exact = matrices.with_exact_inverse(n, kappa, seed=n)
    a32 = a.float()

    def mixed() -> gdtutor.InverseResult:
        start = gdtutor.inverse(a32, scaled=True).inverse
        return gdtutor.inverse(a, start=start)

    variants: dict[str, Callable[[], object]] = {
        "torch.linalg.inv": lambda: torch.linalg.inv(a),
        "newton-schulz": lambda: gdtutor.inverse(a),
        "newton-schulz, scaled": lambda: gdtutor.inverse(a, scaled=True),
        "scaled in float32, then float64 steps": mixed,
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, object] = {}
    for _ in range(repeat):  # interleaved, so that all see the same machine state
        for name, run in variants.items():
            seconds, outputs[name] = best_time(run, 1)
            times[name].append(seconds)
    reference_time = min(times["torch.linalg.inv"])
    rows: list[tuple[object, ...]] = []
    for name, output in outputs.items():
        x = output if isinstance(output, torch.Tensor) else output.inverse  # type: ignore[attr-defined]
        products = "-" if isinstance(output, torch.Tensor) else output.evaluations  # type: ignore[attr-defined]
        if name.startswith("scaled in float32"):
            first = gdtutor.inverse(a32, scaled=True).evaluations
            products = f"{first} in float32 + {products}"
        rows.append(
            (
                name,
                products,
                min(times[name]) / reference_time,
                metrics.inverse_forward_error(a, x, exact),
                *_scaled_residuals(a, x),
            )
        )
    return rows


def loop_overhead(n: int, steps: int, repeat: int) -> tuple[float, float, float]:
    """Time per step of gdtutor.descend and of a bare torch loop, and their ratio."""
    a = matrices.with_condition_number(n, 10.0, seed=n)
    eye = torch.eye(n, dtype=a.dtype)
    lr = 1.0 / torch.linalg.matrix_norm(a, ord=2).item() ** 2

    def bare() -> None:
        x = torch.zeros(n, n, dtype=a.dtype, requires_grad=True)
        opt = torch.optim.SGD([x], lr=lr)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * (a @ x - eye).square().sum()
            loss.backward()
            opt.step()

    def ours() -> None:
        x = torch.zeros(n, n, dtype=a.dtype)
        gdtutor.descend(
            lambda: 0.5 * (a @ x - eye).square().sum(), [x], "sgd", lr=lr, max_steps=steps
        )

    bare_times, our_times = [], []
    for _ in range(repeat):  # interleaved, so that both see the same machine state
        bare_times.append(best_time(bare, 1)[0])
        our_times.append(best_time(ours, 1)[0])
    per_step_bare, per_step_ours = min(bare_times) / steps, min(our_times) / steps
    return per_step_bare, per_step_ours, per_step_ours / per_step_bare


def main() -> None:
    """Parse the arguments, run both benchmarks, print Markdown tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--kappa", type=float, default=10.0)
    parser.add_argument(
        "--budget", type=int, default=5000, help="step budget of the gradient methods"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--variants-size", type=int, default=1024, help="n for the Newton–Schulz variants (2^k)"
    )
    parser.add_argument(
        "--variants-kappa", type=int, default=128, help="kappa for the variants (2^k)"
    )
    args = parser.parse_args()
    torch.set_default_dtype(torch.float64)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, kappa = {args.kappa:g}\n"
    )
    for n in args.sizes:
        print(f"## n = {n}\n")
        rows = compare_methods(n, args.kappa, args.budget, args.repeat)
        print(
            markdown_table(
                ["method", "steps", "time / torch.linalg.inv", "LAPACK test (I - XA)", "I - AX"],
                rows,
                ["", "", ".1f", ".2g", ".2g"],
            )
        )
        print()
    print(
        f"## Newton–Schulz variants: n = {args.variants_size}, kappa = {args.variants_kappa}, "
        "exact inverse known (target: within 12x of torch.linalg.inv)\n"
    )
    print(
        markdown_table(
            [
                "method",
                "products",
                "time / torch.linalg.inv",
                "forward error",
                "LAPACK test (I - XA)",
                "I - AX",
            ],
            newton_schulz_variants(args.variants_size, args.variants_kappa, args.repeat),
            ["", "", ".1f", ".1e", ".2g", ".2g"],
        )
    )
    print()
    print("## descent loop vs bare torch loop (time per step)\n")
    overhead_rows = []
    for n in args.sizes:
        steps = max(20, 20_000 // n)
        bare, ours, ratio = loop_overhead(n, steps, args.repeat)
        overhead_rows.append((n, steps, 1e6 * bare, 1e6 * ours, ratio))
    print(
        markdown_table(
            ["n", "steps", "bare loop (µs/step)", "gdtutor.descend (µs/step)", "ratio"],
            overhead_rows,
            ["d", "d", ".1f", ".1f", ".3f"],
        )
    )


if __name__ == "__main__":
    main()

"""Tables, timings and run cards for the tutorials and benchmarks."""

from __future__ import annotations

import math
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], formats: Sequence[str] | None = None
) -> str:
    """Format rows as a Markdown table.

    Parameters
    ----------
    headers
        Column titles.
    rows
        One sequence of cells per row, as many as ``headers``.
    formats
        A format spec per column (``".2e"``, ``"d"``, ``""`` for ``str``); floats default to ``".3g"``.

    Examples
    --------
    >>> print(markdown_table(["method", "error"], [["inv", 1.5e-16]]))
    | method | error |
    |---|---|
    | inv | 1.5e-16 |
    """
    specs = list(formats) if formats is not None else [""] * len(headers)
    if len(specs) != len(headers):
        raise ValueError(
            f"need one format per column: {len(headers)} headers, {len(specs)} formats."
        )
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells for {len(headers)} columns.")
        cells = [_cell(value, spec) for value, spec in zip(row, specs, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: object, spec: str) -> str:
    if spec:
        return format(value, spec)
    if isinstance(value, float):
        return format(value, ".3g")
    return str(value)


def best_time(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The best wall time of ``repeat`` calls of ``fn``, in seconds, and the last call's result.

    The minimum is the least disturbed by other work on the machine.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1; got {repeat}.")
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def cheapest_meeting(
    settings: Sequence[tuple[str, Callable[[], Any]]],
    meets: Callable[[Any], bool],
    repeat: int = 3,
) -> tuple[str, float, Any]:
    """The first of ``settings`` whose result ``meets`` a target, and its best time.

    ``settings`` are ``(name, compute)`` pairs ordered from cheapest to dearest, e.g. a
    randomized SVD with more and more power iterations. Each is run once until one meets the
    target; that one is then timed with :func:`best_time`. This is how methods are compared
    at equal accuracy. Returns its name, seconds and result.

    Raises
    ------
    ValueError
        When no setting meets the target: extend the list.
    """
    for name, compute in settings:
        if meets(compute()):
            seconds, result = best_time(compute, repeat)
            return name, seconds, result
    raise ValueError(
        f"none of {[name for name, _ in settings]} meets the target; add dearer settings."
    )


def run_environment() -> dict[str, str]:
    """What produces the numbers: versions, device, threads, commit and date, as text.

    The device names the CPU kernels PyTorch dispatches to (e.g. AVX512), which decide the last
    bits of float32 results, and a CUDA device when one is present. The commit is the checkout's
    (marked when it has uncommitted changes).
    """
    device = f"CPU ({torch.backends.cpu.get_cpu_capability()} kernels)"
    if torch.cuda.is_available():
        device += f"; CUDA: {torch.cuda.get_device_name()} (not used by the tutorials)"
    return {
        "Python": platform.python_version(),
        "PyTorch": torch.__version__,
        "NumPy": np.__version__,
        "device": device,
        "threads": str(torch.get_num_threads()),
        "commit": _git_commit(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def run_card(started: float) -> str:
    """A Markdown table of :func:`run_environment` and the run time since ``started``.

    Parameters
    ----------
    started
        A ``time.perf_counter()`` reading taken when the page started running.
    """
    rows = [*run_environment().items(), ("run time", f"{time.perf_counter() - started:.1f} s")]
    return markdown_table(["setting", "this page was run with"], rows)


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} (with uncommitted changes)" if changes else commit

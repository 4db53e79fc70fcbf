"""Tables and timings for the tutorials and benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any


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

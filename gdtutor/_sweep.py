"""The robustness sweep: every tutorial executed under variations of seed and numeric environment.

A claim that holds on the machine and the draw in front of its author may fail on a reader's: CPUs
round differently (AVX2 against AVX-512, Intel against AMD, other BLAS libraries), thread counts
change the order of reductions, and another seed draws another matrix. The sweep executes every
tutorial, in a fresh kernel, under :data:`VARIATIONS`, each a seed shift
(``GDTUTOR_SEED_SHIFT``, see :mod:`gdtutor.seeds`) combined with settings that change the
rounding the way machines do:

- ``MKL_CBWR``: MKL's code path (``COMPATIBLE``, ``SSE4_2``, ``AVX2``);
- ``ATEN_CPU_CAPABILITY``: PyTorch's own CPU kernels (``default``, ``avx2``);
- ``OMP_NUM_THREADS``: the threads, and so the order of reductions (1, 3; with 3 threads,
  ``OMP_WAIT_POLICY=PASSIVE``, so that a thread waiting for a core does not spin on it).

Claims are recorded, not raised (``GDTUTOR_CLAIMS=record``), so each variation reports every
claim's margin. The report gives, per claim, its smallest margin across the variations and where;
the sweep fails if any claim fails anywhere, if a page fails or writes to stderr, or if the unit
tests (run under each variation too) fail.

Run it as ``nox -s sweep`` (every variation) or ``nox -s sweep -- --ci`` (the two CI runs, with
the unit tests under the first); the report lands in ``docs/_build/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from gdtutor.claims import MIME_TYPE, MODE_VARIABLE
from gdtutor.seeds import SHIFT_VARIABLE

#: Each variation: a name and the environment it sets. Every seed shift is paired with a change of
#: rounding; the variations with no shift vary rounding alone, on the seeds the pages show.
VARIATIONS: dict[str, dict[str, str]] = {
    "seed+1, MKL COMPATIBLE, 1 thread": {
        SHIFT_VARIABLE: "1",
        "MKL_CBWR": "COMPATIBLE",
        "OMP_NUM_THREADS": "1",
    },
    "seed+0, ATen default kernels, 3 threads": {
        SHIFT_VARIABLE: "0",
        "ATEN_CPU_CAPABILITY": "default",
        "OMP_NUM_THREADS": "3",
        "OMP_WAIT_POLICY": "PASSIVE",
    },
    "seed+2, MKL AVX2, ATen avx2 kernels": {
        SHIFT_VARIABLE: "2",
        "MKL_CBWR": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
    },
    "seed+0, MKL SSE4_2, 1 thread": {
        SHIFT_VARIABLE: "0",
        "MKL_CBWR": "SSE4_2",
        "OMP_NUM_THREADS": "1",
    },
    "seed+3, ATen default kernels, 3 threads": {
        SHIFT_VARIABLE: "3",
        "ATEN_CPU_CAPABILITY": "default",
        "OMP_NUM_THREADS": "3",
        "OMP_WAIT_POLICY": "PASSIVE",
    },
    "seed+4, MKL COMPATIBLE, ATen avx2 kernels": {
        SHIFT_VARIABLE: "4",
        "MKL_CBWR": "COMPATIBLE",
        "ATEN_CPU_CAPABILITY": "avx2",
    },
}
#: The variations CI runs on every commit, beside the canonical build: one other draw on another
#: MKL path, and the canonical draw on a third; each on one thread, so that on two cores both run
#: side by side.
CI_VARIATIONS = ("seed+1, MKL COMPATIBLE, 1 thread", "seed+0, MKL SSE4_2, 1 thread")
#: The build's own run: this machine's environment, no seed shift (not one of the variations).
CANONICAL = "canonical"
#: A claim whose smallest margin is below this is fragile (exact claims have none).
FRAGILE = 1.5

DOCS = Path(__file__).resolve().parents[1] / "docs"


def tutorials() -> list[Path]:
    """The executable tutorials (MyST notebooks under ``docs/tutorials``)."""
    return sorted(
        path for path in (DOCS / "tutorials").glob("*.md") if "kernelspec" in path.read_text()
    )


def run_page(path: Path, environment: dict[str, str]) -> dict[str, Any]:
    """Execute one tutorial in a fresh kernel with ``environment`` added to this one's.

    Returns its claims (anchor → record), its error (the first failing cell) or stderr, and
    its run time.
    """
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from gdtutor._book import ENCRYPTED_KERNELS

    # kernels with CurveZMQ keys, as in the docs build (the kernel manager, here, reads this)
    os.environ.setdefault("JUPYTER_DEFAULT_PROVISIONER_NAME", ENCRYPTED_KERNELS)
    notebook = jupytext.read(path)
    env = {**os.environ, MODE_VARIABLE: "record", **environment}
    client = NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    started, error = time.perf_counter(), None
    try:
        client.execute(env=env)
    except CellExecutionError as failure:
        error = str(failure).strip().splitlines()[-1]
    claims, stderr = {}, []
    for index, cell in enumerate(notebook.cells):
        for number, output in enumerate(cell.get("outputs", [])):
            if MIME_TYPE in output.get("data", {}):
                claims[f"claim-{index}-{number}"] = output["data"][MIME_TYPE]
            elif output.get("name") == "stderr":
                stderr.append(output["text"])
    return {
        "claims": claims,
        "error": error,
        "stderr": stderr,
        "seconds": time.perf_counter() - started,
    }


def run_variation(name: str, pages: list[Path]) -> dict[str, dict[str, Any]]:
    """Run ``pages`` under the variation ``name``, one after the other, saying how each went."""
    runs = {}
    for path in pages:
        run = runs[path.stem] = run_page(path, VARIATIONS.get(name, {}))
        status = "failed: " + run["error"] if run["error"] else f"{len(run['claims'])} claims"
        print(f"sweep: {path.stem} under {name!r}: {run['seconds']:.0f} s, {status}", flush=True)
    return runs


def run_unit_tests(environment: dict[str, str]) -> bool:
    """Run the unit tests (not the tutorials) with ``environment``; whether they pass."""
    command = [sys.executable, "-m", "pytest", "-m", "not tutorial", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, **environment}
    return subprocess.run(command, cwd=DOCS.parent, env=env, check=False).returncode == 0


def _margin(record: dict[str, Any]) -> float:
    return float(record["margin"]) if record["holds"] else 0.0


def summarize(runs: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Per claim (page, anchor): its smallest margin across variations, where, and failures."""
    claims: dict[tuple[str, str], dict[str, Any]] = {}
    problems = []
    for variation, pages in runs.items():
        for page, run in pages.items():
            if run["error"]:
                problems.append(f"{page} under {variation!r}: {run['error']}")
            if run["stderr"]:
                problems.append(f"{page} under {variation!r} wrote to stderr: {run['stderr']}")
            for anchor, record in run["claims"].items():
                entry = claims.setdefault(
                    (page, anchor),
                    {
                        "page": page,
                        "anchor": anchor,
                        "statement": record["statement"],
                        "exact": record["exact"],
                        "smallest_margin": math.inf,
                        "where": None,
                        "failed_under": [],
                    },
                )
                if not record["holds"]:
                    entry["failed_under"].append(variation)
                    problems.append(
                        f"{page}#{anchor} fails under {variation!r}: {record['statement']}"
                    )
                if _margin(record) < entry["smallest_margin"]:
                    entry["smallest_margin"], entry["where"] = _margin(record), variation
    ranked = sorted(claims.values(), key=lambda entry: (entry["exact"], entry["smallest_margin"]))
    return {"claims": ranked, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print and write its report; return 1 when any claim or page fails."""
    parser = argparse.ArgumentParser(prog="nox -s sweep --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ci", action="store_true", help=f"only {', '.join(CI_VARIATIONS)}")
    parser.add_argument(
        "--variation",
        action="append",
        choices=[CANONICAL, *VARIATIONS],
        help=f"only these ({CANONICAL!r}: this machine's environment, no seed shift)",
    )
    parser.add_argument("--page", action="append", help="only tutorials whose name contains this")
    parser.add_argument("--report", type=Path, default=DOCS / "_build" / "sweep.json")
    parser.add_argument(
        "--no-unit-tests", action="store_true", help="skip the unit tests under the variations"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        help="variations run side by side (default 1; with --ci, both: each runs on one thread)",
    )
    args = parser.parse_args(argv)
    names = args.variation or (list(CI_VARIATIONS) if args.ci else list(VARIATIONS))
    # The unit tests' tolerances are derived from the maths too: they run under the variations
    # (CI: under its first only, since the tests session ran them as they are).
    unit_test_failures = []
    if not args.no_unit_tests:
        for name in names[:1] if args.ci else names:
            print(f"sweep: unit tests under {name!r}", flush=True)
            if not run_unit_tests(VARIATIONS.get(name, {})):
                unit_test_failures.append(f"unit tests fail under {name!r}")
    pages = [p for p in tutorials() if not args.page or any(part in p.stem for part in args.page)]
    jobs = args.jobs or (len(names) if args.ci else 1)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        runs = dict(zip(names, pool.map(run_variation, names, [pages] * len(names)), strict=True))
    report = summarize(runs)
    report["problems"] += unit_test_failures
    report["variations"] = {name: VARIATIONS.get(name, {}) for name in names}
    out = args.report
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    bounded = [entry for entry in report["claims"] if not entry["exact"]]
    print(
        f"\nsweep: {len(report['claims'])} claims on {len(pages)} pages under {len(names)} variations;"
    )
    print(f"the {min(15, len(bounded))} smallest margins (fragile below {FRAGILE}×):")
    for entry in bounded[:15]:
        flag = "  FRAGILE" if entry["smallest_margin"] < FRAGILE else ""
        print(
            f"  {entry['smallest_margin']:9.3g}×  {entry['page']}#{entry['anchor']}: "
            f"{entry['statement'][:90]} [{entry['where']}]{flag}"
        )
    for problem in report["problems"]:
        print(f"sweep: FAILED: {problem}", file=sys.stderr)
    print(f"sweep: report in {out}")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write the notebooks that "launch" buttons open: docs/tutorials/<tutorial>.ipynb.

Binder and Colab open notebooks from the repository, and Colab opens only ``.ipynb`` files, so
each MyST Markdown tutorial gets a generated twin, without outputs, whose first cell installs
gdtutor (from the repository named in pyproject.toml) and MyST-NB (whose ``glue`` the hidden
cells use) when they are missing, as on Colab; where they are installed (Binder, a clone) it
does nothing. The site itself shows neither that cell nor these files: the ``.md`` files are
the source. Regenerate after editing a tutorial (the tests fail while a twin is stale):

    .venv/bin/nox -s notebooks
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import jupytext
import nbformat

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def install_cell() -> nbformat.NotebookNode:
    """The first cell of a launched notebook: install what is missing."""
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Source"]
    code = f"""\
# Launched from the gdtutor book (Colab, Binder): install gdtutor and MyST-NB if they are missing.
import importlib.util
import subprocess
import sys

missing = [name for name in ("gdtutor", "myst_nb") if importlib.util.find_spec(name) is None]
if missing:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "gdtutor @ git+{source}", "myst-nb"],
        check=True,
    )"""
    return nbformat.v4.new_code_cell(code, metadata={"tags": ["launch-install"]})


def launch_notebook(tutorial: Path) -> str:
    """The launch notebook of one tutorial, as the text of an ``.ipynb`` file."""
    notebook = jupytext.read(tutorial)
    notebook.cells.insert(0, install_cell())
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"  # stable ids: regenerating gives the same file
    notebook.metadata.pop("jupytext", None)
    return nbformat.writes(notebook) + "\n"


def tutorials() -> list[Path]:
    """The executable tutorials (MyST Markdown notebooks)."""
    return sorted(p for p in (DOCS / "tutorials").glob("*.md") if "kernelspec" in p.read_text())


def main() -> None:
    """Write every tutorial's launch notebook beside it."""
    for tutorial in tutorials():
        target = tutorial.with_suffix(".ipynb")
        target.write_text(launch_notebook(tutorial))
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

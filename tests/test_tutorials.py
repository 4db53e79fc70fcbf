"""Execute every tutorial top to bottom in a fresh kernel, as the docs build does."""

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

TUTORIALS = sorted((Path(__file__).parents[1] / "docs").glob("*/*.md"))
NOTEBOOKS = [path for path in TUTORIALS if "kernelspec" in path.read_text()]


def test_tutorials_are_found():
    assert NOTEBOOKS, "no executable tutorial found under docs/"


@pytest.mark.tutorial
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_tutorial_executes_without_error(path):
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any failure
    stderr = [
        output["text"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    ]
    assert not stderr, f"{path.name} wrote to stderr: {stderr}"

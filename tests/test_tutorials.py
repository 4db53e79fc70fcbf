"""Execute every tutorial top to bottom in a fresh kernel, as the docs build does."""

import importlib.util
import time
from pathlib import Path

import jupytext
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient

from gdtutor._book import ENCRYPTED_KERNELS, notebook_cache

DOCS = Path(__file__).parents[1] / "docs"
TUTORIALS = sorted(DOCS.glob("*/*.md"))
NOTEBOOKS = [path for path in TUTORIALS if "kernelspec" in path.read_text()]


@pytest.fixture(autouse=True)
def _encrypted_kernels(monkeypatch):
    # as in the docs build: kernels with CurveZMQ keys, no plain-text TCP (nor its warning)
    monkeypatch.setenv("JUPYTER_DEFAULT_PROVISIONER_NAME", ENCRYPTED_KERNELS)


def _launch_notebooks():
    spec = importlib.util.spec_from_file_location("launch_notebooks", DOCS / "launch_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        record_timing=False,  # as the docs build: the cache keys on code and cell metadata
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any failure
    seconds = time.perf_counter() - started
    stderr = [
        output["text"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    ]
    assert not stderr, f"{path.name} wrote to stderr: {stderr}"
    # Hand the executed notebook to the docs build, which renders it from this cache instead of
    # executing it again (valid for this notebook's code and this package's source only).
    get_cache(notebook_cache(DOCS)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
        check_validity=False,
        overwrite=True,
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_launch_notebook_is_up_to_date(path):
    twin = path.with_suffix(".ipynb")
    assert twin.exists() and twin.read_text() == _launch_notebooks().launch_notebook(path), (
        f"{twin.name} is stale: run .venv/bin/nox -s notebooks"
    )


def test_launch_install_cell_does_nothing_where_gdtutor_is_installed():
    cell = _launch_notebooks().install_cell()
    namespace = {}
    exec(compile(cell.source, "install-cell", "exec"), namespace)  # here both are installed
    assert namespace["missing"] == []
    assert "gdtutor @ git+https://" in cell.source and "--quiet" in cell.source

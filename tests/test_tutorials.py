"""Execute every tutorial top to bottom in a fresh kernel, as the docs build does."""

import ast
import importlib.util
import re
import time
from pathlib import Path

import jupytext
import pytest
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient
from plain_script import names_a_plain_script_lacks, shown_cells

from gdtutor import claims
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
    # A claim's output is its anchor on the page and its row in the ledger: a cell that hides
    # its outputs would drop it (claims stand in cells tagged remove-input).
    hidden_claims = [
        index
        for index, cell in enumerate(notebook.cells)
        if {"remove-cell", "remove-output"} & set(cell.metadata.get("tags", []))
        and any(claims.MIME_TYPE in output.get("data", {}) for output in cell.get("outputs", []))
    ]
    assert not hidden_claims, (
        f"{path.name}: claims in cells that hide their outputs: {hidden_claims}"
    )
    # Hand the executed notebook to the docs build, which renders it from this cache instead of
    # executing it again (valid for this notebook's code and this package's source only).
    get_cache(notebook_cache(DOCS)).cache_notebook_bundle(
        CacheBundleIn(notebook, str(path), data={"execution_seconds": seconds}),
        check_validity=False,
        overwrite=True,
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_shown_code_runs_as_a_plain_script_without_the_hidden_cells(path):
    """The cells a page shows, in order, are the script a reader gets from its copy buttons (the
    browser suite checks that the copied code is exactly these cells). The kernel above ran them
    interleaved with the hidden cells; this checks, without running the tutorial again, that they
    are plain Python (no magics, shell escapes or top-level await) and that each name they read is
    a builtin or bound earlier by a shown cell: never only by a hidden cell, nor by IPython
    (``display``, ``get_ipython``).
    """
    unbound = names_a_plain_script_lacks(shown_cells(path))
    assert unbound == [], f"{path.name}: names a plain script would not have: {unbound}"


@pytest.mark.parametrize(
    ("cells", "lacking"),
    [
        (["import math\nx = math.pi", "print(x)"], []),
        (["for i, j in enumerate('ab'):\n    print(i, j)", "print(i)"], []),
        (["with open(__file__) as f:\n    text = f.read()", "text"], []),
        (["squares = [k * k for k in range(3)]", "{k: v for k, v in zip('ab', squares)}"], []),
        (["def f(t):\n    return t + w", "w = 1\nf(2)"], []),  # read when called
        (["try:\n    pass\nexcept ValueError as error:\n    print(error)"], []),
        (["print(secret)"], ["shown cell 1: secret"]),  # bound only by a hidden cell
        (["y = y + 1"], ["shown cell 1: y"]),  # read before it is bound
        (["display(1)"], ["shown cell 1: display"]),  # IPython's, not Python's
        (["[k for k in range(3)]", "k"], ["shown cell 2: k"]),  # a comprehension's own
        (["def f():\n    return z\n"], ["a function's body: z"]),
        (["g = lambda t: t + u"], ["a function's body: u"]),
    ],
)
def test_names_a_plain_script_lacks(cells, lacking):
    assert names_a_plain_script_lacks(cells) == lacking


@pytest.mark.parametrize("cell", ["%timeit 1 + 1", "!ls", "await something()"])
def test_notebook_only_syntax_is_not_a_plain_script(cell):
    with pytest.raises(SyntaxError):
        names_a_plain_script_lacks([cell])


MOST_PROSE_WORDS = 3000  # a page a reader finishes: split a part in two before it grows past this


def prose_words(text):
    """Words of a page's main text: outside front matter, code, outputs, display maths,
    directives' options and the references; an inline formula, a glued number or a role counts
    as one word, a citation as none, a link as its text."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.split(r"^## References\s*$", text, flags=re.M)[0]
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"^\s*(:{3,}.*|:[\w-]+:.*|\(.*\)=|%.*)$", "", text, flags=re.M)
    text = re.sub(r"\{footcite\}`[^`]*`", "", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " X ", text)
    text = re.sub(r"\$[^$]+\$", " X ", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return sum(1 for token in text.split() if re.search(r"\w", token))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Two words.", 2),
        ("---\njupytext: x\n---\nOne", 1),
        ("Before\n```{code-cell} ipython3\nx = 1 + 2\n```\nafter", 2),
        ("A $\\kappa^2 u$ floor of {glue:text}`floor:.1e`{footcite}`higham2002`", 5),
        ("See [the ledger](../reference/claims.md).\n\n$$\nf(X) = 0\n$$", 3),
        (":::{exercise}\n:label: ex-one\n\nDo it.\n:::\n## References\n\nMany more words", 2),
    ],
)
def test_prose_words(text, words):
    assert prose_words(text) == words


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_tutorial_prose_is_a_page_a_reader_finishes(path):
    words = prose_words(path.read_text())
    assert words <= MOST_PROSE_WORDS, (
        f"{path.name} has {words} words of prose, more than {MOST_PROSE_WORDS}: cut what does not "
        "serve the page's line, or split the part in two"
    )


def glued_on_show(source):
    """The names a cell glues with its value also shown as the cell's output."""
    calls = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)]
    return [
        ast.unparse(call.args[0])
        for call in calls
        if isinstance(call.func, ast.Name)
        and call.func.id == "glue"
        and not any(
            keyword.arg == "display"
            and isinstance(keyword.value, ast.Constant)
            and keyword.value.value is False
            for keyword in call.keywords
        )
    ]


@pytest.mark.parametrize(
    ("source", "shown"),
    [('glue("a", 1)\nglue("b", 2, display=False)', ["'a'"]), ("claim = 1", [])],
)
def test_glued_on_show(source, shown):
    assert glued_on_show(source) == shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_hidden_input_shows_no_glued_value(path):
    """A cell whose input is hidden shows its outputs: a glued value there is a stray number on the page."""
    stray = [
        (index, name)
        for index, cell in enumerate(jupytext.read(path).cells)
        if "remove-input" in cell.metadata.get("tags", [])
        for name in glued_on_show(cell.source)
    ]
    assert stray == [], (
        f"{path.name}: glue these with display=False, or in a remove-cell cell: {stray}"
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

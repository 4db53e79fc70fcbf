"""The package reads like its anchors: short modules, short functions, one method to a file."""

import ast
import inspect
from pathlib import Path

import pytest

import gdtutor
from gdtutor._methods import _TABLES

PACKAGE = Path(gdtutor.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MOST_MODULE_LINES, MOST_BODY_LINES = 500, 80


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring aside."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return body[-1].end_lineno - body[0].lineno + 1 if body else 0


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_and_functions_are_short(path):
    text = path.read_text()
    assert text.count("\n") <= MOST_MODULE_LINES
    long = {
        f"{node.name} (line {node.lineno}): {body_lines(node)} lines"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and body_lines(node) > MOST_BODY_LINES
    }
    assert not long


@pytest.mark.parametrize(
    ("entry", "method"), [(entry, m) for entry, table in _TABLES.items() for m in table.methods]
)
def test_each_method_has_its_own_module_with_its_reference(entry, method):
    function = _TABLES[entry].methods[method]
    module = inspect.getmodule(function)
    others = [
        other
        for e, table in _TABLES.items()
        for name, other in table.methods.items()
        if (e, name) != (entry, method)
    ]
    # one module per method, except variants that share their kernel (the 2020 schemes)
    sharing = {inspect.getmodule(other) for other in others} & {module}
    assert not sharing or "2020" in method
    assert module.__name__.count(".") == 2  # gdtutor.<part>.<method module>
    assert module.__doc__ and "References" in module.__doc__

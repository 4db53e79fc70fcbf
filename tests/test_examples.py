"""The Examples sections of the package's docstrings run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import gdtutor

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(gdtutor.__path__, "gdtutor.")
    if not name.startswith(("gdtutor._book", "gdtutor._sweep"))  # the build's own tools
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        if test.examples and test.name.startswith(name):  # its own, not a re-export's
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0

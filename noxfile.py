"""Sessions for tests, docs and lint. Every environment is pinned by constraints.txt."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"  # pip, not uv: see README ("Installing PyTorch")
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.error_on_missing_interpreters = True

CONSTRAINTS = ("-c", "constraints.txt")
DOCS_ARGS = ("-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
CHROMIUM = os.environ.get("GDTUTOR_CHROMIUM", "/usr/bin/chromium")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report; extra arguments go to pytest."""
    session.install(*CONSTRAINTS, "-e", ".[test]")
    session.run(
        "pytest", "--cov=gdtutor", "--cov-report=term", "--cov-report=xml", *session.posargs
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML book, executing every tutorial; the site lands in docs/_build/html.

    Notebooks are executed unless the cache holds them for the same code and the same gdtutor
    source (the tests session fills it, so a run of both executes each tutorial once).
    `nox -s docs -- serve` rebuilds on every change to docs/ or gdtutor/ and reloads the browser;
    `nox -s docs -- fresh` re-executes every notebook from scratch. Under CI every page is re-read
    (-E) and a failing cell's traceback is printed (-T).
    """
    session.install(*CONSTRAINTS, "-e", ".[docs]")
    if "serve" in session.posargs:
        session.run(
            "sphinx-autobuild", *DOCS_ARGS, "--watch", "gdtutor", "--port", "8000", "--open-browser"
        )
        return
    args = DOCS_ARGS
    if os.environ.get("CI"):
        args = ("-E", "-T", *args)
    if "fresh" in session.posargs:
        args = ("-E", "-T", "-D", "nb_execution_mode=force", *args)
    session.run("sphinx-build", *args)
    session.log("The site is in docs/_build/html (open docs/_build/html/index.html).")


@nox.session
def notebooks(session: nox.Session) -> None:
    """Regenerate the notebooks that Binder and Colab open (docs/tutorials/*.ipynb) from the .md."""
    session.install(*CONSTRAINTS, "jupytext")
    session.run("python", "docs/launch_notebooks.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def site(session: nox.Session) -> None:
    """Test the built site in a real browser (Debian's Chromium, driven by Playwright), offline.

    Reuses docs/_build/html if present (`nox -s site -- rebuild` builds it first). Screenshots and
    the page-weight report land in docs/_build/site-report. Extra arguments go to pytest.
    """
    if not Path(CHROMIUM).exists():
        session.error(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (Debian), or set GDTUTOR_CHROMIUM."
        )
    session.install(*CONSTRAINTS, "-e", ".[docs,test,site]")
    pytest_args = [arg for arg in session.posargs if arg != "rebuild"]
    if "rebuild" in session.posargs or not Path("docs/_build/html/index.html").exists():
        session.run("sphinx-build", *DOCS_ARGS)
    session.run(
        "pytest", "site_tests", "-p", "no:cacheprovider", "--browser", "chromium", *pytest_args
    )


@nox.session
def linkcheck(session: nox.Session) -> None:
    """Check links: internal ones always; external ones when online (skipped, with a message, offline).

    Reuses the HTML build's parsed pages (its doctrees) when there is one, so nothing is executed
    again.
    """
    session.install(*CONSTRAINTS, "-e", ".[docs]")
    session.run(
        "sphinx-build",
        "-n",
        "-W",
        "--keep-going",
        "-b",
        "linkcheck",
        "-d",
        "docs/_build/html/.doctrees",
        "docs",
        "docs/_build/linkcheck",
    )

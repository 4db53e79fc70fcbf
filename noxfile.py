"""Sessions for tests, docs and lint. Every environment is pinned by constraints.txt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"  # pip, not uv: see README ("Installing PyTorch")
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.error_on_missing_interpreters = True

CONSTRAINTS = ("-c", "constraints.txt")
DOCS_ARGS = ("-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
CHROMIUM = os.environ.get("GDTUTOR_CHROMIUM", "/usr/bin/chromium")

# tests, docs, linkcheck and site share one environment: each needs PyTorch, a 183 MB wheel that
# takes about a minute to install, so a run of several sessions (README's two commands, CI)
# installs it once, and each session adds the extras it needs. Delete .nox/book to start afresh.
BOOK_ENV = Path(".nox", "book")
BOOK_BIN = BOOK_ENV / ("Scripts" if sys.platform == "win32" else "bin")


def _book_env(session: nox.Session, extras: str) -> Path:
    """Create the shared environment if it is missing, install gdtutor[extras] into it, and
    return its scripts folder (the session runs its tools from there)."""
    if not (BOOK_ENV / "pyvenv.cfg").exists():
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(BOOK_ENV))
    # pip byte-compiles every module it installs, a third to a half of the install time; Python
    # compiles only what is imported, on first import, and keeps it, unless told not to.
    lazy = () if os.environ.get("PYTHONDONTWRITEBYTECODE") else ("--no-compile",)
    session.run(
        BOOK_BIN / "python", "-m", "pip", "install", *lazy, *CONSTRAINTS, "-e", f".[{extras}]"
    )
    session.env["VIRTUAL_ENV"] = str(BOOK_ENV.resolve())
    session.env["PATH"] = os.pathsep.join([str(BOOK_BIN.resolve()), os.environ.get("PATH", "")])
    return BOOK_BIN


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report; extra arguments go to pytest."""
    bin_ = _book_env(session, "test")
    session.run(
        bin_ / "pytest", "--cov=gdtutor", "--cov-report=term", "--cov-report=xml", *session.posargs
    )


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the HTML book, executing every tutorial; the site lands in docs/_build/html.

    Notebooks are executed unless the cache holds them for the same code and the same gdtutor
    source (the tests session fills it, so a run of both executes each tutorial once).
    `nox -s docs -- serve` rebuilds on every change to docs/ or gdtutor/ and reloads the browser;
    `nox -s docs -- fresh` re-executes every notebook from scratch. Under CI every page is re-read
    (-E) and a failing cell's traceback is printed (-T).
    """
    bin_ = _book_env(session, "docs")
    if "serve" in session.posargs:
        session.run(
            bin_ / "sphinx-autobuild",
            *DOCS_ARGS,
            "--watch",
            "gdtutor",
            "--port",
            "8000",
            "--open-browser",
        )
        return
    args = DOCS_ARGS
    if os.environ.get("CI"):
        args = ("-E", "-T", *args)
    if "fresh" in session.posargs:
        args = ("-E", "-T", "-D", "nb_execution_mode=force", *args)
    session.run(bin_ / "sphinx-build", *args)
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


@nox.session(venv_backend="none")
def site(session: nox.Session) -> None:
    """Test the built site in a real browser (Debian's Chromium, driven by Playwright), offline.

    Reuses docs/_build/html if present (`nox -s site -- rebuild` builds it first). Screenshots and
    the page-weight report land in docs/_build/site-report. Extra arguments go to pytest.
    """
    if not Path(CHROMIUM).exists():
        session.error(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium (Debian), or set GDTUTOR_CHROMIUM."
        )
    bin_ = _book_env(session, "docs,test,site")
    pytest_args = [arg for arg in session.posargs if arg != "rebuild"]
    if "rebuild" in session.posargs or not Path("docs/_build/html/index.html").exists():
        session.run(bin_ / "sphinx-build", *DOCS_ARGS)
    session.run(
        bin_ / "pytest",
        "site_tests",
        "--ignore=site_tests/test_quick_start.py",  # its own session: nox -s quickstart
        "-p",
        "no:cacheprovider",
        "--browser",
        "chromium",
        "--numprocesses",  # one browser per core (pytest-xdist); an idle one takes queued tests
        "auto",
        "--dist",
        "worksteal",
        *pytest_args,
    )


@nox.session
def quickstart(session: nox.Session) -> None:
    """Run the home page's install command as written, in a copy of the repository, then its code.

    Needs neither a build nor a browser (site_tests/test_quick_start.py), so CI runs it beside
    the docs build. Extra arguments go to pytest.
    """
    session.install(*CONSTRAINTS, "pytest")
    session.run(
        "pytest", "site_tests/test_quick_start.py", "-p", "no:cacheprovider", *session.posargs
    )


@nox.session(venv_backend="none")
def linkcheck(session: nox.Session) -> None:
    """Check links: internal ones always; external ones when online (skipped, with a message, offline).

    Reuses the HTML build's parsed pages (its doctrees) when there is one, so nothing is executed
    again.
    """
    bin_ = _book_env(session, "docs")
    session.run(
        bin_ / "sphinx-build",
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

"""Sessions for tests, docs and lint. Every environment is pinned by constraints.txt."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import tomllib
from pathlib import Path

import nox

# pip, not uv: see docs/developing.md ("Installing PyTorch")
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.error_on_missing_interpreters = True

CONSTRAINTS = ("-c", "constraints.txt")
DOCS_ARGS = ("-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
CHROMIUM = os.environ.get("GDTUTOR_CHROMIUM", "/usr/bin/chromium")

# tests, docs, linkcheck and site share one environment: each needs PyTorch, a 192 MB wheel that
# takes about a minute to install, so a run of several sessions (README's two commands, CI)
# installs it once, and each session adds the extras it needs. Delete .nox/book to start afresh.
BOOK_ENV = Path(".nox", "book")
BOOK_BIN = BOOK_ENV / ("Scripts" if sys.platform == "win32" else "bin")
# What is installed in it: gdtutor (editable) at these pins, with these extras.
BOOK_INSTALLED = BOOK_ENV / "gdtutor-installed.json"


def _book_env(session: nox.Session, *extras: str) -> Path:
    """Create the shared environment if it is missing, make sure gdtutor and ``extras`` are
    installed in it, and return its scripts folder (the session runs its tools from there).

    pip runs only for what is missing: gdtutor itself when the environment is new or
    pyproject.toml or constraints.txt changed, else just the requirements of extras not yet
    installed (gdtutor is installed in editable mode, so its source needs no reinstall).
    """
    installed = {}
    if not (BOOK_ENV / "pyvenv.cfg").exists():
        session.run(sys.executable, "-m", "virtualenv", "--quiet", str(BOOK_ENV))
    elif BOOK_INSTALLED.exists():
        installed = json.loads(BOOK_INSTALLED.read_text())
    pyproject = Path("pyproject.toml").read_bytes()
    pins = hashlib.sha256(pyproject + Path("constraints.txt").read_bytes()).hexdigest()
    if installed.get("pins") != pins:
        _install(session, "-e", f".[{','.join(extras)}]")
        have = set(extras)
    else:
        have = set(installed["extras"])
        missing = sorted(set(extras) - have)
        if missing:
            optional = tomllib.loads(pyproject.decode())["project"]["optional-dependencies"]
            _install(session, *sorted({req for extra in missing for req in optional[extra]}))
            have |= set(missing)
        else:
            session.log(f"gdtutor[{','.join(extras)}] is installed in {BOOK_ENV}.")
    BOOK_INSTALLED.write_text(json.dumps({"pins": pins, "extras": sorted(have)}))
    session.env["VIRTUAL_ENV"] = str(BOOK_ENV.resolve())
    session.env["PATH"] = os.pathsep.join([str(BOOK_BIN.resolve()), os.environ.get("PATH", "")])
    return BOOK_BIN


def _install(session: nox.Session, *requirements: str) -> None:
    """pip install into the shared environment, at the pinned versions.

    pip byte-compiles what it installs one file at a time, about half of the install time.
    Python compiles a module on its first import and keeps the bytecode; where it may not write
    bytecode (PYTHONDONTWRITEBYTECODE), compileall compiles what pip added now, on every core.
    """
    python = BOOK_BIN / "python"
    started = time.time() - 1
    session.run(python, "-m", "pip", "install", "--no-compile", *CONSTRAINTS, *requirements)
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        session.run(python, "-c", _COMPILE_ADDED, str(started), silent=True)


# Byte-compile, on every core, the modules in the entries of site-packages changed since a time.
_COMPILE_ADDED = """
import compileall, functools, os, sys, sysconfig
from concurrent.futures import ProcessPoolExecutor
since, modules = float(sys.argv[1]), []
for entry in os.scandir(sysconfig.get_path("purelib")):
    if entry.stat().st_mtime <= since:
        continue
    if entry.is_dir():
        for folder, _, names in os.walk(entry.path):
            modules += [os.path.join(folder, name) for name in names if name.endswith(".py")]
    elif entry.name.endswith(".py"):
        modules.append(entry.path)
with ProcessPoolExecutor() as pool:  # a file that does not compile is skipped, as pip does
    list(pool.map(functools.partial(compileall.compile_file, quiet=2), modules, chunksize=64))
"""


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report; extra arguments go to pytest."""
    bin_ = _book_env(session, "test")
    session.run(
        bin_ / "pytest", "--cov=gdtutor", "--cov-report=term", "--cov-report=xml", *session.posargs
    )


@nox.session(venv_backend="none")
def sweep(session: nox.Session) -> None:
    """Execute every tutorial, and the unit tests, under variations of seed and numeric environment.

    Each variation shifts every seed (GDTUTOR_SEED_SHIFT) and changes the rounding the way
    machines differ (MKL_CBWR, ATEN_CPU_CAPABILITY, OMP_NUM_THREADS); the report gives each
    claim's smallest margin across them and fails if any claim fails anywhere (gdtutor/_sweep.py).
    `nox -s sweep -- --ci` runs the two variations CI runs; `-- --help` lists the options.
    """
    bin_ = _book_env(session, "test")
    session.run(bin_ / "python", "-m", "gdtutor._sweep", *session.posargs)


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
    bin_ = _book_env(session, "docs", "test", "site")
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
        # a browser per core and one more (pytest-xdist): each waits on its page about as much as
        # it computes (2 cores: 3 browsers took 115-125 s, 2 took 145 s, 4 took 140 s); an idle
        # one takes queued tests
        "--numprocesses",
        str((os.cpu_count() or 1) + 1),
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

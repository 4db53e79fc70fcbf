"""Sphinx configuration for the gdtutor book (MyST-NB, sphinx-book-theme)."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
from pathlib import Path

import gdtutor

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "gdtutor"
author = "The gdtutor developers"
copyright = "2026, the gdtutor developers"
release = version = gdtutor.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "sphinx_design",
    # MathJax 3 served from _static: math renders with no network access.
    "sphinx-mathjax-offline",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
numfig = True
nitpicky = True

# --- MyST and notebook execution ------------------------------------------------------------
myst_enable_extensions = ["amsmath", "dollarmath", "colon_fence", "deflist", "substitution"]
myst_heading_anchors = 3
nb_execution_mode = "cache"  # `nox -s docs` forces execution in CI (-D nb_execution_mode=force)
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300
nb_merge_streams = True
nb_output_stderr = "warn"  # a stray warning in a tutorial fails the build (-W)


def _package_fingerprint() -> str:
    """A hash of gdtutor's source: the notebook cache is only valid for the code that filled it."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "gdtutor").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# myst-nb's cache keys on the notebooks' code alone. Keying the cache folder on the package too
# means an edit to gdtutor/ changes this config value, so Sphinx re-reads every page and myst-nb
# re-executes every notebook instead of publishing stale outputs. Caches of older code are removed.
_CACHE_ROOT = DOCS / "_build" / ".jupyter_cache"
nb_execution_cache_path = str(_CACHE_ROOT / _package_fingerprint())
if _CACHE_ROOT.is_dir():
    for stale in _CACHE_ROOT.iterdir():
        if stale.is_dir() and str(stale) != nb_execution_cache_path:
            shutil.rmtree(stale, ignore_errors=True)

# --- API reference --------------------------------------------------------------------------
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False


# --- Cross-references to other projects -----------------------------------------------------
def _online(host: str = "docs.python.org", port: int = 443, timeout: float = 3.0) -> bool:
    """Whether the web is reachable; GDTUTOR_OFFLINE=1 forces an offline build."""
    if os.environ.get("GDTUTOR_OFFLINE"):
        return False
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


ONLINE = _online()
if ONLINE:
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }
else:
    # Offline, links to other projects cannot be resolved: skip them rather than drop -W.
    intersphinx_mapping = {}
    nitpick_ignore_regex = [
        (r"py:.*", r"(torch|numpy|scipy|matplotlib|collections|typing)(\..*)?|Tensor")
    ]
    print(
        "gdtutor docs: offline, so links to other projects' docs (intersphinx) are skipped.",
        file=sys.stderr,
    )
linkcheck_timeout = 10

# --- HTML -----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "gdtutor"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "auto"}
html_last_updated_fmt = ""
html_theme_options = {
    "repository_url": "https://github.com/gdtutor/gdtutor",
    "repository_branch": "main",
    "path_to_docs": "docs",
    "use_repository_button": True,
    "use_source_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
}
copybutton_exclude = ".linenos, .gp, .go"

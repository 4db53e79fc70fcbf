"""Sphinx configuration for the gdtutor book (MyST-NB, sphinx-book-theme)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import tomllib
from pathlib import Path

from docutils import nodes
from sphinx_codeautolink.extension.block import CodeBlockAnalyser

import gdtutor
from gdtutor._book import ENCRYPTED_KERNELS, notebook_cache, published
from gdtutor._sweep import CI_VARIATIONS, VARIATIONS

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# The project's URLs live in one place, pyproject.toml's [project.urls]: moving the repository is
# one edit there.
PROJECT_URLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
REPOSITORY_URL = PROJECT_URLS["Source"]
# Links into the repository (repository and source buttons, Binder, Colab) are only put on a site
# built from the published repository (gdtutor._book.published: GitHub Actions, Read the Docs, or
# GDTUTOR_PUBLISHED=1). A local build of a clone links to nothing that may not exist.
PUBLISHED = published()

project = "gdtutor"
author = "The gdtutor developers"
copyright = "2026, the gdtutor developers"
release = version = gdtutor.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",  # "[source]" beside every API entry: the package's code, highlighted
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "sphinx_design",
    "notfound.extension",
    # MathJax 3 served from _static: math renders with no network access.
    "sphinx-mathjax-offline",
    # Names in code cells link to their API entries, which list the tutorials that use them.
    "sphinx_codeautolink",
    "sphinx_last_updated_by_git",  # "last updated" per page, from git
    "sphinxext.opengraph",
    "sphinx_sitemap",
    "sphinxcontrib.bibtex",  # references.bib, cited per page ({footcite}, {footbibliography})
    "sphinx_exercise",  # exercises with solutions, executed like every cell, hidden until opened
    "sphinx_togglebutton",  # makes `dropdown` admonitions (run cards, solutions) collapsible
    "gdtutor._ledger",  # every checked claim: claims.json and the "Checked claims" page
]
# tutorials/*.ipynb are the generated notebooks that launch buttons open (launch_notebooks.py);
# the .md files are the pages.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorials/*.ipynb", "launch_notebooks.py"]
numfig = True
nitpicky = True

# --- MyST and notebook execution ------------------------------------------------------------
myst_enable_extensions = ["amsmath", "dollarmath", "colon_fence", "deflist", "substitution"]
# How many variations of seed and numeric environment the robustness sweep runs (nox -s sweep),
# and how many of them CI runs: the pages that say so read it from the sweep itself.
myst_substitutions = {"sweep_variations": len(VARIATIONS), "ci_variations": len(CI_VARIATIONS)}
myst_heading_anchors = 3
# Read the Docs executes every notebook (force); elsewhere the cache below is used, and
# `nox -s docs -- fresh` forces execution.
nb_execution_mode = "force" if os.environ.get("READTHEDOCS") else "cache"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300
nb_merge_streams = True
nb_output_stderr = "warn"  # a stray warning in a tutorial fails the build (-W)
nb_render_markdown_format = "myst"  # Markdown outputs (the tutorials' tables) with tables and math
# Tutorial kernels get CurveZMQ keys from the kernel manager (gdtutor._book.EncryptedKernels):
# no plain-text TCP between Sphinx and the kernels, and no warning about it in the build log.
os.environ.setdefault("JUPYTER_DEFAULT_PROVISIONER_NAME", ENCRYPTED_KERNELS)


# The cache of executed tutorials is keyed on gdtutor's source as well as on each notebook's
# code (gdtutor._book.notebook_cache): an edit to gdtutor/ changes this config value, so Sphinx
# re-reads every page and myst-nb re-executes every notebook instead of publishing stale output.
# The tutorial tests fill the same cache. Caches of older code are removed.
nb_execution_cache_path = str(notebook_cache(DOCS))
_CACHE_ROOT = Path(nb_execution_cache_path).parent
if _CACHE_ROOT.is_dir():
    for stale in _CACHE_ROOT.iterdir():
        if stale.is_dir() and str(stale) != nb_execution_cache_path:
            shutil.rmtree(stale, ignore_errors=True)

# --- References and exercises ---------------------------------------------------------------
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "plain"

# --- Code linked to the API, and back ------------------------------------------------------
codeautolink_concat_default = True  # a tutorial's cells run as one program: names carry over

# sphinx-exercise's titles subclass docutils' title, but docutils dispatches visitors by class
# name, so sphinx-codeautolink's block visitor would skip them and pop a section title it never
# pushed (IndexError on any page with an exercise). Treat them as the titles they are.
CodeBlockAnalyser.visit_exercise_title = CodeBlockAnalyser.visit_title
CodeBlockAnalyser.visit_solution_title = CodeBlockAnalyser.visit_title


def _list_examples(app, what, name, obj, options, lines) -> None:
    """End each API entry with the pages whose code uses it (sphinx-codeautolink's backlinks).

    codeautolink_autodoc_inject does the same in a collapsed <details>, whose <summary> holds a
    link: nested interactive controls, which axe rejects. This is the same list, not collapsed.
    """
    if what != "module":
        lines.extend(["", f".. autolink-examples:: {name}"])


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
    # DOIs are persistent by design, and the publishers they redirect to often refuse robots
    # (403): checking them would fail on working links. Every other external link is checked.
    linkcheck_ignore = [r"https://doi\.org/"]
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
    # linkcheck: internal links and anchors are checked by the build (-n) and the browser suite;
    # external ones cannot be reached offline, so they are skipped rather than failed.
    linkcheck_ignore = [r"https?://"]
    print("gdtutor docs: offline, so linkcheck skips external links.", file=sys.stderr)
linkcheck_timeout = 10

# --- HTML -----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "gdtutor"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_css_files = ["gdtutor.css"]
html_last_updated_fmt = "%Y-%m-%d"  # filled per page from git (sphinx-last-updated-by-git)
# Outside a git checkout (a source archive) or in a shallow clone, pages go without a date
# rather than failing the build.
suppress_warnings = ["git.subprocess_error", "git.command_not_found", "git.too_shallow"]
# Where the site is published: Open Graph metadata and the sitemap give its pages' addresses.
html_baseurl = PROJECT_URLS["Documentation"]
sitemap_url_scheme = "{link}"
ogp_site_url = html_baseurl
ogp_social_cards = {"enable": False}  # no generated preview images: a small, offline build
html_context = {"default_mode": "auto"}
html_theme_options = {
    "use_download_button": True,  # the .md source and the executed .ipynb
    "show_toc_level": 2,
}
if PUBLISHED:
    html_theme_options |= {
        "repository_url": REPOSITORY_URL,
        "repository_branch": "main",
        "path_to_docs": "docs",
        "use_repository_button": True,
        "use_source_button": True,
        # Binder and Colab open the tutorial's generated .ipynb twin (launch_notebooks.py).
        "launch_buttons": {
            "binderhub_url": "https://mybinder.org",
            "colab_url": "https://colab.research.google.com",
            "notebook_interface": "jupyterlab",
        },
    }
# Copy buttons on code only: containers of highlighted code, never notebook outputs; prompts
# (>>> ... $) and doctest outputs are stripped.
copybutton_selector = 'div[class*="highlight-"]:not(.output) > div.highlight > pre'
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_exclude = ".linenos, .gp, .go"

# The 404 page links its assets absolutely: "/" when served at the root (locally, in CI),
# "/en/latest/" on Read the Docs, GDTUTOR_URL_PREFIX elsewhere (GitHub Pages: "/gdtutor/").
notfound_urls_prefix = os.environ.get(
    "GDTUTOR_URL_PREFIX", "/en/latest/" if os.environ.get("READTHEDOCS") else "/"
)


def _executed_downloads(app, exception) -> None:
    """Put the cached outputs back into the downloadable .ipynb files.

    In cache mode myst-nb merges the cached outputs into a copy of the notebook and writes the
    original, output-free one to jupyter_execute/, which the theme offers for download. (Forced
    execution, as in CI, executes in place and is unaffected.)
    """
    if exception is not None or app.config.nb_execution_mode != "cache":
        return
    import nbformat
    from jupyter_cache import get_cache

    cache = get_cache(app.config.nb_execution_cache_path)
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        if any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"):
            continue
        _, executed = cache.merge_match_into_notebook(notebook)  # KeyError: not cached, a bug
        nbformat.write(executed, path)


def _notebook_download(app, pagename, templatename, context, doctree) -> None:
    """Offer each tutorial's executed .ipynb for download, with or without launch buttons.

    sphinx-book-theme copies it next to the page's source only when it adds launch buttons,
    which a local build has none of (PUBLISHED); this does the same for every build. Runs before
    the theme builds its download menu (priority 501).
    """
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if executed.exists() and not context.get("ipynb_source"):
        target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(executed, target)
        context["ipynb_source"] = f"{pagename}.ipynb"


def _unique_exercise_ids(app, doctree) -> None:
    """Give each exercise's and solution's body its own HTML id.

    sphinx-exercise gives every body the same id ("exercise-content", "solution-content"), and
    duplicate ids break in-page links and assistive technology; derive each from its admonition's.
    Runs when the page is read, before sphinx-codeautolink records the sections its code is in.
    """
    for section in doctree.findall(nodes.section):
        if section["ids"] in (["exercise-content"], ["solution-content"]):
            owner = section.parent["ids"][0].replace("/", "-")
            section["ids"] = [f"{owner}-{section['ids'][0].split('-')[0]}"]


def _viewcode_pages(app, pagename, templatename, context, doctree) -> None:
    """Two repairs of sphinx.ext.viewcode's pages (Sphinx 9.0).

    Its module index nests a ``<ul>`` directly in a ``<ul>`` (invalid HTML, which axe reports):
    list the modules flat, each name being complete. And each source page's "[docs]" links
    use the module name under which its first object was documented: one documented as
    ``gdtutor.descend`` (a re-export) sends every other object of ``gdtutor.descent`` to
    ``#gdtutor.<name>``, an anchor that does not exist. Point such a link to the object under
    its own module, where the reference documents it.
    """
    if not pagename.startswith("_modules/") or "body" not in context:
        return
    body = context["body"]
    if pagename == "_modules/index":
        items = re.findall(r"<li><a [^>]*>[^<]*</a></li>", body)
        heading = body[: body.index("<ul>")]
        context["body"] = heading + "<ul>" + "\n".join(items) + "</ul>\n"
        return
    documented = app.env.get_domain("py").objects
    module = pagename.removeprefix("_modules/").replace("/", ".")

    def repair(match: re.Match) -> str:
        name, target = match["name"], match["target"]
        if target in documented or f"{module}.{name}" not in documented:
            return match[0]
        return match[0].replace(f'#{target}"', f'#{module}.{name}"')

    context["body"] = re.sub(
        r'<div class="viewcode-block" id="(?P<name>[^"]+)">\s*'
        r'<a class="viewcode-back" href="[^"#]*#(?P<target>[^"]+)"',
        repair,
        body,
    )


def setup(app) -> None:
    app.connect("doctree-read", _unique_exercise_ids, priority=400)
    app.connect("html-page-context", _notebook_download)
    app.connect("html-page-context", _viewcode_pages)
    app.connect("build-finished", _executed_downloads)
    app.connect("autodoc-process-docstring", _list_examples)

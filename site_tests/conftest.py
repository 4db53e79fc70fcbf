"""Fixtures for the browser suite: the built site served on 127.0.0.1, Debian's Chromium."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The project's URLs, from their one place (pyproject.toml).
PROJECT_URLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
SITE = Path(os.environ.get("GDTUTOR_SITE_DIR", ROOT / "docs" / "_build" / "html"))
ARTIFACTS = Path(os.environ.get("GDTUTOR_ARTIFACTS", ROOT / "docs" / "_build" / "site-report"))
CHROMIUM = os.environ.get("GDTUTOR_CHROMIUM", "/usr/bin/chromium")
# Where the site lives on its host, as in conf.py's notfound_urls_prefix ("/gdtutor/" on GitHub Pages).
PREFIX = os.environ.get("GDTUTOR_URL_PREFIX", "/")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = sorted(
    path.relative_to(SITE).as_posix()
    for path in SITE.rglob("*.html")
    if "_static" not in path.parts
)
TUTORIALS = [page for page in PAGES if page.startswith("tutorials/")]


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serve the site under PREFIX; answer missing paths with the site's 404 page, as a host does."""

    def translate_path(self, path: str) -> str:
        if not path.startswith(PREFIX):
            return str(SITE / "__outside_the_site__")
        return super().translate_path("/" + path[len(PREFIX) :])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        not_found = SITE / "404.html"
        if code != 404 or not not_found.exists():
            super().send_error(code, message, explain)
            return
        body = not_found.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """The site, served on a free port of 127.0.0.1 for the whole session."""
    if not (SITE / "index.html").exists():
        pytest.fail(
            f"no built site in {SITE}: run `nox -s docs` first (or `nox -s site -- rebuild`)."
        )
    handler = functools.partial(_SiteHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"
    server.shutdown()
    server.server_close()


def load(page, url: str):
    """Open ``url`` and wait until MathJax (where present) has typeset the page."""
    response = page.goto(url, wait_until="load")
    page.evaluate(
        "async () => { if (window.MathJax?.startup?.promise) await window.MathJax.startup.promise; }"
    )
    return response


@pytest.fixture(scope="session")
def loaded(browser, browser_context_args: dict, base_url: str) -> Iterator[Callable]:
    """``loaded(path)``: the page at ``path``, loaded once per test process and shared by the
    tests that only read it or leave it as it was (a test that opens, hides or restyles anything
    opens its own)."""
    context = browser.new_context(**browser_context_args)
    pages = {}

    def page_at(path: str):
        if path not in pages:
            pages[path] = context.new_page()
            load(pages[path], base_url + path)
        return pages[path]

    yield page_at
    context.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium, never a downloaded browser; no background traffic."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install chromium, or set GDTUTOR_CHROMIUM."
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A desktop viewport, with clipboard access for the copy-button test."""
    return {
        **browser_context_args,
        "viewport": {"width": 1280, "height": 900},
        "permissions": ["clipboard-read", "clipboard-write"],
    }


@pytest.fixture
def offline_page(page, base_url):
    """A page that records console errors, failed requests, HTTP errors and requests to other hosts (blocked)."""
    log: dict[str, list[str]] = {"console": [], "failed": [], "foreign": [], "http_errors": []}
    local = urlsplit(base_url).netloc

    def route(route) -> None:
        if urlsplit(route.request.url).netloc not in (local, ""):
            log["foreign"].append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", route)
    page.on(
        "console", lambda message: message.type == "error" and log["console"].append(message.text)
    )
    page.on("pageerror", lambda error: log["console"].append(str(error)))
    page.on(
        "requestfailed", lambda request: log["failed"].append(f"{request.url} ({request.failure})")
    )
    page.on(
        "response",
        lambda response: response.status >= 400 and log["http_errors"].append(response.url),
    )
    page.log = log
    return page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots and the page-weight report go (CI keeps this folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def published_site() -> Path:
    """The book built as on its host (GDTUTOR_PUBLISHED=1: repository and launch buttons).

    Only the HTML differs from the main build, so it writes from the main build's parsed pages
    (its doctrees), beside it (the theme copies executed notebooks from the build folder's
    jupyter_execute), and nothing is read or executed again.
    """
    out = SITE.parent / "html-published"
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html"]
    subprocess.run(
        [*command, "-d", str(SITE / ".doctrees"), "docs", str(out)],
        cwd=ROOT,
        env={**os.environ, "GDTUTOR_PUBLISHED": "1"},
        check=True,
    )
    return out

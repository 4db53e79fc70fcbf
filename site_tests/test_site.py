"""The built site as readers use it, in a real browser (Debian's Chromium), fully offline."""

from __future__ import annotations

import json
import platform
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import PAGES, PROJECT_URLS, ROOT, SITE, TUTORIALS, load
from plain_script import shown_cells
from test_quick_start import quick_start

from gdtutor._book import published

CODE = 'div[class*="highlight-"]:not(.output) > div.highlight > pre'  # = conf.copybutton_selector
BLOCKING = ("serious", "critical")
AXE = Axe().axe_script  # axe-core, as axe-playwright-python ships it


# The axe rules whose outcome depends on colours, so on the theme: a switch to dark mode changes
# nothing else, and every rule runs in light mode on every page.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
# Marks the text elements styled exactly like one that axe's colour-contrast rule judges.
CONTRAST_TWINS = Path(__file__).with_name("contrast_sample.js").read_text()
SKIP_CONTRAST_TWINS = (
    "axe.configure({rules: [{id: 'color-contrast', selector: '*:not([data-contrast-twin])'}]})"
)


def blocking_violations(page, rules: list[str] | None = None) -> list[str]:
    """Serious or critical accessibility violations reported by axe-core (all rules, or ``rules``).

    The colour-contrast rule judges each text element apart, which on a tutorial was most of axe's
    time: it judges one element of each distinct chain of styles and skips their twins, whose
    verdict is the same (contrast_sample.js); where axe cannot judge that one (something overlaps
    it), it judges the twins. Every other rule sees every element.
    """
    options: dict = {"resultTypes": ["violations", "incomplete"]}
    if rules is not None:
        options["runOnly"] = {"type": "rule", "values": rules}
    page.evaluate(AXE)
    page.evaluate(SKIP_CONTRAST_TWINS)
    page.evaluate(CONTRAST_TWINS, {"action": "mark"})
    try:
        results = page.evaluate("options => axe.run(document, options)", options)
        violations = results["violations"]
        unjudged = [
            node["target"][0]
            for result in results["incomplete"]
            if result["id"] == "color-contrast"
            for node in result["nodes"]
        ]
        if page.evaluate(CONTRAST_TWINS, {"action": "recheck", "targets": unjudged}):
            options = {"resultTypes": ["violations"], "runOnly": ["color-contrast"]}
            violations = [v for v in violations if v["id"] != "color-contrast"]
            violations += page.evaluate("options => axe.run(document, options)", options)[
                "violations"
            ]
    finally:
        page.evaluate(CONTRAST_TWINS, {"action": "unmark"})
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in violations
        if v["impact"] in BLOCKING
    ]


def code_cells(page) -> list[str]:
    """The text each copy button copies, in page order (line numbers, prompts and outputs removed)."""
    return page.eval_on_selector_all(
        CODE,
        """pres => pres.map(pre => {
            const copy = pre.cloneNode(true);
            copy.querySelectorAll('.linenos, .gp, .go').forEach(node => node.remove());
            return copy.textContent;
        })""",
    )


def test_home_page_shows_the_quick_start_that_is_tested(loaded):
    """The home page's install command and code, as rendered, are those test_quick_start.py runs."""
    page = loaded("index.html")
    commands = page.eval_on_selector_all(
        "div.highlight-bash > div.highlight > pre", "pres => pres.map(p => p.textContent.trim())"
    )
    snippets = page.eval_on_selector_all(
        "div.highlight-python > div.highlight > pre", "pres => pres.map(p => p.textContent.trim())"
    )
    assert (commands, snippets) == quick_start() and commands and snippets


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_offline_and_renders(offline_page, base_url, path):
    page = offline_page
    response = load(page, base_url + path)
    assert response.status == 200
    assert page.log["foreign"] == [], "requests to other hosts"
    assert page.log["failed"] == [] and page.log["http_errors"] == [], "failed requests"
    assert page.log["console"] == [], "console errors"
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.src, i.complete && i.naturalWidth > 0, i.alt])"
    )
    assert all(loaded for _, loaded, _ in images), [src for src, loaded, _ in images if not loaded]
    assert all(alt.strip() for _, _, alt in images), [
        src for src, _, alt in images if not alt.strip()
    ]
    raw_tables = page.eval_on_selector_all(
        ".cell_output", "outs => outs.filter(o => o.innerText.includes('|---|')).length"
    )
    assert raw_tables == 0, "a Markdown table output rendered as text"
    raw_math = page.eval_on_selector_all(
        ".math", "nodes => nodes.filter(n => !n.querySelector('mjx-container')).length"
    )
    assert raw_math == 0, f"{raw_math} math nodes left as raw TeX"
    buttons = page.eval_on_selector_all(
        CODE, "pres => pres.filter(p => p.parentElement.querySelector('button.copybtn')).length"
    )
    assert buttons == len(code_cells(page)), "a code block without a copy button"
    assert page.locator(".output button.copybtn, .cell_output button.copybtn").count() == 0, (
        "copy button on an output"
    )
    assert blocking_violations(page) == []


def test_contrast_check_judges_every_distinct_style(offline_page, base_url):
    """The colour-contrast rule skips the twins of the elements it judges (contrast_sample.js):
    it still fails on one faint code token among its twins, on a faint kind of token, and on the
    twins of a token it cannot judge; and it leaves the page unmarked."""
    page = offline_page
    load(page, base_url + "index.html")

    def faint(count: int) -> list[str]:
        rule = "color-contrast: Elements must meet minimum color contrast ratio thresholds"
        return [f"{rule} ({count} nodes)"] if count else []

    assert blocking_violations(page, ["color-contrast"]) == faint(0)
    assert page.evaluate(CONTRAST_TWINS, {"action": "mark"}) > 40  # code tokens have twins
    page.evaluate(CONTRAST_TWINS, {"action": "unmark"})
    # on the code background, these greys have contrast 1.1 to 1.2, where 4.5 is needed
    page.eval_on_selector_all(  # one name late on the page, a twin of earlier ones until now
        "pre span.n",
        "names => names.filter(n => n.textContent.length > 3).at(-1).style.color = '#e8e8e8'",
    )
    assert blocking_violations(page, ["color-contrast"]) == faint(1)
    page.add_style_tag(content="pre span.nb { color: #e0e0e0 !important; }")  # every builtin
    assert blocking_violations(page, ["color-contrast"]) == faint(2)
    # a veil (a pseudo-element) over the builtin judged: axe cannot judge it, so judges its twins
    page.add_style_tag(
        content=".veiled { position: relative; } "
        '.veiled::before { content: ""; position: absolute; inset: 0; background: #fff8; }'
    )
    page.eval_on_selector("pre span.nb", "first => first.classList.add('veiled')")
    builtins = page.locator("pre span.nb").count()
    assert builtins >= 3 and blocking_violations(page, ["color-contrast"]) == faint(builtins)
    assert page.locator("[data-contrast-twin], [data-contrast-judged]").count() == 0


@pytest.mark.parametrize("path", TUTORIALS)
def test_copy_button_carries_the_cells_code(loaded, path):
    page = loaded(path)  # the click leaves the page as it was, but for its scroll position
    first = page.locator(CODE).first
    first.scroll_into_view_if_needed()
    first.hover()
    page.locator(f"{CODE} + button.copybtn, {CODE} ~ button.copybtn").first.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == code_cells(page)[0].strip()
    assert "import gdtutor" in copied


@pytest.mark.parametrize("path", TUTORIALS)
def test_copied_code_is_the_shown_cells(loaded, path):
    """The copy buttons give, in page order, exactly the tutorial's shown code cells: the code that
    tests/test_tutorials.py executed in a kernel and found to stand alone as a plain script (each
    tutorial is executed once per CI run, and not again here)."""
    page = loaded(path)
    shown = shown_cells(ROOT / "docs" / Path(path).with_suffix(".md"))
    assert [code.strip() for code in code_cells(page)] == [code.strip() for code in shown]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("Brockett", "part3-svd"), ("Newton–Schulz", "part2-matrix-inverse"), ("jacrev", "part1")],
)
def test_search_finds_tutorial_content(offline_page, base_url, query, expected):
    page = offline_page
    load(page, f"{base_url}search.html?q={query}")
    page.wait_for_selector("#search-results li", timeout=15_000)
    links = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    assert any(expected in link for link in links), links
    assert page.log["foreign"] == [] and page.log["console"] == []


@pytest.mark.parametrize("path", TUTORIALS)
def test_downloads_and_launch_links(loaded, base_url, path):
    page = loaded(path)
    links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    local = [link for link in links if link.startswith(base_url)]
    downloads = {
        Path(urlsplit(link).path).suffix: link for link in local if link.endswith((".ipynb", ".md"))
    }
    assert set(downloads) == {".ipynb", ".md"}, links
    source = page.request.get(downloads[".md"])
    assert source.status == 200 and "kernelspec" in source.text()
    notebook = page.request.get(downloads[".ipynb"])
    assert notebook.status == 200
    cells = json.loads(notebook.text())["cells"]
    assert any(cell.get("outputs") for cell in cells if cell["cell_type"] == "code"), (
        "the .ipynb is not executed"
    )
    # Links into the repository only on a site built from the published repository (conf.py;
    # test_launch_buttons_on_the_published_site checks that case).
    if not published():
        into_repository = [link for link in links if link.startswith(PROJECT_URLS["Source"])]
        launch = [link for link in links if "mybinder.org" in link or "colab." in link]
        assert into_repository == [] and launch == [], into_repository + launch


def test_missing_pages_get_the_404_page(offline_page, base_url):
    page = offline_page
    response = load(page, base_url + "no/such/page.html")
    assert response.status == 404
    assert "not found" in page.title().lower()
    assert page.log["http_errors"] == [base_url + "no/such/page.html"]  # the page itself, no asset
    assert page.log["failed"] == [] and page.log["foreign"] == []
    assert all(
        "status of 404" in message for message in page.log["console"]
    )  # Chromium logs the 404 itself
    assert page.eval_on_selector_all(
        "img", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"
    )


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"])


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_internal_links_and_anchors_resolve():
    parsed = {path: _parse(SITE / path) for path in PAGES}
    broken = []
    for path, links in parsed.items():
        for href in links.hrefs:
            target = urlsplit(urljoin("http://site/" + path, href))
            if target.netloc != "site" or target.scheme not in ("http", ""):
                continue  # external: nox -s linkcheck
            file = unquote(target.path.lstrip("/")) or "index.html"
            if file.endswith("/"):
                file += "index.html"
            if not (SITE / file).exists():
                broken.append(f"{path}: {href}")
            elif target.fragment and file.endswith(".html"):
                ids = parsed[file].ids if file in parsed else _parse(SITE / file).ids
                if unquote(target.fragment) not in ids:
                    broken.append(f"{path}: {href} (no anchor)")
    assert broken == []


def test_tutorials_link_to_the_api_reference():
    for path in TUTORIALS:
        hrefs = _parse(SITE / path).hrefs
        assert any("reference/index.html#gdtutor." in href for href in hrefs), path


def test_api_entries_link_to_their_source():
    """Every function and class on the API reference has "[source]", to its method's own module."""
    html = (SITE / "reference" / "index.html").read_text()
    entries = re.findall(
        r'<dl class="py (?:function|class)">\s*<dt class="sig sig-object py" id="(gdtutor\.[\w.]+)">(.*?)</dt>',
        html,
        re.S,
    )
    assert len(entries) > 20
    missing = [name for name, body in entries if "viewcode-link" not in body]
    assert missing == []
    lobpcg = dict(entries)["gdtutor.decomposition._lobpcg"]
    assert "_modules/gdtutor/decomposition/lobpcg.html#" in lobpcg


@pytest.mark.parametrize("path", TUTORIALS)
def test_figures_are_numbered_and_captioned(loaded, path):
    page = loaded(path)
    captions = page.eval_on_selector_all("figure figcaption", "caps => caps.map(c => c.innerText)")
    assert captions and all(
        caption.startswith("Fig. ") and len(caption) > 20 for caption in captions
    )


def test_page_weights(page, base_url, artifacts):
    """Report each tutorial page's weight: the HTML and everything it loads, from the files served."""
    rows = []
    for path in TUTORIALS:
        requested: set[str] = set()

        def record(request, seen=requested):
            seen.add(urlsplit(request.url).path)

        page.on("request", record)
        load(page, base_url + path)
        page.remove_listener("request", record)
        sizes = {
            p: (SITE / unquote(p.lstrip("/"))).stat().st_size
            for p in requested
            if (SITE / unquote(p.lstrip("/"))).is_file()
        }
        images = sum(size for p, size in sizes.items() if p.startswith("/_images/"))
        rows.append((path, sizes.get("/" + path, 0), images, sum(sizes.values())))
        largest_image = max(
            (size for p, size in sizes.items() if p.startswith("/_images/")), default=0
        )
        assert largest_image < 400_000, f"{path}: a figure of {largest_image} bytes"
    lines = ["| page | HTML (kB) | figures (kB) | total loaded (kB) |", "|---|---|---|---|"]
    lines += [f"| {p} | {h / 1e3:.0f} | {i / 1e3:.0f} | {t / 1e3:.0f} |" for p, h, i, t in rows]
    (artifacts / "page-weights.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


# --- how each page was run, code linked both ways, launch buttons, dark figures, metadata ------
def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("path", TUTORIALS)
def test_run_card_says_how_the_page_was_run(loaded, path):
    import numpy
    import torch

    page = loaded(path)
    rows = page.eval_on_selector_all(  # the "How this page was run" dropdown, open or not
        ".dropdown.admonition tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))",
    )
    card = dict(rows)
    assert card["Python"] == platform.python_version()
    assert card["PyTorch"] == torch.__version__ and card["NumPy"] == numpy.__version__
    assert card["device"].startswith("CPU (") and card["threads"].isdigit()
    # the commit the page was executed at: HEAD after a fresh build (as in CI), an ancestor of it
    # when the notebook cache served an execution from before a later commit
    executed_at = card["commit"].split()[0]
    assert len(executed_at) == 12 and _git("merge-base", "--is-ancestor", executed_at, "HEAD") == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", card["date"])
    assert re.fullmatch(r"\d+\.\d s", card["run time"]) and float(card["run time"][:-2]) > 0


def test_execution_report_lists_every_tutorial(page, base_url):
    load(page, base_url + "reference/execution.html")
    rows = page.eval_on_selector_all(
        "table tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    listed = {row[0]: row for row in rows}
    for path in TUTORIALS:
        row = listed[Path(path).with_suffix("").as_posix()]
        assert "✅" in row, row  # succeeded
        assert any(re.fullmatch(r"\d+\.\d+", cell) for cell in row), row  # its run time (s)


def test_claims_ledger_lists_every_tutorials_claims(page, base_url):
    ledger = json.loads((SITE / "claims.json").read_text())
    assert sorted(f"{entry['docname']}.html" for entry in ledger["pages"]) == TUTORIALS
    claims = [claim for entry in ledger["pages"] for claim in entry["claims"]]
    assert len(claims) == ledger["claims"] and all(claim["holds"] for claim in claims)
    load(page, base_url + "reference/claims.html")
    links = page.eval_on_selector_all(
        "table.gdtutor-ledger a", "links => links.map(a => a.getAttribute('href'))"
    )
    # a row per claim, each linked to its anchor on its page (test_internal_links_and_anchors_resolve
    # checks that every anchor exists)
    assert [link.split("/")[-1] for link in links] == [
        claim["url"].split("/")[-1] for claim in claims
    ]
    for path in ("index.html", *TUTORIALS):  # the home page and each run card link to the ledger
        hrefs = _parse(SITE / path).hrefs
        assert any(href.endswith("reference/claims.html") for href in hrefs), path


@pytest.mark.parametrize("path", TUTORIALS)
def test_gdtutor_names_in_code_link_to_the_api(loaded, path):
    page = loaded(path)
    links = page.eval_on_selector_all(
        "div.cell_input a.sphinx-codeautolink-a", "links => links.map(a => a.href)"
    )
    api = [link for link in links if "reference/index.html#gdtutor." in link]
    assert len(api) >= 10, api  # anchors resolve: test_internal_links_and_anchors_resolve


def test_api_entries_list_the_tutorials_that_use_them():
    html = (SITE / "reference" / "index.html").read_text()
    for name, tutorial in [
        ("gdtutor.inverse", "part2-matrix-inverse"),
        ("gdtutor.svd", "part3-svd"),
        ("gdtutor.derivatives.finite_difference_gradient", "part1-tensors-and-derivatives"),
    ]:
        backlinks = html[
            html.index(f'References to <a class="reference internal" href="#{name}"') :
        ]
        backlinks = backlinks[: backlinks.index("</table>")]
        assert f"../tutorials/{tutorial}.html#" in backlinks, name


def test_launch_buttons_on_the_published_site(published_site):
    repository = PROJECT_URLS["Source"]
    owner_and_name = urlsplit(repository).path.strip("/")
    for path in TUTORIALS:
        hrefs = _parse(published_site / path).hrefs
        notebook = "docs/" + Path(path).with_suffix(".ipynb").as_posix()
        colab = [href for href in hrefs if href.startswith("https://colab.research.google.com/")]
        assert colab == [
            f"https://colab.research.google.com/github/{owner_and_name}/blob/main/{notebook}"
        ]
        binder = [unquote(href) for href in hrefs if "mybinder.org" in href]
        assert binder and all(owner_and_name in href and notebook in href for href in binder)
        assert any(href.startswith(repository) for href in hrefs)  # repository and source buttons
        # what they open: the generated twin, whose first cell installs gdtutor where it is missing
        first = json.loads((ROOT / notebook).read_text())["cells"][0]
        assert "launch-install" in first["metadata"]["tags"]


@pytest.mark.parametrize("path", TUTORIALS)
def test_figures_and_colours_follow_the_theme(offline_page, base_url, path, artifacts):
    """In each theme the page shows that theme's rendering of every figure (a white or a dark
    corner, read off a screenshot of the whole page, saved for review) and passes axe's colour
    rules (in light mode with all the others: test_page_loads_offline_and_renders)."""
    from PIL import Image

    page = offline_page
    load(page, base_url + path)
    for theme, hidden in [("light", "dark"), ("dark", "light")]:
        page.evaluate(
            f"document.documentElement.dataset.theme = '{theme}';"
            f"document.documentElement.dataset.mode = '{theme}'"
        )
        page.wait_for_timeout(200)
        screenshot = artifacts / f"{Path(path).stem}-{theme}.jpeg"
        page.screenshot(path=str(screenshot), full_page=True, quality=85)
        assert page.locator(f"figure img.only-{hidden}").evaluate_all(
            "imgs => imgs.every(i => i.offsetParent === null)"
        )  # the other theme's rendering is not displayed
        corners = page.locator(f"figure img.only-{theme}").evaluate_all(
            """imgs => imgs.map(i => {
                const box = i.getBoundingClientRect();
                const shown = i.complete && i.naturalWidth > 0 && getComputedStyle(i).opacity > 0.5;
                return [box.left + scrollX + 4, box.top + scrollY + 4, shown];
            })"""
        )
        assert corners, f"no figure drawn for the {theme} theme"
        with Image.open(screenshot) as image:
            rgb = image.convert("RGB")
            for index, (x, y, shown) in enumerate(corners):
                red, green, blue = rgb.getpixel((round(x), round(y)))
                luminance = (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255
                lit = luminance > 0.9 if theme == "light" else luminance < 0.3
                assert shown and lit, (theme, index, luminance)
    assert blocking_violations(page, COLOUR_RULES) == [], "dark mode"


def test_pages_say_when_they_were_last_updated_and_carry_open_graph_metadata():
    for path in ["index.html", *TUTORIALS]:
        html = (SITE / path).read_text()
        assert re.search(r"Last updated on\s+\d{4}-\d\d-\d\d", html), path
        assert '<meta property="og:title"' in html and '<meta property="og:url"' in html, path
    sitemap = (SITE / "sitemap.xml").read_text()
    base = PROJECT_URLS["Documentation"]
    for path in ["index.html", *TUTORIALS]:
        assert f"<loc>{base}{path}</loc>" in sitemap, path


@pytest.mark.parametrize("path", TUTORIALS)
def test_solutions_are_folded_until_opened_and_references_close_the_page(page, base_url, path):
    load(page, base_url + path)
    solutions = page.locator("div.solution")
    assert solutions.count() >= 2
    for index in range(solutions.count()):
        solution = solutions.nth(index)
        body = solution.locator("section").first
        assert not body.is_visible(), index  # folded: the reader tries first
        solution.locator("button.toggle-button").first.click()
        body.wait_for(state="visible", timeout=5_000)
        assert body.locator("div.cell").count() >= 1  # the solution's code, executed
    entries = page.locator("aside.footnote-list aside.footnote")  # the references, at the end
    assert entries.count() >= 5
    assert all(entries.nth(i).inner_text().strip() for i in range(entries.count()))

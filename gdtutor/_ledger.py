"""The book's ledger of checked claims: a Sphinx extension and a MyST-NB output renderer.

Every claim a tutorial checks with :func:`gdtutor.claims.claim` leaves an output of MIME type
:data:`gdtutor.claims.MIME_TYPE` in the executed notebook. Here:

- :class:`ClaimAnchors` (registered in ``myst_nb.mime_renderers``) turns each into an anchor at the
  place on the page where the claim is made, carrying the claim's record;
- the extension (``setup``) collects them per page when the page is read, writes them all to
  ``claims.json`` at the root of the built site, and fills the ``{claims-ledger}`` directive (the
  "Checked claims" page) with a table per tutorial, each row linked to its anchor.

A claim in a cell tagged ``remove-cell`` or ``remove-output`` would leave no anchor, so claims
stand in cells tagged ``remove-input`` (the tutorial tests check this).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective

from gdtutor.claims import MIME_TYPE

#: The node attribute that carries a claim's record.
_RECORD = "gdtutor_claim"


class ClaimAnchors:
    """MyST-NB ``MimeRenderPlugin``: an anchor, carrying the claim's record, for each claim output."""

    mime_priority_overrides: tuple[tuple[str, str, int | None], ...] = (("*", MIME_TYPE, 1),)

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[Any] | None:
        """An empty container whose id is the claim's anchor; ``None`` (not handled) otherwise."""
        if data.mime_type != MIME_TYPE:
            return None
        record = data.content if isinstance(data.content, dict) else json.loads(data.string)
        anchor = f"claim-{data.cell_index}-{data.output_index}"
        container = nodes.container("", ids=[anchor], classes=["gdtutor-claim"])
        container[_RECORD] = {**record, "anchor": anchor}
        return [container]


class _LedgerPlaceholder(nodes.General, nodes.Element):
    """Where the ``{claims-ledger}`` directive stands, filled once every page has been read."""


class LedgerDirective(SphinxDirective):
    """``{claims-ledger}``: every tutorial's claims, a table per page."""

    def run(self) -> list[nodes.Node]:
        """A placeholder, filled at ``doctree-resolved``."""
        return [_LedgerPlaceholder()]


def _claims(env: BuildEnvironment) -> dict[str, list[dict[str, Any]]]:
    if not hasattr(env, "gdtutor_claims"):
        env.gdtutor_claims = {}
    return env.gdtutor_claims


def _collect(app: Sphinx, doctree: nodes.document) -> None:
    records = [node[_RECORD] for node in doctree.findall(nodes.container) if _RECORD in node]
    if records:
        _claims(app.env)[app.env.docname] = records


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _claims(env).pop(docname, None)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    _claims(env).update({name: _claims(other)[name] for name in docnames if name in _claims(other)})


def _ledger_pages(env: BuildEnvironment) -> list[str]:
    return [name for name in env.found_docs if "claims-ledger" in env.doc2path(name).read_text()]


def _always_rewrite_ledger(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """The ledger page lists every page's claims: write it whenever any page is read."""
    return _ledger_pages(env)


def _pages(app: Sphinx) -> list[dict[str, Any]]:
    """Each page with claims, in the book's order (its docname), with its title."""
    env = app.env
    return [
        {"docname": name, "title": env.titles[name].astext(), "claims": records}
        for name, records in sorted(_claims(env).items())
    ]


def _number(value: float | str) -> str:
    """A record's number (non-finite ones are strings there: "inf", "nan")."""
    value = float(value)
    return (
        f"{value:.3g}"
        if math.isfinite(value)
        else {"inf": "∞", "-inf": "−∞"}.get(str(value), "NaN")
    )


def _relation(record: dict[str, Any]) -> str:
    if record["relation"] == "within":
        return f"within ±{record['tolerance']:.3g} of"
    return "== (exact)" if record["exact"] else record["relation"]


def _table(headers: list[str], rows: list[list[nodes.Node]], widths: list[int]) -> nodes.table:
    group = nodes.tgroup(cols=len(headers))
    group += [nodes.colspec(colwidth=width) for width in widths]
    head, body = nodes.thead(), nodes.tbody()
    head += nodes.row("", *(nodes.entry("", nodes.paragraph(text=text)) for text in headers))
    for cells in rows:
        body += nodes.row("", *(nodes.entry("", cell) for cell in cells))
    group += [head, body]
    return nodes.table("", group, classes=["gdtutor-ledger"])


def _fill_ledger(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for placeholder in list(doctree.findall(_LedgerPlaceholder)):
        content: list[nodes.Node] = []
        for page in _pages(app):
            uri = app.builder.get_relative_uri(docname, page["docname"])
            records = page["claims"]
            bounded = [r for r in records if not r["exact"]]
            title = nodes.paragraph()
            title += nodes.strong(text=f"{page['title']}: ")
            title += nodes.reference("", "the page", refuri=uri, internal=True)
            smallest = min((float(r["margin"]) for r in bounded), default=math.inf)
            title += nodes.Text(
                f" — {len(records)} claims: {len(bounded)} bounds (smallest margin "
                f"{_number(smallest)}×), {len(records) - len(bounded)} exact, "
                f"{sum(bool(r['reproduces']) for r in records)} reproducing the 2020 series."
            )
            rows = []
            for record in records:
                link = nodes.paragraph()
                link += nodes.reference(
                    "", record["statement"], refuri=f"{uri}#{record['anchor']}", internal=True
                )
                if record["reproduces"]:
                    link += nodes.emphasis(text=f" (reproduces {record['reproduces']})")
                rows.append(
                    [
                        link,
                        nodes.paragraph(text=_number(record["value"])),
                        nodes.paragraph(text=_relation(record)),
                        nodes.paragraph(text=_number(record["bound"])),
                        nodes.paragraph(
                            text="exact" if record["exact"] else _number(record["margin"])
                        ),
                        nodes.paragraph(text=record["because"]),
                    ]
                )
            headers = ["claim", "value", "relation", "bound", "margin", "because"]
            content += [title, _table(headers, rows, [30, 8, 8, 8, 7, 39])]
        placeholder.replace_self(content)


def _write_json(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    pages = []
    for page in _pages(app):
        uri = app.builder.get_target_uri(page["docname"])
        claims = [{**record, "url": f"{uri}#{record['anchor']}"} for record in page["claims"]]
        pages.append({**page, "url": uri, "claims": claims})
    ledger = {"claims": sum(len(page["claims"]) for page in pages), "pages": pages}
    Path(app.outdir, "claims.json").write_text(json.dumps(ledger, indent=1, ensure_ascii=False))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the ledger's directive, its node and the build events that fill it."""
    app.add_directive("claims-ledger", LedgerDirective)
    app.add_node(_LedgerPlaceholder)
    app.connect("doctree-read", _collect)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-get-updated", _always_rewrite_ledger)
    app.connect("doctree-resolved", _fill_ledger)
    app.connect("build-finished", _write_json)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}

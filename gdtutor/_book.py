"""Build hooks of the book (not part of the API), registered as entry points in pyproject.toml.

- :class:`ThemedFigures`, a MyST-NB output renderer (``myst_nb.mime_renderers``): a figure
  displayed after :func:`gdtutor.plotting.enable_theme_variants` has a PNG output (light) whose
  metadata carries a dark rendering; both become images of the same output, marked
  ``only-light`` and ``only-dark`` (pydata-sphinx-theme shows each in its theme), in one
  container, with the cell's options (alt text, figure caption) on both.
- :class:`EncryptedKernels`, a Jupyter kernel provisioner (``jupyter_client.kernel_provisioners``)
  that launches local kernels with CurveZMQ keys provisioned by the kernel manager, so that the
  tutorials' kernels do not talk in plain text over TCP (nor warn that they do). The docs build
  and the tutorial tests select it with ``JUPYTER_DEFAULT_PROVISIONER_NAME``.
- :func:`published`: whether the book is being built from its published repository.
- :func:`notebook_cache`, the folder of executed tutorials that the docs build (MyST-NB's cache)
  and the tutorial tests share, keyed on the package's source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.provisioning import LocalProvisioner

from gdtutor.plotting import DARK_VARIANT_KEY

#: The name under which :class:`EncryptedKernels` is registered.
ENCRYPTED_KERNELS = "gdtutor-encrypted-kernels"


def published() -> bool:
    """Whether the book is built from its published repository, so that links into it resolve.

    True on GitHub Actions and Read the Docs (which build from the repository), or when
    ``GDTUTOR_PUBLISHED`` is set; a local build of a clone is not published.
    """
    return any(
        os.environ.get(name) for name in ("GITHUB_ACTIONS", "READTHEDOCS", "GDTUTOR_PUBLISHED")
    )


class ThemedFigures:
    """MyST-NB ``MimeRenderPlugin``: a light and a dark image for PNG outputs that carry both."""

    mime_priority_overrides: tuple[tuple[str, str, int | None], ...] = ()

    @staticmethod
    def handle_mime(renderer: Any, data: Any, inline: bool) -> list[Any] | None:
        """Two images for a PNG output with a dark rendering; ``None`` (not handled) otherwise."""
        if data.mime_type != "image/png":
            return None
        dark = data.output_metadata.get("image/png", {}).get(DARK_VARIANT_KEY)
        if dark is None:
            return None
        from docutils import nodes  # the docs build has it; the package does not need it

        light_nodes = renderer.render_image(data)
        dark_nodes = renderer.render_image(dataclasses.replace(data, content=dark))
        for node in light_nodes:
            node["classes"].append("only-light")
        for node in dark_nodes:
            node["classes"].append("only-dark")
        # One container for both: the theme hides a caption that follows an only-light or
        # only-dark image as its sibling (CSS ``.only-dark ~ figcaption``), meant for figures
        # that exist in one theme only.
        return [nodes.container("", *light_nodes, *dark_nodes, classes=["themed-figure"])]


class EncryptedKernels(LocalProvisioner):  # type: ignore[misc]
    """A local kernel provisioner that asks for CurveZMQ transport encryption when available."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Request manager-provisioned Curve keys (the kernelspec of ipykernel supports them)."""
        if zmq.has("curve"):
            kwargs.setdefault("transport_encryption", "auto")
        return await super().pre_launch(**kwargs)


def source_fingerprint() -> str:
    """A hash of gdtutor's source files (their paths and contents)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def notebook_cache(docs: Path) -> Path:
    """The cache of executed tutorials for the book in ``docs``, valid for this package's source.

    MyST-NB's cache keys each notebook on its code alone; keying the folder on the package too
    means that an edit to gdtutor re-executes every tutorial instead of publishing stale output.
    The tutorial tests put what they execute here, so the docs build that follows renders it
    without executing it again.
    """
    return docs / "_build" / ".jupyter_cache" / source_fingerprint()

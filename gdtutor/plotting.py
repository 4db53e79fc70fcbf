"""The matplotlib figures the tutorials show, drawn for light and dark pages.

Each function returns a :class:`matplotlib.figure.Figure` and leaves no global state behind
apart from pyplot's registry, which Jupyter's inline backend clears after every cell.
:func:`enable_theme_variants` makes every figure a notebook displays carry a second rendering
for dark pages (:func:`dark_png`), which the book shows in dark mode.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from torch import Tensor

FIGSIZE = (6.4, 3.6)
#: The key, in a PNG output's metadata, of its dark-page rendering (base64-encoded PNG).
DARK_VARIANT_KEY = "gdtutor_dark_png"
_COLOR_ACCESSORS = (
    ("get_color", "set_color"),
    ("get_facecolor", "set_facecolor"),
    ("get_edgecolor", "set_edgecolor"),
    ("get_markerfacecolor", "set_markerfacecolor"),
    ("get_markeredgecolor", "set_markeredgecolor"),
)


def png(fig: Figure, *, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes, as drawn (for light pages)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def dark_png(fig: Figure, *, dpi: float | None = None) -> bytes:
    r"""The figure as PNG bytes for dark pages: transparent background, greys inverted.

    Every grey (text, axes, ticks, black reference lines) maps to its mirror image in lightness,
    :math:`L \mapsto 0.12 + 0.76\,(1 - L)`, so black ink becomes light grey; coloured lines and
    images (photographs) keep their colours, and the page's own background shows through. The
    figure is restored afterwards.
    """
    saved = []
    for artist in fig.findobj():
        for getter, setter in _COLOR_ACCESSORS:
            if not (hasattr(artist, getter) and hasattr(artist, setter)):
                continue
            try:
                colors = to_rgba_array(getattr(artist, getter)())
            except (TypeError, ValueError):
                continue
            if len(colors) == 0:
                continue
            saved.append((artist, setter, getattr(artist, getter)()))
            mirrored = _mirror_greys(colors)
            getattr(artist, setter)(mirrored if len(mirrored) > 1 else mirrored[0])
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", transparent=True)
        return buffer.getvalue()
    finally:
        for artist, setter, original in reversed(saved):
            getattr(artist, setter)(original)


def _mirror_greys(colors: np.ndarray) -> np.ndarray:
    """Mirror the lightness of grey colours (RGBA rows); keep coloured ones and transparency."""
    rgb = colors[:, :3]
    grey = rgb.max(axis=1) - rgb.min(axis=1) < 0.1
    mirrored = colors.copy()
    mirrored[grey, :3] = 0.12 + 0.76 * (1 - rgb[grey].mean(axis=1, keepdims=True))
    return mirrored


def enable_theme_variants() -> None:
    """In IPython or Jupyter: give every displayed figure a rendering for dark pages.

    Each figure's PNG output (the light rendering, :func:`png`) then carries :func:`dark_png`'s
    in its metadata under :data:`DARK_VARIANT_KEY`. Jupyter shows the light one; the book shows
    each in its theme. Raises ``RuntimeError`` outside IPython.
    """
    from IPython import get_ipython  # IPython comes with Jupyter; only this function needs it

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("enable_theme_variants() works in IPython or Jupyter only.")
    # pyplot loads its backend with the first figure; Jupyter's inline backend then registers its
    # own PNG formatter for figures, which must come before ours, not replace it.
    plt.close(plt.figure())
    shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_dark_variant)


def _png_with_dark_variant(fig: Figure) -> tuple[bytes, dict[str, str]]:
    return png(fig), {DARK_VARIANT_KEY: base64.b64encode(dark_png(fig)).decode("ascii")}


def plot_derivative(
    x: Tensor, values: Tensor, derivative: Tensor, reference: Tensor, *, name: str = "f"
) -> Figure:
    """A function, its autograd derivative and the analytic derivative on one axis."""
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    ax.plot(x, values, label=f"${name}(x)$", color="C0")
    ax.plot(x, derivative, label=f"autograd ${name}'(x)$", color="C1", linewidth=3, alpha=0.6)
    ax.plot(x, reference, label="analytic derivative", color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("$x$")
    ax.axhline(0, color="0.8", linewidth=0.8, zorder=0)
    ax.legend(loc="lower left", frameon=False)
    return fig


def plot_finite_difference_error(
    steps: Tensor, errors: Mapping[str, Tensor], models: Mapping[str, Tensor]
) -> Figure:
    """Finite-difference error against the step on log-log axes, each dtype with its error model."""
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    for index, (label, error) in enumerate(errors.items()):
        color = f"C{index}"
        ax.loglog(
            steps, error.clamp_min(1e-18), "o", markersize=3, color=color, label=f"{label} measured"
        )
        ax.loglog(steps, models[label], "-", color=color, linewidth=1, label=f"{label} model")
    ax.set_xlabel("step $h$")
    ax.set_ylabel("absolute error of the derivative")
    ax.legend(frameon=False, fontsize="small")
    return fig


Curve = Tensor | tuple[Tensor, Tensor]


def _thinned(curve: Curve, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """A curve's ``(x, y)``, keeping about ``points`` points: a line plot cannot show more.

    Long histories (20,000 steps) otherwise dominate the time to draw a figure.
    """
    x, y = curve if isinstance(curve, tuple) else (np.arange(len(curve)), curve)
    x, y = np.asarray(x), np.asarray(y)
    stride = max(1, len(y) // points)
    keep = np.unique(np.r_[np.arange(0, len(y), stride), len(y) - 1]) if len(y) else np.arange(0)
    return x[keep], y[keep]


def plot_histories(
    curves: Mapping[str, Curve],
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    logx: bool = False,
    styles: Mapping[str, str] | None = None,
) -> Figure:
    """Several histories on one log-y axis, e.g. loss against step.

    Parameters
    ----------
    curves
        Label to y values (plotted against 0, 1, 2, ...) or to an ``(x, y)`` pair.
    xlabel, ylabel
        Axis labels.
    logx
        Use a logarithmic x axis too.
    styles
        Optional matplotlib format strings per label (``"o"`` for markers only, ``"--"``, ...).
    """
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    _draw_log_curves(ax, curves, xlabel=xlabel, ylabel=ylabel, logx=logx, styles=styles)
    ax.legend(frameon=False, fontsize="small")
    return fig


def _draw_log_curves(
    ax: Axes,
    curves: Mapping[str, Curve],
    *,
    xlabel: str,
    ylabel: str,
    logx: bool,
    styles: Mapping[str, str] | None,
) -> None:
    """Draw labelled curves (thinned) on a log-y axis, log-x if asked."""
    for label, curve in curves.items():
        x, y = _thinned(curve)
        ax.plot(x, y, (styles or {}).get(label, "-"), label=label, markersize=4)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def plot_panels(
    panels: Mapping[str, Mapping[str, Curve]],
    *,
    xlabel: str,
    logx: bool = False,
    styles: Mapping[str, str] | None = None,
) -> Figure:
    """Side-by-side log-y panels of the same curves, e.g. value and vector errors against work.

    ``panels`` maps each panel's y label to its curves (as in :func:`plot_histories`); the
    legend, shown once, names the curves of the first panel.
    """
    fig, axes = plt.subplots(
        1, len(panels), figsize=(FIGSIZE[0] * 1.5, FIGSIZE[1]), layout="constrained", sharex=True
    )
    for ax, (ylabel, curves) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        _draw_log_curves(ax, curves, xlabel=xlabel, ylabel=ylabel, logx=logx, styles=styles)
    np.atleast_1d(axes)[0].legend(frameon=False, fontsize="small")
    return fig


def plot_stiefel_step(x: Tensor, gradient: Tensor, lr: float) -> Figure:
    r"""One Riemannian step on the simplest Stiefel manifold, the unit circle in the plane.

    Draws the point :math:`x`, the Euclidean gradient :math:`g`, its tangent projection
    :math:`g - x\,x^\top g`, the step along it (which leaves the circle) and the retraction
    back onto the circle (normalisation, the Q factor of a 1-column QR).
    """
    x, g = np.asarray(x, dtype=float), np.asarray(gradient, dtype=float)
    tangent = g - x * (x @ g)
    stepped = x + lr * tangent
    retracted = stepped / np.linalg.norm(stepped)
    fig, ax = plt.subplots(figsize=(FIGSIZE[1] * 1.2, FIGSIZE[1] * 1.2), layout="constrained")
    angles = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(angles), np.sin(angles), color="0.6", linewidth=1, label="the manifold")
    arrows = {
        "gradient g": (x, g, "C0"),
        "tangent projection": (x, tangent, "C1"),
        "step x + η·P(g)": (x, stepped - x, "C2"),
        "retraction": (stepped, retracted - stepped, "C3"),
    }
    for label, (origin, direction, color) in arrows.items():
        ax.annotate(
            "",
            xy=origin + direction,
            xytext=origin,
            arrowprops={"arrowstyle": "->", "color": color, "linewidth": 1.6},
        )
        ax.plot([], [], color=color, label=label)
    ax.plot(*x, "o", color="k", label="x")
    ax.plot(*retracted, "o", color="C3", label="new x")
    ax.set_aspect("equal")
    ax.set_xlim(-0.3, 1.9)
    ax.set_ylim(-0.3, 1.6)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    return fig


def plot_images(
    images: Mapping[str, Tensor], *, columns: int = 2, panel: tuple[float, float] = (3.2, 3.4)
) -> Figure:
    """Greyscale images in a grid, each titled with its label (values clipped to [0, 1]).

    ``panel`` is each image's size in inches, with its title: smaller panels, lighter files.
    """
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(panel[0] * columns, panel[1] * rows),
        layout="constrained",
        squeeze=False,
    )
    for ax, (label, image) in zip(axes.flat, images.items(), strict=False):
        ax.imshow(image.detach().clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize="medium")
    for ax in axes.flat:
        ax.set_axis_off()
    return fig


def autograd_graph(output: Tensor, names: Mapping[str, Tensor]) -> list[tuple[str, str]]:
    """The edges of the backward graph autograd recorded for ``output``, as ``(input, node)`` labels.

    Walks ``output.grad_fn`` and its ``next_functions``; a leaf tensor's ``AccumulateGrad`` node is
    labelled with its name from ``names`` (``"x"``), every other node with its class name
    (``"MulBackward0"``). The edges run in the forward direction, from an input to the
    operation that used it.
    """
    if output.grad_fn is None:
        raise ValueError(
            "output has no graph: compute it from tensors with requires_grad=True, outside "
            "torch.no_grad()."
        )
    leaf_names = {id(tensor): name for name, tensor in names.items()}
    labels: dict[int, str] = {}

    def label(node: object) -> str:
        if id(node) not in labels:
            variable = getattr(node, "variable", None)
            labels[id(node)] = (
                leaf_names.get(id(variable), "leaf")
                if variable is not None
                else type(node).__name__
            )
        return labels[id(node)]

    edges: list[tuple[str, str]] = []
    pending, seen = [output.grad_fn], set()
    while pending:
        node = pending.pop(0)
        if id(node) in seen:
            continue
        seen.add(id(node))
        for child, _ in node.next_functions:
            if child is not None:
                edges.append((label(child), label(node)))
                pending.append(child)
    return edges


def plot_autograd_graph(output: Tensor, names: Mapping[str, Tensor], *, title: str) -> Figure:
    """Draw :func:`autograd_graph`: leaves at the bottom, the output's node at the top.

    Arrows point the way values flow forward; ``backward()`` walks them in reverse.
    """
    edges = autograd_graph(output, names)
    parents: dict[str, list[str]] = {}
    for child, parent in edges:
        parents.setdefault(child, []).append(parent)
    nodes = list(dict.fromkeys([edges[0][1], *(node for edge in edges for node in edge)]))
    height: dict[str, int] = {}

    def level(node: str) -> int:  # the longest path down to a leaf
        if node not in height:
            children = [child for child, parent in edges if parent == node]
            height[node] = 1 + max(map(level, children)) if children else 0
        return height[node]

    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(level(node), []).append(node)
    position = {
        node: ((i + 1) / (len(row) + 1), depth)
        for depth, row in rows.items()
        for i, node in enumerate(row)
    }
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], 0.9 * (len(rows) + 1)), layout="constrained")
    for child, parent in edges:
        ax.annotate(
            "",
            xy=position[parent],
            xytext=position[child],
            arrowprops={"arrowstyle": "-|>", "color": "0.35", "shrinkA": 14, "shrinkB": 14},
        )
    for node, (x, y) in position.items():
        leaf = node in names
        ax.text(
            x,
            y,
            node,
            ha="center",
            va="center",
            fontfamily="monospace",
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": "C0" if leaf else "white",
                "alpha": 0.25 if leaf else 1.0,
                "edgecolor": "0.35",
            },
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, max(rows) + 0.6)
    ax.set_axis_off()
    ax.set_title(title, fontsize="medium")
    return fig


def plot_phase_transition(
    fractions: Tensor, ranks: Tensor, success: Tensor, *, shape: tuple[int, int]
) -> Figure:
    r"""Recovery success over (fraction observed, rank), with the counting limit drawn on it.

    ``success[i, j]`` is for ``ranks[i]`` and ``fractions[j]``. The line is
    :math:`p = r(m + n - r)/(mn)`: below it there are fewer observations than degrees of freedom
    of a rank-:math:`r` matrix, and no method can recover it.
    """
    m, n = shape
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    image = ax.imshow(
        success.detach().cpu().numpy(),
        origin="lower",
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(-0.5, len(fractions) - 0.5, -0.5, len(ranks) - 0.5),
    )
    fig.colorbar(image, ax=ax, label="recovered (fraction of trials)")
    fine = np.linspace(float(ranks.min()), float(ranks.max()), 100)
    limit = fine * (m + n - fine) / (m * n)
    inside = (limit >= float(fractions.min())) & (limit <= float(fractions.max()))
    fine, limit = fine[inside], limit[inside]  # interpolating outside the grid would clamp
    position = np.interp(limit, fractions.cpu().numpy(), np.arange(len(fractions)))
    ax.plot(
        position,
        np.interp(fine, ranks.cpu().numpy(), np.arange(len(ranks))),
        "w--",
        label="r(m+n−r) = observed",
    )
    ax.set_xticks(range(len(fractions)), [f"{f:.2f}" for f in fractions.tolist()])
    ax.set_yticks(range(len(ranks)), [str(int(r)) for r in ranks.tolist()])
    ax.set_xlabel("fraction of entries observed")
    ax.set_ylabel("rank")
    ax.legend(loc="upper left", frameon=False, fontsize="small", labelcolor="white")
    return fig

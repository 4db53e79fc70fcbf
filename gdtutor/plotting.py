"""The matplotlib figures the tutorials show.

Each function returns a :class:`matplotlib.figure.Figure` and leaves no global state behind
apart from pyplot's registry, which Jupyter's inline backend clears after every cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

FIGSIZE = (6.4, 3.6)


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
    for label, curve in curves.items():
        x, y = curve if isinstance(curve, tuple) else (range(len(curve)), curve)
        ax.plot(x, y, (styles or {}).get(label, "-"), label=label, markersize=4)
    ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_images(images: Mapping[str, Tensor], *, columns: int = 2) -> Figure:
    """Greyscale images in a grid, each titled with its label (values clipped to [0, 1])."""
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 3.4 * rows), layout="constrained", squeeze=False
    )
    for ax, (label, image) in zip(axes.flat, images.items(), strict=False):
        ax.imshow(image.detach().clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize="medium")
    for ax in axes.flat:
        ax.set_axis_off()
    return fig

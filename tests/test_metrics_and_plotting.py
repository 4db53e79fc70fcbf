import math

import matplotlib.pyplot as plt
import pytest
import torch

from gdtutor import metrics, plotting


def test_relative_and_max_errors():
    reference = torch.tensor([3.0, 4.0])
    assert metrics.relative_error(torch.tensor([3.0, 4.5]), reference) == 0.5 / 5
    assert metrics.relative_error(torch.tensor([1.0, 0.0]), torch.zeros(2)) == 1.0
    assert metrics.max_abs_error(torch.tensor([3.0, 3.0]), reference) == 1.0


def test_plot_derivative_draws_three_curves():
    x = torch.linspace(0, 1, 10)
    fig = plotting.plot_derivative(x, x.sin(), x.cos(), x.cos(), name="\\sin")
    (ax,) = fig.axes
    assert len(ax.lines) == 4  # three curves and the zero line
    assert next(text.get_text() for text in ax.get_legend().get_texts()) == "$\\sin(x)$"


def test_plot_finite_difference_error_is_log_log_with_one_pair_per_dtype():
    steps = torch.logspace(-8, -1, 5, dtype=torch.float64)
    errors = {"float32": steps.clone(), "float64": torch.zeros(5, dtype=torch.float64)}
    fig = plotting.plot_finite_difference_error(
        steps, errors, {k: v + 1 for k, v in errors.items()}
    )
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len(ax.lines) == 4
    assert min(ax.lines[2].get_ydata()) > 0  # exact zeros are clamped, not dropped by the log scale


def test_plot_histories_accepts_bare_histories_and_xy_pairs_with_styles():
    steps = torch.arange(1.0, 6.0)
    fig = plotting.plot_histories(
        {"bare": torch.tensor([1.0, 0.1, 0.01]), "pairs": (steps, steps**-2)},
        xlabel="κ",
        logx=True,
        styles={"pairs": "o"},
    )
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_xlabel() == "κ"
    bare, pairs = ax.lines
    assert list(bare.get_xdata()) == [0, 1, 2] and pairs.get_linestyle() == "None"
    assert pairs.get_marker() == "o"


def test_plot_images_fills_a_grid_and_hides_axes():
    fig = plotting.plot_images(
        {"a": torch.zeros(4, 5), "b": torch.ones(4, 5) * 2, "c": torch.rand(4, 5)}
    )
    assert len(fig.axes) == 4
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert fig.axes[1].images[0].get_array().max() == 1  # clipped
    assert not any(ax.axison for ax in fig.axes)


def test_autograd_graph_reads_the_recorded_graph():
    x = torch.tensor(3.0, requires_grad=True)
    y = torch.tensor(7.0, requires_grad=True)
    z = torch.sin(x * y) + x
    edges = plotting.autograd_graph(z, {"x": x, "y": y})
    assert edges == [
        ("SinBackward0", "AddBackward0"),
        ("x", "AddBackward0"),
        ("MulBackward0", "SinBackward0"),
        ("x", "MulBackward0"),
        ("y", "MulBackward0"),
    ]
    fig = plotting.plot_autograd_graph(z, {"x": x, "y": y}, title="z")
    texts = sorted(text.get_text() for text in fig.axes[0].texts if text.get_text())  # arrows: ""
    assert texts == ["AddBackward0", "MulBackward0", "SinBackward0", "x", "y"]
    plt.close(fig)
    with pytest.raises(ValueError, match="output has no graph"):
        plotting.autograd_graph(x.detach() * 2, {"x": x})


def test_psnr_in_decibels():
    reference = torch.zeros(10, 10)
    # MSE 1e-2: float32's 0.1 is off by u₃₂ relative, its square and mean by a few more, and
    # 10·log₁₀ turns a relative error δ of the MSE into 10δ/ln 10 dB, against 20 dB
    rel = 10 * torch.finfo(torch.float32).eps / 2
    assert metrics.psnr(reference + 0.1, reference) == pytest.approx(20.0, rel=rel)
    assert metrics.psnr(reference, reference) == float("inf")
    assert metrics.psnr(reference + 1.0, reference, peak=255.0) == pytest.approx(
        20 * math.log10(255), rel=rel
    )


def test_plot_phase_transition_draws_the_grid_and_the_counting_limit():
    fractions = torch.tensor([0.1, 0.2, 0.4, 0.8], dtype=torch.float64)
    ranks = torch.arange(1, 4)
    fig = plotting.plot_phase_transition(fractions, ranks, torch.ones(3, 4), shape=(20, 10))
    ax = fig.axes[0]
    assert len(ax.images) == 1 and len(ax.lines) == 1  # the success grid and the limit
    x, _ = ax.lines[0].get_data()
    assert 0 <= x.min() and x.max() <= len(fractions) - 1  # drawn only inside the grid
    plt.close(fig)


def test_plot_images_panels_set_the_figure_size():
    images = {"a": torch.zeros(4, 4), "b": torch.ones(4, 4), "c": torch.zeros(4, 4)}
    fig = plotting.plot_images(images, columns=2, panel=(2.0, 3.0))
    assert tuple(fig.get_size_inches()) == (4.0, 6.0)  # 2 columns × 2 rows of 2 × 3 inches
    plt.close(fig)

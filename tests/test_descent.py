import math

import pytest
import torch

from gdtutor import descend
from gdtutor.descent import DivergenceError, make_optimizer


def quadratic(target):
    x = torch.zeros_like(target)
    return x, lambda: 0.5 * (x - target).square().sum()


def test_plain_gd_on_a_quadratic_converges_geometrically():
    target = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x, loss = quadratic(target)
    result = descend(loss, [x], "sgd", lr=0.5, max_steps=100, tol=1e-20)
    # the error halves each step, exactly in binary, the loss falls by 4: 2.5 * 4^-k <= 1e-20
    # first at k = 34
    assert result.converged and result.steps == math.ceil(math.log(2.5 / 1e-20, 4)) == 34
    assert result.evaluations == result.steps + 1 and result.gradients == result.steps
    torch.testing.assert_close(
        result.params[0], target, rtol=0, atol=(2 * 1e-20) ** 0.5
    )  # loss = |e|²/2
    ratios = result.losses[1:10] / result.losses[:9]
    assert torch.equal(ratios, torch.full_like(ratios, 0.25))  # powers of two: exact


def test_budget_exhausted_is_reported():
    x, loss = quadratic(torch.ones(3))
    result = descend(loss, [x], "sgd", lr=0.1, max_steps=5)
    assert not result.converged and result.steps == 5 and "max_steps=5" in result.reason
    assert len(result.losses) == 6 and result.losses.dtype == torch.float64


def test_zero_steps_records_the_start():
    x, loss = quadratic(torch.ones(3))
    result = descend(loss, [x], "sgd", lr=0.1, max_steps=0)
    assert result.losses.tolist() == [1.5] and result.steps == 0


@pytest.mark.parametrize("spec", ["SGD", "sgd", torch.optim.SGD])
def test_optimizer_by_name_or_class(spec):
    x, loss = quadratic(torch.ones(2))
    assert descend(loss, [x], spec, lr=1.0, max_steps=1).losses[-1] == 0


def test_optimizer_instance_and_metrics_and_scheduler():
    x, loss = quadratic(torch.ones(2, dtype=torch.float64))
    opt = torch.optim.SGD([x], lr=0.5)
    result = descend(
        loss,
        [x],
        opt,
        max_steps=3,
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.0),
        metrics={"x0": lambda: x[0]},
    )
    # first step with lr 0.5 halves the error, then the schedule sets lr to 0
    assert result.metrics["x0"].tolist() == [0.0, 0.5, 0.5, 0.5]


def test_lbfgs_is_stepped_with_a_closure_and_counts_its_evaluations():
    target = torch.linspace(-1, 1, 5, dtype=torch.float64)
    x, loss = quadratic(target)
    calls = 0

    def counted():
        nonlocal calls
        calls += 1
        return loss()

    result = descend(counted, [x], "lbfgs", line_search_fn="strong_wolfe", max_steps=3, tol=1e-25)
    assert result.converged and result.evaluations > result.steps + 1
    assert result.evaluations == calls  # every call of the loss is counted
    # every evaluation but the one recording each iterate (no gradient) back-propagates
    assert result.gradients == result.evaluations - (result.steps + 1)


def test_bad_optimizer_specs():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="unknown optimizer 'sdg'"):
        make_optimizer("sdg", [x])
    with pytest.raises(TypeError, match="ready optimizer instance"):
        make_optimizer(torch.optim.SGD([x], lr=1.0), [x], lr=2.0)
    with pytest.raises(TypeError, match="optimizer must be"):
        make_optimizer(42, [x])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Adam does not take momentum; its options are lr, betas"):
        make_optimizer("adam", [x], momentum=0.9)
    with pytest.raises(ValueError, match="non-negative"):
        descend(lambda: x.sum(), [x], max_steps=-1)


def test_divergence_raises_with_a_safe_step():
    x, loss = quadratic(torch.ones(2))
    with pytest.raises(DivergenceError, match=r"grew from .* lr < 2 is stable") as caught:
        descend(loss, [x], "sgd", lr=3.0, max_steps=100, safe_lr=lambda: 2.0)
    assert caught.value.safe_lr == 2.0 and caught.value.step > 0


def test_nan_loss_raises_and_suggests_a_smaller_step():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(DivergenceError, match=r"NaN/Inf at step 0.*try a smaller lr") as caught:
        descend(lambda: (x * math.nan).sum(), [x], lr=0.1)
    assert math.isnan(caught.value.loss) and caught.value.safe_lr is None


def test_progress_bar(capsys):
    x, loss = quadratic(torch.ones(2))
    descend(loss, [x], "sgd", lr=0.1, max_steps=3, progress=True)
    assert "descent" in capsys.readouterr().err


def test_progress_bar_without_tqdm_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    x, loss = quadratic(torch.ones(2))
    with pytest.raises(ImportError, match="pip install tqdm"):
        descend(loss, [x], "sgd", lr=0.1, progress=True)


def test_stop_hook_ends_the_run_as_converged():
    x, loss = quadratic(torch.ones(2, dtype=torch.float64))
    result = descend(
        loss, [x], "sgd", lr=0.5, max_steps=100, stop=lambda: "close" if x[0] > 0.99 else None
    )
    assert result.converged and result.reason == "close" and result.steps == 7  # 1 - 2^-7 > 0.99


def test_tensor_metrics_are_stacked():
    x, loss = quadratic(torch.ones(3, dtype=torch.float64))
    result = descend(loss, [x], "sgd", lr=0.5, max_steps=2, metrics={"x": lambda: x})
    assert result.metrics["x"].shape == (3, 3)
    torch.testing.assert_close(
        result.metrics["x"][:, 0], torch.tensor([0.0, 0.5, 0.75], dtype=torch.float64)
    )

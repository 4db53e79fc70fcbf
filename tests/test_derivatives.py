import math

import pytest
import torch
from conftest import EPS
from hypothesis import given, settings
from hypothesis import strategies as st

from gdtutor import derivatives


def test_elementwise_derivative_of_sine_is_cosine():
    x = torch.linspace(0, 2 * math.pi, 50, dtype=torch.float64)
    torch.testing.assert_close(
        derivatives.elementwise_derivative(torch.sin, x), torch.cos(x), rtol=0, atol=0
    )


def test_elementwise_derivative_leaves_input_untouched():
    x = torch.tensor([1.0, 2.0])
    derivatives.elementwise_derivative(torch.exp, x)
    assert not x.requires_grad and x.grad is None


def test_elementwise_derivative_rejects_reductions():
    with pytest.raises(ValueError, match="elementwise"):
        derivatives.elementwise_derivative(torch.sum, torch.ones(3))


def test_finite_differences_of_a_quadratic_are_exact_up_to_rounding():
    # central differences have no truncation error on polynomials of degree <= 2: only rounding,
    # divided by 2h. Each value vᵀAv is off by at most γ₄·|v|ᵀ|A||v| (two products of length 2,
    # Higham §3.5), x ± h by u|xᵢ| (moving f by u|xᵢgᵢ|); the two values, over 2h
    a = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    x = torch.tensor([0.5, -1.5], dtype=torch.float64)
    gradient = derivatives.finite_difference_gradient(lambda v: v @ a @ v, x)
    u, h = EPS[torch.float64] / 2, derivatives.optimal_step(torch.float64)
    exact = 2 * a @ x
    terms = x.abs() @ a.abs() @ x.abs()
    bound = 2 * (4 * u * terms + u * (x * exact).abs()) / (2 * h)
    assert ((gradient - exact).abs() <= bound).all()


def test_finite_differences_keep_shape_and_dtype():
    x = torch.ones(2, 3, dtype=torch.float32)
    gradient = derivatives.finite_difference_gradient(lambda v: (v**2).sum(), x)
    assert gradient.shape == x.shape and gradient.dtype == torch.float32
    # no truncation error (a quadratic): the sum of 6 squares is off by at most γ₇·6 in float32
    # (Higham §3.5), xᵢ ± h by u|xᵢ|, moving f by u|xᵢgᵢ| = 2u; the two values, over 2h
    u, h = EPS[torch.float32] / 2, derivatives.optimal_step(torch.float32)
    bound = 2 * (7 * u * 6 + 2 * u) / (2 * h)
    assert ((gradient - 2 * x).abs() <= bound).all()


@pytest.mark.parametrize(
    ("x", "h", "error", "message"),
    [
        (torch.ones(2, dtype=torch.int64), None, TypeError, "float tensor"),
        (torch.ones(2), 0.0, ValueError, "positive"),
        (torch.ones(2), -1e-3, ValueError, "positive"),
    ],
)
def test_finite_differences_reject_bad_input(x, h, error, message):
    with pytest.raises(error, match=message):
        derivatives.finite_difference_gradient(lambda v: v.sum(), x, h=h)


def test_optimal_step_minimises_the_error_model():
    # (3u)^(1/3) with u = eps/2 is where h²/6 + u/h is smallest (f and its third derivative ~1)
    assert derivatives.optimal_step(torch.float64) == pytest.approx((3 * 2.0**-53) ** (1 / 3))
    for dtype in (torch.float32, torch.float64):
        steps = torch.logspace(-12, -1, 2001, dtype=torch.float64)
        model = derivatives.central_difference_error_model(steps, dtype=dtype)
        assert steps[model.argmin()].item() == pytest.approx(
            derivatives.optimal_step(dtype), rel=0.01
        )


@settings(max_examples=50, deadline=None)
@given(
    x=st.floats(min_value=-3.0, max_value=3.0),
    log_h=st.floats(min_value=-10.0, max_value=-1.0),
)
def test_error_model_bounds_the_central_difference_of_sine(x, log_h):
    # A worst-case bound for the sine (|f|, |f'|, |f'''| <= 1): the Taylor remainder h²/6; each
    # sin(x ± h) within an ulp, 2u, and x ± h within u(|x| + h), moving f by as much; the two
    # values over 2h; then u each for the subtraction, the division and the reference cos(x).
    # The truncation term is attained (cos ξ = ±1), so the bound is tight there; where rounding
    # dominates, errors stay below half of it (measured over 30,000 draws).
    h = 10.0**log_h
    point = torch.tensor([x], dtype=torch.float64)
    estimate = derivatives.finite_difference_gradient(lambda v: torch.sin(v).sum(), point, h=h)
    error = abs(estimate.item() - math.cos(x))
    u = EPS[torch.float64] / 2
    bound = h**2 / 6 + (2 * u + u * (abs(x) + h)) / h + 3 * u
    assert error <= bound

import torch
from torch.func import grad

from gdtutor import inversion, matrices

EPS64 = torch.finfo(torch.float64).eps


def test_loss_vanishes_at_the_inverse():
    a = matrices.with_condition_number(5, 10.0, seed=4)
    x = torch.linalg.inv(a)
    # |AX - I| <= kappa * u * n for a backward-stable inverse
    assert inversion.inverse_loss(a, x).sqrt() < 10.0 * 5 * 10 * EPS64


def test_hand_gradient_matches_autograd_batched():
    a = matrices.seeded_rand(3, 4, 4, seed=1, dtype=torch.float64)
    x = matrices.seeded_rand(3, 4, 4, seed=2, dtype=torch.float64)
    by_hand = inversion.inverse_loss_gradient(a, x)
    by_autograd = grad(lambda x: inversion.inverse_loss(a, x))(x)
    torch.testing.assert_close(by_hand, by_autograd, rtol=10 * EPS64, atol=10 * EPS64)


def test_residual_of_rectangular_shapes():
    a = torch.ones(5, 3, dtype=torch.float64)
    x = torch.zeros(3, 5, dtype=torch.float64)
    torch.testing.assert_close(
        inversion.identity_residual(a, x), -torch.eye(5, dtype=torch.float64)
    )

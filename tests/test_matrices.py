from fractions import Fraction

import pytest
import torch

from gdtutor import matrices


def test_seeded_rand_reproduces_the_2020_draw_without_touching_global_state():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    draw = matrices.seeded_rand(2, 3)
    assert torch.equal(torch.get_rng_state(), before)
    expected = torch.tensor([[0.7196, 0.6295, 0.6667], [0.3385, 0.8522, 0.3126]])
    torch.testing.assert_close(draw, expected, rtol=0, atol=5e-5)
    torch.manual_seed(314)
    assert torch.equal(draw, torch.rand(2, 3))


def test_seeded_rand_dtype():
    assert matrices.seeded_rand(3, 3, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("n", [1, 2, 7])
def test_random_orthogonal_is_orthogonal(n):
    q = matrices.random_orthogonal(n, seed=3)
    torch.testing.assert_close(
        q.T @ q, torch.eye(n, dtype=torch.float64), rtol=0, atol=10 * n * 2.2e-16
    )


@pytest.mark.parametrize("shape", [(5, 5), (7, 4), (3, 6)])
def test_prescribed_singular_values_are_exact(shape):
    s = torch.linspace(3.0, 0.5, min(shape), dtype=torch.float64)
    a = matrices.with_singular_values(s, shape=shape, seed=1)
    assert a.shape == shape
    # backward stability of the SVD: errors of order n * u * sigma_max
    torch.testing.assert_close(
        torch.linalg.svdvals(a), s, rtol=0, atol=50 * max(shape) * 2.2e-16 * 3.0
    )


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1e6])
def test_condition_number_is_exact(kappa):
    a = matrices.with_condition_number(8, kappa, seed=2)
    assert torch.linalg.cond(a).item() == pytest.approx(kappa, rel=1e-8)


def test_geometric_spectrum_endpoints():
    s = matrices.geometric_spectrum(5, 100.0)
    assert s[0].item() == pytest.approx(1.0) and s[-1].item() == pytest.approx(0.01)
    assert torch.equal(matrices.geometric_spectrum(1, 100.0), torch.ones(1, dtype=torch.float64))


def test_factories_reject_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        matrices.geometric_spectrum(3, 0.5)
    with pytest.raises(ValueError, match="need min"):
        matrices.with_singular_values([1.0, 2.0], shape=(3, 3))
    with pytest.raises(ValueError, match="non-negative"):
        matrices.with_singular_values([1.0, -2.0])


def test_random_spectra_have_their_defining_property():
    g = torch.Generator().manual_seed(0)
    geometric = matrices.random_spectrum("geometric", 6, g)
    assert 1e2 <= geometric[0] / geometric[-1] <= 1e6 * (1 + 1e-12)
    clustered = matrices.random_spectrum("clustered", 6, g)
    torch.testing.assert_close(
        clustered[:3], torch.tensor([1.2, 1.199, 1.198], dtype=torch.float64)
    )
    repeated = matrices.random_spectrum("repeated", 6, g)
    assert repeated[0] == repeated[1] == repeated[2] > repeated[3]
    deficient = matrices.random_spectrum("rank-deficient", 6, g)
    assert (deficient[3:] == 0).all() and (deficient[:3] > 0).all()
    with pytest.raises(ValueError, match="unknown spectrum kind 'flat'"):
        matrices.random_spectrum("flat", 3, g)


def test_study_batch_cycles_through_the_kinds_reproducibly():
    first = matrices.study_batch((5, 4), 12, generator=torch.Generator().manual_seed(1))
    again = matrices.study_batch((5, 4), 12, generator=torch.Generator().manual_seed(1))
    assert first.shape == (12, 5, 4) and first.dtype == torch.float64 and torch.equal(first, again)
    values = torch.linalg.svdvals(first)
    assert (values[5::6, 2:] < 1e-12).all()  # every sixth matrix is rank-deficient
    assert (values[4::6, 0] - values[4::6, 2]).abs().max() < 1e-12  # a repeated top value


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_with_exact_inverse_is_exact(dtype):
    a, a_inverse = matrices.with_exact_inverse(8, 16, seed=3, dtype=dtype)
    exact = [[Fraction(float(v)) for v in row] for row in a.tolist()]
    inverse = [[Fraction(float(v)) for v in row] for row in a_inverse.tolist()]
    product = [
        [sum(exact[i][k] * inverse[k][j] for k in range(8)) for j in range(8)] for i in range(8)
    ]
    assert product == [[int(i == j) for j in range(8)] for i in range(8)]  # in rational arithmetic
    assert 16 / 2.7 <= torch.linalg.cond(a.double()).item() <= 16 * 2.7
    spread = torch.linalg.svdvals(a.double())  # not just the 5 powers of two of the core
    assert len(torch.unique(torch.round(spread * 1e6))) == 8
    big, big_inverse = matrices.with_exact_inverse(256, 1024, seed=4)
    assert torch.equal(big @ big_inverse, torch.eye(256, dtype=torch.float64))


@pytest.mark.parametrize(
    ("n", "kappa", "dtype", "message"),
    [
        (6, 16, torch.float64, "powers of two; got 6 and 16"),
        (8, 10, torch.float64, "powers of two; got 8 and 10"),
        (1024, 2**11, torch.float32, r"n·κ = 2\^24 is too wide for torch.float32"),
    ],
)
def test_with_exact_inverse_rejects_what_it_cannot_make_exact(n, kappa, dtype, message):
    with pytest.raises(ValueError, match=message):
        matrices.with_exact_inverse(n, kappa, dtype=dtype)
    if dtype == torch.float32:  # one size smaller fits, and is exact
        a, a_inverse = matrices.with_exact_inverse(n // 2, kappa, dtype=dtype)
        assert torch.equal(a.double() @ a_inverse.double(), torch.eye(n // 2, dtype=torch.float64))


def test_sample_photo_is_the_greyscale_photograph_at_half_resolution():
    photo = matrices.sample_photo()
    assert photo.shape == (300, 256) and photo.dtype == torch.float64
    assert 0 <= photo.min() and photo.max() <= 1
    full = matrices.sample_photo(downsample=1)
    torch.testing.assert_close(full[:2, :2].mean(), photo[0, 0])  # a 2 × 2 block average


def test_low_rank_with_mask_has_the_rank_fraction_and_noise_asked_for():
    truth, data, mask = matrices.low_rank_with_mask(200, 150, 4, fraction=0.3, noise=0.1, seed=3)
    assert torch.linalg.matrix_rank(truth).item() == 4 and mask.dtype == torch.bool
    assert abs(mask.double().mean().item() - 0.3) < 0.01  # binomial: sd 0.0015
    assert abs((data - truth).std().item() - 0.1) < 0.002
    again = matrices.low_rank_with_mask(200, 150, 4, fraction=0.3, noise=0.1, seed=3)
    assert all(torch.equal(x, y) for x, y in zip((truth, data, mask), again, strict=True))

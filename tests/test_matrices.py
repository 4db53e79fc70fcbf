import math
from fractions import Fraction

import pytest
import torch
from conftest import EPS

from gdtutor import matrices, seeds

U64 = EPS[torch.float64] / 2  # unit roundoff u = ε/2


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
    # Householder QR: Q is orthonormal to c·n·u per entry of QᵀQ - I (Higham, Thm 19.4), c = 20
    torch.testing.assert_close(
        q.T @ q, torch.eye(n, dtype=torch.float64), rtol=0, atol=20 * n * U64
    )


@pytest.mark.parametrize("shape", [(5, 5), (7, 4), (3, 6)])
def test_prescribed_singular_values_are_exact(shape):
    s = torch.linspace(3.0, 0.5, min(shape), dtype=torch.float64)
    a = matrices.with_singular_values(s, shape=shape, seed=1)
    assert a.shape == shape
    # backward stability of the SVD and of building A = Q₁ diag(s) Q₂ᵀ: by Weyl, errors of at
    # most c·max(m, n)·u·σ_max, c = 100 (the two factors' and the product's roundings)
    torch.testing.assert_close(
        torch.linalg.svdvals(a), s, rtol=0, atol=100 * max(shape) * U64 * 3.0
    )


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1e6])
def test_condition_number_is_exact(kappa):
    a = matrices.with_condition_number(8, kappa, seed=2)
    # σ_max is exact to c·n·u·σ_max, relatively; σ_min to the same absolute error, κ·c·n·u
    # relatively (Weyl): so is κ, with c = 100 as above
    assert torch.linalg.cond(a).item() == pytest.approx(kappa, rel=100 * 8 * kappa * U64)


def test_geometric_spectrum_endpoints():
    s = matrices.geometric_spectrum(5, 100.0)
    # exp(-log(κ)·t): log κ ≈ 4.6 rounded by u, the product and exp each within an ulp
    rel = 10 * math.log(100.0) * U64
    assert s[0].item() == 1.0 and s[-1].item() == pytest.approx(0.01, rel=rel)
    assert torch.equal(matrices.geometric_spectrum(1, 100.0), torch.ones(1, dtype=torch.float64))


def test_factories_reject_bad_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        matrices.geometric_spectrum(3, 0.5)
    with pytest.raises(ValueError, match="need min"):
        matrices.with_singular_values([1.0, 2.0], shape=(3, 3))
    with pytest.raises(ValueError, match="non-negative"):
        matrices.with_singular_values([1.0, -2.0])


def test_random_spectra_have_their_defining_property():
    g = seeds.generator(0)
    geometric = matrices.random_spectrum("geometric", 6, g)
    # exp(-log(κ)) for κ ≤ 10⁶: log κ ≤ 13.8, rounded by u, then the product and exp (as above)
    rel = 10 * math.log(1e6) * U64
    assert 1e2 * (1 - rel) <= geometric[0] / geometric[-1] <= 1e6 * (1 + rel)
    clustered = matrices.random_spectrum("clustered", 6, g)
    # 1.2 - 10⁻³·i: one rounding of the product and one of the difference, values ≤ 1.2
    torch.testing.assert_close(
        clustered[:3], torch.tensor([1.2, 1.199, 1.198], dtype=torch.float64), rtol=0, atol=4 * U64
    )
    repeated = matrices.random_spectrum("repeated", 6, g)
    assert repeated[0] == repeated[1] == repeated[2] > repeated[3]
    deficient = matrices.random_spectrum("rank-deficient", 6, g)
    assert (deficient[3:] == 0).all() and (deficient[:3] > 0).all()
    with pytest.raises(ValueError, match="unknown spectrum kind 'flat'"):
        matrices.random_spectrum("flat", 3, g)


def test_study_batch_cycles_through_the_kinds_reproducibly():
    first = matrices.study_batch((5, 4), 12, generator=seeds.generator(1))
    again = matrices.study_batch((5, 4), 12, generator=seeds.generator(1))
    assert first.shape == (12, 5, 4) and first.dtype == torch.float64 and torch.equal(first, again)
    values = torch.linalg.svdvals(first)
    # Weyl: exact zeros and exact repeats are computed to c·max(m, n)·u·σ₁ (c = 100, as above;
    # σ₁ < 1.1 for these kinds); the repeat is a difference of two such values
    floor = 100 * 5 * U64 * 1.1
    assert (values[5::6, 2:] < floor).all()  # every sixth matrix is rank-deficient
    assert (values[4::6, 0] - values[4::6, 2]).abs().max() < 2 * floor  # a repeated top value


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
    # a 2 × 2 block average, summed in either order: a few roundings of values ≤ 1
    torch.testing.assert_close(full[:2, :2].mean(), photo[0, 0], rtol=0, atol=4 * U64)


def test_low_rank_with_mask_has_the_rank_fraction_and_noise_asked_for():
    truth, data, mask = matrices.low_rank_with_mask(200, 150, 4, fraction=0.3, noise=0.1, seed=3)
    assert torch.linalg.matrix_rank(truth).item() == 4 and mask.dtype == torch.bool
    # statistical claims on N = 30,000 draws, to six standard deviations (a false failure
    # about once in 10⁹ seeds): the observed fraction has sd √(p(1 - p)/N), the sample standard
    # deviation of Gaussian noise sd σ/√(2N)
    count = 200 * 150
    assert abs(mask.double().mean().item() - 0.3) < 6 * math.sqrt(0.3 * 0.7 / count)
    assert abs((data - truth).std().item() - 0.1) < 6 * 0.1 / math.sqrt(2 * count)
    again = matrices.low_rank_with_mask(200, 150, 4, fraction=0.3, noise=0.1, seed=3)
    assert all(torch.equal(x, y) for x, y in zip((truth, data, mask), again, strict=True))
